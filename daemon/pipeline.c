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
 * call marks it seen and queues its alerts in the outbox (outbox.c), so an
 * item is never "seen but not alerted", whatever fails when.  Delivery is
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
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "wirewatch/alert.h"
#include "wirewatch/cluster.h"
#include "wirewatch/config.h"
#include "wirewatch/dedup.h"
#include "wirewatch/feed.h"
#include "wirewatch/fetch.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
#include "wirewatch/outbox.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/scheduler.h"
#include "wirewatch/sink.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

struct pipeline;

struct feed_rt {
	struct pipeline *p;
	const struct cfg_feed *cfg;
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
	char last_error[300];
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
	time_t started;
	int failed;
	int store_failed;     /* failed because of Redis, not the feed */
	size_t unknown;       /* records whose outcome is unknown */
	int quiet;            /* stopped by shutdown: not a feed failure */
	char error[300];
	char *etag;
	char *last_modified;
	long retry_after;
};

struct pipeline {
	struct event_base *base;
	const struct config *cfg;
	int once;
	int stopping;
	int dying;
	int failed;
	struct store *store;
	struct fetcher *fetcher;
	struct sinks *sinks;
	struct outbox *outbox;
	struct cluster *cluster; /* feed leases; NULL with lease = off, --once */
	char *epoch;            /* of the Redis database, from the first connect */
	int draining;           /* --once: polls done, waiting for the outbox */
	struct feed_rt *feeds;
	size_t nfeeds;
	const struct cfg_watchlist **by_index; /* matcher index -> watchlist */
	size_t polls_running;   /* polls in progress */
	size_t polls_left;      /* --once: feeds not yet done */
	size_t writes;          /* feed-state saves in flight */
	int started;            /* polls were scheduled */
	struct event *grace_timer;
};

#define UNKNOWN_LOGGED 5 /* items named per poll when Redis fails; then a count */

static void poll_begin(struct feed_rt *rt);

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
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(rt->timer, &tv);
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
	rt->last_error[0] = '\0';
}

static void
feed_health_fail(struct feed_rt *rt, const char *why)
{
	char *url;

	/* Log when a feed starts failing or fails differently; not per poll. */
	if (rt->failing_since == 0 || strcmp(rt->last_error, why) != 0) {
		url = util_url_mask(rt->url, 0);
		log_err("feed \"%s\": %s (%s)", rt->cfg->name, why, url);
		free(url);
	} else
		log_debug("feed \"%s\": still failing: %s", rt->cfg->name, why);
	if (rt->failing_since == 0)
		rt->failing_since = time(NULL);
	snprintf(rt->last_error, sizeof rt->last_error, "%s", why);
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
	if (!p->dying && (poll->store_failed || poll->quiet) && !p->once) {
		/*
		 * Redis failed, not the feed: no backoff, no feed error.  Poll
		 * again soon when Redis is up, else when it comes back.
		 */
		if (poll->unknown > UNKNOWN_LOGGED)
			log_warn("feed \"%s\": %zu more items whose outcome is unknown",
			    rt->cfg->name, poll->unknown - UNKNOWN_LOGGED);
		log_warn("feed \"%s\": %s; what was not recorded is retried on the "
		    "next poll", rt->cfg->name, poll->error);
		if (store_is_up(p->store))
			schedule(rt, 1000 + (long)(rnd() % 4000));
		else
			rt->wait_store = 1;
	} else if (!p->dying) {
		if (poll->failed)
			feed_health_fail(rt, poll->error);
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
	maybe_done(p);
}

static void
poll_fail(struct poll *poll, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
poll_fail(struct poll *poll, const char *fmt, ...)
{
	va_list ap;

	poll->failed = 1;
	va_start(ap, fmt);
	vsnprintf(poll->error, sizeof poll->error, fmt, ap);
	va_end(ap);
}

/* --- Redis feed state ------------------------------------------------- */

static char *
feed_key(const struct pipeline *p, const struct cfg_feed *f)
{
	return xasprintf("%sfeed:%s", p->cfg->prefix, f->name);
}

static void
pipeline_state_saved_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct feed_rt *rt = arg;

	(void)reply;
	rt->p->writes--;
	if (error != NULL)
		log_warn("feed \"%s\": could not save feed state: %s", rt->cfg->name, error);
	maybe_done(rt->p);
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
	if (rt->p->cluster != NULL)
		cluster_fenced_hset(rt->p->cluster, rt->lease, argc, argv,
		    pipeline_state_saved_cb, rt);
	else
		store_command(rt->p->store, pipeline_state_saved_cb, rt, argc, argv);
	free(key);
}

static char *
reply_str(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0)
		return NULL;
	return xstrndup(r->str, r->len);
}

static void
pipeline_state_loaded_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct feed_rt *rt = arg;
	char *moved, *from;

	if (rt->p->dying)
		return;
	if (error == NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 4) {
		from = reply_str(reply->element[3]);
		/* A stored move applies only while the config names the same URL. */
		if (from != NULL && strcmp(from, rt->cfg->url) == 0) {
			rt->etag = reply_str(reply->element[0]);
			rt->last_modified = reply_str(reply->element[1]);
			if ((moved = reply_str(reply->element[2])) != NULL) {
				free(rt->url);
				rt->url = moved;
			}
		}
		/* No state at all: this feed was never polled into this database. */
		rt->first_poll = reply->element[3]->type == REDIS_REPLY_NIL;
		free(from);
		rt->state_loaded = 1;
	}
	/* Without Redis we still fetch: errors surface at the seen filter. */
	poll_begin(rt);
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

static void
pipeline_recorded_cb(int result, const char *error, void *arg)
{
	struct record_req *r = arg;
	struct poll *poll = r->poll;
	struct feed_rt *rt = poll->rt;
	const struct feed_entry *e = &poll->doc->entries[r->index];

	if (result == 1) {
		poll->new_items++;
		rt->items_seen++;
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
	const struct cfg_watchlist *wl;
	struct match_result res = {0};
	struct outbox_alert *alerts = NULL;
	char (*ids)[ALERT_IDLEN] = NULL;
	struct record_req *r;
	struct match_doc md;
	struct buf cats = {0};
	size_t h, s, c, n = 0, cap = 0;
	json_t *alert;

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
		matcher_run(p->cfg->matcher, &md, &res);
		for (h = 0; h < res.nhits; h++)
			cap += p->by_index[res.hits[h].watchlist]->nsinks;
		alerts = xcalloc(cap + 1, sizeof *alerts);
		ids = xcalloc(cap + 1, sizeof *ids);
		for (h = 0; h < res.nhits; h++) {
			wl = p->by_index[res.hits[h].watchlist];
			for (s = 0; s < wl->nsinks; s++) {
				const struct cfg_sink *sink = &p->cfg->sinks[wl->sinks[s]];

				alert_make_id(poll->keys[i], wl->name, sink->name, ids[n]);
				alert = alert_new(rt->cfg->name, e, poll->keys[i],
				    &res.hits[h], ids[n]);
				alerts[n].id = ids[n];
				alerts[n].sink = sink->name;
				alerts[n].watchlist = wl->name;
				alerts[n].json = json_dumps(alert, JSON_COMPACT);
				json_decref(alert);
				if (alerts[n].json == NULL)
					fatal("alert: cannot serialize (out of memory)");
				n++;
			}
		}
	}
	r->nalerts = n;
	poll->pending++;
	if (p->cluster != NULL)
		outbox_fence(p->outbox, cluster_lease_key(rt->lease),
		    cluster_token(rt->lease));
	outbox_record(p->outbox, poll->keys[i], alerts, n, pipeline_recorded_cb, r);
	for (s = 0; s < n; s++)
		free((char *)alerts[s].json);
	free(alerts);
	free(ids);
	match_result_free(&res);
	buf_free(&cats);
}

static void
pipeline_seen_cb(struct redisReply *reply, const char *error, void *arg)
{
	static const struct timeval zero = { 0, 0 };
	struct poll *poll = arg;
	size_t k, from = poll->slice_from, to = poll->slice_to;

	if (error != NULL) {
		if (!poll->failed)
			poll_fail(poll, "items not recorded: %s", error);
		poll->store_failed = 1;
	} else if (reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != to - from) {
		if (!poll->failed)
			poll_fail(poll, "items not recorded: unexpected MGET reply");
	} else if (!poll->rt->p->dying) {
		for (k = from; k < to; k++)
			if (reply->element[k - from]->type == REDIS_REPLY_NIL)
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
		keys[k] = xasprintf("%sseen:%s", p->cfg->prefix,
		    poll->keys[poll->order[poll->slice_from + k]]);
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

	if (!poll->failed && !rt->p->dying) {
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
	rt->poll = poll;
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
	if (rt->poll != NULL || p->stopping)
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
	store_command(p->store, pipeline_state_loaded_cb, rt, 6, argv);
	free(key);
}

/* --- public ------------------------------------------------------------- */

static void
start_polls(struct pipeline *p)
{
	struct timeval now = { 0, 0 };
	size_t i;

	if (p->started)
		return;
	p->started = 1;
	/* With leases, a feed is scheduled when its lease is acquired. */
	for (i = 0; i < p->nfeeds && p->cluster == NULL; i++) {
		if (p->once)
			evtimer_add(p->feeds[i].timer, &now);
		else
			schedule(&p->feeds[i], sched_first_delay_ms(&p->feeds[i].sched,
			    p->cfg->startup_spread < 0 ? p->feeds[i].sched.interval :
			    p->cfg->startup_spread, rnd()));
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
		n += p->feeds[i].wait_store;
	if (n == 0)
		return;
	spread = n < 500 ? 2000 : 10000;
	log_notice("redis is back: polling %zu feed%s that waited for it", n,
	    n == 1 ? "" : "s");
	for (i = 0; i < p->nfeeds; i++) {
		if (!p->feeds[i].wait_store)
			continue;
		p->feeds[i].wait_store = 0;
		schedule(&p->feeds[i], (long)(rnd() % (unsigned long)spread));
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
			p->feeds[i].first_poll = 1;
			p->feeds[i].state_loaded = 0;
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
	cluster_setup(p->cluster);
}

/*
 * Feed i's lease was acquired (or is pollable again): poll when its last
 * poll, by whichever instance, is an interval old (plus up to a tenth of
 * it, the usual jitter), or as on startup when nobody polled it yet.
 */
static void
pipeline_acquired_cb(void *feed_arg, long long since_ms, void *arg)
{
	struct pipeline *p = arg;
	struct feed_rt *rt = feed_arg;
	long long delay;

	if (p->stopping)
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

struct pipeline *
pipeline_new(struct event_base *base, const struct config *cfg, int once,
    char *err, size_t errlen)
{
	struct pipeline *p = xcalloc(1, sizeof *p);
	struct fetch_opts fo;
	struct feed_rt *rt;
	size_t i;

	p->base = base;
	p->cfg = cfg;
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

	p->by_index = xcalloc(cfg->nwatchlists + 1, sizeof *p->by_index);
	for (i = 0; i < cfg->nwatchlists; i++)
		p->by_index[cfg->watchlists[i].index] = &cfg->watchlists[i];
	p->nfeeds = cfg->nfeeds;
	p->polls_left = once ? cfg->nfeeds : 0;
	p->feeds = xcalloc(cfg->nfeeds + 1, sizeof *p->feeds);
	for (i = 0; i < cfg->nfeeds; i++) {
		rt = &p->feeds[i];
		rt->p = p;
		rt->cfg = &cfg->feeds[i];
		rt->url = xstrdup(rt->cfg->url);
		rt->timer = evtimer_new(base, pipeline_due_cb, rt);
		sched_init(&rt->sched, rt->cfg->interval, rt->cfg->adaptive,
		    rt->cfg->min_interval, rt->cfg->max_interval);
	}
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
		p->feeds[i].lease = cluster_feed_add(p->cluster, p->feeds[i].cfg->name,
		    &p->feeds[i]);
	store_set_setup(p->store, pipeline_store_setup_cb, p);
	store_connect_now(p->store);
	if (!once)
		start_polls(p);
	return p;
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
	if (cluster_stop(p->cluster, pipeline_left_cb, p))
		p->writes++; /* the lease releases: sent before the loop ends */
	for (i = 0; i < p->nfeeds; i++)
		evtimer_del(p->feeds[i].timer);
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
		rt = &p->feeds[i];
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
		if (rt->last_error[0])
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
	outbox_free(p->outbox);
	cluster_free(p->cluster);
	free(p->epoch);
	fetch_free(p->fetcher);
	for (i = 0; i < p->nfeeds; i++) {
		event_free(p->feeds[i].timer);
		free(p->feeds[i].url);
		free(p->feeds[i].etag);
		free(p->feeds[i].last_modified);
	}
	free(p->feeds);
	free(p->by_index);
	if (p->grace_timer != NULL)
		event_free(p->grace_timer);
	free(p);
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
		state = feed_state(&p->feeds[i]);
		if (state[0] == 'o')
			ok++;
		else if (state[0] == 'f')
			failing++;
		else
			never++;
	}
	json_object_set_new(o, "config", alert_json_string(p->cfg->path));
	json_object_set_new(o, "instance", alert_json_string(p->cfg->instance));
	json_object_set_new(o, "redis", json_string(store_is_up(p->store) ? "up" : "down"));
	json_object_set_new(o, "redis_address", alert_json_string(store_addr(p->store)));
	json_object_set_new(o, "stopping", json_boolean(p->stopping));
	json_object_set_new(o, "feeds", json_integer((json_int_t)p->nfeeds));
	json_object_set_new(o, "feeds_ok", json_integer((json_int_t)ok));
	json_object_set_new(o, "feeds_failing", json_integer((json_int_t)failing));
	json_object_set_new(o, "feeds_never", json_integer((json_int_t)never));
	json_object_set_new(o, "polls_running", json_integer((json_int_t)p->polls_running));
	json_object_set_new(o, "watchlists", json_integer((json_int_t)p->cfg->nwatchlists));
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
		rt = &p->feeds[i];
		o = json_object();
		json_object_set_new(o, "name", alert_json_string(rt->cfg->name));
		json_object_set_new(o, "url", view_url(rt->url, 0));
		json_object_set_new(o, "state", json_string(feed_state(rt)));
		json_object_set_new(o, "interval", json_integer(rt->cfg->interval));
		json_object_set_new(o, "current_interval", json_integer(rt->sched.current));
		json_object_set_new(o, "last_success", view_time(rt->last_ok));
		json_object_set_new(o, "failing_since", view_time(rt->failing_since));
		json_object_set_new(o, "consecutive_failures", json_integer(rt->sched.failures));
		json_object_set_new(o, "last_error", rt->last_error[0] != '\0' ?
		    alert_json_string(rt->last_error) : json_null());
		json_object_set_new(o, "items_seen", json_integer((json_int_t)rt->items_seen));
		json_object_set_new(o, "last_response_s", json_real(rt->response_s));
		json_object_set_new(o, "polling", json_boolean(rt->poll != NULL));
		json_object_set_new(o, "waiting_for_redis", json_boolean(rt->wait_store));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *
pipeline_watchlists_json(const struct pipeline *p)
{
	const struct cfg_watchlist *wl;
	json_t *a = json_array(), *o, *sinks;
	size_t i, s;

	for (i = 0; i < p->cfg->nwatchlists; i++) {
		wl = &p->cfg->watchlists[i];
		o = json_object();
		sinks = json_array();
		for (s = 0; s < wl->nsinks; s++)
			json_array_append_new(sinks,
			    alert_json_string(p->cfg->sinks[wl->sinks[s]].name));
		json_object_set_new(o, "name", alert_json_string(wl->name));
		json_object_set_new(o, "query", alert_json_string(wl->query));
		json_object_set_new(o, "sinks", sinks);
		json_object_set_new(o, "origin", json_string("config"));
		json_array_append_new(a, o);
	}
	return a;
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
