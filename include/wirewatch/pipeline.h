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
struct store;

/*
 * once: poll every feed a single time, deliver, then leave the loop.
 * The pipeline borrows cfg, which must outlive it.
 */
struct pipeline *pipeline_new(struct event_base *base, const struct config *cfg,
    int once, char *err, size_t errlen);

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

#endif
