/*
 * deliveries.c - rows of the outbox and replays, from one Redis function
 * call each; see deliveries.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/deliveries.h"
#include "wirewatch/keys.h"
#include "wirewatch/store.h"
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
	c->owned[0] = keys_name(cfg->prefix, KEY_OUTBOX, NULL);
	c->owned[1] = keys_name(cfg->prefix, KEY_RETRY, NULL);
	c->owned[2] = keys_name(cfg->prefix, KEY_DEAD, NULL);
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
	c->owned[0] = keys_name(cfg->prefix, KEY_OUTBOX, NULL);
	c->owned[1] = keys_name(cfg->prefix, KEY_DEAD, NULL);
	c->owned[2] = keys_name(cfg->prefix, KEY_RETRY, NULL);
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

/* A string reply's text, else NULL. */
static const char *
str(const struct store_reply *r)
{
	return store_reply_type(r) == STORE_STRING ? store_reply_str(r, NULL) : NULL;
}

/* The value of field name in a flat field/value array. */
static const char *
fv(const struct store_reply *fields, const char *name)
{
	const char *k;
	size_t i;

	for (i = 0; i + 1 < store_reply_len(fields); i += 2)
		if ((k = str(store_reply_elem(fields, i))) != NULL &&
		    strcmp(k, name) == 0 &&
		    str(store_reply_elem(fields, i + 1)) != NULL)
			return str(store_reply_elem(fields, i + 1));
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
is_array(const struct store_reply *r)
{
	return store_reply_type(r) == STORE_ARRAY;
}

/* An XRANGE entry: {id, {field, value, ...}}. */
static int
is_entry(const struct store_reply *e)
{
	return is_array(e) && store_reply_len(e) == 2 &&
	    str(store_reply_elem(e, 0)) != NULL && is_array(store_reply_elem(e, 1));
}

static void
failed_rows(json_t *rows, const struct store_reply *dead)
{
	const struct store_reply *f;
	const char *reason, *resp, *att;
	struct buf err = {0};
	size_t i;

	for (i = 0; i < store_reply_len(dead); i++) {
		if (!is_entry(store_reply_elem(dead, i)))
			continue;
		f = store_reply_elem(store_reply_elem(dead, i), 1);
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

/* The consumer that holds entry id, in an XPENDING list; NULL: none. */
static const char *
holder(const struct store_reply *pel, const char *id)
{
	const struct store_reply *p;
	const char *consumer = NULL, *pid;
	size_t j;

	for (j = 0; j < store_reply_len(pel); j++) {
		p = store_reply_elem(pel, j);
		if (store_reply_len(p) >= 2 &&
		    (pid = str(store_reply_elem(p, 0))) != NULL &&
		    str(store_reply_elem(p, 1)) != NULL && strcmp(pid, id) == 0)
			consumer = str(store_reply_elem(p, 1));
	}
	return consumer;
}

static void
pending_rows(json_t *rows, const struct store_reply *entries,
    const struct store_reply *pel, const struct store_reply *retry,
    const struct store_reply *groups)
{
	const char *last = "0-0", *consumer, *id, *att, *name, *member, *due;
	const struct store_reply *f, *g, *e;
	char when[32];
	json_t *m;
	size_t i;

	for (i = 0; i < store_reply_len(groups); i++) {
		g = store_reply_elem(groups, i);
		name = fv(g, "name");
		if (name != NULL && strcmp(name, GROUP) == 0 &&
		    fv(g, "last-delivered-id") != NULL)
			last = fv(g, "last-delivered-id");
	}
	for (i = 0; i < store_reply_len(entries); i++) {
		e = store_reply_elem(entries, i);
		if (!is_entry(e))
			continue;
		id = str(store_reply_elem(e, 0));
		f = store_reply_elem(e, 1);
		consumer = holder(pel, id);
		/* Delivered and acknowledged, not trimmed yet: not listed. */
		if (consumer == NULL && id_cmp(id, last) <= 0)
			continue;
		att = fv(f, "attempt");
		row(rows, consumer ? "pending" : "queued", fv(f, "id"), fv(f, "sink"),
		    fv(f, "watchlist"), att ? atol(att) : 0, "now", fv(f, "last_error"),
		    consumer);
	}
	for (i = 0; i + 1 < store_reply_len(retry); i += 2) {
		if ((member = str(store_reply_elem(retry, i))) == NULL ||
		    (m = json_loads(member, 0, NULL)) == NULL)
			continue;
		due = store_reply_str(store_reply_elem(retry, i + 1), NULL);
		util_format_time((time_t)(atoll(due ? due : "0") / 1000), when,
		    sizeof when);
		row(rows, "retry", json_string_value(json_object_get(m, "id")),
		    json_string_value(json_object_get(m, "sink")),
		    json_string_value(json_object_get(m, "watchlist")),
		    (long)json_integer_value(json_object_get(m, "attempt")), when,
		    json_string_value(json_object_get(m, "last_error")), NULL);
		json_decref(m);
	}
}

json_t *
deliveries_rows(const struct store_reply *r, int failed)
{
	json_t *rows;
	size_t i;

	if (!is_array(r) || store_reply_len(r) != (failed ? 1u : 4u))
		return NULL;
	for (i = 0; i < store_reply_len(r); i++)
		if (!is_array(store_reply_elem(r, i)))
			return NULL;
	rows = json_array();
	if (failed)
		failed_rows(rows, store_reply_elem(r, 0));
	else
		pending_rows(rows, store_reply_elem(r, 0), store_reply_elem(r, 1),
		    store_reply_elem(r, 2), store_reply_elem(r, 3));
	return rows;
}

json_t *
deliveries_replayed(const struct store_reply *r)
{
	const struct store_reply *done, *missing;
	const char *id, *sink;
	json_t *o, *a, *m, *x;
	size_t i;

	done = store_reply_elem(r, 0);
	missing = store_reply_elem(r, 1);
	if (!is_array(r) || store_reply_len(r) != 2 || !is_array(done) ||
	    !is_array(missing))
		return NULL;
	a = json_array();
	for (i = 0; i + 1 < store_reply_len(done); i += 2) {
		id = store_reply_str(store_reply_elem(done, i), NULL);
		sink = store_reply_str(store_reply_elem(done, i + 1), NULL);
		x = json_object();
		json_object_set_new(x, "id", alert_json_string(id ? id : ""));
		json_object_set_new(x, "sink", alert_json_string(sink ? sink : ""));
		json_array_append_new(a, x);
	}
	m = json_array();
	for (i = 0; i < store_reply_len(missing); i++)
		if ((id = str(store_reply_elem(missing, i))) != NULL)
			json_array_append_new(m, alert_json_string(id));
	o = json_object();
	json_object_set_new(o, "requeued", a);
	json_object_set_new(o, "missing", m);
	return o;
}
