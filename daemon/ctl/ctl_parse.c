/*
 * ctl_parse.c - `wirewatchctl parse` (a feed file to the neutral JSON
 * schema, with the daemon's own parser) and `wirewatchctl date`.
 *
 * parse prints what the daemon would see: text that was not valid UTF-8
 * comes out with U+FFFD where feed_parse() put it, never as a missing
 * field.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl/ctl.h"
#include "wirewatch/date.h"
#include "wirewatch/feed.h"
#include "wirewatch/util.h"

int
ctl_parse_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "base-url", required_argument, NULL, 'b' },
		{ "content-type", required_argument, NULL, 't' },
		{ "content-location", required_argument, NULL, 'l' },
		{ "content-language", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	const char *base = NULL, *ctype = NULL, *cloc = NULL, *clang = NULL;
	char err[WW_ERRLEN], *data, *json;
	struct feed_doc *doc;
	size_t len;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'b')
			base = *optarg ? optarg : NULL;
		else if (ch == 't')
			ctype = *optarg ? optarg : NULL;
		else if (ch == 'l')
			cloc = *optarg ? optarg : NULL;
		else if (ch == 'L')
			clang = *optarg ? optarg : NULL;
		else
			goto usage;
	}
	if (optind != argc - 1)
		goto usage;
	if ((data = util_read_file(argv[optind], &len, err, sizeof err)) == NULL) {
		fprintf(stderr, "wirewatchctl parse: %s\n", err);
		return 1;
	}
	doc = feed_parse_http(data, len, base, ctype, cloc, clang, err, sizeof err);
	free(data);
	if (doc == NULL) {
		fprintf(stderr, "wirewatchctl parse: %s: %s\n", argv[optind], err);
		return 1;
	}
	json = feed_doc_to_json(doc);
	feed_doc_free(doc);
	if (json == NULL) {
		fprintf(stderr, "wirewatchctl parse: %s: cannot print the document as JSON\n",
		    argv[optind]);
		return 1;
	}
	printf("%s\n", json);
	free(json);
	return 0;
usage:
	fprintf(stderr, "usage: wirewatchctl parse [--base-url URL] [--content-type TYPE] "
	    "[--content-location URL] [--content-language LANG] FILE\n");
	return 2;
}

int
ctl_date_main(int argc, char **argv)
{
	char buf[32];
	time_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: wirewatchctl date STRING\n");
		return 2;
	}
	if (date_parse(argv[1], &t) == 0) {
		util_format_time(t, buf, sizeof buf);
		printf("%s\n", buf);
	} else {
		printf("null\n");
	}
	return 0;
}
