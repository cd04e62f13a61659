/*
 * deliveries.h - the outbox as people look at it: what waits, what failed,
 * and putting dead letters back (`deliveries`, `replay`).
 *
 * One Redis function call each (ww_deliveries, ww_replay in the outbox's
 * library, outbox_lua.c), and one function here that turns its reply into
 * JSON, used by both ways wirewatchctl gets there: through the daemon's
 * control socket (control_items.c, asynchronous) and straight to Redis
 * with -c CONF (ctl_deliveries.c, synchronous, for when the daemon is
 * down).  So both list and replay exactly the same way.
 *
 * A row: {"state": "queued" | "pending" | "retry" | "failed", "id",
 * "sink", "watchlist", "attempts", "next_attempt" (or "failed_at" for
 * failed), "last_error", "consumer" (pending only)}.
 */
#ifndef WIREWATCH_DELIVERIES_H
#define WIREWATCH_DELIVERIES_H

#include <stddef.h>

#include <jansson.h>

struct config;
struct store_reply;

#define DELIVERIES_MAX 10000    /* entries listed or replayed per call */

/* One FCALL: argv[0..argc) (the strings it owns freed by _free). */
struct deliveries_call {
	const char **argv;
	int argc;
	char *owned[4];
};

/* FCALL ww_deliveries: the dead letters (failed), or what waits. */
void deliveries_list_call(struct deliveries_call *c, const struct config *cfg,
    int failed);
/* FCALL ww_replay: ids (nids > 0), else every dead letter of sink (NULL:
 * of every sink). */
void deliveries_replay_call(struct deliveries_call *c, const struct config *cfg,
    const char *sink, const char *const *ids, size_t nids);
void deliveries_call_free(struct deliveries_call *c);

/* The rows of a ww_deliveries reply (a new array), or NULL when r is not
 * one. */
json_t *deliveries_rows(const struct store_reply *r, int failed);
/* {"requeued": [{"id", "sink"}...], "missing": [ids]} of a ww_replay
 * reply, or NULL when r is not one. */
json_t *deliveries_replayed(const struct store_reply *r);

#endif
