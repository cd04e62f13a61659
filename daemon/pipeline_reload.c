/*
 * pipeline_reload.c - applying a config (pipeline_reload) or a run-time
 * change (registry.h) to the running pipeline.
 *
 * Reload and run-time changes: the feeds are the config's plus the
 * run-time ones (registry.h), synced by name (sync_feeds): a feed_rt is
 * reference-counted by the list, its poll and its Redis commands, and
 * holds the config its cfg points into, so a removed feed's last poll
 * finishes (or its download is cancelled) on the settings it began with.
 * Items are matched against the watchlist snapshot of the moment
 * (p->wl), swapped between two items.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/cluster.h"
#include "wirewatch/config.h"
#include "wirewatch/fetch.h"
#include "wirewatch/log.h"
#include "wirewatch/outbox.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/recent.h"
#include "wirewatch/registry.h"
#include "wirewatch/scheduler.h"
#include "wirewatch/stats.h"
#include "wirewatch/stories.h"
#include "wirewatch/util.h"

#include "pipeline_internal.h"

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
				pipeline_schedule(rt, (long)(pipeline_rnd() %
				    (unsigned long)(n->interval * 1000)));
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
		pipeline_poll_fail(poll, "removed by a reload");
		poll->quiet = 1;
		pipeline_poll_end(poll);
	}
	pipeline_rt_release(rt);
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
				rt = pipeline_rt_new(p, c, i);
				if (p->started && !p->stopping) {
					pipeline_schedule_first(p, rt);
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
void
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

	/* Sinks: lanes kept, made or retired (outbox_lane.c). */
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
