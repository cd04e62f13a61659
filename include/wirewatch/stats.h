/*
 * stats.h - the daemon's counters, gauges and histograms, for /metrics.
 *
 * One process-wide table, written by one-line calls where things happen
 * (fetch.c, pipeline.c, pipeline_seen.c, pipeline_reload.c, outbox.c,
 * outbox_lane.c, sink.c, store.c) and read by metrics.c, which renders it
 * in the Prometheus text exposition format.
 * Nothing here can fail or block; a series is created on its first use.
 * The daemon is single-threaded, so there is no locking.
 *
 * Labels are short names from the configuration (feed, watchlist and sink
 * names, sink types) or fixed words (outcomes): never a URL or a title.
 * One series per feed is fine well beyond 10,000 feeds for the daemon,
 * but that is where a Prometheus server starts to notice; see README.
 */
#ifndef WIREWATCH_STATS_H
#define WIREWATCH_STATS_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct outbox_alert;
struct stats_hold;

/* Every family, in the order /metrics lists them. */
enum stats_family {
	STATS_POLLS,            /* counter {outcome} */
	STATS_FETCH_SECONDS,    /* histogram {lane} */
	STATS_FETCHED_BYTES,    /* counter {lane} */
	STATS_ITEMS_PARSED,     /* counter */
	STATS_ITEMS_NEW,        /* counter */
	STATS_ALERTS,           /* counter {watchlist, sink} */
	STATS_DELIVERIES,       /* counter {sink_type, outcome} */
	STATS_RETRIES,          /* counter {sink} */
	STATS_DEAD_LETTERS,     /* counter {sink} */
	STATS_RATE_LIMIT_WAITS, /* counter {sink, reason} */
	STATS_REDIS_SECONDS,    /* histogram */
	STATS_REDIS_DOWN,       /* counter: the connection went down */
	STATS_FEED_LAST_OK,     /* gauge {feed} */
	STATS_NFAMILIES
};

/* Poll outcomes (wirewatch_polls_total{outcome}). */
#define STATS_POLL_OK "ok"
#define STATS_POLL_NOT_MODIFIED "not_modified"
#define STATS_POLL_FAILED "failed"
#define STATS_POLL_REDIS "redis_error"
#define STATS_POLL_STOPPED "stopped"

/* Adds n to a counter (or sets a gauge to n); absent labels are NULL. */
void stats_add(enum stats_family f, const char *l1, const char *l2, double n);
#define stats_inc(f, l1, l2) stats_add((f), (l1), (l2), 1)
void stats_set(enum stats_family f, const char *l1, const char *l2, double v);
/* One observation of a histogram. */
void stats_observe(enum stats_family f, const char *l1, double v);

/* The outcome word of a finished poll, from its flags. */
const char *stats_poll_outcome(int failed, int store_failed, int quiet,
    int no_document);
/* One finished fetch: its duration and body size, by lane. */
void stats_fetched(int delivery, double seconds, size_t bytes);
/* One delivery attempt's outcome (enum sink_outcome) for a sink (may be NULL). */
struct cfg_sink;
void stats_delivery(const struct cfg_sink *sink, int outcome);
void stats_delivery_add(const struct cfg_sink *sink, int outcome, double n);

/*
 * Alerts are counted once Redis says they were queued: stats_hold()
 * copies the watchlist and sink of each (NULL when there are none), and
 * stats_hold_done() counts them when queued is 1, then frees the hold.
 */
struct stats_hold *stats_hold(const struct outbox_alert *alerts, size_t n);
void stats_hold_done(struct stats_hold *h, int queued);

/* Redis state as store.c last saw it (why: NULL when up). */
void stats_redis_state(int up, const char *why);
int stats_redis_up(const char **why);

/* The event loop turned (watchdog.c's tick): monotonic milliseconds. */
void stats_loop_turned(uint64_t now_ms);
uint64_t stats_loop_last_turn(void);

/* A configuration was loaded: revision 1 at start, +1 per reload. */
void stats_config_loaded(void);

/* Appends every family in the text exposition format (version 0.0.4). */
void stats_render(struct buf *out);
/* Appends one escaped label value. */
void stats_label_value(struct buf *out, const char *v);

/* Drops every series (tests). */
void stats_reset(void);

#endif
