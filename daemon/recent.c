/*
 * recent.c - the recent items kept in Redis, and the two walks over them:
 * `watchlist test` and backfill (recent.h).
 *
 * Writing is outbox_record's (one Redis function call with the seen mark
 * and the alerts); this file builds the entry it writes and reads entries
 * back.  A walk is one struct walk: it reads the stream a page
 * (RECENT_PAGE entries, XRANGE with an exclusive start after the last id
 * read) at a time, matches the page's items with a matcher compiled for
 * the one query, and asks for the next page from the reply callback, so
 * the loop turns between pages however long the stream.  A backfill
 * waits for the page's ww_backfill calls before it reads the next page,
 * which bounds the calls in flight to one page.  Every Redis callback runs
 * exactly once (store.h), also when the daemon shuts down; a walk that
 * got an error issues nothing more and ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/feed.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
#include "wirewatch/outbox.h"
#include "wirewatch/recent.h"
#include "wirewatch/store.h"
#include "wirewatch/text.h"
#include "wirewatch/util.h"

#define TITLE_MAX 1024
#define AUTHOR_MAX 256
#define CATEGORY_MAX 512

struct recent {
	const struct config *cfg;
	struct store *store;
	struct outbox *ob;
};

/* --- the entry ------------------------------------------------------------ */

/*
 * s as one line of plain text: HTML stripped when html, runs of white
 * space one space, no leading or trailing space.  Malloc'd, never NULL.
 */
static char *
plain_text(const char *s, int html)
{
	char *plain, *out;
	const unsigned char *p;
	size_t n = 0;
	int space = 0;

	if (s == NULL)
		return xstrdup("");
	plain = html ? text_html_to_plain(s) : xstrdup(s);
	out = xmalloc(strlen(plain) + 1);
	for (p = (const unsigned char *)plain; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == '\f' || *p == '\v') {
			space = n > 0;
			continue;
		}
		if (space)
			out[n++] = ' ';
		space = 0;
		out[n++] = (char)*p;
	}
	out[n] = '\0';
	free(plain);
	return out;
}

/*
 * Cuts s (in place) to at most max bytes and at most *budget, on a UTF-8
 * character boundary, and charges *budget.  Returns s.
 */
static char *
cap_text(char *s, size_t max, size_t *budget)
{
	size_t n = strlen(s), cap = max < *budget ? max : *budget;

	if (n > cap) {
		n = cap;
		/* Back to the first byte of the character that does not fit. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	*budget -= n;
	return s;
}

static char *
kept_text(const char *s, int html, size_t max, size_t *budget)
{
	return cap_text(plain_text(s, html), max, budget);
}

static void
put(struct recent_fields *f, const char *name, char *value)
{
	f->v[f->n++] = xstrdup(name);
	f->v[f->n++] = value;
}

void
recent_fields(struct recent_fields *out, const char *feed, const char *item_key,
    const struct feed_entry *e, const char *alerted)
{
	size_t budget = RECENT_TEXT_MAX, c;
	time_t t = e->published != FEED_NO_TIME ? e->published : e->updated;
	char *summary, *content;
	struct buf cats = {0};

	memset(out, 0, sizeof *out);
	/*
	 * Always the same fields in the same order: a stream stores the
	 * names once per node of entries, not once per entry, when they
	 * match the node's first entry.
	 */
	put(out, "key", xstrdup(item_key));
	put(out, "feed", xstrdup(feed ? feed : ""));
	put(out, "title", kept_text(e->title, 1, TITLE_MAX, &budget));
	put(out, "link", util_utf8_repaired(e->link ? e->link : ""));
	put(out, "guid", util_utf8_repaired(e->id ? e->id : ""));
	put(out, "published", t != FEED_NO_TIME ? xasprintf("%lld", (long long)t) :
	    xstrdup(""));
	put(out, "author", kept_text(e->author, 0, AUTHOR_MAX, &budget));
	for (c = 0; c < e->ncategories; c++) {
		if (c)
			buf_addc(&cats, '\n');
		buf_adds(&cats, e->categories[c]);
	}
	put(out, "category", kept_text(cats.s, 0, CATEGORY_MAX, &budget));
	buf_free(&cats);
	summary = plain_text(e->summary, 1);
	content = plain_text(e->content, 1);
	if (e->content != NULL && summary[0] != '\0' && strcmp(content, summary) == 0) {
		/* Feeds often send one text twice: keep it once. */
		put(out, "summary", cap_text(summary, RECENT_TEXT_MAX, &budget));
		put(out, "content", xstrdup(""));
		put(out, "same", xstrdup("1"));
		free(content);
	} else {
		put(out, "summary", cap_text(summary, RECENT_TEXT_MAX, &budget));
		put(out, "content", cap_text(content, RECENT_TEXT_MAX, &budget));
		put(out, "same", xstrdup(""));
	}
	put(out, "alerted", util_utf8_repaired(alerted ? alerted : ""));
}

void
recent_fields_free(struct recent_fields *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->v[i]);
	f->n = 0;
}

/* --- reading an entry ----------------------------------------------------- */

int
recent_item_decode(const struct store_reply *entry, struct recent_item *out)
{
	const struct store_reply *f, *k, *v;
	const char *same = NULL, *published = NULL, *ks, *vs;
	size_t i;

	memset(out, 0, sizeof *out);
	f = store_reply_elem(entry, 1);
	if (store_reply_type(entry) != STORE_ARRAY || store_reply_len(entry) != 2 ||
	    store_reply_type(store_reply_elem(entry, 0)) != STORE_STRING ||
	    store_reply_type(f) != STORE_ARRAY)
		return -1;
	out->sid = store_reply_str(store_reply_elem(entry, 0), NULL);
	out->seen_ms = strtoull(out->sid, NULL, 10);
	for (i = 0; i + 1 < store_reply_len(f); i += 2) {
		k = store_reply_elem(f, i);
		v = store_reply_elem(f, i + 1);
		if (store_reply_type(k) != STORE_STRING ||
		    store_reply_type(v) != STORE_STRING)
			continue;
		ks = store_reply_str(k, NULL);
		vs = store_reply_str(v, NULL);
#define FIELD(name, dst) else if (strcmp(ks, name) == 0) dst = vs
		if (0)
			;
		FIELD("key", out->key);
		FIELD("feed", out->feed);
		FIELD("title", out->title);
		FIELD("link", out->link);
		FIELD("guid", out->guid);
		FIELD("published", published);
		FIELD("author", out->author);
		FIELD("category", out->category);
		FIELD("summary", out->summary);
		FIELD("content", out->content);
		FIELD("same", same);
		FIELD("alerted", out->alerted);
#undef FIELD
	}
	if (out->key == NULL || out->key[0] == '\0')
		return -1;
	if (same != NULL && same[0] == '1')
		out->content = out->summary;
	out->published = published != NULL && published[0] != '\0' ?
	    (time_t)strtoll(published, NULL, 10) : FEED_NO_TIME;
	return 0;
}

int
recent_item_alerted(const struct recent_item *it, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = it->alerted; p != NULL && *p != '\0'; p += strcspn(p, "\n"), p += *p == '\n') {
		if (strncmp(p, name, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	}
	return 0;
}

/*
 * Kept text goes back to the matcher escaped, so that its HTML stripping
 * gives back exactly the text kept (a kept "a < b" is not a tag).
 */
static char *
escaped(const char *s)
{
	struct buf b = {0};

	if (s == NULL || *s == '\0')
		return NULL;
	for (; *s != '\0'; s++) {
		if (*s == '&')
			buf_adds(&b, "&amp;");
		else if (*s == '<')
			buf_adds(&b, "&lt;");
		else
			buf_addc(&b, *s);
	}
	return buf_steal(&b);
}

static const char *
nonempty(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

/* --- the store ------------------------------------------------------------ */

struct recent *
recent_new(const struct config *cfg, struct store *store, struct outbox *ob)
{
	struct recent *r = xcalloc(1, sizeof *r);

	r->cfg = cfg;
	r->store = store;
	r->ob = ob;
	return r;
}

void
recent_set_config(struct recent *r, const struct config *cfg)
{
	r->cfg = cfg;
}

void
recent_free(struct recent *r)
{
	free(r);
}

/* --- walks ------------------------------------------------------------------ */

struct walk {
	struct recent *r;
	struct config *cfg;       /* held: m borrows its entities (a reload
	                             may replace r->cfg during the walk) */
	struct matcher *m;
	char *key;                /* <prefix>recent */
	char start[64];           /* XRANGE start of the next page */
	uint64_t since_ms;        /* the window, back from Redis's clock */
	char *name;               /* backfill: the watchlist */
	char **sinks;
	size_t nsinks;
	size_t outstanding;       /* backfill calls in flight, plus one while a
	                             page is being matched (a call can fail at
	                             once, inside store_command) */
	int more;                 /* the last page was full */
	int failed;
	char error[WW_ERRLEN];
	/* test */
	json_t *hits;
	size_t items;
	int truncated;
	recent_test_cb test_cb;
	/* backfill */
	struct recent_backfill_stats st;
	recent_backfill_cb backfill_cb;
	void *arg;
};

static void walk_page(struct walk *w);

static void
walk_free(struct walk *w)
{
	size_t i;

	matcher_free(w->m);
	config_free(w->cfg);
	free(w->key);
	free(w->name);
	for (i = 0; i < w->nsinks; i++)
		free(w->sinks[i]);
	free(w->sinks);
	json_decref(w->hits);
	free(w);
}

/* Ends the walk: its callback, exactly once, then it is freed. */
static void
walk_end(struct walk *w)
{
	json_t *res;

	if (w->test_cb != NULL) {
		if (w->failed) {
			w->test_cb(NULL, w->error, w->arg);
		} else {
			res = json_object();
			json_object_set_new(res, "items", json_integer((json_int_t)w->items));
			json_object_set_new(res, "hits", w->hits);
			json_object_set_new(res, "truncated", json_boolean(w->truncated));
			w->hits = NULL;
			w->test_cb(res, NULL, w->arg);
		}
	} else {
		/* Not after an error: it may be the connection being freed. */
		if (w->st.alerts > 0 && !w->failed)
			outbox_kick(w->r->ob);
		w->backfill_cb(&w->st, w->failed ? w->error : NULL, w->arg);
	}
	walk_free(w);
}

/*
 * Common start: the matcher with the one watchlist, and where to read
 * from (the since window, never past keep-items).
 */
static struct walk *
walk_new(struct recent *r, const char *name, const char *query, long long since_s,
    char *err, size_t errlen)
{
	const struct config *cfg = r->cfg;
	long long keep = cfg->keep_items;
	struct walk *w;

	if (keep <= 0) {
		snprintf(err, errlen, "recent items are not kept ([daemon] keep-items = 0)");
		return NULL;
	}
	if (since_s < 0) {
		snprintf(err, errlen, "bad since: %lld", since_s);
		return NULL;
	}
	w = xcalloc(1, sizeof *w);
	w->r = r;
	w->cfg = config_ref((struct config *)cfg);
	w->m = matcher_new(cfg->ents);
	if (matcher_add(w->m, name, query, err, errlen) < 0) {
		walk_free(w);
		return NULL;
	}
	if (since_s == 0 || since_s > keep)
		since_s = keep;
	w->since_ms = (uint64_t)since_s * 1000;
	w->key = keys_name(cfg->prefix, KEY_RECENT, NULL);
	return w;
}

/* The item as the matcher is given it, and as alert_new wants it. */
struct doc {
	struct match_doc md;
	struct feed_entry e;
	char *title, *summary, *content;
};

static void
doc_make(struct doc *d, const struct recent_item *it)
{
	memset(d, 0, sizeof *d);
	d->title = escaped(it->title);
	d->summary = escaped(it->summary);
	d->content = escaped(it->content);
	d->md.title = d->title;
	d->md.summary = d->summary;
	d->md.content = d->content;
	d->md.author = nonempty(it->author);
	d->md.category = nonempty(it->category);
	d->md.feed = it->feed;
	d->e.id = (char *)nonempty(it->guid);
	d->e.title = (char *)nonempty(it->title);
	d->e.link = (char *)nonempty(it->link);
	d->e.published = it->published;
	d->e.updated = FEED_NO_TIME;
}

static void
doc_clear(struct doc *d)
{
	free(d->title);
	free(d->summary);
	free(d->content);
}

static json_t *
test_hit(const struct recent_item *it, const struct match_hit *h)
{
	json_t *o = json_object(), *terms = json_array();
	char when[32];
	size_t i;

	util_format_time((time_t)(it->seen_ms / 1000), when, sizeof when);
	json_object_set_new(o, "seen", json_string(when));
	json_object_set_new(o, "feed", alert_json_string(it->feed ? it->feed : ""));
	json_object_set_new(o, "title", alert_json_string(nonempty(it->title)));
	json_object_set_new(o, "link", alert_json_string(nonempty(it->link)));
	if (it->published != FEED_NO_TIME) {
		util_format_time(it->published, when, sizeof when);
		json_object_set_new(o, "published", json_string(when));
	} else {
		json_object_set_new(o, "published", json_null());
	}
	json_object_set_new(o, "item", alert_json_string(it->key));
	for (i = 0; i < h->nterms; i++)
		json_array_append_new(terms, alert_json_string(h->terms[i]));
	json_object_set_new(o, "terms", terms);
	json_object_set_new(o, "snippet", alert_json_string(h->snippet));
	if (h->explain != NULL)
		json_object_set_new(o, "explain", json_loads(h->explain, 0, NULL));
	return o;
}

/* One outstanding thing is over: the next page, or the end. */
static void
walk_step(struct walk *w)
{
	if (--w->outstanding > 0)
		return;
	if (w->more && !w->failed && !w->truncated)
		walk_page(w);
	else
		walk_end(w);
}

static void
recent_backfilled_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct walk *w = arg;

	if (error != NULL) {
		if (!w->failed)
			snprintf(w->error, sizeof w->error, "%s", error);
		w->failed = 1;
	} else if (store_reply_type(reply) == STORE_INT && store_reply_int(reply) == 1) {
		w->st.queued++;
		w->st.alerts += w->nsinks;
	} else {
		w->st.skipped++; /* marked by an earlier backfill */
	}
	walk_step(w);
}

/* Queues item it's alerts for the walk's watchlist (ww_backfill). */
static void
backfill_item(struct walk *w, const struct recent_item *it, const struct doc *d,
    const struct match_hit *h)
{
	const struct config *cfg = w->cfg;
	const char **argv = xcalloc(7 + 5 * w->nsinks, sizeof *argv);
	char (*ids)[ALERT_IDLEN] = xcalloc(w->nsinks + 1, sizeof *ids);
	char **json = xcalloc(w->nsinks + 1, sizeof *json);
	char ttl[32], *mark, *day;
	size_t s;
	int argc = 0;

	mark = keys_name(cfg->prefix, KEY_ALERTED, it->key, w->name, NULL);
	day = outbox_day_key(cfg, time(NULL));
	snprintf(ttl, sizeof ttl, "%lld", cfg->seen_ttl);
	argv[argc++] = "FCALL";
	argv[argc++] = "ww_backfill";
	argv[argc++] = "3";
	argv[argc++] = mark;
	argv[argc++] = NULL; /* outbox */
	argv[argc++] = day;
	argv[argc++] = ttl;
	argv[4] = keys_name(cfg->prefix, KEY_OUTBOX, NULL);
	for (s = 0; s < w->nsinks; s++) {
		alert_make_id(it->key, w->name, w->sinks[s], ids[s]);
		json[s] = alert_render(it->feed ? it->feed : "", &d->e, it->key, h, ids[s]);
		argv[argc++] = ids[s];
		argv[argc++] = w->sinks[s];
		argv[argc++] = w->name;
		argv[argc++] = it->key;
		argv[argc++] = json[s];
	}
	w->outstanding++;
	store_command(w->r->store, recent_backfilled_cb, w, argc, argv);
	free((char *)argv[4]);
	for (s = 0; s < w->nsinks; s++)
		free(json[s]);
	free(json);
	free(ids);
	free(mark);
	free(day);
	free(argv);
}

static void
recent_page_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct walk *w = arg;
	struct match_result res;
	const struct store_reply *e;
	struct recent_item it;
	struct doc d;
	size_t i, h;

	if (error != NULL || store_reply_type(reply) != STORE_ARRAY) {
		snprintf(w->error, sizeof w->error, "%s", error != NULL ? error :
		    "unexpected reply to XRANGE");
		w->failed = 1;
		walk_end(w);
		return;
	}
	w->more = store_reply_len(reply) == RECENT_PAGE;
	w->outstanding++;
	for (i = 0; i < store_reply_len(reply) && !w->failed; i++) {
		e = store_reply_elem(reply, i);
		if (store_reply_len(e) == 2 &&
		    store_reply_type(store_reply_elem(e, 0)) == STORE_STRING)
			snprintf(w->start, sizeof w->start, "(%s",
			    store_reply_str(store_reply_elem(e, 0), NULL));
		if (recent_item_decode(e, &it) == -1)
			continue;
		w->items++;
		w->st.items++;
		doc_make(&d, &it);
		memset(&res, 0, sizeof res);
		matcher_run(w->m, &d.md, &res);
		for (h = 0; h < res.nhits; h++) {
			if (w->test_cb != NULL) {
				if (json_array_size(w->hits) < RECENT_TEST_HITS)
					json_array_append_new(w->hits, test_hit(&it, &res.hits[h]));
				else
					w->truncated = 1;
				continue;
			}
			w->st.matched++;
			if (recent_item_alerted(&it, w->name))
				w->st.skipped++;
			else
				backfill_item(w, &it, &d, &res.hits[h]);
		}
		match_result_free(&res);
		doc_clear(&d);
	}
	walk_step(w);
}

static void
walk_page(struct walk *w)
{
	char count[16];
	const char *argv[6];

	snprintf(count, sizeof count, "%d", RECENT_PAGE);
	argv[0] = "XRANGE";
	argv[1] = w->key;
	argv[2] = w->start;
	argv[3] = "+";
	argv[4] = "COUNT";
	argv[5] = count;
	store_command(w->r->store, recent_page_cb, w, 6, argv);
}

/*
 * Entry ids are the Redis server's clock, so the window starts from its
 * TIME, not from ours (another host's clock may be off).
 */
static void
recent_time_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct walk *w = arg;
	unsigned long long now;

	if (error != NULL || store_reply_len(reply) != 2 ||
	    store_reply_type(store_reply_elem(reply, 0)) != STORE_STRING ||
	    store_reply_type(store_reply_elem(reply, 1)) != STORE_STRING) {
		snprintf(w->error, sizeof w->error, "%s", error != NULL ? error :
		    "unexpected reply to TIME");
		w->failed = 1;
		walk_end(w);
		return;
	}
	now = strtoull(store_reply_str(store_reply_elem(reply, 0), NULL), NULL, 10) *
	    1000 + strtoull(store_reply_str(store_reply_elem(reply, 1), NULL), NULL,
	    10) / 1000;
	snprintf(w->start, sizeof w->start, "%llu-0",
	    now > w->since_ms ? now - w->since_ms : 0);
	walk_page(w);
}

static void
walk_begin(struct walk *w)
{
	const char *argv[1] = { "TIME" };

	store_command(w->r->store, recent_time_cb, w, 1, argv);
}

int
recent_test(struct recent *r, const char *query, long long since_s,
    recent_test_cb cb, void *arg, char *err, size_t errlen)
{
	struct walk *w;

	if ((w = walk_new(r, "test", query, since_s, err, errlen)) == NULL)
		return -1;
	w->hits = json_array();
	w->test_cb = cb;
	w->arg = arg;
	walk_begin(w);
	return 0;
}

int
recent_backfill(struct recent *r, const char *name, const char *query,
    const char *const *sinks, size_t nsinks, long long since_s,
    recent_backfill_cb cb, void *arg, char *err, size_t errlen)
{
	const struct config *cfg = r->cfg;
	struct walk *w;
	size_t i;

	if (nsinks == 0) {
		snprintf(err, errlen, "watchlist \"%s\": no sinks", name);
		return -1;
	}
	for (i = 0; i < nsinks; i++) {
		if (config_sink_index(cfg, sinks[i]) < 0) {
			snprintf(err, errlen, "watchlist \"%s\": unknown sink '%s'", name,
			    sinks[i]);
			return -1;
		}
	}
	if ((w = walk_new(r, name, query, since_s, err, errlen)) == NULL)
		return -1;
	w->name = xstrdup(name);
	w->sinks = xcalloc(nsinks, sizeof *w->sinks);
	for (i = 0; i < nsinks; i++)
		w->sinks[i] = xstrdup(sinks[i]);
	w->nsinks = nsinks;
	w->backfill_cb = cb;
	w->arg = arg;
	walk_begin(w);
	return 0;
}

/* --- [watchlist] backfill ---------------------------------------------------- */

static void
recent_config_backfilled_cb(const struct recent_backfill_stats *st,
    const char *error, void *arg)
{
	char *name = arg;

	if (error != NULL)
		log_warn("watchlist \"%s\": backfill stopped after %zu kept items "
		    "(%zu alerted): %s; the next start finishes it", name, st->items,
		    st->queued, error);
	else
		log_notice("watchlist \"%s\": backfill: %zu kept items, %zu matching, "
		    "%zu alerted now, %zu had alerted before", name, st->items,
		    st->matched, st->queued, st->skipped);
	free(name);
}

void
recent_backfill_config(struct recent *r)
{
	const struct config *cfg = r->cfg;
	const struct cfg_watchlist *wl;
	const char **sinks;
	char err[WW_ERRLEN], *name;
	size_t i, s;

	for (i = 0; i < cfg->nwatchlists; i++) {
		wl = &cfg->watchlists[i];
		if (wl->backfill <= 0)
			continue;
		sinks = xcalloc(wl->nsinks + 1, sizeof *sinks);
		for (s = 0; s < wl->nsinks; s++)
			sinks[s] = cfg->sinks[wl->sinks[s]].name;
		name = xstrdup(wl->name);
		if (recent_backfill(r, wl->name, wl->query, sinks, wl->nsinks,
		    wl->backfill, recent_config_backfilled_cb, name, err, sizeof err) == -1) {
			log_warn("watchlist \"%s\": no backfill: %s", wl->name, err);
			free(name);
		}
		free(sinks);
	}
}
