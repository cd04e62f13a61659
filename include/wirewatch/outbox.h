/*
 * outbox.h - the durable alert queue: a Redis stream, delivered through a
 * consumer group, with a dead-letter stream.
 *
 * Recording: outbox_record() marks an item seen AND appends its alerts to
 * the stream in one Redis function call (ww_record): Redis runs it
 * atomically, so whatever happens to the daemon or the connection (a
 * crash, a timeout whose outcome is unknown), an item is either new (and
 * retried next poll) or seen with every alert queued.  Never "seen but
 * not alerted".
 *
 * Delivery: the dispatcher reads the stream with XREADGROUP (its own
 * pending entries first after every connect, then new ones), hands each
 * entry to its sink, XACKs it when delivered and moves it to the dead
 * letter stream (with the reason and the first 1 KB of the response) when
 * the sink refuses it for good.  An entry whose delivery was cut short
 * (shutdown, crash, lost connection) stays pending and is delivered again,
 * with the same alert id: delivery is at-least-once.  Entries left pending
 * by another consumer (a dead instance) are claimed with XAUTOCLAIM after
 * two leases ([daemon] lease; OUTBOX_CLAIM_IDLE_MS with leases off).  The stream is trimmed by MINID below the oldest
 * pending entry, never by MAXLEN (which would drop pending entries).
 *
 * Pacing: each sink has a lane.  Chat services with a published rate
 * (slack, discord, telegram, google-chat, teams) get a token bucket at
 * that rate, per process and, with leases on, also in Redis
 * (<prefix>pace:<sink>, shared by every instance); the others are not
 * paced.  A 429, or a retry hint,
 * pauses the sink's lane until the hint.  Alerts that wait for a lane
 * stay pending in Redis.  When a message may go and more than the
 * sink's digest-after alerts wait, as many as its format shows (at most
 * 50) go as one digest message, and so does the tail of that backlog
 * (two or more waiting) until the sink has been idle for a few seconds.
 * A digest's outcome is each of its alerts' outcome (delivered: each
 * XACKed; retry: each retried on its own; failed: each dead-lettered).
 * OUTBOX_MAX_INFLIGHT bounds the alerts in delivery attempts; waiting
 * ones are bounded per lane (the rest are kept as stream ids only), so
 * that a slow sink never stops the reads other sinks' alerts depend on.
 *
 * Keys: <prefix>outbox (stream, group "dispatch"), <prefix>dead (stream,
 * capped near 100,000 entries), <prefix>epoch (see outbox_epoch).
 */
#ifndef WIREWATCH_OUTBOX_H
#define WIREWATCH_OUTBOX_H

#include <stddef.h>

struct config;
struct event_base;
struct sinks;
struct store;
struct outbox;

/* Alerts in delivery attempts (a digest counts each of its alerts). */
#define OUTBOX_MAX_INFLIGHT 256
#define OUTBOX_CLAIM_IDLE_MS 60000

/* One alert to queue with an item. */
struct outbox_alert {
	const char *id;        /* alert_make_id() */
	const char *sink;      /* sink name */
	const char *watchlist;
	const char *json;      /* the alert, serialized */
};

/*
 * Outcome of a record call: 1 the item was new and its alerts are queued,
 * 0 it was already seen (nothing queued), -1 error with the reason
 * (outcome unknown on a timeout: either of the above happened entirely).
 */
typedef void (*outbox_record_cb)(int result, const char *error, void *arg);
/* --once: called when the outbox is drained (nothing pending, nothing new). */
typedef void (*outbox_idle_cb)(void *arg);
/* Called with the epoch value read at every (re)connect. */
typedef void (*outbox_epoch_cb)(const char *epoch, void *arg);

struct outbox *outbox_new(struct event_base *base, const struct config *cfg,
    struct store *store, struct sinks *sinks, const char *consumer);
void outbox_free(struct outbox *ob);

/* Sends what every new connection needs first (functions, group, epoch). */
void outbox_setup(struct outbox *ob, outbox_epoch_cb cb, void *arg);
/* The connection is up: start or resume dispatching. */
void outbox_start(struct outbox *ob);
/* Look for new entries now (after a record queued alerts). */
void outbox_kick(struct outbox *ob);

/*
 * Fences the next outbox_record() (only that one): ww_record then runs only
 * while the hash lease_key still has this token (cluster.h), and answers
 * "FENCED: ..." (an error) otherwise.  Both strings are borrowed until then.
 */
void outbox_fence(struct outbox *ob, const char *lease_key, const char *token);
void outbox_record(struct outbox *ob, const char *item_key,
    const struct outbox_alert *alerts, size_t nalerts, outbox_record_cb cb,
    void *arg);

/*
 * Stops taking new entries; deliveries in flight finish or stay pending,
 * alerts waiting for a paced sink stay pending.  cb runs whenever
 * nothing is in flight any more (never when nothing was).
 */
void outbox_stop(struct outbox *ob, outbox_idle_cb cb, void *arg);
/*
 * --once: calls cb once nothing is pending, waiting or in flight (a sink
 * paused by its service for over a minute is not waited for: its alerts
 * stay pending for the next run, and outbox_unfinished() says so).
 */
void outbox_drain(struct outbox *ob, outbox_idle_cb cb, void *arg);

/* Alerts in delivery attempts, plus acknowledgements in flight. */
size_t outbox_inflight(const struct outbox *ob);
/* Alerts waiting for their sink's pace (in memory or as parked ids). */
size_t outbox_waiting(const struct outbox *ob);
/* Alerts that ended in the dead-letter stream since start. */
unsigned long outbox_dead_count(const struct outbox *ob);
/* --once: 1 when it ended with alerts waiting for a later retry. */
int outbox_unfinished(const struct outbox *ob);

#endif
