/*
 * ctl.h - the verbs of wirewatchctl.  Each verb lives in its own file
 * (ctl_parse.c, ctl_match.c, ...) and returns the process exit status.
 */
#ifndef WIREWATCH_CTL_H
#define WIREWATCH_CTL_H

int ctl_parse_main(int argc, char **argv);  /* parse [--base-url U] [--content-type T] FILE */
int ctl_date_main(int argc, char **argv);   /* date STRING */
int ctl_match_main(int argc, char **argv);  /* match -q QUERY | -c CONF [-e DIR] [--json] [FILE...] */
int ctl_check_main(int argc, char **argv);  /* check -c CONF */
int ctl_entities_main(int argc, char **argv); /* entities [-e DIR] [NAME] */
int ctl_deliveries_main(int argc, char **argv); /* deliveries -c CONF [--failed] [--json] */
int ctl_stories_main(int argc, char **argv);  /* stories [--window D] FILE... */
int ctl_replay_main(int argc, char **argv);   /* replay -c CONF (ID... | --failed [--sink S]) */
/* ping, status, feeds, watchlists, sinks [-s SOCKET] [--json]: asks the daemon (argv[0] the verb) */
int ctl_remote_main(int argc, char **argv);

#endif
