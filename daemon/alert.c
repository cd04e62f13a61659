/*
 * alert.c - the alert schema, ids and rendering; see alert.h.
 *
 * json_pack() returns NULL when one string is not valid UTF-8, and every
 * caller once assumed it could not fail: a feed publisher could crash the
 * daemon with five bytes.  Here every string goes through
 * alert_json_string(), which cannot fail; rendering for a sink is
 * sinkfmt's, which never fails on any text either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wirewatch/alert.h"
#include "wirewatch/feed.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
#include "wirewatch/text.h"
#include "wirewatch/util.h"

void
alert_make_id(const char *item_key, const char *watchlist, const char *sink,
    char out[ALERT_IDLEN])
{
	struct buf b = {0};

	buf_addf(&b, "%s\x1f%s\x1f%s", item_key, watchlist, sink);
	snprintf(out, ALERT_IDLEN, "al_%016llx%016llx",
	    (unsigned long long)util_hash64(b.s, b.len, 0x5bd1e995ULL),
	    (unsigned long long)util_hash64(b.s, b.len, 0xc2b2ae3d27d4eb4fULL));
	buf_free(&b);
}

json_t *
alert_json_string(const char *s)
{
	json_t *j;
	char *fixed;
	size_t len;

	if (s == NULL)
		return json_null();
	len = strlen(s);
	if (util_utf8_valid(s, len) && (j = json_stringn(s, len)) != NULL)
		return j;
	fixed = util_utf8_repair(s, len, &len);
	j = json_stringn(fixed, len);
	free(fixed);
	if (j == NULL)
		fatal("alert: cannot build a JSON string (out of memory)");
	return j;
}

static void
set_str(json_t *o, const char *key, const char *s, int optional)
{
	if (s == NULL && optional)
		return;
	if (json_object_set_new(o, key, alert_json_string(s ? s : "")) != 0)
		fatal("alert: cannot set '%s' (out of memory)", key);
}

/* The alert without its explanation, which is always its last member. */
static json_t *
alert_base(const char *feed, const struct feed_entry *e, const char *item_key,
    const struct match_hit *hit, const char *alert_id)
{
	char when[32];
	time_t t = e->published != FEED_NO_TIME ? e->published :
	    e->updated != FEED_NO_TIME ? e->updated : time(NULL);
	json_t *o = json_object(), *terms = json_array();
	size_t i;

	if (o == NULL || terms == NULL)
		fatal("alert: out of memory");
	util_format_time(t, when, sizeof when);
	set_str(o, "alert_id", alert_id, 0);
	set_str(o, "watchlist", hit->name, 0);
	set_str(o, "title", e->title, 1);
	set_str(o, "link", e->link, 1);
	set_str(o, "published", when, 0);
	set_str(o, "feed", feed, 0);
	set_str(o, "id", item_key, 0);
	set_str(o, "item_id", e->id, 1);
	for (i = 0; i < hit->nterms; i++)
		json_array_append_new(terms, alert_json_string(hit->terms[i]));
	json_object_set_new(o, "terms", terms);
	set_str(o, "snippet", hit->snippet, 1);
	return o;
}

json_t *
alert_new(const char *feed, const struct feed_entry *e, const char *item_key,
    const struct match_hit *hit, const char *alert_id)
{
	json_t *o = alert_base(feed, e, item_key, hit, alert_id), *x;
	json_error_t jerr;

	/* The explanation's strings come from the (repaired) text fields. */
	if (hit->explain != NULL) {
		if ((x = json_loads(hit->explain, 0, &jerr)) == NULL)
			fatal("alert: the matcher's explanation is not JSON: %s", jerr.text);
		json_object_set_new(o, "explain", x);
	}
	return o;
}

/* s as a JSON string the way alert_json_string() and json_dumps() give it. */
static void
put_string(struct buf *b, const char *key, const char *s)
{
	size_t len = strlen(s);
	char *fixed;

	buf_addf(b, "%s\"%s\":", b->len > 1 ? "," : "", key);
	if (util_utf8_valid(s, len)) {
		text_json_string(b, s, len);
		return;
	}
	fixed = util_utf8_repair(s, len, &len);
	text_json_string(b, fixed, len);
	free(fixed);
}

/*
 * Written directly rather than built as jansson objects and printed: the
 * same members in the same order as alert_new(), strings escaped as
 * jansson escapes them (test_alert_render and fuzz_alert compare the two).
 */
char *
alert_render(const char *feed, const struct feed_entry *e, const char *item_key,
    const struct match_hit *hit, const char *alert_id)
{
	char when[32];
	time_t t = e->published != FEED_NO_TIME ? e->published :
	    e->updated != FEED_NO_TIME ? e->updated : time(NULL);
	struct buf b = {0};
	size_t i;

	util_format_time(t, when, sizeof when);
	buf_addc(&b, '{');
	put_string(&b, "alert_id", alert_id ? alert_id : "");
	put_string(&b, "watchlist", hit->name ? hit->name : "");
	if (e->title != NULL)
		put_string(&b, "title", e->title);
	if (e->link != NULL)
		put_string(&b, "link", e->link);
	put_string(&b, "published", when);
	put_string(&b, "feed", feed ? feed : "");
	put_string(&b, "id", item_key ? item_key : "");
	if (e->id != NULL)
		put_string(&b, "item_id", e->id);
	buf_adds(&b, ",\"terms\":[");
	for (i = 0; i < hit->nterms; i++) {
		size_t len = strlen(hit->terms[i]);
		char *fixed;
		if (i > 0)
			buf_addc(&b, ',');
		if (util_utf8_valid(hit->terms[i], len)) {
			text_json_string(&b, hit->terms[i], len);
			continue;
		}
		fixed = util_utf8_repair(hit->terms[i], len, &len);
		text_json_string(&b, fixed, len);
		free(fixed);
	}
	buf_addc(&b, ']');
	if (hit->snippet != NULL)
		put_string(&b, "snippet", hit->snippet);
	if (hit->explain != NULL) {
		buf_adds(&b, ",\"explain\":");
		buf_adds(&b, hit->explain);
	}
	buf_addc(&b, '}');
	return buf_steal(&b);
}
