/*
 * wirewatchctl.c - the control client.  Offline verbs (parse, date, match,
 * check, entities) reuse the daemon's own modules and need no daemon; the
 * others ask the running daemon over its control socket (ctl_remote.c).
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
	const char *help;
} verbs[] = {
	{ "parse", ctl_parse_main, "parse [--base-url URL] [--content-type TYPE] FILE",
	  "parse a feed file (RSS, Atom, JSON Feed) as the daemon does; print the document and its items as JSON" },
	{ "date", ctl_date_main, "date STRING",
	  "parse a feed date as the daemon does; print it as UTC ISO 8601, or null" },
	{ "match", ctl_match_main, "match (-q QUERY | -c CONF) [-e DIR] [--json] [FILE...]",
	  "match a query (or a config's watchlists) against files or standard input; print the hits, explained" },
	{ "stories", ctl_stories_main, "stories [--window D] FILE...",
	  "group the items of feed files into stories as the daemon does; one JSON line per item" },
	{ "check", ctl_check_main, "check -c CONF",
	  "check a configuration file (as wirewatchd -t)" },
	{ "entities", ctl_entities_main, "entities [-e DIR] [NAME]",
	  "list the entities, or show one with its aliases" },
	{ "deliveries", ctl_deliveries_main, "[-s SOCKET | -c CONF] [--json] deliveries [--failed]",
	  "list alerts waiting, retrying or dead-lettered (through the daemon, or straight from Redis with -c)" },
	{ "replay", ctl_replay_main, "[-s SOCKET | -c CONF] replay (ID... | --failed [--sink NAME])",
	  "put dead-lettered or waiting alerts back into the outbox as a first attempt, same alert id" },
	/* The daemon's verbs: their usage lines come from ctl_remote.c. */
	{ "ping", ctl_remote_main, NULL, NULL },
	{ "status", ctl_remote_main, NULL, NULL },
	{ "feeds", ctl_remote_main, NULL, NULL },
	{ "feed", ctl_remote_main, NULL, NULL },
	{ "watchlists", ctl_remote_main, NULL, NULL },
	{ "watchlist", ctl_watchlist_main, NULL, NULL },
	{ "sinks", ctl_remote_main, NULL, NULL },
	{ "reload", ctl_remote_main, NULL, NULL },
};

static int
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: wirewatchctl VERB ...\n");
	fprintf(f, "offline verbs (no daemon needed):\n");
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (verbs[i].usage != NULL)
			fprintf(f, "       wirewatchctl %s\n", verbs[i].usage);
	fprintf(f, "the running daemon's verbs (over its control socket):\n");
	ctl_remote_usage(f, NULL);
	fprintf(f, "wirewatchctl VERB --help says more about one verb.\n");
	return 2;
}

/*
 * Options before the verb are the verb's: "wirewatchctl -c CONF VERB ARGS"
 * is "wirewatchctl VERB -c CONF ARGS", and so for -s SOCKET and --json.
 * Moves the verb to argv[1]; -1 when there is none.
 */
static int
verb_first(int argc, char **argv)
{
	char *verb;
	int i = 1, j;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "-s") ||
		    !strcmp(argv[i], "--socket"))
			i += 2;
		else if (!strcmp(argv[i], "--json") || !strncmp(argv[i], "--socket=", 9))
			i++;
		else
			return -1;
	}
	if (i >= argc)
		return -1;
	verb = argv[i];
	for (j = i; j > 1; j--)
		argv[j] = argv[j - 1];
	argv[1] = verb;
	return 0;
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init(LOG_LVL_WARN);
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("wirewatchctl %s\n", WW_VERSION);
		return 0;
	}
	if (verb_first(argc, argv) == -1)
		return usage(stderr);
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		if (strcmp(argv[1], verbs[i].name) != 0)
			continue;
		/* VERB --help for the offline verbs (the daemon's verbs answer
		   it in ctl_remote.c) */
		if (verbs[i].usage != NULL && argc > 2 &&
		    (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
			printf("usage: wirewatchctl %s\n    %s\n", verbs[i].usage, verbs[i].help);
			return 0;
		}
		return verbs[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "wirewatchctl: unknown verb '%s'\n", argv[1]);
	return usage(stderr);
}
