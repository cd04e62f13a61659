/*
 * pipeline_internal.h - shared between the pipeline files: pipeline.c
 * (the feeds' polls from their timer to their end, feed health, the feed
 * state in Redis, start and stop), pipeline_seen.c (the seen filter,
 * matching and recording of a poll's items), pipeline_reload.c (applying
 * a config or a run-time change) and pipeline_view.c (what the rest of
 * the daemon reads: accessors and the control socket's views).  Not a
 * public API.
 */
#ifndef WIREWATCH_PIPELINE_INTERNAL_H
#define WIREWATCH_PIPELINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "wirewatch/dedup.h"
#include "wirewatch/scheduler.h"

struct cfg_feed;
struct cluster;
struct cluster_feed;
struct config;
struct event;
struct event_base;
struct feed_doc;
struct fetch;
struct fetcher;
struct outbox;
struct recent;
struct registry;
struct sinks;
struct stories;
struct store;
struct wl_snapshot;

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
	char *error;          /* malloc'd by pipeline_poll_fail(), else NULL */
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

/* pipeline.c */

/* random(), for the spread and jitter of polls. */
unsigned pipeline_rnd(void);
/* Arms rt's timer for its next poll (not with --once, stopping, removed). */
void pipeline_schedule(struct feed_rt *rt, long delay_ms);
/* The first poll: spread over the interval (or startup-spread). */
void pipeline_schedule_first(struct pipeline *p, struct feed_rt *rt);
/* The run-time state of cfg's feed i, held by the pipeline's list. */
struct feed_rt *pipeline_rt_new(struct pipeline *p, struct config *cfg,
    size_t i);
/* Lets go of one reference to rt; the last frees it. */
void pipeline_rt_release(struct feed_rt *rt);
/* The poll failed: why, kept for its end (feed health, the log). */
void pipeline_poll_fail(struct poll *poll, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Every poll ends here exactly once. */
void pipeline_poll_end(struct poll *poll);
/*
 * Every item was taken: unless the poll failed, the validators move on
 * (saved to Redis); then the poll ends.
 */
void pipeline_poll_finish_items(struct poll *poll);

/* pipeline_seen.c */

/* The parsed document's items into the seen filter, a slice at a time. */
void pipeline_check_items(struct poll *poll);

/* pipeline_reload.c */

/* The run-time state changed (this daemon's command, or another's). */
void pipeline_rt_changed_cb(void *arg);

#endif
