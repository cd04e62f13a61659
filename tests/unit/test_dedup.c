/*
 * test_dedup.c - item identity (per item and per document, with the keys
 * of earlier versions pinned) and URL canonicalization.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "wirewatch/dedup.h"
#include "wirewatch/feed.h"

static void
assert_canon(const char *in, const char *want)
{
	char *got = dedup_canonical_url(in);

	assert_string_equal(got, want);
	free(got);
}

static void
test_canonical_url(void **state)
{
	(void)state;
	assert_canon("https://Example.ORG/a/b?x=1#frag", "//example.org/a/b?x=1");
	assert_canon("http://example.org:80/a", "//example.org/a");
	assert_canon("https://example.org:443/a", "//example.org/a");
	assert_canon("https://example.org:8443/a", "//example.org:8443/a");
	assert_canon("https://example.org/a?utm_source=x&id=7&fbclid=zz&UTM_Medium=y",
	    "//example.org/a?id=7");
	assert_canon("https://example.org/a?utm_source=x", "//example.org/a");
	assert_canon("tag:example.org,2025:1", "tag:example.org,2025:1");
}

static struct feed_entry
entry(const char *id, const char *link, const char *title, time_t pub)
{
	struct feed_entry e;

	memset(&e, 0, sizeof e);
	e.id = (char *)id;
	e.link = (char *)link;
	e.title = (char *)title;
	e.published = pub;
	e.updated = FEED_NO_TIME;
	return e;
}

static void
key_of(struct feed_entry *es, size_t n, size_t i, char out[DEDUP_KEYLEN])
{
	struct feed_doc doc;

	memset(&doc, 0, sizeof doc);
	doc.entries = es;
	doc.nentries = n;
	dedup_item_key(&doc, i, out);
	assert_int_equal(strlen(out), 32);
}

static void
test_identity_rules(void **state)
{
	struct feed_entry a[2], b[2];
	char k1[DEDUP_KEYLEN], k2[DEDUP_KEYLEN];

	(void)state;
	/* The same guid is the same item whatever else differs. */
	a[0] = entry("urn:1", "https://a.example/1", "One", 1);
	b[0] = entry("urn:1", "https://b.example/other", "Changed", 2);
	key_of(a, 1, 0, k1);
	key_of(b, 1, 0, k2);
	assert_string_equal(k1, k2);
	/* Without a guid: http/https and tracking variants of a link are one. */
	a[0] = entry(NULL, "http://news.example/story?utm_campaign=x", "T", 1);
	b[0] = entry("", "https://news.example/story", "T2", 2);
	key_of(a, 1, 0, k1);
	key_of(b, 1, 0, k2);
	assert_string_equal(k1, k2);
	/* Different links are different items. */
	b[0] = entry(NULL, "https://news.example/story2", "T", 1);
	key_of(b, 1, 0, k2);
	assert_string_not_equal(k1, k2);
	/* No id, no link: title + date. */
	a[0] = entry(NULL, NULL, "Headline", 1000);
	b[0] = entry(NULL, NULL, "Headline", 2000);
	key_of(a, 1, 0, k1);
	key_of(b, 1, 0, k2);
	assert_string_not_equal(k1, k2);
}

static void
test_repeated_guid_falls_back_to_link(void **state)
{
	struct feed_entry es[2];
	char k1[DEDUP_KEYLEN], k2[DEDUP_KEYLEN];

	(void)state;
	es[0] = entry("channel-guid", "https://x.example/1", "A", 1);
	es[1] = entry("channel-guid", "https://x.example/2", "B", 1);
	key_of(es, 2, 0, k1);
	key_of(es, 2, 1, k2);
	assert_string_not_equal(k1, k2);
}

/*
 * Keys computed by the quadratic dedup_item_key() of before dedup_doc_keys():
 * every item whose guid does not repeat, and a repeated guid with distinct
 * links, must keep them, or the seen sets in existing Redis databases would
 * alert everything again.
 */
static const char *pinned[] = {
	"fc55ed25d8cb422e1e23a6d88cf561c1",
	"962c64600d379137eefbfca44066d524",
	"d5825b736f16d515b19a9c68604075e2",
	"d58258736f16cffcb19a9b686040742f",
	"8f60d2aef2156c6c2f5dc1469fe4b575",
	"b3db7b5c78a47dc511a017cd0e93dac0",
	"1080da3e7847876529f5ac2889ba6c2c",
	"a0360c14f55c8adb5a4ead9f6f357cc2",
};

static void
pinned_entries(struct feed_entry *es)
{
	es[0] = entry("urn:uuid:1", "https://a.example/1", "One", 1);
	es[1] = entry(NULL, "http://news.example/story?utm_campaign=x", "T", 1);
	es[2] = entry("channel-guid", "https://x.example/1", "A", 1);
	es[3] = entry("channel-guid", "https://x.example/2", "B", 1);
	es[4] = entry(NULL, NULL, "Headline", 1752388860);
	es[5] = entry("https://Example.org/a?utm_source=x#f", NULL, NULL, FEED_NO_TIME);
	es[6] = entry(NULL, NULL, NULL, FEED_NO_TIME);
	es[6].summary = "just a summary";
	es[7] = entry("  ", " ", "Blank id", FEED_NO_TIME);
}

static void
test_known_keys(void **state)
{
	struct feed_entry es[8];
	struct feed_doc doc;
	struct dedup_stats st;
	char k[DEDUP_KEYLEN], keys[8][DEDUP_KEYLEN];
	size_t i;

	(void)state;
	pinned_entries(es);
	memset(&doc, 0, sizeof doc);
	doc.entries = es;
	doc.nentries = 8;
	dedup_doc_keys(&doc, keys, &st);
	for (i = 0; i < 8; i++) {
		assert_string_equal(keys[i], pinned[i]);
		dedup_item_key(&doc, i, k);
		assert_string_equal(k, pinned[i]);
	}
	assert_int_equal(st.guid_repeats, 2);
	assert_int_equal(st.kept_apart, 0);
	assert_ptr_equal(st.bad_guid, es[2].id);
}

/* A document of n items sharing one guid, without links. */
static struct feed_entry *
shared_guid(size_t n, int same_title, struct feed_doc *doc)
{
	struct feed_entry *es = calloc(n, sizeof *es);
	char title[64];
	size_t i;

	assert_non_null(es);
	for (i = 0; i < n; i++) {
		snprintf(title, sizeof title, "Story number %zu", i);
		es[i] = entry("https://cms.example/channel", NULL,
		    same_title ? "Same story" : strdup(title), 1752388860);
	}
	memset(doc, 0, sizeof *doc);
	doc->entries = es;
	doc->nentries = n;
	return es;
}

static void
free_shared_guid(struct feed_entry *es, size_t n, int same_title)
{
	size_t i;

	for (i = 0; !same_title && i < n; i++)
		free(es[i].title);
	free(es);
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(a, b);
}

static size_t
distinct_keys(char (*keys)[DEDUP_KEYLEN], size_t n)
{
	char (*sorted)[DEDUP_KEYLEN] = malloc(n * sizeof *sorted);
	size_t i, d = n > 0;

	assert_non_null(sorted);
	memcpy(sorted, keys, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_key);
	for (i = 1; i < n; i++)
		if (strcmp(sorted[i - 1], sorted[i]) != 0)
			d++;
	free(sorted);
	return d;
}

static void
test_shared_guid_no_link(void **state)
{
	struct feed_doc doc;
	struct feed_entry *es = shared_guid(1000, 0, &doc);
	char (*keys)[DEDUP_KEYLEN] = calloc(1000, DEDUP_KEYLEN), k[DEDUP_KEYLEN];
	struct dedup_stats st;

	(void)state;
	dedup_doc_keys(&doc, keys, &st);
	assert_int_equal(distinct_keys(keys, 1000), 1000);
	assert_int_equal(st.guid_repeats, 1000);
	assert_int_equal(st.kept_apart, 0);
	assert_ptr_equal(st.bad_guid, es[0].id);
	dedup_item_key(&doc, 0, k);
	assert_string_equal(k, keys[0]);
	dedup_item_key(&doc, 777, k);
	assert_string_equal(k, keys[777]);
	free(keys);
	free_shared_guid(es, 1000, 0);
}

static void
test_shared_guid_same_title_date(void **state)
{
	struct feed_doc doc;
	struct feed_entry *es = shared_guid(1000, 1, &doc);
	char (*keys)[DEDUP_KEYLEN] = calloc(1000, DEDUP_KEYLEN);
	char (*again)[DEDUP_KEYLEN] = calloc(1000, DEDUP_KEYLEN), k[DEDUP_KEYLEN];
	struct dedup_stats st;

	(void)state;
	dedup_doc_keys(&doc, keys, &st);
	assert_int_equal(distinct_keys(keys, 1000), 1000);
	assert_int_equal(st.guid_repeats, 1000);
	assert_int_equal(st.kept_apart, 1000);
	assert_non_null(st.bad_guid);
	/* Ordinals: the same document gives the same keys poll after poll. */
	dedup_doc_keys(&doc, again, NULL);
	assert_memory_equal(keys, again, 1000 * DEDUP_KEYLEN);
	dedup_item_key(&doc, 999, k);
	assert_string_equal(k, keys[999]);
	/* One more occurrence at the end: the others keep their keys. */
	doc.nentries = 999;
	dedup_doc_keys(&doc, again, &st);
	assert_memory_equal(keys, again, 999 * DEDUP_KEYLEN);
	assert_int_equal(st.kept_apart, 999);
	free(again);
	free(keys);
	free_shared_guid(es, 1000, 1);
}

static void
test_shared_guid_and_link(void **state)
{
	struct feed_entry es[5];
	struct feed_doc doc;
	struct dedup_stats st;
	char keys[5][DEDUP_KEYLEN], k[DEDUP_KEYLEN];
	size_t i;

	(void)state;
	/* Guid and link both the channel's: title + date tell them apart. */
	es[0] = entry("chan", "https://cms.example/", "First", 1);
	es[1] = entry("chan", "https://cms.example/", "Second", 1);
	es[2] = entry("chan", "https://cms.example/", "First", 2);
	/* ... and an exact duplicate is kept apart by its ordinal. */
	es[3] = entry("chan", "https://cms.example/", "First", 1);
	es[4] = entry("chan", "https://cms.example/own-link", "First", 1);
	memset(&doc, 0, sizeof doc);
	doc.entries = es;
	doc.nentries = 5;
	dedup_doc_keys(&doc, keys, &st);
	assert_int_equal(distinct_keys(keys, 5), 5);
	assert_int_equal(st.guid_repeats, 5);
	assert_int_equal(st.kept_apart, 2);
	for (i = 0; i < 5; i++) {
		dedup_item_key(&doc, i, k);
		assert_string_equal(k, keys[i]);
	}
	/* An item with a link of its own keeps today's guid + link key. */
	doc.nentries = 2;
	es[0] = es[4];
	es[1] = entry("chan", "https://cms.example/other", "Other", 1);
	dedup_doc_keys(&doc, keys, NULL);
	assert_string_equal(k, keys[0]);
}

static void
test_unaffected_items_keep_keys(void **state)
{
	struct feed_entry es[8 + 3];
	struct feed_doc doc;
	struct dedup_stats st;
	char keys[8 + 3][DEDUP_KEYLEN];
	size_t i;

	(void)state;
	pinned_entries(es);
	/* A bad guid elsewhere in the document changes nothing for the rest. */
	for (i = 8; i < 11; i++)
		es[i] = entry("stamped", NULL, "Same", 5);
	memset(&doc, 0, sizeof doc);
	doc.entries = es;
	doc.nentries = 11;
	dedup_doc_keys(&doc, keys, &st);
	for (i = 0; i < 8; i++)
		assert_string_equal(keys[i], pinned[i]);
	assert_int_equal(distinct_keys(keys, 11), 11);
	assert_int_equal(st.guid_repeats, 5);
	assert_int_equal(st.kept_apart, 3);
	/* Empty documents and a NULL st are fine. */
	doc.nentries = 0;
	dedup_doc_keys(&doc, keys, &st);
	assert_int_equal(st.guid_repeats, 0);
	assert_null(st.bad_guid);
	dedup_doc_keys(&doc, keys, NULL);
}

static double
cpu_seconds(void)
{
	return (double)clock() / CLOCKS_PER_SEC;
}

/* 100,000 items: distinct guids, one guid with distinct titles, all equal. */
static void
test_timing(void **state)
{
	const size_t n = 100000;
	struct feed_entry *es = calloc(n, sizeof *es);
	char (*keys)[DEDUP_KEYLEN] = calloc(n, DEDUP_KEYLEN);
	char buf[64], **ids = calloc(n, sizeof *ids), **titles = calloc(n, sizeof *titles);
	struct feed_doc doc;
	struct dedup_stats st;
	double t;
	size_t i;

	(void)state;
	assert_true(es != NULL && keys != NULL && ids != NULL && titles != NULL);
	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof buf, "https://news.example/%zu", i);
		ids[i] = strdup(buf);
		snprintf(buf, sizeof buf, "Story %zu", i);
		titles[i] = strdup(buf);
	}
	memset(&doc, 0, sizeof doc);
	doc.entries = es;
	doc.nentries = n;

	for (i = 0; i < n; i++)
		es[i] = entry(ids[i], NULL, titles[i], 1752388860);
	t = cpu_seconds();
	dedup_doc_keys(&doc, keys, &st);
	print_message("dedup_doc_keys: %zu items, distinct guids: %.3f s CPU\n", n,
	    cpu_seconds() - t);
	assert_int_equal(st.guid_repeats, 0);
	assert_int_equal(distinct_keys(keys, n), n);

	for (i = 0; i < n; i++)
		es[i].id = "urn:channel";
	t = cpu_seconds();
	dedup_doc_keys(&doc, keys, &st);
	print_message("dedup_doc_keys: %zu items, one guid, distinct titles: %.3f s CPU\n",
	    n, cpu_seconds() - t);
	assert_int_equal(st.guid_repeats, n);
	assert_int_equal(distinct_keys(keys, n), n);

	for (i = 0; i < n; i++)
		es[i].title = "Same";
	t = cpu_seconds();
	dedup_doc_keys(&doc, keys, &st);
	print_message("dedup_doc_keys: %zu items, all equal: %.3f s CPU\n", n,
	    cpu_seconds() - t);
	assert_int_equal(st.kept_apart, n);
	assert_int_equal(distinct_keys(keys, n), n);

	for (i = 0; i < n; i++) {
		free(ids[i]);
		free(titles[i]);
	}
	free(ids);
	free(titles);
	free(keys);
	free(es);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_url),
		cmocka_unit_test(test_identity_rules),
		cmocka_unit_test(test_repeated_guid_falls_back_to_link),
		cmocka_unit_test(test_known_keys),
		cmocka_unit_test(test_shared_guid_no_link),
		cmocka_unit_test(test_shared_guid_same_title_date),
		cmocka_unit_test(test_shared_guid_and_link),
		cmocka_unit_test(test_unaffected_items_keep_keys),
		cmocka_unit_test(test_timing),
	};

	return cmocka_run_group_tests_name("dedup", tests, NULL, NULL);
}
