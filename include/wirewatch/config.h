/*
 * config.h - wirewatch.conf, read and validated into an immutable config.
 *
 * git-config style INI (ini.c reads it: lines of any length; query and
 * sinks may continue on lines indented deeper than their key):
 *
 *   [daemon]            redis, prefix, instance, seen-ttl, entities, ...
 *   [feed "NAME"]       url, interval, max-items, backfill, ...
 *   [watchlist "NAME"]  query, sinks
 *   [sink "NAME"]       type, url | url-file, secret, header, chat-id,
 *                       retry-schedule, digest-after, timeout, ...
 *
 * config_load() validates everything before anything starts: unknown
 * sections or keys, missing or bad values (redis as store.c would parse
 * it), duplicate names, a watchlist naming an unknown sink, a query that
 * does not compile (including an unknown @Entity), a sink key its type
 * does not take, a retired Teams connector URL, a bad signing secret,
 * NUL bytes, invalid UTF-8 all fail with "FILE:LINE: message"; only what
 * no line is to blame for (unreadable, a directory, empty, no [daemon])
 * is "FILE: message".  URLs in messages are masked; secrets and header
 * values are never printed.  Relative paths (entities, url-file,
 * secret-file) are resolved against the config file's directory, the
 * credential files against $CREDENTIALS_DIRECTORY when it is set.
 */
#ifndef WIREWATCH_CONFIG_H
#define WIREWATCH_CONFIG_H

#include <stddef.h>

struct entity_set;
struct matcher;

/* SINK_WEBHOOK: every type delivered by an HTTP POST (format says which). */
enum sink_type { SINK_WEBHOOK, SINK_CONSOLE };

struct cfg_sink {
	char *name;
	int line;            /* line of the [sink] header */
	enum sink_type type;
	int format;          /* "type": enum sinkfmt_type (sinkfmt.h) */
	char *url;           /* "url", or the first line of "url-file"; set
	                        for every type but console, NULL there */
	char **secrets;      /* "secret" / "secret-file": whsec_... (type
	                        webhook only), at most 2: one signature each */
	size_t nsecrets;
	char **headers;      /* "header": "Name: value" (webhook, ntfy) */
	size_t nheaders;
	char *chat_id;       /* "chat-id": telegram (required), else NULL */
	long *schedule_ms;   /* delay before each attempt, [0] == 0 being the
	                        first: "retry-schedule", else 0, D, 2D, 4D, ...
	                        from retries/retry-delay, else Standard
	                        Webhooks' 0 5s 5m 30m 2h 5h 10h 14h 20h 24h */
	size_t nschedule;    /* >= 1 */
	long digest_after;   /* "digest-after", default 10; 0: no digests */
	long timeout_ms;     /* "timeout", default 10s */
	int retries;         /* "retries", default 3: attempts after the first
	                        (superseded by schedule_ms) */
	long retry_base_ms;  /* "retry-delay", default 1s: first backoff step
	                        (superseded by schedule_ms) */
	int story_updates;   /* "story-updates": CFG_STORY_UPDATES_*; default
	                        thread for webhook and google-chat, else digest */
	long story_update_interval; /* "story-update-interval", seconds, default 30m */
};

/* A later item of a story already alerted: what a sink gets. */
enum {
	CFG_STORY_UPDATES_DEFAULT = 0, /* as the type says (resolved at load) */
	CFG_STORY_UPDATES_THREAD,      /* every one: a reply in the story's thread
	                                  (google-chat), an alert.update event (webhook) */
	CFG_STORY_UPDATES_DIGEST,      /* "also reported by ...", at most one per interval */
	CFG_STORY_UPDATES_NONE
};

struct cfg_feed {
	char *name;
	int line;
	char *url;           /* http://, https:// or file:// */
	long interval;       /* seconds, default 5m */
	int adaptive;        /* "adaptive = yes": poll faster/slower within bounds */
	long min_interval;   /* "min-interval", default interval/4 (at least 30s) */
	long max_interval;   /* "max-interval", default interval*4 */
	long max_items;      /* "max-items": [feed] value, else [daemon]'s */
	long long backfill;  /* "backfill": [feed] value, else [daemon]'s; see config */
};

struct cfg_watchlist {
	char *name;
	int line;
	char *query;
	size_t *sinks;       /* indexes into config.sinks */
	size_t nsinks;
	int index;           /* index in config.matcher */
	long long backfill;  /* "backfill": when the daemon starts, alert on the
	                        kept items (recent.h) of this many seconds back,
	                        each item once per watchlist; 0 (default) none */
	int group_items;     /* "group = item": every item alerts (no story grouping) */
};

struct config_names;

struct config {
	int refs;             /* config_ref / config_free: freed at 0 */
	struct config_names *names; /* feed, watchlist and sink names, hashed */
	char *path;
	/* [daemon] */
	char *redis;          /* "unix:/path" or "host:port" (required, never NULL) */
	char *prefix;         /* default "ww:" */
	char *instance;       /* "instance": this daemon's name among those
	                         sharing a Redis (its outbox consumer name);
	                         default the host name; 1-64 of [A-Za-z0-9._-] */
	long long seen_ttl;   /* seconds, default 30d */
	long lease;           /* "lease", seconds, default 30: a feed's lease
	                         among instances sharing a Redis (cluster.h);
	                         0 "off": no leases, every instance polls all */
	char *entities;       /* directory, default WW_ENTITIES_DIR (shipped) */
	char *local_entities; /* "local-entities": read after entities, may
	                         extend or replace them (entity.h); default
	                         WW_LOCAL_ENTITIES_DIR, "" none */
	char *user_agent;     /* default "wirewatch/VERSION (+https://wirewatch.invalid)" */
	long long max_body;   /* bytes, "max-body", default 8 MiB; accepts k/M suffix */
	long connect_timeout; /* seconds, default 10 */
	long fetch_timeout;   /* seconds, default 30 */
	int max_redirects;    /* default 5 */
	int per_host;         /* "per-host-connections", default 2 */
	int max_concurrent;   /* "max-connections", default 64 */
	long startup_spread;  /* "startup-spread", seconds; -1 (default): each
	                         feed's first poll is spread over its interval */
	long max_items;       /* "max-items", default 10000 (1..10000000): items
	                         taken from one document, the newest first */
	long long backfill;   /* "backfill", default 24h: on a feed's first poll,
	                         items published longer ago than this many seconds
	                         are only marked seen (undated ones count as new);
	                         -1 "all": none is, 0 "none": every dated one is */
	long long keep_items; /* "keep-items", default 2d: recent items are kept
	                         this many seconds in Redis for `watchlist test`
	                         and backfills (recent.h); 0 keeps none */
	char *control;        /* "control": the control socket's path (control.h);
	                         NULL when not set (the default path), "" off */
	char *control_group;  /* "control-group": a group (name or gid) whose
	                         members may use every control command; NULL */
	char *control_read_group; /* "control-read-group": the read commands */
	char *metrics;        /* "metrics": host:port of /metrics and /healthz
	                         (metrics.h); NULL or "" when off (default) */
	char *redis_user;     /* "redis-user": ACL user for AUTH, or NULL */
	char *redis_password; /* "redis-password" or the first line of
	                         "redis-password-file", or NULL */
	long redis_db;        /* "redis-db": SELECTed database, default 0 */

	struct cfg_feed *feeds;
	size_t nfeeds;
	long long story_window; /* "story-window", seconds, default 48h: items
	                         reporting an event seen this long ago or less
	                         join its story (docs/stories.md) */
	struct cfg_watchlist *watchlists;
	size_t nwatchlists;
	struct cfg_sink *sinks;
	size_t nsinks;

	struct entity_set *ents;  /* loaded from entities */
	struct matcher *matcher;  /* every watchlist compiled, in config order */
};

/* The Makefile sets both from PREFIX and SYSCONFDIR. */
#ifndef WW_ENTITIES_DIR
#define WW_ENTITIES_DIR "/usr/local/share/wirewatch/entities"
#endif
#ifndef WW_LOCAL_ENTITIES_DIR
#define WW_LOCAL_ENTITIES_DIR "/etc/wirewatch/entities.d"
#endif

/* NULL on error with "FILE:LINE: message" in err.  One reference. */
struct config *config_load(const char *path, char *err, size_t errlen);
/*
 * Reference counting: a reload makes a new config while deliveries, polls
 * and views may still point into the old one.  config_ref() returns cfg;
 * config_free() drops a reference and frees at the last (NULL: no-op).
 */
struct config *config_ref(struct config *cfg);
void config_free(struct config *cfg);

/* The index of the feed, watchlist or sink of that name, or -1 (hashed). */
long config_feed_index(const struct config *cfg, const char *name);
long config_watchlist_index(const struct config *cfg, const char *name);
long config_sink_index(const struct config *cfg, const char *name);
/* The sink of that name, or NULL (hashed, as config_sink_index). */
const struct cfg_sink *config_sink(const struct config *cfg, const char *name);

/*
 * config_diff(old, new): what a reload changes, by name (hashed: linear in
 * the sizes).  For each kind, the entries of new with the index of the
 * entry of the same name in old (or -1: added), and the names of old that
 * new has not (removed).  changed: same name, different settings.
 * restart: the [daemon] keys that differ but take effect only at a
 * restart (the connections and sockets made at start); config_diff
 * copies old's values of those into new, so that new describes what
 * runs, and names them here.
 */
enum cfg_change { CFG_SAME, CFG_ADDED, CFG_CHANGED };

struct cfg_diff_kind {
	long *old_index;        /* per entry of new: index in old, or -1 */
	enum cfg_change *change;/* per entry of new */
	size_t *removed;        /* indexes in old of the entries new has not */
	size_t nremoved;
	size_t nadded, nchanged;
};

struct config_diff {
	struct cfg_diff_kind feeds, watchlists, sinks;
	char restart[256];      /* "redis, prefix" or "" */
};

struct config_diff *config_diff(const struct config *old, struct config *cfg);
void config_diff_free(struct config_diff *d);

#endif
