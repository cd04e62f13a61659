/*
 * cluster.c - membership, feed leases and fencing tokens; see cluster.h.
 *
 * Redis is the whole cluster protocol: the instances never talk to each
 * other.  Each one, every tick (lease / 3):
 *
 *   1. ww_beat: writes "<until> <info>" under its name in the hash
 *      <prefix>members, drops the entries whose until passed, and returns
 *      the live ones (with Redis' clock, the only clock that matters).
 *   2. For every feed, the owner is the live instance with the highest
 *      mix(feed hash, instance hash) (rendezvous hashing: when one joins
 *      or leaves, only the feeds it wins or held move).  The feeds this
 *      instance wants or holds go to ww_lease, CLUSTER_BATCH a call, which
 *      renews what it holds, acquires what is free or ran out (the token
 *      +1), releases what it holds but no longer wants, and stores the
 *      start of its last poll with each lease.
 *
 * A lease is only ever taken from nobody: a released or expired one.  So
 * on a join, the old holder releases on its next tick and the new one
 * acquires on its next; on a death, the others acquire once the lease
 * has run out (at most lease + one tick).  The new holder first waits
 * until the last poll recorded with the lease is an interval old.
 *
 * Locally a lease counts as held until the send time of the renewal that
 * granted it plus 90% of the lease: an instance paused past its lease
 * starts no poll when it wakes until a tick grants the lease again, and
 * whatever poll it had in flight is refused by the token check in Redis.
 * The library is loaded with FUNCTION LOAD REPLACE on every connection,
 * next to the outbox's (outbox_lua.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/cluster.h"
#include "wirewatch/config.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#define TOKEN_MAX 24
#define JOIN_MS 1000 /* first heartbeat to first claim: see cluster_tick_cb */

static const char lua_library[] =
"#!lua name=wirewatch_cluster\n"
"local function now_ms()\n"
"  local t = redis.call('TIME')\n"
"  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
"end\n"
"-- ww_beat: KEYS members; ARGV instance, info, ttl ms.  Returns\n"
"-- {now, name, \"until info\", ...} of the live instances.\n"
"redis.register_function('ww_beat', function(keys, args)\n"
"  local now = now_ms()\n"
"  redis.call('HSET', keys[1], args[1],\n"
"    tostring(now + tonumber(args[3])) .. ' ' .. args[2])\n"
"  local all = redis.call('HGETALL', keys[1])\n"
"  local out = {now}\n"
"  for i = 1, #all, 2 do\n"
"    local u = tonumber(string.match(all[i+1], '^(%d+)'))\n"
"    if not u or u <= now then\n"
"      redis.call('HDEL', keys[1], all[i])\n"
"    else\n"
"      out[#out+1] = all[i]\n"
"      out[#out+1] = all[i+1]\n"
"    end\n"
"  end\n"
"  return out\n"
"end)\n"
"-- ww_leave: KEYS members; ARGV instance.\n"
"redis.register_function('ww_leave', function(keys, args)\n"
"  return redis.call('HDEL', keys[1], args[1])\n"
"end)\n"
"-- ww_lease: KEYS a lease per feed; ARGV instance, lease ms, then per\n"
"-- feed: want (1/0), start of our last poll (server ms, 0: none).\n"
"-- Returns {now, then per feed: token (0: not held), polled, mine}.\n"
"redis.register_function('ww_lease', function(keys, args)\n"
"  local now = now_ms()\n"
"  local me, ms = args[1], tonumber(args[2])\n"
"  local out = {now}\n"
"  for k = 1, #keys do\n"
"    local want, p = args[2*k+1], tonumber(args[2*k+2])\n"
"    local h = redis.call('HMGET', keys[k], 'owner', 'until', 'token', 'polled')\n"
"    local owner, till, token = h[1], tonumber(h[2] or 0), h[3]\n"
"    local last = tonumber(h[4] or 0)\n"
"    local held, mine = 0, 0\n"
"    if owner == me and p > last then last = p end\n"
"    if want == '1' and owner == me and till > now then\n"
"      redis.call('HSET', keys[k], 'until', now + ms, 'polled', last)\n"
"      held, mine = token, 1\n"
"    elseif want == '1' and (not owner or till <= now) then\n"
"      held = redis.call('HINCRBY', keys[k], 'token', 1)\n"
"      if owner == me then mine = 1 end\n"
"      redis.call('HSET', keys[k], 'owner', me, 'until', now + ms,\n"
"        'polled', last)\n"
"    elseif owner == me then\n"
"      redis.call('HSET', keys[k], 'until', 0, 'polled', last)\n"
"    end\n"
"    out[#out+1] = tostring(held)\n"
"    out[#out+1] = last\n"
"    out[#out+1] = mine\n"
"  end\n"
"  return out\n"
"end)\n"
"-- ww_fenced: KEYS target hash, lease; ARGV token, field, value, ...\n"
"-- HSET only while the lease still has that token.\n"
"redis.register_function('ww_fenced', function(keys, args)\n"
"  if redis.call('HGET', keys[2], 'token') ~= args[1] then\n"
"    return redis.error_reply('FENCED: the lease moved on (token ' ..\n"
"      args[1] .. ' is stale)')\n"
"  end\n"
"  local f = {}\n"
"  for i = 2, #args do f[#f+1] = args[i] end\n"
"  return redis.call('HSET', keys[1], unpack(f))\n"
"end)\n";

struct cluster_feed {
	char *name;
	void *arg;              /* the pipeline's, for cluster_acquired_cb */
	int removed;            /* cluster_feed_remove(): freed once released */
	size_t inflight;        /* ww_lease calls that name it */
	char *key;              /* <prefix>lease:<name> */
	uint64_t hash;          /* of the feed's name */
	char token[TOKEN_MAX];  /* "0": not held */
	int held;               /* the last answer said so */
	int armed;              /* the pipeline's timer runs for it */
	int ever;               /* held since this process started */
	uint64_t valid_until;   /* util_now_ms(): held until then, locally */
	long long polled;       /* server ms of a poll start to report; 0 */
	uint64_t started_local; /* util_now_ms() of our last poll start; 0 */
	int polling;            /* between cluster_may_poll and _poll_done */
};

struct member {
	char *name;
	uint64_t hash;
	json_t *info;           /* host, pid, feeds, lease_ms */
	long long until;        /* server ms */
};

struct cluster {
	struct event_base *base;
	char *instance, *prefix, *path;
	struct store *store;
	cluster_acquired_cb cb;
	void *arg;
	char *k_members;
	char *host;
	long lease_ms;
	struct event *tick;
	struct cluster_feed **feeds;
	size_t nfeeds, capfeeds;
	size_t configured;      /* feeds not removed */
	uint64_t sigv;
	size_t held;
	struct member *members;
	size_t nmembers;
	long long server_now;   /* at the last beat ... */
	uint64_t local_at;      /* ... and util_now_ms() then */
	char sig[20];           /* of the feed names: instances must agree */
	int mismatch_logged;
	size_t batches;         /* ww_lease calls in flight */
	unsigned gen;           /* connection generation */
	int started;
	int stopping;
	unsigned long beats;    /* heartbeats answered */
	size_t logged_members;  /* as last logged, with ... */
	size_t logged_held;
	size_t leaving;         /* cluster_stop's calls not answered yet */
	cluster_done_cb done_cb;
	void *done_arg;
};

struct batch {
	struct cluster *c;
	int leaving;            /* sent by cluster_stop */
	unsigned gen;
	uint64_t sent;
	size_t n;
	struct cluster_feed *f[];
};

static long long
server_now(const struct cluster *c)
{
	if (c->server_now == 0)
		return 0;
	return c->server_now + (long long)(util_now_ms() - c->local_at);
}

static void
members_clear(struct cluster *c)
{
	size_t i;

	for (i = 0; i < c->nmembers; i++) {
		free(c->members[i].name);
		json_decref(c->members[i].info);
	}
	free(c->members);
	c->members = NULL;
	c->nmembers = 0;
}

struct cluster *
cluster_new(struct event_base *base, const struct config *cfg,
    struct store *store, cluster_acquired_cb cb, void *arg)
{
	struct cluster *c;
	char host[256];

	if (cfg->lease <= 0)
		return NULL;
	c = xcalloc(1, sizeof *c);
	c->base = base;
	/* Copies: a reload replaces the config (these keys need a restart). */
	c->instance = xstrdup(cfg->instance);
	c->prefix = xstrdup(cfg->prefix);
	c->path = xstrdup(cfg->path);
	c->store = store;
	c->cb = cb;
	c->arg = arg;
	c->lease_ms = cfg->lease * 1000;
	c->k_members = keys_name(cfg->prefix, KEY_MEMBERS, NULL);
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = '\0';
	c->host = xstrdup(host);
	snprintf(c->sig, sizeof c->sig, "%016llx", 0ULL);
	return c;
}

static void
feed_free(struct cluster_feed *f)
{
	free(f->name);
	free(f->key);
	free(f);
}

static void
set_sig(struct cluster *c, const struct cluster_feed *f)
{
	c->sigv ^= util_mix64(f->hash);
	snprintf(c->sig, sizeof c->sig, "%016llx", (unsigned long long)c->sigv);
}

struct cluster_feed *
cluster_feed_add(struct cluster *c, const char *name, void *arg)
{
	struct cluster_feed *f;

	if (c == NULL)
		return NULL;
	f = xcalloc(1, sizeof *f);
	f->name = xstrdup(name);
	f->arg = arg;
	f->key = keys_name(c->prefix, KEY_LEASE, name, NULL);
	f->hash = util_hash64(name, strlen(name), 0x77697265);
	snprintf(f->token, TOKEN_MAX, "0");
	if (c->nfeeds == c->capfeeds) {
		c->capfeeds = c->capfeeds ? c->capfeeds * 2 : 64;
		c->feeds = xreallocarray(c->feeds, c->capfeeds, sizeof *c->feeds);
	}
	c->feeds[c->nfeeds++] = f;
	c->configured++;
	set_sig(c, f);
	return f;
}

void
cluster_feed_remove(struct cluster *c, struct cluster_feed *f)
{
	if (c == NULL || f == NULL || f->removed)
		return;
	/* Kept until its lease is released (next tick) and no call names it. */
	f->removed = 1;
	f->arg = NULL;
	c->configured--;
	set_sig(c, f);
}

/* Frees the removed feeds that hold nothing and that no call names. */
static void
sweep(struct cluster *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->nfeeds; i++) {
		if (c->feeds[i]->removed && !c->feeds[i]->held &&
		    c->feeds[i]->inflight == 0)
			feed_free(c->feeds[i]);
		else
			c->feeds[n++] = c->feeds[i];
	}
	c->nfeeds = n;
}

void
cluster_free(struct cluster *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->tick != NULL)
		event_free(c->tick);
	for (i = 0; i < c->nfeeds; i++)
		feed_free(c->feeds[i]);
	free(c->feeds);
	members_clear(c);
	free(c->k_members);
	free(c->host);
	free(c->instance);
	free(c->prefix);
	free(c->path);
	free(c);
}

static void
cluster_setup_reply_cb(const struct store_reply *reply, const char *error, void *arg)
{
	(void)reply;
	(void)arg;
	if (error != NULL)
		log_err("cluster: cannot load the lease functions: %s", error);
}

void
cluster_setup(struct cluster *c)
{
	const char *argv[4];

	if (c == NULL)
		return;
	c->gen++;
	c->batches = 0; /* the old connection's replies are ignored */
	argv[0] = "FUNCTION";
	argv[1] = "LOAD";
	argv[2] = "REPLACE";
	argv[3] = lua_library;
	store_command(c->store, cluster_setup_reply_cb, c, 4, argv);
}

/* --- leases --------------------------------------------------------------- */

static const char *
elem_str(const struct store_reply *r, char *buf, size_t len)
{
	const char *s;
	size_t n;

	if (store_reply_type(r) == STORE_INT)
		snprintf(buf, len, "%lld", store_reply_int(r));
	else if ((s = store_reply_str(r, &n)) != NULL &&
	    store_reply_type(r) == STORE_STRING)
		snprintf(buf, len, "%.*s", (int)n, s);
	else
		snprintf(buf, len, "0");
	return buf;
}

/* Feed k's answer in a ww_lease reply (token, polled, mine at 1 + 3k). */
static void
lease_answer(struct cluster *c, struct batch *b, size_t k, long long now,
    const struct store_reply *reply)
{
	const struct store_reply *e[3] = {
		store_reply_elem(reply, 1 + 3 * k),
		store_reply_elem(reply, 2 + 3 * k),
		store_reply_elem(reply, 3 + 3 * k)
	};
	struct cluster_feed *f = b->f[k];
	char token[TOKEN_MAX];
	long long polled, since;
	int mine;

	elem_str(e[0], token, sizeof token);
	polled = store_reply_int(e[1]);
	mine = (int)store_reply_int(e[2]);
	if (strcmp(token, "0") == 0) {
		if (f->held)
			log_debug("cluster: lease of feed \"%s\" %s", f->name,
			    c->stopping ? "released" : "moved to another instance");
		if (f->held)
			c->held--;
		f->held = 0;
		f->armed = 0;
		snprintf(f->token, TOKEN_MAX, "0");
		return;
	}
	if (!f->held)
		c->held++;
	if (!f->held && strcmp(f->token, token) != 0)
		log_debug("cluster: lease of feed \"%s\" acquired (token %s)",
		    f->name, token);
	f->held = 1;
	snprintf(f->token, TOKEN_MAX, "%s", token);
	f->valid_until = b->sent + (uint64_t)c->lease_ms * 9 / 10;
	if (f->armed || f->removed)
		return;
	/*
	 * Pollable again: when did its last poll start?  Redis knows unless
	 * that poll was ours in an earlier life (a restart polls as on any
	 * start); we know when it was ours in this life.
	 */
	if (f->started_local != 0)
		since = (long long)(util_now_ms() - f->started_local);
	else if (polled > 0 && !(mine && !f->ever))
		since = now - polled;
	else
		since = -1;
	if (since < -1)
		since = 0;
	f->armed = 1;
	f->ever = 1;
	c->cb(f->arg, since, c->arg);
}

/* One of cluster_stop's calls was answered (or failed). */
static void
left(struct cluster *c)
{
	cluster_done_cb cb = c->done_cb;

	if (c->leaving == 0 || --c->leaving > 0 || cb == NULL)
		return;
	c->done_cb = NULL;
	cb(c->done_arg);
}

static void
cluster_lease_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct batch *b = arg;
	struct cluster *c = b->c;
	long long now;
	size_t k;

	for (k = 0; k < b->n; k++)
		b->f[k]->inflight--;
	if (b->gen != c->gen)
		goto out;
	c->batches--;
	if (b->leaving)
		left(c);
	if (error != NULL) {
		if (!c->stopping)
			log_warn("cluster: lease renewal failed: %s", error);
		goto out;
	}
	if (store_reply_type(reply) != STORE_ARRAY ||
	    store_reply_len(reply) != 1 + 3 * b->n) {
		log_warn("cluster: unexpected ww_lease reply");
		goto out;
	}
	now = store_reply_int(store_reply_elem(reply, 0));
	for (k = 0; k < b->n; k++)
		lease_answer(c, b, k, now, reply);
out:
	free(b);
	sweep(c);
}

static void
send_batch(struct cluster *c, struct cluster_feed **fs, const int *want, size_t n)
{
	struct batch *b = xmalloc(sizeof *b + n * sizeof b->f[0]);
	const char **argv = xcalloc(5 + 3 * n, sizeof *argv);
	char (*nums)[24] = xcalloc(2 * n + 2, sizeof *nums);
	size_t k;
	int argc = 0;

	b->c = c;
	b->leaving = c->stopping;
	if (b->leaving)
		c->leaving++;
	b->gen = c->gen;
	b->sent = util_now_ms();
	b->n = n;
	memcpy(b->f, fs, n * sizeof *fs);
	snprintf(nums[0], sizeof nums[0], "%zu", n);
	snprintf(nums[1], sizeof nums[1], "%ld", c->lease_ms);
	argv[argc++] = "FCALL";
	argv[argc++] = "ww_lease";
	argv[argc++] = nums[0];
	for (k = 0; k < n; k++) {
		argv[argc++] = fs[k]->key;
		fs[k]->inflight++;
	}
	argv[argc++] = c->instance;
	argv[argc++] = nums[1];
	for (k = 0; k < n; k++) {
		argv[argc++] = want[k] ? "1" : "0";
		snprintf(nums[2 + k], sizeof nums[0], "%lld", fs[k]->polled);
		argv[argc++] = nums[2 + k];
		fs[k]->polled = 0;
	}
	c->batches++;
	store_command(c->store, cluster_lease_cb, b, argc, argv);
	free(nums);
	free(argv);
}

/* The live instance that owns feed f (rendezvous hashing); NULL: none. */
static const struct member *
owner(const struct cluster *c, const struct cluster_feed *f)
{
	const struct member *best = NULL;
	uint64_t w, bw = 0;
	size_t m;

	for (m = 0; m < c->nmembers; m++) {
		w = util_mix64(f->hash ^ c->members[m].hash);
		if (best == NULL || w > bw || (w == bw &&
		    strcmp(c->members[m].name, best->name) > 0)) {
			best = &c->members[m];
			bw = w;
		}
	}
	return best;
}

static void
renew(struct cluster *c)
{
	struct cluster_feed **fs = xcalloc(CLUSTER_BATCH, sizeof *fs), *f;
	int *want = xcalloc(CLUSTER_BATCH, sizeof *want);
	const struct member *o;
	size_t i, n = 0;
	int w;

	sweep(c);
	for (i = 0; i < c->nfeeds; i++) {
		f = c->feeds[i];
		o = owner(c, f);
		w = !c->stopping && !f->removed && o != NULL &&
		    strcmp(o->name, c->instance) == 0;
		/* A poll in progress keeps its lease a tick longer: handed over
		 * now, its results would be refused and wait an interval. */
		if (!w && !c->stopping && !f->removed && f->polling && f->held)
			w = 1;
		if (!w && !f->held && f->polled == 0)
			continue;
		fs[n] = f;
		want[n] = w;
		if (++n == CLUSTER_BATCH) {
			send_batch(c, fs, want, n);
			n = 0;
		}
	}
	if (n > 0)
		send_batch(c, fs, want, n);
	free(fs);
	free(want);
}

/* --- membership ----------------------------------------------------------- */

/*
 * Placement assumes every instance has the same feeds: a feed placed on
 * an instance that does not have it is polled by nobody.  Say so.
 */
static void
check_feeds_agree(struct cluster *c)
{
	const char *other;
	size_t i;

	for (i = 0; i < c->nmembers; i++) {
		other = json_string_value(json_object_get(c->members[i].info, "feeds_sig"));
		if (other == NULL || strcmp(other, c->sig) == 0)
			continue;
		if (!c->mismatch_logged)
			log_err("cluster: instance \"%s\" has other feeds than this one "
			    "(%s); a feed is polled only by the instance it is placed "
			    "on, so feeds one of them lacks may not be polled at all: "
			    "give every instance the same feeds", c->members[i].name,
			    c->path);
		c->mismatch_logged = 1;
		return;
	}
	c->mismatch_logged = 0;
}

static void
cluster_beat_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct cluster *c = arg;
	const struct store_reply *name, *val;
	struct member *m;
	const char *v, *sp, *nm;
	size_t i, n, len;

	if (error != NULL) {
		if (!c->stopping)
			log_warn("cluster: heartbeat failed: %s", error);
		return;
	}
	n = store_reply_len(reply);
	if (store_reply_type(reply) != STORE_ARRAY || n % 2 != 1) {
		log_warn("cluster: unexpected ww_beat reply");
		return;
	}
	members_clear(c);
	c->server_now = store_reply_int(store_reply_elem(reply, 0));
	c->local_at = util_now_ms();
	c->members = xcalloc(n / 2 + 1, sizeof *c->members);
	for (i = 1; i + 1 < n; i += 2) {
		name = store_reply_elem(reply, i);
		val = store_reply_elem(reply, i + 1);
		if (store_reply_type(name) != STORE_STRING ||
		    store_reply_type(val) != STORE_STRING)
			continue;
		nm = store_reply_str(name, &len);
		m = &c->members[c->nmembers++];
		m->name = xstrndup(nm, len);
		m->hash = util_mix64(util_hash64(m->name, strlen(m->name), 0x696e7374));
		v = store_reply_str(val, NULL);
		m->until = strtoll(v, NULL, 10);
		sp = strchr(v, ' ');
		m->info = sp != NULL ? json_loads(sp + 1, 0, NULL) : NULL;
	}
	check_feeds_agree(c);
	if (c->nmembers != c->logged_members || c->held != c->logged_held) {
		/* Once per change, not per feed: thousands of feeds move at once. */
		log_info("cluster: %zu live instance%s; this one (%s) holds %zu of "
		    "%zu feeds", c->nmembers, c->nmembers == 1 ? "" : "s",
		    c->instance, c->held, c->configured);
		c->logged_members = c->nmembers;
		c->logged_held = c->held;
	}
	if (c->stopping || c->beats++ == 0)
		return; /* the first beat only announces this instance */
	renew(c);
}

static void
beat(struct cluster *c)
{
	const char *argv[7];
	char ttl[32], *info;
	json_t *o = json_object();

	json_object_set_new(o, "host", alert_json_string(c->host));
	json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(o, "feeds", json_integer((json_int_t)c->held));
	json_object_set_new(o, "configured", json_integer((json_int_t)c->configured));
	json_object_set_new(o, "lease_ms", json_integer(c->lease_ms));
	json_object_set_new(o, "feeds_sig", json_string(c->sig));
	info = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (info == NULL)
		fatal("cluster: cannot serialize (out of memory)");
	snprintf(ttl, sizeof ttl, "%ld", c->lease_ms);
	argv[0] = "FCALL";
	argv[1] = "ww_beat";
	argv[2] = "1";
	argv[3] = c->k_members;
	argv[4] = c->instance;
	argv[5] = info;
	argv[6] = ttl;
	store_command(c->store, cluster_beat_cb, c, 7, argv);
	free(info);
}

static void
cluster_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cluster *c = arg;
	struct timeval tv;
	long ms = c->lease_ms / 3;

	(void)fd;
	(void)what;
	if (c->stopping)
		return;
	/*
	 * Instances started together (a deploy, a reboot) would otherwise
	 * each find itself alone at its first beat and claim every feed: the
	 * first heartbeat only announces, the first claim follows JOIN_MS
	 * later, once the others have announced themselves too.
	 */
	if (c->beats == 0 && ms > JOIN_MS)
		ms = JOIN_MS;
	/* A tick whose renewals are still out waits for them (slow Redis). */
	if (store_is_up(c->store) && c->batches == 0)
		beat(c);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->tick, &tv);
}

void
cluster_start(struct cluster *c)
{
	if (c == NULL || c->stopping)
		return;
	if (c->tick == NULL)
		c->tick = evtimer_new(c->base, cluster_tick_cb, c);
	c->started = 1;
	evtimer_del(c->tick);
	cluster_tick_cb(-1, 0, c);
}

static void
cluster_left_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct cluster *c = arg;

	(void)reply;
	if (error != NULL)
		log_debug("cluster: leaving: %s", error);
	left(c);
}

int
cluster_stop(struct cluster *c, cluster_done_cb cb, void *arg)
{
	const char *argv[5];

	if (c == NULL || c->stopping)
		return 0;
	c->stopping = 1;
	if (c->tick != NULL)
		evtimer_del(c->tick);
	if (!store_is_up(c->store))
		return 0;
	/* Others take over at their next tick instead of after a lease. */
	argv[0] = "FCALL";
	argv[1] = "ww_leave";
	argv[2] = "1";
	argv[3] = c->k_members;
	argv[4] = c->instance;
	c->leaving++;
	store_command(c->store, cluster_left_cb, c, 5, argv);
	renew(c); /* wants nothing: releases every lease held */
	if (c->leaving == 0)
		return 0;
	c->done_cb = cb;
	c->done_arg = arg;
	return 1;
}

/* --- hooks for the pipeline ----------------------------------------------- */

int
cluster_may_poll(struct cluster *c, struct cluster_feed *f)
{
	long long now;

	if (f == NULL)
		return 0; /* removed by a reload */
	if (!f->held || util_now_ms() >= f->valid_until) {
		f->armed = 0;
		return 0;
	}
	f->started_local = util_now_ms();
	f->polling = 1;
	now = server_now(c);
	f->polled = now > 0 ? now : 0;
	return 1;
}

void
cluster_poll_done(struct cluster_feed *f)
{
	if (f != NULL)
		f->polling = 0;
}

/* A feed removed by a reload (NULL) has no lease: its late writes are
 * fenced with a key that holds no token, and refused. */
const char *
cluster_lease_key(const struct cluster_feed *f)
{
	return f != NULL ? f->key : "";
}

const char *
cluster_token(const struct cluster_feed *f)
{
	return f != NULL && f->held ? f->token : "0";
}

void
cluster_fenced_hset(struct cluster *c, struct cluster_feed *f, int argc,
    const char **argv, cluster_reply_cb cb, void *arg)
{
	const char **v = xcalloc((size_t)argc + 4, sizeof *v);
	int i, n = 0;

	/* HSET key f v ...  ->  FCALL ww_fenced 2 key lease token f v ... */
	v[n++] = "FCALL";
	v[n++] = "ww_fenced";
	v[n++] = "2";
	v[n++] = argv[1];
	v[n++] = cluster_lease_key(f);
	v[n++] = cluster_token(f);
	for (i = 2; i < argc; i++)
		v[n++] = argv[i];
	store_command(c->store, cb, arg, n, v);
	free(v);
}

json_t *
cluster_status_json(const struct cluster *c)
{
	json_t *o = json_object(), *a = json_array(), *m;
	const struct member *mb;
	long long now = server_now(c), lease;
	size_t i;

	for (i = 0; i < c->nmembers; i++) {
		mb = &c->members[i];
		m = json_object();
		json_object_set_new(m, "name", alert_json_string(mb->name));
		json_object_set(m, "host", json_object_get(mb->info, "host"));
		json_object_set(m, "pid", json_object_get(mb->info, "pid"));
		json_object_set(m, "feeds", json_object_get(mb->info, "feeds"));
		lease = json_integer_value(json_object_get(mb->info, "lease_ms"));
		/* until = beat + lease: the beat was that long ago. */
		json_object_set_new(m, "heartbeat_ms_ago", json_integer(
		    (json_int_t)(now - (mb->until - lease))));
		json_array_append_new(a, m);
	}
	json_object_set_new(o, "lease_s", json_integer(c->lease_ms / 1000));
	json_object_set_new(o, "leases_held", json_integer((json_int_t)c->held));
	json_object_set_new(o, "instances", a);
	return o;
}
