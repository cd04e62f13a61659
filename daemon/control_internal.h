/*
 * control_internal.h - the control commands that live outside control.c
 * (control_items.c), for its verbs[] table.  Each has the table's
 * signature: the decoded request in, the reply's members out (or NULL
 * with err, or NULL after control_later() for a reply that comes later).
 */
#ifndef WIREWATCH_CONTROL_INTERNAL_H
#define WIREWATCH_CONTROL_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

struct control_conn;
struct control_request;

/* watchlist.test {"query": Q, "since": D}: the query over the recent items. */
json_t *control_watchlist_test(struct control_conn *cl,
    const struct control_request *req, char *err, size_t errlen);
/* deliveries {"failed": bool}: the outbox's rows (deliveries.h). */
json_t *control_deliveries(struct control_conn *cl,
    const struct control_request *req, char *err, size_t errlen);
/* replay {"ids": [...]} or {"failed": true, "sink": S}. */
json_t *control_replay(struct control_conn *cl,
    const struct control_request *req, char *err, size_t errlen);
/*
 * status: adds the members read from Redis (outbox depth, dead letters,
 * alerts today, kept items) to o, the in-memory half (taken), and
 * answers later; they are null when Redis cannot tell.
 */
json_t *control_status_redis(struct control_conn *cl,
    const struct control_request *req, json_t *o);

#endif
