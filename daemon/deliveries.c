/*
 * deliveries.c - rows of the outbox and replays, from one Redis function
 * call each; see deliveries.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/deliveries.h"
#include "wirewatch/util.h"

#define GROUP "dispatch"
#define XSTR(x) #x
#define STR(x) XSTR(x)

void
deliveries_list_call(struct deliveries_call *c, const struct config *cfg,
    int failed)
{
	memset(c, 0, sizeof *c);
	c->argv = xcalloc(9, sizeof *c->argv);
	c->owned[0] = xasprintf("%soutbox", cfg->prefix);
	c->owned[1] = xasprintf("%sretry", cfg->prefix);
	c->owned[2] = xasprintf("%sdead", cfg->prefix);
	c->argv[c->argc++] = "FCALL";
	c->argv[c->argc++] = "ww_deliveries";
	c->argv[c->argc++] = "3";
	c->argv[c->argc++] = c->owned[0];
	c->argv[c->argc++] = c->owned[1];
	c->argv[c->argc++] = c->owned[2];
	c->argv[c->argc++] = failed ? "failed" : "pending";
	c->argv[c->argc++] = STR(DELIVERIES_MAX);
}

void
deliveries_replay_call(struct deliveries_call *c, const struct config *cfg,
    const char *sink, const char *const *ids, size_t nids)
{
	size_t i;

	memset(c, 0, sizeof *c);
	c->argv = xcalloc(9 + nids, sizeof *c->argv);
	c->owned[0] = xasprintf("%soutbox", cfg->prefix);
	c->owned[1] = xasprintf("%sdead", cfg->prefix);
	c->owned[2] = xasprintf("%sretry", cfg->prefix);
	c->argv[c->argc++] = "FCALL";
	c->argv[c->argc++] = "ww_replay";
	c->argv[c->argc++] = "3";
	c->argv[c->argc++] = c->owned[0];
	c->argv[c->argc++] = c->owned[1];
	c->argv[c->argc++] = c->owned[2];
	c->argv[c->argc++] = STR(DELIVERIES_MAX);
	c->argv[c->argc++] = sink != NULL ? sink : "";
	for (i = 0; i < nids; i++)
		c->argv[c->argc++] = ids[i];
}

void
deliveries_call_free(struct deliveries_call *c)
{
	size_t i;

	for (i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++)
		free(c->owned[i]);
	free(c->argv);
	memset(c, 0, sizeof *c);
}

/* The value of field name in a flat field/value array. */
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

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? alert_json_string(s) : json_null();
}

static void
row(json_t *rows, const char *state, const char *id, const char *sink,
    const char *watchlist, long attempts, const char *when, const char *error,
    const char *consumer)
{
	json_t *o = json_object();

	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "id", alert_json_string(id ? id : ""));
	json_object_set_new(o, "sink", alert_json_string(sink ? sink : ""));
	json_object_set_new(o, "watchlist", alert_json_string(watchlist ? watchlist : ""));
	json_object_set_new(o, "attempts", json_integer(attempts));
	json_object_set_new(o, state[0] == 'f' ? "failed_at" : "next_attempt",
	    str_or_null(when));
	json_object_set_new(o, "last_error", str_or_null(error));
	if (consumer != NULL)
		json_object_set_new(o, "consumer", alert_json_string(consumer));
	json_array_append_new(rows, o);
}

static int
is_array(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ARRAY;
}

/* An XRANGE entry: {id, {field, value, ...}}. */
static int
is_entry(const redisReply *e)
{
	return is_array(e) && e->elements == 2 &&
	    e->element[0]->type == REDIS_REPLY_STRING && is_array(e->element[1]);
}

static void
failed_rows(json_t *rows, const redisReply *dead)
{
	const redisReply *f;
	const char *reason, *resp, *att;
	struct buf err = {0};
	size_t i;

	for (i = 0; i < dead->elements; i++) {
		if (!is_entry(dead->element[i]))
			continue;
		f = dead->element[i]->element[1];
		reason = fv(f, "reason");
		resp = fv(f, "response");
		att = fv(f, "attempts");
		buf_reset(&err);
		buf_addf(&err, "%s%s%s", reason ? reason : "",
		    resp && *resp ? "; response: " : "", resp && *resp ? resp : "");
		row(rows, "failed", fv(f, "id"), fv(f, "sink"), fv(f, "watchlist"),
		    att ? atol(att) : 0, fv(f, "failed_at"), err.s ? err.s : "", NULL);
	}
	buf_free(&err);
}

static void
pending_rows(json_t *rows, const redisReply *entries, const redisReply *pel,
    const redisReply *retry, const redisReply *groups)
{
	const char *last = "0-0", *consumer, *id, *att, *name;
	const redisReply *f;
	char when[32];
	json_t *m;
	size_t i, j;

	for (i = 0; i < groups->elements; i++) {
		name = fv(groups->element[i], "name");
		if (name != NULL && strcmp(name, GROUP) == 0 &&
		    fv(groups->element[i], "last-delivered-id") != NULL)
			last = fv(groups->element[i], "last-delivered-id");
	}
	for (i = 0; i < entries->elements; i++) {
		if (!is_entry(entries->element[i]))
			continue;
		id = entries->element[i]->element[0]->str;
		f = entries->element[i]->element[1];
		consumer = NULL;
		for (j = 0; j < pel->elements; j++)
			if (is_array(pel->element[j]) && pel->element[j]->elements >= 2 &&
			    pel->element[j]->element[0]->type == REDIS_REPLY_STRING &&
			    pel->element[j]->element[1]->type == REDIS_REPLY_STRING &&
			    strcmp(pel->element[j]->element[0]->str, id) == 0)
				consumer = pel->element[j]->element[1]->str;
		/* Delivered and acknowledged, not trimmed yet: not listed. */
		if (consumer == NULL && id_cmp(id, last) <= 0)
			continue;
		att = fv(f, "attempt");
		row(rows, consumer ? "pending" : "queued", fv(f, "id"), fv(f, "sink"),
		    fv(f, "watchlist"), att ? atol(att) : 0, "now", fv(f, "last_error"),
		    consumer);
	}
	for (i = 0; i + 1 < retry->elements; i += 2) {
		if (retry->element[i]->type != REDIS_REPLY_STRING ||
		    (m = json_loads(retry->element[i]->str, 0, NULL)) == NULL)
			continue;
		util_format_time((time_t)(atoll(retry->element[i + 1]->str ?
		    retry->element[i + 1]->str : "0") / 1000), when, sizeof when);
		row(rows, "retry", json_string_value(json_object_get(m, "id")),
		    json_string_value(json_object_get(m, "sink")),
		    json_string_value(json_object_get(m, "watchlist")),
		    (long)json_integer_value(json_object_get(m, "attempt")), when,
		    json_string_value(json_object_get(m, "last_error")), NULL);
		json_decref(m);
	}
}

json_t *
deliveries_rows(const redisReply *r, int failed)
{
	json_t *rows;
	size_t i;

	if (!is_array(r) || r->elements != (failed ? 1u : 4u))
		return NULL;
	for (i = 0; i < r->elements; i++)
		if (!is_array(r->element[i]))
			return NULL;
	rows = json_array();
	if (failed)
		failed_rows(rows, r->element[0]);
	else
		pending_rows(rows, r->element[0], r->element[1], r->element[2],
		    r->element[3]);
	return rows;
}

json_t *
deliveries_replayed(const redisReply *r)
{
	const redisReply *done, *missing;
	json_t *o, *a, *m, *x;
	size_t i;

	if (!is_array(r) || r->elements != 2 || !is_array(r->element[0]) ||
	    !is_array(r->element[1]))
		return NULL;
	done = r->element[0];
	missing = r->element[1];
	a = json_array();
	for (i = 0; i + 1 < done->elements; i += 2) {
		x = json_object();
		json_object_set_new(x, "id", alert_json_string(done->element[i]->str ?
		    done->element[i]->str : ""));
		json_object_set_new(x, "sink", alert_json_string(done->element[i + 1]->str ?
		    done->element[i + 1]->str : ""));
		json_array_append_new(a, x);
	}
	m = json_array();
	for (i = 0; i < missing->elements; i++)
		if (missing->element[i]->type == REDIS_REPLY_STRING)
			json_array_append_new(m, alert_json_string(missing->element[i]->str));
	o = json_object();
	json_object_set_new(o, "requeued", a);
	json_object_set_new(o, "missing", m);
	return o;
}
