/*
 * sink.c - one delivery attempt per call; see sink.h for the contract.
 *
 * Each attempt is one struct delivery that lives until its done callback
 * has run: it owns the copied body and the in-flight fetch.  Attempts are
 * kept on a list so shutdown can account for every one of them.
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
#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#define RESP_KEEP 1024 /* bytes of a failed response kept for the dead letter */

struct delivery {
	struct sinks *s;
	const struct cfg_sink *sink;
	char *body;
	size_t len;
	char *label;
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

struct sinks *
sinks_new(struct event_base *base, struct fetcher *fetcher)
{
	struct sinks *s = xcalloc(1, sizeof *s);

	s->base = base;
	s->fetcher = fetcher;
	LIST_INIT(&s->live);
	return s;
}

static void
delivery_end(struct delivery *d, struct sink_result *r)
{
	sink_done_cb cb = d->cb;
	void *arg = d->arg;

	LIST_REMOVE(d, entry);
	d->s->n--;
	free(d->body);
	free(d->label);
	free(d);
	cb(r, arg);
}

static enum sink_outcome
judge(const struct fetch_result *res)
{
	if (!res->ok)
		return SINK_RETRY;
	if (res->status >= 200 && res->status < 300)
		return SINK_DELIVERED;
	if (res->status == 408 || res->status == 429 || res->status >= 500)
		return SINK_RETRY;
	return SINK_FAILED;
}

/* sinkfmt's view of the response headers. */
static const char *
response_header(const void *ctx, const char *name)
{
	return fetch_header(ctx, name);
}

static void
sink_fetch_done_cb(const struct fetch_result *res, void *arg)
{
	struct delivery *d = arg;
	struct sink_result r;
	char reason[300];
	long hint;

	d->fetch = NULL;
	memset(&r, 0, sizeof r);
	r.outcome = judge(res);
	r.status = res->ok ? res->status : 0;
	r.retry_after_ms = res->retry_after > 0 ? res->retry_after * 1000 : 0;
	/* Discord and Telegram say when to retry in the body, more precisely. */
	if (res->ok && res->body != NULL && r.outcome == SINK_RETRY) {
		hint = sinkfmt_retry_after_ms((enum sinkfmt_type)d->sink->format,
		    res->body, res->len);
		if (hint > r.retry_after_ms)
			r.retry_after_ms = hint;
	}
	/* Discord announces a used-up bucket on successes too. */
	if (res->ok)
		r.pause_ms = sinkfmt_pause_after_ms(
		    (enum sinkfmt_type)d->sink->format, response_header, res);
	if (r.outcome != SINK_DELIVERED) {
		if (res->ok && res->error[0] == '\0')
			snprintf(reason, sizeof reason, "HTTP %ld", res->status);
		else
			snprintf(reason, sizeof reason, "%s", res->error);
		r.reason = reason;
	}
	if (res->ok && res->body != NULL) {
		r.resp = res->body;
		r.resp_len = res->len < RESP_KEEP ? res->len : RESP_KEEP;
	}
	delivery_end(d, &r);
}

static void
deliver_console(const struct sink_payload *pl, sink_done_cb cb, void *arg)
{
	struct sink_result r;

	memset(&r, 0, sizeof r);
	fwrite(pl->body, 1, pl->len, stdout);
	fputc('\n', stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		clearerr(stdout);
		r.outcome = SINK_RETRY;
		r.reason = "cannot write to stdout";
	} else {
		r.outcome = SINK_DELIVERED;
	}
	cb(&r, arg);
}

void
sinks_deliver(struct sinks *s, const struct cfg_sink *sink,
    const struct sink_payload *pl, const char *label, sink_done_cb cb,
    void *arg)
{
	struct sink_result r;
	struct fetch_req req;
	struct delivery *d;
	char *url = NULL;

	if (sink->type == SINK_CONSOLE) {
		deliver_console(pl, cb, arg);
		return;
	}
	d = xcalloc(1, sizeof *d);
	d->s = s;
	d->sink = sink;
	d->body = xmalloc(pl->len + 1);
	memcpy(d->body, pl->body, pl->len);
	d->body[pl->len] = '\0';
	d->len = pl->len;
	d->label = xstrdup(label);
	d->cb = cb;
	d->arg = arg;
	LIST_INSERT_HEAD(&s->live, d, entry);
	s->n++;
	memset(&req, 0, sizeof req);
	if (pl->url_query != NULL)
		url = xasprintf("%s%c%s", sink->url,
		    strchr(sink->url, '?') ? '&' : '?', pl->url_query);
	req.url = url != NULL ? url : sink->url;
	req.post_body = d->body;
	req.post_len = d->len;
	req.content_type = pl->content_type ? pl->content_type : "application/json";
	req.timeout_ms = sink->timeout_ms;
	req.headers = pl->headers;
	req.nheaders = pl->nheaders;
	d->fetch = fetch_start(s->fetcher, &req, sink_fetch_done_cb, d);
	free(url);
	if (d->fetch == NULL) {
		memset(&r, 0, sizeof r);
		r.outcome = SINK_FAILED;
		r.reason = "bad URL";
		delivery_end(d, &r);
	}
}

void
sinks_free(struct sinks *s)
{
	struct sink_result r;
	struct delivery *d;

	if (s == NULL)
		return;
	memset(&r, 0, sizeof r);
	r.outcome = SINK_ABORTED;
	r.reason = "shutting down";
	while ((d = LIST_FIRST(&s->live)) != NULL) {
		if (d->fetch != NULL)
			fetch_cancel(d->fetch);
		log_notice("sink \"%s\": %s not sent yet: shutting down; it stays "
		    "in the outbox", d->sink->name, d->label);
		delivery_end(d, &r);
	}
	free(s);
}
