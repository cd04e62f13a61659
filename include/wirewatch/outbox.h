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
 * OUTBOX_CLAIM_IDLE_MS.  The stream is trimmed by MINID below the oldest
 * pending entry, never by MAXLEN (which would drop pending entries).
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

void outbox_record(struct outbox *ob, const char *item_key,
    const struct outbox_alert *alerts, size_t nalerts, outbox_record_cb cb,
    void *arg);

/*
 * Stops taking new entries; deliveries in flight finish or stay pending.
 * cb runs whenever nothing is in flight any more (never when nothing was).
 */
void outbox_stop(struct outbox *ob, outbox_idle_cb cb, void *arg);
/* --once: calls cb once nothing is pending or in flight. */
void outbox_drain(struct outbox *ob, outbox_idle_cb cb, void *arg);

size_t outbox_inflight(const struct outbox *ob);
/* Alerts that ended in the dead-letter stream since start. */
unsigned long outbox_dead_count(const struct outbox *ob);
/* --once: 1 when it ended with alerts waiting for a later retry. */
int outbox_unfinished(const struct outbox *ob);

#endif
