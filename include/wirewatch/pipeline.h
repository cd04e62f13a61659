/*
 * pipeline.h - the daemon's data path: for every feed, fetch -> parse ->
 * seen filter (Redis SET NX) -> match -> alerts to sinks, on one loop.
 */
#ifndef WIREWATCH_PIPELINE_H
#define WIREWATCH_PIPELINE_H

#include <stddef.h>

#include <jansson.h>

struct config;
struct event_base;
struct pipeline;
struct registry;
struct recent;
struct store;

/*
 * once: poll every feed a single time, deliver, then leave the loop.
 * The pipeline takes a reference to cfg (config_ref).
 */
struct pipeline *pipeline_new(struct event_base *base, struct config *cfg,
    int once, char *err, size_t errlen);

/*
 * Applies cfg (loaded and validated: one reference, which the pipeline
 * takes) in place of the running config, by config_diff: new feeds start
 * (their first poll spread as at start), removed ones stop (a fetch in
 * flight is cancelled, a poll that is recording items finishes them),
 * kept ones take their new settings (a shorter interval brings the next
 * poll forward), watchlists swap between two items, sinks between two
 * deliveries (outbox_reconfigure: a removed sink's waiting alerts go to
 * the dead letters).  Returns the summary the reload verb answers:
 * {"revision":N,"feeds":{"added":[],"removed":[],"changed":[]},
 * "watchlists":{...},"sinks":{...},"needs_restart":"redis, ..."|null}.
 */
json_t *pipeline_reload(struct pipeline *p, struct config *cfg);

/* The config revision: 1 at start, one more per successful reload. */
unsigned long pipeline_revision(const struct pipeline *p);
/* The running config's file. */
const char *pipeline_config_path(const struct pipeline *p);

/* Stops scheduling polls; leaves the loop when in-flight work is done
 * or after grace_ms, whichever comes first. */
void pipeline_stop(struct pipeline *p, long grace_ms);

/* Logs every feed's health: last success, failures, last error, items
 * seen, response time, current interval (SIGUSR1). */
void pipeline_log_health(const struct pipeline *p);

/* 1 when a feed, Redis or a delivery failed (the --once exit status). */
int pipeline_failed(const struct pipeline *p);

/* The Redis connection (metrics.c reads a few figures through it). */
struct store *pipeline_store(const struct pipeline *p);

/* Frees everything; in-flight deliveries are logged as not sent. */
void pipeline_free(struct pipeline *p);

/*
 * Read-only views for the control socket, as new JSON the caller owns
 * (json_decref).  status: an object of counts and states (redis "up" or
 * "down", feeds ok/failing/never, outbox in flight, dead letters since
 * start, ...); feeds, watchlists, sinks: an array of one object per
 * entry, in config order.  URLs are masked (util_url_mask).
 */
json_t *pipeline_status_json(const struct pipeline *p);
json_t *pipeline_feeds_json(const struct pipeline *p);
json_t *pipeline_watchlists_json(const struct pipeline *p);
json_t *pipeline_sinks_json(const struct pipeline *p);
/* One watchlist with its counts (alerts queued since start, the last
 * one's time), or NULL when there is none of that name. */
json_t *pipeline_watchlist_json(const struct pipeline *p, const char *name);
/* The run-time watchlists as config text (malloc'd). */
char *pipeline_watchlists_export(const struct pipeline *p);
/* The run-time registry (registry.h). */
struct registry *pipeline_registry(const struct pipeline *p);

/* What the control commands that go to Redis use (control_items.c): the
 * Redis connection, the kept items, the running config. */
struct store *pipeline_store(const struct pipeline *p);
struct recent *pipeline_recent(const struct pipeline *p);
const struct config *pipeline_config(const struct pipeline *p);

#endif
