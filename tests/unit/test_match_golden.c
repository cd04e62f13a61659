/*
 * test_match_golden.c - what the matcher tells users stays byte for byte
 * what it told them before the explanation builder was rewritten
 * (issue 11): every hit's watchlist, terms, snippet and explanation (as
 * compact JSON, the bytes an alert carries) over
 *
 *   - the seed articles, the feed fixtures (hostile UTF-8 included) and a
 *     few hand-made texts with quotes, backslashes, control characters and
 *     invalid UTF-8, against queries of every kind: compared line by line
 *     with tests/data/match_golden.txt, written by the jansson-based
 *     builder (commit f05578e);
 *   - bench-match's generated corpus (first 2,000 items against 20,000
 *     generated watchlists): the count of hits and a hash of all their
 *     lines, as the old builder produced them.
 *
 * WW_GOLDEN_WRITE=1 rewrites the golden file instead of comparing (only
 * after a deliberate change of what users see).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/alert.h"
#include "wirewatch/feed.h"
#include "wirewatch/match.h"
#include "wirewatch/util.h"

#define GOLDEN "tests/data/match_golden.txt"

static struct entity_set *ents;

/* One line per hit: tab-separated, the explanation last. */
static void
hit_line(struct buf *out, const char *doc, const struct match_hit *h)
{
	size_t i;

	buf_addf(out, "%s\t%s\t", doc, h->name);
	for (i = 0; i < h->nterms; i++)
		buf_addf(out, "%s%s", i ? "\x1f" : "", h->terms[i]);
	buf_addf(out, "\t%s\t%s\n", h->snippet, h->explain);
}

static void
run_doc(struct matcher *m, struct buf *out, const char *doc, const struct match_doc *d)
{
	struct match_result r = {0};
	size_t i;

	matcher_run(m, d, &r);
	for (i = 0; i < r.nhits; i++)
		hit_line(out, doc, &r.hits[i]);
	match_result_free(&r);
}

static const char *queries[] = {
	"@DPRK AND @Russia AND treaty",
	"@DPRK AND @Russia AND Ukraine",
	"\"north korea\" NEAR/0 russia",
	"@DPRK NEAR/3 treaty",
	"unconditionalsupport",
	"\"Russia's actions\"",
	"\"Kim Jong Un\" AND Pyongyang",
	"(kim OR lavrov) AND NOT pact",
	"title:(korea OR korean) OR summary:russia",
	"sanction* OR minist*",
	"case:KCNA OR case:QNA",
	"/kim\\s+jong[- ]un/",
	"/Russia.s/c AND war",
	"\"war against\" NEAR/4 @Ukraine",
	"(treaty OR partnership) NEAR/2 (defense OR strategic)",
	"quote AND back*",
	"caf\xc3\xa9 OR na\xc3\xafve OR t\xc3\xa9l\xc3\xa9",
	"ctl OR ctrl OR broken",
	"@USA OR @China OR @Japan OR @Iran",
	"author:jane OR category:diplomacy OR feed:fixtures",
	"NOT zzzz",
	"editor*",
	"/\"quote\" and a back.slash; ctl.here, tab.here/",
	"\"broken bytes\" OR (broken NEAR/1 bytes)",
};

static const char *texts[] = {
	"A \"quote\" and a back\\slash; ctl\x01here, tab\there, ctrl\x1f" "end.",
	"<p>Caf\xc3\xa9 na\xc3\xafve t\xc3\xa9l\xc3\xa9 \xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x80\x94 "
	    "Kim  Jong-un\n\nmet   the minister</p>",
	"broken \xff\xfe bytes then broken again \xc3",
	"broken caf\xc3\xa9 \x80quote",
};

static char *
read_or_fail(const char *path, size_t *len)
{
	char err[WW_ERRLEN], *s = util_read_file(path, len, err, sizeof err);

	if (s == NULL)
		fail_msg("%s", err);
	return s;
}

static void
corpus_lines(struct buf *out)
{
	static const char *feeds[] = { "tests/data/seeds/seeds.atom", "tests/data/seeds/seeds.rss",
		"tests/data/feeds/atom10-xhtml.xml", "tests/data/feeds/feed.json",
		"tests/data/feeds/hostile-utf8.json", "tests/data/feeds/hostile-utf8.xml",
		"tests/data/feeds/rss20-wire.xml", "tests/data/feeds/windows-1251.xml",
		"tests/data/feeds/utf16le-bom.xml" };
	static const char *seeds[] = { "qna-2025-07-13-kim-lavrov.txt",
		"devdiscourse-2025-07-13-kim-lavrov.txt" };
	const char *dir = getenv("WW_SHARED") ? getenv("WW_SHARED") : "../shared";
	struct matcher *m = matcher_new(ents);
	struct buf cats = {0}, name = {0};
	char err[WW_ERRLEN], *data, *path;
	size_t i, j, c, len;

	for (i = 0; i < sizeof queries / sizeof *queries; i++) {
		buf_reset(&name);
		buf_addf(&name, "q%zu", i);
		if (matcher_add(m, name.s, queries[i], err, sizeof err) < 0)
			fail_msg("query %s: %s", queries[i], err);
	}
	for (i = 0; i < sizeof seeds / sizeof *seeds; i++) {
		struct match_doc d = {0};
		path = xasprintf("%s/fixtures/seeds/%s", dir, seeds[i]);
		d.content = data = read_or_fail(path, &len);
		run_doc(m, out, seeds[i], &d);
		free(data);
		free(path);
	}
	for (i = 0; i < sizeof texts / sizeof *texts; i++) {
		struct match_doc d = { .title = texts[i], .content = texts[i], .feed = "fixtures" };
		buf_reset(&name);
		buf_addf(&name, "text%zu", i);
		run_doc(m, out, name.s, &d);
	}
	for (i = 0; i < sizeof feeds / sizeof *feeds; i++) {
		struct feed_doc *doc;
		data = read_or_fail(feeds[i], &len);
		if ((doc = feed_parse(data, len, NULL, NULL, err, sizeof err)) == NULL)
			fail_msg("%s: %s", feeds[i], err);
		for (j = 0; j < doc->nentries; j++) {
			const struct feed_entry *e = &doc->entries[j];
			struct match_doc d = { .title = e->title, .summary = e->summary,
				.content = e->content, .author = e->author, .feed = "fixtures" };
			buf_reset(&cats);
			for (c = 0; c < e->ncategories; c++)
				buf_addf(&cats, "%s%s", c ? "\n" : "", e->categories[c]);
			d.category = cats.s;
			buf_reset(&name);
			buf_addf(&name, "%s#%zu", feeds[i], j);
			run_doc(m, out, name.s, &d);
		}
		feed_doc_free(doc);
		free(data);
	}
	buf_free(&cats);
	buf_free(&name);
	matcher_free(m);
}

static void
test_fixtures_golden(void **state)
{
	struct buf out = {0};
	char *want, *a, *b, *ea, *eb;
	size_t len, line = 1;
	FILE *f;

	(void)state;
	corpus_lines(&out);
	assert_true(out.len > 0);
	if (getenv("WW_GOLDEN_WRITE") != NULL) {
		if ((f = fopen(GOLDEN, "w")) == NULL || fwrite(out.s, 1, out.len, f) != out.len ||
		    fclose(f) != 0)
			fail_msg("cannot write %s", GOLDEN);
		buf_free(&out);
		return;
	}
	want = read_or_fail(GOLDEN, &len);
	/* the first differing line, for a readable failure */
	for (a = out.s, b = want; *a != '\0' || *b != '\0'; line++) {
		ea = strchr(a, '\n');
		eb = strchr(b, '\n');
		if (ea == NULL || eb == NULL || ea - a != eb - b || memcmp(a, b, (size_t)(ea - a)) != 0)
			fail_msg("%s:%zu differs:\n got: %.*s\nwant: %.*s", GOLDEN, line,
			    ea ? (int)(ea - a) : (int)strlen(a), a, eb ? (int)(eb - b) : (int)strlen(b), b);
		a = ea + 1;
		b = eb + 1;
	}
	free(want);
	buf_free(&out);
}

/*
 * The alert the daemon stores (alert_render(), written directly) is
 * json_dumps() of the alert object (alert_new()), byte for byte: every hit
 * of the fixtures and of the hand-made texts (invalid UTF-8 in the title
 * and terms repaired, absent link and guid, no dates).
 */
static size_t
compare_alerts(struct matcher *m, const struct feed_entry *e, const struct match_doc *d)
{
	struct match_result r = {0};
	char id[ALERT_IDLEN], *want, *got;
	json_t *o;
	size_t i;

	matcher_run(m, d, &r);
	for (i = 0; i < r.nhits; i++) {
		alert_make_id("key", r.hits[i].name, "sink", id);
		o = alert_new("feed \"x\"", e, "key", &r.hits[i], id);
		want = json_dumps(o, JSON_COMPACT);
		got = alert_render("feed \"x\"", e, "key", &r.hits[i], id);
		assert_non_null(want);
		assert_string_equal(got, want);
		free(want);
		free(got);
		json_decref(o);
	}
	match_result_free(&r);
	return i;
}

static void
test_alert_render(void **state)
{
	static const char *feeds[] = { "tests/data/seeds/seeds.atom", "tests/data/seeds/seeds.rss",
		"tests/data/feeds/atom10-xhtml.xml", "tests/data/feeds/feed.json",
		"tests/data/feeds/hostile-utf8.json", "tests/data/feeds/hostile-utf8.xml",
		"tests/data/feeds/rss20-wire.xml" };
	struct matcher *m = matcher_new(ents);
	char err[WW_ERRLEN], *data;
	size_t i, j, len, n = 0;

	(void)state;
	for (i = 0; i < sizeof queries / sizeof *queries; i++)
		if (matcher_add(m, "q", queries[i], err, sizeof err) < 0)
			fail_msg("query %s: %s", queries[i], err);
	for (i = 0; i < sizeof texts / sizeof *texts; i++) {
		struct feed_entry e;
		struct match_doc d = { .title = texts[i], .content = texts[i], .feed = "fixtures" };
		memset(&e, 0, sizeof e);
		e.title = (char *)texts[i];
		e.published = FEED_NO_TIME;
		e.updated = 1700000000;
		n += compare_alerts(m, &e, &d);
	}
	for (i = 0; i < sizeof feeds / sizeof *feeds; i++) {
		struct feed_doc *doc;
		data = read_or_fail(feeds[i], &len);
		if ((doc = feed_parse(data, len, NULL, NULL, err, sizeof err)) == NULL)
			fail_msg("%s: %s", feeds[i], err);
		for (j = 0; j < doc->nentries; j++) {
			const struct feed_entry *e = &doc->entries[j];
			struct match_doc d = { .title = e->title, .summary = e->summary,
				.content = e->content, .author = e->author, .feed = "fixtures" };
			if (e->published == FEED_NO_TIME && e->updated == FEED_NO_TIME)
				continue; /* "published" would be the time of the call */
			n += compare_alerts(m, e, &d);
		}
		feed_doc_free(doc);
		free(data);
	}
	assert_true(n > 50);
	matcher_free(m);
}

/* --- bench-match's corpus (the same generator, fewer items) --------------------- */

#define NVOCAB 20000
#define NITEMS 2000
#define NWL 20000

static unsigned long long rng;
static char vocab[NVOCAB][12];

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *
word(void)
{
	unsigned r = rnd(NVOCAB);

	return vocab[rnd(r + 1)];
}

static char *
gen_query(void)
{
	struct buf q = {0};
	const char *a = vocab[100 + rnd(NVOCAB - 100)], *b = vocab[100 + rnd(NVOCAB - 100)];
	const char *c = vocab[100 + rnd(NVOCAB - 100)];

	switch (rnd(6)) {
	case 0: buf_addf(&q, "%s AND %s", a, b); break;
	case 1: buf_addf(&q, "(%s OR %s) AND %s", a, c, b); break;
	case 2: buf_addf(&q, "\"%s %s\"", a, b); break;
	case 3: buf_addf(&q, "%s NEAR/5 %s", a, b); break;
	case 4: buf_addf(&q, "@DPRK NEAR/3 %s -%s", a, c); break;
	default: buf_addf(&q, "(title:%s OR %s*) AND %s", a, b, c); break;
	}
	return buf_steal(&q);
}

/* Recorded from the jansson-based builder (commit f05578e). */
#define BENCH_HITS 2406
#define BENCH_HASH 0x0dc27fa9a3fe2b8aULL

static void
test_bench_corpus_golden(void **state)
{
	const char *aliases[] = { "North Korea", "Pyongyang", "Kim Jong Un", "Moscow" };
	struct matcher *m = matcher_new(ents);
	struct buf t = {0}, c = {0}, out = {0};
	char err[WW_ERRLEN], *q;
	size_t i, j, nhits = 0;
	uint64_t h = 0;

	(void)state;
	rng = 88172645463325252ULL;
	for (i = 0; i < NVOCAB; i++)
		snprintf(vocab[i], sizeof vocab[i], "w%c%c%05zu", 'a' + (int)(i % 26),
		    'a' + (int)(i / 26 % 26), i);
	for (i = 0; i < NWL; i++) {
		q = gen_query();
		if (matcher_add(m, "w", q, err, sizeof err) < 0)
			fail_msg("query %s: %s", q, err);
		free(q);
	}
	for (i = 0; i < NITEMS; i++) {
		struct match_result r = {0};
		struct match_doc d;
		buf_reset(&t);
		for (j = 0; j < 8; j++)
			buf_addf(&t, "%s%s", j ? " " : "", word());
		buf_reset(&c);
		buf_adds(&c, "<p>");
		for (j = 0; j < 70; j++) {
			if (rnd(60) == 0)
				buf_addf(&c, "%s ", aliases[rnd(4)]);
			buf_addf(&c, "%s%s", word(), rnd(12) == 0 ? ". " : " ");
		}
		buf_adds(&c, "</p>");
		memset(&d, 0, sizeof d);
		d.title = t.s;
		d.content = c.s;
		matcher_run(m, &d, &r);
		for (j = 0; j < r.nhits; j++) {
			buf_reset(&out);
			buf_addf(&out, "%zu:%d:", i, r.hits[j].watchlist);
			hit_line(&out, "", &r.hits[j]);
			h = util_hash64(out.s, out.len, h);
			nhits++;
		}
		match_result_free(&r);
	}
	if (getenv("WW_GOLDEN_WRITE") != NULL)
		printf("bench corpus: %zu hits, hash 0x%016llxULL\n", nhits, (unsigned long long)h);
	else {
		assert_int_equal(nhits, BENCH_HITS);
		assert_int_equal(h, BENCH_HASH);
	}
	buf_free(&t);
	buf_free(&c);
	buf_free(&out);
	matcher_free(m);
}

static int
setup(void **state)
{
	char err[WW_ERRLEN];

	(void)state;
	ents = entity_set_load("conf/entities", err, sizeof err);
	if (ents == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	entity_set_free(ents);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_golden),
		cmocka_unit_test(test_bench_corpus_golden),
		cmocka_unit_test(test_alert_render),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
