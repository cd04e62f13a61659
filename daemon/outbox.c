/*
 * outbox.c - durable alert queue and dispatcher; see outbox.h.
 *
 * Every Redis write that must be atomic is a function of the "wirewatch"
 * library, loaded with FUNCTION LOAD REPLACE first thing on every new
 * connection (Redis 7.0, Debian 12's, has functions; a restarted empty
 * Redis gets them back before any other command of ours runs).
 *
 * Dispatch state lives in one struct outbox; each entry it holds in
 * memory is one struct entry, on the `held` list from the moment it is
 * read until its sink has answered and its XACK (or retry, or
 * dead-letter move) was sent.  Reads are not blocking (one Redis
 * connection is shared with the pollers, and a blocking XREADGROUP would
 * hold their commands): a read is issued when a record queued alerts,
 * when deliveries free a slot and every OUTBOX_POLL_MS for alerts queued
 * by other instances.
 *
 * Pacing.  Every sink has a lane: a FIFO of the entries waiting for it
 * and, for the chat services that publish a rate limit, a token bucket
 * (lane_pace() has the figures and their sources).  A message, one alert
 * or a digest, costs one token; a rate-limited lane has one attempt in
 * flight at a time, so that a 429 stops the next message before it is
 * sent.  A 429, or any retryable answer with a retry hint, pauses the
 * lane until the hint (the answered alerts themselves go to the retry
 * set as before).  Any answer whose rate-limit headers say the service's
 * bucket is used up (Discord's X-RateLimit-Remaining: 0) holds the lane
 * until its reset the same way, so the next message draws no 429.  When
 * a token comes and more than digest-after alerts
 * wait, up to DIGEST_MAX of them go out as one digest, as many as the
 * format fits (and, until the lane has been idle for QUIET_MS, so does
 * whatever waits behind them, two alerts or more); a digest's outcome
 * is each of its alerts' outcome.
 *
 * Starvation.  The stream is one queue for every sink, read in order, so
 * a backlog for a slow sink must not stop the reads: OUTBOX_MAX_INFLIGHT
 * bounds the alerts in delivery attempts, not those waiting.  A lane
 * holds at most LANE_HOLD waiting alerts in memory; past that it keeps
 * only the stream ids of the others ("parked": still pending in our
 * consumer's list in Redis, so a crash loses nothing) and fetches them
 * back with XCLAIM, in order, as it drains.  Parked ids cost ~50 bytes
 * and are bounded by PARKED_MAX over all lanes; only when that is
 * reached do reads stop (logged), and then every sink waits for the
 * slowest.  The maintenance XCLAIM keeps parked ids, like held entries,
 * from looking idle to other instances.
 *
 * Several instances sharing a Redis (leases on) also share each paced
 * sink's bucket: a message takes a local token and then one from
 * <prefix>pace:<sink> (ww_take, asked one message at a time), so that
 * together they keep the service's rate.  A 429 pause stays local.
 */
#include <ctype.h>
#include <stdint.h>
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
#include "wirewatch/cluster.h"
#include "wirewatch/config.h"
#include "wirewatch/log.h"
#include "wirewatch/outbox.h"
#include "wirewatch/sign.h"
#include "wirewatch/sink.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/stats.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#define OUTBOX_POLL_MS 1000
#define OUTBOX_MAINT_MS 30000
#define OUTBOX_READ_COUNT 64
#define GROUP "dispatch"
#define ONCE_RETRY_WAIT_MS 60000
#define UNACKED_MAX 1024
#define RETRY_AFTER_MAX_MS (24L * 3600 * 1000)
#define SID_MAX 48              /* a stream id, "ms-seq", with room */
#define LANE_HOLD 100           /* waiting alerts a lane holds in memory */
#define DIGEST_MAX 50           /* alerts offered to one digest */
#define PARKED_MAX 100000       /* parked ids over all lanes (~5 MB) */
#define KEEPALIVE_BATCH 512     /* ids per maintenance XCLAIM */
#define PAUSE_DEFAULT_MS 1000   /* after a 429 that gives no hint */
#define QUIET_MS 10000          /* idle this long: a backlog is over */

static const char lua_library[] =
"#!lua name=wirewatch\n"
"-- Queues the alerts args[from..] (id, sink, watchlist, item, alert\n"
"-- each) in the outbox stream; returns how many.\n"
"local function queue(outbox, args, from)\n"
"  local n = 0\n"
"  for i = from, #args, 5 do\n"
"    redis.call('XADD', outbox, '*', 'id', args[i], 'sink', args[i+1],\n"
"      'watchlist', args[i+2], 'item', args[i+3], 'alert', args[i+4])\n"
"    n = n + 1\n"
"  end\n"
"  return n\n"
"end\n"
"-- Counts n alerts on the day's counter (kept 8 days).\n"
"local function count(day, n)\n"
"  if n > 0 then\n"
"    redis.call('INCRBY', day, n)\n"
"    redis.call('EXPIRE', day, 691200)\n"
"  end\n"
"end\n"
"-- ww_record: KEYS seen, outbox; ARGV ttl, then per alert:\n"
"-- id, sink, watchlist, item, alert.  Seen and queued, or neither.\n"
"-- (What daemons before ww_record_item call; kept for them.)\n"
"redis.register_function('ww_record', function(keys, args)\n"
"  if not redis.call('SET', keys[1], '1', 'NX', 'EX', args[1]) then\n"
"    return 0\n"
"  end\n"
"  queue(keys[2], args, 2)\n"
"  return 1\n"
"end)\n"
"-- ww_record_item: KEYS seen, outbox, recent, day; ARGV ttl, keep ms,\n"
"-- n, the kept item (n strings: field, value, ...), then the alerts as\n"
"-- for ww_record.  Seen, kept, queued and counted, or none of it.  The\n"
"-- recent stream is trimmed to the last keep ms (exact MINID) and\n"
"-- expires keep ms after its last entry.  Fenced (cluster.h): KEYS[5]\n"
"-- the feed's lease and the last ARGV its token, refused when stale.\n"
"redis.register_function('ww_record_item', function(keys, args)\n"
CLUSTER_LUA_FENCE("5")
"  if not redis.call('SET', keys[1], '1', 'NX', 'EX', args[1]) then\n"
"    return 0\n"
"  end\n"
"  local keep, nf = tonumber(args[2]), tonumber(args[3])\n"
"  if keep > 0 and nf > 0 then\n"
"    local t = redis.call('TIME')\n"
"    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
"    redis.call('XADD', keys[3], 'MINID', string.format('%d', now - keep),\n"
"      '*', unpack(args, 4, 3 + nf))\n"
"    redis.call('PEXPIRE', keys[3], keep)\n"
"  end\n"
"  count(keys[4], queue(keys[2], args, 4 + nf))\n"
"  return 1\n"
"end)\n"
"-- ww_backfill: KEYS mark, outbox, day; ARGV ttl, then the alerts as\n"
"-- for ww_record.  The mark (one per watchlist and item) is set and\n"
"-- the alerts queued, or neither when the mark was there: 1 or 0.\n"
"redis.register_function('ww_backfill', function(keys, args)\n"
"  if not redis.call('SET', keys[1], '1', 'NX', 'EX', args[1]) then\n"
"    return 0\n"
"  end\n"
"  count(keys[3], queue(keys[2], args, 2))\n"
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
"-- ww_take: KEYS a sink's bucket; ARGV per second, burst.  A token of\n"
"-- the bucket every instance shares: 0 (taken) or ms until there is one.\n"
"redis.register_function('ww_take', function(keys, args)\n"
"  local t = redis.call('TIME')\n"
"  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
"  local rate, burst = tonumber(args[1]), tonumber(args[2])\n"
"  local h = redis.call('HMGET', keys[1], 'tokens', 'at')\n"
"  local tokens, at = tonumber(h[1]) or burst, tonumber(h[2]) or now\n"
"  if now > at then\n"
"    tokens = math.min(burst, tokens + (now - at) * rate / 1000)\n"
"    at = now\n"
"  end\n"
"  local wait = 0\n"
"  if tokens >= 1 then\n"
"    tokens = tokens - 1\n"
"  else\n"
"    wait = math.ceil((1 - tokens) * 1000 / rate)\n"
"  end\n"
"  redis.call('HSET', keys[1], 'tokens', tostring(tokens), 'at', at)\n"
"  redis.call('PEXPIRE', keys[1], math.ceil(burst * 1000 / rate) + 60000)\n"
"  return wait\n"
"end)\n"
"-- ww_deliveries: KEYS outbox, retry, dead; ARGV 'failed' or 'pending',\n"
"-- limit.  failed: {dead letters, newest first}; pending: {outbox\n"
"-- entries, the group's pending entries, the retry set WITHSCORES, the\n"
"-- groups} (deliveries.c makes the rows of either).\n"
"redis.register_function{function_name='ww_deliveries', flags={'no-writes'},\n"
"  callback=function(keys, args)\n"
"  if args[1] == 'failed' then\n"
"    return {redis.call('XREVRANGE', keys[3], '+', '-', 'COUNT', args[2])}\n"
"  end\n"
"  local entries, pel, groups = {}, {}, {}\n"
"  if redis.call('EXISTS', keys[1]) == 1 then\n"
"    entries = redis.call('XRANGE', keys[1], '-', '+', 'COUNT', args[2])\n"
"    groups = redis.call('XINFO', 'GROUPS', keys[1])\n"
"    for _, g in ipairs(groups) do\n"
"      for j = 1, #g, 2 do\n"
"        if g[j] == 'name' and g[j+1] == 'dispatch' then\n"
"          pel = redis.call('XPENDING', keys[1], 'dispatch', '-', '+', args[2])\n"
"        end\n"
"      end\n"
"    end\n"
"  end\n"
"  return {entries, pel, redis.call('ZRANGE', keys[2], 0, -1, 'WITHSCORES'), groups}\n"
"end}\n"
"-- ww_replay: KEYS outbox, dead, retry; ARGV limit, sink ('' any), then\n"
"-- alert ids.  No ids: every dead letter (of that sink) goes back into\n"
"-- the outbox as a first attempt; ids: those dead letters and waiting\n"
"-- retries.  Each move is one XADD and one XDEL/ZREM in this call, so an\n"
"-- alert is never in both places nor in neither.  Returns {{id, sink,\n"
"-- ...} requeued, {ids not found}}.\n"
"redis.register_function('ww_replay', function(keys, args)\n"
"  local want, all, done = {}, #args < 3, {}\n"
"  for i = 3, #args do want[args[i]] = false end\n"
"  local function requeue(f)\n"
"    redis.call('XADD', keys[1], '*', 'id', f.id, 'sink', f.sink,\n"
"      'watchlist', f.watchlist or '', 'item', f.item or '', 'alert', f.alert,\n"
"      'attempt', '0')\n"
"    done[#done+1] = f.id\n"
"    done[#done+1] = f.sink\n"
"    if not all then want[f.id] = true end\n"
"  end\n"
"  for _, e in ipairs(redis.call('XRANGE', keys[2], '-', '+', 'COUNT', args[1])) do\n"
"    local f = {}\n"
"    for j = 1, #e[2], 2 do f[e[2][j]] = e[2][j+1] end\n"
"    local hit\n"
"    if all then hit = args[2] == '' or f.sink == args[2]\n"
"    else hit = f.id ~= nil and want[f.id] ~= nil end\n"
"    if hit and f.id and f.sink and f.alert then\n"
"      requeue(f)\n"
"      redis.call('XDEL', keys[2], e[1])\n"
"    end\n"
"  end\n"
"  if not all then\n"
"    for _, m in ipairs(redis.call('ZRANGE', keys[3], 0, -1)) do\n"
"      local ok, f = pcall(cjson.decode, m)\n"
"      if ok and type(f) == 'table' and type(f.id) == 'string' and\n"
"          want[f.id] ~= nil and type(f.sink) == 'string' and\n"
"          type(f.alert) == 'string' then\n"
"        if type(f.watchlist) ~= 'string' then f.watchlist = '' end\n"
"        if type(f.item) ~= 'string' then f.item = '' end\n"
"        requeue(f)\n"
"        redis.call('ZREM', keys[3], m)\n"
"      end\n"
"    end\n"
"  end\n"
"  local missing = {}\n"
"  for i = 3, #args do\n"
"    if not want[args[i]] then missing[#missing+1] = args[i] end\n"
"  end\n"
"  return {done, missing}\n"
"end)\n"
"-- ww_stats: KEYS outbox, dead, retry, day, recent; ARGV group.\n"
"-- {queued (not read yet), pending (read, not acknowledged), waiting\n"
"-- for a retry, dead letters, alerts today, kept items}.\n"
"redis.register_function{function_name='ww_stats', flags={'no-writes'},\n"
"  callback=function(keys, args)\n"
"  local queued, pending = 0, 0\n"
"  if redis.call('EXISTS', keys[1]) == 1 then\n"
"    for _, g in ipairs(redis.call('XINFO', 'GROUPS', keys[1])) do\n"
"      local f = {}\n"
"      for j = 1, #g, 2 do f[g[j]] = g[j+1] end\n"
"      if f['name'] == args[1] then\n"
"        pending = f['pending'] or 0\n"
"        queued = f['lag']\n"
"        if not queued then\n"
"          queued = #redis.call('XRANGE', keys[1], '(' .. f['last-delivered-id'],\n"
"            '+', 'COUNT', 100000)\n"
"        end\n"
"      end\n"
"    end\n"
"  end\n"
"  return {queued, pending, redis.call('ZCARD', keys[3]),\n"
"    redis.call('XLEN', keys[2]), tonumber(redis.call('GET', keys[4]) or '0'),\n"
"    redis.call('XLEN', keys[5])}\n"
"end}\n"
"-- ww_epoch: KEYS epoch; ARGV candidate.  The database's epoch.\n"
"redis.register_function('ww_epoch', function(keys, args)\n"
"  redis.call('SET', keys[1], args[1], 'NX')\n"
"  return redis.call('GET', keys[1])\n"
"end)\n";

const char *
outbox_functions(void)
{
	return lua_library;
}

struct outbox;
struct lane;

struct entry {
	struct outbox *ob;
	char sid[SID_MAX];     /* stream entry id */
	char *alert_id;
	char *sink_name;
	char *watchlist;
	char *item;
	char *json;
	char *label;
	int attempt;           /* attempts made before this one */
	int reply_checked;     /* telegram story thread: looked up (tg_lookup) */
	long long reply_to;    /* ... the message it replies to; 0: none */
	LIST_ENTRY(entry) link;       /* ob->held */
	TAILQ_ENTRY(entry) wait;      /* its lane's queue, while waiting */
};

/*
 * One sink's dispatch state.  Entries wait in `queue` (oldest first),
 * at most LANE_HOLD of them; the ids of later ones are parked in
 * parked[phead..ptail) and fetched back in that order.  While anything
 * is parked or being fetched, new entries are parked too, so the lane
 * stays in stream order.
 */
struct lane {
	struct outbox *ob;
	const struct cfg_sink *sink;
	size_t index;           /* in cfg->sinks */
	double per_s;           /* tokens a second; 0: no bucket */
	double burst;
	double tokens;
	uint64_t refilled;      /* util_now_ms() of the last refill */
	uint64_t paused_until;  /* nothing is sent before this */
	TAILQ_HEAD(, entry) queue;
	size_t nqueue;
	size_t sending;         /* attempts in flight */
	char (*parked)[SID_MAX];
	size_t phead, ptail, pcap;
	int fetching;           /* an XCLAIM of parked ids is outstanding */
	char *k_pace;           /* shared bucket (leases on): <prefix>pace:<sink> */
	int asking;             /* ww_take outstanding */
	int granted;            /* ww_take gave a token not used yet */
	int pumping;            /* lane_pump() is on the stack */
	int resolving;          /* a tg_lookup() is outstanding */
	struct event *timer;    /* next token, end of a pause, quiet check */
	int limited;            /* this backlog was logged: waited for tokens */
	int digesting;          /* ... sent digests */
	uint64_t idle_since;    /* empty since then (0: busy) */
	unsigned long ep_alerts, ep_msgs;   /* sent in this backlog */
	int disabled;           /* its destination is gone (410), until reload */
	int retired;            /* its sink was removed by a reload */
	LIST_ENTRY(lane) retired_link; /* ob->retired, while retired */
};

/* One attempt: an alert (n == 1) or a digest of n alerts. */
struct send {
	struct lane *lane;
	struct config *owner;   /* holds the config lane->sink was in */
	size_t n;
	struct entry *v[];
};

struct outbox {
	struct event_base *base;
	const struct config *cfg;
	struct store *store;
	struct sinks *sinks;
	char *consumer;
	char *k_outbox, *k_dead, *k_epoch, *k_retry;
	struct lane **lanes;    /* per sink index of cfg */
	size_t nlanes;
	LIST_HEAD(, lane) retired; /* lanes of removed sinks, until idle */
	long retries_left;      /* in the retry set, at the last look */
	long next_retry_ms;     /* until the first of those is due, or -1 */
	int due_checked;        /* --once: the retry set was looked at */
	int checking_due;
	int unfinished;         /* --once ended with retries still waiting */
	char unacked[UNACKED_MAX][SID_MAX]; /* delivered, XACK lost: ring */
	size_t nunacked;
	LIST_HEAD(, entry) held; /* every entry in memory */
	size_t nheld;
	size_t nsending;        /* entries in delivery attempts */
	size_t nparked;         /* parked ids, all lanes */
	int parked_full;        /* reads stopped at PARKED_MAX (logged) */
	unsigned gen;           /* connection generation (outbox_setup) */
	long claim_idle_ms;     /* another consumer's entry idle this long is ours */
	long maint_ms;          /* keep-alive, claim and trim period */
	size_t acks;            /* XACK / dead-letter moves in flight */
	int reading;            /* an XREADGROUP is outstanding */
	int again;              /* a kick came during that read */
	size_t read_count;      /* COUNT of that read */
	int own_pending;        /* next read is of our own pending entries */
	char pel_cursor[SID_MAX]; /* ... after this id */
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
static void lane_pump(struct lane *l);
static void lane_retire_done(struct lane *l);
static void lane_settle(struct lane *l);
static void lane_free(struct lane *l);
static void lanes_fetch(struct outbox *ob);
static const struct cfg_sink *find_sink(const struct config *cfg,
    const char *name);
static void outbox_acked_cb(struct redisReply *reply, const char *error,
    void *arg);
static void outbox_lane_timer_cb(evutil_socket_t fd, short what, void *arg);

/* --- pace per sink type ------------------------------------------------- */

/*
 * The default token bucket of a sink: per_s tokens a second, at most
 * burst of them saved up; 0/0 for no bucket.  Each figure is the
 * service's documented limit for one destination (webhook, chat,
 * space, channel), or below it:
 *
 *  - slack: 1 a second, burst 1.  api.slack.com/apis/rate-limits,
 *    "Posting messages: 1 per second ... Short bursts >1 allowed. If you
 *    attempt bursts, there is no guarantee" (incoming webhooks included,
 *    api.slack.com/changelog/2018-03-great-rate-limits).
 *  - discord: 5 per 2 s per webhook, burst 5.  The per-route bucket
 *    webhooks announce in X-RateLimit-Limit/-Reset-After
 *    (discord.com/developers/docs/topics/rate-limits; the figure itself
 *    is what webhooks answer, not a documented constant).  Should
 *    Discord want less, every answer's X-RateLimit-Remaining: 0 holds
 *    the lane until the reset (lane_hold), and a 429 with its JSON
 *    retry_after pauses it.
 *  - telegram: core.telegram.org/bots/faq, "avoid sending more than one
 *    message per second" in a chat, "not ... more than 20 messages per
 *    minute" in a group.  A private chat (a positive numeric chat-id):
 *    1 a second, burst 1.  A group, supergroup or channel (a negative
 *    id or an @username): burst 3 then one per 3.6 s, so that no
 *    60-second window holds more than 3 + 16.7 < 20.
 *  - google-chat: 1 a second, burst 1: 60 message writes a minute per
 *    space (developers.google.com/workspace/chat/limits, per-space
 *    quotas).
 *  - teams: 2 a second, burst 4: the Teams connector/incoming webhook
 *    table (learn.microsoft.com/microsoftteams/platform/
 *    webhooks-and-connectors/how-to/connectors-using, "Rate limiting
 *    for connectors": 4 per second, 60 per 30 seconds).  Workflows
 *    webhooks publish no figure of their own; the same table's hourly
 *    and daily caps (100/h, 1,800/day) are not modelled, the 429 pause
 *    covers them.
 *  - mattermost, webhook, ntfy, console: no bucket (self-hosted or
 *    ours; a public ntfy server's limits answer 429, which pauses).
 */
static void
lane_pace(const struct cfg_sink *s, double *per_s, double *burst)
{
	*per_s = 0;
	*burst = 0;
	switch ((enum sinkfmt_type)s->format) {
	case SINKFMT_SLACK:
	case SINKFMT_GOOGLE_CHAT:
		*per_s = 1;
		*burst = 1;
		break;
	case SINKFMT_DISCORD:
		*per_s = 2.5;
		*burst = 5;
		break;
	case SINKFMT_TEAMS:
		*per_s = 2;
		*burst = 4;
		break;
	case SINKFMT_TELEGRAM:
		if (s->chat_id != NULL && isdigit((unsigned char)s->chat_id[0])) {
			*per_s = 1;
			*burst = 1;
		} else {
			*per_s = 1 / 3.6;
			*burst = 3;
		}
		break;
	default:
		break;
	}
}

/* --- lifetime ------------------------------------------------------------ */

static struct lane *
lane_new(struct outbox *ob, const struct cfg_sink *sink, size_t index)
{
	struct lane *l = xcalloc(1, sizeof *l);

	l->ob = ob;
	l->sink = sink;
	l->index = index;
	lane_pace(l->sink, &l->per_s, &l->burst);
	l->tokens = l->burst;
	l->refilled = util_now_ms();
	TAILQ_INIT(&l->queue);
	l->timer = evtimer_new(ob->base, outbox_lane_timer_cb, l);
	/*
	 * Instances sharing a Redis (leases on) also share the bucket: a
	 * token of the local one and one of <prefix>pace:<sink>.
	 */
	if (l->per_s > 0 && ob->cfg->lease > 0)
		l->k_pace = xasprintf("%space:%s", ob->cfg->prefix, l->sink->name);
	return l;
}

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
	ob->k_outbox = xasprintf("%soutbox", cfg->prefix);
	ob->k_dead = xasprintf("%sdead", cfg->prefix);
	ob->k_epoch = xasprintf("%sepoch", cfg->prefix);
	ob->k_retry = xasprintf("%sretry", cfg->prefix);
	ob->lanes = xcalloc(cfg->nsinks + 1, sizeof *ob->lanes);
	ob->nlanes = cfg->nsinks;
	for (i = 0; i < cfg->nsinks; i++)
		ob->lanes[i] = lane_new(ob, &cfg->sinks[i], i);
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
	free(e->label);
	free(e);
}

/* Forgets e (which is on no lane queue); it stays whatever Redis says. */
static void
entry_release(struct entry *e)
{
	LIST_REMOVE(e, link);
	e->ob->nheld--;
	entry_free(e);
}

static size_t
lane_nparked(const struct lane *l)
{
	return l->ptail - l->phead;
}

static void
lane_forget_parked(struct lane *l)
{
	l->ob->nparked -= lane_nparked(l);
	l->phead = l->ptail = 0;
}

/*
 * Lets go of everything waiting in the lane: the entries stay pending
 * in Redis (our consumer's list) and are read again after a restart or
 * reconnect.  Attempts in flight are not touched.
 */
static void
lane_drop(struct lane *l)
{
	struct entry *e;

	while ((e = TAILQ_FIRST(&l->queue)) != NULL) {
		TAILQ_REMOVE(&l->queue, e, wait);
		l->nqueue--;
		entry_release(e);
	}
	lane_forget_parked(l);
	if (l->timer != NULL)
		evtimer_del(l->timer);
}

static void
lane_free(struct lane *l)
{
	lane_drop(l);
	if (l->timer != NULL)
		event_free(l->timer);
	free(l->parked);
	free(l->k_pace);
	free(l);
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
		lane_free(ob->lanes[i]);
	while ((l = LIST_FIRST(&ob->retired)) != NULL) {
		LIST_REMOVE(l, retired_link);
		lane_free(l);
	}
	while ((e = LIST_FIRST(&ob->held)) != NULL)
		entry_release(e);
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
		n += ob->lanes[i]->nqueue + lane_nparked(ob->lanes[i]);
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

static int
lane_empty(const struct lane *l)
{
	return l->nqueue == 0 && lane_nparked(l) == 0 && !l->fetching &&
	    l->sending == 0;
}

/*
 * --once: 1 when alerts still wait in lanes and it is worth waiting for
 * them.  A lane paused by its service for longer than ONCE_RETRY_WAIT_MS
 * is given up instead (its alerts stay pending for the next run), as a
 * retry due that late is, and so are parked alerts once Redis is gone.
 */
static int
lanes_keep_waiting(struct outbox *ob)
{
	uint64_t now = util_now_ms();
	int up = store_is_up(ob->store), wait = 0;
	struct lane *l;
	size_t i, n, left = 0;

	for (i = 0; i < ob->nlanes; i++) {
		l = ob->lanes[i];
		if (l->sending > 0 || l->fetching ||
		    (l->paused_until <= now + ONCE_RETRY_WAIT_MS &&
		    (l->nqueue > 0 || (lane_nparked(l) > 0 && up))))
			wait = 1;
	}
	if (wait)
		return 1;
	for (i = 0; i < ob->nlanes; i++) {
		l = ob->lanes[i];
		if ((n = l->nqueue + lane_nparked(l)) == 0)
			continue;
		left += n;
		if (l->paused_until > now + ONCE_RETRY_WAIT_MS)
			log_warn("sink \"%s\": paused by its service for another "
			    "%llus; %zu alert%s stay pending for the next run",
			    l->sink->name,
			    (unsigned long long)((l->paused_until - now) / 1000),
			    n, n == 1 ? "" : "s");
		else
			log_warn("sink \"%s\": redis is unavailable; %zu alert%s "
			    "stay pending for the next run", l->sink->name, n,
			    n == 1 ? "" : "s");
		lane_drop(l);
	}
	if (left > 0)
		ob->unfinished = 1;
	return 0;
}

static void
check_idle(struct outbox *ob)
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
	if (lanes_keep_waiting(ob))
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
		lane_forget_parked(ob->lanes[i]);
		ob->lanes[i]->fetching = 0;
	}
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
	struct stats_hold *stats;
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
	stats_hold_done(r->stats, result == 1);
	if (result == 1 && r->queued)
		outbox_kick(r->ob);
	r->cb(result, error, r->arg);
	free(r);
}

/* <prefix>alerts:YYYY-MM-DD, the day (UTC) of now: the alerts-today counter. */
char *
outbox_day_key(const struct config *cfg, time_t now)
{
	struct tm tm;
	char day[16];

	gmtime_r(&now, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	return xasprintf("%salerts:%s", cfg->prefix, day);
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
	seen = xasprintf("%sseen:%s", ob->cfg->prefix, item_key);
	recent = xasprintf("%srecent", ob->cfg->prefix);
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

/* --- story threads on telegram ------------------------------------------ */

/*
 * The story id of alert json when it goes to a telegram sink, or NULL;
 * *update: it is a later item's update (else the story's first alert).
 */
static char *
tg_story(const struct cfg_sink *sink, const char *json, int *update)
{
	json_t *a, *id;
	char *out = NULL;

	if (sink == NULL || sink->format != SINKFMT_TELEGRAM ||
	    (a = json_loads(json, 0, NULL)) == NULL)
		return NULL;
	id = json_object_get(json_object_get(a, "story"), "id");
	if (json_is_string(id)) {
		out = xstrdup(json_string_value(id));
		*update = json_is_true(json_object_get(a, "update"));
	}
	json_decref(a);
	return out;
}

static void
outbox_tg_noted_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;

	(void)reply;
	ob->acks--;
	if (error != NULL)
		log_info("outbox: a telegram message id was not recorded (%s); "
		    "the story's updates go out as plain messages", error);
	check_idle(ob);
}

/*
 * A story's first alert went out to a telegram sink: its message_id goes
 * on the story record (field tg:<sink>, ww_story_msg) for the updates to
 * reply to.
 */
static void
tg_note(struct outbox *ob, const struct cfg_sink *sink, const struct entry *e,
    const struct sink_result *r)
{
	const char *argv[7];
	char *story, *key, *fld, mid[32];
	long long n;
	int update = 0;

	if ((story = tg_story(sink, e->json, &update)) == NULL)
		return;
	if (!update && (n = sinkfmt_telegram_message_id(r->resp,
	    r->resp_len)) > 0) {
		key = xasprintf("%sstory:r:%s", ob->cfg->prefix, story);
		fld = xasprintf("tg:%s", e->sink_name);
		snprintf(mid, sizeof mid, "%lld", n);
		argv[0] = "FCALL";
		argv[1] = "ww_story_msg";
		argv[2] = "1";
		argv[3] = key;
		argv[4] = fld;
		argv[5] = mid;
		ob->acks++;
		store_command(ob->store, outbox_tg_noted_cb, ob, 6, argv);
		free(key);
		free(fld);
	}
	free(story);
}

struct tg_req {
	struct lane *lane;
	char sid[SID_MAX];
};

static void
outbox_tg_looked_up_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct tg_req *q = arg;
	struct lane *l = q->lane;
	struct outbox *ob = l->ob;
	struct entry *e = TAILQ_FIRST(&l->queue);

	ob->acks--;
	l->sending--;
	l->resolving = 0;
	if (e != NULL && strcmp(e->sid, q->sid) == 0) {
		if (error == NULL && reply->type == REDIS_REPLY_STRING)
			e->reply_to = strtoll(reply->str, NULL, 10);
		if (e->reply_to <= 0) {
			e->reply_to = 0;
			log_debug("outbox: %s: the story's first message is not "
			    "known%s%s; sent as a plain message", e->label,
			    error != NULL ? ": " : "", error != NULL ? error : "");
		}
	}
	free(q);
	if (l->pumping)
		return; /* answered at once (Redis is away): lane_pump goes on */
	if (l->retired) {
		lane_retire_done(l);
		check_idle(ob);
		return;
	}
	lane_pump(l);
	lane_settle(l);
	check_idle(ob);
}

/*
 * Before a story update goes to a telegram sink: the message id of the
 * story's first alert there (HGET of tg:<sink> on the story record), so
 * that the update is a reply to it.  Returns 1 when the lane must wait:
 * for the lookup, or for the attempt in flight (which may be that first
 * alert); never longer, an unknown id makes a plain message.
 */
static int
tg_lookup(struct lane *l, struct entry *e)
{
	struct outbox *ob = l->ob;
	const char *argv[3];
	struct tg_req *q;
	char *story, *key, *fld;
	int update = 0;

	if (e->reply_checked)
		return 0;
	if ((story = tg_story(l->sink, e->json, &update)) == NULL || !update) {
		e->reply_checked = 1;
		free(story);
		return 0;
	}
	if (l->sending > 0) {
		free(story);
		return 1;
	}
	e->reply_checked = 1;
	key = xasprintf("%sstory:r:%s", ob->cfg->prefix, story);
	fld = xasprintf("tg:%s", l->sink->name);
	argv[0] = "HGET";
	argv[1] = key;
	argv[2] = fld;
	q = xmalloc(sizeof *q);
	q->lane = l;
	snprintf(q->sid, sizeof q->sid, "%s", e->sid);
	l->resolving = 1;
	l->sending++;
	ob->acks++;
	store_command(ob->store, outbox_tg_looked_up_cb, q, 3, argv);
	free(key);
	free(fld);
	free(story);
	return l->resolving; /* 0: answered already */
}

/*
 * What happens to one entry after an attempt (its own, or its digest's:
 * quiet then): XACK, a retry of its own, or the dead letters.  Frees e,
 * which is on no lane queue.
 */
static void
finish(struct outbox *ob, struct entry *e, const struct sink_result *r,
    int quiet)
{
	const struct cfg_sink *sink = find_sink(ob->cfg, e->sink_name);
	char why[400];
	long delay;

	stats_delivery(sink, r->outcome);
	switch (r->outcome) {
	case SINK_DELIVERED:
		if (e->attempt > 0)
			log_info("outbox: %s delivered at attempt %d", e->label,
			    e->attempt + 1);
		if (!quiet)
			tg_note(ob, sink, e, r);
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
	entry_release(e);
}

/* Dead-letters e at once (no attempt was made): reason says why. */
static void
refuse(struct outbox *ob, struct entry *e, const char *reason)
{
	struct sink_result res;

	memset(&res, 0, sizeof res);
	res.outcome = SINK_FAILED;
	res.reason = reason;
	finish(ob, e, &res, 0);
}

/* --- lanes: pace, pause, digests ---------------------------------------- */

static void
lane_arm(struct lane *l, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(l->timer, &tv);
}

/* refilled may lie ahead (the end of a pause): no tokens before it. */
static void
lane_refill(struct lane *l, uint64_t now)
{
	if (now <= l->refilled)
		return;
	l->tokens += (double)(now - l->refilled) / 1000 * l->per_s;
	if (l->tokens > l->burst)
		l->tokens = l->burst;
	l->refilled = now;
}

/*
 * The service said to slow down (a 429, or a retry hint): nothing more
 * goes to this sink for hint_ms (without a hint: one token's time).
 * Logged when the pause starts, not for every answer within it.
 */
static void
lane_pause(struct lane *l, long status, long hint_ms)
{
	uint64_t now = util_now_ms(), until;
	long ms = hint_ms;

	if (ms <= 0)
		ms = l->per_s > 0 ? (long)(1000 / l->per_s) : PAUSE_DEFAULT_MS;
	if (ms > RETRY_AFTER_MAX_MS)
		ms = RETRY_AFTER_MAX_MS;
	until = now + (uint64_t)ms;
	if (until <= l->paused_until)
		return;
	if (l->paused_until <= now)
		log_notice("sink \"%s\": the service answered %ld%s; nothing is "
		    "sent to it for %.1fs", l->sink->name, status,
		    hint_ms > 0 ? " with a retry hint" : "", (double)ms / 1000);
	stats_inc(STATS_RATE_LIMIT_WAITS, l->sink->name, "service");
	l->paused_until = until;
	l->tokens = 0;
	l->refilled = until;
}

/* A backlog starts (rate-limited or digesting): count what it sends. */
static void
lane_episode(struct lane *l)
{
	if (!l->limited && !l->digesting)
		l->ep_alerts = l->ep_msgs = 0;
}

/*
 * The service's rate-limit headers said, on any answer, that its bucket
 * for this sink is used up for ms (sinkfmt_pause_after_ms): the next
 * message waits that long rather than draw a 429.  The same hold as a
 * pause, but the lane's own tokens keep accruing meanwhile (the
 * service's bucket is full again when the hold ends), and it is normal
 * operation: logged once per backlog, when alerts are held.
 */
static void
lane_hold(struct lane *l, long ms)
{
	uint64_t until;

	if (ms > RETRY_AFTER_MAX_MS)
		ms = RETRY_AFTER_MAX_MS;
	/* +1: util_now_ms() truncates, and the reset must be behind us. */
	until = util_now_ms() + (uint64_t)ms + 1;
	if (until <= l->paused_until)
		return;
	l->paused_until = until;
	stats_inc(STATS_RATE_LIMIT_WAITS, l->sink->name, "headers");
	if (l->nqueue + lane_nparked(l) > 0 && !l->limited) {
		lane_episode(l);
		l->limited = 1;
		log_notice("sink \"%s\": its service says the rate limit is "
		    "used up; nothing is sent to it for %.1fs and alerts wait "
		    "their turn", l->sink->name, (double)ms / 1000);
	} else {
		log_debug("sink \"%s\": rate limit used up; next message in "
		    "%.3fs", l->sink->name, (double)ms / 1000);
	}
}

static void
lane_push(struct lane *l, struct entry *e)
{
	TAILQ_INSERT_TAIL(&l->queue, e, wait);
	l->nqueue++;
}

static void
lane_park(struct lane *l, const char *sid)
{
	if (l->ptail == l->pcap) {
		if (l->phead > 0) {
			memmove(l->parked, l->parked + l->phead,
			    lane_nparked(l) * sizeof *l->parked);
			l->ptail -= l->phead;
			l->phead = 0;
		} else {
			l->pcap = l->pcap ? l->pcap * 2 : 256;
			l->parked = xreallocarray(l->parked, l->pcap,
			    sizeof *l->parked);
		}
	}
	snprintf(l->parked[l->ptail++], SID_MAX, "%s", sid);
	l->ob->nparked++;
}

/*
 * Renders alerts[0..n) as one message that shows every one of them:
 * returns how many it holds (n, or fewer when a digest of n would leave
 * some out), 0 with the reason in err when the format refuses.  A digest
 * that leaves some out (req->shown < n, always the last ones) is
 * rendered again with only the alerts it showed.
 */
static size_t
render(const struct cfg_sink *sink, const json_t *const *alerts, size_t n,
    long long reply_to, struct sinkfmt_request *req, char *err, size_t errlen)
{
	struct sinkfmt_opts opts;
	size_t k;

	memset(&opts, 0, sizeof opts);
	opts.chat_id = sink->chat_id;
	opts.reply_to = reply_to;
	for (;;) {
		memset(req, 0, sizeof *req);
		if (sinkfmt_render((enum sinkfmt_type)sink->format, &opts, alerts,
		    n, req, err, errlen) == -1)
			return 0;
		if ((k = req->shown) == n)
			return n;
		sinkfmt_request_free(req);
		n = k;
	}
}

/* A stable id for a digest (its webhook-id): from its alert ids. */
static char *
digest_id(struct entry *const *v, size_t n)
{
	struct buf b = {0};
	char *id;
	size_t i;

	for (i = 0; i < n; i++) {
		buf_adds(&b, v[i]->alert_id);
		buf_addc(&b, '\x1f');
	}
	id = xasprintf("dg_%016llx%016llx",
	    (unsigned long long)util_hash64(b.s, b.len, 0x5bd1e995ULL),
	    (unsigned long long)util_hash64(b.s, b.len, 0xc2b2ae3d27d4eb4fULL));
	buf_free(&b);
	return id;
}

static void outbox_sent_cb(const struct sink_result *r, void *arg);

/*
 * Adds the sink's own headers and, for a webhook with secrets, the
 * Standard Webhooks headers, and makes one attempt of req with s.  The
 * webhook-id is the alert id (a digest's: digest_id()): the same on
 * every attempt and after every restart, so a receiver can drop repeats.
 */
static void
attempt(struct outbox *ob, struct send *s, const struct sinkfmt_request *req,
    const char *msg_id, const char *label)
{
	const struct cfg_sink *sink = s->lane->sink;
	struct sink_payload pl;
	const char **hdr;
	char *sig = NULL, *h_id = NULL, *h_ts = NULL, *h_sig = NULL;
	long long now = (long long)time(NULL);
	size_t i, n = 0;

	hdr = xcalloc(req->nheaders + sink->nheaders + 4, sizeof *hdr);
	for (i = 0; i < req->nheaders; i++)
		hdr[n++] = req->headers[i];
	for (i = 0; i < sink->nheaders; i++)
		hdr[n++] = sink->headers[i];
	if (sink->format == SINKFMT_WEBHOOK) {
		h_id = xasprintf("webhook-id: %s", msg_id);
		h_ts = xasprintf("webhook-timestamp: %lld", now);
		hdr[n++] = h_id;
		hdr[n++] = h_ts;
		if (sink->nsecrets > 0) {
			sig = sign_webhook((const char *const *)sink->secrets,
			    sink->nsecrets, msg_id, now, req->body, req->len);
			if (sig == NULL)
				fatal("sink \"%s\": a secret that passed the "
				    "configuration check cannot sign", sink->name);
			h_sig = xasprintf("webhook-signature: %s", sig);
			hdr[n++] = h_sig;
		}
	}
	memset(&pl, 0, sizeof pl);
	pl.body = req->body;
	pl.len = req->len;
	pl.content_type = req->content_type;
	pl.headers = hdr;
	pl.nheaders = n;
	pl.url_query = req->url_query;
	s->lane->sending++;
	s->owner = config_ref((struct config *)ob->cfg);
	ob->nsending += s->n;
	/* s may be gone when this returns (the console answers at once). */
	sinks_deliver(ob->sinks, sink, &pl, label, outbox_sent_cb, s);
	free(hdr);
	free(sig);
	free(h_id);
	free(h_ts);
	free(h_sig);
}

/*
 * Takes up to n entries off the head of the lane and makes one attempt:
 * the oldest alone (n == 1), or a digest of as many of them as the
 * format shows; those it cannot show go back to the head.
 */
static void
lane_send(struct lane *l, size_t n)
{
	struct outbox *ob = l->ob;
	struct entry *v[DIGEST_MAX], *e;
	json_t *alerts[DIGEST_MAX];
	struct sinkfmt_request req;
	struct send *s;
	json_error_t jerr;
	char err[256], *id, *label;
	size_t m = 0, k, i;

	if (n > DIGEST_MAX)
		n = DIGEST_MAX;
	while (m < n && (e = TAILQ_FIRST(&l->queue)) != NULL) {
		TAILQ_REMOVE(&l->queue, e, wait);
		l->nqueue--;
		/* take_entry() checked it; a JSON object is all render wants. */
		if ((alerts[m] = json_loads(e->json, 0, &jerr)) == NULL) {
			refuse(ob, e, "stored alert is not JSON");
			continue;
		}
		v[m++] = e;
	}
	if (m == 0)
		return;
	k = render(l->sink, (const json_t *const *)alerts, m,
	    m == 1 ? v[0]->reply_to : 0, &req, err, sizeof err);
	for (i = 0; i < m; i++)
		json_decref(alerts[i]);
	if (k == 0) {
		for (i = 0; i < m; i++)
			refuse(ob, v[i], err);
		return;
	}
	for (i = m; i-- > k;) {
		TAILQ_INSERT_HEAD(&l->queue, v[i], wait);
		l->nqueue++;
	}
	s = xmalloc(sizeof *s + k * sizeof s->v[0]);
	s->lane = l;
	s->n = k;
	memcpy(s->v, v, k * sizeof v[0]);
	if (k > 1 && !l->digesting) {
		lane_episode(l);
		l->digesting = 1;
		log_notice("sink \"%s\": %zu alerts wait: they go out as digests "
		    "(digest-after = %ld)", l->sink->name,
		    l->nqueue + lane_nparked(l) + k, l->sink->digest_after);
	}
	l->ep_msgs++;
	l->ep_alerts += k;
	if (k == 1) {
		attempt(ob, s, &req, v[0]->alert_id, v[0]->label);
	} else {
		id = digest_id(v, k);
		label = xasprintf("digest %s of %zu alerts for sink \"%s\"", id,
		    k, l->sink->name);
		for (i = 0; i < k; i++)
			log_debug("outbox: %s in %s", v[i]->label, label);
		attempt(ob, s, &req, id, label);
		free(label);
		free(id);
	}
	sinkfmt_request_free(&req);
}

/* An XCLAIM of parked ids: its reply brings their entries back. */
struct fetch_req {
	struct lane *lane;
	unsigned gen;
	size_t n;
};

static void take_entry(struct outbox *ob, const redisReply *r, int fetched);

static void
outbox_fetched_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct fetch_req *f = arg;
	struct lane *l = f->lane;
	struct outbox *ob = l->ob;
	size_t i;

	if (f->gen != ob->gen) {
		/*
		 * Parked ids were forgotten since (a reconnect: the PEL read
		 * parks them again; a stop: they stay pending).
		 */
		free(f);
		return;
	}
	l->fetching = 0;
	if (error != NULL) {
		/* Still parked: the poll timer fetches them again. */
		log_debug("sink \"%s\": fetching waiting alerts: %s",
		    l->sink->name, error);
		free(f);
		check_idle(ob);
		return;
	}
	/* Popped first: the entries taken are no longer parked. */
	l->phead += f->n;
	ob->nparked -= f->n;
	if (reply->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < reply->elements; i++)
			take_entry(ob, reply->element[i], 1);
	free(f);
	if (l->retired) {
		/* take_entry dead-lettered them: the sink is not configured. */
		lane_retire_done(l);
		check_idle(ob);
		return;
	}
	lane_pump(l);
	check_idle(ob);
}

/*
 * Brings parked entries back once the lane has room for a digest's
 * worth.  XCLAIM (min-idle 0) returns the entries still pending, in the
 * order asked, and resets their idle time; those acknowledged or
 * trimmed meanwhile are simply not returned.
 */
static void
lane_fetch(struct lane *l)
{
	struct outbox *ob = l->ob;
	struct fetch_req *f;
	const char **argv;
	size_t n, i;
	int argc = 0;

	if (l->fetching || lane_nparked(l) == 0 || ob->stopping ||
	    (!l->retired && l->nqueue + DIGEST_MAX > LANE_HOLD) ||
	    !store_is_up(ob->store))
		return;
	n = LANE_HOLD - l->nqueue;
	if (n > lane_nparked(l))
		n = lane_nparked(l);
	argv = xcalloc(5 + n, sizeof *argv);
	argv[argc++] = "XCLAIM";
	argv[argc++] = ob->k_outbox;
	argv[argc++] = GROUP;
	argv[argc++] = ob->consumer;
	argv[argc++] = "0";
	for (i = 0; i < n; i++)
		argv[argc++] = l->parked[l->phead + i];
	f = xmalloc(sizeof *f);
	f->lane = l;
	f->gen = ob->gen;
	f->n = n;
	l->fetching = 1;
	store_command(ob->store, outbox_fetched_cb, f, argc, argv);
	free(argv);
}

static void lane_limited(struct lane *l);
static void lane_settle(struct lane *l);

struct take_req {
	struct lane *lane;
	unsigned gen;
};

static void
outbox_taken_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct take_req *t = arg;
	struct lane *l = t->lane;

	l->asking = 0;
	if (t->gen != l->ob->gen || error != NULL) {
		/* Ask again in a second (Redis is away: nothing moves anyway). */
		if (error != NULL)
			log_debug("outbox: sink \"%s\": shared rate limit: %s",
			    l->sink->name, error);
		lane_arm(l, 1000);
	} else if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
		lane_limited(l);
		lane_arm(l, (uint64_t)reply->integer);
	} else {
		l->granted = 1;
		lane_pump(l);
		lane_settle(l);
		check_idle(l->ob);
	}
	free(t);
}

/* Asks the bucket shared by every instance for a token (ww_take). */
static void
lane_ask(struct lane *l)
{
	struct take_req *t;
	const char *argv[6];
	char rate[32], burst[32];

	if (l->asking)
		return;
	t = xmalloc(sizeof *t);
	t->lane = l;
	t->gen = l->ob->gen;
	snprintf(rate, sizeof rate, "%.6f", l->per_s);
	snprintf(burst, sizeof burst, "%.6f", l->burst);
	argv[0] = "FCALL";
	argv[1] = "ww_take";
	argv[2] = "1";
	argv[3] = l->k_pace;
	argv[4] = rate;
	argv[5] = burst;
	l->asking = 1;
	store_command(l->ob->store, outbox_taken_cb, t, 6, argv);
}

/* Out of tokens: wait for the next one (logged once per backlog). */
static void
lane_limited(struct lane *l)
{
	if (!l->limited) {
		lane_episode(l);
		l->limited = 1;
		log_notice("sink \"%s\": rate limit reached (%.2g a second, "
		    "bursts of %.0f); alerts wait their turn%s", l->sink->name,
		    l->per_s, l->burst, l->sink->digest_after > 0 ?
		    " and go out as digests when many wait" : "");
	}
	stats_inc(STATS_RATE_LIMIT_WAITS, l->sink->name, "pace");
	lane_arm(l, (uint64_t)((1 - l->tokens) / l->per_s * 1000) + 1);
}

/*
 * Sends what the lane's pace allows: while alerts wait and the lane is
 * neither paused nor out of tokens (nor, when it has a bucket, waiting
 * for an answer), one message each time: a digest when more than
 * digest-after alerts wait, else the oldest alone.  Re-entered from an
 * attempt that completes at once, it only lets the outer loop look
 * again.
 */
static void
lane_pump(struct lane *l)
{
	struct outbox *ob = l->ob;
	char why[300];
	struct entry *e;
	uint64_t now;
	size_t waiting, n;

	if (l->pumping)
		return;
	l->pumping = 1;
	while (!ob->stopping && !TAILQ_EMPTY(&l->queue)) {
		if (l->disabled) {
			snprintf(why, sizeof why, "sink \"%s\" is disabled (its "
			    "destination is gone) until the configuration is "
			    "reloaded", l->sink->name);
			e = TAILQ_FIRST(&l->queue);
			TAILQ_REMOVE(&l->queue, e, wait);
			l->nqueue--;
			refuse(ob, e, why);
			continue;
		}
		now = util_now_ms();
		if (l->paused_until > now) {
			lane_arm(l, l->paused_until - now);
			break;
		}
		if (l->resolving || tg_lookup(l, TAILQ_FIRST(&l->queue)))
			break;
		if (l->per_s > 0) {
			if (l->sending > 0)
				break;
			lane_refill(l, now);
			if (l->tokens < 1) {
				lane_limited(l);
				break;
			}
			if (l->k_pace != NULL && !l->granted) {
				lane_ask(l);
				break;
			}
			l->granted = 0;
			l->tokens -= 1;
		}
		/*
		 * Once a backlog goes out as digests, its tail does too (any
		 * two or more waiting) rather than one alert a token: the
		 * last alerts of a flood are not held back for seconds or
		 * minutes more than the first ones.  lane_settle() ends that.
		 */
		waiting = l->nqueue + lane_nparked(l);
		n = l->sink->digest_after > 0 &&
		    (waiting > (size_t)l->sink->digest_after ||
		    (l->digesting && waiting > 1)) ? DIGEST_MAX : 1;
		lane_send(l, n);
	}
	l->pumping = 0;
	lane_fetch(l);
}

/*
 * Once a lane that was rate-limited or digesting has been empty for
 * QUIET_MS, its backlog is over: one line says so, and the next one is
 * logged again.  The delay keeps a steady trickle at the limit from
 * logging every few seconds.
 */
static void
lane_settle(struct lane *l)
{
	uint64_t now = util_now_ms();

	if (!lane_empty(l)) {
		l->idle_since = 0;
		return;
	}
	if (!l->limited && !l->digesting)
		return;
	if (l->idle_since == 0) {
		l->idle_since = now;
		lane_arm(l, QUIET_MS);
	} else if (now - l->idle_since < QUIET_MS) {
		lane_arm(l, QUIET_MS - (now - l->idle_since) + 1);
	} else {
		log_notice("sink \"%s\": caught up: %lu alert%s went out in %lu "
		    "message%s", l->sink->name, l->ep_alerts,
		    l->ep_alerts == 1 ? "" : "s", l->ep_msgs,
		    l->ep_msgs == 1 ? "" : "s");
		l->limited = l->digesting = 0;
		l->idle_since = 0;
	}
}

static void
outbox_lane_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lane *l = arg;

	(void)fd;
	(void)what;
	lane_pump(l);
	lane_settle(l);
	check_idle(l->ob);
}

static void
outbox_sent_cb(const struct sink_result *r, void *arg)
{
	struct send *s = arg;
	struct lane *l = s->lane;
	struct outbox *ob = l->ob;
	struct sink_result res = *r;
	long hint;
	size_t i;

	l->sending--;
	ob->nsending -= s->n;
	/*
	 * The service saw the message at some time up to now (it may have
	 * waited for a connection): count it as seen now, so that no token
	 * earned while it was on its way lets the next one follow closer
	 * than the pace.  A paced lane has one attempt in flight, so this
	 * only ever slows it by the round trip.
	 */
	if (l->per_s > 0 && util_now_ms() > l->refilled)
		l->refilled = util_now_ms();
	/* Discord's JSON retry_after, Telegram's parameters.retry_after. */
	hint = sinkfmt_retry_after_ms((enum sinkfmt_type)l->sink->format,
	    r->resp, r->resp_len);
	if (hint < res.retry_after_ms)
		hint = res.retry_after_ms;
	res.retry_after_ms = hint;
	if (r->outcome == SINK_RETRY && (r->status == 429 || hint > 0))
		lane_pause(l, r->status, hint);
	if (r->pause_ms > 0)
		lane_hold(l, r->pause_ms);
	if (s->n > 1 && (r->outcome == SINK_RETRY || r->outcome == SINK_FAILED))
		log_warn("outbox: a digest of %zu alerts for sink \"%s\" failed: "
		    "%s%s%.*s; %s", s->n, l->sink->name,
		    r->reason ? r->reason : "failed",
		    r->resp_len > 0 ? "; response: " : "",
		    (int)(r->resp_len < 300 ? r->resp_len : 300),
		    r->resp != NULL ? r->resp : "",
		    r->outcome == SINK_RETRY ?
		    "each alert is retried on its own" :
		    "each alert goes to the dead letters");
	for (i = 0; i < s->n; i++)
		finish(ob, s->v[i], &res, s->n > 1);
	config_free(s->owner);
	free(s);
	if (l->retired) {
		lane_retire_done(l);
		check_idle(ob);
		return;
	}
	if (r->outcome != SINK_ABORTED) {
		lane_pump(l);
		lane_settle(l);
		if (!ob->stopping)
			read_more(ob);
	}
	check_idle(ob);
}

/* --- reload: lanes kept, made, retired ------------------------------------ */

/*
 * A retired lane (its sink removed by a reload) lives until its last
 * attempt answered and its parked ids were fetched back (and, since the
 * sink is not configured any more, dead-lettered by take_entry).
 */
static void
lane_retire_done(struct lane *l)
{
	if (l->sending > 0 || l->fetching)
		return;
	if (lane_nparked(l) > 0 && !l->ob->stopping && store_is_up(l->ob->store)) {
		lane_fetch(l);
		return;
	}
	if (lane_nparked(l) > 0)
		return; /* Redis is away: outbox_poll_cb fetches them later */
	LIST_REMOVE(l, retired_link);
	lane_free(l);
}

/* Every lane's parked ids, retired lanes' included. */
static void
lanes_fetch(struct outbox *ob)
{
	struct lane *l, *next;
	size_t i;

	for (i = 0; i < ob->nlanes; i++)
		lane_fetch(ob->lanes[i]);
	for (l = LIST_FIRST(&ob->retired); l != NULL; l = next) {
		next = LIST_NEXT(l, retired_link);
		lane_retire_done(l);
	}
}

void
outbox_reconfigure(struct outbox *ob, const struct config *cfg)
{
	struct lane **lanes = xcalloc(cfg->nsinks + 1, sizeof *lanes), *l;
	char *taken = xcalloc(ob->nlanes + 1, 1), why[300];
	struct entry *e;
	size_t i, j;

	for (i = 0; i < cfg->nsinks; i++) {
		for (j = 0; j < ob->nlanes; j++)
			if (!taken[j] && strcmp(ob->lanes[j]->sink->name,
			    cfg->sinks[i].name) == 0)
				break;
		if (j == ob->nlanes) {
			lanes[i] = lane_new(ob, &cfg->sinks[i], i);
			continue;
		}
		/* Kept: its queue, parked ids and pause carry over. */
		taken[j] = 1;
		l = lanes[i] = ob->lanes[j];
		l->sink = &cfg->sinks[i];
		l->index = i;
		l->disabled = 0;
		lane_pace(l->sink, &l->per_s, &l->burst);
		if (l->tokens > l->burst)
			l->tokens = l->burst;
	}
	ob->cfg = cfg;
	for (j = 0; j < ob->nlanes; j++) {
		if (taken[j])
			continue;
		l = ob->lanes[j];
		l->retired = 1;
		evtimer_del(l->timer);
		LIST_INSERT_HEAD(&ob->retired, l, retired_link);
		snprintf(why, sizeof why, "sink \"%s\" was removed from the "
		    "configuration by a reload", l->sink->name);
		if (l->nqueue + lane_nparked(l) > 0 || l->sending > 0)
			log_warn("outbox: %s: %zu waiting alert%s go to the dead "
			    "letters, %zu attempt%s in flight finish", why,
			    l->nqueue + lane_nparked(l),
			    l->nqueue + lane_nparked(l) == 1 ? "" : "s", l->sending,
			    l->sending == 1 ? "" : "s");
		while ((e = TAILQ_FIRST(&l->queue)) != NULL) {
			TAILQ_REMOVE(&l->queue, e, wait);
			l->nqueue--;
			refuse(ob, e, why);
		}
		lane_retire_done(l);
	}
	free(ob->lanes);
	ob->lanes = lanes;
	ob->nlanes = cfg->nsinks;
	free(taken);
	check_idle(ob);
}

/* --- reading ------------------------------------------------------------ */

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
is_held(const struct outbox *ob, const char *sid)
{
	const struct entry *e;

	LIST_FOREACH(e, &ob->held, link)
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

/*
 * One stream entry: [id, [field, value, ...]] (fields nil when deleted).
 * It joins its sink's lane, or is parked there when the lane is full or
 * has parked entries before it; fetched: it comes from the lane's own
 * fetch of parked ids, for which it made room.
 */
static void
take_entry(struct outbox *ob, const redisReply *r, int fetched)
{
	const struct cfg_sink *sink;
	struct lane *l;
	struct entry *e;
	json_t *alert;
	json_error_t jerr;
	char err[256], *a;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len >= SID_MAX)
		return;
	if (is_held(ob, r->element[0]->str))
		return;
	log_debug("outbox: entry %s taken%s", r->element[0]->str,
	    ob->own_pending ? " (our pending list)" : "");
	if (forget_unacked(ob, r->element[0]->str)) {
		ack(ob, r->element[0]->str);
		return;
	}
	/* Stopping: not taken, it stays pending for the next start. */
	if (ob->stopping)
		return;
	e = xcalloc(1, sizeof *e);
	e->ob = ob;
	snprintf(e->sid, sizeof e->sid, "%s", r->element[0]->str);
	LIST_INSERT_HEAD(&ob->held, e, link);
	ob->nheld++;
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
		entry_release(e);
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
	if ((sink = find_sink(ob->cfg, e->sink_name)) == NULL) {
		snprintf(err, sizeof err, "sink \"%s\" is not configured (not in "
		    "this daemon's configuration, or removed by a reload)",
		    e->sink_name);
		refuse(ob, e, err);
		return;
	}
	if (ob->lanes[sink - ob->cfg->sinks]->disabled) {
		snprintf(err, sizeof err, "sink \"%s\" is disabled (its "
		    "destination is gone) until the configuration is reloaded",
		    sink->name);
		refuse(ob, e, err);
		return;
	}
	alert = json_loads(e->json, 0, &jerr);
	if (alert == NULL || !json_is_object(alert)) {
		snprintf(err, sizeof err, "stored alert is not a JSON object%s%s",
		    alert == NULL ? ": " : "", alert == NULL ? jerr.text : "");
		json_decref(alert);
		refuse(ob, e, err);
		return;
	}
	json_decref(alert);
	l = ob->lanes[sink - ob->cfg->sinks];
	if (!fetched && (l->nqueue >= LANE_HOLD || lane_nparked(l) > 0 ||
	    l->fetching)) {
		lane_park(l, e->sid);
		entry_release(e);
		return;
	}
	lane_push(l, e);
	if (!fetched)
		lane_pump(l);
}

/* Entries of an XREADGROUP or XAUTOCLAIM reply; returns how many. */
static size_t
take_entries(struct outbox *ob, const redisReply *list)
{
	size_t i;

	if (list == NULL || list->type != REDIS_REPLY_ARRAY)
		return 0;
	for (i = 0; i < list->elements; i++)
		take_entry(ob, list->element[i], 0);
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
	if (was_own && n < ob->read_count)
		ob->own_pending = 0; /* our pending list is read: now new ones */
	ob->last_read_empty = n == 0 && !was_own;
	if (n > 0 || was_own || ob->again) {
		ob->again = 0;
		read_more(ob);
	}
	/* Entries parked by this read (or again, after a reconnect). */
	if (n > 0 && !ob->stopping)
		lanes_fetch(ob);
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
	 * skipped by take_entry.
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
			    (int)(ob->claim_idle_ms / 1000));
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
	struct outbox *ob = arg;

	(void)fd;
	(void)what;
	move_due(ob);
	read_more(ob);
	/* A fetch that failed (Redis was away) is tried again here. */
	lanes_fetch(ob);
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
	read_more(ob);
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
		lane_drop(ob->lanes[i]);
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
