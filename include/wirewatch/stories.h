/*
 * stories.h - alerts per story in the daemon (issue 13): between matching
 * and recording, decide the item's story (story.c, with the signatures in
 * Redis, story_redis.c) and record the item with its alerts so that, per
 * watchlist, only the first matching item of a story alerts and later ones
 * become story updates as each sink's story-updates says:
 *
 *   thread  every later item: an update (google-chat replies in the
 *           story's thread, threadKey = story id; webhook: alert.update)
 *   digest  an "also reported by ..." update at most once per
 *           story-update-interval per sink and story
 *   none    nothing
 *
 * Alerts carry "story": {"id", "sources": [{feed, title, link,
 * published}...]}; updates also "update": true.  The decision of first or
 * later, the seen mark, the outbox entries, the story record and the
 * signature, the kept item (recent.h) and the day's alert count are one
 * Redis function call (ww_story_record), so two
 * instances cannot both send the first alert of a story for a watchlist.
 *
 * Only items that match a watchlist go through here; the others are
 * recorded as before (outbox_record) and leave no signature.
 */
#ifndef WIREWATCH_STORIES_H
#define WIREWATCH_STORIES_H

#include <stddef.h>

#include <jansson.h>

#include "wirewatch/outbox.h"

struct config;
struct feed_entry;
struct store;
struct stories;

struct stories_alert {
	const char *id;                  /* alert id */
	const char *sink;                /* sink name, in the current config */
	const char *watchlist;           /* watchlist name */
	int group_items;                 /* the watchlist says group = item */
	json_t *alert;                   /* the plain alert; a reference is taken */
};

/*
 * cfg (prefix, seen-ttl, keep-items, story-window, the sinks'
 * story-updates) must outlive s or be replaced with stories_set_config()
 * before it goes (a reload).  Jobs take copies of their sink's settings
 * when they are queued, never pointers into cfg.
 */
struct stories *stories_new(struct store *store, const struct config *cfg);
/* A reload: the next items use cfg (story-window, story-updates, TTLs). */
void stories_set_config(struct stories *s, const struct config *cfg);
void stories_free(struct stories *s);
/* On every new connection: loads the function library. */
void stories_setup(struct stories *s);
/*
 * As outbox_record(), with story grouping: the item is marked seen, kept
 * (kept: nkept strings, field, value, ..., as recent_fields() makes them;
 * 0 keeps nothing), its alerts or updates queued as the rules say and
 * counted on the day's counter, all in one call.  cb gets 1 (recorded),
 * 0 (already seen) or -1 with the reason.  ob is kicked when something
 * was queued.
 */
/*
 * fence_key, fence_token (NULL: not fenced): as for outbox_record, the
 * ww_story_record call checks that the lease hash fence_key still holds
 * fence_token and writes nothing (error "FENCED: ...") when the lease
 * moved on (several instances, cluster.h).  Both strings are copied.
 */
void stories_record(struct stories *s, struct outbox *ob, const char *feed,
    const struct feed_entry *e, const char *item_key, const struct stories_alert *alerts,
    size_t n, const char *const *kept, size_t nkept, const char *fence_key,
    const char *fence_token, outbox_record_cb cb, void *arg);

/*
 * Shutdown: items still waiting for their turn end at once, not recorded
 * (their callbacks get -1; they are new again on the next poll); the one
 * in progress finishes.
 */
void stories_cancel(struct stories *s);

#endif
