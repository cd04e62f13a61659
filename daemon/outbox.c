/*
 * outbox.c - durable alert queue and dispatcher; see outbox.h.
 *
 * Every Redis write that must be atomic is a function of the "wirewatch"
 * library, loaded with FUNCTION LOAD REPLACE first thing on every new
 * connection (Redis 7.0, Debian 12's, has functions; a restarted empty
 * Redis gets them back before any other command of ours runs).
 *
 * Dispatch state lives in one struct outbox; each entry being delivered
 * is one struct entry, on the inflight list until its sink has answered
 * and its XACK (or dead-letter move) was sent.  Reads are not blocking
 * (one Redis connection is shared with the pollers, and a blocking
 * XREADGROUP would hold their commands): a read is issued when a record
 * queued alerts, when deliveries free a slot and every OUTBOX_POLL_MS
 * for alerts queued by other instances.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/log.h"
#include "wirewatch/outbox.h"
#include "wirewatch/sign.h"
#include "wirewatch/sink.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#define OUTBOX_POLL_MS 1000
#define OUTBOX_MAINT_MS 30000
#define OUTBOX_READ_COUNT 64
#define GROUP "dispatch"
#define ONCE_RETRY_WAIT_MS 60000
#define UNACKED_MAX 1024
#define RETRY_AFTER_MAX_MS (24L * 3600 * 1000)

static const char lua_library[] =
"#!lua name=wirewatch\n"
"-- ww_record: KEYS seen, outbox; ARGV ttl, then per alert:\n"
"-- id, sink, watchlist, item, alert.  Seen and queued, or neither.\n"
"redis.register_function('ww_record', function(keys, args)\n"
"  if not redis.call('SET', keys[1], '1', 'NX', 'EX', args[1]) then\n"
"    return 0\n"
"  end\n"
"  for i = 2, #args, 5 do\n"
"    redis.call('XADD', keys[2], '*', 'id', args[i], 'sink', args[i+1],\n"
"      'watchlist', args[i+2], 'item', args[i+3], 'alert', args[i+4])\n"
"  end\n"
"  return 1\n"
"end)\n"
"-- ww_dead: KEYS outbox, dead; ARGV group, entry id, then field pairs.\n"
"redis.register_function('ww_dead', function(keys, args)\n"
"  local f = {}\n"
"  for i = 3, #args do f[#f+1] = args[i] end\n"
"  redis.call('XADD', keys[2], 'MAXLEN', '~', '100000', '*', unpack(f))\n"
"  return redis.call('XACK', keys[1], args[1], args[2])\n"
"end)\n"
"-- ww_trim: KEYS outbox; ARGV group.  MINID below the oldest pending\n"
"-- entry, else at the last delivered one: never drops a pending entry.\n"
"redis.register_function('ww_trim', function(keys, args)\n"
"  if redis.call('EXISTS', keys[1]) == 0 then return 0 end\n"
"  local p = redis.call('XPENDING', keys[1], args[1])\n"
"  local min = p[2]\n"
"  if not min then\n"
"    for _, g in ipairs(redis.call('XINFO', 'GROUPS', keys[1])) do\n"
"      local name, last\n"
"      for j = 1, #g, 2 do\n"
"        if g[j] == 'name' then name = g[j+1] end\n"
"        if g[j] == 'last-delivered-id' then last = g[j+1] end\n"
"      end\n"
"      if name == args[1] then min = last end\n"
"    end\n"
"  end\n"
"  if not min then return 0 end\n"
"  return redis.call('XTRIM', keys[1], 'MINID', min)\n"
"end)\n"
"-- ww_retry: KEYS outbox, retry; ARGV group, entry id, delay ms, member\n"
"-- (the entry as JSON).  Out of the outbox, into the retry set at\n"
"-- server time + delay: a retry survives any restart.\n"
"redis.register_function('ww_retry', function(keys, args)\n"
"  local t = redis.call('TIME')\n"
"  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
"  redis.call('ZADD', keys[2], now + tonumber(args[3]), args[4])\n"
"  return redis.call('XACK', keys[1], args[1], args[2])\n"
"end)\n"
"-- ww_due: KEYS retry, outbox; ARGV limit.  Moves due retries back into\n"
"-- the outbox; returns {moved, left, ms until the next one or -1}.\n"
"redis.register_function('ww_due', function(keys, args)\n"
"  local t = redis.call('TIME')\n"
"  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
"  local due = redis.call('ZRANGEBYSCORE', keys[1], '-inf', now, 'LIMIT', 0,\n"
"    tonumber(args[1]))\n"
"  for _, m in ipairs(due) do\n"
"    local f = cjson.decode(m)\n"
"    redis.call('XADD', keys[2], '*', 'id', f.id, 'sink', f.sink,\n"
"      'watchlist', f.watchlist, 'item', f.item, 'alert', f.alert,\n"
"      'attempt', tostring(f.attempt), 'last_error', f.last_error)\n"
"    redis.call('ZREM', keys[1], m)\n"
"  end\n"
"  local left = redis.call('ZCARD', keys[1])\n"
"  local nxt = -1\n"
"  if left > 0 then\n"
"    local first = redis.call('ZRANGE', keys[1], 0, 0, 'WITHSCORES')\n"
"    nxt = math.max(0, tonumber(first[2]) - now)\n"
"  end\n"
"  return {#due, left, nxt}\n"
"end)\n"
"-- ww_epoch: KEYS epoch; ARGV candidate.  The database's epoch.\n"
"redis.register_function('ww_epoch', function(keys, args)\n"
"  redis.call('SET', keys[1], args[1], 'NX')\n"
"  return redis.call('GET', keys[1])\n"
"end)\n";

struct outbox;

struct entry {
	struct outbox *ob;
	char sid[48];          /* stream entry id */
	char *alert_id;
	char *sink_name;
	char *watchlist;
	char *item;
	char *json;
	char *label;
	int attempt;           /* attempts made before this one */
	LIST_ENTRY(entry) link;
};

struct outbox {
	struct event_base *base;
	const struct config *cfg;
	struct store *store;
	struct sinks *sinks;
	char *consumer;
	char *k_outbox, *k_dead, *k_epoch, *k_retry;
	char *disabled;         /* per sink index: gone (410), until reload */
	long retries_left;      /* in the retry set, at the last look */
	long next_retry_ms;     /* until the first of those is due, or -1 */
	int due_checked;        /* --once: the retry set was looked at */
	int checking_due;
	int unfinished;         /* --once ended with retries still waiting */
	char unacked[UNACKED_MAX][48]; /* delivered, XACK lost: ring */
	size_t nunacked;
	LIST_HEAD(, entry) inflight;
	size_t ninflight;
	size_t acks;            /* XACK / dead-letter moves in flight */
	int reading;            /* an XREADGROUP is outstanding */
	int again;              /* a kick came during that read */
	int own_pending;        /* next read is of our own pending entries */
	char pel_cursor[48];    /* ... after this id */
	int started;
	int stopping;
	int last_read_empty;
	unsigned long dead;
	struct event *poll_timer;
	struct event *maint_timer;
	outbox_epoch_cb epoch_cb;
	void *epoch_arg;
	outbox_idle_cb idle_cb;
	void *idle_arg;
	outbox_idle_cb quiet_cb;  /* stopping: nothing in flight any more */
	void *quiet_arg;
};

static void read_more(struct outbox *ob);
static void deliver(struct outbox *ob, struct entry *e,
    const struct cfg_sink *sink, const json_t *alert);
static const struct cfg_sink *find_sink(const struct config *cfg,
    const char *name);
static void outbox_acked_cb(struct redisReply *reply, const char *error,
    void *arg);

/* 410 Gone means the same everywhere; Discord says 404 for a deleted hook. */
static int
gone(const struct cfg_sink *sink, long status)
{
	return status == 410 || (status == 404 && sink->url != NULL &&
	    strstr(sink->url, "discord") != NULL);
}

struct outbox *
outbox_new(struct event_base *base, const struct config *cfg,
    struct store *store, struct sinks *sinks, const char *consumer)
{
	struct outbox *ob = xcalloc(1, sizeof *ob);

	ob->base = base;
	ob->cfg = cfg;
	ob->store = store;
	ob->sinks = sinks;
	ob->consumer = xstrdup(consumer);
	ob->k_outbox = xasprintf("%soutbox", cfg->prefix);
	ob->k_dead = xasprintf("%sdead", cfg->prefix);
	ob->k_epoch = xasprintf("%sepoch", cfg->prefix);
	ob->k_retry = xasprintf("%sretry", cfg->prefix);
	ob->disabled = xcalloc(cfg->nsinks + 1, 1);
	ob->next_retry_ms = -1;
	LIST_INIT(&ob->inflight);
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
	free(e->label);
	free(e);
}

void
outbox_free(struct outbox *ob)
{
	struct entry *e;

	if (ob == NULL)
		return;
	while ((e = LIST_FIRST(&ob->inflight)) != NULL) {
		LIST_REMOVE(e, link);
		entry_free(e);
	}
	if (ob->poll_timer != NULL)
		event_free(ob->poll_timer);
	if (ob->maint_timer != NULL)
		event_free(ob->maint_timer);
	free(ob->consumer);
	free(ob->k_outbox);
	free(ob->k_dead);
	free(ob->k_epoch);
	free(ob->k_retry);
	free(ob->disabled);
	free(ob);
}

size_t
outbox_inflight(const struct outbox *ob)
{
	return ob->ninflight + ob->acks;
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

static void
check_idle(struct outbox *ob)
{
	outbox_idle_cb cb;

	/* Every time, not once: a read answered after the stop refills it. */
	if (ob->stopping && ob->quiet_cb != NULL && ob->ninflight == 0 &&
	    ob->acks == 0) {
		ob->quiet_cb(ob->quiet_arg);
		return;
	}
	if (ob->idle_cb == NULL || ob->reading || ob->again ||
	    ob->ninflight > 0 || ob->acks > 0 || !ob->last_read_empty ||
	    ob->own_pending || !ob->due_checked)
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
outbox_setup_reply_cb(struct redisReply *reply, const char *error, void *arg)
{
	(void)reply;
	(void)arg;
	/* BUSYGROUP: the group exists, as it should after the first start. */
	if (error != NULL && strstr(error, "BUSYGROUP") == NULL)
		log_err("outbox: setup failed: %s", error);
}

static void
outbox_epoch_reply_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;

	if (error != NULL) {
		log_err("outbox: cannot read the epoch: %s", error);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING && ob->epoch_cb != NULL)
		ob->epoch_cb(reply->str, ob->epoch_arg);
}

void
outbox_setup(struct outbox *ob, outbox_epoch_cb cb, void *arg)
{
	const char *argv[8];
	char candidate[64];

	ob->epoch_cb = cb;
	ob->epoch_arg = arg;
	ob->own_pending = 1; /* after every connect: our PEL first */
	snprintf(ob->pel_cursor, sizeof ob->pel_cursor, "0");
	argv[0] = "FUNCTION";
	argv[1] = "LOAD";
	argv[2] = "REPLACE";
	argv[3] = lua_library;
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
};

static void
outbox_recorded_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct record_req *r = arg;
	int result;

	if (error != NULL)
		result = -1;
	else
		result = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
	if (result == 1 && r->queued)
		outbox_kick(r->ob);
	r->cb(result, error, r->arg);
	free(r);
}

void
outbox_record(struct outbox *ob, const char *item_key,
    const struct outbox_alert *alerts, size_t nalerts, outbox_record_cb cb,
    void *arg)
{
	const char **argv = xcalloc(6 + nalerts * 5, sizeof *argv);
	struct record_req *r = xmalloc(sizeof *r);
	char ttl[32], *seen;
	size_t i;
	int argc = 0;

	r->cb = cb;
	r->arg = arg;
	r->ob = ob;
	r->queued = nalerts > 0;
	seen = xasprintf("%sseen:%s", ob->cfg->prefix, item_key);
	snprintf(ttl, sizeof ttl, "%lld", ob->cfg->seen_ttl);
	argv[argc++] = "FCALL";
	argv[argc++] = "ww_record";
	argv[argc++] = "2";
	argv[argc++] = seen;
	argv[argc++] = ob->k_outbox;
	argv[argc++] = ttl;
	for (i = 0; i < nalerts; i++) {
		argv[argc++] = alerts[i].id;
		argv[argc++] = alerts[i].sink;
		argv[argc++] = alerts[i].watchlist;
		argv[argc++] = item_key;
		argv[argc++] = alerts[i].json;
	}
	store_command(ob->store, outbox_recorded_cb, r, argc, argv);
	free(seen);
	free(argv);
}

/* --- delivery ----------------------------------------------------------- */

static void
outbox_acked_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;

	(void)reply;
	ob->acks--;
	/* A lost XACK leaves the entry pending: it is delivered again later. */
	if (error != NULL)
		log_warn("outbox: %s (the alert stays pending and will be "
		    "delivered again)", error);
	check_idle(ob);
}

struct ack_req {
	struct outbox *ob;
	char sid[48];
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
outbox_delivered_acked_cb(struct redisReply *reply, const char *error, void *arg)
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
	check_idle(ob);
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

static void
dead_letter(struct outbox *ob, struct entry *e, const char *reason,
    const char *resp, size_t resp_len, int attempts)
{
	const char *argv[26];
	char natt[16], when[32], *body;
	int argc = 0;

	body = resp != NULL ? util_utf8_repair(resp, resp_len, NULL) : xstrdup("");
	snprintf(natt, sizeof natt, "%d", attempts);
	util_format_time(time(NULL), when, sizeof when);
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
	log_err("outbox: %s moved to the dead letters (%s): %s%s%s", e->label,
	    ob->k_dead, reason != NULL ? reason : "failed",
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

static void
retry_later(struct outbox *ob, struct entry *e, const struct sink_result *r,
    long delay)
{
	const char *argv[8];
	char ms[32], *member;
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
	ob->due_checked = 0; /* --once waits for this retry */
	ob->retries_left++;
	if ((member = json_dumps(m, JSON_COMPACT)) == NULL)
		fatal("outbox: cannot serialize a retry (out of memory)");
	json_decref(m);
	snprintf(ms, sizeof ms, "%ld", delay);
	log_warn("outbox: %s attempt %d failed: %s; next attempt in %.1fs",
	    e->label, e->attempt + 1, r->reason ? r->reason : "failed",
	    (double)delay / 1000);
	argv[0] = "FCALL";
	argv[1] = "ww_retry";
	argv[2] = "2";
	argv[3] = ob->k_outbox;
	argv[4] = ob->k_retry;
	argv[5] = GROUP;
	argv[6] = e->sid;
	argv[7] = ms;
	{
		const char *full[9] = { argv[0], argv[1], argv[2], argv[3],
		    argv[4], argv[5], argv[6], argv[7], member };

		ob->acks++;
		store_command(ob->store, outbox_acked_cb, ob, 9, full);
	}
	free(member);
}

static void
outbox_delivered_cb(const struct sink_result *r, void *arg)
{
	struct entry *e = arg;
	struct outbox *ob = e->ob;
	const struct cfg_sink *sink = find_sink(ob->cfg, e->sink_name);
	char why[400];
	long delay;

	LIST_REMOVE(e, link);
	ob->ninflight--;
	switch (r->outcome) {
	case SINK_DELIVERED:
		if (e->attempt > 0)
			log_info("outbox: %s delivered at attempt %d", e->label,
			    e->attempt + 1);
		ack(ob, e->sid);
		break;
	case SINK_RETRY:
		delay = sink != NULL ? schedule_ms(sink, e->attempt + 1) : -1;
		if (delay >= 0) {
			retry_later(ob, e, r, delay);
			break;
		}
		snprintf(why, sizeof why, "%s (gave up after %d attempt%s)",
		    r->reason ? r->reason : "failed", e->attempt + 1,
		    e->attempt == 0 ? "" : "s");
		dead_letter(ob, e, why, r->resp, r->resp_len, e->attempt + 1);
		break;
	case SINK_FAILED:
		if (sink != NULL && gone(sink, r->status)) {
			ob->disabled[sink - ob->cfg->sinks] = 1;
			log_crit("sink \"%s\": the destination answered %ld: it is "
			    "gone; the sink is disabled until the configuration is "
			    "reloaded, its alerts go to the dead letters",
			    sink->name, r->status);
		}
		dead_letter(ob, e, r->reason, r->resp, r->resp_len, e->attempt + 1);
		break;
	case SINK_ABORTED:
		break; /* stays pending in Redis: delivered after the restart */
	}
	entry_free(e);
	if (r->outcome != SINK_ABORTED && !ob->stopping)
		read_more(ob);
	check_idle(ob);
}

static const struct cfg_sink *
find_sink(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nsinks; i++)
		if (strcmp(cfg->sinks[i].name, name) == 0)
			return &cfg->sinks[i];
	return NULL;
}

static int
is_inflight(const struct outbox *ob, const char *sid)
{
	const struct entry *e;

	LIST_FOREACH(e, &ob->inflight, link)
		if (strcmp(e->sid, sid) == 0)
			return 1;
	return 0;
}

static char *
field(const redisReply *fields, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < fields->elements; i += 2)
		if (fields->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(fields->element[i]->str, name) == 0 &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			return xstrndup(fields->element[i + 1]->str,
			    fields->element[i + 1]->len);
	return NULL;
}

/* One stream entry: [id, [field, value, ...]] (fields nil when deleted). */
static void
take_entry(struct outbox *ob, const redisReply *r)
{
	const struct cfg_sink *sink;
	struct entry *e;
	json_t *alert;
	json_error_t jerr;
	struct sink_result res;
	char err[256], *a;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (is_inflight(ob, r->element[0]->str))
		return;
	log_debug("outbox: entry %s taken%s", r->element[0]->str,
	    ob->own_pending ? " (our pending list)" : "");
	if (forget_unacked(ob, r->element[0]->str)) {
		ack(ob, r->element[0]->str);
		return;
	}
	e = xcalloc(1, sizeof *e);
	e->ob = ob;
	snprintf(e->sid, sizeof e->sid, "%s", r->element[0]->str);
	if (r->element[1]->type == REDIS_REPLY_ARRAY) {
		e->alert_id = field(r->element[1], "id");
		e->sink_name = field(r->element[1], "sink");
		e->watchlist = field(r->element[1], "watchlist");
		e->item = field(r->element[1], "item");
		e->json = field(r->element[1], "alert");
	}
	if (e->alert_id == NULL || e->sink_name == NULL || e->json == NULL) {
		/* Trimmed or foreign: nothing to deliver, do not keep it pending. */
		log_warn("outbox: entry %s has no alert; acknowledged", e->sid);
		ack(ob, e->sid);
		entry_free(e);
		return;
	}
	if ((a = field(r->element[1], "attempt")) != NULL) {
		e->attempt = atoi(a);
		free(a);
	}
	if (e->watchlist == NULL)
		e->watchlist = xstrdup("");
	if (e->item == NULL)
		e->item = xstrdup("");
	e->label = xasprintf("alert %s (watchlist \"%s\" item %s) for sink \"%s\"",
	    e->alert_id, e->watchlist, e->item, e->sink_name);
	LIST_INSERT_HEAD(&ob->inflight, e, link);
	ob->ninflight++;
	memset(&res, 0, sizeof res);
	res.outcome = SINK_FAILED;
	res.reason = err;
	if ((sink = find_sink(ob->cfg, e->sink_name)) == NULL) {
		snprintf(err, sizeof err, "sink \"%s\" is not configured",
		    e->sink_name);
		outbox_delivered_cb(&res, e);
		return;
	}
	if (ob->disabled[sink - ob->cfg->sinks]) {
		snprintf(err, sizeof err, "sink \"%s\" is disabled (its "
		    "destination is gone) until the configuration is reloaded",
		    sink->name);
		outbox_delivered_cb(&res, e);
		return;
	}
	alert = json_loads(e->json, 0, &jerr);
	if (alert == NULL) {
		snprintf(err, sizeof err, "stored alert is not JSON: %s", jerr.text);
		outbox_delivered_cb(&res, e);
		return;
	}
	deliver(ob, e, sink, alert);
	json_decref(alert);
}

/*
 * Renders the alert for its sink (sinkfmt), adds the sink's own headers
 * and, for a webhook with secrets, the Standard Webhooks headers, and
 * makes one attempt.  The webhook-id is the alert id: the same on every
 * attempt and after every restart, so a receiver can drop repeats.
 */
static void
deliver(struct outbox *ob, struct entry *e, const struct cfg_sink *sink,
    const json_t *alert)
{
	struct sinkfmt_request req;
	struct sinkfmt_opts opts;
	struct sink_result res;
	struct sink_payload pl;
	const char **hdr;
	char err[256], *sig = NULL, *h_id = NULL, *h_ts = NULL, *h_sig = NULL;
	long long now = (long long)time(NULL);
	size_t i, n = 0;

	memset(&req, 0, sizeof req);
	memset(&opts, 0, sizeof opts);
	opts.chat_id = sink->chat_id;
	if (sinkfmt_render((enum sinkfmt_type)sink->format, &opts, &alert, 1, &req,
	    err, sizeof err) == -1) {
		memset(&res, 0, sizeof res);
		res.outcome = SINK_FAILED;
		res.reason = err;
		outbox_delivered_cb(&res, e);
		return;
	}
	hdr = xcalloc(req.nheaders + sink->nheaders + 4, sizeof *hdr);
	for (i = 0; i < req.nheaders; i++)
		hdr[n++] = req.headers[i];
	for (i = 0; i < sink->nheaders; i++)
		hdr[n++] = sink->headers[i];
	if (sink->format == SINKFMT_WEBHOOK) {
		h_id = xasprintf("webhook-id: %s", e->alert_id);
		h_ts = xasprintf("webhook-timestamp: %lld", now);
		hdr[n++] = h_id;
		hdr[n++] = h_ts;
		if (sink->nsecrets > 0) {
			sig = sign_webhook((const char *const *)sink->secrets,
			    sink->nsecrets, e->alert_id, now, req.body, req.len);
			if (sig == NULL)
				fatal("sink \"%s\": a secret that passed the "
				    "configuration check cannot sign", sink->name);
			h_sig = xasprintf("webhook-signature: %s", sig);
			hdr[n++] = h_sig;
		}
	}
	memset(&pl, 0, sizeof pl);
	pl.body = req.body;
	pl.len = req.len;
	pl.content_type = req.content_type;
	pl.headers = hdr;
	pl.nheaders = n;
	pl.url_query = req.url_query;
	sinks_deliver(ob->sinks, sink, &pl, e->label, outbox_delivered_cb, e);
	free(hdr);
	free(sig);
	free(h_id);
	free(h_ts);
	free(h_sig);
	sinkfmt_request_free(&req);
}

/* Entries of an XREADGROUP or XAUTOCLAIM reply; returns how many. */
static size_t
take_entries(struct outbox *ob, const redisReply *list)
{
	size_t i;

	if (list == NULL || list->type != REDIS_REPLY_ARRAY)
		return 0;
	for (i = 0; i < list->elements; i++)
		take_entry(ob, list->element[i]);
	return list->elements;
}

static void
outbox_read_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;
	const redisReply *list, *last;
	size_t n = 0;
	int was_own = ob->own_pending;

	if (error != NULL) {
		ob->reading = 0;
		/* The poll timer tries again; a lost connection re-sets up. */
		log_debug("outbox: read failed: %s", error);
		/* Without Redis there is nothing more to read (--once: done). */
		ob->last_read_empty = !store_is_up(ob->store);
		check_idle(ob);
		return;
	}
	/*
	 * [[stream, [entries...]]] or nil.  `reading` stays set while the
	 * entries are handed out: a delivery that completes at once (the
	 * console) asks for more, and a second read from the same cursor
	 * would hand out the same pending entries twice.
	 */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY &&
	    reply->element[0]->elements == 2) {
		list = reply->element[0]->element[1];
		n = take_entries(ob, list);
		last = n > 0 ? list->element[n - 1] : NULL;
		if (was_own && last != NULL && last->type == REDIS_REPLY_ARRAY &&
		    last->elements > 0 && last->element[0]->type == REDIS_REPLY_STRING)
			snprintf(ob->pel_cursor, sizeof ob->pel_cursor, "%s",
			    last->element[0]->str);
	}
	ob->reading = 0;
	if (was_own && n < OUTBOX_READ_COUNT)
		ob->own_pending = 0; /* our pending list is read: now new ones */
	ob->last_read_empty = n == 0 && !was_own;
	if (n > 0 || was_own || ob->again) {
		ob->again = 0;
		read_more(ob);
	}
	check_idle(ob);
}

static void
read_more(struct outbox *ob)
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
	room = OUTBOX_MAX_INFLIGHT - ob->ninflight;
	if (room == 0)
		return;
	snprintf(count, sizeof count, "%zu", room < OUTBOX_READ_COUNT ? room :
	    (size_t)OUTBOX_READ_COUNT);
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
	 * before a crash or a lost connection.  Those being delivered right
	 * now are skipped by take_entry.
	 */
	argv[8] = ob->own_pending ? ob->pel_cursor : ">";
	ob->reading = 1;
	store_command(ob->store, outbox_read_cb, ob, 9, argv);
}

void
outbox_kick(struct outbox *ob)
{
	read_more(ob);
}

/* --- maintenance: claim a dead consumer's entries, keep ours, trim ------ */

static void
outbox_claimed_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;
	size_t n;

	if (error != NULL) {
		log_debug("outbox: claim failed: %s", error);
		return;
	}
	/* [cursor, [entries...], [deleted ids]] */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
		n = take_entries(ob, reply->element[1]);
		if (n > 0)
			log_notice("outbox: took over %zu alert%s left pending by "
			    "another consumer for over %ds", n, n == 1 ? "" : "s",
			    OUTBOX_CLAIM_IDLE_MS / 1000);
	}
}

static void
outbox_maint_reply_cb(struct redisReply *reply, const char *error, void *arg)
{
	(void)reply;
	(void)arg;
	if (error != NULL)
		log_debug("outbox: maintenance: %s", error);
}

static void
maintain(struct outbox *ob)
{
	const char *argv[10 + OUTBOX_MAX_INFLIGHT];
	char idle[32];
	struct entry *e;
	int argc;

	if (!store_is_up(ob->store) || ob->stopping)
		return;
	/*
	 * Ours, still being retried: reset their idle time so that no other
	 * instance claims what this one is still delivering.
	 */
	if (ob->ninflight > 0) {
		argc = 0;
		argv[argc++] = "XCLAIM";
		argv[argc++] = ob->k_outbox;
		argv[argc++] = GROUP;
		argv[argc++] = ob->consumer;
		argv[argc++] = "0";
		LIST_FOREACH(e, &ob->inflight, link)
			argv[argc++] = e->sid;
		argv[argc++] = "JUSTID";
		store_command(ob->store, outbox_maint_reply_cb, ob, argc, argv);
	}
	if (ob->ninflight < OUTBOX_MAX_INFLIGHT / 2) {
		snprintf(idle, sizeof idle, "%d", OUTBOX_CLAIM_IDLE_MS);
		argv[0] = "XAUTOCLAIM";
		argv[1] = ob->k_outbox;
		argv[2] = GROUP;
		argv[3] = ob->consumer;
		argv[4] = idle;
		argv[5] = "0-0";
		argv[6] = "COUNT";
		argv[7] = "64";
		store_command(ob->store, outbox_claimed_cb, ob, 8, argv);
	}
	argv[0] = "FCALL";
	argv[1] = "ww_trim";
	argv[2] = "1";
	argv[3] = ob->k_outbox;
	argv[4] = GROUP;
	store_command(ob->store, outbox_maint_reply_cb, ob, 5, argv);
}

static void
outbox_due_reply_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;

	ob->checking_due = 0;
	if (error != NULL) {
		log_debug("outbox: retry set: %s", error);
		ob->due_checked = !store_is_up(ob->store);
	} else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
		ob->retries_left = (long)reply->element[1]->integer;
		ob->next_retry_ms = (long)reply->element[2]->integer;
		ob->due_checked = 1;
		if (reply->element[0]->integer > 0) {
			ob->last_read_empty = 0;
			read_more(ob);
		}
	}
	check_idle(ob);
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
	(void)fd;
	(void)what;
	move_due(arg);
	read_more(arg);
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
	struct timeval maint = { OUTBOX_MAINT_MS / 1000, 0 };

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
	read_more(ob);
	maintain(ob);
}

void
outbox_stop(struct outbox *ob, outbox_idle_cb cb, void *arg)
{
	ob->stopping = 1;
	ob->quiet_cb = cb;
	ob->quiet_arg = arg;
	if (ob->poll_timer != NULL)
		event_del(ob->poll_timer);
	if (ob->maint_timer != NULL)
		event_del(ob->maint_timer);
}

void
outbox_drain(struct outbox *ob, outbox_idle_cb cb, void *arg)
{
	ob->idle_cb = cb;
	ob->idle_arg = arg;
	ob->last_read_empty = 0;
	ob->due_checked = 0;
	move_due(ob);
	read_more(ob);
	check_idle(ob);
}
