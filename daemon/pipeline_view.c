/*
 * pipeline_view.c - what the rest of the daemon reads of the pipeline: its
 * parts (Redis connection, recent items, config, registry), its revision,
 * and the read-only views.
 *
 * What the control socket's read commands report (status, feeds,
 * watchlists, sinks), built from the state SIGUSR1 logs, as JSON the
 * caller owns.  Feed URLs are masked like in the logs, a sink's after its
 * host (chat services put tokens in the path).  A feed's last error and
 * moved URL come from outside, so every string goes through
 * alert_json_string(): building a view never fails on what a feed sent.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/cluster.h"
#include "wirewatch/config.h"
#include "wirewatch/outbox.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/registry.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#include "pipeline_internal.h"

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
