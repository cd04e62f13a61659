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
};

struct config {
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
	char *entities;       /* directory, default WW_ENTITIES_DIR */
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
	char *control;        /* "control": the control socket's path (control.h);
	                         NULL when not set (the default path), "" off */
	char *control_group;  /* "control-group": a group (name or gid) whose
	                         members may use every control command; NULL */
	char *control_read_group; /* "control-read-group": the read commands */

	struct cfg_feed *feeds;
	size_t nfeeds;
	struct cfg_watchlist *watchlists;
	size_t nwatchlists;
	struct cfg_sink *sinks;
	size_t nsinks;

	struct entity_set *ents;  /* loaded from entities */
	struct matcher *matcher;  /* every watchlist compiled, in config order */
};

#ifndef WW_ENTITIES_DIR
#define WW_ENTITIES_DIR "/etc/wirewatch/entities"
#endif

/* NULL on error with "FILE:LINE: message" in err. */
struct config *config_load(const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);

#endif
