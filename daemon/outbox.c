/*
 * outbox.c - durable alert queue and dispatcher; see outbox.h.  This file
 * is the stream: setup, recording, reads, acknowledgements, retries, dead
 * letters and maintenance.  The per-sink lanes are outbox_lane.c, story
 * threads on Telegram outbox_thread.c, the Redis function library
 * outbox_lua.c; what they share is in outbox_internal.h.
 *
 * Dispatch state lives in one struct outbox; each entry it holds in
 * memory is one struct entry, on the `held` list from the moment it is
 * read until its sink has answered and its XACK (or retry, or
 * dead-letter move) was sent.  Reads are not blocking (one Redis
 * connection is shared with the pollers, and a blocking XREADGROUP would
 * hold their commands): a read is issued when a record queued alerts,
 * when deliveries free a slot and every OUTBOX_POLL_MS for alerts queued
 * by other instances.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/outbox.h"
#include "wirewatch/sink.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/stats.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#include "outbox_internal.h"

#define OUTBOX_POLL_MS 1000
#define OUTBOX_MAINT_MS 30000
#define OUTBOX_READ_COUNT 64
#define PARKED_MAX 100000       /* parked ids over all lanes (~5 MB) */
#define KEEPALIVE_BATCH 512     /* ids per maintenance XCLAIM */

static void outbox_acked_cb(const struct store_reply *reply, const char *error,
    void *arg);

/* --- lifetime ------------------------------------------------------------ */

struct outbox *
outbox_new(struct event_base *base, const struct config *cfg,
    struct store *store, struct sinks *sinks, const char *consumer)
{
	struct outbox *ob = xcalloc(1, sizeof *ob);
	size_t i;

	ob->base = base;
	ob->cfg = cfg;
	ob->store = store;
	ob->sinks = sinks;
	ob->consumer = xstrdup(consumer);
	ob->k_outbox = keys_name(cfg->prefix, KEY_OUTBOX, NULL);
	ob->k_dead = keys_name(cfg->prefix, KEY_DEAD, NULL);
	ob->k_epoch = keys_name(cfg->prefix, KEY_EPOCH, NULL);
	ob->k_retry = keys_name(cfg->prefix, KEY_RETRY, NULL);
	ob->lanes = xcalloc(cfg->nsinks + 1, sizeof *ob->lanes);
	ob->nlanes = cfg->nsinks;
	for (i = 0; i < cfg->nsinks; i++)
		ob->lanes[i] = outbox_lane_new(ob, &cfg->sinks[i], i);
	LIST_INIT(&ob->retired);
	ob->next_retry_ms = -1;
	/*
	 * With leases, a dead instance's alerts are claimed after two leases
	 * (the default 30s lease gives the historical 60s), checked every
	 * lease: a failover takes as long for its alerts as for its feeds.
	 */
	ob->claim_idle_ms = cfg->lease > 0 ? cfg->lease * 2000 : OUTBOX_CLAIM_IDLE_MS;
	ob->maint_ms = cfg->lease > 0 && cfg->lease * 1000 < OUTBOX_MAINT_MS ?
	    cfg->lease * 1000 : OUTBOX_MAINT_MS;
	LIST_INIT(&ob->held);
	return ob;
}

static void
entry_free(struct entry *e)
{
	free(e->alert_id);
	free(e->sink_name);
	free(e->watchlist);
	free(e->item);
	free(e->json);
	json_decref(e->alert);
	free(e->label);
	free(e);
}

/* Forgets e (which is on no lane queue); it stays whatever Redis says. */
void
outbox_entry_release(struct entry *e)
{
	LIST_REMOVE(e, link);
	e->ob->nheld--;
	entry_free(e);
}

void
outbox_free(struct outbox *ob)
{
	struct entry *e;
	struct lane *l;
	size_t i;

	if (ob == NULL)
		return;
	for (i = 0; i < ob->nlanes; i++)
		outbox_lane_free(ob->lanes[i]);
	while ((l = LIST_FIRST(&ob->retired)) != NULL) {
		LIST_REMOVE(l, retired_link);
		outbox_lane_free(l);
	}
	while ((e = LIST_FIRST(&ob->held)) != NULL)
		outbox_entry_release(e);
	if (ob->poll_timer != NULL)
		event_free(ob->poll_timer);
	if (ob->maint_timer != NULL)
		event_free(ob->maint_timer);
	free(ob->consumer);
	free(ob->k_outbox);
	free(ob->k_dead);
	free(ob->k_epoch);
	free(ob->k_retry);
	free(ob->lanes);
	free(ob);
}

size_t
outbox_inflight(const struct outbox *ob)
{
	return ob->nsending + ob->acks;
}

size_t
outbox_waiting(const struct outbox *ob)
{
	size_t i, n = 0;

	for (i = 0; i < ob->nlanes; i++)
		n += ob->lanes[i]->nqueue + outbox_lane_nparked(ob->lanes[i]);
	return n;
}

unsigned long
outbox_dead_count(const struct outbox *ob)
{
	return ob->dead;
}

int
outbox_unfinished(const struct outbox *ob)
{
	return ob->unfinished;
}

void
outbox_check_idle(struct outbox *ob)
{
	outbox_idle_cb cb;

	/* Every time, not once: a read answered after the stop refills it. */
	if (ob->stopping && ob->quiet_cb != NULL && ob->nsending == 0 &&
	    ob->acks == 0) {
		ob->quiet_cb(ob->quiet_arg);
		return;
	}
	if (ob->idle_cb == NULL || ob->reading || ob->again ||
	    ob->nsending > 0 || ob->acks > 0 || !ob->last_read_empty ||
	    ob->own_pending || !ob->due_checked)
		return;
	if (outbox_lanes_keep_waiting(ob))
		return;
	/* --once waits for retries due within ONCE_RETRY_WAIT_MS, no longer. */
	if (ob->retries_left > 0 && store_is_up(ob->store) &&
	    ob->next_retry_ms >= 0 && ob->next_retry_ms <= ONCE_RETRY_WAIT_MS)
		return;
	if (ob->retries_left > 0) {
		log_warn("outbox: %ld alert%s wait%s for a later retry (next in "
		    "%lds); the next run delivers %s", ob->retries_left,
		    ob->retries_left == 1 ? "" : "s",
		    ob->retries_left == 1 ? "s" : "", ob->next_retry_ms / 1000,
		    ob->retries_left == 1 ? "it" : "them");
		ob->unfinished = 1;
	}
	cb = ob->idle_cb;
	ob->idle_cb = NULL;
	cb(ob->idle_arg);
}

/* --- setup ------------------------------------------------------------ */

static void
outbox_setup_reply_cb(const struct store_reply *reply, const char *error, void *arg)
{
	(void)reply;
	(void)arg;
	/* BUSYGROUP: the group exists, as it should after the first start. */
	if (error != NULL && strstr(error, "BUSYGROUP") == NULL)
		log_err("outbox: setup failed: %s", error);
}

static void
outbox_epoch_reply_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;

	if (error != NULL) {
		log_err("outbox: cannot read the epoch: %s", error);
		return;
	}
	if (store_reply_type(reply) == STORE_STRING && ob->epoch_cb != NULL)
		ob->epoch_cb(store_reply_str(reply, NULL), ob->epoch_arg);
}

void
outbox_setup(struct outbox *ob, outbox_epoch_cb cb, void *arg)
{
	const char *argv[8];
	char candidate[64];
	size_t i;

	ob->epoch_cb = cb;
	ob->epoch_arg = arg;
	ob->own_pending = 1; /* after every connect: our PEL first */
	snprintf(ob->pel_cursor, sizeof ob->pel_cursor, "0");
	/*
	 * Parked ids are in our pending list, which the first reads go
	 * through again: they are parked anew from there (and a fetch
	 * answered by the old connection is ignored).
	 */
	ob->gen++;
	for (i = 0; i < ob->nlanes; i++) {
		outbox_lane_forget_parked(ob->lanes[i]);
		ob->lanes[i]->fetching = 0;
	}
	argv[0] = "FUNCTION";
	argv[1] = "LOAD";
	argv[2] = "REPLACE";
	argv[3] = outbox_functions();
	store_command(ob->store, outbox_setup_reply_cb, ob, 4, argv);
	argv[0] = "XGROUP";
	argv[1] = "CREATE";
	argv[2] = ob->k_outbox;
	argv[3] = GROUP;
	argv[4] = "0";
	argv[5] = "MKSTREAM";
	store_command(ob->store, outbox_setup_reply_cb, ob, 6, argv);
	snprintf(candidate, sizeof candidate, "%llx-%lx-%x",
	    (unsigned long long)time(NULL), (unsigned long)random(),
	    (unsigned)getpid());
	argv[0] = "FCALL";
	argv[1] = "ww_epoch";
	argv[2] = "1";
	argv[3] = ob->k_epoch;
	argv[4] = candidate;
	store_command(ob->store, outbox_epoch_reply_cb, ob, 5, argv);
}

/* --- recording ---------------------------------------------------------- */

struct record_req {
	outbox_record_cb cb;
	void *arg;
	struct outbox *ob;
	int queued;
	struct stats_hold *stats;
};

static void
outbox_recorded_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct record_req *r = arg;
	int result;

	if (error != NULL)
		result = -1;
	else
		result = store_reply_type(reply) == STORE_INT &&
		    store_reply_int(reply) == 1;
	stats_hold_done(r->stats, result == 1);
	if (result == 1 && r->queued)
		outbox_kick(r->ob);
	r->cb(result, error, r->arg);
	free(r);
}

/* <prefix>alerts:YYYY-MM-DD (KEY_ALERTS), the day (UTC) of now: the
 * alerts-today counter. */
char *
outbox_day_key(const struct config *cfg, time_t now)
{
	struct tm tm;
	char day[16];

	gmtime_r(&now, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	return keys_name(cfg->prefix, KEY_ALERTS, day, NULL);
}

void
outbox_record(struct outbox *ob, const char *item_key,
    const struct outbox_alert *alerts, size_t nalerts, const char *const *kept,
    size_t nkept, const char *fence_key, const char *fence_token,
    outbox_record_cb cb, void *arg)
{
	const char **argv = xcalloc(12 + nkept + nalerts * 5, sizeof *argv);
	struct record_req *r = xmalloc(sizeof *r);
	char ttl[32], keep[32], nk[32], *seen, *recent, *day;
	size_t i;
	int argc = 0;

	r->cb = cb;
	r->arg = arg;
	r->ob = ob;
	r->queued = nalerts > 0;
	r->stats = stats_hold(alerts, nalerts);
	seen = keys_name(ob->cfg->prefix, KEY_SEEN, item_key, NULL);
	recent = keys_name(ob->cfg->prefix, KEY_RECENT, NULL);
	day = outbox_day_key(ob->cfg, time(NULL));
	snprintf(ttl, sizeof ttl, "%lld", ob->cfg->seen_ttl);
	snprintf(keep, sizeof keep, "%lld", ob->cfg->keep_items * 1000);
	snprintf(nk, sizeof nk, "%zu", nkept);
	argv[argc++] = "FCALL";
	argv[argc++] = "ww_record_item";
	argv[argc++] = fence_key != NULL ? "5" : "4";
	argv[argc++] = seen;
	argv[argc++] = ob->k_outbox;
	argv[argc++] = recent;
	argv[argc++] = day;
	if (fence_key != NULL)
		argv[argc++] = fence_key;
	argv[argc++] = ttl;
	argv[argc++] = keep;
	argv[argc++] = nk;
	for (i = 0; i < nkept; i++)
		argv[argc++] = kept[i];
	for (i = 0; i < nalerts; i++) {
		argv[argc++] = alerts[i].id;
		argv[argc++] = alerts[i].sink;
		argv[argc++] = alerts[i].watchlist;
		argv[argc++] = item_key;
		argv[argc++] = alerts[i].json;
	}
	if (fence_key != NULL)
		argv[argc++] = fence_token;
	store_command(ob->store, outbox_recorded_cb, r, argc, argv);
	free(seen);
	free(recent);
	free(day);
	free(argv);
}

/* --- outcomes ----------------------------------------------------------- */

static void
outbox_acked_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;

	(void)reply;
	ob->acks--;
	/* A lost XACK leaves the entry pending: it is delivered again later. */
	if (error != NULL)
		log_warn("outbox: %s (the alert stays pending and will be "
		    "delivered again)", error);
	outbox_check_idle(ob);
}

struct ack_req {
	struct outbox *ob;
	char sid[SID_MAX];
};

/*
 * A delivered entry whose XACK was lost (the connection dropped) is still
 * pending in Redis and comes back with our pending list after the
 * reconnect: remembering it here turns that into an XACK, not a second
 * message in the chat room.  Only a crash loses this memory.
 */
static void
remember_unacked(struct outbox *ob, const char *sid)
{
	snprintf(ob->unacked[ob->nunacked % UNACKED_MAX], sizeof ob->unacked[0],
	    "%s", sid);
	ob->nunacked++;
}

static int
forget_unacked(struct outbox *ob, const char *sid)
{
	size_t i, n = ob->nunacked < UNACKED_MAX ? ob->nunacked : UNACKED_MAX;

	for (i = 0; i < n; i++)
		if (strcmp(ob->unacked[i], sid) == 0) {
			ob->unacked[i][0] = '\0';
			return 1;
		}
	return 0;
}

static void
outbox_delivered_acked_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct ack_req *a = arg;
	struct outbox *ob = a->ob;

	(void)reply;
	ob->acks--;
	if (error != NULL) {
		log_info("outbox: entry %s delivered, its acknowledgement lost (%s); "
		    "it is acknowledged after the reconnect", a->sid, error);
		remember_unacked(ob, a->sid);
	}
	free(a);
	outbox_check_idle(ob);
}

static void
ack(struct outbox *ob, const char *sid)
{
	const char *argv[4] = { "XACK", ob->k_outbox, GROUP, sid };
	struct ack_req *a = xmalloc(sizeof *a);

	a->ob = ob;
	snprintf(a->sid, sizeof a->sid, "%s", sid);
	ob->acks++;
	store_command(ob->store, outbox_delivered_acked_cb, a, 4, argv);
}

/*
 * quiet: the alert was part of a digest whose failure was logged once
 * for all of them; this alert's own line is less loud.
 */
static void
dead_letter(struct outbox *ob, struct entry *e, const char *reason,
    const char *resp, size_t resp_len, int attempts, int quiet)
{
	const char *argv[26];
	char natt[16], when[32], *body;
	int argc = 0;

	body = resp != NULL ? util_utf8_repair(resp, resp_len, NULL) : xstrdup("");
	snprintf(natt, sizeof natt, "%d", attempts);
	util_format_time(time(NULL), when, sizeof when);
	stats_inc(STATS_DEAD_LETTERS, e->sink_name, NULL);
	argv[argc++] = "FCALL";
	argv[argc++] = "ww_dead";
	argv[argc++] = "2";
	argv[argc++] = ob->k_outbox;
	argv[argc++] = ob->k_dead;
	argv[argc++] = GROUP;
	argv[argc++] = e->sid;
	argv[argc++] = "id";
	argv[argc++] = e->alert_id;
	argv[argc++] = "sink";
	argv[argc++] = e->sink_name;
	argv[argc++] = "watchlist";
	argv[argc++] = e->watchlist;
	argv[argc++] = "item";
	argv[argc++] = e->item;
	argv[argc++] = "reason";
	argv[argc++] = reason != NULL ? reason : "failed";
	argv[argc++] = "response";
	argv[argc++] = body;
	argv[argc++] = "attempts";
	argv[argc++] = natt;
	argv[argc++] = "failed_at";
	argv[argc++] = when;
	argv[argc++] = "alert";
	argv[argc++] = e->json;
	if (quiet)
		log_info("outbox: %s moved to the dead letters (%s) with its "
		    "digest", e->label, ob->k_dead);
	else
		log_err("outbox: %s moved to the dead letters (%s): %s%s%s",
		    e->label, ob->k_dead, reason != NULL ? reason : "failed",
		    body[0] ? "; response: " : "", body);
	ob->dead++;
	ob->acks++;
	store_command(ob->store, outbox_acked_cb, ob, argc, argv);
	free(body);
}

/*
 * The delay before attempt number `attempt` (0 is the first, at once).
 * The Standard Webhooks schedule unless the sink sets its own: 0, 5 s,
 * 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.  -1: no more attempts.
 */
static long
schedule_ms(const struct cfg_sink *sink, int attempt)
{
	if (attempt < 0 || (size_t)attempt >= sink->nschedule)
		return -1;
	return sink->schedule_ms[attempt];
}

/*
 * The start of a service's answer for a log line: at most 200 bytes,
 * valid UTF-8, control characters (newlines) as spaces.
 */
static char *
response_excerpt(const char *resp, size_t len)
{
	char *s;
	size_t i;

	if (resp == NULL)
		return xstrdup("");
	s = util_utf8_repair(resp, len < 200 ? len : 200, NULL);
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = ' ';
	return s;
}

static void
retry_later(struct outbox *ob, struct entry *e, const struct sink_result *r,
    long delay, int quiet)
{
	const char *argv[9];
	char ms[32], *member, *excerpt;
	json_t *m;

	/* +-20% so that the retries of many alerts do not march in step. */
	delay += (long)((double)delay * 0.4 * ((double)random() / RAND_MAX - 0.5));
	if (r->retry_after_ms > delay)
		delay = r->retry_after_ms < RETRY_AFTER_MAX_MS ? r->retry_after_ms :
		    RETRY_AFTER_MAX_MS;
	m = json_object();
	json_object_set_new(m, "id", json_string(e->alert_id));
	json_object_set_new(m, "sink", json_string(e->sink_name));
	json_object_set_new(m, "watchlist", json_string(e->watchlist));
	json_object_set_new(m, "item", json_string(e->item));
	json_object_set_new(m, "alert", json_string(e->json));
	json_object_set_new(m, "attempt", json_integer(e->attempt + 1));
	json_object_set_new(m, "last_error", alert_json_string(r->reason ?
	    r->reason : "failed"));
	stats_inc(STATS_RETRIES, e->sink_name, NULL);
	ob->due_checked = 0; /* --once waits for this retry */
	ob->retries_left++;
	if ((member = json_dumps(m, JSON_COMPACT)) == NULL)
		fatal("outbox: cannot serialize a retry (out of memory)");
	json_decref(m);
	snprintf(ms, sizeof ms, "%ld", delay);
	excerpt = response_excerpt(r->resp, r->resp_len);
	log_msg(quiet ? LOG_LVL_DEBUG : LOG_LVL_WARN,
	    "outbox: %s attempt %d failed: %s%s%s; next attempt in %.1fs",
	    e->label, e->attempt + 1, r->reason ? r->reason : "failed",
	    excerpt[0] ? "; response: " : "", excerpt, (double)delay / 1000);
	free(excerpt);
	argv[0] = "FCALL";
	argv[1] = "ww_retry";
	argv[2] = "2";
	argv[3] = ob->k_outbox;
	argv[4] = ob->k_retry;
	argv[5] = GROUP;
	argv[6] = e->sid;
	argv[7] = ms;
	argv[8] = member;
	ob->acks++;
	store_command(ob->store, outbox_acked_cb, ob, 9, argv);
	free(member);
}

/*
 * What happens to one entry after an attempt (its own, or its digest's:
 * quiet then): XACK, a retry of its own, or the dead letters.  Frees e,
 * which is on no lane queue.
 */
void
outbox_finish(struct outbox *ob, struct entry *e, const struct sink_result *r,
    int quiet)
{
	const struct cfg_sink *sink = config_sink(ob->cfg, e->sink_name);
	char why[400];
	long delay;

	stats_delivery(sink, r->outcome);
	switch (r->outcome) {
	case SINK_DELIVERED:
		if (e->attempt > 0)
			log_info("outbox: %s delivered at attempt %d", e->label,
			    e->attempt + 1);
		if (!quiet)
			outbox_tg_note(ob, sink, e, r);
		ack(ob, e->sid);
		break;
	case SINK_RETRY:
		delay = sink != NULL ? schedule_ms(sink, e->attempt + 1) : -1;
		if (delay >= 0) {
			retry_later(ob, e, r, delay, quiet);
			break;
		}
		if (sink == NULL) {
			snprintf(why, sizeof why, "%s; sink \"%s\" was removed from "
			    "the configuration, no retry", r->reason ? r->reason :
			    "failed", e->sink_name);
			dead_letter(ob, e, why, r->resp, r->resp_len, e->attempt + 1,
			    quiet);
			break;
		}
		snprintf(why, sizeof why, "%s (gave up after %d attempt%s)",
		    r->reason ? r->reason : "failed", e->attempt + 1,
		    e->attempt == 0 ? "" : "s");
		dead_letter(ob, e, why, r->resp, r->resp_len, e->attempt + 1,
		    quiet);
		break;
	case SINK_FAILED:
		if (sink != NULL && !ob->lanes[sink - ob->cfg->sinks]->disabled &&
		    sinkfmt_gone((enum sinkfmt_type)sink->format, r->status)) {
			ob->lanes[sink - ob->cfg->sinks]->disabled = 1;
			log_crit("sink \"%s\": the destination answered %ld: it is "
			    "gone; the sink is disabled until the configuration is "
			    "reloaded, its alerts go to the dead letters",
			    sink->name, r->status);
		}
		dead_letter(ob, e, r->reason, r->resp, r->resp_len,
		    e->attempt + 1, quiet);
		break;
	case SINK_ABORTED:
		break; /* stays pending in Redis: delivered after the restart */
	}
	outbox_entry_release(e);
}

/* Dead-letters e at once (no attempt was made): reason says why. */
void
outbox_refuse(struct outbox *ob, struct entry *e, const char *reason)
{
	struct sink_result res;

	memset(&res, 0, sizeof res);
	res.outcome = SINK_FAILED;
	res.reason = reason;
	outbox_finish(ob, e, &res, 0);
}

/* --- reading ------------------------------------------------------------ */

static int
is_held(const struct outbox *ob, const char *sid)
{
	const struct entry *e;

	LIST_FOREACH(e, &ob->held, link)
		if (strcmp(e->sid, sid) == 0)
			return 1;
	return 0;
}

static char *
field(const struct store_reply *fields, const char *name)
{
	const struct store_reply *k, *v;
	const char *vs;
	size_t i, len;

	for (i = 0; i + 1 < store_reply_len(fields); i += 2) {
		k = store_reply_elem(fields, i);
		v = store_reply_elem(fields, i + 1);
		if (store_reply_type(k) == STORE_STRING &&
		    strcmp(store_reply_str(k, NULL), name) == 0 &&
		    store_reply_type(v) == STORE_STRING) {
			vs = store_reply_str(v, &len);
			return xstrndup(vs, len);
		}
	}
	return NULL;
}

/*
 * One stream entry: [id, [field, value, ...]] (fields nil when deleted).
 * It joins its sink's lane, or is parked there when the lane is full or
 * has parked entries before it; fetched: it comes from the lane's own
 * fetch of parked ids, for which it made room.
 */
void
outbox_take_entry(struct outbox *ob, const struct store_reply *r,
    int fetched)
{
	const struct store_reply *fields = store_reply_elem(r, 1);
	const struct cfg_sink *sink;
	struct lane *l;
	struct entry *e;
	json_t *alert;
	json_error_t jerr;
	const char *sid;
	char err[256], *a;
	size_t len;

	if (store_reply_type(r) != STORE_ARRAY || store_reply_len(r) != 2 ||
	    store_reply_type(store_reply_elem(r, 0)) != STORE_STRING)
		return;
	sid = store_reply_str(store_reply_elem(r, 0), &len);
	if (len >= SID_MAX)
		return;
	if (is_held(ob, sid))
		return;
	log_debug("outbox: entry %s taken%s", sid,
	    ob->own_pending ? " (our pending list)" : "");
	if (forget_unacked(ob, sid)) {
		ack(ob, sid);
		return;
	}
	/* Stopping: not taken, it stays pending for the next start. */
	if (ob->stopping)
		return;
	e = xcalloc(1, sizeof *e);
	e->ob = ob;
	snprintf(e->sid, sizeof e->sid, "%s", sid);
	LIST_INSERT_HEAD(&ob->held, e, link);
	ob->nheld++;
	if (store_reply_type(fields) == STORE_ARRAY) {
		e->alert_id = field(fields, "id");
		e->sink_name = field(fields, "sink");
		e->watchlist = field(fields, "watchlist");
		e->item = field(fields, "item");
		e->json = field(fields, "alert");
	}
	if (e->alert_id == NULL || e->sink_name == NULL || e->json == NULL) {
		/* Trimmed or foreign: nothing to deliver, do not keep it pending. */
		log_warn("outbox: entry %s has no alert; acknowledged", e->sid);
		ack(ob, e->sid);
		outbox_entry_release(e);
		return;
	}
	if ((a = field(fields, "attempt")) != NULL) {
		e->attempt = atoi(a);
		free(a);
	}
	if (e->watchlist == NULL)
		e->watchlist = xstrdup("");
	if (e->item == NULL)
		e->item = xstrdup("");
	e->label = xasprintf("alert %s (watchlist \"%s\" item %s) for sink \"%s\"",
	    e->alert_id, e->watchlist, e->item, e->sink_name);
	if ((sink = config_sink(ob->cfg, e->sink_name)) == NULL) {
		snprintf(err, sizeof err, "sink \"%s\" is not configured (not in "
		    "this daemon's configuration, or removed by a reload)",
		    e->sink_name);
		outbox_refuse(ob, e, err);
		return;
	}
	if (ob->lanes[sink - ob->cfg->sinks]->disabled) {
		snprintf(err, sizeof err, "sink \"%s\" is disabled (its "
		    "destination is gone) until the configuration is reloaded",
		    sink->name);
		outbox_refuse(ob, e, err);
		return;
	}
	alert = json_loads(e->json, 0, &jerr);
	if (alert == NULL || !json_is_object(alert)) {
		snprintf(err, sizeof err, "stored alert is not a JSON object%s%s",
		    alert == NULL ? ": " : "", alert == NULL ? jerr.text : "");
		json_decref(alert);
		outbox_refuse(ob, e, err);
		return;
	}
	e->alert = alert;
	l = ob->lanes[sink - ob->cfg->sinks];
	if (!fetched && (l->nqueue >= LANE_HOLD || outbox_lane_nparked(l) > 0 ||
	    l->fetching)) {
		outbox_lane_park(l, e->sid);
		outbox_entry_release(e);
		return;
	}
	outbox_lane_push(l, e);
	if (!fetched)
		outbox_lane_pump(l);
}

/* Entries of an XREADGROUP or XAUTOCLAIM reply; returns how many. */
static size_t
take_entries(struct outbox *ob, const struct store_reply *list)
{
	size_t i, n = store_reply_len(list);

	for (i = 0; i < n; i++)
		outbox_take_entry(ob, store_reply_elem(list, i), 0);
	return n;
}

static void
outbox_read_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;
	const struct store_reply *stream, *list, *last;
	size_t n = 0;
	int was_own = ob->own_pending;

	if (error != NULL) {
		ob->reading = 0;
		/* The poll timer tries again; a lost connection re-sets up. */
		log_debug("outbox: read failed: %s", error);
		/* Without Redis there is nothing more to read (--once: done). */
		ob->last_read_empty = !store_is_up(ob->store);
		outbox_check_idle(ob);
		return;
	}
	/*
	 * [[stream, [entries...]]] or nil.  `reading` stays set while the
	 * entries are handed out: a delivery that completes at once (the
	 * console) asks for more, and a second read from the same cursor
	 * would hand out the same pending entries twice.
	 */
	stream = store_reply_elem(reply, 0);
	if (store_reply_type(stream) == STORE_ARRAY &&
	    store_reply_len(stream) == 2) {
		list = store_reply_elem(stream, 1);
		n = take_entries(ob, list);
		last = n > 0 ? store_reply_elem(list, n - 1) : NULL;
		if (was_own && store_reply_type(last) == STORE_ARRAY &&
		    store_reply_type(store_reply_elem(last, 0)) == STORE_STRING)
			snprintf(ob->pel_cursor, sizeof ob->pel_cursor, "%s",
			    store_reply_str(store_reply_elem(last, 0), NULL));
	}
	ob->reading = 0;
	if (was_own && n < ob->read_count)
		ob->own_pending = 0; /* our pending list is read: now new ones */
	ob->last_read_empty = n == 0 && !was_own;
	if (n > 0 || was_own || ob->again) {
		ob->again = 0;
		outbox_read_more(ob);
	}
	/* Entries parked by this read (or again, after a reconnect). */
	if (n > 0 && !ob->stopping)
		outbox_lanes_fetch(ob);
	outbox_check_idle(ob);
}

void
outbox_read_more(struct outbox *ob)
{
	const char *argv[10];
	char count[16];
	size_t room;

	if (!store_is_up(ob->store)) {
		ob->last_read_empty = 1;
		ob->own_pending = 0;
		return;
	}
	if (!ob->started || ob->stopping)
		return;
	if (ob->reading) {
		ob->again = 1;
		return;
	}
	if (ob->nsending >= OUTBOX_MAX_INFLIGHT)
		return;
	if (ob->nparked >= PARKED_MAX) {
		if (!ob->parked_full)
			log_warn("outbox: %zu alerts wait for rate-limited sinks; "
			    "no more are read until some went out (alerts for "
			    "other sinks wait too)", ob->nparked);
		ob->parked_full = 1;
		return;
	}
	if (ob->parked_full)
		log_notice("outbox: reading again (%zu alerts still wait for "
		    "rate-limited sinks)", ob->nparked);
	ob->parked_full = 0;
	room = OUTBOX_MAX_INFLIGHT - ob->nsending;
	ob->read_count = room < OUTBOX_READ_COUNT ? room : OUTBOX_READ_COUNT;
	snprintf(count, sizeof count, "%zu", ob->read_count);
	argv[0] = "XREADGROUP";
	argv[1] = "GROUP";
	argv[2] = GROUP;
	argv[3] = ob->consumer;
	argv[4] = "COUNT";
	argv[5] = count;
	argv[6] = "STREAMS";
	argv[7] = ob->k_outbox;
	/*
	 * "0" reads our own pending entries: alerts this consumer took
	 * before a crash or a lost connection.  Those held right now are
	 * skipped by outbox_take_entry.
	 */
	argv[8] = ob->own_pending ? ob->pel_cursor : ">";
	ob->reading = 1;
	store_command(ob->store, outbox_read_cb, ob, 9, argv);
}

void
outbox_kick(struct outbox *ob)
{
	outbox_read_more(ob);
}

/* --- maintenance: claim a dead consumer's entries, keep ours, trim ------ */

static void
outbox_claimed_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;
	size_t n;

	if (error != NULL) {
		log_debug("outbox: claim failed: %s", error);
		return;
	}
	/* [cursor, [entries...], [deleted ids]] */
	if (store_reply_len(reply) >= 2) {
		n = take_entries(ob, store_reply_elem(reply, 1));
		if (n > 0)
			log_notice("outbox: took over %zu alert%s left pending by "
			    "another consumer for over %ds", n, n == 1 ? "" : "s",
			    (int)(ob->claim_idle_ms / 1000));
	}
}

static void
outbox_maint_reply_cb(const struct store_reply *reply, const char *error, void *arg)
{
	(void)reply;
	(void)arg;
	if (error != NULL)
		log_debug("outbox: maintenance: %s", error);
}

/* XCLAIM ... JUSTID of ids[0..n): their idle time starts again. */
static void
keep_alive(struct outbox *ob, const char **argv, size_t n)
{
	argv[0] = "XCLAIM";
	argv[1] = ob->k_outbox;
	argv[2] = GROUP;
	argv[3] = ob->consumer;
	argv[4] = "0";
	argv[5 + n] = "JUSTID";
	store_command(ob->store, outbox_maint_reply_cb, ob, (int)n + 6, argv);
}

static void
maintain(struct outbox *ob)
{
	const char **argv = xcalloc(6 + KEEPALIVE_BATCH, sizeof *argv);
	const char *small[10];
	char idle[32];
	struct entry *e;
	struct lane *l;
	size_t i, j, n = 0;

	if (!store_is_up(ob->store) || ob->stopping)
		goto out;
	/*
	 * Ours, held or parked: reset their idle time so that no other
	 * instance claims what this one is still delivering.
	 */
	LIST_FOREACH(e, &ob->held, link) {
		argv[5 + n++] = e->sid;
		if (n == KEEPALIVE_BATCH) {
			keep_alive(ob, argv, n);
			n = 0;
		}
	}
	for (i = 0; i < ob->nlanes; i++) {
		l = ob->lanes[i];
		for (j = l->phead; j < l->ptail; j++) {
			argv[5 + n++] = l->parked[j];
			if (n == KEEPALIVE_BATCH) {
				keep_alive(ob, argv, n);
				n = 0;
			}
		}
	}
	if (n > 0)
		keep_alive(ob, argv, n);
	if (ob->nsending < OUTBOX_MAX_INFLIGHT / 2 && ob->nparked < PARKED_MAX) {
		snprintf(idle, sizeof idle, "%ld", ob->claim_idle_ms);
		small[0] = "XAUTOCLAIM";
		small[1] = ob->k_outbox;
		small[2] = GROUP;
		small[3] = ob->consumer;
		small[4] = idle;
		small[5] = "0-0";
		small[6] = "COUNT";
		small[7] = "64";
		store_command(ob->store, outbox_claimed_cb, ob, 8, small);
	}
	small[0] = "FCALL";
	small[1] = "ww_trim";
	small[2] = "1";
	small[3] = ob->k_outbox;
	small[4] = GROUP;
	store_command(ob->store, outbox_maint_reply_cb, ob, 5, small);
out:
	free(argv);
}

static void
outbox_due_reply_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;

	ob->checking_due = 0;
	if (error != NULL) {
		log_debug("outbox: retry set: %s", error);
		ob->due_checked = !store_is_up(ob->store);
	} else if (store_reply_len(reply) == 3) {
		ob->retries_left = (long)store_reply_int(store_reply_elem(reply, 1));
		ob->next_retry_ms = (long)store_reply_int(store_reply_elem(reply, 2));
		ob->due_checked = 1;
		if (store_reply_int(store_reply_elem(reply, 0)) > 0) {
			ob->last_read_empty = 0;
			outbox_read_more(ob);
		}
	}
	outbox_check_idle(ob);
}

/* Moves the retries that are due back into the outbox. */
static void
move_due(struct outbox *ob)
{
	const char *argv[6];

	if (!store_is_up(ob->store)) {
		ob->due_checked = 1;
		return;
	}
	if (ob->checking_due || ob->stopping)
		return;
	argv[0] = "FCALL";
	argv[1] = "ww_due";
	argv[2] = "2";
	argv[3] = ob->k_retry;
	argv[4] = ob->k_outbox;
	argv[5] = "100";
	ob->checking_due = 1;
	store_command(ob->store, outbox_due_reply_cb, ob, 6, argv);
}

static void
outbox_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;

	(void)fd;
	(void)what;
	move_due(ob);
	outbox_read_more(ob);
	/* A fetch that failed (Redis was away) is tried again here. */
	outbox_lanes_fetch(ob);
}

static void
outbox_maint_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	maintain(arg);
}

void
outbox_start(struct outbox *ob)
{
	struct timeval poll = { OUTBOX_POLL_MS / 1000, (OUTBOX_POLL_MS % 1000) * 1000 };
	struct timeval maint = { ob->maint_ms / 1000, (ob->maint_ms % 1000) * 1000 };

	if (ob->poll_timer == NULL) {
		ob->poll_timer = event_new(ob->base, -1, EV_PERSIST, outbox_poll_cb, ob);
		ob->maint_timer = event_new(ob->base, -1, EV_PERSIST, outbox_maint_cb, ob);
		event_add(ob->poll_timer, &poll);
		event_add(ob->maint_timer, &maint);
	}
	ob->started = 1;
	ob->reading = 0; /* a read lost with the old connection got its error */
	ob->checking_due = 0;
	move_due(ob);
	outbox_read_more(ob);
	maintain(ob);
}

void
outbox_stop(struct outbox *ob, outbox_idle_cb cb, void *arg)
{
	size_t i, waiting = outbox_waiting(ob);

	ob->stopping = 1;
	ob->gen++; /* a fetch answered from now on is ignored */
	ob->quiet_cb = cb;
	ob->quiet_arg = arg;
	if (ob->poll_timer != NULL)
		event_del(ob->poll_timer);
	if (ob->maint_timer != NULL)
		event_del(ob->maint_timer);
	/* Waiting alerts are not waited for: they stay pending in Redis. */
	if (waiting > 0)
		log_notice("outbox: %zu alert%s waiting for rate-limited sinks "
		    "stay in the outbox", waiting, waiting == 1 ? "" : "s");
	for (i = 0; i < ob->nlanes; i++)
		outbox_lane_drop(ob->lanes[i]);
}

void
outbox_drain(struct outbox *ob, outbox_idle_cb cb, void *arg)
{
	ob->idle_cb = cb;
	ob->idle_arg = arg;
	ob->last_read_empty = 0;
	ob->due_checked = 0;
	move_due(ob);
	outbox_read_more(ob);
	outbox_check_idle(ob);
}
