/*
 * ctl_check.c - `wirewatchctl check -c CONF`: validate a configuration the
 * way wirewatchd does before it starts (same module, same messages).
 */
#include <getopt.h>
#include <stdio.h>

#include "ctl/ctl.h"
#include "wirewatch/config.h"
#include "wirewatch/util.h"

int
ctl_check_main(int argc, char **argv)
{
	const char *path = NULL;
	char err[WW_ERRLEN];
	struct config *cfg;
	int ch;

	optind = 1;
	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: wirewatchctl check -c CONF\n");
			return 2;
		}
		path = optarg;
	}
	if (path == NULL || optind != argc) {
		fprintf(stderr, "usage: wirewatchctl check -c CONF\n");
		return 2;
	}
	if ((cfg = config_load(path, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s: ok (%zu feeds, %zu watchlists, %zu sinks)\n", path, cfg->nfeeds,
	    cfg->nwatchlists, cfg->nsinks);
	config_free(cfg);
	return 0;
}
