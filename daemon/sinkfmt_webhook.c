/*
 * sinkfmt_webhook.c - the generic signed webhook: the alert in a
 * Standard Webhooks envelope,
 *
 *   {"type":"alert","timestamp":T,"data":{...the alert fields...}}
 *
 * and a digest as {"type":"alert.digest","timestamp":T,"data":
 * {"alerts":[...],"count":N,"omitted":K}}; a later item of a story already
 * alerted (stories.h) as {"type":"alert.update",...} with "update": true
 * and the story's "story" in data.  T is the alert's "created"
 * when it has one, else its "published": the time of the event, stable
 * across retries, as the spec's payload structure asks
 * (github.com/standard-webhooks/standard-webhooks, spec/
 * standard-webhooks.md, "Payload structure").  The webhook-id,
 * -timestamp and -signature headers are added by the sink, not here.
 *
 * Limit: the body stays under 20 KB (20,000 bytes), issue 9's budget for
 * receivers with small request limits.  When an alert does not fit,
 * "explain" is dropped first, then every string is cut to a fixed cap
 * (title 1,000 bytes, identifiers 200-500, at most 20 terms of 100) and
 * the snippet is shortened until it fits; "truncated": true then says
 * so.  Data stays data: no escaping beyond JSON, [[hit]] markers kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/log.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define WEBHOOK_MAX 20000	/* bytes; the body must be shorter */

struct webhook {
	const json_t *const *alerts;
	struct sinkfmt_alert *v;
	size_t n;
	size_t full;		/* a budget this large keeps everything */
	char *body;
	size_t len;
};

static const char *
raw(const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s != NULL ? s : "";
}

static void
capped(json_t *o, const char *key, const char *s, size_t max, int sc)
{
	char *t = sinkfmt_truncate(s, sinkfmt_cap(max, sc), SINKFMT_BYTES);

	sinkfmt_set(o, key, sinkfmt_str(t));
	free(t);
}

/* The alert's data cut to the (scaled) caps, its snippet to budget bytes. */
static json_t *
shrunk(const json_t *j, const struct sinkfmt_alert *a, size_t budget, int sc)
{
	json_t *o = sinkfmt_object(), *terms = sinkfmt_array();
	const char *link = sinkfmt_link(a, sc);
	size_t i;

	capped(o, "alert_id", raw(j, "alert_id"), 100, SINKFMT_FULL);
	capped(o, "watchlist", a->watchlist, 200, sc);
	capped(o, "title", a->title, 1000, sc);
	if (link != NULL)
		sinkfmt_set(o, "link", sinkfmt_str(link));
	capped(o, "published", raw(j, "published"), 64, SINKFMT_FULL);
	capped(o, "feed", a->feed, 200, sc);
	capped(o, "id", raw(j, "id"), 200, sc);
	if (json_is_string(json_object_get(j, "item_id")))
		capped(o, "item_id", raw(j, "item_id"), 500, sc);
	for (i = 0; i < a->nterms && i < sinkfmt_cap(20, sc); i++) {
		char *t = sinkfmt_truncate(a->terms[i], 100, SINKFMT_BYTES);
		sinkfmt_append(terms, sinkfmt_str(t));
		free(t);
	}
	sinkfmt_set(o, "terms", terms);
	capped(o, "snippet", raw(j, "snippet"), budget, SINKFMT_FULL);
	sinkfmt_set(o, "truncated", json_true());
	return o;
}

static json_t *
data(const struct webhook *w, size_t i, size_t budget, int sc)
{
	json_t *d;

	if (budget < w->full || sc < SINKFMT_FULL)
		return shrunk(w->alerts[i], &w->v[i], budget, sc);
	if ((d = json_deep_copy(w->alerts[i])) == NULL)
		fatal("webhook: out of memory");
	return d;
}

static int
webhook_try(void *arg, size_t m, size_t budget, int sc)
{
	struct webhook *w = arg;
	const json_t *first = w->alerts[0];
	json_t *env = sinkfmt_object(), *d, *list;
	char *ts;
	size_t i;

	ts = sinkfmt_truncate(json_is_string(json_object_get(first,
	    "created")) ?
	    raw(first, "created") : raw(first, "published"), 64, SINKFMT_BYTES);
	sinkfmt_set(env, "type", sinkfmt_str(w->n > 1 ? "alert.digest" :
	    json_is_true(json_object_get(first, "update")) ? "alert.update" : "alert"));
	sinkfmt_set(env, "timestamp", sinkfmt_str(ts));
	free(ts);
	if (w->n == 1)
		d = data(w, 0, budget, sc);
	else {
		d = sinkfmt_object();
		list = sinkfmt_array();
		for (i = 0; i < m; i++)
			sinkfmt_append(list, data(w, i, budget, sc));
		sinkfmt_set(d, "alerts", list);
		sinkfmt_set(d, "count", json_integer((json_int_t)w->n));
		sinkfmt_set(d, "omitted", json_integer((json_int_t)(w->n - m)));
	}
	sinkfmt_set(env, "data", d);
	w->len = sinkfmt_serialize(env, &w->body);
	return w->body != NULL && w->len < WEBHOOK_MAX;
}

static int
webhook_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct webhook w = {0};
	size_t i, len, m;
	int rc = -1;

	(void)o;
	w.alerts = alerts;
	w.n = n;
	w.v = sinkfmt_alerts_load(alerts, n);
	for (i = 0; i < n; i++)
		if ((len = strlen(raw(alerts[i], "snippet"))) > w.full)
			w.full = len;
	w.full++;	/* w.full - 1 keeps the whole snippet, not explain */
	if ((m = sinkfmt_fit(webhook_try, &w, n, w.full)) == 0) {
		snprintf(err, errlen, "webhook: the alert does not fit in %d "
		    "bytes", WEBHOOK_MAX);
		goto out;
	}
	sinkfmt_give_body(out, &w.body, w.len, "application/json");
	out->shown = m;
	rc = 0;
out:
	free(w.body);
	sinkfmt_alerts_free(w.v, n);
	return rc;
}

const struct sinkfmt_type_ops sinkfmt_webhook_ops = {
	"webhook", webhook_render, NULL, 0, NULL, 1
};
