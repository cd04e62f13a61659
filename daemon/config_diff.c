/*
 * config_diff.c - what a reload changes: config_diff(old, new) compares
 * two loaded configs by name (config.h).
 *
 * The config is plain data; the daemon applies a diff to its running
 * state (pipeline_reload): feeds started, stopped or retimed, watchlists
 * and sinks swapped between two items.  Names are looked up in hash
 * tables, so a diff of 100,000 feeds is linear, like the load.
 *
 * A few [daemon] keys shape what is made once at start (the Redis
 * connection, the key prefix and consumer name, the control socket, the
 * fetcher's limits): a reload cannot change them.  config_diff keeps the
 * running values in the new config and names the keys, so the reload can
 * say "needs a restart" instead of pretending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "wirewatch/config.h"
#include "wirewatch/util.h"

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return 0;
	return 1;
}

static int
feed_eq(const struct cfg_feed *a, const struct cfg_feed *b)
{
	return str_eq(a->url, b->url) && a->interval == b->interval &&
	    a->adaptive == b->adaptive && a->min_interval == b->min_interval &&
	    a->max_interval == b->max_interval && a->max_items == b->max_items &&
	    a->backfill == b->backfill;
}

static int
sink_eq(const struct cfg_sink *a, const struct cfg_sink *b)
{
	return a->type == b->type && a->format == b->format &&
	    str_eq(a->url, b->url) &&
	    strv_eq(a->secrets, a->nsecrets, b->secrets, b->nsecrets) &&
	    strv_eq(a->headers, a->nheaders, b->headers, b->nheaders) &&
	    str_eq(a->chat_id, b->chat_id) && a->nschedule == b->nschedule &&
	    memcmp(a->schedule_ms, b->schedule_ms,
	    a->nschedule * sizeof *a->schedule_ms) == 0 &&
	    a->digest_after == b->digest_after && a->timeout_ms == b->timeout_ms &&
	    a->story_updates == b->story_updates &&
	    a->story_update_interval == b->story_update_interval;
}

/* Same query, same grouping, same sinks by name (a sink's index may move). */
static int
watchlist_eq(const struct config *o, const struct cfg_watchlist *a,
    const struct config *n, const struct cfg_watchlist *b)
{
	size_t i;

	if (!str_eq(a->query, b->query) || a->group_items != b->group_items ||
	    a->nsinks != b->nsinks)
		return 0;
	for (i = 0; i < a->nsinks; i++)
		if (strcmp(o->sinks[a->sinks[i]].name, n->sinks[b->sinks[i]].name) != 0)
			return 0;
	return 1;
}

/*
 * Fills k for n_new entries against n_old ones; name(i, old) gives an
 * entry's name, eq(i_old, i_new) whether its settings are the same.
 */
static void
diff_kind(struct cfg_diff_kind *k, size_t n_old, size_t n_new,
    const char *(*name)(const void *, size_t, int), const void *ctx,
    int (*eq)(const void *, size_t, size_t))
{
	struct names t = { NULL, 0, 0 };
	char *kept = xcalloc(n_old + 1, 1);
	size_t i, j;

	k->old_index = xcalloc(n_new + 1, sizeof *k->old_index);
	k->change = xcalloc(n_new + 1, sizeof *k->change);
	k->removed = xcalloc(n_old + 1, sizeof *k->removed);
	for (i = 0; i < n_old; i++)
		config_names_add(&t, name(ctx, i, 1), i);
	for (i = 0; i < n_new; i++) {
		if (config_names_get(&t, name(ctx, i, 0), &j) == -1) {
			k->old_index[i] = -1;
			k->change[i] = CFG_ADDED;
			k->nadded++;
			continue;
		}
		kept[j] = 1;
		k->old_index[i] = (long)j;
		k->change[i] = eq(ctx, j, i) ? CFG_SAME : CFG_CHANGED;
		k->nchanged += k->change[i] == CFG_CHANGED;
	}
	for (i = 0; i < n_old; i++)
		if (!kept[i])
			k->removed[k->nremoved++] = i;
	free(t.slots);
	free(kept);
}

struct pair {
	const struct config *o, *n;
};

static const char *
feed_name(const void *ctx, size_t i, int old)
{
	const struct pair *p = ctx;

	return (old ? p->o : p->n)->feeds[i].name;
}

static int
feed_same(const void *ctx, size_t i, size_t j)
{
	const struct pair *p = ctx;

	return feed_eq(&p->o->feeds[i], &p->n->feeds[j]);
}

static const char *
watchlist_name(const void *ctx, size_t i, int old)
{
	const struct pair *p = ctx;

	return (old ? p->o : p->n)->watchlists[i].name;
}

static int
watchlist_same(const void *ctx, size_t i, size_t j)
{
	const struct pair *p = ctx;

	return watchlist_eq(p->o, &p->o->watchlists[i], p->n, &p->n->watchlists[j]);
}

static const char *
sink_name(const void *ctx, size_t i, int old)
{
	const struct pair *p = ctx;

	return (old ? p->o : p->n)->sinks[i].name;
}

static int
sink_same(const void *ctx, size_t i, size_t j)
{
	const struct pair *p = ctx;

	return sink_eq(&p->o->sinks[i], &p->n->sinks[j]);
}

static void
restart_key(struct config_diff *d, const char *key)
{
	size_t n = strlen(d->restart);

	snprintf(d->restart + n, sizeof d->restart - n, "%s%s", n ? ", " : "", key);
}

/* A string key that needs a restart: keep the running value. */
static void
keep_str(struct config_diff *d, const char *key, const char *old, char **new)
{
	if (str_eq(old, *new))
		return;
	restart_key(d, key);
	free(*new);
	*new = old != NULL ? xstrdup(old) : NULL;
}

#define KEEP_NUM(d, key, field) do {					\
	if (old->field != cfg->field) {					\
		restart_key(d, key);					\
		cfg->field = old->field;				\
	}								\
} while (0)

struct config_diff *
config_diff(const struct config *old, struct config *cfg)
{
	struct config_diff *d = xcalloc(1, sizeof *d);
	struct pair p = { old, cfg };

	keep_str(d, "redis", old->redis, &cfg->redis);
	keep_str(d, "prefix", old->prefix, &cfg->prefix);
	keep_str(d, "instance", old->instance, &cfg->instance);
	keep_str(d, "control", old->control, &cfg->control);
	keep_str(d, "control-group", old->control_group, &cfg->control_group);
	keep_str(d, "control-read-group", old->control_read_group,
	    &cfg->control_read_group);
	keep_str(d, "user-agent", old->user_agent, &cfg->user_agent);
	keep_str(d, "metrics", old->metrics, &cfg->metrics);
	keep_str(d, "redis-user", old->redis_user, &cfg->redis_user);
	keep_str(d, "redis-password", old->redis_password, &cfg->redis_password);
	KEEP_NUM(d, "redis-db", redis_db);
	KEEP_NUM(d, "lease", lease);
	KEEP_NUM(d, "max-body", max_body);
	KEEP_NUM(d, "connect-timeout", connect_timeout);
	KEEP_NUM(d, "fetch-timeout", fetch_timeout);
	KEEP_NUM(d, "max-redirects", max_redirects);
	KEEP_NUM(d, "per-host-connections", per_host);
	KEEP_NUM(d, "max-connections", max_concurrent);
	diff_kind(&d->feeds, old->nfeeds, cfg->nfeeds, feed_name, &p, feed_same);
	diff_kind(&d->watchlists, old->nwatchlists, cfg->nwatchlists,
	    watchlist_name, &p, watchlist_same);
	diff_kind(&d->sinks, old->nsinks, cfg->nsinks, sink_name, &p, sink_same);
	return d;
}

static void
kind_free(struct cfg_diff_kind *k)
{
	free(k->old_index);
	free(k->change);
	free(k->removed);
}

void
config_diff_free(struct config_diff *d)
{
	if (d == NULL)
		return;
	kind_free(&d->feeds);
	kind_free(&d->watchlists);
	kind_free(&d->sinks);
	free(d);
}
