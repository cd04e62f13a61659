/*
 * pipeline_seen.c - the seen filter, matching and recording of a poll's
 * items, once pipeline.c fetched and parsed them (it saves the feed's
 * validators when every item is recorded).
 *
 * Per item: MGET tells which items are new (in slices, so a huge document
 * never holds the loop), each new item is matched, then ONE Redis function
 * call marks it seen, keeps it in the recent items (recent.h) and queues
 * its alerts in the outbox (outbox.c), so an item is never "seen but not
 * alerted" nor "seen but not kept", whatever fails when.  Delivery is
 * the outbox's business, not the poll's.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/cluster.h"
#include "wirewatch/config.h"
#include "wirewatch/dedup.h"
#include "wirewatch/feed.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
#include "wirewatch/outbox.h"
#include "wirewatch/recent.h"
#include "wirewatch/registry.h"
#include "wirewatch/stats.h"
#include "wirewatch/store.h"
#include "wirewatch/stories.h"
#include "wirewatch/util.h"

#include "pipeline_internal.h"

static time_t
entry_time(const struct feed_entry *e)
{
	return e->published != FEED_NO_TIME ? e->published : e->updated;
}

/*
 * A document is processed in slices of SLICE items: one MGET tells which
 * are new, the new ones are matched and recorded (outbox_record: seen and
 * queued atomically), and the next slice starts from a fresh loop turn.
 * A 100,000-item feed thus never holds the loop for more than one slice:
 * signals, other feeds' polls and deliveries keep running.
 */
#define SLICE 256

struct record_req {
	struct poll *poll;
	size_t index;
	size_t nalerts;
	char **hits;          /* names of the watchlists that alerted */
	size_t nhits;
};

static int
newer_first(const void *a, const void *b, void *arg)
{
	const struct feed_doc *doc = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	time_t ti = entry_time(&doc->entries[i]), tj = entry_time(&doc->entries[j]);

	if (ti != tj)
		return ti > tj ? -1 : 1;
	return i < j ? -1 : i > j; /* stable: document order */
}

/*
 * The items this poll takes: all of them, or the max-items newest (undated
 * items count as newest, as feeds list the newest first).
 */
static void
choose_items(struct poll *poll)
{
	struct feed_rt *rt = poll->rt;
	size_t i, n = poll->doc->nentries, max = (size_t)rt->cfg->max_items;

	poll->order = xcalloc(n, sizeof *poll->order);
	for (i = 0; i < n; i++)
		poll->order[i] = i;
	poll->norder = n;
	if (n <= max)
		return;
	qsort_r(poll->order, n, sizeof *poll->order, newer_first, poll->doc);
	poll->norder = max;
	log_warn("feed \"%s\": %zu items in the document, taking the %zu newest "
	    "(max-items)", rt->cfg->name, n, max);
}

static int
before_backfill(const struct poll *poll, const struct feed_entry *e)
{
	time_t t = entry_time(e);

	if (!poll->first_poll || poll->rt->cfg->backfill < 0 || t == FEED_NO_TIME)
		return 0;
	return t < poll->started - (time_t)poll->rt->cfg->backfill;
}

static void poll_maybe_finish(struct poll *poll);
static void next_slice(struct poll *poll);

/* Per watchlist: alerts queued by this daemon since start, and when. */
static void
count_alerts(struct pipeline *p, const struct record_req *r)
{
	json_t *st;
	size_t i;

	for (i = 0; i < r->nhits; i++) {
		if ((st = json_object_get(p->wl_stats, r->hits[i])) == NULL) {
			st = json_pack("[II]", (json_int_t)0, (json_int_t)0);
			json_object_set_new(p->wl_stats, r->hits[i], st);
		}
		json_array_set_new(st, 0, json_integer(json_integer_value(
		    json_array_get(st, 0)) + 1));
		json_array_set_new(st, 1, json_integer((json_int_t)time(NULL)));
	}
}

static void
pipeline_recorded_cb(int result, const char *error, void *arg)
{
	struct record_req *r = arg;
	struct poll *poll = r->poll;
	struct feed_rt *rt = poll->rt;
	const struct feed_entry *e = &poll->doc->entries[r->index];
	size_t i;

	if (result == 1) {
		stats_inc(STATS_ITEMS_NEW, NULL, NULL);
		poll->new_items++;
		rt->items_seen++;
		count_alerts(rt->p, r);
		if (r->nalerts > 0)
			log_info("feed \"%s\": item %s \"%s\": %zu alert%s queued",
			    rt->cfg->name, poll->keys[r->index],
			    e->title ? e->title : "(untitled)", r->nalerts,
			    r->nalerts == 1 ? "" : "s");
	} else if (result == -1) {
		/*
		 * Either the whole function ran (seen, alerts queued) or none
		 * of it: the next poll, a full fetch, finds out which.
		 */
		if (strstr(error, "FENCED") != NULL)
			; /* nothing was written (the lease moved on): said once below */
		else if (poll->unknown++ < UNKNOWN_LOGGED)
			log_warn("feed \"%s\": item %s \"%s\" not recorded (%s); "
			    "outcome unknown, retried on the next poll", rt->cfg->name,
			    poll->keys[r->index], e->title ? e->title : "(untitled)",
			    error);
		if (!poll->failed)
			pipeline_poll_fail(poll, "items not recorded: %s", error);
		poll->store_failed = 1;
	}
	for (i = 0; i < r->nhits; i++)
		free(r->hits[i]);
	free(r->hits);
	free(r);
	poll->pending--;
	poll_maybe_finish(poll);
}

/* Matches item i and records it with its alerts (one per watchlist x sink). */
static void
record_item(struct poll *poll, size_t i)
{
	struct feed_rt *rt = poll->rt;
	struct pipeline *p = rt->p;
	const struct feed_entry *e = &poll->doc->entries[i];
	const struct wl_entry *wl;
	struct match_result res = {0};
	struct outbox_alert *alerts = NULL;
	struct stories_alert *salerts = NULL;
	char (*ids)[ALERT_IDLEN] = NULL;
	struct record_req *r;
	struct match_doc md;
	struct buf cats = {0}, alerted = {0};
	struct recent_fields kept = {0};
	size_t h, s, c, n = 0, cap = 0;
	int grouped = 0;
	json_error_t jerr;
	const char *fence_key = NULL, *fence_token = NULL;

	r = xcalloc(1, sizeof *r);
	r->poll = poll;
	r->index = i;
	if (!before_backfill(poll, e)) {
		for (c = 0; c < e->ncategories; c++) {
			if (c)
				buf_addc(&cats, '\n');
			buf_adds(&cats, e->categories[c]);
		}
		md.title = e->title;
		md.summary = e->summary;
		md.content = e->content;
		md.author = e->author;
		md.category = cats.s;
		md.feed = rt->cfg->name;
		matcher_run(p->wl->matcher, &md, &res);
		for (h = 0; h < res.nhits; h++)
			cap += p->wl->by_index[res.hits[h].watchlist]->nsinks;
		alerts = xcalloc(cap + 1, sizeof *alerts);
		salerts = xcalloc(cap + 1, sizeof *salerts);
		ids = xcalloc(cap + 1, sizeof *ids);
		r->hits = xcalloc(res.nhits + 1, sizeof *r->hits);
		for (h = 0; h < res.nhits; h++) {
			wl = p->wl->by_index[res.hits[h].watchlist];
			r->hits[r->nhits++] = xstrdup(wl->name);
			grouped |= !wl->group_items;
			for (s = 0; s < wl->nsinks; s++) {
				const char *sink = wl->sinks[s];

				alert_make_id(poll->keys[i], wl->name, sink, ids[n]);
				alerts[n].id = ids[n];
				alerts[n].sink = sink;
				alerts[n].watchlist = wl->name;
				alerts[n].json = alert_render(rt->cfg->name, e, poll->keys[i],
				    &res.hits[h], ids[n]);
				salerts[n].id = ids[n];
				salerts[n].sink = sink;
				salerts[n].watchlist = wl->name;
				salerts[n].group_items = wl->group_items;
				n++;
			}
		}
	}
	r->nalerts = n;
	poll->pending++;
	/* Kept for `watchlist test` and backfills, in the same call (recent.h). */
	for (h = 0; h < res.nhits; h++)
		buf_addf(&alerted, "%s%s", h ? "\n" : "", p->wl->by_index[res.hits[h].watchlist]->name);
	if (p->cfg->keep_items > 0)
		recent_fields(&kept, rt->cfg->name, poll->keys[i], e, alerted.s);
	/* Several instances: the record is fenced by the feed's lease. */
	if (p->cluster != NULL) {
		fence_key = cluster_lease_key(rt->lease);
		fence_token = cluster_token(rt->lease);
	}
	if (n > 0 && grouped) {
		/* Story grouping adds the story to each alert: it takes them
		   as objects. */
		for (s = 0; s < n; s++)
			if ((salerts[s].alert = json_loads(alerts[s].json, 0, &jerr)) == NULL)
				fatal("alert: cannot read back its own JSON: %s", jerr.text);
		stories_record(p->stories, p->outbox, rt->cfg->name, e, poll->keys[i],
		    salerts, n, (const char *const *)kept.v, kept.n, fence_key,
		    fence_token, pipeline_recorded_cb, r);
	} else {
		outbox_record(p->outbox, poll->keys[i], alerts, n, (const char *const *)kept.v,
		    kept.n, fence_key, fence_token, pipeline_recorded_cb, r);
	}
	recent_fields_free(&kept);
	buf_free(&alerted);
	for (s = 0; s < n; s++) {
		free((char *)alerts[s].json);
		json_decref(salerts[s].alert);
	}
	free(alerts);
	free(salerts);
	free(ids);
	match_result_free(&res);
	buf_free(&cats);
}

static void
pipeline_seen_cb(const struct store_reply *reply, const char *error, void *arg)
{
	static const struct timeval zero = { 0, 0 };
	struct poll *poll = arg;
	size_t k, from = poll->slice_from, to = poll->slice_to;

	if (error != NULL) {
		if (!poll->failed)
			pipeline_poll_fail(poll, "items not recorded: %s", error);
		poll->store_failed = 1;
	} else if (store_reply_type(reply) != STORE_ARRAY ||
	    store_reply_len(reply) != to - from) {
		if (!poll->failed)
			pipeline_poll_fail(poll, "items not recorded: unexpected MGET reply");
	} else if (!poll->rt->p->dying) {
		for (k = from; k < to; k++)
			if (store_reply_type(store_reply_elem(reply, k - from)) == STORE_NIL)
				record_item(poll, poll->order[k]);
	}
	poll->pending--;
	if (!poll->failed && poll->next < poll->norder)
		evtimer_add(poll->slice_ev, &zero);
	else
		poll_maybe_finish(poll);
}

static void
next_slice(struct poll *poll)
{
	struct pipeline *p = poll->rt->p;
	const char **argv;
	char **keys;
	size_t k, n;

	if (p->stopping || p->dying) {
		if (!poll->failed)
			pipeline_poll_fail(poll, "stopped after %zu of %zu items; the rest are "
			    "taken next time", poll->next, poll->norder);
		poll->quiet = 1;
		poll_maybe_finish(poll);
		return;
	}
	n = poll->norder - poll->next;
	if (n > SLICE)
		n = SLICE;
	poll->slice_from = poll->next;
	poll->slice_to = poll->next + n;
	poll->next += n;
	argv = xcalloc(n + 1, sizeof *argv);
	keys = xcalloc(n + 1, sizeof *keys);
	argv[0] = "MGET";
	for (k = 0; k < n; k++) {
		keys[k] = keys_name(p->cfg->prefix, KEY_SEEN,
		    poll->keys[poll->order[poll->slice_from + k]], NULL);
		argv[k + 1] = keys[k];
	}
	poll->pending++;
	store_command(p->store, pipeline_seen_cb, poll, (int)n + 1, argv);
	for (k = 0; k < n; k++)
		free(keys[k]);
	free(keys);
	free(argv);
}

static void
pipeline_slice_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	next_slice(arg);
}

static void
poll_maybe_finish(struct poll *poll)
{
	if (poll->pending > 0 || evtimer_pending(poll->slice_ev, NULL))
		return;
	if (!poll->failed && poll->next < poll->norder)
		return;
	pipeline_poll_finish_items(poll);
}

void
pipeline_check_items(struct poll *poll)
{
	struct feed_rt *rt = poll->rt;
	struct dedup_stats st;
	size_t n = poll->doc->nentries;

	if (n == 0) {
		pipeline_poll_finish_items(poll);
		return;
	}
	poll->keys = xcalloc(n, sizeof *poll->keys);
	memset(&st, 0, sizeof st);
	dedup_doc_keys(poll->doc, poll->keys, &st);
	if (st.guid_repeats > 0 && !rt->bad_guids_logged) {
		log_warn("feed \"%s\": %zu items share guids (e.g. \"%s\"); told apart "
		    "by link/title/date%s", rt->cfg->name, st.guid_repeats,
		    st.bad_guid ? st.bad_guid : "?", st.kept_apart ?
		    ", and by position where even those are equal" : "");
		rt->bad_guids_logged = 1;
	}
	choose_items(poll);
	stats_add(STATS_ITEMS_PARSED, NULL, NULL, (double)poll->norder);
	poll->first_poll = rt->first_poll;
	poll->started = time(NULL);
	if (poll->first_poll && rt->cfg->backfill >= 0)
		log_info("feed \"%s\": first poll: items published before the last "
		    "%llds are marked seen without alerts (backfill)", rt->cfg->name,
		    (long long)rt->cfg->backfill);
	poll->slice_ev = evtimer_new(rt->p->base, pipeline_slice_cb, poll);
	next_slice(poll);
}
