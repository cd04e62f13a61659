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
store_handshake_cb(struct redisReply *reply, const char *error, void *arg)
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

/* First on every new connection: AUTH [user] password, SELECT db, PING. */
static void
handshake(struct store *s)
{
	char db[32];
	const char *argv[3];

	s->handshake = (s->password != NULL) + (s->db != 0) + 1;
	s->refused = 0;
	if (s->password != NULL) {
		argv[0] = "AUTH";
		argv[1] = s->user ? s->user : s->password;
		argv[2] = s->password;
		store_command(s, store_handshake_cb, s, s->user ? 3 : 2, argv);
	}
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
			cmd->cb(NULL, why, cmd->arg);
		} else if (reply->type == REDIS_REPLY_ERROR) {
			snprintf(why, sizeof why, "redis %s: %s", cmd->s->addr, reply->str);
			cmd->s->server_error = 1;
			cmd->cb(NULL, why, cmd->arg);
			cmd->s->server_error = 0;
		} else {
			cmd->cb(reply, NULL, cmd->arg);
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
	cmd->cb(NULL, why, cmd->arg);
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
