/*
 * ctl_items.c - `wirewatchctl watchlist VERB ...`: the watchlist verbs
 * that ask the daemon.  Here: test.
 *
 *   watchlist test QUERY [--since D] [-s SOCKET] [--json]
 *       runs QUERY over the items the daemon kept (recent.h; the last D,
 *       default all that are kept) and prints each hit with its
 *       explanation; nothing is sent to any sink.  Exit 0 with hits, 1
 *       with none or on an error (a bad query: its column), 2 usage, 3 no
 *       daemon.
 *
 * The other watchlist verbs (add, remove, show, export) are rows of
 * subverbs[] too.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "wirewatch/control.h"
#include "wirewatch/util.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char *
s_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

/* One line "  label: text", cleaned. */
static void
line(const char *label, const char *text)
{
	char *c = ctl_clean(text);

	printf("  %-8s %s\n", label, c);
	free(c);
}

/* The hits as `wirewatchctl match` shows them: title, then why. */
static void
print_hits(const json_t *r, const char *since)
{
	const json_t *h, *t, *c;
	struct buf b = {0};
	size_t i, j, n;
	char *title;

	json_array_foreach(json_object_get(r, "hits"), i, h) {
		title = ctl_clean(s_or(h, "title", "(untitled)"));
		printf("%s  %s  %s\n", s_or(h, "seen", "?"), s_or(h, "feed", "?"), title);
		free(title);
		line("link:", s_or(h, "link", "-"));
		line("item:", s_or(h, "item", "?"));
		line("published:", s_or(h, "published", "-"));
		buf_reset(&b);
		json_array_foreach(json_object_get(h, "terms"), j, t)
			buf_addf(&b, "%s%s", j ? ", " : "", json_string_value(t) ?
			    json_string_value(t) : "?");
		line("terms:", b.s ? b.s : "");
		buf_reset(&b);
		json_array_foreach(json_object_get(json_object_get(h, "explain"), "clauses"), j, c)
			buf_addf(&b, "%s%s%s %s", j ? ", " : "",
			    json_is_true(json_object_get(c, "negated")) ? "NOT " : "",
			    s_or(c, "clause", "?"),
			    json_is_true(json_object_get(c, "matched")) ? "(hit)" : "(no hit)");
		line("clauses:", b.s ? b.s : "");
		line("snippet:", s_or(h, "snippet", ""));
	}
	buf_free(&b);
	n = json_array_size(json_object_get(r, "hits"));
	printf("%zu hit%s in %lld kept item%s (%s)%s; nothing was sent\n", n,
	    n == 1 ? "" : "s", (long long)json_integer_value(json_object_get(r, "items")),
	    json_integer_value(json_object_get(r, "items")) == 1 ? "" : "s",
	    since != NULL ? since : "all kept",
	    json_is_true(json_object_get(r, "truncated")) ? ", more not shown" : "");
}

#define TEST_USAGE "wirewatchctl watchlist test QUERY [--since D] [-s SOCKET] [--json]"

static int
watchlist_test(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 'S' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = CONTROL_DEFAULT_PATH, *since = NULL;
	json_t *req, *reply;
	char *text, *msg;
	int ch, json = 0, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S': since = optarg; break;
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'h': printf("usage: %s\n", TEST_USAGE); return 0;
		default: goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	if (since != NULL && util_parse_duration(since) < 0) {
		fprintf(stderr, "wirewatchctl: watchlist test: bad --since '%s' (a "
		    "duration such as 6h, 90m or 2d)\n", since);
		return EXIT_USAGE;
	}
	req = json_object();
	json_object_set_new(req, "cmd", json_string("watchlist.test"));
	json_object_set_new(req, "query", json_string(argv[optind]));
	if (since != NULL)
		json_object_set_new(req, "since", json_string(since));
	rc = ctl_remote_ask(path, req, &reply, &text);
	json_decref(req);
	if (rc != 0)
		return rc;
	if (json)
		printf("%s\n", text);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		msg = ctl_clean(s_or(reply, "error", "?"));
		fprintf(stderr, "wirewatchctl: watchlist test: %s\n", msg);
		free(msg);
		rc = EXIT_FAILED;
	} else {
		if (!json)
			print_hits(reply, since);
		rc = json_array_size(json_object_get(reply, "hits")) > 0 ? 0 : EXIT_FAILED;
	}
	json_decref(reply);
	free(text);
	return rc;
usage:
	fprintf(stderr, "usage: %s\n", TEST_USAGE);
	return EXIT_USAGE;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
} subverbs[] = {
	{ "test", watchlist_test, TEST_USAGE },
	/* ctl_remote.c's: the daemon's run-time watchlists */
	{ "add", NULL, NULL },
	{ "remove", NULL, NULL },
	{ "show", NULL, NULL },
	{ "export", NULL, NULL },
};

/*
 * "wirewatchctl -s SOCK watchlist test Q" reaches here as "watchlist -s
 * SOCK test Q": the subverb is the first word that is not an option or
 * an option's value; it is moved to argv[1].
 */
static void
subverb_first(int argc, char **argv)
{
	char *sub;
	int i = 1, j;

	while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--help") != 0 &&
	    strcmp(argv[i], "-h") != 0) {
		if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket") ||
		    !strcmp(argv[i], "--since") || !strcmp(argv[i], "-c") ||
		    !strcmp(argv[i], "--sinks") || !strcmp(argv[i], "--backfill"))
			i += 2;
		else
			i++;
	}
	if (i >= argc)
		return;
	sub = argv[i];
	for (j = i; j > 1; j--)
		argv[j] = argv[j - 1];
	argv[1] = sub;
}

int
ctl_watchlist_main(int argc, char **argv)
{
	size_t i;

	subverb_first(argc, argv);

	if (argc >= 2)
		for (i = 0; i < sizeof subverbs / sizeof subverbs[0]; i++)
			if (strcmp(argv[1], subverbs[i].name) == 0)
				return subverbs[i].fn != NULL ?
				    subverbs[i].fn(argc - 1, argv + 1) :
				    ctl_remote_main(argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return ctl_remote_main(argc, argv); /* every watchlist verb's help */
	fprintf(stderr, "wirewatchctl: watchlist: %s%s\n", argc >= 2 ?
	    "unknown verb " : "which verb?", argc >= 2 ? argv[1] : "");
	fprintf(stderr, "usage:\n");
	ctl_remote_usage(stderr, "watchlist");
	return EXIT_USAGE;
}
