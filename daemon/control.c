/*
 * control.c - the control socket server: a unix stream socket, JSON lines,
 * peer credentials, the command table (control.h, docs/control.md).
 *
 * Every connection is one struct control_conn around a bufferevent; it
 * lives in the server's list until it is dead, and the server's reaper
 * frees dead connections from a later loop turn, never inside their own
 * callbacks.  A connection is OPEN (reading requests), FLUSH (its last
 * reply is queued: what it still sends is discarded), LINGER (the reply
 * is out and our side is shut down: input is discarded until its end of
 * file, so that closing does not turn into a reset that could destroy
 * the reply in flight), or DEAD.
 *
 * Requests are taken from a connection's input one line at a time, at
 * most CONTROL_BATCH per loop turn, and only while its unread replies
 * stay under CONTROL_OUT_HIGH: a client that writes without reading
 * costs a bounded buffer and is dropped when it reads nothing for
 * CONTROL_STALL_S seconds; the loop keeps polling and serving others.
 *
 * A command is one row of the verbs[] table and one function that gets
 * the decoded request and returns the reply's members (merged after
 * "ok":true) or NULL with an error.  Rows marked write change the daemon
 * and are refused to read-only peers; the dispatcher checks that and the
 * argument names before the function runs.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "control_internal.h"
#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/control.h"
#include "wirewatch/log.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/recent.h"
#include "wirewatch/registry.h"
#include "wirewatch/reload.h"
#include "wirewatch/util.h"

#define CONTROL_LINGER_S 5      /* waiting for a closed client's end of file */
#define REFUSALS_LOGGED 10      /* refusal lines per minute; then a count */
#define REFUSE_DRAIN 16         /* reads of 4 KiB before closing a refused peer */

enum level { LEVEL_NONE, LEVEL_READ, LEVEL_ALL };

enum conn_state { CONN_OPEN, CONN_FLUSH, CONN_LINGER, CONN_DEAD };

struct control_conn {
	struct control *c;
	struct bufferevent *bev;
	TAILQ_ENTRY(control_conn) entry;
	uid_t uid;
	pid_t pid;
	enum level level;
	enum conn_state state;
	int eof;               /* the peer sends nothing more */
	int throttled;         /* not reading: too many unread replies */
	size_t scanned;        /* input bytes known to hold no '\n' */
	struct event *more;    /* the next batch of buffered requests */
	struct control_later *later; /* a reply to come: requests wait for it */
	int dispatching;       /* a command function is running */
	int deferred;          /* ... and it called control_later() */
};

/* A reply that a command gives later (control_later()). */
struct control_later {
	struct control_conn *cl;  /* NULL once the connection is gone */
	json_t *id;
};

struct control {
	struct event_base *base;
	const struct config *cfg;
	struct pipeline *p;
	char *path;
	dev_t dev;             /* of the socket file made here, so that */
	ino_t ino;             /* exit removes only that one */
	struct evconnlistener *listener;
	struct event *resume;  /* accepting again after EMFILE */
	struct event *reaper;  /* frees dead connections */
	TAILQ_HEAD(, control_conn) conns;
	size_t nconns;
	uid_t uid;
	gid_t group, read_group;
	int has_group, has_read_group;
	time_t started;
	uint64_t started_ms;
	time_t log_window;     /* refusal logging: this minute's start, */
	unsigned logged;       /* lines logged in it, */
	unsigned suppressed;   /* and refusals not logged */
};

static void conn_process(struct control_conn *cl);

/* --- the request decoder (pure: unit-tested and fuzzed) ----------------- */

int
control_decode(const char *line, size_t len, struct control_request *out,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o, *v, *cmd, *id;
	size_t i, n;

	memset(out, 0, sizeof *out);
	if (len > CONTROL_MAX_LINE) {
		snprintf(err, errlen, "request line too long (%zu bytes, at most %d)",
		    len, CONTROL_MAX_LINE);
		return -1;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			break;
	if (i == len) {
		snprintf(err, errlen, "empty request (send one JSON object per line, "
		    "such as {\"v\":1,\"cmd\":\"help\"})");
		return -1;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (o == NULL) {
		snprintf(err, errlen, "bad JSON at column %d: %s", jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_object(o)) {
		snprintf(err, errlen, "a request is a JSON object, such as "
		    "{\"v\":1,\"cmd\":\"status\"}");
		goto fail;
	}
	if ((v = json_object_get(o, "v")) == NULL) {
		snprintf(err, errlen, "missing \"v\" (the protocol version, %d)",
		    CONTROL_VERSION);
		goto fail;
	}
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "\"v\" must be a number: the protocol version, %d",
		    CONTROL_VERSION);
		goto fail;
	}
	if (json_integer_value(v) != CONTROL_VERSION) {
		snprintf(err, errlen, "unsupported protocol version %lld (this daemon "
		    "speaks %d)", (long long)json_integer_value(v), CONTROL_VERSION);
		goto fail;
	}
	if ((cmd = json_object_get(o, "cmd")) == NULL) {
		snprintf(err, errlen, "missing \"cmd\" (try \"help\")");
		goto fail;
	}
	if (!json_is_string(cmd)) {
		snprintf(err, errlen, "\"cmd\" must be a string");
		goto fail;
	}
	n = json_string_length(cmd);
	if (n == 0 || n > CONTROL_CMD_MAX || strspn(json_string_value(cmd),
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != n) {
		snprintf(err, errlen, "bad \"cmd\" (1 to %d of a-z, 0-9, '.', '_', '-')",
		    CONTROL_CMD_MAX);
		goto fail;
	}
	id = json_object_get(o, "id");
	if (id != NULL && !json_is_integer(id) &&
	    !(json_is_string(id) && json_string_length(id) <= CONTROL_ID_MAX)) {
		snprintf(err, errlen, "\"id\" must be an integer or a string of at most "
		    "%d bytes", CONTROL_ID_MAX);
		goto fail;
	}
	memcpy(out->cmd, json_string_value(cmd), n + 1);
	out->req = o;
	out->id = id;
	return 0;
fail:
	json_decref(o);
	return -1;
}

void
control_request_clear(struct control_request *r)
{
	json_decref(r->req);
	memset(r, 0, sizeof *r);
}

/* --- commands ------------------------------------------------------------ */

typedef json_t *(*verb_fn)(struct control_conn *, const struct control_request *,
    char *, size_t);

static json_t *verb_help(struct control_conn *, const struct control_request *,
    char *, size_t);

static json_t *
verb_ping(struct control_conn *cl, const struct control_request *req, char *err,
    size_t errlen)
{
	json_t *o = json_object();

	(void)cl;
	(void)req;
	(void)err;
	(void)errlen;
	json_object_set_new(o, "version", json_string(WW_VERSION));
	return o;
}

static json_t *
verb_status(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	struct control *c = cl->c;
	json_t *o = json_object(), *view;
	char started[32];

	(void)err;
	(void)errlen;
	util_format_time(c->started, started, sizeof started);
	json_object_set_new(o, "version", json_string(WW_VERSION));
	json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(o, "started", json_string(started));
	json_object_set_new(o, "uptime",
	    json_integer((json_int_t)((util_now_ms() - c->started_ms) / 1000)));
	view = pipeline_status_json(c->p);
	json_object_update(o, view);
	json_decref(view);
	json_object_set_new(o, "control_clients", json_integer((json_int_t)c->nconns));
	return control_status_redis(cl, req, o);
}

/* The reply {"NAME": view}: feeds, watchlists, sinks. */
static json_t *
wrap(const char *name, json_t *view)
{
	json_t *o = json_object();

	json_object_set_new(o, name, view);
	return o;
}

static json_t *
verb_feeds(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	return wrap("feeds", pipeline_feeds_json(cl->c->p));
}

static json_t *
verb_watchlists(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	return wrap("watchlists", pipeline_watchlists_json(cl->c->p));
}

static json_t *
verb_sinks(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	return wrap("sinks", pipeline_sinks_json(cl->c->p));
}

static json_t *
verb_reload(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	struct registry_peer pr = { cl->uid, cl->pid };
	json_t *summary;

	(void)req;
	summary = reload_run(cl->c->p, err, errlen);
	registry_audit(pipeline_registry(cl->c->p), &pr, "reload", NULL,
	    summary != NULL ? NULL : err);
	return summary;
}

static void
control_registry_done_cb(json_t *fields, const char *error, void *arg)
{
	control_later_reply(arg, fields, error);
}

/*
 * watchlist.add with a backfill: once the watchlist is in effect, its
 * query runs over the recent items of the window (recent.h) and the
 * answer waits for that walk.
 */
struct add_backfill {
	struct control_later *later;
	struct pipeline *p;
	char *name, *query;
	char **sinks;
	size_t nsinks;
	long long since;
	json_t *fields;
};

static void
add_backfill_free(struct add_backfill *b)
{
	size_t i;

	free(b->name);
	free(b->query);
	for (i = 0; i < b->nsinks; i++)
		free(b->sinks[i]);
	free(b->sinks);
	free(b);
}

static void
control_backfilled_cb(const struct recent_backfill_stats *st, const char *error,
    void *arg)
{
	struct add_backfill *b = arg;
	json_t *o = json_object();
	char msg[WW_ERRLEN];

	json_object_set_new(o, "items", json_integer((json_int_t)st->items));
	json_object_set_new(o, "matched", json_integer((json_int_t)st->matched));
	json_object_set_new(o, "queued", json_integer((json_int_t)st->queued));
	json_object_set_new(o, "skipped", json_integer((json_int_t)st->skipped));
	json_object_set_new(o, "alerts", json_integer((json_int_t)st->alerts));
	log_notice("watchlist \"%s\": backfill of %llds: %zu kept items, %zu "
	    "matching, %zu alerted now, %zu had alerted before%s%s", b->name,
	    b->since, st->items, st->matched, st->queued, st->skipped,
	    error ? "; stopped: " : "", error ? error : "");
	if (error != NULL) {
		json_decref(o);
		json_decref(b->fields);
		snprintf(msg, sizeof msg, "watchlist \"%s\" added, but its backfill "
		    "stopped after %zu kept items (%zu alerted): %s; add it again with "
		    "--replace --backfill to finish (nothing alerts twice)", b->name,
		    st->items, st->queued, error);
		control_later_reply(b->later, NULL, msg);
	} else {
		json_object_set_new(b->fields, "backfill", o);
		control_later_reply(b->later, b->fields, NULL);
	}
	add_backfill_free(b);
}

static void
control_added_cb(json_t *fields, const char *error, void *arg)
{
	struct add_backfill *b = arg;
	char err[WW_ERRLEN];

	if (error != NULL) {
		control_later_reply(b->later, NULL, error);
		add_backfill_free(b);
		return;
	}
	b->fields = fields;
	if (recent_backfill(pipeline_recent(b->p), b->name, b->query,
	    (const char *const *)b->sinks, b->nsinks, b->since,
	    control_backfilled_cb, b, err, sizeof err) == -1) {
		json_decref(fields);
		control_later_reply(b->later, NULL, err);
		add_backfill_free(b);
	}
}

/* --- run-time watchlists and feeds (registry.c) ---------------------------- */

/* A string argument, required. */
static const char *
arg_str(const struct control_request *req, const char *key, char *err, size_t errlen)
{
	const json_t *v = json_object_get(req->req, key);

	if (v == NULL || !json_is_string(v)) {
		snprintf(err, errlen, "'%s' needs \"%s\": a string", req->cmd, key);
		return NULL;
	}
	return json_string_value(v);
}

static int
arg_bool(const struct control_request *req, const char *key, int *out, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(req->req, key);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "\"%s\" must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static struct registry_peer
peer(const struct control_conn *cl)
{
	struct registry_peer pr = { cl->uid, cl->pid };

	return pr;
}

static json_t *
verb_watchlist_add(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	const char *name, *query;
	const json_t *sv, *x;
	struct registry_peer pr = peer(cl);
	char **sinks = NULL, *list = NULL, *tok, *save = NULL;
	size_t n = 0, i;
	const json_t *bv = json_object_get(req->req, "backfill");
	struct add_backfill *b;
	long long backfill = 0;
	int replace;

	if ((name = arg_str(req, "name", err, errlen)) == NULL ||
	    (query = arg_str(req, "query", err, errlen)) == NULL ||
	    arg_bool(req, "replace", &replace, err, errlen) == -1)
		return NULL;
	if (json_is_integer(bv))
		backfill = json_integer_value(bv);
	else if (json_is_string(bv))
		backfill = util_parse_duration(json_string_value(bv));
	else if (bv != NULL)
		backfill = -1;
	if (backfill < 0 || (bv != NULL && backfill == 0)) {
		snprintf(err, errlen, "bad \"backfill\" (a duration such as 6h, or "
		    "seconds; at least 1s)");
		return NULL;
	}
	sv = json_object_get(req->req, "sinks");
	if (json_is_string(sv)) {
		list = xstrdup(json_string_value(sv));
		sinks = xcalloc(strlen(list) + 1, sizeof *sinks);
		for (tok = strtok_r(list, ", \t", &save); tok != NULL;
		    tok = strtok_r(NULL, ", \t", &save))
			sinks[n++] = tok;
	} else if (json_is_array(sv)) {
		sinks = xcalloc(json_array_size(sv) + 1, sizeof *sinks);
		json_array_foreach(sv, i, x) {
			if (!json_is_string(x)) {
				free(sinks);
				snprintf(err, errlen, "\"sinks\" must be sink names");
				return NULL;
			}
			sinks[n++] = (char *)json_string_value(x);
		}
	} else {
		snprintf(err, errlen, "'watchlist.add' needs \"sinks\": a list of sink "
		    "names");
		return NULL;
	}
	if (backfill == 0) {
		registry_watchlist_add(pipeline_registry(cl->c->p), &pr, name, query,
		    sinks, n, replace, 0, control_registry_done_cb,
		    control_later(cl, req));
	} else {
		b = xcalloc(1, sizeof *b);
		b->p = cl->c->p;
		b->name = xstrdup(name);
		b->query = xstrdup(query);
		b->sinks = xcalloc(n + 1, sizeof *b->sinks);
		for (i = 0; i < n; i++)
			b->sinks[i] = xstrdup(sinks[i]);
		b->nsinks = n;
		b->since = backfill;
		b->later = control_later(cl, req);
		registry_watchlist_add(pipeline_registry(cl->c->p), &pr, name, query,
		    sinks, n, replace, backfill, control_added_cb, b);
	}
	free(sinks);
	free(list);
	return NULL;
}

static json_t *
verb_watchlist_remove(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	struct registry_peer pr = peer(cl);
	const char *name;

	if ((name = arg_str(req, "name", err, errlen)) == NULL)
		return NULL;
	registry_watchlist_remove(pipeline_registry(cl->c->p), &pr, name,
	    control_registry_done_cb, control_later(cl, req));
	return NULL;
}

static json_t *
verb_watchlist_show(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	const char *name;
	json_t *w;

	if ((name = arg_str(req, "name", err, errlen)) == NULL)
		return NULL;
	if ((w = pipeline_watchlist_json(cl->c->p, name)) == NULL) {
		snprintf(err, errlen, "no watchlist \"%.200s\" (wirewatchctl watchlists "
		    "lists them)", name);
		return NULL;
	}
	return wrap("watchlist", w);
}

static json_t *
verb_watchlist_export(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	char *text = pipeline_watchlists_export(cl->c->p);
	json_t *o;

	(void)req;
	(void)err;
	(void)errlen;
	o = wrap("text", alert_json_string(text));
	free(text);
	return o;
}

static json_t *
verb_feed_add(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	struct registry_peer pr = peer(cl);
	const char *name, *url;
	const json_t *iv = json_object_get(req->req, "interval");
	long long interval = 300;
	int replace;

	if ((name = arg_str(req, "name", err, errlen)) == NULL ||
	    (url = arg_str(req, "url", err, errlen)) == NULL ||
	    arg_bool(req, "replace", &replace, err, errlen) == -1)
		return NULL;
	if (json_is_integer(iv))
		interval = json_integer_value(iv);
	else if (json_is_string(iv))
		interval = util_parse_duration(json_string_value(iv));
	else if (iv != NULL)
		interval = -1;
	if (interval < 1 || interval > 365 * 86400LL) {
		snprintf(err, errlen, "bad \"interval\" (seconds, or a duration such "
		    "as 5m; at least 1s)");
		return NULL;
	}
	registry_feed_add(pipeline_registry(cl->c->p), &pr, name, url, (long)interval,
	    replace, control_registry_done_cb, control_later(cl, req));
	return NULL;
}

static json_t *
verb_feed_remove(struct control_conn *cl, const struct control_request *req,
    char *err, size_t errlen)
{
	struct registry_peer pr = peer(cl);
	const char *name;

	if ((name = arg_str(req, "name", err, errlen)) == NULL)
		return NULL;
	registry_feed_remove(pipeline_registry(cl->c->p), &pr, name,
	    control_registry_done_cb, control_later(cl, req));
	return NULL;
}

/*
 * The commands.  A new one is a row here and its function: write when it
 * changes the daemon (control-group and the daemon's own user only),
 * args the names of the arguments it takes (space-separated; anything
 * else is refused before the function runs).
 */
static const struct verb {
	const char *name;
	int write;
	const char *args;
	verb_fn fn;
	const char *help;
} verbs[] = {
	{ "help", 0, "", verb_help, "the commands" },
	{ "ping", 0, "", verb_ping, "is the daemon there" },
	{ "status", 0, "", verb_status, "version, uptime, Redis, feed health, outbox" },
	{ "feeds", 0, "", verb_feeds, "every feed: state, last success, last error" },
	{ "watchlists", 0, "", verb_watchlists, "every watchlist: query and sinks" },
	{ "sinks", 0, "", verb_sinks, "every sink: type and masked URL" },
	{ "reload", 1, "", verb_reload, "read the config file again and apply it "
	    "(all of it valid, or nothing changes)" },
	{ "watchlist.add", 1, "name query sinks replace backfill", verb_watchlist_add,
	    "add a run-time watchlist (kept in Redis, shared by every daemon on it); "
	    "backfill: alert on the recent items of that window too" },
	{ "watchlist.remove", 1, "name", verb_watchlist_remove,
	    "remove a run-time watchlist" },
	{ "watchlist.show", 0, "name", verb_watchlist_show,
	    "one watchlist: query, sinks, origin, alerts sent, last alert" },
	{ "watchlist.export", 0, "", verb_watchlist_export,
	    "the run-time watchlists as config text" },
	{ "feed.add", 1, "name url interval replace", verb_feed_add,
	    "add a run-time feed (kept in Redis, shared by every daemon on it)" },
	{ "feed.remove", 1, "name", verb_feed_remove, "remove a run-time feed" },
	{ "watchlist.test", 0, "query since", control_watchlist_test,
	  "a query over the recent items: the hits, explained; sends nothing" },
	{ "deliveries", 0, "failed", control_deliveries,
	  "alerts queued, being delivered, waiting for a retry; or the dead letters" },
	{ "replay", 1, "ids failed sink", control_replay,
	  "dead letters (or waiting retries, by id) back into the outbox" },
};

static json_t *
verb_help(struct control_conn *cl, const struct control_request *req, char *err,
    size_t errlen)
{
	json_t *a = json_array(), *o, *args;
	const char *p, *q;
	size_t i;

	(void)cl;
	(void)req;
	(void)err;
	(void)errlen;
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		o = json_object();
		args = json_array();
		for (p = verbs[i].args; *p != '\0'; p = *q ? q + 1 : q) {
			q = p + strcspn(p, " ");
			json_array_append_new(args, json_stringn(p, (size_t)(q - p)));
		}
		json_object_set_new(o, "cmd", json_string(verbs[i].name));
		json_object_set_new(o, "write", json_boolean(verbs[i].write));
		json_object_set_new(o, "args", args);
		json_object_set_new(o, "help", json_string(verbs[i].help));
		json_array_append_new(a, o);
	}
	return wrap("commands", a);
}

static const struct verb *
verb_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

/* 1 when word is one of the space-separated words of list. */
static int
word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	const char *p;

	for (p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

static int
check_args(const struct verb *v, const struct control_request *req, char *err,
    size_t errlen)
{
	const char *key;
	json_t *val;

	json_object_foreach(req->req, key, val) {
		if (!strcmp(key, "v") || !strcmp(key, "cmd") || !strcmp(key, "id"))
			continue;
		if (key[0] == '\0' || !word_in(key, v->args)) {
			snprintf(err, errlen, "'%s' takes no argument '%.64s'", v->name, key);
			return -1;
		}
	}
	return 0;
}

/* --- replies --------------------------------------------------------------- */

static int
dump_cb(const char *buffer, size_t size, void *arg)
{
	return evbuffer_add(arg, buffer, size);
}

/* One reply line: fields (taken, may be NULL) on success, else error. */
static void
conn_reply(struct control_conn *cl, json_t *id, json_t *fields, const char *error)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);
	json_t *r = json_object();

	json_object_set_new(r, "ok", json_boolean(error == NULL));
	if (id != NULL)
		json_object_set(r, "id", id);
	if (error != NULL)
		json_object_set_new(r, "error", alert_json_string(error));
	else if (fields != NULL)
		json_object_update(r, fields);
	if (json_dump_callback(r, dump_cb, out, JSON_COMPACT) == -1)
		fatal("control: cannot serialize a reply (out of memory)");
	evbuffer_add(out, "\n", 1);
	json_decref(r);
	json_decref(fields);
}

static void
conn_request(struct control_conn *cl, const char *line, size_t len)
{
	struct control_request req;
	const struct verb *v;
	char err[WW_ERRLEN];
	json_t *fields;

	if (control_decode(line, len, &req, err, sizeof err) == -1) {
		conn_reply(cl, NULL, NULL, err);
		return;
	}
	fields = NULL;
	if ((v = verb_find(req.cmd)) == NULL) {
		snprintf(err, sizeof err, "unknown command '%s' (try \"help\")", req.cmd);
	} else if (v->write && cl->level != LEVEL_ALL) {
		log_warn("control: uid %u pid %d: '%s' refused: read-only access "
		    "(control-read-group)", (unsigned)cl->uid, (int)cl->pid, v->name);
		snprintf(err, sizeof err, "permission denied");
	} else if (check_args(v, &req, err, sizeof err) == 0) {
		cl->dispatching = 1;
		cl->deferred = 0;
		fields = v->fn(cl, &req, err, sizeof err);
		cl->dispatching = 0;
		if (cl->deferred) {
			/* Answered by control_later_reply(), maybe already. */
			json_decref(fields);
			control_request_clear(&req);
			return;
		}
	}
	conn_reply(cl, req.id, fields, fields != NULL ? NULL : err);
	control_request_clear(&req);
}

/* --- connections ----------------------------------------------------------- */

static void
conn_kill(struct control_conn *cl)
{
	static const struct timeval zero = { 0, 0 };

	if (cl->state == CONN_DEAD)
		return;
	cl->state = CONN_DEAD;
	bufferevent_disable(cl->bev, EV_READ | EV_WRITE);
	evtimer_del(cl->more);
	evtimer_add(cl->c->reaper, &zero);
}

static void
conn_free(struct control_conn *cl)
{
	if (cl->later != NULL)
		cl->later->cl = NULL;
	TAILQ_REMOVE(&cl->c->conns, cl, entry);
	cl->c->nconns--;
	event_free(cl->more);
	bufferevent_free(cl->bev);
	free(cl);
}

/* The reply is out: shut our side, discard input until its end of file. */
static void
conn_linger(struct control_conn *cl)
{
	struct timeval tv = { CONTROL_LINGER_S, 0 };

	if (cl->eof) {
		conn_kill(cl);
		return;
	}
	cl->state = CONN_LINGER;
	shutdown(bufferevent_getfd(cl->bev), SHUT_WR);
	bufferevent_set_timeouts(cl->bev, &tv, NULL);
	bufferevent_enable(cl->bev, EV_READ);
}

/* Closes cleanly once what is queued has been written. */
static void
conn_finish(struct control_conn *cl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);

	if (cl->state != CONN_OPEN)
		return;
	cl->state = CONN_FLUSH;
	cl->throttled = 0;
	evtimer_del(cl->more);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0) {
		conn_linger(cl);
		return;
	}
	/* Called back when the output is empty; discard input meanwhile. */
	bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0);
	if (!cl->eof)
		bufferevent_enable(cl->bev, EV_READ);
}

static void
conn_too_long(struct control_conn *cl)
{
	log_notice("control: uid %u pid %d sent a request line over %d bytes; "
	    "closing the connection", (unsigned)cl->uid, (int)cl->pid, CONTROL_MAX_LINE);
	conn_reply(cl, NULL, NULL, "request line too long (at most 1048576 bytes); "
	    "closing the connection");
	conn_finish(cl);
}

/* Handles the request in the first len bytes of input (plus nl, its '\n'). */
static void
conn_line(struct control_conn *cl, size_t len, size_t nl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);

	if (len > CONTROL_MAX_LINE) {
		conn_too_long(cl);
		return;
	}
	if (len == 0)
		conn_request(cl, "", 0);
	else
		conn_request(cl, (const char *)evbuffer_pullup(in, (ev_ssize_t)len), len);
	evbuffer_drain(in, len + nl);
	cl->scanned = 0;
}

/*
 * Answers the complete request lines in the input, in order, until it
 * has none, or has done a batch (the rest next loop turn), or the
 * client's unread replies pass CONTROL_OUT_HIGH (the rest when it has
 * read them: control_write_cb).  At the end of the client's input a last
 * line without '\n' counts, and the connection is closed when the
 * replies are out.
 */
static void
conn_process(struct control_conn *cl)
{
	static const struct timeval zero = { 0, 0 };
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	struct evbuffer *out = bufferevent_get_output(cl->bev);
	struct evbuffer_ptr pos;
	size_t len, done = 0;

	if (cl->state != CONN_OPEN) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (cl->state == CONN_OPEN) {
		if (cl->later != NULL)
			return; /* control_later_reply() goes on */
		if (evbuffer_get_length(out) >= CONTROL_OUT_HIGH) {
			cl->throttled = 1;
			bufferevent_disable(cl->bev, EV_READ);
			return;
		}
		if (done++ == CONTROL_BATCH) {
			evtimer_add(cl->more, &zero);
			return;
		}
		len = evbuffer_get_length(in);
		pos.pos = -1;
		if (cl->scanned < len &&
		    evbuffer_ptr_set(in, &pos, cl->scanned, EVBUFFER_PTR_SET) == 0)
			pos = evbuffer_search(in, "\n", 1, &pos);
		if (pos.pos >= 0) {
			conn_line(cl, (size_t)pos.pos, 1);
			continue;
		}
		cl->scanned = len;
		if (len > CONTROL_MAX_LINE)
			conn_too_long(cl);
		else if (cl->eof && len > 0)
			conn_line(cl, len, 0);
		else if (cl->eof)
			conn_finish(cl);
		else
			return;
	}
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void
control_more_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_process(arg);
}

/* The output went down to CONTROL_OUT_LOW (0 when closing). */
static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *cl = arg;

	if (cl->state == CONN_FLUSH) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_linger(cl);
	} else if (cl->state == CONN_OPEN && cl->throttled) {
		cl->throttled = 0;
		if (!cl->eof)
			bufferevent_enable(bev, EV_READ);
		conn_process(cl);
	}
}

static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *cl = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR) {
		log_debug("control: uid %u pid %d: %s", (unsigned)cl->uid, (int)cl->pid,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		conn_kill(cl);
	} else if (what & BEV_EVENT_EOF) {
		cl->eof = 1;
		if (cl->state == CONN_OPEN)
			conn_process(cl);
		else if (cl->state == CONN_LINGER)
			conn_kill(cl);
	} else if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING)) {
		log_notice("control: dropping uid %u pid %d: it has read none of its "
		    "replies for %d s", (unsigned)cl->uid, (int)cl->pid, CONTROL_STALL_S);
		conn_kill(cl);
	} else if ((what & BEV_EVENT_TIMEOUT) && cl->later != NULL &&
	    cl->state == CONN_OPEN) {
		/* Not idle: waiting for its reply. */
		bufferevent_enable(cl->bev, EV_READ);
	} else if (what & BEV_EVENT_TIMEOUT) {
		if (cl->state == CONN_OPEN) {
			log_debug("control: uid %u pid %d: idle for %d s, closing",
			    (unsigned)cl->uid, (int)cl->pid, CONTROL_IDLE_S);
			conn_finish(cl);
		} else {
			conn_kill(cl);
		}
	}
}

static void
control_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;
	struct control_conn *cl, *next;

	(void)fd;
	(void)what;
	for (cl = TAILQ_FIRST(&c->conns); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, entry);
		if (cl->state == CONN_DEAD)
			conn_free(cl);
	}
}

/* --- accepting, credentials -------------------------------------------------- */

static void
refusal(struct control *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs a refused connection; at most REFUSALS_LOGGED lines a minute. */
static void
refusal(struct control *c, const char *fmt, ...)
{
	time_t now = time(NULL);
	char msg[WW_ERRLEN];
	va_list ap;

	if (now - c->log_window >= 60) {
		if (c->suppressed > 0)
			log_warn("control: %u more connection%s refused in the last minute",
			    c->suppressed, c->suppressed == 1 ? "" : "s");
		c->log_window = now;
		c->logged = c->suppressed = 0;
	}
	if (c->logged >= REFUSALS_LOGGED) {
		c->suppressed++;
		return;
	}
	c->logged++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warn("%s", msg);
}

/*
 * Answers a peer that may not stay, and closes.  What it had sent is read
 * away first: closing a unix socket with unread input resets the peer's
 * side, and the peer should see the reply and an end of file.
 */
static void
refuse(evutil_socket_t fd, const char *error)
{
	char line[160], sink[4096];
	int n, i;

	n = snprintf(line, sizeof line, "{\"ok\":false,\"error\":\"%s\"}\n", error);
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_debug("control: cannot answer a refused client: %s", strerror(errno));
	shutdown(fd, SHUT_WR);
	for (i = 0; i < REFUSE_DRAIN; i++)
		if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
			break;
	evutil_closesocket(fd);
}

/* The peer's level: from its uid, its group and supplementary groups. */
static enum level
peer_level(const struct control *c, evutil_socket_t fd, const struct ucred *uc)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof small;
	int all, rd;
	size_t i, n = 0;

	if (uc->uid == 0 || uc->uid == c->uid)
		return LEVEL_ALL;
	all = c->has_group && uc->gid == c->group;
	rd = c->has_read_group && uc->gid == c->read_group;
#ifdef SO_PEERGROUPS
	if (!all && (c->has_group || c->has_read_group)) {
		/* The groups the peer had when it connected (Linux 4.13). */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
			n = len / sizeof *groups;
		} else if (errno == ERANGE) {
			groups = xmalloc(len);
			if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
				n = len / sizeof *groups;
		}
	}
#endif
	for (i = 0; i < n; i++) {
		all |= c->has_group && groups[i] == c->group;
		rd |= c->has_read_group && groups[i] == c->read_group;
	}
	if (groups != small)
		free(groups);
	return all ? LEVEL_ALL : rd ? LEVEL_READ : LEVEL_NONE;
}

static void
conn_new(struct control *c, evutil_socket_t fd, const struct ucred *uc,
    enum level level)
{
	struct timeval idle = { CONTROL_IDLE_S, 0 }, stall = { CONTROL_STALL_S, 0 };
	struct control_conn *cl;

	cl = xcalloc(1, sizeof *cl);
	cl->c = c;
	cl->uid = uc->uid;
	cl->pid = uc->pid;
	cl->level = level;
	cl->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL) {
		log_warn("control: cannot serve uid %u pid %d (bufferevent_socket_new "
		    "failed)", (unsigned)uc->uid, (int)uc->pid);
		evutil_closesocket(fd);
		free(cl);
		return;
	}
	cl->more = evtimer_new(c->base, control_more_cb, cl);
	bufferevent_setcb(cl->bev, control_read_cb, control_write_cb, control_event_cb, cl);
	/* A line longer than the limit is caught before more is read. */
	bufferevent_setwatermark(cl->bev, EV_READ, 0, CONTROL_MAX_LINE + 2);
	bufferevent_setwatermark(cl->bev, EV_WRITE, CONTROL_OUT_LOW, 0);
	bufferevent_set_timeouts(cl->bev, &idle, &stall);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&c->conns, cl, entry);
	c->nconns++;
	log_debug("control: uid %u pid %d connected (%s)", (unsigned)uc->uid,
	    (int)uc->pid, level == LEVEL_ALL ? "every command" : "read commands");
}

static void
control_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *c = arg;
	socklen_t len = sizeof(struct ucred);
	struct ucred uc;
	enum level level;

	(void)l;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1) {
		refusal(c, "control: refused a client whose credentials cannot be "
		    "read: %s", strerror(errno));
		refuse(fd, "permission denied");
		return;
	}
	if ((level = peer_level(c, fd, &uc)) == LEVEL_NONE) {
		refusal(c, "control: refused uid %u pid %d (gid %u): not root, not the "
		    "daemon's user, not in control-group or control-read-group",
		    (unsigned)uc.uid, (int)uc.pid, (unsigned)uc.gid);
		refuse(fd, "permission denied");
		return;
	}
	if (c->nconns >= CONTROL_MAX_CLIENTS) {
		refusal(c, "control: refused uid %u pid %d: %d clients connected "
		    "already (the most)", (unsigned)uc.uid, (int)uc.pid,
		    CONTROL_MAX_CLIENTS);
		refuse(fd, "too many clients (at most 64 at a time)");
		return;
	}
	conn_new(c, fd, &uc, level);
}

static void
control_accept_error_cb(struct evconnlistener *l, void *arg)
{
	static const struct timeval second = { 1, 0 };
	struct control *c = arg;

	/* EMFILE and the like: retrying at once would spin the loop. */
	log_warn("control: accept: %s; accepting again in 1 s",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(l);
	evtimer_add(c->resume, &second);
}

static void
control_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(c->listener);
}

/* --- the socket file ------------------------------------------------------- */

/* A group name or number from the config; -1 when there is no such group. */
static int
lookup_group(const char *key, const char *name, gid_t *gid, int *has, char *err,
    size_t errlen)
{
	struct group *gr;

	*has = 0;
	if (name == NULL)
		return 0;
	if (name[0] != '\0' && strspn(name, "0123456789") == strlen(name)) {
		*gid = (gid_t)strtoul(name, NULL, 10);
	} else if ((gr = getgrnam(name)) != NULL) {
		*gid = gr->gr_gid;
	} else {
		snprintf(err, errlen, "[daemon] %s: no such group '%s'", key, name);
		return -1;
	}
	*has = 1;
	return 0;
}

/*
 * Binds and listens on path, replacing a stale socket file.  The file is
 * 0660, in the group that must reach it: control-read-group when set
 * (levels nest: members of control-group need to be in it too to open
 * the file), else control-group, else the daemon's own.  Returns the
 * listening socket or -1 with the reason in err.
 */
static int
make_socket(struct control *c, char *err, size_t errlen)
{
	const char *path = c->path;
	struct sockaddr_un sun;
	struct stat st;
	mode_t mask;
	int fd = -1, probe, rc;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "control socket %s: path too long (at most %zu "
		    "bytes)", path, sizeof sun.sun_path - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s: exists and is not a "
			    "socket; not replacing it", path);
			return -1;
		}
		/* Left by a daemon that died, or in use by a live one? */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		rc = probe == -1 ? -1 : connect(probe, (struct sockaddr *)&sun, sizeof sun);
		if (rc == 0 || (rc == -1 && (errno == EAGAIN || errno == EINPROGRESS))) {
			close(probe);
			snprintf(err, errlen, "control socket %s is in use (another "
			    "wirewatchd is running?)", path);
			return -1;
		}
		if (probe != -1)
			close(probe);
		if (unlink(path) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "control socket %s: cannot remove the stale "
			    "socket file: %s", path, strerror(errno));
			return -1;
		}
		log_info("control socket %s: replaced a stale socket file", path);
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "control socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	mask = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(mask);
	if (rc == -1) {
		if (errno == ENOENT)
			snprintf(err, errlen, "control socket %s: its directory does not "
			    "exist (create it, or set RuntimeDirectory=wirewatch in the "
			    "unit)", path);
		else
			snprintf(err, errlen, "control socket %s: bind: %s", path,
			    strerror(errno));
		goto fail;
	}
	if ((c->has_read_group || c->has_group) && chown(path, (uid_t)-1,
	    c->has_read_group ? c->read_group : c->group) == -1) {
		snprintf(err, errlen, "control socket %s: cannot give it to group %u: %s",
		    path, (unsigned)(c->has_read_group ? c->read_group : c->group),
		    strerror(errno));
		goto fail_unlink;
	}
	if (chmod(path, 0660) == -1 || lstat(path, &st) == -1) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto fail_unlink;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if (listen(fd, SOMAXCONN) == -1) {
		snprintf(err, errlen, "control socket %s: listen: %s", path, strerror(errno));
		goto fail_unlink;
	}
	return fd;
fail_unlink:
	unlink(path);
fail:
	close(fd);
	return -1;
}

/* Removes the socket file if it is still the one made here. */
static void
remove_socket(const struct control *c)
{
	struct stat st;

	if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
}

/* --- public -------------------------------------------------------------- */

struct control *
control_new(struct event_base *base, const struct config *cfg, struct pipeline *p,
    char *err, size_t errlen)
{
	const char *path = cfg->control != NULL ? cfg->control : CONTROL_DEFAULT_PATH;
	struct control *c;
	int fd;

	err[0] = '\0';
	if (path[0] == '\0') {
		log_info("control socket: off ([daemon] control is empty)");
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->base = base;
	c->cfg = cfg;
	c->p = p;
	c->path = xstrdup(path);
	c->uid = geteuid();
	c->started = time(NULL);
	c->started_ms = util_now_ms();
	TAILQ_INIT(&c->conns);
	if (lookup_group("control-group", cfg->control_group, &c->group,
	    &c->has_group, err, errlen) == -1 ||
	    lookup_group("control-read-group", cfg->control_read_group,
	    &c->read_group, &c->has_read_group, err, errlen) == -1)
		goto fail;
	if ((fd = make_socket(c, err, errlen)) == -1) {
		if (cfg->control == NULL) {
			/* Only the default: a daemon run by hand, without /run/wirewatch. */
			log_warn("%s; running without a control socket (set [daemon] "
			    "control = PATH, or control = to turn it off)", err);
			err[0] = '\0';
		}
		goto fail;
	}
	c->listener = evconnlistener_new(base, control_accept_cb, c,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (c->listener == NULL) {
		snprintf(err, errlen, "control socket %s: cannot listen", path);
		close(fd);
		remove_socket(c);
		goto fail;
	}
	evconnlistener_set_error_cb(c->listener, control_accept_error_cb);
	c->resume = evtimer_new(base, control_resume_cb, c);
	c->reaper = evtimer_new(base, control_reap_cb, c);
	log_info("control socket %s", path);
	return c;
fail:
	free(c->path);
	free(c);
	return NULL;
}

void
control_free(struct control *c)
{
	struct control_conn *cl;

	if (c == NULL)
		return;
	while ((cl = TAILQ_FIRST(&c->conns)) != NULL)
		conn_free(cl);
	evconnlistener_free(c->listener);
	remove_socket(c);
	event_free(c->resume);
	event_free(c->reaper);
	free(c->path);
	free(c);
}

/* --- replies given later ------------------------------------------------- */

struct control_later *
control_later(struct control_conn *cl, const struct control_request *req)
{
	struct control_later *l = xcalloc(1, sizeof *l);

	l->cl = cl;
	l->id = req->id != NULL ? json_incref(req->id) : NULL;
	cl->later = l;
	cl->deferred = 1;
	return l;
}

void
control_later_reply(struct control_later *l, json_t *fields, const char *error)
{
	struct control_conn *cl = l->cl;

	if (cl != NULL) {
		cl->later = NULL;
		if (cl->state == CONN_OPEN)
			conn_reply(cl, l->id, fields, fields != NULL ? NULL : error);
		else
			json_decref(fields);
		/* Inside the command (Redis failed at once) its loop goes on. */
		if (!cl->dispatching)
			conn_process(cl);
	} else {
		json_decref(fields);
	}
	json_decref(l->id);
	free(l);
}

struct pipeline *
control_pipeline(const struct control_conn *cl)
{
	return cl->c->p;
}
