/*
 * metrics.h - the local HTTP endpoint: /metrics (Prometheus) and /healthz.
 *
 * Served by libevent's evhttp on the daemon's loop, at [daemon] metrics
 * (host:port; off when not set).  GET and HEAD only (anything else gets
 * evhttp's 501), other paths 404.  Nothing it serves names a URL, a title
 * or a secret.
 *
 * /metrics: stats.c's series, plus what is read at scrape time (Redis up,
 * feeds by state, alerts in flight, build info, process figures) and what
 * a timer reads from Redis every METRICS_REFRESH_MS while it is up
 * (outbox depth, retry set, dead letters).
 *
 * /healthz: 200 "ok" while the loop turns (watchdog.c's tick is recent)
 * and Redis is up; else 503 with the reason on one line ("stopping",
 * "event loop stalled for 7s", "redis unix:/run/redis.sock: Connection
 * refused").
 */
#ifndef WIREWATCH_METRICS_H
#define WIREWATCH_METRICS_H

#include <stddef.h>

struct config;
struct event_base;
struct metrics;
struct pipeline;

#define METRICS_REFRESH_MS 5000
#define METRICS_STALL_MS 5000 /* no loop tick for this long: unhealthy */

/*
 * Listens on cfg->metrics.  NULL with the reason in err when it cannot;
 * NULL with err empty when metrics are off.  cfg is not kept (its prefix
 * is copied); p is read at each request and must outlive the endpoint.
 * After a reload, metrics_set_pipeline() takes the new prefix and
 * pipeline and adds zero series for new names; the address is not
 * rebound (a changed 'metrics' needs a restart).
 */
struct metrics *metrics_new(struct event_base *base, const struct config *cfg,
    struct pipeline *p, char *err, size_t errlen);
void metrics_set_pipeline(struct metrics *m, const struct config *cfg,
    struct pipeline *p);
void metrics_free(struct metrics *m);

/*
 * Splits [daemon] metrics: "host:port" or "[v6addr]:port", a port of 1 to
 * 65535 (*host, *port may be NULL to only check).  NULL when good, else
 * why not: config.c checks with it, so -t refuses what would not listen.
 */
const char *metrics_addr_parse(const char *addr, char **host, int *port);

#endif
