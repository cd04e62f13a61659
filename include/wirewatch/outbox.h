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
 * capped near 100,000 entries), <prefix>epoch (see outbox_epoch),
 * <prefix>recent (the kept items, recent.h), <prefix>alerts:DAY (alerts
 * queued that UTC day, kept 8 days).
 */
#ifndef WIREWATCH_OUTBOX_H
#define WIREWATCH_OUTBOX_H

#include <stddef.h>
#include <time.h>

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
 * Marks item_key seen, keeps the item in the recent-items stream
 * (<prefix>recent, recent.h) and queues its alerts, in one call of the
 * Redis function ww_record_item: all of it or nothing.  kept is the kept
 * item as nkept strings (field, value, ...), made by recent_fields(); 0
 * or [daemon] keep-items = 0 keeps nothing.  The alerts are counted on
 * the day's counter (outbox_day_key).  With a fence_key (several
 * instances, cluster.h) ww_record_item runs only while that lease hash
 * still has fence_token, and answers "FENCED: ..." (an error) otherwise;
 * NULL: not fenced.
 */
void outbox_record(struct outbox *ob, const char *item_key,
    const struct outbox_alert *alerts, size_t nalerts, const char *const *kept,
    size_t nkept, const char *fence_key, const char *fence_token,
    outbox_record_cb cb, void *arg);

/*
 * The Redis function library "wirewatch" (Lua source) the daemon loads
 * with FUNCTION LOAD REPLACE on every connection; wirewatchctl's offline
 * verbs load it too when a database has none yet.
 */
const char *outbox_functions(void);

/* "<prefix>alerts:YYYY-MM-DD" for now's UTC day (malloc'd): the number of
 * alerts queued that day, over every instance. */
char *outbox_day_key(const struct config *cfg, time_t now);

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

/*
 * A reload: from now on cfg's sinks (cfg must outlive the outbox or the
 * next reconfigure).  A sink kept by name keeps its lane (waiting
 * alerts, pause, tokens) with its new settings, and is enabled again if
 * a 410 had disabled it; a new sink gets a lane; a removed sink's
 * waiting and parked alerts go to the dead letters with the reason, and
 * its attempts in flight finish (each holds the config its sink is in).
 */
void outbox_reconfigure(struct outbox *ob, const struct config *cfg);

/* Alerts in delivery attempts, plus acknowledgements in flight. */
size_t outbox_inflight(const struct outbox *ob);
/* Alerts waiting for their sink's pace (in memory or as parked ids). */
size_t outbox_waiting(const struct outbox *ob);
/* Alerts that ended in the dead-letter stream since start. */
unsigned long outbox_dead_count(const struct outbox *ob);
/* --once: 1 when it ended with alerts waiting for a later retry. */
int outbox_unfinished(const struct outbox *ob);

#endif
