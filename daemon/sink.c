/*
 * sink.c - alert delivery; see sink.h for the contract.
 *
 * Each delivery is one struct delivery that lives until its done callback
 * has run: it owns the serialized body, the retry timer and the in-flight
 * fetch.  Deliveries are kept on a list so shutdown can account for every
 * one of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "wirewatch/config.h"
#include "wirewatch/fetch.h"
#include "wirewatch/log.h"
#include "wirewatch/sink.h"
#include "wirewatch/util.h"

#define RETRY_AFTER_CAP 300 /* seconds: never wait longer for one attempt */

struct delivery {
	struct sinks *s;
	const struct cfg_sink *sink;
	char *body;
	size_t len;
	char *label;
	int attempt;
	struct event *timer;
	struct fetch *fetch;
	sink_done_cb cb;
	void *arg;
	LIST_ENTRY(delivery) entry;
};

struct sinks {
	struct event_base *base;
	struct fetcher *fetcher;
	LIST_HEAD(, delivery) live;
	size_t n;
};

static void attempt(struct delivery *d);

struct sinks *
sinks_new(struct event_base *base, struct fetcher *fetcher)
{
	struct sinks *s = xcalloc(1, sizeof *s);

	s->base = base;
	s->fetcher = fetcher;
	LIST_INIT(&s->live);
	return s;
}

#define RESP_KEEP 1024 /* bytes of a failed response kept for the dead letter */

static void
delivery_end(struct delivery *d, enum sink_outcome outcome, const char *reason,
    const struct fetch_result *res)
{
	sink_done_cb cb = d->cb;
	void *arg = d->arg;
	int attempts = d->attempt;

	LIST_REMOVE(d, entry);
	d->s->n--;
	if (d->timer != NULL)
		event_free(d->timer);
	free(d->body);
	free(d->label);
	free(d);
	cb(outcome, reason, res && res->body ? res->body : NULL,
	    res && res->body ? (res->len < RESP_KEEP ? res->len : RESP_KEEP) : 0,
	    attempts, arg);
}

static int
retryable(const struct fetch_result *res)
{
	if (!res->ok)
		return 1;
	return res->status == 408 || res->status == 429 || res->status >= 500;
}

static long
backoff_ms(const struct delivery *d, const struct fetch_result *res)
{
	long base = d->sink->retry_base_ms > 0 ? d->sink->retry_base_ms : 1000;
	long ms = base << (d->attempt - 1 < 10 ? d->attempt - 1 : 10);

	/* +-25% jitter so retries from many alerts do not march in step. */
	ms += (long)((double)ms * ((double)random() / RAND_MAX - 0.5) / 2);
	if (res->retry_after > 0)
		ms = (res->retry_after < RETRY_AFTER_CAP ? res->retry_after :
		    RETRY_AFTER_CAP) * 1000L;
	return ms;
}

static void
sink_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	attempt(arg);
}

static void
sink_fetch_done_cb(const struct fetch_result *res, void *arg)
{
	struct delivery *d = arg;
	struct timeval tv;
	long ms;

	d->fetch = NULL;
	if (res->ok && res->status >= 200 && res->status < 300) {
		if (d->attempt > 1)
			log_info("sink \"%s\": %s delivered after %d attempts",
			    d->sink->name, d->label, d->attempt);
		delivery_end(d, SINK_DELIVERED, NULL, res);
		return;
	}
	if (!retryable(res) || d->attempt > d->sink->retries) {
		log_err("sink \"%s\": %s not sent: %s (after %d attempt%s)",
		    d->sink->name, d->label, res->error, d->attempt,
		    d->attempt == 1 ? "" : "s");
		delivery_end(d, SINK_FAILED, res->error, res);
		return;
	}
	ms = backoff_ms(d, res);
	log_warn("sink \"%s\": %s attempt %d failed: %s; retrying in %ldms",
	    d->sink->name, d->label, d->attempt, res->error, ms);
	if (d->timer == NULL)
		d->timer = evtimer_new(d->s->base, sink_retry_cb, d);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(d->timer, &tv);
}

static void
attempt(struct delivery *d)
{
	struct fetch_req req;

	d->attempt++;
	memset(&req, 0, sizeof req);
	req.url = d->sink->url;
	req.post_body = d->body;
	req.post_len = d->len;
	req.content_type = "application/json";
	req.timeout_ms = d->sink->timeout_ms;
	d->fetch = fetch_start(d->s->fetcher, &req, sink_fetch_done_cb, d);
	if (d->fetch == NULL) {
		log_err("sink \"%s\": %s not sent: bad URL", d->sink->name, d->label);
		delivery_end(d, SINK_FAILED, "bad URL", NULL);
	}
}

void
sinks_deliver(struct sinks *s, const struct cfg_sink *sink, const char *body,
    size_t len, const char *label, sink_done_cb cb, void *arg)
{
	struct delivery *d;

	if (sink->type == SINK_CONSOLE) {
		fwrite(body, 1, len, stdout);
		fputc('\n', stdout);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			clearerr(stdout);
			cb(SINK_FAILED, "cannot write to stdout", NULL, 0, 1, arg);
			return;
		}
		cb(SINK_DELIVERED, NULL, NULL, 0, 1, arg);
		return;
	}
	d = xcalloc(1, sizeof *d);
	d->s = s;
	d->sink = sink;
	d->body = xmalloc(len + 1);
	memcpy(d->body, body, len);
	d->body[len] = '\0';
	d->len = len;
	d->label = xstrdup(label);
	d->cb = cb;
	d->arg = arg;
	LIST_INSERT_HEAD(&s->live, d, entry);
	s->n++;
	attempt(d);
}

size_t
sinks_pending(const struct sinks *s)
{
	return s->n;
}

void
sinks_free(struct sinks *s)
{
	struct delivery *d;

	if (s == NULL)
		return;
	while ((d = LIST_FIRST(&s->live)) != NULL) {
		if (d->fetch != NULL)
			fetch_cancel(d->fetch);
		log_notice("sink \"%s\": %s not sent yet: shutting down (after %d "
		    "attempt%s); it stays in the outbox", d->sink->name, d->label,
		    d->attempt, d->attempt == 1 ? "" : "s");
		delivery_end(d, SINK_ABORTED, "shutting down", NULL);
	}
	free(s);
}
