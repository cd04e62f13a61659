/*
 * test_recent.c - the kept item (recent_fields): its fixed fields, the
 * text the matcher sees (HTML stripped, white space folded), the 4 KB cap
 * cut on a character boundary, a content equal to the summary kept once;
 * and reading it back (recent_item_decode, recent_item_alerted) from a
 * reply shaped like XRANGE's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/feed.h"
#include "wirewatch/recent.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

static const char *
get(const struct recent_fields *f, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < f->n; i += 2)
		if (strcmp(f->v[i], name) == 0)
			return f->v[i + 1];
	fail_msg("no field %s", name);
	return NULL;
}

static struct feed_entry
entry(void)
{
	struct feed_entry e;

	memset(&e, 0, sizeof e);
	e.published = FEED_NO_TIME;
	e.updated = FEED_NO_TIME;
	return e;
}

static void
test_fields(void **state)
{
	static const char *names[] = { "key", "feed", "title", "link", "guid",
		"published", "author", "category", "summary", "content", "same", "alerted" };
	char *cats[] = { "World", "Asia" };
	struct feed_entry e = entry();
	struct recent_fields f;
	size_t i;

	(void)state;
	e.title = "<b>Kim</b> meets   Lavrov";
	e.link = "https://example.org/a";
	e.id = "urn:a";
	e.updated = 1752388860;
	e.summary = "<p>North Korea &amp; Russia\n\n  sign a <i>treaty</i></p>";
	e.content = "<div>a &lt; b</div>";
	e.author = "Desk";
	e.categories = cats;
	e.ncategories = 2;
	recent_fields(&f, "qna", "0123abcd", &e, "treaty\nukr");
	assert_int_equal(f.n, 2 * RECENT_NFIELDS);
	for (i = 0; i < RECENT_NFIELDS; i++)
		assert_string_equal(f.v[2 * i], names[i]);
	assert_string_equal(get(&f, "key"), "0123abcd");
	assert_string_equal(get(&f, "feed"), "qna");
	assert_string_equal(get(&f, "title"), "Kim meets Lavrov");
	assert_string_equal(get(&f, "published"), "1752388860");
	assert_string_equal(get(&f, "summary"), "North Korea & Russia sign a treaty");
	assert_string_equal(get(&f, "content"), "a < b");
	assert_string_equal(get(&f, "same"), "");
	assert_string_equal(get(&f, "category"), "World Asia");
	assert_string_equal(get(&f, "alerted"), "treaty\nukr");
	recent_fields_free(&f);
}

static void
test_same_text_once(void **state)
{
	struct feed_entry e = entry();
	struct recent_fields f;

	(void)state;
	e.summary = "<p>one text</p>";
	e.content = "one   text";
	recent_fields(&f, "x", "k", &e, NULL);
	assert_string_equal(get(&f, "summary"), "one text");
	assert_string_equal(get(&f, "content"), "");
	assert_string_equal(get(&f, "same"), "1");
	assert_string_equal(get(&f, "published"), "");
	assert_string_equal(get(&f, "alerted"), "");
	recent_fields_free(&f);
}

static size_t
text_len(const struct recent_fields *f)
{
	return strlen(get(f, "title")) + strlen(get(f, "author")) +
	    strlen(get(f, "category")) + strlen(get(f, "summary")) +
	    strlen(get(f, "content"));
}

static void
test_cap(void **state)
{
	struct feed_entry e = entry();
	struct recent_fields f;
	struct buf title = {0}, body = {0}, other = {0};
	size_t i;

	(void)state;
	for (i = 0; i < 2000; i++)
		buf_adds(&title, "\xc3\xa9");       /* é: 2 bytes, 4000 in all */
	for (i = 0; i < 3000; i++)
		buf_adds(&body, "\xe2\x80\x94");    /* an em dash: 3 bytes */
	for (i = 0; i < 3000; i++)
		buf_adds(&other, "zz ");
	e.title = title.s;
	e.summary = body.s;
	e.content = other.s;
	recent_fields(&f, "x", "k", &e, NULL);
	assert_true(text_len(&f) <= RECENT_TEXT_MAX);
	assert_true(strlen(get(&f, "title")) <= 1024);
	assert_true(strlen(get(&f, "title")) >= 1022);
	assert_true(util_utf8_valid(get(&f, "title"), strlen(get(&f, "title"))));
	assert_true(util_utf8_valid(get(&f, "summary"), strlen(get(&f, "summary"))));
	assert_int_equal(strlen(get(&f, "summary")) % 3, 0);
	/* The summary took the rest: nothing is left for the content. */
	assert_true(text_len(&f) > RECENT_TEXT_MAX - 3);
	assert_string_equal(get(&f, "content"), "");
	recent_fields_free(&f);
	/* One long text twice: kept once, as far as the cap goes. */
	e.content = body.s;
	recent_fields(&f, "x", "k", &e, NULL);
	assert_string_equal(get(&f, "same"), "1");
	assert_string_equal(get(&f, "content"), "");
	assert_true(strlen(get(&f, "summary")) > 3000);
	recent_fields_free(&f);
	buf_free(&title);
	buf_free(&body);
	buf_free(&other);
}

/* RESP for one XRANGE entry {id, {field, value, ...}} of f; with
 * not_entry, the fields are one string instead. */
static struct store_reply *
entry_reply(const struct recent_fields *f, int not_entry)
{
	struct buf b = {0};
	struct store_reply *r;
	size_t i;

	buf_adds(&b, "*2\r\n$15\r\n1764900000000-3\r\n");
	if (not_entry) {
		buf_adds(&b, "$1\r\nx\r\n");
	} else {
		buf_addf(&b, "*%zu\r\n", f->n);
		for (i = 0; i < f->n; i++)
			buf_addf(&b, "$%zu\r\n%s\r\n", strlen(f->v[i]), f->v[i]);
	}
	r = store_reply_parse(b.s, b.len);
	assert_non_null(r);
	buf_free(&b);
	return r;
}

/* A reply like one XRANGE entry: decoded into the item it holds. */
static void
test_decode(void **state)
{
	struct feed_entry e = entry();
	struct recent_fields f;
	struct store_reply *r;
	struct recent_item it;

	(void)state;
	e.title = "t";
	e.summary = "same";
	e.content = "same";
	e.published = 1000;
	recent_fields(&f, "feed1", "key1", &e, "w1\nw2");
	r = entry_reply(&f, 0);
	assert_int_equal(recent_item_decode(r, &it), 0);
	assert_int_equal(it.seen_ms, 1764900000000ULL);
	assert_string_equal(it.key, "key1");
	assert_string_equal(it.feed, "feed1");
	assert_string_equal(it.content, "same");
	assert_int_equal(it.published, 1000);
	assert_true(recent_item_alerted(&it, "w1"));
	assert_true(recent_item_alerted(&it, "w2"));
	assert_false(recent_item_alerted(&it, "w"));
	assert_false(recent_item_alerted(&it, "w12"));
	store_reply_free(r);
	/* Not an entry: refused. */
	r = entry_reply(&f, 1);
	assert_int_equal(recent_item_decode(r, &it), -1);
	store_reply_free(r);
	recent_fields_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_same_text_once),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
