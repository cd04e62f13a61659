/*
 * pipeline.c - fetch -> parse -> seen -> match -> alert, per feed.
 *
 * Each feed has one struct feed_rt for the daemon's lifetime; a poll in
 * progress is a struct poll that owns the parsed document and counts the
 * Redis replies it still waits for.  The poll ends (and is freed) when the
 * last reply arrived; alert deliveries outlive it and carry their own
 * copies of what they need.
 *
 * Redis holds, besides the seen set, each feed's conditional-GET
 * validators and its moved URL (key <prefix>feed:<name>), so a restart
 * neither refetches every feed in full nor forgets a 301.  Validators are
 * saved only after every item of a response was recorded, so a Redis
 * failure mid-poll means a full refetch next time, never a lost item.
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

#include "wirewatch/config.h"
#include "wirewatch/dedup.h"
#include "wirewatch/feed.h"
#include "wirewatch/fetch.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
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
	struct event *timer;
	struct poll *poll;    /* in progress, or NULL */
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
	int failed;
	char error[300];
	char *etag;
	char *last_modified;
	long retry_after;
};

struct seen_req {
	struct poll *poll;
	size_t index;
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
	struct feed_rt *feeds;
	size_t nfeeds;
	const struct cfg_watchlist **by_index; /* matcher index -> watchlist */
	size_t polls_running;   /* polls in progress */
	size_t polls_left;      /* --once: feeds not yet done */
	size_t deliveries;
	size_t writes;          /* feed-state saves in flight */
	int started;            /* polls were scheduled */
	struct event *grace_timer;
};

static void poll_begin(struct feed_rt *rt);

/* --- lifecycle helpers ------------------------------------------------ */

static void
maybe_done(struct pipeline *p)
{
	struct timeval now = { 0, 0 };

	if (p->dying)
		return;
	if (p->writes > 0)
		return;
	if (p->once && p->polls_left == 0 && p->deliveries == 0)
		event_base_loopexit(p->base, &now);
	else if (p->stopping && p->polls_running == 0 && p->deliveries == 0)
		event_base_loopexit(p->base, &now);
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
	/* Log when a feed starts failing or fails differently; not per poll. */
	if (rt->failing_since == 0 || strcmp(rt->last_error, why) != 0)
		log_err("feed \"%s\": %s (%s)", rt->cfg->name, why, rt->url);
	else
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
	if (!p->dying) {
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
		free(from);
		rt->state_loaded = 1;
	}
	/* Without Redis we still fetch: errors surface at the seen filter. */
	poll_begin(rt);
}

/* --- alerts ----------------------------------------------------------- */

static void
pipeline_delivered_cb(int ok, void *arg)
{
	struct pipeline *p = arg;

	if (!ok)
		p->failed = 1;
	p->deliveries--;
	maybe_done(p);
}

static json_t *
alert_payload(const struct feed_rt *rt, const struct feed_entry *e,
    const char *key, const struct match_hit *hit)
{
	char when[32];
	time_t t = e->published != FEED_NO_TIME ? e->published :
	    e->updated != FEED_NO_TIME ? e->updated : time(NULL);
	json_t *terms = json_array();
	size_t i;

	util_format_time(t, when, sizeof when);
	for (i = 0; i < hit->nterms; i++)
		json_array_append_new(terms, json_string(hit->terms[i]));
	return json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s, s:s?, s:o, s:s?, s:O?}",
	    "watchlist", hit->name,
	    "title", e->title,
	    "link", e->link,
	    "published", when,
	    "feed", rt->cfg->name,
	    "id", key,
	    "item_id", e->id,
	    "terms", terms,
	    "snippet", hit->snippet,
	    "explain", hit->explain);
}

static void
alert_item(struct poll *poll, size_t i)
{
	struct feed_rt *rt = poll->rt;
	struct pipeline *p = rt->p;
	const struct feed_entry *e = &poll->doc->entries[i];
	const struct cfg_watchlist *wl;
	struct match_result res = {0};
	struct match_doc md;
	struct buf cats = {0};
	json_t *payload;
	char *label;
	size_t h, s, c;

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
	for (h = 0; h < res.nhits; h++) {
		wl = p->by_index[res.hits[h].watchlist];
		payload = alert_payload(rt, e, poll->keys[i], &res.hits[h]);
		label = xasprintf("alert watchlist \"%s\" item %s", wl->name, poll->keys[i]);
		log_info("feed \"%s\": %s matched: %s", rt->cfg->name, label,
		    e->title ? e->title : "(untitled)");
		for (s = 0; s < wl->nsinks; s++) {
			p->deliveries++;
			sinks_deliver(p->sinks, &p->cfg->sinks[wl->sinks[s]], payload,
			    label, pipeline_delivered_cb, p);
		}
		free(label);
		json_decref(payload);
	}
	match_result_free(&res);
	buf_free(&cats);
}

/* --- the seen filter ---------------------------------------------------- */

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
		save_state(rt);
	}
	poll_end(poll);
}

static void
pipeline_seen_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct seen_req *req = arg;
	struct poll *poll = req->poll;
	size_t i = req->index;

	free(req);
	if (error != NULL) {
		if (!poll->failed)
			poll_fail(poll, "items not recorded: %s", error);
	} else if (reply->type == REDIS_REPLY_STATUS && !poll->rt->p->dying) {
		/* SET NX answered OK: first time anyone saw this item. */
		poll->new_items++;
		poll->rt->items_seen++;
		alert_item(poll, i);
	}
	if (--poll->pending == 0)
		poll_finish_items(poll);
}

static void
check_items(struct poll *poll)
{
	struct pipeline *p = poll->rt->p;
	const char *argv[6];
	char ttl[32], *key;
	struct seen_req *req;
	size_t i, n = poll->doc->nentries;

	if (n == 0) {
		poll_finish_items(poll);
		return;
	}
	poll->keys = xcalloc(n, sizeof *poll->keys);
	for (i = 0; i < n; i++)
		dedup_item_key(poll->doc, i, poll->keys[i]);
	snprintf(ttl, sizeof ttl, "%lld", p->cfg->seen_ttl);
	poll->pending = n;
	for (i = 0; i < n; i++) {
		req = xmalloc(sizeof *req);
		req->poll = poll;
		req->index = i;
		key = xasprintf("%sseen:%s", p->cfg->prefix, poll->keys[i]);
		argv[0] = "SET";
		argv[1] = key;
		argv[2] = "1";
		argv[3] = "NX";
		argv[4] = "EX";
		argv[5] = ttl;
		/* The reply callback may end the poll; touch nothing after. */
		store_command(p->store, pipeline_seen_cb, req, 6, argv);
		free(key);
	}
}

/* --- fetch and parse -------------------------------------------------- */

static void
take_response(struct poll *poll, const struct fetch_result *res)
{
	struct feed_rt *rt = poll->rt;
	char err[WW_ERRLEN];

	if (res->moved_to != NULL && strcmp(res->moved_to, rt->url) != 0) {
		log_notice("feed \"%s\": moved permanently from %s to %s; polling the new URL",
		    rt->cfg->name, rt->url, res->moved_to);
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
	for (i = 0; i < p->nfeeds; i++) {
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

static void
pipeline_store_state_cb(int up, const char *why, void *arg)
{
	struct pipeline *p = arg;

	if (up) {
		log_notice("redis %s: up", store_addr(p->store));
		sd_notify(0, "STATUS=polling");
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
	log_warn("shutdown: grace period over with %zu poll%s and %zu alert%s in flight",
	    p->polls_running, p->polls_running == 1 ? "" : "s", p->deliveries,
	    p->deliveries == 1 ? "" : "s");
	event_base_loopexit(p->base, NULL);
}

void
pipeline_stop(struct pipeline *p, long grace_ms)
{
	struct timeval tv;
	size_t i;

	if (p->stopping)
		return;
	p->stopping = 1;
	for (i = 0; i < p->nfeeds; i++)
		evtimer_del(p->feeds[i].timer);
	if (p->polls_running == 0 && p->deliveries == 0) {
		maybe_done(p);
		return;
	}
	log_notice("shutdown: waiting up to %ldms for %zu poll%s and %zu alert%s",
	    grace_ms, p->polls_running, p->polls_running == 1 ? "" : "s",
	    p->deliveries, p->deliveries == 1 ? "" : "s");
	p->grace_timer = evtimer_new(p->base, pipeline_grace_cb, p);
	tv.tv_sec = grace_ms / 1000;
	tv.tv_usec = (grace_ms % 1000) * 1000;
	evtimer_add(p->grace_timer, &tv);
}

void
pipeline_log_health(const struct pipeline *p)
{
	const struct feed_rt *rt;
	char ok[32], since[32];
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
		    rt->sched.current, rt->url);
		if (rt->last_error[0])
			log_notice("feed \"%s\": last error: %s", rt->cfg->name, rt->last_error);
	}
}

int
pipeline_failed(const struct pipeline *p)
{
	return p->failed;
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
