/*
 * ctl_deliveries.c - `wirewatchctl deliveries` and `wirewatchctl replay`.
 *
 *   deliveries [-s SOCKET | -c CONF] [--failed] [--json]
 *       queued (not yet taken), pending (taken by CONSUMER, being
 *       delivered), retry (waiting for its next attempt at AT) alerts;
 *       with --failed the dead letters, newest first.
 *   replay [-s SOCKET | -c CONF] (ID... | --failed [--sink NAME])
 *       puts dead letters (or, by id, alerts waiting for a retry) back
 *       into the outbox as a first attempt; each move is atomic (one
 *       Redis function call), so an alert is never in both places nor in
 *       neither.
 *
 * By default both ask the running daemon over its control socket
 * (docs/control.md); with -c CONF they go straight to the Redis that
 * config names, for when no daemon runs.  Either way the same Redis
 * function does the work and deliveries.c makes the rows, and the same
 * printing below shows them: the two paths cannot drift apart.  Offline,
 * --json prints one row object per line; through the daemon, the reply
 * object.  A short synchronous connection (store_sync_*) is right for a
 * command-line tool; the daemon never blocks like this.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "wirewatch/config.h"
#include "wirewatch/control.h"
#include "wirewatch/deliveries.h"
#include "wirewatch/outbox.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

/* --- printing (both paths) ------------------------------------------------- */

static const char *
s_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

void
ctl_deliveries_print(const json_t *rows, int failed)
{
	const json_t *r;
	char *cells[6];
	size_t i, k;

	printf("%-8s %-35s %-14s %-16s %3s  %-20s %s\n", "STATE", "ALERT", "SINK",
	    "WATCHLIST", "ATT", failed ? "FAILED AT" : "NEXT ATTEMPT",
	    failed ? "ERROR" : "LAST ERROR");
	json_array_foreach(rows, i, r) {
		cells[0] = ctl_clean(s_or(r, "id", "?"));
		cells[1] = ctl_clean(s_or(r, "sink", "?"));
		cells[2] = ctl_clean(s_or(r, "watchlist", "?"));
		cells[3] = ctl_clean(s_or(r, failed ? "failed_at" : "next_attempt", "-"));
		cells[4] = ctl_clean(s_or(r, "last_error", ""));
		cells[5] = ctl_clean(s_or(r, "consumer", ""));
		printf("%-8s %-35s %-14s %-16s %3lld  %-20s %s%s%s\n",
		    s_or(r, "state", "?"), cells[0], cells[1], cells[2],
		    (long long)json_integer_value(json_object_get(r, "attempts")),
		    cells[3], cells[4], cells[5][0] ? " consumer=" : "", cells[5]);
		for (k = 0; k < 6; k++)
			free(cells[k]);
	}
}

int
ctl_replay_print(const json_t *result, int all)
{
	const json_t *x;
	char *id, *sink;
	size_t i, n;

	json_array_foreach(json_object_get(result, "requeued"), i, x) {
		id = ctl_clean(s_or(x, "id", "?"));
		sink = ctl_clean(s_or(x, "sink", "?"));
		printf("requeued %s (sink %s)\n", id, sink);
		free(id);
		free(sink);
	}
	json_array_foreach(json_object_get(result, "missing"), i, x) {
		id = ctl_clean(json_string_value(x) ? json_string_value(x) : "?");
		fprintf(stderr, "wirewatchctl: %s: no such dead letter or waiting retry\n", id);
		free(id);
	}
	if (all) {
		n = json_array_size(json_object_get(result, "requeued"));
		printf("%zu alert%s requeued\n", n, n == 1 ? "" : "s");
	}
	return json_array_size(json_object_get(result, "missing")) > 0;
}

/* --- offline: straight to Redis ---------------------------------------------- */

/* What to ask Redis offline: a list, or a replay. */
struct job {
	int replay;
	int failed;                /* list: dead letters; replay: all of them */
	const char *sink;          /* replay --failed --sink */
	const char *const *ids;    /* replay IDs */
	size_t nids;
};

/* One call's outcome: its reply as JSON, or why not. */
struct answer {
	const struct job *j;
	json_t *out;
	int no_function;           /* the library is not loaded yet */
	int failed;
};

static void
ctl_answered_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct answer *a = arg;

	if (error != NULL) {
		if (strstr(error, "Function not found") != NULL && !a->no_function) {
			a->no_function = 1;
			return;
		}
		a->failed = 1;
		fprintf(stderr, "wirewatchctl: %s\n", error);
		return;
	}
	a->out = a->j->replay ? deliveries_replayed(reply) :
	    deliveries_rows(reply, a->j->failed);
	if (a->out == NULL) {
		a->failed = 1;
		fprintf(stderr, "wirewatchctl: redis: unexpected reply\n");
	}
}

/*
 * Offline: j's Redis function call, its reply as JSON in *out.  A
 * database that has no functions yet (no daemon of this version ever
 * connected to it) gets the daemon's library first.
 */
static int
offline(const char *conf, const struct job *j, json_t **out)
{
	const char *load[4] = { "FUNCTION", "LOAD", "REPLACE", outbox_functions() };
	struct answer a = { j, NULL, 0, 0 };
	struct deliveries_call c;
	char err[WW_ERRLEN];
	struct config *cfg;
	struct store_sync *rc;

	*out = NULL;
	if ((cfg = config_load(conf, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return EXIT_UNREACHABLE;
	}
	if ((rc = store_sync_connect(cfg->redis, 5000, cfg->redis_user,
	    cfg->redis_password, cfg->redis_db, err, sizeof err)) == NULL) {
		fprintf(stderr, "wirewatchctl: %s\n", err);
		config_free(cfg);
		return EXIT_UNREACHABLE;
	}
	if (j->replay)
		deliveries_replay_call(&c, cfg, j->sink, j->ids, j->nids);
	else
		deliveries_list_call(&c, cfg, j->failed);
	store_sync_command(rc, ctl_answered_cb, &a, c.argc, c.argv);
	if (a.no_function) {
		/* its failure shows in the call's second "Function not found" */
		store_sync_command(rc, NULL, NULL, 4, load);
		store_sync_command(rc, ctl_answered_cb, &a, c.argc, c.argv);
	}
	deliveries_call_free(&c);
	store_sync_free(rc);
	config_free(cfg);
	*out = a.out;
	return a.out != NULL ? 0 : EXIT_FAILED;
}

/* --- options ------------------------------------------------------------------ */

struct opts {
	const char *conf, *socket, *sink;
	int failed, json;
};

static int
getopts(int argc, char **argv, struct opts *o, int takes_sink, const char *usage)
{
	static const struct option longopts[] = {
		{ "failed", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "sink", required_argument, NULL, 'k' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof *o);
	o->socket = CONTROL_DEFAULT_PATH;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->conf = optarg; break;
		case 's': o->socket = optarg; break;
		case 'f': o->failed = 1; break;
		case 'j': o->json = 1; break;
		case 'k':
			if (!takes_sink)
				goto bad;
			o->sink = optarg;
			break;
		case 'h': printf("usage: %s\n", usage); exit(0);
		default: goto bad;
		}
	}
	return 0;
bad:
	fprintf(stderr, "usage: %s\n", usage);
	return -1;
}

/* Through the daemon: req (taken) answered; prints an error reply. */
static int
remote(const char *socket, json_t *req, int json, json_t **reply)
{
	char *text, *msg;
	int rc;

	rc = ctl_remote_ask(socket, req, reply, &text);
	json_decref(req);
	if (rc != 0)
		return rc;
	if (json)
		printf("%s\n", text);
	free(text);
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		msg = ctl_clean(s_or(*reply, "error", "?"));
		fprintf(stderr, "wirewatchctl: %s\n", msg);
		free(msg);
		json_decref(*reply);
		*reply = NULL;
		return EXIT_FAILED;
	}
	return 0;
}

/* --- the verbs ------------------------------------------------------------------ */

#define DELIVERIES_USAGE "wirewatchctl deliveries [-s SOCKET | -c CONF] [--failed] [--json]"
#define REPLAY_USAGE "wirewatchctl replay [-s SOCKET | -c CONF] (ID... | --failed [--sink NAME])"

int
ctl_deliveries_main(int argc, char **argv)
{
	struct job j;
	struct opts o;
	json_t *rows = NULL, *reply = NULL, *req, *r;
	char *s;
	size_t i;
	int rc;

	if (getopts(argc, argv, &o, 0, DELIVERIES_USAGE) == -1 || optind != argc) {
		if (optind != argc)
			fprintf(stderr, "usage: %s\n", DELIVERIES_USAGE);
		return EXIT_USAGE;
	}
	if (o.conf != NULL) {
		memset(&j, 0, sizeof j);
		j.failed = o.failed;
		if ((rc = offline(o.conf, &j, &rows)) != 0)
			return rc;
		if (o.json) {
			json_array_foreach(rows, i, r) {
				s = json_dumps(r, JSON_COMPACT);
				printf("%s\n", s);
				free(s);
			}
		} else {
			ctl_deliveries_print(rows, o.failed);
		}
		json_decref(rows);
		return 0;
	}
	req = json_object();
	json_object_set_new(req, "cmd", json_string("deliveries"));
	if (o.failed)
		json_object_set_new(req, "failed", json_true());
	if ((rc = remote(o.socket, req, o.json, &reply)) != 0)
		return rc;
	if (!o.json)
		ctl_deliveries_print(json_object_get(reply, "deliveries"), o.failed);
	json_decref(reply);
	return 0;
}

int
ctl_replay_main(int argc, char **argv)
{
	struct job j;
	struct opts o;
	json_t *res = NULL, *req, *ids;
	int rc, a;

	if (getopts(argc, argv, &o, 1, REPLAY_USAGE) == -1)
		return EXIT_USAGE;
	if ((o.failed && optind != argc) || (!o.failed && (optind == argc || o.sink))) {
		fprintf(stderr, "usage: %s\n", REPLAY_USAGE);
		return EXIT_USAGE;
	}
	if (o.conf != NULL) {
		memset(&j, 0, sizeof j);
		j.replay = 1;
		j.failed = o.failed;
		j.sink = o.sink;
		j.ids = (const char *const *)argv + optind;
		j.nids = (size_t)(argc - optind);
		if ((rc = offline(o.conf, &j, &res)) != 0)
			return rc;
		rc = ctl_replay_print(res, o.failed);
		json_decref(res);
		return rc;
	}
	req = json_object();
	json_object_set_new(req, "cmd", json_string("replay"));
	if (o.failed) {
		json_object_set_new(req, "failed", json_true());
		if (o.sink != NULL)
			json_object_set_new(req, "sink", json_string(o.sink));
	} else {
		ids = json_array();
		for (a = optind; a < argc; a++)
			json_array_append_new(ids, json_string(argv[a]));
		json_object_set_new(req, "ids", ids);
	}
	if ((rc = remote(o.socket, req, o.json, &res)) != 0)
		return rc;
	rc = o.json ? json_array_size(json_object_get(res, "missing")) > 0 :
	    ctl_replay_print(res, o.failed);
	json_decref(res);
	return rc;
}
