/*
 * wirewatchctl.c - the control client.  Offline verbs (parse, date, match,
 * check, entities) reuse the daemon's own modules and need no daemon.
 */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "wirewatch/log.h"
#include "wirewatch/util.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
} verbs[] = {
	{ "parse", ctl_parse_main, "parse [--base-url URL] [--content-type TYPE] FILE" },
	{ "date", ctl_date_main, "date STRING" },
	{ "match", ctl_match_main, "match (-q QUERY | -c CONF) [-e DIR] [--json] [FILE...]" },
	{ "check", ctl_check_main, "check -c CONF" },
	{ "entities", ctl_entities_main, "entities [-e DIR] [NAME]" },
	{ "deliveries", ctl_deliveries_main, "[-c CONF] deliveries [--failed] [--json]" },
	{ "replay", ctl_replay_main, "[-c CONF] replay (ID... | --failed [--sink NAME])" },
};

static int
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: wirewatchctl VERB ...\n");
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		fprintf(f, "       wirewatchctl %s\n", verbs[i].usage);
	return 2;
}

int
main(int argc, char **argv)
{
	char *conf, *verb;
	size_t i;

	log_init(LOG_LVL_WARN);
	/* "wirewatchctl -c CONF VERB ARGS" is "wirewatchctl VERB -c CONF ARGS". */
	if (argc >= 4 && strcmp(argv[1], "-c") == 0) {
		conf = argv[2];
		verb = argv[3];
		argv[1] = verb;
		argv[2] = "-c";
		argv[3] = conf;
	}
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("wirewatchctl %s\n", WW_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "wirewatchctl: unknown verb '%s'\n", argv[1]);
	return usage(stderr);
}
