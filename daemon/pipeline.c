/*
 * pipeline.c - fetch -> parse -> seen filter -> match -> record, per feed:
 * the feeds' polls from their timer to their end, feed health, the feed
 * state in Redis, start and stop.  The seen filter, matching and recording
 * are pipeline_seen.c; applying a config or a run-time change,
 * pipeline_reload.c; the read-only views, pipeline_view.c; what they
 * share, pipeline_internal.h.
 *
 * Each feed has one struct feed_rt for the daemon's lifetime; a poll in
 * progress is a struct poll that owns the parsed document and counts the
 * Redis replies it still waits for.  The poll ends (and is freed) when the
 * last reply arrived.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "wirewatch/cluster.h"
#include "wirewatch/config.h"
#include "wirewatch/feed.h"
#include "wirewatch/fetch.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
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

#include "pipeline_internal.h"

static void poll_begin(struct feed_rt *rt);

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

unsigned
pipeline_rnd(void)
{
	return (unsigned)random();
}

void
pipeline_schedule(struct feed_rt *rt, long delay_ms)
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

void
pipeline_rt_release(struct feed_rt *rt)
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
void
pipeline_poll_end(struct poll *poll)
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
			pipeline_schedule(rt, 1000 + (long)(pipeline_rnd() % 4000));
		else
			rt->wait_store = 1;
	} else if (!p->dying) {
		if (poll->failed)
			feed_health_fail(rt, poll->error ? poll->error : "failed");
		else
			feed_health_ok(rt);
		delay = sched_after_poll_ms(&rt->sched, !poll->failed,
		    (long)poll->new_items, poll->retry_after, pipeline_rnd());
		log_debug("feed \"%s\": %s, %zu items, %zu new, %.3fs; next poll in %lds",
		    rt->cfg->name, poll->failed ? "failed" : "ok",
		    poll->doc ? poll->doc->nentries : 0, poll->new_items,
		    rt->response_s, delay / 1000);
		pipeline_schedule(rt, delay);
	}
	poll_free(poll);
	p->polls_running--;
	if (p->once)
		p->polls_left--;
	pipeline_rt_release(rt);
	maybe_done(p);
}

void
pipeline_poll_fail(struct poll *poll, const char *fmt, ...)
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
	pipeline_rt_release(rt);
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
		pipeline_rt_release(rt);
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
	pipeline_rt_release(rt);
}

void
pipeline_poll_finish_items(struct poll *poll)
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
	pipeline_poll_end(poll);
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
			pipeline_poll_fail(poll, "HTTP %ld, Retry-After %lds", res->status, res->retry_after);
		else
			pipeline_poll_fail(poll, "HTTP %ld", res->status);
		return;
	}
	if (res->error[0] != '\0') {
		pipeline_poll_fail(poll, "%s", res->error);
		return;
	}
	poll->doc = feed_parse(res->body, res->len, res->url, res->content_type,
	    err, sizeof err);
	if (poll->doc == NULL) {
		pipeline_poll_fail(poll, "%s", err);
		return;
	}
	if (poll->doc->truncated) {
		/* A cut download: wait for the whole document, record nothing. */
		pipeline_poll_fail(poll, "truncated document (%s); its items are not used",
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
		pipeline_poll_fail(poll, "%s", res->error);
	else
		take_response(poll, res);
	if (poll->failed || poll->doc == NULL || rt->p->dying) {
		if (!poll->failed && res->status == 304)
			log_debug("feed \"%s\": not modified", rt->cfg->name);
		pipeline_poll_end(poll);
		return;
	}
	pipeline_check_items(poll);
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
		pipeline_poll_fail(poll, "removed");
		poll->quiet = 1;
		pipeline_poll_end(poll);
		return;
	}
	memset(&req, 0, sizeof req);
	req.url = rt->url;
	req.etag = rt->etag;
	req.last_modified = rt->last_modified;
	rt->fetch = fetch_start(p->fetcher, &req, pipeline_fetched_cb, poll);
	if (rt->fetch == NULL) {
		pipeline_poll_fail(poll, "cannot start fetch of '%s'", rt->url);
		pipeline_poll_end(poll);
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
void
pipeline_schedule_first(struct pipeline *p, struct feed_rt *rt)
{
	if (p->cluster != NULL)
		return; /* with leases: when its lease is acquired (cluster.h) */
	pipeline_schedule(rt, sched_first_delay_ms(&rt->sched, p->cfg->startup_spread < 0 ?
	    rt->sched.interval : p->cfg->startup_spread, pipeline_rnd()));
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
			pipeline_schedule_first(p, p->feeds[i]);
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
		pipeline_schedule(p->feeds[i], (long)(pipeline_rnd() % (unsigned long)spread));
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
		    rt->sched.interval : p->cfg->startup_spread, pipeline_rnd());
	} else {
		delay = (long long)rt->sched.current * 1000 - since_ms;
		if (delay < 0)
			delay = 0;
		delay += (long long)(pipeline_rnd() % (unsigned)(rt->sched.current * 100 + 1));
	}
	pipeline_schedule(rt, (long)delay);
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
struct feed_rt *
pipeline_rt_new(struct pipeline *p, struct config *cfg, size_t i)
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
		p->feeds[i] = pipeline_rt_new(p, cfg, i);
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
		pipeline_rt_release(p->feeds[i]);
	free(p->feeds);
	wl_snapshot_free(p->wl);
	json_decref(p->wl_stats);
	if (p->grace_timer != NULL)
		event_free(p->grace_timer);
	config_free(p->cfg);
	free(p);
}
