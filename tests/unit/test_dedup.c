/*
 * test_dedup.c - item identity and URL canonicalization.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_url),
		cmocka_unit_test(test_identity_rules),
		cmocka_unit_test(test_repeated_guid_falls_back_to_link),
	};

	return cmocka_run_group_tests_name("dedup", tests, NULL, NULL);
}
