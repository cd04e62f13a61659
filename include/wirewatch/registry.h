/*
 * registry.h - watchlists and feeds added at run time (the control
 * socket's watchlist add/remove, feed add/remove), kept in Redis and
 * shared by every wirewatchd on that Redis.
 *
 * Keys, under the prefix P:
 *
 *   P rt:watchlists   hash: name -> {"query","sinks":[..],"added","by"}
 *   P rt:feeds        hash: name -> {"url","interval","added","by"}
 *   P rt:rev          the run-time revision: +1 per change
 *   P rt:changed      pub/sub channel: the new revision, after each change
 *   P audit           stream (capped near 10,000): every mutating command
 *
 * A change is one Redis function call (library wirewatch_rt): the hash
 * written, the revision raised and the change announced, or nothing.
 * Every daemon subscribes to the channel on a second connection and, on
 * a message (and after every reconnect of either connection), reads the
 * whole run-time state back in one call and hands it to the pipeline,
 * which applies it like a reload: watchlists swap between two items,
 * feeds start and stop.  Nothing lives only in memory: a restart reads
 * it back before the first poll records anything (the read is the first
 * command on every new connection).
 *
 * Entries from the config file are not run-time entries: they cannot be
 * added, replaced or removed here (origin "config"); a run-time entry
 * whose name a reload brings into the config file is hidden by it.
 */
#ifndef WIREWATCH_REGISTRY_H
#define WIREWATCH_REGISTRY_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct config;
struct event_base;
struct registry;
struct store;

struct rt_watchlist {
	char *name;
	char *query;
	char **sinks;
	size_t nsinks;
	char *added;      /* UTC time */
	char *by;         /* "uid 0 pid 42 on INSTANCE" */
};

/* Who asked: for the audit trail. */
struct registry_peer {
	uid_t uid;
	pid_t pid;
};

/* The run-time state changed (read back from Redis): apply it. */
typedef void (*registry_changed_cb)(void *arg);
/* A mutating command's outcome: fields (owned by the callee) or error. */
typedef void (*registry_done_cb)(json_t *fields, const char *error, void *arg);

/* cfg is the running config (registry_set_config after each reload). */
struct registry *registry_new(struct event_base *base, const struct config *cfg,
    struct store *store, registry_changed_cb cb, void *arg);
void registry_free(struct registry *r);
void registry_set_config(struct registry *r, const struct config *cfg);

/* The main connection is new: load the library, read the state back. */
void registry_setup(struct registry *r);
/* Starts the subscription connection (not with --once). */
void registry_subscribe(struct registry *r);

/* The run-time watchlists, in name order, and their revision. */
const struct rt_watchlist *registry_watchlists(const struct registry *r, size_t *n);
long long registry_revision(const struct registry *r);
/*
 * The run-time feeds as a config of feeds only (defaults from the
 * running config), or NULL when there are none; borrowed: config_ref it
 * to keep it.
 */
struct config *registry_feeds(const struct registry *r);

/*
 * The commands.  Each validates, writes (one function call), reads the
 * state back and applies it, and only then calls done: when the answer
 * is ok the change is in effect in this daemon.  Each is audited (a log
 * line and an entry in P audit) with its peer and outcome.
 */
/* backfill: seconds of recent items the caller backfills once the
 * watchlist is in effect (0: none); checked (keep-items) and audited here. */
void registry_watchlist_add(struct registry *r, const struct registry_peer *peer,
    const char *name, const char *query, char *const *sinks, size_t nsinks,
    int replace, long long backfill, registry_done_cb done, void *arg);
void registry_watchlist_remove(struct registry *r, const struct registry_peer *peer,
    const char *name, registry_done_cb done, void *arg);
void registry_feed_add(struct registry *r, const struct registry_peer *peer,
    const char *name, const char *url, long interval, int replace,
    registry_done_cb done, void *arg);
void registry_feed_remove(struct registry *r, const struct registry_peer *peer,
    const char *name, registry_done_cb done, void *arg);

/* Audits another mutating command (reload, ...): args taken, may be NULL;
 * error NULL for success. */
void registry_audit(struct registry *r, const struct registry_peer *peer,
    const char *cmd, json_t *args, const char *error);

/*
 * A query as a watchlist of the running config would compile it: 0, or
 * -1 with "watchlist \"NAME\": query: column N: message" in err.
 */
int registry_check_query(const struct registry *r, const char *name,
    const char *query, char *err, size_t errlen);

/*
 * The watchlists in effect: the config's (in config order), then the
 * run-time ones (by name), compiled into one matcher.  Rebuilt whenever
 * the config or the run-time state changes and swapped between two
 * items; it borrows from cfg and r, so it is freed before either changes.
 */
struct wl_entry {
	const char *name;
	const char *query;
	const char **sinks;           /* sink names */
	size_t nsinks;
	const struct rt_watchlist *rt; /* NULL: from the config file */
};

struct wl_snapshot {
	struct matcher *matcher;
	int own_matcher;              /* 0: cfg->matcher, borrowed */
	struct wl_entry *v;
	size_t n;
	struct wl_entry **by_index;   /* matcher index -> entry */
};

/* r may be NULL (no run-time watchlists, --once). */
struct wl_snapshot *registry_snapshot(const struct registry *r,
    const struct config *cfg);
void wl_snapshot_free(struct wl_snapshot *s);

#endif
