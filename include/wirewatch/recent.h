/*
 * recent.h - the recent items: what the daemon took in lately, kept in
 * Redis so that a query can be tried on it (`watchlist test`) and a
 * watchlist added later can alert on it (backfill).
 *
 * Every new item is kept, for [daemon] keep-items (default 2d; 0 keeps
 * nothing), as one entry of the stream <prefix>recent, written by the same
 * Redis function call that marks the item seen and queues its alerts
 * (outbox_record, ww_record_item): an item is never seen but not kept.
 * The stream is trimmed with an exact MINID to the last keep-items on
 * every write, and expires keep-items after its last write; readers take
 * only entries of the last keep-items, so what a quiet stream still holds
 * past that is never used.  An entry's id is the time (ms) the item was
 * recorded: "the last 6 h" means items recorded in the last 6 h, whatever
 * date they carry.
 *
 * An entry holds the item's key (dedup.h), feed, title, link, guid,
 * published (unix seconds, or ""), author, categories, summary and
 * content as the matcher sees them (HTML stripped, white space runs made
 * one space), and the watchlists that alerted on it when it was recorded.
 * The text is capped at RECENT_TEXT_MAX bytes per item (title first, at
 * most 1 KB, then author, categories, summary, content; cut on a
 * character boundary); a content equal to the summary is stored once.
 * A query therefore matches a kept item as it matched the item itself,
 * unless its hit lies past the cap.
 */
#ifndef WIREWATCH_RECENT_H
#define WIREWATCH_RECENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

struct config;
struct feed_entry;
struct match_doc;
struct outbox;
struct store;
struct store_reply;
struct recent;

#define RECENT_TEXT_MAX 4096   /* bytes of text kept per item */
#define RECENT_NFIELDS 12      /* fields of an entry */
#define RECENT_PAGE 256        /* entries read per XRANGE */
#define RECENT_TEST_HITS 1000  /* hits a test reports at most */

/* The kept item as 2 * RECENT_NFIELDS strings (field, value, ...). */
struct recent_fields {
	char *v[2 * RECENT_NFIELDS];
	size_t n;
};

/*
 * Builds the entry of item e (key item_key) of feed; alerted lists the
 * watchlists that alert on it, joined by '\n' (NULL: none).  Release with
 * recent_fields_free.  Pure: unit-tested.
 */
void recent_fields(struct recent_fields *out, const char *feed,
    const char *item_key, const struct feed_entry *e, const char *alerted);
void recent_fields_free(struct recent_fields *f);

/* One kept item, read back; the strings point into the stream reply. */
struct recent_item {
	const char *sid;        /* stream id, "MS-SEQ" */
	uint64_t seen_ms;       /* when it was recorded */
	const char *key, *feed, *title, *link, *guid, *author, *category;
	const char *summary, *content, *alerted;
	time_t published;       /* FEED_NO_TIME when it had no date */
};

/* Decodes one XRANGE entry; -1 when it is not one of ours. */
int recent_item_decode(const struct store_reply *entry,
    struct recent_item *out);
/* 1 when name is one of the watchlists that alerted on it. */
int recent_item_alerted(const struct recent_item *it, const char *name);

/*
 * The store.  cfg, store and outbox are borrowed and must outlive it
 * (recent_set_config points it at a new config, for a reload).  A walk
 * (test, backfill) uses the config it started with until it ends (its
 * matcher holds cfg->ents, it reads prefix, keep-items, seen-ttl): a
 * reload must keep the old config alive until running walks are over.
 */
struct recent *recent_new(const struct config *cfg, struct store *store,
    struct outbox *ob);
void recent_set_config(struct recent *r, const struct config *cfg);
void recent_free(struct recent *r);

/*
 * watchlist test: compiles query (a bad one: -1 with "column N: message"
 * in err, nothing started) and runs it over the items kept in the last
 * since_s seconds (0: all that are kept), sending nothing.  cb gets
 * {"items": scanned, "hits": [...], "truncated": bool} (taken: json_decref
 * it) or NULL and the error.  Each hit: seen, feed, title, link,
 * published, item, terms, snippet, explain.  At most RECENT_TEST_HITS
 * hits, the oldest first.
 */
typedef void (*recent_test_cb)(json_t *result, const char *error, void *arg);
int recent_test(struct recent *r, const char *query, long long since_s,
    recent_test_cb cb, void *arg, char *err, size_t errlen);

/*
 * BACKFILL (for `watchlist add NAME QUERY --sinks S --backfill D`, and
 * the [watchlist] backfill key).
 *
 * Matches the watchlist NAME = query against the items kept in the last
 * since_s seconds (0: all that are kept) and queues an alert for each
 * matching item on each of sinks (names of configured sinks), through the
 * outbox like any alert (same alert id, alert_make_id; same delivery,
 * retries, dead letters).  Each item alerts at most once per watchlist
 * name, ever (as long as seen-ttl): an item that alerted for NAME when it
 * was recorded is skipped, and every backfilled item sets the mark
 * <prefix>alerted:<item>:<NAME> (TTL seen-ttl) in the same Redis function
 * call that queues its alerts (ww_backfill), so removing the watchlist and
 * adding it again never repeats an alert, and neither does a second
 * backfill of an overlapping window.  Only the name counts: a re-added
 * watchlist with another query is still the same watchlist.
 *
 * Returns -1 with the reason in err when nothing was started: a bad
 * query ("column N: message"), an unknown sink, keep-items = 0.  Else 0,
 * and cb runs exactly once when the walk is over (or failed: the error,
 * with the counts so far; what was queued stays queued, and running the
 * backfill again finishes it without repeats).  The walk reads
 * RECENT_PAGE items at a time and never holds the loop.
 */
struct recent_backfill_stats {
	size_t items;     /* kept items looked at */
	size_t matched;   /* ... matching the query */
	size_t queued;    /* ... whose alerts were queued now */
	size_t skipped;   /* ... that had alerted for NAME before */
	size_t alerts;    /* alerts queued (items x sinks) */
};
typedef void (*recent_backfill_cb)(const struct recent_backfill_stats *st,
    const char *error, void *arg);
int recent_backfill(struct recent *r, const char *name, const char *query,
    const char *const *sinks, size_t nsinks, long long since_s,
    recent_backfill_cb cb, void *arg, char *err, size_t errlen);

/*
 * Runs recent_backfill for every configured watchlist with a backfill
 * key (the daemon does this once, when Redis first answers); the outcome
 * of each is logged.
 */
void recent_backfill_config(struct recent *r);

#endif
