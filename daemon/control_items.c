/*
 * control_items.c - the control commands that go to Redis: watchlist.test
 * (a query over the recent items, recent.h), deliveries and replay (the
 * outbox, deliveries.h), and the Redis half of status.
 *
 * Each answers later (control_later(), control.h): it sends one Redis
 * call and replies from its callback.  Redis down is an ordinary error
 * ("redis ...: not connected"); status then reports its Redis fields as
 * null rather than failing.  Rows and replays are made by deliveries.c,
 * the same code wirewatchctl's offline -c path uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "control_internal.h"
#include "wirewatch/config.h"
#include "wirewatch/control.h"
#include "wirewatch/deliveries.h"
#include "wirewatch/keys.h"
#include "wirewatch/outbox.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/recent.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

/* A duration argument: "6h", "90m", "2d", or a number of seconds. */
static int
arg_duration(const json_t *v, const char *name, long long *out, char *err,
    size_t errlen)
{
	long long d = -1;

	if (v == NULL)
		return 0;
	if (json_is_integer(v))
		d = json_integer_value(v);
	else if (json_is_string(v))
		d = util_parse_duration(json_string_value(v));
	if (d < 0) {
		snprintf(err, errlen, "bad '%s': a duration such as 6h, 90m or 2d", name);
		return -1;
	}
	*out = d;
	return 0;
}

static int
arg_bool(const json_t *v, const char *name, int *out, char *err, size_t errlen)
{
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "'%s' must be true or false", name);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* --- watchlist.test ----------------------------------------------------- */

static void
control_tested_cb(json_t *result, const char *error, void *arg)
{
	control_later_reply(arg, result, error);
}

json_t *
control_watchlist_test(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	struct pipeline *p = control_pipeline(cl);
	const json_t *q = json_object_get(req->req, "query");
	struct control_later *later;
	long long since = 0;
	char qerr[WW_ERRLEN];

	if (!json_is_string(q) || json_string_length(q) == 0) {
		snprintf(err, errlen, "'watchlist.test' needs \"query\": the query to try");
		return NULL;
	}
	if (arg_duration(json_object_get(req->req, "since"), "since", &since, err,
	    errlen) == -1)
		return NULL;
	if (!store_is_up(pipeline_store(p))) {
		snprintf(err, errlen, "redis %s: not connected (the recent items "
		    "are kept there)", store_addr(pipeline_store(p)));
		return NULL;
	}
	later = control_later(cl, req);
	if (recent_test(pipeline_recent(p), json_string_value(q), since,
	    control_tested_cb, later, qerr, sizeof qerr) == -1) {
		snprintf(err, errlen, "query: %s", qerr);
		control_later_reply(later, NULL, err);
	}
	return NULL;
}

/* --- deliveries, replay ---------------------------------------------------- */

struct outbox_req {
	struct control_later *later;
	int failed;
};

static void
control_listed_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct outbox_req *o = arg;
	json_t *rows, *res;

	if (error != NULL) {
		control_later_reply(o->later, NULL, error);
	} else if ((rows = deliveries_rows(reply, o->failed)) == NULL) {
		control_later_reply(o->later, NULL, "redis: unexpected reply to ww_deliveries");
	} else {
		res = json_object();
		json_object_set_new(res, "deliveries", rows);
		control_later_reply(o->later, res, NULL);
	}
	free(o);
}

json_t *
control_deliveries(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	struct pipeline *p = control_pipeline(cl);
	struct deliveries_call c;
	struct outbox_req *o;
	int failed = 0;

	if (arg_bool(json_object_get(req->req, "failed"), "failed", &failed, err,
	    errlen) == -1)
		return NULL;
	o = xcalloc(1, sizeof *o);
	o->failed = failed;
	o->later = control_later(cl, req);
	deliveries_list_call(&c, pipeline_config(p), failed);
	store_command(pipeline_store(p), control_listed_cb, o, c.argc, c.argv);
	deliveries_call_free(&c);
	return NULL;
}

static void
control_replayed_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct outbox_req *o = arg;
	json_t *res;

	if (error != NULL)
		control_later_reply(o->later, NULL, error);
	else if ((res = deliveries_replayed(reply)) == NULL)
		control_later_reply(o->later, NULL, "redis: unexpected reply to ww_replay");
	else
		control_later_reply(o->later, res, NULL);
	free(o);
}

json_t *
control_replay(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	struct pipeline *p = control_pipeline(cl);
	const json_t *ids = json_object_get(req->req, "ids"), *sink, *x;
	struct deliveries_call c;
	struct outbox_req *o;
	const char **v = NULL;
	int failed = 0;
	size_t i, n = 0;

	sink = json_object_get(req->req, "sink");
	if (arg_bool(json_object_get(req->req, "failed"), "failed", &failed, err,
	    errlen) == -1)
		return NULL;
	if (ids != NULL && (!json_is_array(ids) || json_array_size(ids) == 0 ||
	    json_array_size(ids) > DELIVERIES_MAX)) {
		snprintf(err, errlen, "\"ids\" must be an array of 1 to %d alert ids",
		    DELIVERIES_MAX);
		return NULL;
	}
	if ((ids != NULL) == failed) {
		snprintf(err, errlen, "'replay' takes \"ids\" or \"failed\":true (one of them)");
		return NULL;
	}
	if (sink != NULL && (!failed || !json_is_string(sink))) {
		snprintf(err, errlen, "\"sink\" (a sink's name) goes with \"failed\":true");
		return NULL;
	}
	if (ids != NULL) {
		v = xcalloc(json_array_size(ids), sizeof *v);
		json_array_foreach(ids, i, x) {
			if (!json_is_string(x)) {
				snprintf(err, errlen, "\"ids\" must hold strings (alert ids)");
				free(v);
				return NULL;
			}
			v[n++] = json_string_value(x);
		}
	}
	o = xcalloc(1, sizeof *o);
	o->later = control_later(cl, req);
	deliveries_replay_call(&c, pipeline_config(p),
	    sink != NULL ? json_string_value(sink) : NULL, v, n);
	store_command(pipeline_store(p), control_replayed_cb, o, c.argc, c.argv);
	deliveries_call_free(&c);
	free(v);
	return NULL;
}

/* --- status: the Redis half ------------------------------------------------ */

struct status_req {
	struct control_later *later;
	json_t *o;
};

static void
control_stats_cb(const struct store_reply *reply, const char *error, void *arg)
{
	static const char *names[] = { "outbox_queued", "outbox_pending",
		"outbox_retry", "dead_letters_total", "alerts_today", "recent_items" };
	struct status_req *s = arg;
	long long v[6], depth;
	size_t i;
	int ok;

	ok = error == NULL && store_reply_type(reply) == STORE_ARRAY &&
	    store_reply_len(reply) == 6;
	for (i = 0; ok && i < 6; i++) {
		if (store_reply_type(store_reply_elem(reply, i)) != STORE_INT)
			ok = 0;
		else
			v[i] = store_reply_int(store_reply_elem(reply, i));
	}
	for (i = 0; i < 6; i++)
		json_object_set_new(s->o, names[i], ok ? json_integer(v[i]) : json_null());
	depth = ok ? v[0] + v[1] + v[2] : 0;
	json_object_set_new(s->o, "outbox_depth", ok ? json_integer(depth) : json_null());
	if (!ok)
		json_object_set_new(s->o, "redis_error", json_string(error != NULL ? error :
		    "unexpected reply to ww_stats"));
	control_later_reply(s->later, s->o, NULL);
	free(s);
}

json_t *
control_status_redis(struct control_conn *cl, const struct control_request *req,
    json_t *o)
{
	struct pipeline *p = control_pipeline(cl);
	const struct config *cfg = pipeline_config(p);
	struct status_req *s = xcalloc(1, sizeof *s);
	char *keys[5];
	const char *argv[9];
	size_t i;

	json_object_set_new(o, "keep_items", json_integer(cfg->keep_items));
	s->o = o;
	s->later = control_later(cl, req);
	keys[0] = keys_name(cfg->prefix, KEY_OUTBOX, NULL);
	keys[1] = keys_name(cfg->prefix, KEY_DEAD, NULL);
	keys[2] = keys_name(cfg->prefix, KEY_RETRY, NULL);
	keys[3] = outbox_day_key(cfg, time(NULL));
	keys[4] = keys_name(cfg->prefix, KEY_RECENT, NULL);
	argv[0] = "FCALL";
	argv[1] = "ww_stats";
	argv[2] = "5";
	for (i = 0; i < 5; i++)
		argv[3 + i] = keys[i];
	argv[8] = "dispatch";
	store_command(pipeline_store(p), control_stats_cb, s, 9, argv);
	for (i = 0; i < 5; i++)
		free(keys[i]);
	return NULL;
}
