/*
 * store.h - the Redis connection (hiredis async on libevent).
 *
 * One connection per daemon.  Every command has a timeout (Debian's
 * hiredis 0.14 has none of its own): on expiry the command's callback gets
 * an error, the connection is dropped and, when reconnect is on, rebuilt
 * with backoff.  Each callback runs exactly once; a reply lives only
 * during its callback.
 */
#ifndef WIREWATCH_STORE_H
#define WIREWATCH_STORE_H

#include <stddef.h>

struct event_base;
struct redisReply;
struct store;

#define STORE_RECONNECT_MAX_MS 5000

/* reply is NULL on failure, with the reason in error ("redis ADDR: ..."). */
typedef void (*store_reply_cb)(struct redisReply *reply, const char *error,
    void *arg);
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

#endif
