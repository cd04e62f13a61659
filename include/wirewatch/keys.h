/*
 * keys.h - every Redis key (and the one channel) wirewatch uses, in one
 * place.  A key is the configured prefix ([daemon] prefix, default "ww:")
 * + one of the names below, + ":" + its argument(s) for the names that
 * take some; keys_name() builds it.  docs/DESIGN.md ("Redis") describes
 * the same layout for people; the function libraries get their keys as
 * KEYS from C, never by name.
 */
#ifndef WIREWATCH_KEYS_H
#define WIREWATCH_KEYS_H

/* --- the seen filter and the kept items --- */
/* :<item hash>  string, TTL seen-ttl: the item was seen (alerts queued) */
#define KEY_SEEN "seen"
/* stream, MINID-trimmed to keep-items: the recent items (recent.h) */
#define KEY_RECENT "recent"
/* :<item hash>:<watchlist>  string, TTL seen-ttl: backfilled for it */
#define KEY_ALERTED "alerted"
/* :<feed name>  hash: validators (etag, last-modified), moved URL,
 * configured URL; absent = first poll */
#define KEY_FEED "feed"

/* --- the outbox --- */
/* stream, group "dispatch": alerts to deliver */
#define KEY_OUTBOX "outbox"
/* stream (capped ~100,000): dead letters */
#define KEY_DEAD "dead"
/* sorted set by due time (ms): alerts waiting for their next attempt */
#define KEY_RETRY "retry"
/* string: a random value set once per database (data loss check) */
#define KEY_EPOCH "epoch"
/* :<YYYY-MM-DD>  counter, 8 days: alerts queued that UTC day */
#define KEY_ALERTS "alerts"
/* :<sink>  hash, TTL: a paced sink's shared token bucket */
#define KEY_PACE "pace"

/* --- run-time watchlists and feeds (registry) --- */
/* hash: watchlist name -> JSON */
#define KEY_RT_WATCHLISTS "rt:watchlists"
/* hash: feed name -> JSON */
#define KEY_RT_FEEDS "rt:feeds"
/* integer: the run-time revision, +1 per change */
#define KEY_RT_REV "rt:rev"
/* pub/sub channel (not a key): announces a new revision */
#define KEY_RT_CHANGED "rt:changed"
/* stream (capped ~10,000): every mutating control command */
#define KEY_AUDIT "audit"

/* --- stories (story_redis.h) --- */
/* :<day number>  hash, TTL story-window + 1d: LSH band key -> items */
#define KEY_STORY_BANDS "story:b"
/* :<day number>  hash, TTL story-window + 1d: item ref -> signature */
#define KEY_STORY_SIGS "story:s"
/* :<story id>  hash, TTL story-window + 1d: the story's sources, w:<watchlist>,
 * u:<sink>, tg:<sink> (Telegram message_id of its first alert) */
#define KEY_STORY "story:r"

/* --- several instances (cluster) --- */
/* hash: live instances, name -> "expiry-ms {info}" */
#define KEY_MEMBERS "members"
/* :<feed name>  hash: the feed's lease (owner, until, token, polled) */
#define KEY_LEASE "lease"

/*
 * prefix + name, then ":" + each argument up to the NULL that ends them
 * (malloc'd): keys_name("ww:", KEY_LEASE, "f1", NULL) = "ww:lease:f1".
 */
char *keys_name(const char *prefix, const char *name, ...)
    __attribute__((sentinel));

#endif
