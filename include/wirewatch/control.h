/*
 * control.h - the control socket: a unix stream socket in the daemon that
 * speaks JSON lines (docs/control.md).
 *
 * One request object per line, one reply object per line, in order:
 *
 *   {"v":1,"cmd":"status"}        ->  {"ok":true,"version":"0.1.0",...}
 *   {"v":1,"cmd":"nosuch"}        ->  {"ok":false,"error":"unknown command 'nosuch'"}
 *
 * Who may connect is decided per connection from the peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS): root, the daemon's own uid and members of
 * [daemon] control-group may use every command; members of
 * control-read-group only the read commands.  Everyone else is answered
 * {"ok":false,"error":"permission denied"}, logged and disconnected.
 *
 * Limits, all here so that they are in one place: a request line of at
 * most CONTROL_MAX_LINE bytes (a longer one is answered with an error and
 * the connection is closed cleanly), CONTROL_MAX_CLIENTS connections,
 * CONTROL_BATCH requests of one client per loop turn, replies buffered up
 * to CONTROL_OUT_HIGH bytes per client (past that its requests are not
 * read until it has read its replies; if it reads nothing for
 * CONTROL_STALL_S seconds it is dropped), CONTROL_IDLE_S seconds without
 * a request and the connection is closed.
 */
#ifndef WIREWATCH_CONTROL_H
#define WIREWATCH_CONTROL_H

#include <stddef.h>

#include <jansson.h>

struct config;
struct control;
struct event_base;
struct pipeline;

#define CONTROL_DEFAULT_PATH "/run/wirewatch/control.sock"
#define CONTROL_VERSION 1
#define CONTROL_MAX_LINE (1024 * 1024)
#define CONTROL_MAX_CLIENTS 64
#define CONTROL_BATCH 64
#define CONTROL_OUT_HIGH (256 * 1024)
#define CONTROL_OUT_LOW (64 * 1024)
#define CONTROL_STALL_S 30
#define CONTROL_IDLE_S 60
#define CONTROL_CMD_MAX 64
#define CONTROL_ID_MAX 256

/*
 * One decoded request.  req is the whole object (the command's arguments
 * are its members other than v, cmd and id); id, when the client sent
 * one, points into req and is echoed in the reply.
 */
struct control_request {
	char cmd[CONTROL_CMD_MAX + 1];
	json_t *req;
	json_t *id;
};

/*
 * Decodes one request line (without its '\n'; a trailing '\r' is
 * allowed).  A pure function of the bytes: 0 with *out filled (release it
 * with control_request_clear), or -1 with the reason in err and *out
 * empty.  Errors: longer than CONTROL_MAX_LINE, empty, not JSON (with
 * the column), not an object, "v" missing or not 1, "cmd" missing, not a
 * string or not 1-64 of [a-z0-9._-], "id" neither a string of at most
 * CONTROL_ID_MAX bytes nor an integer.  Whether cmd names a command is
 * the dispatcher's business, not the decoder's.
 */
int control_decode(const char *line, size_t len, struct control_request *out,
    char *err, size_t errlen);
void control_request_clear(struct control_request *r);

/*
 * Commands whose answer needs a round trip (to Redis) answer later: the
 * command function calls control_later(cl, req), starts its work and
 * returns NULL; the work ends with control_later_reply(), exactly once
 * (fields taken, or the error), also when it fails at once, inside the
 * command.  Meanwhile the connection's later requests wait, so replies
 * stay in order, and it is not closed as idle.  A connection that goes
 * away first is detached: the reply is then dropped.  Commands live in
 * control.c (the table) and control_items.c; control_pipeline() gives
 * them the daemon's pipeline.
 */
struct control_conn;
struct control_later;
struct control_later *control_later(struct control_conn *cl,
    const struct control_request *req);
void control_later_reply(struct control_later *l, json_t *fields,
    const char *error);
struct pipeline *control_pipeline(const struct control_conn *cl);

/*
 * Creates the socket named by cfg->control (CONTROL_DEFAULT_PATH when the
 * key is not set; "" disables it) and serves it on base.  A stale socket
 * file is replaced; a live one (another daemon answers on it) or a file
 * that is not a socket is an error, as is a missing parent directory.
 * Returns NULL with the reason in err when an explicitly configured
 * socket cannot be made.  Returns NULL with err empty when the socket is
 * disabled, or when the default path cannot be used (a daemon run by
 * hand, without /run/wirewatch): that is logged as a warning, and the
 * daemon runs without a control socket.  p and cfg are borrowed and
 * must outlive the control server.
 */
struct control *control_new(struct event_base *base, const struct config *cfg,
    struct pipeline *p, char *err, size_t errlen);

/* Closes every connection and the socket, and removes the socket file
 * (when it is still the one this daemon made).  NULL is a no-op. */
void control_free(struct control *c);

#endif
