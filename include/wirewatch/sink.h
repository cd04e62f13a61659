/*
 * sink.h - alert delivery to sinks: webhooks (HTTP POST of the JSON alert,
 * through the fetcher) and the console (one JSON line per alert on stdout).
 *
 * A failed webhook POST (transport error, 408, 429, 5xx) is retried with
 * exponential backoff and jitter, honouring Retry-After; other 4xx answers
 * are final.  Every delivery ends in exactly one done callback.
 */
#ifndef WIREWATCH_SINK_H
#define WIREWATCH_SINK_H

#include <stddef.h>

#include <jansson.h>

struct cfg_sink;
struct event_base;
struct fetcher;
struct sinks;

/* ok is 1 when the sink accepted the alert. */
typedef void (*sink_done_cb)(int ok, void *arg);

struct sinks *sinks_new(struct event_base *base, struct fetcher *fetcher);

/*
 * Frees the engine.  Deliveries still waiting or in flight are logged as
 * not sent and their callbacks run with ok == 0.
 */
void sinks_free(struct sinks *s);

/*
 * Delivers payload (a reference is taken) to sink.  label names the alert
 * in logs ("watchlist X item Y").  sink must outlive the delivery.
 */
void sinks_deliver(struct sinks *s, const struct cfg_sink *sink,
    json_t *payload, const char *label, sink_done_cb cb, void *arg);

size_t sinks_pending(const struct sinks *s);

#endif
