/*
 * stats.c - the process-wide table of series behind /metrics.
 *
 * A series is (family, up to two label values) -> a value, or a
 * histogram's buckets.  Series live in one hash table for lookups and on
 * their family's list (in creation order) for rendering.  Families, their
 * names, help texts, label names and buckets are the table below: adding
 * a metric is adding a row.  Nothing is ever removed (a renamed feed
 * keeps its old series until the daemon restarts), which bounds the table
 * by what the configuration names.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wirewatch/config.h"
#include "wirewatch/outbox.h"
#include "wirewatch/sink.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/stats.h"
#include "wirewatch/util.h"

enum kind { COUNTER, GAUGE, HISTOGRAM };

#define MAXBUCKETS 12

static const double fetch_buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const double redis_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
	0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 5 };

static const struct family {
	const char *name;
	enum kind kind;
	const char *help;
	const char *l1, *l2;
	const double *buckets;
	size_t nbuckets;
} families[STATS_NFAMILIES] = {
	[STATS_POLLS] = { "wirewatch_polls_total", COUNTER,
	    "Feed polls finished, by outcome (ok, not_modified, failed, "
	    "redis_error, stopped).", "outcome", NULL, NULL, 0 },
	[STATS_FETCH_SECONDS] = { "wirewatch_fetch_duration_seconds", HISTOGRAM,
	    "Time from the start of a transfer to its end, redirects included; "
	    "lane poll (feeds) or delivery (webhook POSTs).", "lane", NULL,
	    fetch_buckets, sizeof fetch_buckets / sizeof *fetch_buckets },
	[STATS_FETCHED_BYTES] = { "wirewatch_fetched_bytes_total", COUNTER,
	    "Response body bytes received (after content decoding).", "lane",
	    NULL, NULL, 0 },
	[STATS_ITEMS_PARSED] = { "wirewatch_items_parsed_total", COUNTER,
	    "Items taken from parsed feed documents.", NULL, NULL, NULL, 0 },
	[STATS_ITEMS_NEW] = { "wirewatch_items_new_total", COUNTER,
	    "Items seen for the first time (recorded in Redis).", NULL, NULL,
	    NULL, 0 },
	[STATS_ALERTS] = { "wirewatch_alerts_total", COUNTER,
	    "Alerts queued in the outbox, by watchlist and sink.", "watchlist",
	    "sink", NULL, 0 },
	[STATS_DELIVERIES] = { "wirewatch_deliveries_total", COUNTER,
	    "Outcomes of alert delivery attempts (an alert in a digest counts "
	    "once), by sink type and outcome (delivered, retry, failed, "
	    "aborted).", "sink_type", "outcome", NULL, 0 },
	[STATS_RETRIES] = { "wirewatch_delivery_retries_total", COUNTER,
	    "Alerts scheduled for another attempt, by sink.", "sink", NULL, NULL,
	    0 },
	[STATS_DEAD_LETTERS] = { "wirewatch_dead_letters_total", COUNTER,
	    "Alerts moved to the dead-letter stream, by sink.", "sink", NULL,
	    NULL, 0 },
	[STATS_RATE_LIMIT_WAITS] = { "wirewatch_rate_limit_waits_total", COUNTER,
	    "Times a sink's alerts had to wait: reason pace (out of tokens) or "
	    "service (a 429 or retry hint paused the sink).", "sink", "reason",
	    NULL, 0 },
	[STATS_REDIS_SECONDS] = { "wirewatch_redis_command_duration_seconds",
	    HISTOGRAM, "Time from sending a Redis command to its reply or "
	    "timeout.", NULL, NULL, redis_buckets,
	    sizeof redis_buckets / sizeof *redis_buckets },
	[STATS_REDIS_DOWN] = { "wirewatch_redis_disconnects_total",
	    COUNTER, "Times the Redis connection went down.", NULL, NULL, NULL,
	    0 },
	[STATS_FEED_LAST_OK] = { "wirewatch_feed_last_success_timestamp_seconds",
	    GAUGE, "Unix time of each feed's last successful poll (one series a "
	    "feed).", "feed", NULL, NULL, 0 },
};

struct series {
	enum stats_family f;
	char *l1, *l2;
	double value;              /* counter or gauge; histogram: sum */
	uint64_t count;            /* histogram: observations */
	uint64_t bucket[MAXBUCKETS];
	struct series *hnext;      /* hash chain */
	struct series *next;       /* family list */
};

static struct {
	struct series **table;
	size_t cap, n;
	struct series *first[STATS_NFAMILIES], **last[STATS_NFAMILIES];
	int redis_up;
	char redis_why[300];
	uint64_t loop_turn;
	long config_revision;
	time_t config_loaded;
} st;

static uint64_t
key_hash(enum stats_family f, const char *l1, const char *l2)
{
	uint64_t h = util_hash64(&f, sizeof f, 0);

	if (l1 != NULL)
		h = util_hash64(l1, strlen(l1) + 1, h);
	if (l2 != NULL)
		h = util_hash64(l2, strlen(l2) + 1, h);
	return h;
}

static int
same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void
rehash(void)
{
	size_t cap = st.cap ? st.cap * 2 : 64, i, j;
	struct series **t = xcalloc(cap, sizeof *t), *s, *next;

	for (i = 0; i < st.cap; i++)
		for (s = st.table[i]; s != NULL; s = next) {
			next = s->hnext;
			j = key_hash(s->f, s->l1, s->l2) & (cap - 1);
			s->hnext = t[j];
			t[j] = s;
		}
	free(st.table);
	st.table = t;
	st.cap = cap;
}

static struct series *
get(enum stats_family f, const char *l1, const char *l2)
{
	struct series *s;
	size_t i;

	if (families[f].l1 == NULL)
		l1 = NULL;
	else if (l1 == NULL)
		l1 = "";
	if (families[f].l2 == NULL)
		l2 = NULL;
	else if (l2 == NULL)
		l2 = "";
	if (st.cap != 0) {
		i = key_hash(f, l1, l2) & (st.cap - 1);
		for (s = st.table[i]; s != NULL; s = s->hnext)
			if (s->f == f && same(s->l1, l1) && same(s->l2, l2))
				return s;
	}
	if (st.n >= st.cap / 2)
		rehash();
	s = xcalloc(1, sizeof *s);
	s->f = f;
	s->l1 = l1 ? xstrdup(l1) : NULL;
	s->l2 = l2 ? xstrdup(l2) : NULL;
	i = key_hash(f, l1, l2) & (st.cap - 1);
	s->hnext = st.table[i];
	st.table[i] = s;
	st.n++;
	if (st.last[f] == NULL)
		st.last[f] = &st.first[f];
	*st.last[f] = s;
	st.last[f] = &s->next;
	return s;
}

void
stats_add(enum stats_family f, const char *l1, const char *l2, double n)
{
	get(f, l1, l2)->value += n;
}

void
stats_set(enum stats_family f, const char *l1, const char *l2, double v)
{
	get(f, l1, l2)->value = v;
}

void
stats_observe(enum stats_family f, const char *l1, double v)
{
	struct series *s = get(f, l1, NULL);
	size_t i;

	for (i = 0; i < families[f].nbuckets; i++)
		if (v <= families[f].buckets[i])
			s->bucket[i]++;
	s->count++;
	s->value += v;
}

const char *
stats_poll_outcome(int failed, int store_failed, int quiet, int no_document)
{
	if (quiet)
		return STATS_POLL_STOPPED;
	if (store_failed)
		return STATS_POLL_REDIS;
	if (failed)
		return STATS_POLL_FAILED;
	return no_document ? STATS_POLL_NOT_MODIFIED : STATS_POLL_OK;
}

void
stats_fetched(int delivery, double seconds, size_t bytes)
{
	const char *lane = delivery ? "delivery" : "poll";

	stats_observe(STATS_FETCH_SECONDS, lane, seconds);
	stats_add(STATS_FETCHED_BYTES, lane, NULL, (double)bytes);
}

void
stats_delivery(const struct cfg_sink *sink, int outcome)
{
	stats_delivery_add(sink, outcome, 1);
}

void
stats_delivery_add(const struct cfg_sink *sink, int outcome, double n)
{
	static const char *const words[] = {
		[SINK_DELIVERED] = "delivered", [SINK_RETRY] = "retry",
		[SINK_FAILED] = "failed", [SINK_ABORTED] = "aborted",
	};
	const char *type = sink == NULL ? "unknown" : sink->type == SINK_CONSOLE ?
	    "console" : sinkfmt_type_name((enum sinkfmt_type)sink->format);

	if (outcome >= 0 && (size_t)outcome < sizeof words / sizeof *words)
		stats_add(STATS_DELIVERIES, type, words[outcome], n);
}

struct stats_hold {
	size_t n;
	char **pairs;   /* watchlist, sink, watchlist, sink, ... */
};

struct stats_hold *
stats_hold(const struct outbox_alert *alerts, size_t n)
{
	struct stats_hold *h;
	size_t i;

	if (n == 0)
		return NULL;
	h = xcalloc(1, sizeof *h);
	h->n = n;
	h->pairs = xcalloc(2 * n, sizeof *h->pairs);
	for (i = 0; i < n; i++) {
		h->pairs[2 * i] = xstrdup(alerts[i].watchlist);
		h->pairs[2 * i + 1] = xstrdup(alerts[i].sink);
	}
	return h;
}

void
stats_hold_done(struct stats_hold *h, int queued)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++) {
		if (queued)
			stats_inc(STATS_ALERTS, h->pairs[2 * i], h->pairs[2 * i + 1]);
		free(h->pairs[2 * i]);
		free(h->pairs[2 * i + 1]);
	}
	free(h->pairs);
	free(h);
}

void
stats_redis_state(int up, const char *why)
{
	if (!up && st.redis_up)
		stats_inc(STATS_REDIS_DOWN, NULL, NULL);
	st.redis_up = up;
	snprintf(st.redis_why, sizeof st.redis_why, "%s", up || why == NULL ? "" : why);
}

int
stats_redis_up(const char **why)
{
	if (why != NULL)
		*why = st.redis_why[0] ? st.redis_why : "redis: not connected yet";
	return st.redis_up;
}

void
stats_loop_turned(uint64_t now_ms)
{
	st.loop_turn = now_ms;
}

uint64_t
stats_loop_last_turn(void)
{
	return st.loop_turn;
}

void
stats_config_loaded(void)
{
	st.config_revision++;
	st.config_loaded = time(NULL);
}

/* --- rendering ------------------------------------------------------------ */

void
stats_label_value(struct buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			buf_adds(out, "\\\\");
		else if (*v == '"')
			buf_adds(out, "\\\"");
		else if (*v == '\n')
			buf_adds(out, "\\n");
		else
			buf_addc(out, *v);
	}
}

static void
labels(struct buf *out, const struct family *fam, const struct series *s,
    const char *le)
{
	int any = 0;

	if (fam->l1 == NULL && le == NULL)
		return;
	buf_addc(out, '{');
	if (fam->l1 != NULL) {
		buf_addf(out, "%s=\"", fam->l1);
		stats_label_value(out, s->l1);
		buf_addc(out, '"');
		any = 1;
	}
	if (fam->l2 != NULL) {
		buf_addf(out, ",%s=\"", fam->l2);
		stats_label_value(out, s->l2);
		buf_addc(out, '"');
	}
	if (le != NULL)
		buf_addf(out, "%sle=\"%s\"", any ? "," : "", le);
	buf_addc(out, '}');
}

/* A sample value: integers without a fraction, the rest with %.17g. */
static void
value(struct buf *out, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		buf_addf(out, " %.0f\n", v);
	else
		buf_addf(out, " %.17g\n", v);
}

void
stats_render(struct buf *out)
{
	static const char *const kinds[] = { "counter", "gauge", "histogram" };
	const struct family *fam;
	const struct series *s;
	char le[32];
	size_t f, i;

	for (f = 0; f < STATS_NFAMILIES; f++) {
		fam = &families[f];
		if (st.first[f] == NULL)
			continue;
		buf_addf(out, "# HELP %s %s\n", fam->name, fam->help);
		buf_addf(out, "# TYPE %s %s\n", fam->name, kinds[fam->kind]);
		for (s = st.first[f]; s != NULL; s = s->next) {
			if (fam->kind != HISTOGRAM) {
				buf_adds(out, fam->name);
				labels(out, fam, s, NULL);
				value(out, s->value);
				continue;
			}
			for (i = 0; i < fam->nbuckets; i++) {
				snprintf(le, sizeof le, "%g", fam->buckets[i]);
				buf_addf(out, "%s_bucket", fam->name);
				labels(out, fam, s, le);
				value(out, (double)s->bucket[i]);
			}
			buf_addf(out, "%s_bucket", fam->name);
			labels(out, fam, s, "+Inf");
			value(out, (double)s->count);
			buf_addf(out, "%s_sum", fam->name);
			labels(out, fam, s, NULL);
			value(out, s->value);
			buf_addf(out, "%s_count", fam->name);
			labels(out, fam, s, NULL);
			value(out, (double)s->count);
		}
	}
	buf_adds(out, "# HELP wirewatch_config_revision Configurations loaded "
	    "since start (1, then +1 for each successful reload).\n"
	    "# TYPE wirewatch_config_revision gauge\n");
	buf_addf(out, "wirewatch_config_revision %ld\n", st.config_revision);
	buf_adds(out, "# HELP wirewatch_config_load_timestamp_seconds Unix time "
	    "the configuration in use was loaded.\n"
	    "# TYPE wirewatch_config_load_timestamp_seconds gauge\n");
	buf_addf(out, "wirewatch_config_load_timestamp_seconds %lld\n",
	    (long long)st.config_loaded);
}

void
stats_reset(void)
{
	struct series *s, *next;
	size_t i;

	for (i = 0; i < st.cap; i++)
		for (s = st.table[i]; s != NULL; s = next) {
			next = s->hnext;
			free(s->l1);
			free(s->l2);
			free(s);
		}
	free(st.table);
	memset(&st, 0, sizeof st);
}
