/*
 * alert.h - what an alert is: its schema, its stable id, its rendering.
 *
 * An alert is built once, when an item first matches a watchlist, as a
 * JSON object; it is stored in the outbox (Redis) as that JSON and
 * rendered for its sink (sinkfmt.h) on every delivery attempt.  Building cannot fail
 * on any text: strings that are not valid UTF-8 are repaired (U+FFFD)
 * here as a last line of defence, whatever the parser let through.
 *
 * Schema (every field a string unless said otherwise):
 *   alert_id   stable id of this alert (item x watchlist x sink)
 *   watchlist, title?, link?, published, feed, id (item identity),
 *   item_id? (the feed's guid), terms (array), snippet?, explain? (object)
 */
#ifndef WIREWATCH_ALERT_H
#define WIREWATCH_ALERT_H

#include <stddef.h>

#include <jansson.h>

struct feed_entry;
struct match_hit;

#define ALERT_IDLEN 36 /* "al_" + 32 hex digits + NUL */

/*
 * The id of the alert of item_key for watchlist on sink: the same on
 * every attempt, after every restart and on every instance.
 */
void alert_make_id(const char *item_key, const char *watchlist,
    const char *sink, char out[ALERT_IDLEN]);

/* A new alert object (never NULL: only out-of-memory can fail, fatally). */
json_t *alert_new(const char *feed, const struct feed_entry *e,
    const char *item_key, const struct match_hit *hit, const char *alert_id);

/*
 * The same alert as compact JSON text, malloc'd: exactly
 * json_dumps(alert_new(...), JSON_COMPACT), written directly, with the
 * hit's explanation copied in as the matcher wrote it (what the daemon
 * stores in the outbox, once per hit and sink).
 */
char *alert_render(const char *feed, const struct feed_entry *e,
    const char *item_key, const struct match_hit *hit, const char *alert_id);

/* A jansson string of s, repaired to valid UTF-8 first when it is not. */
json_t *alert_json_string(const char *s);

#endif
