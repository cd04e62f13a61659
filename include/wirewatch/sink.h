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

enum sink_outcome {
	SINK_DELIVERED,  /* the sink accepted it */
	SINK_FAILED,     /* final refusal or retries exhausted: dead-letter it */
	SINK_ABORTED     /* shutting down: not sent, not failed (deliver later) */
};

/*
 * reason says why (NULL when delivered); resp is the first bytes of the
 * last response body (may be NULL), valid only during the call.
 */
typedef void (*sink_done_cb)(enum sink_outcome outcome, const char *reason,
    const char *resp, size_t resp_len, int attempts, void *arg);

struct sinks *sinks_new(struct event_base *base, struct fetcher *fetcher);

/*
 * Frees the engine.  Deliveries still waiting or in flight are logged as
 * not sent and their callbacks run with SINK_ABORTED.
 */
void sinks_free(struct sinks *s);

/*
 * Delivers body (rendered by alert_render; copied) to sink.  label names
 * the alert in logs ("alert ID watchlist X item Y").  sink must outlive
 * the delivery.  cb may run before this returns (console sink).
 */
void sinks_deliver(struct sinks *s, const struct cfg_sink *sink,
    const char *body, size_t len, const char *label, sink_done_cb cb,
    void *arg);

size_t sinks_pending(const struct sinks *s);

#endif
