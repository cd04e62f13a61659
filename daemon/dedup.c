/*
 * dedup.c - item identity; see dedup.h for the rules and why.
 *
 * Each rule that looks at the other items of the document (does this guid
 * repeat? does this key still collide?) is one pass over a hash table of
 * the strings compared (tally()), so a document costs linear time however
 * its ids repeat; comparing every item with every other, as this file once
 * did, took 67 s of CPU for 100,000 items.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/random.h>

#include <curl/curl.h>

#include "wirewatch/dedup.h"
#include "wirewatch/feed.h"
#include "wirewatch/util.h"

static const char *tracking_params[] = {
	"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid",
	"mc_eid", "_ga", "_gl", "ocid", "cmpid", "ito", "smid", "ncid", NULL
};

static int
is_tracking(const char *param, size_t len)
{
	size_t i;

	if (len >= 4 && strncasecmp(param, "utm_", 4) == 0)
		return 1;
	for (i = 0; tracking_params[i] != NULL; i++)
		if (strlen(tracking_params[i]) == len &&
		    strncasecmp(param, tracking_params[i], len) == 0)
			return 1;
	return 0;
}

static void
add_query(struct buf *out, const char *query)
{
	const char *p = query, *amp, *eq;
	size_t len, name_len;
	int first = 1;

	while (*p != '\0') {
		amp = strchr(p, '&');
		len = amp ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', len);
		name_len = eq ? (size_t)(eq - p) : len;
		if (len > 0 && !is_tracking(p, name_len)) {
			buf_addc(out, first ? '?' : '&');
			buf_add(out, p, len);
			first = 0;
		}
		p += len + (amp ? 1 : 0);
	}
}

char *
dedup_canonical_url(const char *url)
{
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	struct buf out = {0};
	CURLU *u;
	char *c;

	if (!util_is_http_url(url))
		return xstrdup(url);
	u = curl_url();
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return xstrdup(url);
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0); /* NULL when default */
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	buf_adds(&out, "//");
	for (c = host; *c; c++)
		buf_addc(&out, (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c));
	if (port != NULL && strcmp(port, "80") != 0 && strcmp(port, "443") != 0)
		buf_addf(&out, ":%s", port);
	buf_adds(&out, path ? path : "/");
	if (query != NULL)
		add_query(&out, query);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return buf_steal(&out);
}

static int
nonempty(const char *s)
{
	if (s == NULL)
		return 0;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return *s != '\0';
}

static void
add_url(struct buf *b, const char *url)
{
	char *c = dedup_canonical_url(url);

	buf_adds(b, c);
	free(c);
}

/*
 * Title + date, and the summary (else the content) when there is neither:
 * the identity of an item without guid or link, and what tells apart items
 * with a repeated guid.
 */
static void
add_title_date(struct buf *b, const struct feed_entry *e)
{
	time_t when = e->published != FEED_NO_TIME ? e->published : e->updated;

	buf_addf(b, "title\x1f%s\x1f%lld\x1f%s", e->title ? e->title : "",
	    (long long)when, (e->title || when != FEED_NO_TIME) ? "" :
	    (e->summary ? e->summary : e->content ? e->content : ""));
}

/* --- grouping equal strings ------------------------------------------- */

#define NOGROUP ((size_t)-1)

/*
 * One item on its way to a key.  tally() groups the items whose (group,
 * cmp) are equal; items in NOGROUP take no part.
 */
struct item {
	const struct feed_entry *e;
	size_t		 group;		/* NOGROUP, or the class it is compared in */
	const char	*cmp;		/* the string compared, cmp[0..cmplen) */
	size_t		 cmplen;
	struct buf	 s;		/* what is hashed into the key */
	size_t		 first;		/* tally: the first item equal to this one */
	size_t		 count;		/* tally: how many items are equal to it */
	size_t		 ordinal;	/* tally: how many equal items precede it */
};

/*
 * The table hashes with a seed drawn once per process: FNV-1a is easy to
 * collide on purpose, and a feed that could prepare ids colliding in the
 * table would make the grouping quadratic again.  Keys do not depend on
 * this seed.
 */
static uint64_t
table_seed(void)
{
	static uint64_t seed;
	static int seeded;

	if (!seeded) {
		if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
			seed = util_now_ms() ^ (uint64_t)(uintptr_t)&seed;
		seeded = 1;
	}
	return seed;
}

/* MurmurHash3's finalizer: FNV-1a's low bits, the table index, mix poorly. */
static uint64_t
mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static int
takes_part(const struct item *it, int need_link)
{
	return it->group != NOGROUP && (!need_link || nonempty(it->e->link));
}

/*
 * Sets first, count and ordinal of it[0..n) (count 1, ordinal 0 for items
 * that take no part; with need_link, those without a link take none).
 * Open addressing with linear probing in a table at most half full:
 * expected O(1) per item, and one comparison per item when all are equal.
 */
static void
tally(struct item *it, size_t n, int need_link)
{
	size_t cap = 16, mask, i, j, *slots;
	struct item *f;
	uint64_t seed = table_seed();

	while (cap / 2 < n)
		cap *= 2;
	mask = cap - 1;
	slots = xcalloc(cap, sizeof *slots);	/* item index + 1; 0 is free */
	for (i = 0; i < n; i++) {
		it[i].first = i;
		it[i].count = 1;
		it[i].ordinal = 0;
		if (!takes_part(&it[i], need_link))
			continue;
		j = mix(util_hash64(it[i].cmp, it[i].cmplen, seed) ^
		    mix(it[i].group)) & mask;
		for (; slots[j] != 0; j = (j + 1) & mask) {
			f = &it[slots[j] - 1];
			if (f->group == it[i].group && f->cmplen == it[i].cmplen &&
			    memcmp(f->cmp, it[i].cmp, it[i].cmplen) == 0)
				break;
		}
		if (slots[j] == 0) {
			slots[j] = i + 1;
			continue;
		}
		f = &it[slots[j] - 1];
		it[i].first = slots[j] - 1;
		it[i].ordinal = f->count++;
	}
	for (i = 0; i < n; i++)
		it[i].count = it[it[i].first].count;
	free(slots);
}

static void
compare_s(struct item *it, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		it[i].cmp = it[i].s.s;
		it[i].cmplen = it[i].s.len;
	}
}

/* --- the rules -------------------------------------------------------- */

/*
 * Builds it[].s for items whose repeated guids are already known (group
 * is NOGROUP for every item whose guid does not repeat, else a class
 * shared by the items with that guid), following the rules in dedup.h.
 */
static void
identify(struct item *it, size_t n, struct dedup_stats *st)
{
	const struct feed_entry *e;
	size_t i;

	for (i = 0; i < n; i++) {
		e = it[i].e;
		if (nonempty(e->id)) {
			buf_adds(&it[i].s, "id\x1f");
			add_url(&it[i].s, e->id);
			if (it[i].group != NOGROUP) {
				buf_addc(&it[i].s, '\x1f');
				if (nonempty(e->link))
					add_url(&it[i].s, e->link);
				else
					add_title_date(&it[i].s, e);
			}
		} else if (nonempty(e->link)) {
			buf_adds(&it[i].s, "link\x1f");
			add_url(&it[i].s, e->link);
		} else
			add_title_date(&it[i].s, e);
	}

	/* Rule 4: guid and link both stamped by the channel. */
	compare_s(it, n);
	tally(it, n, 1);
	for (i = 0; i < n; i++) {
		if (it[i].count > 1) {
			buf_addc(&it[i].s, '\x1f');
			add_title_date(&it[i].s, it[i].e);
		}
	}

	/* Rule 5: nothing left to tell them apart but their order. */
	compare_s(it, n);
	tally(it, n, 0);
	for (i = 0; i < n; i++) {
		if (it[i].count < 2)
			continue;
		if (st != NULL)
			st->kept_apart++;
		if (it[i].ordinal > 0)
			buf_addf(&it[i].s, "\x1f#%zu", it[i].ordinal);
	}
}

static void
hash_key(const struct buf *b, char out[DEDUP_KEYLEN])
{
	snprintf(out, DEDUP_KEYLEN, "%016llx%016llx",
	    (unsigned long long)util_hash64(b->s, b->len, 0),
	    (unsigned long long)util_hash64(b->s, b->len, 0x9e3779b97f4a7c15ULL));
}

void
dedup_doc_keys(const struct feed_doc *doc, char (*keys)[DEDUP_KEYLEN],
    struct dedup_stats *st)
{
	struct dedup_stats dummy;
	struct item *it;
	size_t i, n = doc->nentries;

	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof *st);
	if (n == 0)
		return;
	it = xcalloc(n, sizeof *it);
	for (i = 0; i < n; i++) {
		it[i].e = &doc->entries[i];
		if (nonempty(it[i].e->id)) {
			it[i].group = 0;
			it[i].cmp = it[i].e->id;
			it[i].cmplen = strlen(it[i].e->id);
		} else
			it[i].group = NOGROUP;
	}
	tally(it, n, 0);
	for (i = 0; i < n; i++) {
		if (it[i].count < 2) {
			it[i].group = NOGROUP;
			continue;
		}
		/* The first item with this guid names the class. */
		it[i].group = it[i].first;
		if (st->guid_repeats++ == 0)
			st->bad_guid = it[i].e->id;
	}
	identify(it, n, st);
	for (i = 0; i < n; i++) {
		hash_key(&it[i].s, keys[i]);
		buf_free(&it[i].s);
	}
	free(it);
}

void
dedup_item_key(const struct feed_doc *doc, size_t i, char out[DEDUP_KEYLEN])
{
	const char *id = doc->entries[i].id;
	struct item one, *it = &one;
	size_t j, n = 0, self = 0;

	memset(&one, 0, sizeof one);
	one.e = &doc->entries[i];
	one.group = NOGROUP;
	if (nonempty(id)) {
		for (j = 0; j < doc->nentries; j++)
			if (doc->entries[j].id != NULL && strcmp(doc->entries[j].id, id) == 0)
				n++;
	}
	if (n > 1) {
		/* Only the items sharing i's guid can change its key. */
		it = xcalloc(n, sizeof *it);
		for (j = 0, n = 0; j < doc->nentries; j++) {
			if (doc->entries[j].id == NULL || strcmp(doc->entries[j].id, id) != 0)
				continue;
			if (j == i)
				self = n;
			it[n].e = &doc->entries[j];
			it[n++].group = 0;
		}
	} else
		n = 1;
	identify(it, n, NULL);
	hash_key(&it[self].s, out);
	for (j = 0; j < n; j++)
		buf_free(&it[j].s);
	if (it != &one)
		free(it);
}
