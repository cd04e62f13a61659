/*
 * store.c - one hiredis async connection on the libevent loop.
 *
 * Commands may be sent while the connection is still being made (hiredis
 * buffers them).  When there is no connection at all, a command fails at
 * once instead of queueing without bound: callers decide what to hold.
 *
 * Timeouts: each command arms its own timer.  When one fires, the caller
 * is told at once and the whole connection is torn down from a fresh loop
 * callback (never from inside hiredis), which hands every other pending
 * command a NULL reply; a command whose timer already fired ignores that
 * late NULL and only frees itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "wirewatch/log.h"
#include "wirewatch/stats.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

struct store {
	struct event_base *base;
	char *addr;
	char *unix_path;
	char *host;
	int port;
	long timeout_ms;
	int reconnect;
	store_state_cb state_cb;
	void *state_arg;
	store_setup_cb setup_cb;
	void *setup_arg;

	char *user;     /* AUTH user (ACL), or NULL */
	char *password; /* AUTH password, or NULL: no AUTH */
	long db;        /* SELECT db when not 0 */
	int handshake;  /* AUTH/SELECT/PING replies awaited on this connection */
	int refused;    /* Redis refused one of them: keep that reason */
	int server_error; /* the reply being handed out is Redis's error reply */

	redisAsyncContext *ctx;
	int up;         /* -1 until the first connect attempt ends */
	int dying;
	long backoff_ms;
	struct event *retry_timer;
	struct event *drop_timer;
	char why[256];
};

struct store_cmd {
	struct store *s;
	uint64_t sent_ms;
	store_reply_cb cb;
	void *arg;
	struct event *timer;
	int answered;
};

static void store_connect(struct store *s);

/* A reply is hiredis's, seen through an opaque pointer. */
static const redisReply *
R(const struct store_reply *r)
{
	return (const redisReply *)r;
}

static const struct store_reply *
W(const redisReply *r)
{
	return (const struct store_reply *)r;
}

static void
set_state(struct store *s, int up, const char *why)
{
	if (why != NULL)
		snprintf(s->why, sizeof s->why, "redis %s: %s", s->addr, why);
	stats_redis_state(up, s->why);
	if (s->up == up)
		return; /* report state changes only */
	s->up = up;
	if (s->state_cb != NULL)
		s->state_cb(up, up ? NULL : s->why, s->state_arg);
}

static void
schedule_reconnect(struct store *s)
{
	struct timeval tv;

	long ms;

	if (!s->reconnect || s->dying)
		return;
	/*
	 * Redis is usually on the same host or next to it: a short cap keeps
	 * the time from "Redis is back" to "polling again" within seconds
	 * (an attempt costs one connect).  +-20% jitter keeps several
	 * daemons from reconnecting in step.
	 */
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 250;
	if (s->backoff_ms > STORE_RECONNECT_MAX_MS)
		s->backoff_ms = STORE_RECONNECT_MAX_MS;
	ms = s->backoff_ms + (long)((double)s->backoff_ms * 0.4 *
	    ((double)random() / RAND_MAX - 0.5));
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->retry_timer, &tv);
}

static void
store_connect_cb(const redisAsyncContext *c, int status)
{
	struct store *s = c->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		s->ctx = NULL;
		set_state(s, 0, c->errstr);
		schedule_reconnect(s);
		return;
	}
	if (s->handshake > 0)
		return; /* up when AUTH, SELECT and PING said OK */
	s->backoff_ms = 0;
	log_info("redis %s: connected", s->addr);
	set_state(s, 1, NULL);
}

/* AUTH, SELECT or PING answered: up after the last, dropped on a refusal. */
static void
store_handshake_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct store *s = arg;
	struct timeval now = { 0, 0 };

	if (s->dying)
		return;
	if (reply == NULL) {
		/* Redis said no (not: the connection failed, which says itself). */
		if (!s->refused && s->ctx != NULL && s->server_error) {
			s->refused = 1;
			/* error is "redis ADDR: WRONGPASS ..."; keep it as the reason. */
			snprintf(s->why, sizeof s->why, "%s (check redis-user, "
			    "redis-password, redis-db)", error);
			set_state(s, 0, NULL);
			evtimer_add(s->drop_timer, &now);
		}
		return;
	}
	if (--s->handshake > 0 || s->ctx == NULL)
		return;
	s->backoff_ms = 0;
	log_info("redis %s: connected%s%s", s->addr,
	    s->password ? ", authenticated" : "", s->db ? ", database selected" : "");
	set_state(s, 1, NULL);
}

/* "AUTH [user] password" in argv (3 slots); its length. */
static int
auth_argv(const char *user, const char *password, const char **argv)
{
	argv[0] = "AUTH";
	argv[1] = user != NULL ? user : password;
	argv[2] = password;
	return user != NULL ? 3 : 2;
}

/* First on every new connection: AUTH [user] password, SELECT db, PING. */
static void
handshake(struct store *s)
{
	char db[32];
	const char *argv[3];

	s->handshake = (s->password != NULL) + (s->db != 0) + 1;
	s->refused = 0;
	if (s->password != NULL)
		store_command(s, store_handshake_cb, s,
		    auth_argv(s->user, s->password, argv), argv);
	if (s->db != 0) {
		snprintf(db, sizeof db, "%ld", s->db);
		argv[0] = "SELECT";
		argv[1] = db;
		store_command(s, store_handshake_cb, s, 2, argv);
	}
	/* A Redis that wants a password says NOAUTH here, not later. */
	argv[0] = "PING";
	store_command(s, store_handshake_cb, s, 1, argv);
}

static void
store_disconnect_cb(const redisAsyncContext *c, int status)
{
	struct store *s = c->data;

	s->ctx = NULL;
	if (s->dying)
		return;
	set_state(s, 0, s->refused ? NULL : status == REDIS_OK ? "disconnected" :
	    c->errstr);
	schedule_reconnect(s);
}

static void
store_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_connect(arg);
}

static void
store_drop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	(void)fd;
	(void)what;
	if (s->ctx != NULL)
		redisAsyncDisconnect(s->ctx);
}

static void
store_connect(struct store *s)
{
	redisAsyncContext *c;

	if (s->unix_path != NULL)
		c = redisAsyncConnectUnix(s->unix_path);
	else
		c = redisAsyncConnect(s->host, s->port);
	if (c == NULL)
		fatal("redisAsyncConnect: out of memory");
	if (c->err) {
		set_state(s, 0, c->errstr);
		redisAsyncFree(c);
		s->ctx = NULL;
		schedule_reconnect(s);
		return;
	}
	c->data = s;
	s->ctx = c;
	redisLibeventAttach(c, s->base);
	redisAsyncSetConnectCallback(c, store_connect_cb);
	redisAsyncSetDisconnectCallback(c, store_disconnect_cb);
	/* First on the wire, before anything a caller queues. */
	handshake(s);
	if (s->setup_cb != NULL)
		s->setup_cb(s->setup_arg);
}

void
store_set_setup(struct store *s, store_setup_cb cb, void *arg)
{
	s->setup_cb = cb;
	s->setup_arg = arg;
}

void
store_set_auth(struct store *s, const char *user, const char *password, long db)
{
	free(s->user);
	free(s->password);
	s->user = user && password ? xstrdup(user) : NULL;
	s->password = password ? xstrdup(password) : NULL;
	s->db = db;
}

void
store_connect_now(struct store *s)
{
	if (s->ctx == NULL && !s->dying) {
		evtimer_del(s->retry_timer);
		store_connect(s);
	}
}

const char *
store_addr_parse(const char *addr, char **path, char **host, int *port)
{
	const char *colon = strrchr(addr, ':'), *p;
	long n;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] != '/')
			return "unix: needs an absolute path";
		if (path != NULL)
			*path = xstrdup(addr + 5);
		return NULL;
	}
	if (strstr(addr, "://") != NULL)
		return "not a URL: unix:/path or host:port";
	if (colon == NULL || colon == addr)
		return "unix:/path or host:port";
	p = colon + 1;
	if (*p < '0' || *p > '9')
		return "the port must be 1 to 65535";
	for (n = 0; *p >= '0' && *p <= '9' && n <= 65535; p++)
		n = n * 10 + (*p - '0');
	if (*p != '\0' || n < 1 || n > 65535)
		return "the port must be 1 to 65535";
	if (strcspn(addr, " \t/") < (size_t)(colon - addr))
		return "unix:/path or host:port";
	if (host != NULL)
		*host = xstrndup(addr, (size_t)(colon - addr));
	if (port != NULL)
		*port = (int)n;
	return NULL;
}

struct store *
store_new(struct event_base *base, const char *addr, long timeout_ms,
    int reconnect, store_state_cb state_cb, void *arg, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof *s);
	const char *why;

	s->base = base;
	s->addr = xstrdup(addr);
	if ((why = store_addr_parse(addr, &s->unix_path, &s->host, &s->port)) != NULL) {
		snprintf(err, errlen, "redis address '%s': %s", addr, why);
		free(s->addr);
		free(s);
		return NULL;
	}
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	s->reconnect = reconnect;
	s->up = -1;
	s->state_cb = state_cb;
	s->state_arg = arg;
	s->retry_timer = evtimer_new(base, store_retry_cb, s);
	s->drop_timer = evtimer_new(base, store_drop_cb, s);
	snprintf(s->why, sizeof s->why, "redis %s: not connected", addr);
	return s;
}

void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	s->dying = 1;
	if (s->ctx != NULL)
		redisAsyncFree(s->ctx); /* pending callbacks get NULL */
	event_free(s->retry_timer);
	event_free(s->drop_timer);
	free(s->addr);
	free(s->unix_path);
	free(s->host);
	free(s->user);
	if (s->password != NULL)
		explicit_bzero(s->password, strlen(s->password));
	free(s->password);
	free(s);
}

int
store_is_up(const struct store *s)
{
	return s->up == 1;
}

const char *
store_addr(const struct store *s)
{
	return s->addr;
}

static void
cmd_free(struct store_cmd *cmd)
{
	event_free(cmd->timer);
	free(cmd);
}

/* Hands cmd its reply, or its failure (reply NULL). */
static void
answer(struct store_cmd *cmd, redisReply *reply, const char *error)
{
	cmd->cb(W(reply), error, cmd->arg);
}

static void
store_reply_cb_(redisAsyncContext *c, void *r, void *privdata)
{
	struct store_cmd *cmd = privdata;
	redisReply *reply = r;
	char why[300];

	if (!cmd->answered) {
		cmd->answered = 1;
		stats_observe(STATS_REDIS_SECONDS, NULL, (double)(util_now_ms() - cmd->sent_ms) / 1000);
		if (reply == NULL) {
			snprintf(why, sizeof why, "redis %s: %s", cmd->s->addr,
			    c->errstr[0] ? c->errstr : "connection lost");
			answer(cmd, NULL, why);
		} else if (reply->type == REDIS_REPLY_ERROR) {
			snprintf(why, sizeof why, "redis %s: %s", cmd->s->addr, reply->str);
			cmd->s->server_error = 1;
			answer(cmd, NULL, why);
			cmd->s->server_error = 0;
		} else {
			answer(cmd, reply, NULL);
		}
	}
	cmd_free(cmd);
}

static void
store_cmd_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_cmd *cmd = arg;
	struct store *s = cmd->s;
	struct timeval now = { 0, 0 };
	char why[300];

	(void)fd;
	(void)what;
	cmd->answered = 1;
	stats_observe(STATS_REDIS_SECONDS, NULL, (double)(util_now_ms() - cmd->sent_ms) / 1000);
	snprintf(why, sizeof why, "redis %s: command timed out after %ldms",
	    s->addr, s->timeout_ms);
	answer(cmd, NULL, why);
	/* The reply callback still comes (with NULL) and frees cmd. */
	evtimer_add(s->drop_timer, &now);
}

void
store_command(struct store *s, store_reply_cb cb, void *arg, int argc,
    const char **argv)
{
	struct store_cmd *cmd;
	struct timeval tv;
	size_t stack_lens[16], *lens = stack_lens;
	int i, rc;

	if (s->ctx == NULL) {
		cb(NULL, s->why, arg);
		return;
	}
	if (argc > 16)
		lens = xcalloc((size_t)argc, sizeof *lens);
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	cmd = xcalloc(1, sizeof *cmd);
	cmd->s = s;
	cmd->cb = cb;
	cmd->arg = arg;
	cmd->sent_ms = util_now_ms();
	cmd->timer = evtimer_new(s->base, store_cmd_timeout_cb, cmd);
	rc = redisAsyncCommandArgv(s->ctx, store_reply_cb_, cmd, argc, argv, lens);
	if (lens != stack_lens)
		free(lens);
	if (rc != REDIS_OK) {
		cmd_free(cmd);
		cb(NULL, s->why, arg);
		return;
	}
	tv.tv_sec = s->timeout_ms / 1000;
	tv.tv_usec = (s->timeout_ms % 1000) * 1000;
	evtimer_add(cmd->timer, &tv);
}


/* --- reading a reply -------------------------------------------------------- */

enum store_type
store_reply_type(const struct store_reply *r)
{
	if (r == NULL)
		return STORE_NIL;
	switch (R(r)->type) {
	case REDIS_REPLY_INTEGER: return STORE_INT;
	case REDIS_REPLY_STRING: return STORE_STRING;
	case REDIS_REPLY_STATUS: return STORE_STATUS;
	case REDIS_REPLY_ERROR: return STORE_ERROR;
	case REDIS_REPLY_ARRAY: return STORE_ARRAY;
	default: return STORE_NIL;
	}
}

const char *
store_reply_str(const struct store_reply *r, size_t *len)
{
	enum store_type t = store_reply_type(r);

	if (t != STORE_STRING && t != STORE_STATUS && t != STORE_ERROR)
		return NULL;
	if (len != NULL)
		*len = R(r)->len;
	return R(r)->str;
}

int
store_reply_is(const struct store_reply *r, const char *s)
{
	enum store_type t = store_reply_type(r);

	return (t == STORE_STRING || t == STORE_STATUS) &&
	    R(r)->len == strlen(s) && memcmp(R(r)->str, s, R(r)->len) == 0;
}

long long
store_reply_int(const struct store_reply *r)
{
	switch (store_reply_type(r)) {
	case STORE_INT: return R(r)->integer;
	case STORE_STRING: return strtoll(R(r)->str, NULL, 10);
	default: return 0;
	}
}

size_t
store_reply_len(const struct store_reply *r)
{
	return store_reply_type(r) == STORE_ARRAY ? R(r)->elements : 0;
}

const struct store_reply *
store_reply_elem(const struct store_reply *r, size_t i)
{
	return i < store_reply_len(r) ? W(R(r)->element[i]) : NULL;
}

struct store_reply *
store_reply_parse(const char *buf, size_t len)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	if (rd == NULL)
		fatal("redisReaderCreate: out of memory");
	if (redisReaderFeed(rd, buf, len) != REDIS_OK ||
	    redisReaderGetReply(rd, &reply) != REDIS_OK)
		reply = NULL;
	redisReaderFree(rd);
	return reply;
}

void
store_reply_free(struct store_reply *r)
{
	if (r != NULL)
		freeReplyObject(r);
}

/* --- a subscription ---------------------------------------------------------- */

#define SUB_RETRY_MS 1000

struct store_sub {
	struct store *s;
	char *channel, *who;
	store_message_cb cb;
	void *arg;
	redisAsyncContext *ctx;
	struct event *timer;
	int subscribed;
	int dying;
};

static void sub_connect(struct store_sub *sub);

static void
sub_retry(struct store_sub *sub)
{
	struct timeval tv = { SUB_RETRY_MS / 1000, (SUB_RETRY_MS % 1000) * 1000 };

	sub->ctx = NULL;
	sub->subscribed = 0;
	if (!sub->dying)
		evtimer_add(sub->timer, &tv);
}

static void
store_sub_msg_cb(redisAsyncContext *c, void *rep, void *arg)
{
	struct store_sub *sub = arg;
	redisReply *reply = rep;

	(void)c;
	if (reply == NULL || sub->dying || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 3 || reply->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(reply->element[0]->str, "subscribe") == 0) {
		if (!sub->subscribed)
			log_info("%s: subscribed to %s", sub->who, sub->channel);
		sub->subscribed = 1;
		sub->cb(NULL, sub->arg);
	} else if (strcmp(reply->element[0]->str, "message") == 0) {
		sub->cb(reply->element[2]->type == REDIS_REPLY_STRING ?
		    reply->element[2]->str : "?", sub->arg);
	}
}

static void
store_sub_connect_cb(const redisAsyncContext *c, int status)
{
	struct store_sub *sub = c->data;

	if (status != REDIS_OK) {
		log_debug("%s: subscription connection: %s", sub->who, c->errstr);
		sub_retry(sub);
	}
}

static void
store_sub_disconnect_cb(const redisAsyncContext *c, int status)
{
	struct store_sub *sub = c->data;

	(void)status;
	if (sub->dying)
		return;
	log_warn("%s: subscription to %s lost (%s); subscribing again",
	    sub->who, sub->channel, c->errstr[0] ? c->errstr : "disconnected");
	sub_retry(sub);
}

static void
store_sub_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sub_connect(arg);
}

static void
store_sub_auth_cb(redisAsyncContext *c, void *reply, void *arg)
{
	struct store_sub *sub = arg;
	redisReply *rep = reply;

	(void)c;
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		log_err("%s: subscription connection: AUTH refused: %s", sub->who,
		    rep->str);
}

static void
sub_connect(struct store_sub *sub)
{
	struct store *s = sub->s;
	const char *argv[3];
	redisAsyncContext *c;

	c = s->unix_path != NULL ? redisAsyncConnectUnix(s->unix_path) :
	    redisAsyncConnect(s->host, s->port);
	if (c == NULL)
		fatal("redisAsyncConnect: out of memory");
	if (c->err) {
		log_debug("%s: subscription connection: %s", sub->who, c->errstr);
		redisAsyncFree(c);
		sub_retry(sub);
		return;
	}
	c->data = sub;
	sub->ctx = c;
	redisLibeventAttach(c, s->base);
	redisAsyncSetConnectCallback(c, store_sub_connect_cb);
	redisAsyncSetDisconnectCallback(c, store_sub_disconnect_cb);
	if (s->password != NULL)
		redisAsyncCommandArgv(c, store_sub_auth_cb, sub,
		    auth_argv(s->user, s->password, argv), argv, NULL);
	argv[0] = "SUBSCRIBE";
	argv[1] = sub->channel;
	redisAsyncCommandArgv(c, store_sub_msg_cb, sub, 2, argv, NULL);
}

struct store_sub *
store_subscribe(struct store *s, const char *channel, const char *who,
    store_message_cb cb, void *arg)
{
	struct store_sub *sub = xcalloc(1, sizeof *sub);

	sub->s = s;
	sub->channel = xstrdup(channel);
	sub->who = xstrdup(who);
	sub->cb = cb;
	sub->arg = arg;
	sub->timer = evtimer_new(s->base, store_sub_timer_cb, sub);
	sub_connect(sub);
	return sub;
}

void
store_sub_free(struct store_sub *sub)
{
	if (sub == NULL)
		return;
	sub->dying = 1;
	if (sub->ctx != NULL)
		redisAsyncFree(sub->ctx);
	event_free(sub->timer);
	free(sub->channel);
	free(sub->who);
	free(sub);
}

/* --- synchronous ----------------------------------------------------------------- */

struct store_sync {
	redisContext *ctx;
	char *addr;
};

/* Runs argv on ctx; calls cb (unless NULL) with the reply or the failure. */
static void
sync_run(redisContext *ctx, const char *addr, store_reply_cb cb, void *arg,
    int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
	int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
	char why[300];

	if (!ok)
		snprintf(why, sizeof why, "redis %s: %s", addr, r != NULL ? r->str :
		    ctx->errstr[0] ? ctx->errstr : "connection lost");
	if (cb != NULL)
		cb(ok ? W(r) : NULL, ok ? NULL : why, arg);
	if (r != NULL)
		freeReplyObject(r);
}

struct sync_step {
	char *err;
	size_t errlen;
	int failed;
};

static void
sync_step_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct sync_step *st = arg;

	(void)reply;
	if (error != NULL && !st->failed) {
		st->failed = 1;
		snprintf(st->err, st->errlen, "%s (check redis-user, "
		    "redis-password, redis-db)", error);
	}
}

struct store_sync *
store_sync_connect(const char *addr, long timeout_ms, const char *user,
    const char *password, long db, char *err, size_t errlen)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct sync_step st = { err, errlen, 0 };
	struct store_sync *c;
	char *path = NULL, *host = NULL, dbs[32];
	const char *why, *argv[3];
	redisContext *ctx;
	int port = 0;

	if ((why = store_addr_parse(addr, &path, &host, &port)) != NULL) {
		snprintf(err, errlen, "redis address '%s': %s", addr, why);
		return NULL;
	}
	ctx = path != NULL ? redisConnectUnixWithTimeout(path, tv) :
	    redisConnectWithTimeout(host, port, tv);
	free(path);
	free(host);
	if (ctx == NULL || ctx->err) {
		snprintf(err, errlen, "redis %s: %s", addr,
		    ctx != NULL ? ctx->errstr : "out of memory");
		if (ctx != NULL)
			redisFree(ctx);
		return NULL;
	}
	redisSetTimeout(ctx, tv);
	if (password != NULL)
		sync_run(ctx, addr, sync_step_cb, &st,
		    auth_argv(user, password, argv), argv);
	if (db != 0 && !st.failed) {
		snprintf(dbs, sizeof dbs, "%ld", db);
		argv[0] = "SELECT";
		argv[1] = dbs;
		sync_run(ctx, addr, sync_step_cb, &st, 2, argv);
	}
	if (st.failed) {
		redisFree(ctx);
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->ctx = ctx;
	c->addr = xstrdup(addr);
	return c;
}

void
store_sync_command(struct store_sync *c, store_reply_cb cb, void *arg, int argc,
    const char **argv)
{
	sync_run(c->ctx, c->addr, cb, arg, argc, argv);
}

void
store_sync_free(struct store_sync *c)
{
	if (c == NULL)
		return;
	redisFree(c->ctx);
	free(c->addr);
	free(c);
}
