/*
 * ctl_deliveries.c - `wirewatchctl deliveries` and `wirewatchctl replay`:
 * the outbox seen and repaired straight from Redis, no daemon needed
 * (until the control socket offers the same verbs).
 *
 *   deliveries [--failed] [--json] -c CONF
 *       queued (not yet taken), pending (taken by CONSUMER, being
 *       delivered), retry (waiting for its next attempt at AT) alerts;
 *       with --failed the dead letters, newest first.
 *   replay -c CONF (ID... | --failed [--sink NAME])
 *       puts dead letters (or alerts waiting for a retry) back into the
 *       outbox as a first attempt; each in one MULTI/EXEC, so an alert is
 *       never in both places nor in neither.
 *
 * Redis layout: see outbox.h.  A short synchronous hiredis connection is
 * right for a command-line tool; the daemon never blocks like this.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ctl/ctl.h"
#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#define LIST_MAX "10000"

struct ctx {
	struct config *cfg;
	redisContext *rc;
	char *k_outbox, *k_dead, *k_retry;
	int json;
};

static int
open_ctx(struct ctx *c, const char *path)
{
	struct timeval tv = { 5, 0 };
	char err[WW_ERRLEN], *sock = NULL, *host = NULL;
	int port = 0;

	if ((c->cfg = config_load(path, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	/* config_load checked the address with the same function. */
	(void)store_addr_parse(c->cfg->redis, &sock, &host, &port);
	if (sock != NULL)
		c->rc = redisConnectUnixWithTimeout(sock, tv);
	else
		c->rc = redisConnectWithTimeout(host, port, tv);
	free(sock);
	free(host);
	if (c->rc == NULL || c->rc->err) {
		fprintf(stderr, "wirewatchctl: redis %s: %s\n", c->cfg->redis,
		    c->rc ? c->rc->errstr : "out of memory");
		return -1;
	}
	redisSetTimeout(c->rc, tv);
	c->k_outbox = xasprintf("%soutbox", c->cfg->prefix);
	c->k_dead = xasprintf("%sdead", c->cfg->prefix);
	c->k_retry = xasprintf("%sretry", c->cfg->prefix);
	return 0;
}

static void
close_ctx(struct ctx *c)
{
	if (c->rc != NULL)
		redisFree(c->rc);
	config_free(c->cfg);
	free(c->k_outbox);
	free(c->k_dead);
	free(c->k_retry);
}

static redisReply *
cmd(struct ctx *c, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(c->rc, argc, argv, NULL);

	if (r == NULL) {
		fprintf(stderr, "wirewatchctl: redis: %s\n", c->rc->errstr);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		/* A missing stream or group is an empty outbox, not an error. */
		if (strstr(r->str, "NOGROUP") == NULL && strstr(r->str, "no such key") == NULL)
			fprintf(stderr, "wirewatchctl: redis: %s\n", r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static const char *
fv(const redisReply *fields, const char *name)
{
	size_t i;

	if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < fields->elements; i += 2)
		if (fields->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(fields->element[i]->str, name) == 0 &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			return fields->element[i + 1]->str;
	return NULL;
}

/* Stream ids "MS-SEQ" compared as numbers. */
static int
id_cmp(const char *a, const char *b)
{
	unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
	const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
	unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0;
	unsigned long long bs = bd ? strtoull(bd + 1, NULL, 10) : 0;

	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}

static void
ms_time(long long ms, char *out, size_t len)
{
	util_format_time((time_t)(ms / 1000), out, len);
}

/* One row: state, alert id, sink, watchlist, attempts, when, error. */
static void
row(struct ctx *c, const char *state, const char *id, const char *sink,
    const char *watchlist, long attempts, const char *when, const char *error,
    const char *consumer)
{
	json_t *o;
	char *s;

	if (c->json) {
		o = json_object();
		json_object_set_new(o, "state", json_string(state));
		json_object_set_new(o, "id", alert_json_string(id ? id : ""));
		json_object_set_new(o, "sink", alert_json_string(sink ? sink : ""));
		json_object_set_new(o, "watchlist", alert_json_string(watchlist ? watchlist : ""));
		json_object_set_new(o, "attempts", json_integer(attempts));
		json_object_set_new(o, state[0] == 'f' ? "failed_at" : "next_attempt",
		    when ? json_string(when) : json_null());
		json_object_set_new(o, "last_error", error ? alert_json_string(error) : json_null());
		if (consumer != NULL)
			json_object_set_new(o, "consumer", alert_json_string(consumer));
		s = json_dumps(o, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(o);
		return;
	}
	printf("%-8s %-35s %-14s %-16s %3ld  %-20s %s%s%s\n", state, id ? id : "?",
	    sink ? sink : "?", watchlist ? watchlist : "?", attempts,
	    when ? when : "-", error ? error : "", consumer ? " consumer=" : "",
	    consumer ? consumer : "");
}

static int
list_failed(struct ctx *c)
{
	const char *argv[6] = { "XREVRANGE", c->k_dead, "+", "-", "COUNT", LIST_MAX };
	redisReply *r = cmd(c, 6, argv), *f;
	char err[1400];
	const char *reason, *resp;
	size_t i;

	if (!c->json)
		printf("%-8s %-35s %-14s %-16s %3s  %-20s %s\n", "STATE", "ALERT", "SINK",
		    "WATCHLIST", "ATT", "FAILED AT", "ERROR");
	for (i = 0; r != NULL && i < r->elements; i++) {
		f = r->element[i]->element[1];
		reason = fv(f, "reason");
		resp = fv(f, "response");
		snprintf(err, sizeof err, "%s%s%s", reason ? reason : "",
		    resp && *resp ? "; response: " : "", resp && *resp ? resp : "");
		row(c, "failed", fv(f, "id"), fv(f, "sink"), fv(f, "watchlist"),
		    fv(f, "attempts") ? atol(fv(f, "attempts")) : 0, fv(f, "failed_at"),
		    err, NULL);
	}
	if (r != NULL)
		freeReplyObject(r);
	return 0;
}

static int
list_pending(struct ctx *c)
{
	const char *xr[6] = { "XRANGE", c->k_outbox, "-", "+", "COUNT", LIST_MAX };
	const char *xp[7] = { "XPENDING", c->k_outbox, "dispatch", "-", "+", LIST_MAX, NULL };
	const char *zr[5] = { "ZRANGE", c->k_retry, "0", "-1", "WITHSCORES" };
	const char *xi[4] = { "XINFO", "GROUPS", c->k_outbox, NULL };
	redisReply *entries, *pel, *retry, *groups;
	const char *last = "0-0", *consumer, *id;
	char when[32];
	json_t *m;
	size_t i, j, k;

	entries = cmd(c, 6, xr);
	pel = cmd(c, 6, xp);
	retry = cmd(c, 5, zr);
	groups = cmd(c, 3, xi);
	for (i = 0; groups != NULL && i < groups->elements; i++)
		if (strcmp(fv(groups->element[i], "name") ? fv(groups->element[i], "name") : "",
		    "dispatch") == 0 && fv(groups->element[i], "last-delivered-id"))
			last = fv(groups->element[i], "last-delivered-id");
	if (!c->json)
		printf("%-8s %-35s %-14s %-16s %3s  %-20s %s\n", "STATE", "ALERT", "SINK",
		    "WATCHLIST", "ATT", "NEXT ATTEMPT", "LAST ERROR");
	for (i = 0; entries != NULL && i < entries->elements; i++) {
		id = entries->element[i]->element[0]->str;
		consumer = NULL;
		for (j = 0; pel != NULL && j < pel->elements; j++)
			if (strcmp(pel->element[j]->element[0]->str, id) == 0)
				consumer = pel->element[j]->element[1]->str;
		/* Delivered and acknowledged, not trimmed yet: not listed. */
		if (consumer == NULL && id_cmp(id, last) <= 0)
			continue;
		k = (size_t)(fv(entries->element[i]->element[1], "attempt") ?
		    atol(fv(entries->element[i]->element[1], "attempt")) : 0);
		row(c, consumer ? "pending" : "queued",
		    fv(entries->element[i]->element[1], "id"),
		    fv(entries->element[i]->element[1], "sink"),
		    fv(entries->element[i]->element[1], "watchlist"), (long)k, "now",
		    fv(entries->element[i]->element[1], "last_error"), consumer);
	}
	for (i = 0; retry != NULL && i + 1 < retry->elements; i += 2) {
		if ((m = json_loads(retry->element[i]->str, 0, NULL)) == NULL)
			continue;
		ms_time(atoll(retry->element[i + 1]->str), when, sizeof when);
		row(c, "retry", json_string_value(json_object_get(m, "id")),
		    json_string_value(json_object_get(m, "sink")),
		    json_string_value(json_object_get(m, "watchlist")),
		    (long)json_integer_value(json_object_get(m, "attempt")), when,
		    json_string_value(json_object_get(m, "last_error")), NULL);
		json_decref(m);
	}
	if (entries)
		freeReplyObject(entries);
	if (pel)
		freeReplyObject(pel);
	if (retry)
		freeReplyObject(retry);
	if (groups)
		freeReplyObject(groups);
	return 0;
}

static int
getopts(int argc, char **argv, const char **conf, int *failed, int *json,
    const char **sink, const char *usage)
{
	static const struct option longopts[] = {
		{ "failed", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "sink", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': *conf = optarg; break;
		case 'f': *failed = 1; break;
		case 'j': *json = 1; break;
		case 's':
			if (sink == NULL)
				goto bad;
			*sink = optarg;
			break;
		case 'h': printf("usage: %s\n", usage); exit(0);
		default: goto bad;
		}
	}
	if (*conf != NULL)
		return 0;
bad:
	fprintf(stderr, "usage: %s\n", usage);
	return -1;
}

int
ctl_deliveries_main(int argc, char **argv)
{
	const char *conf = NULL;
	struct ctx c;
	int failed = 0, rc;

	memset(&c, 0, sizeof c);
	if (getopts(argc, argv, &conf, &failed, &c.json, NULL,
	    "wirewatchctl deliveries -c CONF [--failed] [--json]") == -1 ||
	    optind != argc)
		return 2;
	if (open_ctx(&c, conf) == -1) {
		close_ctx(&c);
		return 3;
	}
	rc = failed ? list_failed(&c) : list_pending(&c);
	close_ctx(&c);
	return rc;
}

/* Moves one dead letter (or waiting retry) back into the outbox. */
static int
requeue(struct ctx *c, const redisReply *fields, const char *dead_id,
    const char *retry_member)
{
	const char *add[16], *del[3], *multi[1] = { "MULTI" }, *exec[1] = { "EXEC" };
	redisReply *r;
	json_t *m = NULL;
	int ok;

	add[0] = "XADD";
	add[1] = c->k_outbox;
	add[2] = "*";
	if (retry_member != NULL) {
		if ((m = json_loads(retry_member, 0, NULL)) == NULL)
			return -1;
		add[3] = "id"; add[4] = json_string_value(json_object_get(m, "id"));
		add[5] = "sink"; add[6] = json_string_value(json_object_get(m, "sink"));
		add[7] = "watchlist"; add[8] = json_string_value(json_object_get(m, "watchlist"));
		add[9] = "item"; add[10] = json_string_value(json_object_get(m, "item"));
		add[11] = "alert"; add[12] = json_string_value(json_object_get(m, "alert"));
		del[0] = "ZREM"; del[1] = c->k_retry; del[2] = retry_member;
	} else {
		add[3] = "id"; add[4] = fv(fields, "id");
		add[5] = "sink"; add[6] = fv(fields, "sink");
		add[7] = "watchlist"; add[8] = fv(fields, "watchlist");
		add[9] = "item"; add[10] = fv(fields, "item");
		add[11] = "alert"; add[12] = fv(fields, "alert");
		del[0] = "XDEL"; del[1] = c->k_dead; del[2] = dead_id;
	}
	add[13] = "attempt";
	add[14] = "0";
	if (add[4] == NULL || add[6] == NULL || add[12] == NULL) {
		json_decref(m);
		return -1;
	}
	if (add[8] == NULL)
		add[8] = "";
	if (add[10] == NULL)
		add[10] = "";
	freeReplyObject(redisCommandArgv(c->rc, 1, multi, NULL));
	freeReplyObject(redisCommandArgv(c->rc, 15, add, NULL));
	freeReplyObject(redisCommandArgv(c->rc, 3, del, NULL));
	r = redisCommandArgv(c->rc, 1, exec, NULL);
	ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
	if (ok)
		printf("requeued %s (sink %s)\n", add[4], add[6]);
	if (r != NULL)
		freeReplyObject(r);
	json_decref(m);
	return ok ? 0 : -1;
}

int
ctl_replay_main(int argc, char **argv)
{
	const char *conf = NULL, *sink = NULL, *fsink, *fid;
	const char *xr[6], *zr[4];
	redisReply *dead = NULL, *retry = NULL;
	json_t *m;
	struct ctx c;
	int failed = 0, json = 0, rc = 0, a, hit;
	size_t i, done = 0;

	memset(&c, 0, sizeof c);
	if (getopts(argc, argv, &conf, &failed, &json, &sink,
	    "wirewatchctl replay -c CONF (ID... | --failed [--sink NAME])") == -1)
		return 2;
	if ((failed && optind != argc) || (!failed && (optind == argc || sink))) {
		fprintf(stderr, "usage: wirewatchctl replay -c CONF (ID... | --failed [--sink NAME])\n");
		return 2;
	}
	if (open_ctx(&c, conf) == -1) {
		close_ctx(&c);
		return 3;
	}
	xr[0] = "XRANGE"; xr[1] = c.k_dead; xr[2] = "-"; xr[3] = "+";
	xr[4] = "COUNT"; xr[5] = LIST_MAX;
	zr[0] = "ZRANGE"; zr[1] = c.k_retry; zr[2] = "0"; zr[3] = "-1";
	dead = cmd(&c, 6, xr);
	retry = failed ? NULL : cmd(&c, 4, zr);
	for (a = failed ? argc - 1 : optind; a < argc; a++) {
		hit = 0;
		for (i = 0; dead != NULL && i < dead->elements; i++) {
			fsink = fv(dead->element[i]->element[1], "sink");
			fid = fv(dead->element[i]->element[1], "id");
			if (failed ? (sink != NULL && (fsink == NULL || strcmp(fsink, sink) != 0)) :
			    (fid == NULL || strcmp(fid, argv[a]) != 0))
				continue;
			hit = 1;
			if (requeue(&c, dead->element[i]->element[1],
			    dead->element[i]->element[0]->str, NULL) == 0)
				done++;
			else
				rc = 1;
		}
		for (i = 0; retry != NULL && i < retry->elements; i++) {
			if ((m = json_loads(retry->element[i]->str, 0, NULL)) == NULL)
				continue;
			fid = json_string_value(json_object_get(m, "id"));
			if (fid != NULL && strcmp(fid, argv[a]) == 0) {
				hit = 1;
				if (requeue(&c, NULL, NULL, retry->element[i]->str) == 0)
					done++;
				else
					rc = 1;
			}
			json_decref(m);
		}
		if (!hit && !failed) {
			fprintf(stderr, "wirewatchctl: %s: no such dead letter or waiting retry\n",
			    argv[a]);
			rc = 1;
		}
	}
	if (failed && !c.json)
		printf("%zu alert%s requeued\n", done, done == 1 ? "" : "s");
	if (dead)
		freeReplyObject(dead);
	if (retry)
		freeReplyObject(retry);
	close_ctx(&c);
	return rc;
}
