/*
 * store.h - the Redis connection (hiredis async on libevent).
 *
 * One connection per daemon.  Every command has a timeout (Debian's
 * hiredis 0.14 has none of its own): on expiry the command's callback gets
 * an error, the connection is dropped and, when reconnect is on, rebuilt
 * with backoff.  Each callback runs exactly once; a reply lives only
 * during its callback.
 *
 * store.c is the only file that includes hiredis: everything else reads
 * replies through the accessors below, and names its keys with keys.h.
 * Besides the daemon's connection there is a subscription (a connection
 * of its own that only receives a channel's messages) and a short
 * synchronous connection for wirewatchctl.
 */
#ifndef WIREWATCH_STORE_H
#define WIREWATCH_STORE_H

#include <stddef.h>

struct event_base;
struct store;
struct store_reply;     /* a reply, valid only during its callback */
struct store_sub;
struct store_sync;

#define STORE_RECONNECT_MAX_MS 5000

enum store_type {
	STORE_NIL,              /* also: no reply (NULL), or out of range */
	STORE_INT,
	STORE_STRING,
	STORE_STATUS,           /* +OK and the like */
	STORE_ERROR,            /* only inside arrays (see store_reply_cb) */
	STORE_ARRAY
};

/* reply is NULL on failure, with the reason in error ("redis ADDR: ..");
 * a Redis error reply is such a failure. */
typedef void (*store_reply_cb)(const struct store_reply *reply,
    const char *error, void *arg);
/*
 * Called right after each new connection is made, before any other
 * command can be queued on it: the place for FUNCTION LOAD and the like.
 */
typedef void (*store_setup_cb)(void *arg);
/* Called when the connection comes up (up=1) or goes down (up=0, why). */
typedef void (*store_state_cb)(int up, const char *why, void *arg);

/*
 * Splits a Redis address: "unix:/absolute/path" (*path) or "host:port"
 * with a port of 1 to 65535 (*host, *port); any output may be NULL to
 * only check.  NULL when it is good, else why not.  The daemon, -t and
 * wirewatchctl all read addresses through this one function.
 */
const char *store_addr_parse(const char *addr, char **path, char **host,
    int *port);

/*
 * addr is "unix:/path" or "host:port".  Returns NULL with the reason in
 * err only for an address that cannot be parsed; connection failures are
 * reported through state_cb and command callbacks.
 */
struct store *store_new(struct event_base *base, const char *addr,
    long timeout_ms, int reconnect, store_state_cb state_cb, void *arg,
    char *err, size_t errlen);
void store_free(struct store *s);
/* Sets the setup callback; call before store_connect_now. */
void store_set_setup(struct store *s, store_setup_cb cb, void *arg);
/*
 * Sends AUTH (with user: ACL AUTH user password), SELECT db and PING
 * first on every new connection; the connection counts as up only when
 * each said OK (so a Redis that wants a password is refused, NOAUTH,
 * before anything else is sent).  A refusal (WRONGPASS, NOAUTH, a bad db) is the state's reason, and
 * the connection is retried with backoff.  password NULL: no AUTH (user
 * is then ignored); db 0: no SELECT.  Call before store_connect_now.
 */
void store_set_auth(struct store *s, const char *user, const char *password,
    long db);
/* Connects (the first time), or retries at once when disconnected. */
void store_connect_now(struct store *s);
int store_is_up(const struct store *s);
const char *store_addr(const struct store *s);

/* Sends argv (NUL-terminated strings) as one command. */
void store_command(struct store *s, store_reply_cb cb, void *arg, int argc,
    const char **argv);

/* --- reading a reply (r NULL reads as nil) --- */
enum store_type store_reply_type(const struct store_reply *r);
/* The bytes of a string, status or error (NUL-terminated; *len, when len
 * is not NULL, their number), else NULL. */
const char *store_reply_str(const struct store_reply *r, size_t *len);
/* 1 when r is a string or status equal to s. */
int store_reply_is(const struct store_reply *r, const char *s);
/* An integer's value; a string's leading decimal number; else 0. */
long long store_reply_int(const struct store_reply *r);
/* An array's number of elements, else 0. */
size_t store_reply_len(const struct store_reply *r);
/* An array's element i, else NULL (which reads as nil). */
const struct store_reply *store_reply_elem(const struct store_reply *r,
    size_t i);
/*
 * The first reply in the RESP text buf[0..len) (hiredis's reader), for
 * tests; NULL when it holds none.  Free with store_reply_free.
 */
struct store_reply *store_reply_parse(const char *buf, size_t len);
void store_reply_free(struct store_reply *r);

/* --- a subscription --- */
/*
 * message is NULL when the subscription is made (again: what was
 * announced meanwhile was missed), else a message's payload.
 */
typedef void (*store_message_cb)(const char *message, void *arg);
/*
 * Subscribes to channel on a connection of its own to s's address, with
 * s's AUTH (a channel is not per database: no SELECT).  No command
 * timeouts (it only receives); made again a second after it drops.  Logs
 * as "WHO: subscribed to CHANNEL" and the like.  It reads s (address,
 * AUTH, loop) whenever it connects: s must outlive it, though
 * store_sub_free itself does not touch s.
 */
struct store_sub *store_subscribe(struct store *s, const char *channel,
    const char *who, store_message_cb cb, void *arg);
void store_sub_free(struct store_sub *sub);

/* --- synchronous, for wirewatchctl (the daemon never blocks) --- */
/*
 * Connects to addr, then AUTH and SELECT as store_set_auth says; every
 * step waits timeout_ms at most.  NULL with the reason in err ("redis
 * ADDR: ...").
 */
struct store_sync *store_sync_connect(const char *addr, long timeout_ms,
    const char *user, const char *password, long db, char *err,
    size_t errlen);
/* Runs argv and calls cb (reply or error, as store_command; NULL: none)
 * before it returns; the reply is freed after cb. */
void store_sync_command(struct store_sync *c, store_reply_cb cb, void *arg,
    int argc, const char **argv);
void store_sync_free(struct store_sync *c);

#endif
