/*
 * ctl.h - the verbs of wirewatchctl.  Each verb lives in its own file
 * (ctl_parse.c, ctl_match.c, ...) and returns the process exit status.
 */
#ifndef WIREWATCH_CTL_H
#define WIREWATCH_CTL_H

#include <jansson.h>

int ctl_parse_main(int argc, char **argv);  /* parse [--base-url U] [--content-type T] FILE */
int ctl_date_main(int argc, char **argv);   /* date STRING */
int ctl_match_main(int argc, char **argv);  /* match -q QUERY | -c CONF [-e DIR] [--json] [FILE...] */
int ctl_check_main(int argc, char **argv);  /* check -c CONF */
int ctl_entities_main(int argc, char **argv); /* entities [-e DIR] [NAME] */
int ctl_deliveries_main(int argc, char **argv); /* deliveries [-s SOCKET | -c CONF] [--failed] [--json] */
int ctl_replay_main(int argc, char **argv);   /* replay [-s SOCKET | -c CONF] (ID... | --failed [--sink S]) */
/*
 * The daemon's verbs [-s SOCKET] [--json] (argv[0] the verb): ping,
 * status, feeds, watchlists, sinks, reload, watchlist add|remove|show|
 * export (through ctl_watchlist_main), feed add|remove.  Their table,
 * remote[] in ctl_remote.c, is the one list of them for usage and --help.
 */
int ctl_remote_main(int argc, char **argv);
/* The usage lines of verb (NULL: of every daemon verb). */
#include <stdio.h>
void ctl_remote_usage(FILE *f, const char *verb);

/* watchlist test QUERY [--since D] (ctl_items.c); watchlist add|remove|show|export go on to ctl_remote_main */
int ctl_watchlist_main(int argc, char **argv);

/*
 * Remote calls for ctl_items.c (ctl_remote.c): sends req (v is set) and
 * reads the reply object into *reply and its text into *text (both the
 * caller's); 0 or the exit status, with the reason printed.
 */
int ctl_remote_ask(const char *path, json_t *req, json_t **reply, char **text);
/* s as one printable line: control characters '?' (malloc'd). */
char *ctl_clean(const char *s);

/* ctl_deliveries.c: the rows of deliveries and the result of replay as
 * people read them; the same through the daemon and offline. */
void ctl_deliveries_print(const json_t *rows, int failed);
/* Returns 1 when some id was not found (printed), else 0. */
int ctl_replay_print(const json_t *result, int all);

#endif
