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
} verbs[] = {
	{ "parse", ctl_parse_main, "parse [--base-url URL] [--content-type TYPE] FILE" },
	{ "date", ctl_date_main, "date STRING" },
	{ "match", ctl_match_main, "match (-q QUERY | -c CONF) [-e DIR] [--json] [FILE...]" },
	{ "check", ctl_check_main, "check -c CONF" },
	{ "entities", ctl_entities_main, "entities [-e DIR] [NAME]" },
	{ "deliveries", ctl_deliveries_main, "[-s SOCKET | -c CONF] [--json] deliveries [--failed]" },
	{ "replay", ctl_replay_main, "[-s SOCKET | -c CONF] replay (ID... | --failed [--sink NAME])" },
	/* The daemon's verbs: their usage lines come from ctl_remote.c. */
	{ "ping", ctl_remote_main, NULL },
	{ "status", ctl_remote_main, NULL },
	{ "feeds", ctl_remote_main, NULL },
	{ "feed", ctl_remote_main, NULL },
	{ "watchlists", ctl_remote_main, NULL },
	{ "watchlist", ctl_watchlist_main, NULL },
	{ "sinks", ctl_remote_main, NULL },
	{ "reload", ctl_remote_main, NULL },
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
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "wirewatchctl: unknown verb '%s'\n", argv[1]);
	return usage(stderr);
}
