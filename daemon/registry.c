/*
 * registry.c - run-time watchlists and feeds in Redis, shared by every
 * daemon on it; see registry.h.
 *
 * State flows one way: a command writes Redis (one function call of the
 * wirewatch_rt library: hash, revision, announcement), then reads the
 * whole run-time state back (ww_rt_get, one call, so one consistent
 * snapshot) and hands it to the pipeline.  The pub/sub message makes the
 * other daemons do the same read.  So this daemon's own change and
 * another daemon's look alike, and a lost message costs nothing more than
 * a delay: every (re)connect of either connection reads the state again.
 *
 * The subscription is a second connection of its own (store_subscribe:
 * a subscribed connection can run no other command).  It has no command
 * timeouts (it sends one SUBSCRIBE and then only receives); when it
 * drops, it is made again after a second or so, and the state is read
 * again once it is subscribed.  Under it, every REV_CHECK_MS the
 * revision is read on the main connection and the state read when it
 * moved: a subscription that cannot be made (an ACL that refuses it)
 * or a message lost costs at most that delay.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
#include "wirewatch/registry.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#define AUDIT_MAXLEN "10000"
#define REV_CHECK_MS 15000      /* the revision is compared this often too */
#define NAME_MAX_LEN 128
#define QUERY_MAX_LEN 65536
#define FEED_INTERVAL_DEFAULT 300

static const char lua_library[] =
"#!lua name=wirewatch_rt\n"
"-- ww_rt_put: KEYS hash, rev; ARGV name, value, replace, channel.\n"
"-- 0 when the name exists and replace is not 1, else the new revision.\n"
"redis.register_function('ww_rt_put', function(keys, args)\n"
"  if args[3] ~= '1' and redis.call('HEXISTS', keys[1], args[1]) == 1 then\n"
"    return 0\n"
"  end\n"
"  redis.call('HSET', keys[1], args[1], args[2])\n"
"  local rev = redis.call('INCR', keys[2])\n"
"  redis.call('PUBLISH', args[4], rev)\n"
"  return rev\n"
"end)\n"
"-- ww_rt_del: KEYS hash, rev; ARGV name, channel.  0 when missing.\n"
"redis.register_function('ww_rt_del', function(keys, args)\n"
"  if redis.call('HDEL', keys[1], args[1]) == 0 then return 0 end\n"
"  local rev = redis.call('INCR', keys[2])\n"
"  redis.call('PUBLISH', args[2], rev)\n"
"  return rev\n"
"end)\n"
"-- ww_rt_get: KEYS watchlists, feeds, rev.  {rev, watchlists, feeds}.\n"
"redis.register_function{function_name='ww_rt_get', flags={'no-writes'},\n"
"  callback=function(keys, args)\n"
"  return {tonumber(redis.call('GET', keys[3]) or '0'),\n"
"    redis.call('HGETALL', keys[1]), redis.call('HGETALL', keys[2])}\n"
"end}\n";

struct rt_feed {
	char *name;
	char *url;
	long interval;
	char *added;
	char *by;
};

struct registry {
	struct event_base *base;
	const struct config *cfg;
	struct store *store;
	registry_changed_cb changed;
	void *changed_arg;
	char *k_wl, *k_feeds, *k_rev, *k_audit, *channel;
	long long rev;
	int loaded;
	struct rt_watchlist *wl;
	size_t nwl;
	struct rt_feed *feeds;
	size_t nfeeds;
	struct config *feedcfg;     /* the run-time feeds as a config */
	/* the subscription */
	struct store_sub *sub;
	struct event *rev_timer;    /* the safety net under the subscription */
	int checking_rev;
	int want_sub;
	int dying;
};

/* One mutating command, from validation to its answer. */
struct op {
	struct registry *r;
	registry_done_cb done;
	void *arg;
	struct registry_peer peer;
	char *cmd;          /* "watchlist.add", ... */
	char *name;
	json_t *args;       /* for the audit, secrets masked */
	long long rev;      /* the revision written */
};

static void read_state(struct registry *r, struct op *op);

/* --- state ------------------------------------------------------------- */

static void
watchlists_clear(struct rt_watchlist *v, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].query);
		for (j = 0; j < v[i].nsinks; j++)
			free(v[i].sinks[j]);
		free(v[i].sinks);
		free(v[i].added);
		free(v[i].by);
	}
	free(v);
}

static void
feeds_clear(struct rt_feed *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].url);
		free(v[i].added);
		free(v[i].by);
	}
	free(v);
}

static char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? xstrdup(s) : NULL;
}

static int
by_wl_name(const void *a, const void *b)
{
	return strcmp(((const struct rt_watchlist *)a)->name,
	    ((const struct rt_watchlist *)b)->name);
}

static int
by_feed_name(const void *a, const void *b)
{
	return strcmp(((const struct rt_feed *)a)->name,
	    ((const struct rt_feed *)b)->name);
}

/*
 * Entry i of a flat HGETALL reply of JSON values: its name (*name, *len)
 * and value as JSON (a new reference), or NULL when it is not such an
 * entry.  A value that is not JSON gives an empty object (the caller
 * finds it unreadable and says so).
 */
static json_t *
hash_entry(const struct store_reply *h, size_t i, const char **name,
    size_t *len)
{
	const struct store_reply *k = store_reply_elem(h, i);
	const struct store_reply *v = store_reply_elem(h, i + 1);
	json_error_t jerr;
	const char *text;
	size_t tlen;
	json_t *o;

	if (store_reply_type(k) != STORE_STRING ||
	    store_reply_type(v) != STORE_STRING)
		return NULL;
	*name = store_reply_str(k, len);
	text = store_reply_str(v, &tlen);
	o = json_loadb(text, tlen, 0, &jerr);
	return o != NULL ? o : json_object();
}

/* A flat HGETALL reply of JSON values: entries that do not decode are skipped. */
static void
parse_watchlists(struct registry *r, const struct store_reply *h)
{
	struct rt_watchlist *v, *w;
	const json_t *s;
	const char *name;
	size_t i, j, n = 0, len;
	json_t *o;

	v = xcalloc(store_reply_len(h) / 2 + 1, sizeof *v);
	for (i = 0; i + 1 < store_reply_len(h); i += 2) {
		if ((o = hash_entry(h, i, &name, &len)) == NULL)
			continue;
		if (!json_is_string(json_object_get(o, "query")) ||
		    !json_is_array(json_object_get(o, "sinks"))) {
			log_warn("registry: run-time watchlist \"%.*s\" in %s is not "
			    "readable; ignored", (int)len, name, r->k_wl);
			json_decref(o);
			continue;
		}
		w = &v[n++];
		w->name = xstrndup(name, len);
		w->query = jstr(o, "query");
		w->added = jstr(o, "added");
		w->by = jstr(o, "by");
		w->sinks = xcalloc(json_array_size(json_object_get(o, "sinks")) + 1,
		    sizeof *w->sinks);
		json_array_foreach(json_object_get(o, "sinks"), j, s)
			if (json_is_string(s))
				w->sinks[w->nsinks++] = xstrdup(json_string_value(s));
		json_decref(o);
	}
	qsort(v, n, sizeof *v, by_wl_name);
	watchlists_clear(r->wl, r->nwl);
	r->wl = v;
	r->nwl = n;
}

static void
parse_feeds(struct registry *r, const struct store_reply *h)
{
	struct rt_feed *v, *f;
	const char *name;
	size_t i, n = 0, len;
	json_t *o;

	v = xcalloc(store_reply_len(h) / 2 + 1, sizeof *v);
	for (i = 0; i + 1 < store_reply_len(h); i += 2) {
		if ((o = hash_entry(h, i, &name, &len)) == NULL)
			continue;
		if (!json_is_string(json_object_get(o, "url")) ||
		    !util_is_http_url(json_string_value(json_object_get(o, "url")))) {
			log_warn("registry: run-time feed \"%.*s\" in %s is not "
			    "readable; ignored", (int)len, name, r->k_feeds);
			json_decref(o);
			continue;
		}
		f = &v[n++];
		f->name = xstrndup(name, len);
		f->url = jstr(o, "url");
		f->interval = (long)json_integer_value(json_object_get(o, "interval"));
		if (f->interval <= 0)
			f->interval = FEED_INTERVAL_DEFAULT;
		f->added = jstr(o, "added");
		f->by = jstr(o, "by");
		json_decref(o);
	}
	qsort(v, n, sizeof *v, by_feed_name);
	feeds_clear(r->feeds, r->nfeeds);
	r->feeds = v;
	r->nfeeds = n;
}

/*
 * The run-time feeds as a config holding only feeds, their defaults
 * (min/max interval, max-items, backfill) resolved as the loader does
 * for the running config's [daemon].
 */
static void
build_feedcfg(struct registry *r)
{
	struct config *c;
	struct cfg_feed *f;
	size_t i;

	config_free(r->feedcfg);
	r->feedcfg = NULL;
	if (r->nfeeds == 0)
		return;
	c = xcalloc(1, sizeof *c);
	c->refs = 1;
	c->path = xstrdup("(run time)");
	c->feeds = xcalloc(r->nfeeds, sizeof *c->feeds);
	for (i = 0; i < r->nfeeds; i++) {
		f = &c->feeds[i];
		f->name = xstrdup(r->feeds[i].name);
		f->url = xstrdup(r->feeds[i].url);
		f->interval = r->feeds[i].interval;
		f->min_interval = f->interval / 4 > 30 ? f->interval / 4 :
		    f->interval < 30 ? f->interval : 30;
		f->max_interval = f->interval * 4;
		f->max_items = r->cfg->max_items;
		f->backfill = r->cfg->backfill;
	}
	c->nfeeds = r->nfeeds;
	r->feedcfg = c;
}

/* --- audit -------------------------------------------------------------- */

static void
registry_audit_cb(const struct store_reply *reply, const char *error, void *arg)
{
	(void)reply;
	(void)arg;
	if (error != NULL)
		log_warn("audit: not written to the audit stream: %s", error);
}

/* A journal line and a capped stream entry: who, what, outcome. */
static void
audit(struct op *op, const char *error)
{
	struct registry *r = op->r;
	const char *argv[20];
	char when[32], uid[24], pid[24], *args;
	int argc = 0;

	args = json_dumps(op->args, JSON_COMPACT | JSON_SORT_KEYS);
	if (args == NULL)
		fatal("audit: cannot serialize (out of memory)");
	log_notice("audit: uid %u pid %d: %s %s: %s%s", (unsigned)op->peer.uid,
	    (int)op->peer.pid, op->cmd, args, error ? "refused: " : "ok",
	    error ? error : "");
	util_format_time(time(NULL), when, sizeof when);
	snprintf(uid, sizeof uid, "%u", (unsigned)op->peer.uid);
	snprintf(pid, sizeof pid, "%d", (int)op->peer.pid);
	argv[argc++] = "XADD";
	argv[argc++] = r->k_audit;
	argv[argc++] = "MAXLEN";
	argv[argc++] = "~";
	argv[argc++] = AUDIT_MAXLEN;
	argv[argc++] = "*";
	argv[argc++] = "time";
	argv[argc++] = when;
	argv[argc++] = "instance";
	argv[argc++] = r->cfg->instance;
	argv[argc++] = "uid";
	argv[argc++] = uid;
	argv[argc++] = "pid";
	argv[argc++] = pid;
	argv[argc++] = "cmd";
	argv[argc++] = op->cmd;
	argv[argc++] = "args";
	argv[argc++] = args;
	argv[argc++] = "result";
	argv[argc++] = error != NULL ? error : "ok";
	if (store_is_up(r->store))
		store_command(r->store, registry_audit_cb, NULL, argc, argv);
	else
		log_warn("audit: redis is down: the entry above is only in the log");
	free(args);
}

static struct op *
op_new(struct registry *r, const struct registry_peer *peer, const char *cmd,
    const char *name, registry_done_cb done, void *arg)
{
	struct op *op = xcalloc(1, sizeof *op);

	op->r = r;
	op->done = done;
	op->arg = arg;
	op->peer = *peer;
	op->cmd = xstrdup(cmd);
	op->name = xstrdup(name != NULL ? name : "");
	op->args = json_object();
	json_object_set_new(op->args, "name", alert_json_string(op->name));
	return op;
}

/* Audits, answers and frees op: fields (taken) or error. */
static void
op_finish(struct op *op, json_t *fields, const char *error)
{
	audit(op, error);
	op->done(error == NULL ? fields : NULL, error, op->arg);
	if (error != NULL)
		json_decref(fields);
	json_decref(op->args);
	free(op->cmd);
	free(op->name);
	free(op);
}

static void
op_fail(struct op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
op_fail(struct op *op, const char *fmt, ...)
{
	char msg[WW_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	op_finish(op, NULL, msg);
}

void
registry_audit(struct registry *r, const struct registry_peer *peer,
    const char *cmd, json_t *args, const char *error)
{
	struct op op;

	memset(&op, 0, sizeof op);
	op.r = r;
	op.peer = *peer;
	op.cmd = (char *)cmd;
	op.args = args != NULL ? args : json_object();
	audit(&op, error);
	json_decref(op.args);
}

/* --- reading the state back --------------------------------------------- */

struct read_req {
	struct registry *r;
	struct op *op;      /* a command waiting for its change to apply */
};

static void
registry_read_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct read_req *q = arg;
	struct registry *r = q->r;
	struct op *op = q->op;
	json_t *fields;
	long long rev;

	free(q);
	if (r->dying) {
		if (op != NULL)
			op_finish(op, NULL, "the daemon is stopping");
		return;
	}
	if (error != NULL || store_reply_len(reply) != 3 ||
	    store_reply_type(store_reply_elem(reply, 0)) != STORE_INT ||
	    store_reply_type(store_reply_elem(reply, 1)) != STORE_ARRAY ||
	    store_reply_type(store_reply_elem(reply, 2)) != STORE_ARRAY) {
		log_warn("registry: cannot read the run-time watchlists and feeds: %s",
		    error != NULL ? error : "unexpected reply");
		if (op != NULL)
			op_fail(op, "stored (revision %lld), but not read back: %s; it "
			    "applies when Redis answers again", op->rev,
			    error != NULL ? error : "unexpected reply");
		return;
	}
	rev = store_reply_int(store_reply_elem(reply, 0));
	if (!r->loaded || rev != r->rev) {
		parse_watchlists(r, store_reply_elem(reply, 1));
		parse_feeds(r, store_reply_elem(reply, 2));
		build_feedcfg(r);
		if (!r->loaded || r->nwl + r->nfeeds > 0 || rev != r->rev)
			log_info("registry: run-time revision %lld: %zu watchlist%s, "
			    "%zu feed%s", rev, r->nwl, r->nwl == 1 ? "" : "s",
			    r->nfeeds, r->nfeeds == 1 ? "" : "s");
		r->rev = rev;
		r->loaded = 1;
		r->changed(r->changed_arg);
	}
	if (op != NULL) {
		fields = json_object();
		json_object_set_new(fields, "name", alert_json_string(op->name));
		json_object_set_new(fields, "revision", json_integer((json_int_t)op->rev));
		op_finish(op, fields, NULL);
	}
}

static void
read_state(struct registry *r, struct op *op)
{
	struct read_req *q = xmalloc(sizeof *q);
	const char *argv[6] = { "FCALL", "ww_rt_get", "3", r->k_wl, r->k_feeds,
	    r->k_rev };

	q->r = r;
	q->op = op;
	store_command(r->store, registry_read_cb, q, 6, argv);
}

static void
registry_setup_cb(const struct store_reply *reply, const char *error, void *arg)
{
	(void)reply;
	(void)arg;
	if (error != NULL)
		log_err("registry: loading the wirewatch_rt functions: %s", error);
}

void
registry_setup(struct registry *r)
{
	const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE", lua_library };

	store_command(r->store, registry_setup_cb, r, 4, argv);
	read_state(r, NULL);
}

/* --- the subscription ------------------------------------------------------ */

/* Subscribed (again: whatever was announced meanwhile), or an announcement. */
static void
registry_announced_cb(const char *message, void *arg)
{
	struct registry *r = arg;

	if (r->dying)
		return;
	if (message != NULL)
		log_debug("registry: %s announces revision %s", r->channel, message);
	if (store_is_up(r->store))
		read_state(r, NULL);
}

static void
registry_rev_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct registry *r = arg;
	long long rev;

	r->checking_rev = 0;
	if (error != NULL || r->dying)
		return;
	rev = store_reply_type(reply) == STORE_STRING ? store_reply_int(reply) : 0;
	if (r->loaded && rev != r->rev) {
		log_info("registry: run-time revision %lld in Redis, %lld here: "
		    "reading it (no announcement was received)", rev, r->rev);
		read_state(r, NULL);
	}
}

static void
registry_rev_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct registry *r = arg;
	const char *argv[2] = { "GET", r->k_rev };

	(void)fd;
	(void)what;
	if (r->checking_rev || !store_is_up(r->store))
		return;
	r->checking_rev = 1;
	store_command(r->store, registry_rev_cb, r, 2, argv);
}

void
registry_subscribe(struct registry *r)
{
	struct timeval tv = { REV_CHECK_MS / 1000, (REV_CHECK_MS % 1000) * 1000 };

	r->want_sub = 1;
	if (r->sub == NULL)
		r->sub = store_subscribe(r->store, r->channel, "registry",
		    registry_announced_cb, r);
	if (r->rev_timer == NULL) {
		r->rev_timer = event_new(r->base, -1, EV_PERSIST, registry_rev_timer_cb, r);
		event_add(r->rev_timer, &tv);
	}
}

/* --- public: lifetime, views -------------------------------------------------- */

struct registry *
registry_new(struct event_base *base, const struct config *cfg, struct store *store,
    registry_changed_cb cb, void *arg)
{
	struct registry *r = xcalloc(1, sizeof *r);

	r->base = base;
	r->cfg = cfg;
	r->store = store;
	r->changed = cb;
	r->changed_arg = arg;
	r->k_wl = keys_name(cfg->prefix, KEY_RT_WATCHLISTS, NULL);
	r->k_feeds = keys_name(cfg->prefix, KEY_RT_FEEDS, NULL);
	r->k_rev = keys_name(cfg->prefix, KEY_RT_REV, NULL);
	r->k_audit = keys_name(cfg->prefix, KEY_AUDIT, NULL);
	r->channel = keys_name(cfg->prefix, KEY_RT_CHANGED, NULL);
	return r;
}

void
registry_free(struct registry *r)
{
	if (r == NULL)
		return;
	r->dying = 1;
	store_sub_free(r->sub);
	if (r->rev_timer != NULL)
		event_free(r->rev_timer);
	watchlists_clear(r->wl, r->nwl);
	feeds_clear(r->feeds, r->nfeeds);
	config_free(r->feedcfg);
	free(r->k_wl);
	free(r->k_feeds);
	free(r->k_rev);
	free(r->k_audit);
	free(r->channel);
	free(r);
}

void
registry_set_config(struct registry *r, const struct config *cfg)
{
	r->cfg = cfg;
	build_feedcfg(r);
}

const struct rt_watchlist *
registry_watchlists(const struct registry *r, size_t *n)
{
	*n = r->nwl;
	return r->wl;
}

long long
registry_revision(const struct registry *r)
{
	return r->rev;
}

struct config *
registry_feeds(const struct registry *r)
{
	return r->feedcfg;
}

/* --- the commands ---------------------------------------------------------------- */

/* A name fit for [watchlist "NAME"] and for a log line: NULL, or why not. */
static const char *
name_problem(const char *name)
{
	const unsigned char *p;

	if (name == NULL || name[0] == '\0')
		return "is empty";
	if (strlen(name) > NAME_MAX_LEN)
		return "is longer than 128 bytes";
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"')
			return "holds a control character or a '\"'";
	return NULL;
}

int
registry_check_query(const struct registry *r, const char *name,
    const char *query, char *err, size_t errlen)
{
	struct matcher *m;
	const unsigned char *p;
	char msg[WW_ERRLEN];
	int rc;

	for (p = (const unsigned char *)query; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "watchlist \"%s\": query: column %zu: a "
			    "control character (the query is one line)", name,
			    (size_t)(p - (const unsigned char *)query) + 1);
			return -1;
		}
	if (query[0] == '\0' || strlen(query) > QUERY_MAX_LEN) {
		snprintf(err, errlen, "watchlist \"%s\": query: %s", name,
		    query[0] == '\0' ? "empty" : "longer than 65536 bytes");
		return -1;
	}
	m = matcher_new(r->cfg->ents);
	rc = matcher_add(m, name, query, msg, sizeof msg);
	matcher_free(m);
	if (rc < 0) {
		snprintf(err, errlen, "watchlist \"%s\": query: %s", name, msg);
		return -1;
	}
	return 0;
}

static void
registry_written_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct op *op = arg;
	int remove = strstr(op->cmd, ".remove") != NULL;
	const char *kind = strncmp(op->cmd, "feed", 4) == 0 ? "feed" : "watchlist";

	if (error != NULL) {
		op_fail(op, "not changed: %s", error);
		return;
	}
	if (store_reply_type(reply) != STORE_INT) {
		op_fail(op, "not changed: unexpected reply from Redis");
		return;
	}
	if (store_reply_int(reply) == 0) {
		if (remove)
			op_fail(op, "no run-time %s \"%s\" (wirewatchctl %ss lists "
			    "them)", kind, op->name, kind);
		else
			op_fail(op, "%s \"%s\" exists (added at run time); add "
			    "--replace to change it", kind, op->name);
		return;
	}
	op->rev = store_reply_int(reply);
	read_state(op->r, op);
}

static char *
who(const struct registry *r, const struct registry_peer *peer)
{
	return xasprintf("uid %u pid %d on %s", (unsigned)peer->uid, (int)peer->pid,
	    r->cfg->instance);
}

static void
write_entry(struct op *op, const char *hash, json_t *value, int replace)
{
	struct registry *r = op->r;
	const char *argv[9];
	char *v;

	if (!store_is_up(r->store)) {
		json_decref(value);
		op_fail(op, "not changed: redis %s is down", store_addr(r->store));
		return;
	}
	v = json_dumps(value, JSON_COMPACT);
	json_decref(value);
	if (v == NULL)
		fatal("registry: cannot serialize (out of memory)");
	argv[0] = "FCALL";
	argv[1] = "ww_rt_put";
	argv[2] = "2";
	argv[3] = hash;
	argv[4] = r->k_rev;
	argv[5] = op->name;
	argv[6] = v;
	argv[7] = replace ? "1" : "0";
	argv[8] = r->channel;
	store_command(r->store, registry_written_cb, op, 9, argv);
	free(v);
}

static void
remove_entry(struct op *op, const char *hash)
{
	struct registry *r = op->r;
	const char *argv[7] = { "FCALL", "ww_rt_del", "2", hash, r->k_rev, op->name,
	    r->channel };

	if (!store_is_up(r->store)) {
		op_fail(op, "not changed: redis %s is down", store_addr(r->store));
		return;
	}
	store_command(r->store, registry_written_cb, op, 7, argv);
}

static json_t *
stamp(const struct registry *r, const struct registry_peer *peer, json_t *v)
{
	char when[32], *by = who(r, peer);

	util_format_time(time(NULL), when, sizeof when);
	json_object_set_new(v, "added", json_string(when));
	json_object_set_new(v, "by", alert_json_string(by));
	free(by);
	return v;
}

void
registry_watchlist_add(struct registry *r, const struct registry_peer *peer,
    const char *name, const char *query, char *const *sinks, size_t nsinks,
    int replace, long long backfill, registry_done_cb done, void *arg)
{
	struct op *op = op_new(r, peer, "watchlist.add", name, done, arg);
	char err[WW_ERRLEN];
	const char *why;
	json_t *v, *a = json_array();
	size_t i;

	for (i = 0; i < nsinks; i++)
		json_array_append_new(a, alert_json_string(sinks[i]));
	json_object_set_new(op->args, "query", alert_json_string(query));
	json_object_set(op->args, "sinks", a);
	json_object_set_new(op->args, "replace", json_boolean(replace));
	if (backfill > 0)
		json_object_set_new(op->args, "backfill", json_integer(backfill));
	if ((why = name_problem(name)) != NULL) {
		json_decref(a);
		op_fail(op, "watchlist name %s", why);
		return;
	}
	if (backfill > 0 && r->cfg->keep_items <= 0) {
		json_decref(a);
		op_fail(op, "--backfill: recent items are not kept ([daemon] "
		    "keep-items = 0); nothing added");
		return;
	}
	if (config_watchlist_index(r->cfg, name) >= 0) {
		json_decref(a);
		op_fail(op, "watchlist \"%s\" comes from the config file (origin: "
		    "config): change it there and reload", name);
		return;
	}
	if (registry_check_query(r, name, query, err, sizeof err) == -1) {
		json_decref(a);
		op_finish(op, NULL, err);
		return;
	}
	if (nsinks == 0) {
		json_decref(a);
		op_fail(op, "watchlist \"%s\": no sinks (--sinks NAME[,NAME...])", name);
		return;
	}
	for (i = 0; i < nsinks; i++)
		if (config_sink_index(r->cfg, sinks[i]) < 0) {
			json_decref(a);
			op_fail(op, "watchlist \"%s\": unknown sink '%s' (wirewatchctl "
			    "sinks lists them)", name, sinks[i]);
			return;
		}
	v = json_object();
	json_object_set_new(v, "query", json_string(query));
	json_object_set_new(v, "sinks", a);
	write_entry(op, r->k_wl, stamp(r, peer, v), replace);
}

void
registry_watchlist_remove(struct registry *r, const struct registry_peer *peer,
    const char *name, registry_done_cb done, void *arg)
{
	struct op *op = op_new(r, peer, "watchlist.remove", name, done, arg);

	if (config_watchlist_index(r->cfg, name) >= 0) {
		op_fail(op, "watchlist \"%s\" comes from the config file (origin: "
		    "config): remove it there and reload", name);
		return;
	}
	remove_entry(op, r->k_wl);
}

void
registry_feed_add(struct registry *r, const struct registry_peer *peer,
    const char *name, const char *url, long interval, int replace,
    registry_done_cb done, void *arg)
{
	struct op *op = op_new(r, peer, "feed.add", name, done, arg);
	const char *why;
	char *masked = util_url_mask(url, 0);
	json_t *v;

	json_object_set_new(op->args, "url", alert_json_string(masked));
	json_object_set_new(op->args, "interval", json_integer(interval));
	json_object_set_new(op->args, "replace", json_boolean(replace));
	free(masked);
	if ((why = name_problem(name)) != NULL) {
		op_fail(op, "feed name %s", why);
		return;
	}
	if (config_feed_index(r->cfg, name) >= 0) {
		op_fail(op, "feed \"%s\" comes from the config file (origin: config): "
		    "change it there and reload", name);
		return;
	}
	if (!util_is_http_url(url)) {
		op_fail(op, "feed \"%s\": url must be http:// or https:// (file:// "
		    "only in the config file)", name);
		return;
	}
	if (interval < 1) {
		op_fail(op, "feed \"%s\": interval must be at least 1s", name);
		return;
	}
	v = json_object();
	json_object_set_new(v, "url", json_string(url));
	json_object_set_new(v, "interval", json_integer(interval));
	write_entry(op, r->k_feeds, stamp(r, peer, v), replace);
}

void
registry_feed_remove(struct registry *r, const struct registry_peer *peer,
    const char *name, registry_done_cb done, void *arg)
{
	struct op *op = op_new(r, peer, "feed.remove", name, done, arg);

	if (config_feed_index(r->cfg, name) >= 0) {
		op_fail(op, "feed \"%s\" comes from the config file (origin: config): "
		    "remove it there and reload", name);
		return;
	}
	remove_entry(op, r->k_feeds);
}

/* --- the watchlist snapshot ------------------------------------------------ */

/*
 * The config's watchlists, then the run-time ones: a run-time watchlist
 * is left out (logged) when the config has its name, names a sink the
 * config does not have, or its query does not compile against the
 * config's entities (a reload can change both).  Without run-time
 * watchlists the config's own matcher is used as it is.
 */
struct wl_snapshot *
registry_snapshot(const struct registry *r, const struct config *cfg)
{
	struct wl_snapshot *s = xcalloc(1, sizeof *s);
	const struct rt_watchlist *w;
	struct wl_entry *e;
	char err[WW_ERRLEN];
	size_t i, j, n, nrt = r != NULL ? r->nwl : 0;
	int idx;

	s->v = xcalloc(cfg->nwatchlists + nrt + 1, sizeof *s->v);
	s->by_index = xcalloc(cfg->nwatchlists + nrt + 1, sizeof *s->by_index);
	for (i = 0; i < cfg->nwatchlists; i++) {
		e = &s->v[s->n++];
		e->name = cfg->watchlists[i].name;
		e->query = cfg->watchlists[i].query;
		e->group_items = cfg->watchlists[i].group_items;
		e->nsinks = cfg->watchlists[i].nsinks;
		e->sinks = xcalloc(e->nsinks + 1, sizeof *e->sinks);
		for (j = 0; j < e->nsinks; j++)
			e->sinks[j] = cfg->sinks[cfg->watchlists[i].sinks[j]].name;
		s->by_index[cfg->watchlists[i].index] = e;
	}
	s->matcher = cfg->matcher;
	for (i = 0; i < nrt; i++) {
		w = &r->wl[i];
		if (config_watchlist_index(cfg, w->name) >= 0) {
			log_warn("registry: run-time watchlist \"%s\" is hidden by the "
			    "config file's watchlist of that name", w->name);
			continue;
		}
		for (j = 0; j < w->nsinks && config_sink_index(cfg, w->sinks[j]) >= 0; j++)
			;
		if (j < w->nsinks) {
			log_warn("registry: run-time watchlist \"%s\" is not used here: "
			    "this daemon has no sink \"%s\"", w->name, w->sinks[j]);
			continue;
		}
		if (!s->own_matcher) {
			/* The config's watchlists first, at their own indexes. */
			s->matcher = matcher_new(cfg->ents);
			s->own_matcher = 1;
			memset(s->by_index, 0, (cfg->nwatchlists + nrt + 1) *
			    sizeof *s->by_index);
			for (n = 0; n < cfg->nwatchlists; n++) {
				idx = matcher_add(s->matcher, s->v[n].name, s->v[n].query,
				    err, sizeof err);
				if (idx < 0)
					fatal("watchlist \"%s\": a query that compiled "
					    "does not: %s", s->v[n].name, err);
				s->by_index[idx] = &s->v[n];
			}
		}
		idx = matcher_add(s->matcher, w->name, w->query, err, sizeof err);
		if (idx < 0) {
			log_warn("registry: run-time watchlist \"%s\" is not used here: "
			    "query: %s", w->name, err);
			continue;
		}
		e = &s->v[s->n++];
		e->name = w->name;
		e->query = w->query;
		e->nsinks = w->nsinks;
		e->sinks = xcalloc(e->nsinks + 1, sizeof *e->sinks);
		for (j = 0; j < e->nsinks; j++)
			e->sinks[j] = w->sinks[j];
		e->rt = w;
		s->by_index[idx] = e;
	}
	return s;
}

void
wl_snapshot_free(struct wl_snapshot *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->v[i].sinks);
	if (s->own_matcher)
		matcher_free(s->matcher);
	free(s->v);
	free(s->by_index);
	free(s);
}
