/*
 * pipeline.c - fetch -> parse -> seen filter -> match -> record, per feed.
 *
 * Each feed has one struct feed_rt for the daemon's lifetime; a poll in
 * progress is a struct poll that owns the parsed document and counts the
 * Redis replies it still waits for.  The poll ends (and is freed) when the
 * last reply arrived.
 *
 * Per item: MGET tells which items are new (in slices, so a huge document
 * never holds the loop), each new item is matched, then ONE Redis function
 * call marks it seen, keeps it in the recent items (recent.h) and queues
 * its alerts in the outbox (outbox.c), so an item is never "seen but not
 * alerted" nor "seen but not kept", whatever fails when.  Delivery is
 * the outbox's business, not the poll's.
 *
 * Redis holds, besides the seen set, each feed's conditional-GET
 * validators and its moved URL (key <prefix>feed:<name>), so a restart
 * neither refetches every feed in full nor forgets a 301.  Validators are
 * saved only after every item of a response was recorded, so a Redis
 * failure mid-poll means a full refetch next time, never a lost item.  A
 * feed without that key is on its first poll: items older than its
 * backfill window are marked seen without alerts.  So is every feed after
 * Redis lost its data (a new epoch, see outbox.h).
 *
 * A Redis outage is not a feed failure: polls that fall due while Redis
 * is down wait for it (nothing could be recorded), and run, spread over a
 * few seconds, as soon as it is back.
 *
 * Reload and run-time changes: the feeds are the config's plus the
 * run-time ones (registry.h), synced by name (sync_feeds): a feed_rt is
 * reference-counted by the list, its poll and its Redis commands, and
 * holds the config its cfg points into, so a removed feed's last poll
 * finishes (or its download is cancelled) on the settings it began with.
 * Items are matched against the watchlist snapshot of the moment
 * (p->wl), swapped between two items.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "wirewatch/alert.h"
#include "wirewatch/cluster.h"
#include "wirewatch/config.h"
#include "wirewatch/dedup.h"
#include "wirewatch/feed.h"
#include "wirewatch/fetch.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
#include "wirewatch/outbox.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/registry.h"
#include "wirewatch/recent.h"
#include "wirewatch/scheduler.h"
#include "wirewatch/sink.h"
#include "wirewatch/stats.h"
#include "wirewatch/store.h"
#include "wirewatch/stories.h"
#include "wirewatch/util.h"

struct pipeline;

struct feed_rt {
	struct pipeline *p;
	const struct cfg_feed *cfg;
	struct config *owner; /* the config cfg points into (a reference) */
	int refs;             /* the pipeline's list, the poll, Redis commands */
	int removed;          /* dropped by a reload: freed at the last ref */
	int runtime;          /* added at run time (registry.c) */
	unsigned gen;         /* bumped when a reload changes the URL */
	uint64_t due_ms;      /* util_now_ms() of the next poll, when armed */
	char *url;            /* effective URL (after a permanent move) */
	char *etag;
	char *last_modified;
	int state_loaded;     /* validators read from Redis */
	int first_poll;       /* no state in Redis: backfill applies */
	int wait_store;       /* due while Redis was down: poll on reconnect */
	int bad_guids_logged;
	struct event *timer;
	struct poll *poll;    /* in progress, or NULL */
	struct cluster_feed *lease; /* its lease (cluster.h), NULL without */
	struct fetch *fetch;
	struct sched_state sched;
	/* health */
	time_t last_ok;
	time_t failing_since;
	char *last_error;     /* malloc'd while failing, else NULL */
	unsigned long items_seen;
	double response_s;
};

struct poll {
	struct feed_rt *rt;
	struct feed_doc *doc;
	char (*keys)[DEDUP_KEYLEN];
	size_t pending;       /* Redis replies outstanding */
	size_t new_items;
	size_t *order;        /* indexes of the items taken, in processing order */
	size_t norder;
	size_t next;          /* next position in order */
	size_t slice_from, slice_to;
	struct event *slice_ev;
	int first_poll;
	unsigned gen;         /* rt->gen when the poll began */
	time_t started;
	int failed;
	int store_failed;     /* failed because of Redis, not the feed */
	size_t unknown;       /* records whose outcome is unknown */
	int quiet;            /* stopped by shutdown: not a feed failure */
	char *error;          /* malloc'd by poll_fail(), else NULL */
	char *etag;
	char *last_modified;
	long retry_after;
};

struct pipeline {
	struct event_base *base;
	struct config *cfg;     /* the running config (a reference) */
	unsigned long revision; /* 1 at start, +1 per successful reload */
	int once;
	int stopping;
	int dying;
	int failed;
	struct store *store;
	struct fetcher *fetcher;
	struct sinks *sinks;
	struct outbox *outbox;
	struct cluster *cluster; /* feed leases; NULL with lease = off, --once */
	struct recent *recent;  /* the kept items (recent.h) */
	int backfilled;         /* [watchlist] backfill ran (first connect) */
	struct stories *stories; /* alerts per story (stories.h) */
	char *epoch;            /* of the Redis database, from the first connect */
	int draining;           /* --once: polls done, waiting for the outbox */
	struct feed_rt **feeds; /* in config order */
	size_t nfeeds;
	struct registry *reg;   /* run-time watchlists and feeds */
	struct wl_snapshot *wl; /* the watchlists in effect, compiled */
	json_t *wl_stats;       /* name -> [alerts queued, last time] */
	size_t polls_running;   /* polls in progress */
	size_t polls_left;      /* --once: feeds not yet done */
	size_t writes;          /* feed-state saves in flight */
	int started;            /* polls were scheduled */
	struct event *grace_timer;
};

#define UNKNOWN_LOGGED 5 /* items named per poll when Redis fails; then a count */

static void poll_begin(struct feed_rt *rt);
static void pipeline_rt_changed_cb(void *arg);

static time_t
entry_time(const struct feed_entry *e)
{
	return e->published != FEED_NO_TIME ? e->published : e->updated;
}

/* --- lifecycle helpers ------------------------------------------------ */

static void
pipeline_drained_cb(void *arg)
{
	struct pipeline *p = arg;
	struct timeval now = { 0, 0 };

	if (p->writes == 0)
		event_base_loopexit(p->base, &now);
	else
		p->draining = 2; /* exit when the last write is in */
}

static void
maybe_done(struct pipeline *p)
{
	struct timeval now = { 0, 0 };

	if (p->dying)
		return;
	if (p->writes > 0)
		return;
	if (p->once && p->polls_left == 0) {
		/* --once: every poll is recorded; deliver what they queued. */
		if (p->draining == 0) {
			p->draining = 1;
			outbox_drain(p->outbox, pipeline_drained_cb, p);
		} else if (p->draining == 2) {
			event_base_loopexit(p->base, &now);
		}
	} else if (p->stopping && p->polls_running == 0 &&
	    outbox_inflight(p->outbox) == 0) {
		event_base_loopexit(p->base, &now);
	}
}

static unsigned
rnd(void)
{
	return (unsigned)random();
}

static void
schedule(struct feed_rt *rt, long delay_ms)
{
	struct timeval tv;

	if (rt->p->once || rt->p->stopping)
		return;
	if (rt->removed)
		return;
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	rt->due_ms = util_now_ms() + (uint64_t)delay_ms;
	evtimer_add(rt->timer, &tv);
}

/*
 * A feed's run-time state lives while anything refers to it: the
 * pipeline's list (until a reload removes the feed), its poll, and every
 * Redis command whose callback gets it.
 */
static void
rt_hold(struct feed_rt *rt)
{
	rt->refs++;
}

static void
rt_release(struct feed_rt *rt)
{
	if (--rt->refs > 0)
		return;
	event_free(rt->timer);
	free(rt->url);
	free(rt->etag);
	free(rt->last_modified);
	free(rt->last_error);
	config_free(rt->owner);
	free(rt);
}

static void
feed_health_ok(struct feed_rt *rt)
{
	if (rt->failing_since != 0)
		log_notice("feed \"%s\": recovered after %d failed poll%s",
		    rt->cfg->name, rt->sched.failures,
		    rt->sched.failures == 1 ? "" : "s");
	rt->failing_since = 0;
	rt->last_ok = time(NULL);
	stats_set(STATS_FEED_LAST_OK, rt->cfg->name, NULL, (double)rt->last_ok);
	free(rt->last_error);
	rt->last_error = NULL;
}

static void
feed_health_fail(struct feed_rt *rt, const char *why)
{
	char *url, *copy;

	/* Log when a feed starts failing or fails differently; not per poll. */
	if (rt->failing_since == 0 || rt->last_error == NULL ||
	    strcmp(rt->last_error, why) != 0) {
		url = util_url_mask(rt->url, 0);
		log_err("feed \"%s\": %s (%s)", rt->cfg->name, why, url);
		free(url);
	} else
		log_debug("feed \"%s\": still failing: %s", rt->cfg->name, why);
	if (rt->failing_since == 0)
		rt->failing_since = time(NULL);
	copy = xstrdup(why); /* before the free: why may be the old text */
	free(rt->last_error);
	rt->last_error = copy;
	rt->p->failed = 1;
}

static void
poll_free(struct poll *poll)
{
	feed_doc_free(poll->doc);
	free(poll->keys);
	free(poll->order);
	if (poll->slice_ev != NULL)
		event_free(poll->slice_ev);
	free(poll->etag);
	free(poll->last_modified);
	free(poll->error);
	free(poll);
}

/* Every poll ends here exactly once. */
static void
poll_end(struct poll *poll)
{
	struct feed_rt *rt = poll->rt;
	struct pipeline *p = rt->p;
	long delay;

	rt->poll = NULL;
	if (p->cluster != NULL)
		cluster_poll_done(rt->lease);
	stats_inc(STATS_POLLS, stats_poll_outcome(poll->failed, poll->store_failed, poll->quiet, poll->doc == NULL), NULL);
	if (rt->removed) {
		log_info("feed \"%s\": its last poll is over (removed by a reload)",
		    rt->cfg->name);
	} else if (!p->dying && (poll->store_failed || poll->quiet) && !p->once) {
		/*
		 * Redis failed, not the feed: no backoff, no feed error.  Poll
		 * again soon when Redis is up, else when it comes back.
		 */
		if (poll->unknown > UNKNOWN_LOGGED)
			log_warn("feed \"%s\": %zu more items whose outcome is unknown",
			    rt->cfg->name, poll->unknown - UNKNOWN_LOGGED);
		log_warn("feed \"%s\": %s; what was not recorded is retried on the "
		    "next poll", rt->cfg->name, poll->error ? poll->error : "stopped");
		if (store_is_up(p->store))
			schedule(rt, 1000 + (long)(rnd() % 4000));
		else
			rt->wait_store = 1;
	} else if (!p->dying) {
		if (poll->failed)
			feed_health_fail(rt, poll->error ? poll->error : "failed");
		else
			feed_health_ok(rt);
		delay = sched_after_poll_ms(&rt->sched, !poll->failed,
		    (long)poll->new_items, poll->retry_after, rnd());
		log_debug("feed \"%s\": %s, %zu items, %zu new, %.3fs; next poll in %lds",
		    rt->cfg->name, poll->failed ? "failed" : "ok",
		    poll->doc ? poll->doc->nentries : 0, poll->new_items,
		    rt->response_s, delay / 1000);
		schedule(rt, delay);
	}
	poll_free(poll);
	p->polls_running--;
	if (p->once)
		p->polls_left--;
	rt_release(rt);
	maybe_done(p);
}

static void
poll_fail(struct poll *poll, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
poll_fail(struct poll *poll, const char *fmt, ...)
{
	va_list ap;
	char *e;

	poll->failed = 1;
	va_start(ap, fmt);
	if (vasprintf(&e, fmt, ap) < 0)
		e = NULL;
	va_end(ap);
	free(poll->error);
	poll->error = e;
}

/* --- Redis feed state ------------------------------------------------- */

static char *
feed_key(const struct pipeline *p, const struct cfg_feed *f)
{
	return keys_name(p->cfg->prefix, KEY_FEED, f->name, NULL);
}

static void
pipeline_state_saved_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct feed_rt *rt = arg;

	struct pipeline *p = rt->p;

	(void)reply;
	p->writes--;
	if (error != NULL)
		log_warn("feed \"%s\": could not save feed state: %s", rt->cfg->name, error);
	rt_release(rt);
	maybe_done(p);
}

static void
save_state(struct feed_rt *rt)
{
	const char *argv[10];
	char *key = feed_key(rt->p, rt->cfg);
	int argc = 0;

	argv[argc++] = "HSET";
	argv[argc++] = key;
	argv[argc++] = "etag";
	argv[argc++] = rt->etag ? rt->etag : "";
	argv[argc++] = "last-modified";
	argv[argc++] = rt->last_modified ? rt->last_modified : "";
	argv[argc++] = "url";
	argv[argc++] = rt->url;
	argv[argc++] = "configured-url";
	argv[argc++] = rt->cfg->url;
	rt->p->writes++;
	rt_hold(rt);
	if (rt->p->cluster != NULL)
		cluster_fenced_hset(rt->p->cluster, rt->lease, argc, argv,
		    pipeline_state_saved_cb, rt);
	else
		store_command(rt->p->store, pipeline_state_saved_cb, rt, argc, argv);
	free(key);
}

static char *
reply_str(const struct store_reply *r)
{
	const char *s;
	size_t len;

	if (store_reply_type(r) != STORE_STRING ||
	    (s = store_reply_str(r, &len)) == NULL || len == 0)
		return NULL;
	return xstrndup(s, len);
}

static void
pipeline_state_loaded_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct feed_rt *rt = arg;
	char *moved, *from;

	if (rt->p->dying) {
		rt_release(rt);
		return;
	}
	if (error == NULL && store_reply_type(reply) == STORE_ARRAY &&
	    store_reply_len(reply) == 4) {
		from = reply_str(store_reply_elem(reply, 3));
		/* A stored move applies only while the config names the same URL. */
		if (from != NULL && strcmp(from, rt->cfg->url) == 0) {
			rt->etag = reply_str(store_reply_elem(reply, 0));
			rt->last_modified = reply_str(store_reply_elem(reply, 1));
			if ((moved = reply_str(store_reply_elem(reply, 2))) != NULL) {
				free(rt->url);
				rt->url = moved;
			}
		}
		/* No state at all: this feed was never polled into this database. */
		rt->first_poll = store_reply_type(store_reply_elem(reply, 3)) == STORE_NIL;
		free(from);
		rt->state_loaded = 1;
	}
	/* Without Redis we still fetch: errors surface at the seen filter. */
	poll_begin(rt);
	rt_release(rt);
}

/* --- the seen filter, matching and recording --------------------------- */

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
			poll_fail(poll, "items not recorded: %s", error);
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
			poll_fail(poll, "items not recorded: %s", error);
		poll->store_failed = 1;
	} else if (store_reply_type(reply) != STORE_ARRAY ||
	    store_reply_len(reply) != to - from) {
		if (!poll->failed)
			poll_fail(poll, "items not recorded: unexpected MGET reply");
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
			poll_fail(poll, "stopped after %zu of %zu items; the rest are "
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
poll_finish_items(struct poll *poll)
{
	struct feed_rt *rt = poll->rt;

	if (!poll->failed && !rt->p->dying && !rt->removed && poll->gen == rt->gen) {
		/* Every item is recorded: the validators may now move on. */
		free(rt->etag);
		free(rt->last_modified);
		rt->etag = poll->etag;
		rt->last_modified = poll->last_modified;
		poll->etag = poll->last_modified = NULL;
		rt->first_poll = 0;
		save_state(rt);
	}
	poll_end(poll);
}

static void
poll_maybe_finish(struct poll *poll)
{
	if (poll->pending > 0 || evtimer_pending(poll->slice_ev, NULL))
		return;
	if (!poll->failed && poll->next < poll->norder)
		return;
	poll_finish_items(poll);
}

static void
check_items(struct poll *poll)
{
	struct feed_rt *rt = poll->rt;
	struct dedup_stats st;
	size_t n = poll->doc->nentries;

	if (n == 0) {
		poll_finish_items(poll);
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

/* --- fetch and parse -------------------------------------------------- */

static void
take_response(struct poll *poll, const struct fetch_result *res)
{
	struct feed_rt *rt = poll->rt;
	char err[WW_ERRLEN];

	if (res->moved_to != NULL && strcmp(res->moved_to, rt->url) != 0) {
		char *from = util_url_mask(rt->url, 0), *to = util_url_mask(res->moved_to, 0);

		log_notice("feed \"%s\": moved permanently from %s to %s; polling the new URL",
		    rt->cfg->name, from, to);
		free(from);
		free(to);
		free(rt->url);
		rt->url = xstrdup(res->moved_to);
	}
	poll->retry_after = res->retry_after;
	if (res->status == 304)
		return;
	if (res->status == 429 || res->status == 503) {
		if (res->retry_after > 0)
			poll_fail(poll, "HTTP %ld, Retry-After %lds", res->status, res->retry_after);
		else
			poll_fail(poll, "HTTP %ld", res->status);
		return;
	}
	if (res->error[0] != '\0') {
		poll_fail(poll, "%s", res->error);
		return;
	}
	poll->doc = feed_parse(res->body, res->len, res->url, res->content_type,
	    err, sizeof err);
	if (poll->doc == NULL) {
		poll_fail(poll, "%s", err);
		return;
	}
	if (poll->doc->truncated) {
		/* A cut download: wait for the whole document, record nothing. */
		poll_fail(poll, "truncated document (%s); its items are not used",
		    poll->doc->bozo_reason ? poll->doc->bozo_reason : "ends early");
		feed_doc_free(poll->doc);
		poll->doc = NULL;
		return;
	}
	if (poll->doc->bozo)
		log_debug("feed \"%s\": ill-formed, recovered: %s", rt->cfg->name,
		    poll->doc->bozo_reason ? poll->doc->bozo_reason : "?");
	poll->etag = res->etag ? xstrdup(res->etag) : NULL;
	poll->last_modified = res->last_modified ? xstrdup(res->last_modified) : NULL;
}

static void
pipeline_fetched_cb(const struct fetch_result *res, void *arg)
{
	struct poll *poll = arg;
	struct feed_rt *rt = poll->rt;

	rt->fetch = NULL;
	rt->response_s = res->seconds;
	if (!res->ok)
		poll_fail(poll, "%s", res->error);
	else
		take_response(poll, res);
	if (poll->failed || poll->doc == NULL || rt->p->dying) {
		if (!poll->failed && res->status == 304)
			log_debug("feed \"%s\": not modified", rt->cfg->name);
		poll_end(poll);
		return;
	}
	check_items(poll);
}

static void
poll_begin(struct feed_rt *rt)
{
	struct pipeline *p = rt->p;
	struct fetch_req req;
	struct poll *poll;

	poll = xcalloc(1, sizeof *poll);
	poll->rt = rt;
	poll->gen = rt->gen;
	rt->poll = poll;
	rt_hold(rt);
	if (rt->removed) {
		/* Removed by a reload while its state was being read. */
		poll_fail(poll, "removed");
		poll->quiet = 1;
		poll_end(poll);
		return;
	}
	memset(&req, 0, sizeof req);
	req.url = rt->url;
	req.etag = rt->etag;
	req.last_modified = rt->last_modified;
	rt->fetch = fetch_start(p->fetcher, &req, pipeline_fetched_cb, poll);
	if (rt->fetch == NULL) {
		poll_fail(poll, "cannot start fetch of '%s'", rt->url);
		poll_end(poll);
	}
}

static void
pipeline_due_cb(evutil_socket_t fd, short what, void *arg)
{
	struct feed_rt *rt = arg;
	struct pipeline *p = rt->p;
	const char *argv[6];
	char *key;

	(void)fd;
	(void)what;
	if (rt->poll != NULL || p->stopping || rt->removed)
		return;
	if (!store_is_up(p->store) && !p->once) {
		/* Nothing could be recorded: wait for Redis, fetch nothing. */
		rt->wait_store = 1;
		return;
	}
	/* Another instance's feed, or ours again once a tick says so. */
	if (p->cluster != NULL && !cluster_may_poll(p->cluster, rt->lease))
		return;
	p->polls_running++;
	if (rt->state_loaded || !store_is_up(p->store)) {
		poll_begin(rt);
		return;
	}
	key = feed_key(p, rt->cfg);
	argv[0] = "HMGET";
	argv[1] = key;
	argv[2] = "etag";
	argv[3] = "last-modified";
	argv[4] = "url";
	argv[5] = "configured-url";
	rt_hold(rt);
	store_command(p->store, pipeline_state_loaded_cb, rt, 6, argv);
	free(key);
}

/* --- public ------------------------------------------------------------- */

/* The first poll: spread over the interval (or startup-spread). */
static void
schedule_first(struct pipeline *p, struct feed_rt *rt)
{
	if (p->cluster != NULL)
		return; /* with leases: when its lease is acquired (cluster.h) */
	schedule(rt, sched_first_delay_ms(&rt->sched, p->cfg->startup_spread < 0 ?
	    rt->sched.interval : p->cfg->startup_spread, rnd()));
}

static void
start_polls(struct pipeline *p)
{
	struct timeval now = { 0, 0 };
	size_t i;

	if (p->started)
		return;
	p->started = 1;
	for (i = 0; i < p->nfeeds; i++) {
		if (p->once)
			evtimer_add(p->feeds[i]->timer, &now);
		else
			schedule_first(p, p->feeds[i]);
	}
	if (p->nfeeds == 0)
		maybe_done(p);
}

/*
 * Feeds that came due while Redis was down, or whose poll failed only
 * because of Redis, are polled again now, spread over a few seconds.
 */
static void
resume_waiting(struct pipeline *p)
{
	size_t i, n = 0;
	long spread;

	for (i = 0; i < p->nfeeds; i++)
		n += p->feeds[i]->wait_store;
	if (n == 0)
		return;
	spread = n < 500 ? 2000 : 10000;
	log_notice("redis is back: polling %zu feed%s that waited for it", n,
	    n == 1 ? "" : "s");
	for (i = 0; i < p->nfeeds; i++) {
		if (!p->feeds[i]->wait_store)
			continue;
		p->feeds[i]->wait_store = 0;
		schedule(p->feeds[i], (long)(rnd() % (unsigned long)spread));
	}
}

static void
pipeline_epoch_cb(const char *epoch, void *arg)
{
	struct pipeline *p = arg;
	size_t i;

	if (p->epoch != NULL && strcmp(p->epoch, epoch) != 0) {
		/*
		 * A new epoch: Redis lost its data (restarted empty, flushed,
		 * failed over to an empty replica).  The seen set is gone, so
		 * every item still in a feed would alert again; treat each
		 * feed's next poll as a first poll instead (backfill).
		 */
		log_crit("redis %s: the database was lost (epoch %s, now %s): the "
		    "seen set is gone; every feed's next poll counts as a first "
		    "poll (backfill decides what alerts)", store_addr(p->store),
		    p->epoch, epoch);
		for (i = 0; i < p->nfeeds; i++) {
			p->feeds[i]->first_poll = 1;
			p->feeds[i]->state_loaded = 0;
		}
	}
	free(p->epoch);
	p->epoch = xstrdup(epoch);
}

static void
pipeline_store_setup_cb(void *arg)
{
	struct pipeline *p = arg;

	outbox_setup(p->outbox, pipeline_epoch_cb, p);
	stories_setup(p->stories);
	cluster_setup(p->cluster);
	/* Before any poll's command: the first items see run-time watchlists. */
	registry_setup(p->reg);
}

/*
 * A feed's lease was acquired (or it is pollable again): poll when its
 * last poll, by whichever instance, is an interval old (plus up to a
 * tenth of it, the usual jitter), or as on startup when nobody polled it.
 */
static void
pipeline_acquired_cb(void *feed_arg, long long since_ms, void *arg)
{
	struct pipeline *p = arg;
	struct feed_rt *rt = feed_arg;
	long long delay;

	if (p->stopping || rt->removed)
		return;
	if (rt->poll == NULL)
		rt->state_loaded = 0; /* another instance may have moved its validators */
	if (since_ms < 0) {
		delay = sched_first_delay_ms(&rt->sched, p->cfg->startup_spread < 0 ?
		    rt->sched.interval : p->cfg->startup_spread, rnd());
	} else {
		delay = (long long)rt->sched.current * 1000 - since_ms;
		if (delay < 0)
			delay = 0;
		delay += (long long)(rnd() % (unsigned)(rt->sched.current * 100 + 1));
	}
	schedule(rt, (long)delay);
}

static void
pipeline_store_state_cb(int up, const char *why, void *arg)
{
	struct pipeline *p = arg;

	if (up) {
		log_notice("redis %s: up", store_addr(p->store));
		sd_notify(0, "STATUS=polling");
		outbox_start(p->outbox);
		cluster_start(p->cluster);
		resume_waiting(p);
		if (!p->backfilled && !p->once) {
			p->backfilled = 1;
			recent_backfill_config(p->recent);
		}
	} else {
		log_err("%s", why);
		sd_notifyf(0, "STATUS=redis unavailable: %s", why);
	}
	if (!p->once)
		return;
	/* --once: poll after Redis answered; without it nothing can be deduped. */
	if (up) {
		start_polls(p);
	} else if (!p->stopping && !p->started) {
		log_err("--once: redis is not available, nothing polled or marked seen");
		p->failed = 1;
		p->polls_left = 0;
		p->draining = 2; /* nothing to deliver from */
		maybe_done(p);
	}
}

/* The run-time state of cfg's feed i, held by the pipeline's list. */
static struct feed_rt *
rt_new(struct pipeline *p, struct config *cfg, size_t i)
{
	struct feed_rt *rt = xcalloc(1, sizeof *rt);

	rt->p = p;
	rt->cfg = &cfg->feeds[i];
	rt->owner = config_ref(cfg);
	rt->refs = 1;
	rt->url = xstrdup(rt->cfg->url);
	rt->timer = evtimer_new(p->base, pipeline_due_cb, rt);
	sched_init(&rt->sched, rt->cfg->interval, rt->cfg->adaptive,
	    rt->cfg->min_interval, rt->cfg->max_interval);
	rt->lease = cluster_feed_add(p->cluster, rt->cfg->name, rt);
	return rt;
}

struct pipeline *
pipeline_new(struct event_base *base, struct config *cfg, int once,
    char *err, size_t errlen)
{
	struct pipeline *p = xcalloc(1, sizeof *p);
	struct fetch_opts fo;
	size_t i;

	p->base = base;
	p->cfg = config_ref(cfg);
	p->revision = 1;
	p->once = once;
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	memset(&fo, 0, sizeof fo);
	fo.connect_timeout_ms = cfg->connect_timeout * 1000;
	fo.timeout_ms = cfg->fetch_timeout * 1000;
	fo.max_body = cfg->max_body;
	fo.max_redirects = cfg->max_redirects;
	fo.per_host = cfg->per_host;
	fo.max_total = cfg->max_concurrent;
	fo.user_agent = cfg->user_agent;
	p->fetcher = fetch_new(base, &fo);
	p->sinks = sinks_new(base, p->fetcher);

	p->wl = registry_snapshot(NULL, cfg);
	p->wl_stats = json_object();
	p->nfeeds = cfg->nfeeds;
	p->polls_left = once ? cfg->nfeeds : 0;
	p->feeds = xcalloc(cfg->nfeeds + 1, sizeof *p->feeds);
	for (i = 0; i < cfg->nfeeds; i++)
		p->feeds[i] = rt_new(p, cfg, i);
	p->store = store_new(base, cfg->redis, 5000, !once, pipeline_store_state_cb,
	    p, err, errlen);
	if (p->store == NULL) {
		pipeline_free(p);
		return NULL;
	}
	p->outbox = outbox_new(base, cfg, p->store, p->sinks, cfg->instance);
	if (!once)
		p->cluster = cluster_new(base, cfg, p->store, pipeline_acquired_cb, p);
	for (i = 0; i < p->nfeeds; i++)
		p->feeds[i]->lease = cluster_feed_add(p->cluster, p->feeds[i]->cfg->name,
		    p->feeds[i]);
	store_set_auth(p->store, cfg->redis_user, cfg->redis_password, cfg->redis_db);
	p->reg = registry_new(base, cfg, p->store, pipeline_rt_changed_cb, p);
	if (!once)
		registry_subscribe(p->reg);
	p->recent = recent_new(cfg, p->store, p->outbox);
	p->stories = stories_new(p->store, cfg);
	store_set_setup(p->store, pipeline_store_setup_cb, p);
	store_connect_now(p->store);
	if (!once)
		start_polls(p);
	return p;
}

/* --- reload ----------------------------------------------------------- */

/* Points rt at cfg's feed i (holding cfg), applying what changed. */
static void
rt_update(struct feed_rt *rt, struct config *cfg, size_t i)
{
	const struct cfg_feed *o = rt->cfg, *n = &cfg->feeds[i];
	uint64_t now = util_now_ms();
	long left;
	int failures;

	if (strcmp(o->url, n->url) != 0) {
		/* A new URL: new validators, new moved-URL check (state reload). */
		free(rt->url);
		rt->url = xstrdup(n->url);
		free(rt->etag);
		free(rt->last_modified);
		rt->etag = rt->last_modified = NULL;
		rt->state_loaded = 0;
		rt->gen++;
	}
	if (o->interval != n->interval || o->adaptive != n->adaptive ||
	    o->min_interval != n->min_interval || o->max_interval != n->max_interval) {
		failures = rt->sched.failures;
		sched_init(&rt->sched, n->interval, n->adaptive, n->min_interval,
		    n->max_interval);
		rt->sched.failures = failures;
		/* A shorter interval brings the next poll forward; a longer
		 * one applies from the next poll on. */
		if (rt->poll == NULL && evtimer_pending(rt->timer, NULL) &&
		    failures == 0) {
			left = rt->due_ms > now ? (long)(rt->due_ms - now) : 0;
			if (left > n->interval * 1000) {
				evtimer_del(rt->timer);
				schedule(rt, (long)(rnd() % (unsigned long)(n->interval * 1000)));
			}
		}
		log_info("feed \"%s\": interval now %lds", n->name, n->interval);
	}
	rt->cfg = n;
	config_free(rt->owner);
	rt->owner = config_ref(cfg);
}

/*
 * A feed the new config does not have: no more polls.  A fetch in
 * flight is cancelled (nothing of it was recorded); a poll already
 * recording its items finishes them, so that no item is half-applied.
 */
static void
rt_remove(struct feed_rt *rt)
{
	struct poll *poll = rt->poll;

	rt->removed = 1;
	rt->wait_store = 0;
	cluster_feed_remove(rt->p->cluster, rt->lease); /* released next tick */
	rt->lease = NULL;
	evtimer_del(rt->timer);
	if (poll != NULL && rt->fetch != NULL) {
		fetch_cancel(rt->fetch);
		rt->fetch = NULL;
		poll_fail(poll, "removed by a reload");
		poll->quiet = 1;
		poll_end(poll);
	}
	rt_release(rt);
}

static void
diff_json(json_t *o, const char *kind, const struct cfg_diff_kind *k,
    const char *(*name)(const struct config *, size_t), const struct config *old,
    const struct config *cfg, size_t n)
{
	json_t *d = json_object(), *added = json_array(), *removed = json_array(),
	    *changed = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		if (k->change[i] == CFG_ADDED)
			json_array_append_new(added, alert_json_string(name(cfg, i)));
		else if (k->change[i] == CFG_CHANGED)
			json_array_append_new(changed, alert_json_string(name(cfg, i)));
	}
	for (i = 0; i < k->nremoved; i++)
		json_array_append_new(removed, alert_json_string(name(old, k->removed[i])));
	json_object_set_new(d, "added", added);
	json_object_set_new(d, "removed", removed);
	json_object_set_new(d, "changed", changed);
	json_object_set_new(o, kind, d);
}

static const char *
nth_feed(const struct config *c, size_t i)
{
	return c->feeds[i].name;
}

static const char *
nth_watchlist(const struct config *c, size_t i)
{
	return c->watchlists[i].name;
}

static const char *
nth_sink(const struct config *c, size_t i)
{
	return c->sinks[i].name;
}

/*
 * Makes the running feeds those of the config plus the run-time ones
 * (a run-time feed whose name the config has is hidden by it), by name:
 * kept ones take their (new) settings, new ones start, spread as at
 * start, the others stop (rt_remove).
 */
static void
sync_feeds(struct pipeline *p)
{
	struct config *rtc = registry_feeds(p->reg), *c;
	size_t i, k, n = 0, cap = p->cfg->nfeeds + (rtc ? rtc->nfeeds : 0);
	struct feed_rt **feeds = xcalloc(cap + 1, sizeof *feeds), *rt;
	json_t *have = json_object(), *want = json_object(), *j;
	char *taken = xcalloc(p->nfeeds + 1, 1);

	for (i = 0; i < p->nfeeds; i++)
		json_object_set_new(have, p->feeds[i]->cfg->name, json_integer((json_int_t)i));
	/* --once polls the config file's feeds: it counts them at start. */
	for (k = 0; k < (p->once ? 1u : 2u); k++) {
		c = k == 0 ? p->cfg : rtc;
		for (i = 0; c != NULL && i < c->nfeeds; i++) {
			if (json_object_get(want, c->feeds[i].name) != NULL) {
				log_warn("registry: run-time feed \"%s\" is hidden by the "
				    "config file's feed of that name", c->feeds[i].name);
				continue;
			}
			json_object_set_new(want, c->feeds[i].name, json_true());
			if ((j = json_object_get(have, c->feeds[i].name)) != NULL) {
				rt = p->feeds[json_integer_value(j)];
				taken[json_integer_value(j)] = 1;
				rt_update(rt, c, i);
			} else {
				rt = rt_new(p, c, i);
				if (p->started && !p->stopping) {
					schedule_first(p, rt);
					log_info("feed \"%s\": added%s", c->feeds[i].name,
					    k ? " at run time" : " by a reload");
				}
			}
			rt->runtime = k;
			feeds[n++] = rt;
		}
	}
	for (i = 0; i < p->nfeeds; i++) {
		if (taken[i])
			continue;
		log_info("feed \"%s\": removed%s", p->feeds[i]->cfg->name,
		    p->feeds[i]->runtime ? " at run time" : " by a reload");
		rt_remove(p->feeds[i]);
	}
	free(p->feeds);
	p->feeds = feeds;
	p->nfeeds = n;
	free(taken);
	json_decref(have);
	json_decref(want);
}

/* A new snapshot of the watchlists in effect; the old one goes. */
static void
rebuild_watchlists(struct pipeline *p)
{
	struct wl_snapshot *old = p->wl;

	p->wl = registry_snapshot(p->reg, p->cfg);
	wl_snapshot_free(old);
}

/* The run-time state changed (this daemon's command, or another's). */
static void
pipeline_rt_changed_cb(void *arg)
{
	struct pipeline *p = arg;

	if (p->dying)
		return;
	sync_feeds(p);
	rebuild_watchlists(p);
}

json_t *
pipeline_reload(struct pipeline *p, struct config *cfg)
{
	struct config *old = p->cfg;
	struct config_diff *d = config_diff(old, cfg);
	json_t *summary = json_object();

	/* Sinks: lanes kept, made or retired (outbox.c). */
	outbox_reconfigure(p->outbox, cfg);
	p->cfg = cfg;
	p->revision++;
	stats_config_loaded();
	registry_set_config(p->reg, cfg);
	recent_set_config(p->recent, cfg);
	stories_set_config(p->stories, cfg);
	/* Feeds started, stopped, retimed; watchlists from the next item on. */
	sync_feeds(p);
	rebuild_watchlists(p);

	json_object_set_new(summary, "revision", json_integer((json_int_t)p->revision));
	diff_json(summary, "feeds", &d->feeds, nth_feed, old, cfg, cfg->nfeeds);
	diff_json(summary, "watchlists", &d->watchlists, nth_watchlist, old, cfg,
	    cfg->nwatchlists);
	diff_json(summary, "sinks", &d->sinks, nth_sink, old, cfg, cfg->nsinks);
	json_object_set_new(summary, "needs_restart", d->restart[0] != '\0' ?
	    json_string(d->restart) : json_null());
	if (d->restart[0] != '\0')
		log_warn("reload: [daemon] %s changed: that takes a restart; the "
		    "running values are kept", d->restart);
	log_notice("reload: configuration revision %lu: feeds +%zu -%zu ~%zu, "
	    "watchlists +%zu -%zu ~%zu, sinks +%zu -%zu ~%zu", p->revision,
	    d->feeds.nadded, d->feeds.nremoved, d->feeds.nchanged,
	    d->watchlists.nadded, d->watchlists.nremoved, d->watchlists.nchanged,
	    d->sinks.nadded, d->sinks.nremoved, d->sinks.nchanged);
	config_diff_free(d);
	config_free(old);
	return summary;
}

unsigned long
pipeline_revision(const struct pipeline *p)
{
	return p->revision;
}

const char *
pipeline_config_path(const struct pipeline *p)
{
	return p->cfg->path;
}

static void
pipeline_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pipeline *p = arg;

	(void)fd;
	(void)what;
	log_warn("shutdown: grace period over with %zu poll%s and %zu alert%s in "
	    "flight; undelivered alerts stay in the outbox", p->polls_running,
	    p->polls_running == 1 ? "" : "s", outbox_inflight(p->outbox),
	    outbox_inflight(p->outbox) == 1 ? "" : "s");
	event_base_loopexit(p->base, NULL);
}

static void
pipeline_left_cb(void *arg)
{
	struct pipeline *p = arg;

	p->writes--;
	maybe_done(p);
}

static void
pipeline_quiet_cb(void *arg)
{
	maybe_done(arg);
}

void
pipeline_stop(struct pipeline *p, long grace_ms)
{
	struct timeval tv;
	size_t i;

	if (p->stopping)
		return;
	p->stopping = 1;
	outbox_stop(p->outbox, pipeline_quiet_cb, p);
	stories_cancel(p->stories);
	if (cluster_stop(p->cluster, pipeline_left_cb, p))
		p->writes++; /* the lease releases: sent before the loop ends */
	for (i = 0; i < p->nfeeds; i++)
		evtimer_del(p->feeds[i]->timer);
	if (p->polls_running == 0 && outbox_inflight(p->outbox) == 0) {
		maybe_done(p);
		return;
	}
	log_notice("shutdown: waiting up to %ldms for %zu poll%s and %zu alert%s",
	    grace_ms, p->polls_running, p->polls_running == 1 ? "" : "s",
	    outbox_inflight(p->outbox), outbox_inflight(p->outbox) == 1 ? "" : "s");
	p->grace_timer = evtimer_new(p->base, pipeline_grace_cb, p);
	tv.tv_sec = grace_ms / 1000;
	tv.tv_usec = (grace_ms % 1000) * 1000;
	evtimer_add(p->grace_timer, &tv);
}

void
pipeline_log_health(const struct pipeline *p)
{
	const struct feed_rt *rt;
	char ok[32], since[32], *url;
	size_t i;

	for (i = 0; i < p->nfeeds; i++) {
		rt = p->feeds[i];
		if (rt->last_ok)
			util_format_time(rt->last_ok, ok, sizeof ok);
		else
			snprintf(ok, sizeof ok, "never");
		if (rt->failing_since)
			util_format_time(rt->failing_since, since, sizeof since);
		log_notice("feed \"%s\": last success %s, %d consecutive failure%s%s%s, "
		    "%lu items seen, last response %.3fs, interval %lds, url %s",
		    rt->cfg->name, ok, rt->sched.failures,
		    rt->sched.failures == 1 ? "" : "s",
		    rt->failing_since ? " since " : "", rt->failing_since ? since : "",
		    rt->items_seen, rt->response_s,
		    rt->sched.current, url = util_url_mask(rt->url, 0));
		free(url);
		if (rt->last_error != NULL)
			log_notice("feed \"%s\": last error: %s", rt->cfg->name, rt->last_error);
	}
}

int
pipeline_failed(const struct pipeline *p)
{
	return p->failed || (p->outbox != NULL && (outbox_dead_count(p->outbox) > 0 ||
	    outbox_unfinished(p->outbox)));
}

void
pipeline_free(struct pipeline *p)
{
	size_t i;

	if (p == NULL)
		return;
	p->dying = 1;
	/* Order: deliveries first (they log what is not sent), then Redis
	 * (pending replies end their polls), then transfers. */
	sinks_free(p->sinks);
	store_free(p->store);
	registry_free(p->reg);
	outbox_free(p->outbox);
	recent_free(p->recent);
	stories_free(p->stories);
	cluster_free(p->cluster);
	free(p->epoch);
	fetch_free(p->fetcher);
	/* Polls and Redis commands ended above; what is left is the list's. */
	for (i = 0; i < p->nfeeds; i++)
		rt_release(p->feeds[i]);
	free(p->feeds);
	wl_snapshot_free(p->wl);
	json_decref(p->wl_stats);
	if (p->grace_timer != NULL)
		event_free(p->grace_timer);
	config_free(p->cfg);
	free(p);
}

struct store *
pipeline_store(const struct pipeline *p)
{
	return p->store;
}

struct recent *
pipeline_recent(const struct pipeline *p)
{
	return p->recent;
}

const struct config *
pipeline_config(const struct pipeline *p)
{
	return p->cfg;
}

/* --- read-only views for the control socket --- */

/*
 * What the control socket's read commands report (status, feeds,
 * watchlists, sinks), built from the state SIGUSR1 logs, as JSON the
 * caller owns.  Feed URLs are masked like in the logs, a sink's after its
 * host (chat services put tokens in the path).  A feed's last error and
 * moved URL come from outside, so every string goes through
 * alert_json_string(): building a view never fails on what a feed sent.
 * sinkfmt.h is included here rather than with the others so that this
 * section stays one self-contained block.
 */
#include "wirewatch/sinkfmt.h"

static const char *
feed_state(const struct feed_rt *rt)
{
	if (rt->failing_since != 0)
		return "failing";
	return rt->last_ok != 0 ? "ok" : "never";
}

static json_t *
view_time(time_t t)
{
	char s[32];

	if (t == 0)
		return json_null();
	util_format_time(t, s, sizeof s);
	return json_string(s);
}

static json_t *
view_url(const char *url, int whole_path)
{
	char *masked;
	json_t *j;

	if (url == NULL)
		return json_null();
	masked = util_url_mask(url, whole_path);
	j = alert_json_string(masked);
	free(masked);
	return j;
}

json_t *
pipeline_status_json(const struct pipeline *p)
{
	json_t *o = json_object();
	size_t i, ok = 0, failing = 0, never = 0;
	const char *state;

	for (i = 0; i < p->nfeeds; i++) {
		state = feed_state(p->feeds[i]);
		if (state[0] == 'o')
			ok++;
		else if (state[0] == 'f')
			failing++;
		else
			never++;
	}
	json_object_set_new(o, "config", alert_json_string(p->cfg->path));
	json_object_set_new(o, "config_revision", json_integer((json_int_t)p->revision));
	json_object_set_new(o, "instance", alert_json_string(p->cfg->instance));
	json_object_set_new(o, "redis", json_string(store_is_up(p->store) ? "up" : "down"));
	json_object_set_new(o, "redis_address", alert_json_string(store_addr(p->store)));
	json_object_set_new(o, "stopping", json_boolean(p->stopping));
	json_object_set_new(o, "feeds", json_integer((json_int_t)p->nfeeds));
	json_object_set_new(o, "feeds_ok", json_integer((json_int_t)ok));
	json_object_set_new(o, "feeds_failing", json_integer((json_int_t)failing));
	json_object_set_new(o, "feeds_never", json_integer((json_int_t)never));
	json_object_set_new(o, "polls_running", json_integer((json_int_t)p->polls_running));
	json_object_set_new(o, "watchlists", json_integer((json_int_t)p->wl->n));
	json_object_set_new(o, "runtime_revision",
	    json_integer((json_int_t)registry_revision(p->reg)));
	json_object_set_new(o, "sinks", json_integer((json_int_t)p->cfg->nsinks));
	json_object_set_new(o, "outbox_in_flight", json_integer((json_int_t)
	    (p->outbox != NULL ? outbox_inflight(p->outbox) : 0)));
	json_object_set_new(o, "dead_letters", json_integer((json_int_t)
	    (p->outbox != NULL ? outbox_dead_count(p->outbox) : 0)));
	json_object_set_new(o, "cluster", p->cluster != NULL ?
	    cluster_status_json(p->cluster) : json_null());
	return o;
}

json_t *
pipeline_feeds_json(const struct pipeline *p)
{
	const struct feed_rt *rt;
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < p->nfeeds; i++) {
		rt = p->feeds[i];
		o = json_object();
		json_object_set_new(o, "name", alert_json_string(rt->cfg->name));
		json_object_set_new(o, "origin", json_string(rt->runtime ? "runtime" : "config"));
		json_object_set_new(o, "url", view_url(rt->url, 0));
		json_object_set_new(o, "state", json_string(feed_state(rt)));
		json_object_set_new(o, "interval", json_integer(rt->cfg->interval));
		json_object_set_new(o, "current_interval", json_integer(rt->sched.current));
		json_object_set_new(o, "last_success", view_time(rt->last_ok));
		json_object_set_new(o, "failing_since", view_time(rt->failing_since));
		json_object_set_new(o, "consecutive_failures", json_integer(rt->sched.failures));
		json_object_set_new(o, "last_error", rt->last_error != NULL ?
		    alert_json_string(rt->last_error) : json_null());
		json_object_set_new(o, "items_seen", json_integer((json_int_t)rt->items_seen));
		json_object_set_new(o, "last_response_s", json_real(rt->response_s));
		json_object_set_new(o, "polling", json_boolean(rt->poll != NULL));
		json_object_set_new(o, "waiting_for_redis", json_boolean(rt->wait_store));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
watchlist_json(const struct pipeline *p, const struct wl_entry *wl, int stats)
{
	json_t *o = json_object(), *sinks = json_array(), *st;
	size_t s;
	time_t last;

	for (s = 0; s < wl->nsinks; s++)
		json_array_append_new(sinks, alert_json_string(wl->sinks[s]));
	json_object_set_new(o, "name", alert_json_string(wl->name));
	json_object_set_new(o, "query", alert_json_string(wl->query));
	json_object_set_new(o, "sinks", sinks);
	json_object_set_new(o, "origin", json_string(wl->rt ? "runtime" : "config"));
	if (wl->rt != NULL) {
		json_object_set_new(o, "added", wl->rt->added ?
		    alert_json_string(wl->rt->added) : json_null());
		json_object_set_new(o, "added_by", wl->rt->by ?
		    alert_json_string(wl->rt->by) : json_null());
	}
	if (stats) {
		st = json_object_get(p->wl_stats, wl->name);
		last = st ? (time_t)json_integer_value(json_array_get(st, 1)) : 0;
		json_object_set_new(o, "alerts", json_integer(st ?
		    json_integer_value(json_array_get(st, 0)) : 0));
		json_object_set_new(o, "last_alert", view_time(last));
	}
	return o;
}

json_t *
pipeline_watchlists_json(const struct pipeline *p)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < p->wl->n; i++)
		json_array_append_new(a, watchlist_json(p, &p->wl->v[i], 0));
	return a;
}

json_t *
pipeline_watchlist_json(const struct pipeline *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->wl->n; i++)
		if (strcmp(p->wl->v[i].name, name) == 0)
			return watchlist_json(p, &p->wl->v[i], 1);
	return NULL;
}

char *
pipeline_watchlists_export(const struct pipeline *p)
{
	const struct wl_entry *wl;
	struct buf b = {0};
	size_t i, s, n = 0;

	buf_addf(&b, "# run-time watchlists of wirewatchd instance %s, run-time "
	    "revision %lld\n# (wirewatchctl watchlist export; the config file's "
	    "own watchlists are not included)\n", p->cfg->instance,
	    registry_revision(p->reg));
	for (i = 0; i < p->wl->n; i++) {
		wl = &p->wl->v[i];
		if (wl->rt == NULL)
			continue;
		n++;
		buf_addf(&b, "\n[watchlist \"%s\"]\n", wl->name);
		if (wl->rt->added != NULL)
			buf_addf(&b, "# added %s by %s\n", wl->rt->added,
			    wl->rt->by ? wl->rt->by : "?");
		buf_addf(&b, "query = %s\nsinks = ", wl->query);
		for (s = 0; s < wl->nsinks; s++)
			buf_addf(&b, "%s%s", s ? ", " : "", wl->sinks[s]);
		buf_addc(&b, '\n');
	}
	if (n == 0)
		buf_adds(&b, "# (none)\n");
	return buf_steal(&b);
}

struct registry *
pipeline_registry(const struct pipeline *p)
{
	return p->reg;
}

json_t *
pipeline_sinks_json(const struct pipeline *p)
{
	const struct cfg_sink *sink;
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < p->cfg->nsinks; i++) {
		sink = &p->cfg->sinks[i];
		o = json_object();
		json_object_set_new(o, "name", alert_json_string(sink->name));
		json_object_set_new(o, "type",
		    json_string(sinkfmt_type_name((enum sinkfmt_type)sink->format)));
		json_object_set_new(o, "url", view_url(sink->url, 1));
		json_array_append_new(a, o);
	}
	return a;
}
