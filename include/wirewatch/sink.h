/*
 * sink.h - one delivery attempt of a rendered alert to a sink: a webhook
 * (HTTP POST through the fetcher) or the console (a line on stdout).
 *
 * This module makes ONE attempt and judges the answer; what happens next
 * (retry later, dead letter) is the outbox's decision, recorded in Redis,
 * so that a retry survives a restart.  Judgement: 2xx delivered;
 * transport errors, 408, 429 and 5xx are worth a retry (with the
 * server's Retry-After as a hint); any other status is final.  Every
 * answer, a success included, is also read for the service's rate-limit
 * headers (pause_ms).  Every attempt ends in exactly one done callback.
 */
#ifndef WIREWATCH_SINK_H
#define WIREWATCH_SINK_H

#include <stddef.h>

struct cfg_sink;
struct event_base;
struct fetcher;
struct sinks;

enum sink_outcome {
	SINK_DELIVERED,  /* the sink accepted it */
	SINK_RETRY,      /* failed, worth another attempt later */
	SINK_FAILED,     /* refused for good: dead-letter it */
	SINK_ABORTED     /* shutting down: not sent, not failed (deliver later) */
};

struct sink_result {
	enum sink_outcome outcome;
	long status;          /* HTTP status, 0 without a response */
	long retry_after_ms;  /* the server's hint (Retry-After), or 0 */
	/*
	 * Any outcome: the service's rate-limit headers say its bucket for
	 * this destination is used up for this long (sinkfmt_pause_after_ms),
	 * or 0.
	 */
	long pause_ms;
	const char *reason;   /* NULL when delivered */
	const char *resp;     /* first bytes of the response body, may be NULL */
	size_t resp_len;
};

/* r and everything it points to are valid only during the call. */
typedef void (*sink_done_cb)(const struct sink_result *r, void *arg);

/* What to send: a rendered alert. */
struct sink_payload {
	const char *body;
	size_t len;
	const char *content_type;  /* NULL: application/json */
	const char *const *headers; /* "Name: value", may be NULL */
	size_t nheaders;
	const char *url_query;     /* appended to the sink URL, may be NULL */
};

struct sinks *sinks_new(struct event_base *base, struct fetcher *fetcher);

/* Frees the engine; attempts in flight end with SINK_ABORTED. */
void sinks_free(struct sinks *s);

/*
 * One attempt of payload (copied) to sink.  label names the alert in logs.
 * sink must outlive the attempt.  cb may run before this returns.
 */
void sinks_deliver(struct sinks *s, const struct cfg_sink *sink,
    const struct sink_payload *payload, const char *label, sink_done_cb cb,
    void *arg);

#endif
