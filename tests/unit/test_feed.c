/*
 * test_feed.c - the feed parser: each format, text constructs, links,
 * encodings, ill-formed and hostile documents, and the seed feeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/feed.h"
#include "wirewatch/util.h"

static char err[WW_ERRLEN];

static struct feed_doc *
parse(const char *s, const char *base, const char *ct)
{
	struct feed_doc *d = feed_parse(s, strlen(s), base, ct, err, sizeof err);

	if (d == NULL)
		fail_msg("feed_parse: %s", err);
	return d;
}

static void
test_rss20(void **state)
{
	struct feed_doc *d = parse(
	    "<?xml version='1.0'?><rss version='2.0' "
	    "xmlns:content='http://purl.org/rss/1.0/modules/content/' "
	    "xmlns:dc='http://purl.org/dc/elements/1.1/'><channel>"
	    "<title>Wire</title><link>http://w.example/</link><description>D</description>"
	    "<image><link>http://img.example/</link></image>"
	    "<item><title>A &amp;amp; B</title><link>/a</link>"
	    "<description><![CDATA[<p>Hello <b>world</b></p>]]></description>"
	    "<content:encoded>&lt;p&gt;Full&lt;/p&gt;</content:encoded>"
	    "<guid isPermaLink='false'>urn:1</guid>"
	    "<pubDate>Sun, 13 Jul 2025 09:41:00 +0300</pubDate>"
	    "<author>desk@w.example (The Desk)</author><category>Asia</category>"
	    "<enclosure url='http://w.example/a.mp3' type='audio/mpeg' length='123'/>"
	    "</item><item><guid>http://w.example/2</guid><dc:creator>Jane</dc:creator></item>"
	    "</channel></rss>", "http://w.example/feed.xml", NULL);

	(void)state;
	assert_string_equal(d->version, "rss20");
	assert_false(d->bozo);
	assert_string_equal(d->feed.title, "Wire");
	assert_string_equal(d->feed.link, "http://w.example/");
	assert_string_equal(d->feed.subtitle, "D");
	assert_int_equal(d->nentries, 2);
	assert_string_equal(d->entries[0].title, "A &amp; B");
	assert_string_equal(d->entries[0].link, "http://w.example/a");
	assert_string_equal(d->entries[0].summary, "<p>Hello <b>world</b></p>");
	assert_string_equal(d->entries[0].content, "<p>Full</p>");
	assert_string_equal(d->entries[0].id, "urn:1");
	assert_int_equal(d->entries[0].published, 1752388860);
	assert_string_equal(d->entries[0].author, "The Desk");
	assert_string_equal(d->entries[0].authors[0].email, "desk@w.example");
	assert_string_equal(d->entries[0].categories[0], "Asia");
	assert_string_equal(d->entries[0].enclosures[0].length, "123");
	/* a permalink guid stands in for the missing link */
	assert_string_equal(d->entries[1].link, "http://w.example/2");
	assert_string_equal(d->entries[1].author, "Jane");
	assert_true(d->entries[1].published == FEED_NO_TIME);
	feed_doc_free(d);
}

static void
test_atom10(void **state)
{
	struct feed_doc *d = parse(
	    "<feed xmlns='http://www.w3.org/2005/Atom' xml:base='http://a.example/x/' xml:lang='ko'>"
	    "<title type='html'>&lt;b&gt;Atom&lt;/b&gt;</title>"
	    "<link rel='self' href='/self'/><link href='home'/>"
	    "<entry><id>tag:a,2025:1</id><title type='text'>History of the &lt;blink&gt; tag</title>"
	    "<link rel='enclosure' href='a.mp3'/><link rel='alternate' href='e1'/>"
	    "<summary type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>Example <b>Atom</b></div></summary>"
	    "<updated>2025-07-13T02:57:00+05:30</updated>"
	    "<author><name>Kim</name><uri>/kim</uri></author>"
	    "<category term='dprk'/></entry></feed>", NULL, NULL);

	(void)state;
	assert_string_equal(d->version, "atom10");
	assert_string_equal(d->feed.title, "<b>Atom</b>");
	assert_string_equal(d->feed.link, "http://a.example/x/home");
	assert_string_equal(d->feed.language, "ko");
	assert_string_equal(d->entries[0].title, "History of the <blink> tag");
	assert_string_equal(d->entries[0].link, "http://a.example/x/e1");
	assert_string_equal(d->entries[0].enclosures[0].url, "http://a.example/x/a.mp3");
	assert_string_equal(d->entries[0].summary, "Example <b>Atom</b>");
	assert_int_equal(d->entries[0].updated, 1752355620);
	assert_string_equal(d->entries[0].authors[0].uri, "http://a.example/kim");
	assert_string_equal(d->entries[0].categories[0], "dprk");
	feed_doc_free(d);
	/* Typepad: type="html" as an XHTML div of escaped HTML; a real div stays */
	d = parse("<feed xmlns='http://www.w3.org/2005/Atom'><entry>"
	    "<content type='html'><div xmlns='http://www.w3.org/1999/xhtml'>A &lt;b&gt;B&lt;/b&gt;"
	    "</div></content><summary type='html'><div xmlns='http://www.w3.org/1999/xhtml'>"
	    "<i>x</i></div></summary></entry></feed>", NULL, NULL);
	assert_false(d->bozo);
	assert_string_equal(d->entries[0].content, "A <b>B</b>");
	assert_string_equal(d->entries[0].summary, "<div><i>x</i></div>");
	feed_doc_free(d);
}

static void
test_rdf_and_atom03(void **state)
{
	struct feed_doc *d = parse(
	    "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
	    "xmlns='http://purl.org/rss/1.0/' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
	    "<channel rdf:about='http://r.example/'><title>R</title></channel>"
	    "<item rdf:about='http://r.example/1'><title>One</title><link>http://r.example/1</link>"
	    "<dc:date>2025-07-13</dc:date><dc:subject>x</dc:subject></item></rdf:RDF>", NULL, NULL);

	(void)state;
	assert_string_equal(d->version, "rss10");
	assert_string_equal(d->feed.title, "R");
	assert_int_equal(d->nentries, 1);
	assert_string_equal(d->entries[0].id, "http://r.example/1");
	assert_int_equal(d->entries[0].updated, 1752364800);
	feed_doc_free(d);
	d = parse("<feed version='0.3' xmlns='http://purl.org/atom/ns#'><entry>"
	    "<title mode='base64'>SGVsbG8=</title><issued>2004-01-01T00:00:00Z</issued>"
	    "<content mode='xml'><div xmlns='http://www.w3.org/1999/xhtml'>X</div></content>"
	    "</entry></feed>", NULL, NULL);
	assert_string_equal(d->version, "atom03");
	assert_string_equal(d->entries[0].title, "Hello");
	assert_int_equal(d->entries[0].published, 1072915200);
	assert_non_null(strstr(d->entries[0].content, "<div"));
	feed_doc_free(d);
}

static void
test_json_feed(void **state)
{
	struct feed_doc *d = parse("{\"version\": \"https://jsonfeed.org/version/1.1\", "
	    "\"title\": \"J\", \"items\": [{\"id\": \"1\", \"url\": \"http://j.example/1\", "
	    "\"title\": \"T\", \"content_html\": \"<p>x</p>\", \"date_published\": "
	    "\"2025-07-13T00:00:00Z\", \"tags\": [\"a\"], \"authors\": [{\"name\": \"N\"}]}]}",
	    NULL, NULL);

	(void)state;
	assert_string_equal(d->version, "json11");
	assert_string_equal(d->entries[0].link, "http://j.example/1");
	assert_string_equal(d->entries[0].content, "<p>x</p>");
	assert_string_equal(d->entries[0].author, "N");
	feed_doc_free(d);
}

static void
test_encodings(void **state)
{
	/* windows-1252 bytes labelled ISO-8859-1: 0x93/0x94 are curly quotes */
	const char *latin = "<?xml version='1.0' encoding='iso-8859-1'?><rss version='2.0'>"
	    "<channel><title>\x93" "Caf\xe9\x94" "</title></channel></rss>";
	struct feed_doc *d = parse(latin, NULL, NULL);

	(void)state;
	assert_string_equal(d->encoding, "iso-8859-1");
	assert_string_equal(d->feed.title, "\xe2\x80\x9c" "Caf\xc3\xa9" "\xe2\x80\x9d");
	feed_doc_free(d);
	/* the HTTP charset wins over the XML declaration */
	d = parse("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
	    "<title>Caf\xe9" "</title></channel></rss>", NULL, "text/xml; charset=iso-8859-1");
	assert_string_equal(d->encoding, "iso-8859-1");
	assert_string_equal(d->feed.title, "Caf\xc3\xa9");
	feed_doc_free(d);
}

/* feed_parse() on a byte string with embedded NULs (UTF-16/32). */
static struct feed_doc *
parse_n(const char *s, size_t n, const char *ct)
{
	struct feed_doc *d = feed_parse(s, n, NULL, ct, err, sizeof err);

	if (d == NULL)
		fail_msg("feed_parse: %s", err);
	return d;
}

static void
test_charsets(void **state)
{
	const char *ascii = "<?xml version='1.0' encoding='x'?><rss version='2.0'><channel>"
	    "<title>T\xc3\xa9</title></channel></rss>";
	struct buf b = {0};
	struct feed_doc *d;
	const char *p;

	(void)state;
	/* UTF-16LE with a BOM, UTF-32BE sniffed without one */
	buf_add(&b, "\xff\xfe", 2);
	for (p = "<rss version='2.0'><channel><title>x\xe9</title></channel></rss>"; *p; p++) {
		buf_addc(&b, *p == '\xe9' ? '\xe9' : *p);
		buf_addc(&b, '\0');
	}
	d = parse_n(b.s, b.len, NULL);
	assert_string_equal(d->encoding, "utf-16le");
	assert_string_equal(d->feed.title, "x\xc3\xa9");
	assert_false(d->bozo);
	feed_doc_free(d);
	buf_reset(&b);
	for (p = "<rss version='2.0'><channel><title>y</title></channel></rss>"; *p; p++) {
		buf_add(&b, "\0\0\0", 3);
		buf_addc(&b, *p);
	}
	d = parse_n(b.s, b.len, NULL);
	assert_string_equal(d->encoding, "utf-32be");
	assert_string_equal(d->feed.title, "y");
	feed_doc_free(d);
	buf_free(&b);
	/* gb2312 is read, and reported, as its superset gb18030 */
	d = parse("<?xml version='1.0' encoding='gb2312'?><rss version='2.0'><channel>"
	    "<title>\xc4\xe3</title></channel></rss>", NULL, NULL);
	assert_string_equal(d->encoding, "gb18030");
	assert_string_equal(d->feed.title, "\xe4\xbd\xa0");
	feed_doc_free(d);
	/* an unknown label: bozo, read as UTF-8 */
	d = parse(ascii, NULL, NULL);
	assert_true(d->bozo);
	assert_string_equal(d->feed.title, "T\xc3\xa9");
	feed_doc_free(d);
	/* text/xml without charset: us-ascii when the bytes are (RFC 3023) ... */
	d = parse("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
	    "<title>a</title></channel></rss>", NULL, "text/xml");
	assert_string_equal(d->encoding, "us-ascii");
	assert_false(d->bozo);
	feed_doc_free(d);
	/* ... and bozo, read with the declaration, when they are not */
	d = parse("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
	    "<title>\xc3\xa9</title></channel></rss>", NULL, "text/xml");
	assert_true(d->bozo);
	assert_string_equal(d->feed.title, "\xc3\xa9");
	feed_doc_free(d);
	/* a stray byte in UTF-8 is read as windows-1252, and flagged */
	d = parse("<rss version='2.0'><channel><title>don\x92t \xc3\xa9</title></channel></rss>",
	    NULL, NULL);
	assert_true(d->bozo);
	assert_string_equal(d->feed.title, "don\xe2\x80\x99t \xc3\xa9");
	feed_doc_free(d);
	/* C1 controls, raw or as &#146;, are windows-1252 punctuation: not bozo */
	d = parse("<rss version='2.0'><channel><title>a\xc2\x93q\xc2\x94 b&#146;s</title>"
	    "</channel></rss>", NULL, NULL);
	assert_false(d->bozo);
	assert_string_equal(d->feed.title, "a\xe2\x80\x9cq\xe2\x80\x9d b\xe2\x80\x99s");
	feed_doc_free(d);
	/* in a legacy charset an undefined byte becomes U+FFFD */
	d = parse("<?xml version='1.0' encoding='windows-1253'?><rss version='2.0'><channel>"
	    "<title>a\xaa" "b</title></channel></rss>", NULL, NULL);
	assert_true(d->bozo);
	assert_string_equal(d->feed.title, "a\xef\xbf\xbd" "b");
	feed_doc_free(d);
	/* Mac Greek is not in glibc iconv: our own table, Python's name */
	d = parse("<?xml version='1.0' encoding='macgreek'?><rss version='2.0'><channel>"
	    "<title>\x80\xc1\xe1</title></channel></rss>", NULL, NULL);
	assert_false(d->bozo);
	assert_string_equal(d->encoding, "mac-greek");
	assert_string_equal(d->feed.title, "\xc3\x84\xce\x9d\xce\xb1");
	feed_doc_free(d);
}

static void
test_links_and_references(void **state)
{
	const char *atom;
	struct feed_doc *d;

	(void)state;
	/* relative links: xml:base, Content-Location, then the document URL */
	atom = "<feed xmlns='http://www.w3.org/2005/Atom'><link href='/a'/>"
	    "<entry xml:base='http://b.example/x/'><link href='y'/>"
	    "<content type='html'>&lt;a href=\"z\"&gt;z&lt;/a&gt;</content></entry></feed>";
	d = feed_parse_http(atom, strlen(atom), "http://doc.example/feed", "application/atom+xml", "http://loc.example/f",
	    "de", err, sizeof err);
	assert_non_null(d);
	assert_string_equal(d->feed.link, "http://loc.example/a");
	assert_string_equal(d->feed.language, "de");
	assert_string_equal(d->entries[0].link, "http://b.example/x/y");
	assert_string_equal(d->entries[0].content, "<a href=\"http://b.example/x/z\">z</a>");
	feed_doc_free(d);
	/* a bare '&', an unknown entity and &#X41; survive as text, bozo */
	d = parse("<rss version='2.0'><channel><link>http://e/?a=1&b=2</link>"
	    "<title>&#X41; &bogus; &amp;</title></channel></rss>", NULL, NULL);
	assert_true(d->bozo);
	assert_string_equal(d->feed.link, "http://e/?a=1&b=2");
	assert_string_equal(d->feed.title, "A &bogus; &");
	feed_doc_free(d);
	/* CDATA and escaped HTML: one level of unescaping */
	d = parse("<rss version='2.0'><channel><item><description><![CDATA[<b>x</b> &amp;]]>"
	    "</description><title>&lt;i&gt;t&lt;/i&gt; &amp;amp;</title>"
	    "<guid isPermaLink='false'>g1</guid></item></channel></rss>", NULL, NULL);
	assert_false(d->bozo);
	assert_string_equal(d->entries[0].summary, "<b>x</b> &amp;");
	assert_string_equal(d->entries[0].title, "<i>t</i> &amp;");
	assert_string_equal(d->entries[0].id, "g1");
	assert_null(d->entries[0].link);
	feed_doc_free(d);
}

static void
test_ill_formed(void **state)
{
	struct feed_doc *d;

	(void)state;
	/* an HTML entity without a DTD is decoded, and the document is bozo */
	d = parse("<rss version='2.0'><channel><title>a&nbsp;b&eacute;</title></channel></rss>",
	    NULL, NULL);
	assert_true(d->bozo);
	assert_false(d->truncated);
	assert_string_equal(d->feed.title, "a\xc2\xa0" "b\xc3\xa9");
	feed_doc_free(d);
	/* a cut download */
	d = parse("<rss version='2.0'><channel><item><title>One</title></item><item><title>Tw",
	    NULL, NULL);
	assert_true(d->bozo);
	assert_true(d->truncated);
	assert_non_null(d->bozo_reason);
	feed_doc_free(d);
	/* complete but mis-nested, or junk after the root: bozo, not truncated */
	d = parse("<rss version='2.0'><channel><title>a</b></title></channel></rss>", NULL, NULL);
	assert_true(d->bozo);
	assert_false(d->truncated);
	feed_doc_free(d);
	d = parse("<rss version='2.0'/><!-- x", NULL, NULL);
	assert_true(d->bozo);
	assert_false(d->truncated);
	feed_doc_free(d);
	/* cut inside CDATA and inside an attribute */
	d = parse("<rss version='2.0'><channel><item><description><![CDATA[abc", NULL, NULL);
	assert_true(d->truncated);
	feed_doc_free(d);
	d = parse("<feed xmlns='http://www.w3.org/2005/Atom'><entry><link href='x", NULL, NULL);
	assert_true(d->truncated);
	assert_true(d->bozo);
	feed_doc_free(d);
	/* not feeds at all */
	assert_null(feed_parse("<html><body>hi</body></html>", 28, NULL, NULL, err, sizeof err));
	assert_non_null(strstr(err, "not a feed"));
	assert_null(feed_parse("just text", 9, NULL, NULL, err, sizeof err));
	assert_non_null(strstr(err, "not a feed"));
	assert_null(feed_parse("{\"a\": 1}", 8, NULL, NULL, err, sizeof err));
}

static void
test_billion_laughs(void **state)
{
	struct buf b = {0};
	struct feed_doc *d;
	uint64_t t0;
	int i;

	(void)state;
	buf_adds(&b, "<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY l0 'haha'>");
	for (i = 1; i < 30; i++)
		buf_addf(&b, "<!ENTITY l%d '&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;'>",
		    i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	buf_adds(&b, "]><rss version='2.0'><channel><title>&l29;</title></channel></rss>");
	d = feed_parse(b.s, b.len, NULL, NULL, err, sizeof err);
	/* Either refused or recovered, but never expanded: bounded output. */
	if (d != NULL) {
		assert_true(d->bozo);
		assert_true(d->feed.title == NULL || strlen(d->feed.title) < 1000000);
	}
	feed_doc_free(d);
	/* quadratic blowup: one 100 kB entity referenced 20,000 times */
	buf_reset(&b);
	buf_adds(&b, "<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY a '");
	for (i = 0; i < 100000; i++)
		buf_addc(&b, 'x');
	buf_adds(&b, "'>]><rss version='2.0'><channel><title>");
	for (i = 0; i < 20000; i++)
		buf_adds(&b, "&a;");
	buf_adds(&b, "</title></channel></rss>");
	t0 = util_now_ms();
	d = feed_parse(b.s, b.len, NULL, NULL, err, sizeof err);
	assert_null(d);
	assert_non_null(strstr(err, "expand"));
	assert_true(util_now_ms() - t0 < 2000);
	buf_free(&b);
	/* a small internal entity is still honoured */
	d = parse("<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY co 'ACME'>]>"
	    "<rss version='2.0'><channel><title>&co; news</title></channel></rss>", NULL, NULL);
	assert_string_equal(d->feed.title, "ACME news");
	feed_doc_free(d);
}

/* tests/data/feeds/NAME parsed as if fetched from base. */
static struct feed_doc *
fixture(const char *name, const char *base)
{
	char *path = xasprintf("tests/data/feeds/%s", name), *s;
	struct feed_doc *d;
	size_t len;

	s = util_read_file(path, &len, err, sizeof err);
	if (s == NULL)
		fail_msg("%s (run from the repository root)", err);
	d = feed_parse(s, len, base, NULL, err, sizeof err);
	if (d == NULL)
		fail_msg("%s: %s", path, err);
	free(s);
	free(path);
	return d;
}

static void
test_fixtures(void **state)
{
	struct feed_doc *d;

	(void)state;
	d = fixture("rss20-wire.xml", "https://base.example/feeds/x");
	assert_true(d->bozo); /* &nbsp; without a DTD */
	assert_string_equal(d->version, "rss20");
	assert_string_equal(d->feed.subtitle, "World news\xc2\xa0" "desk");
	assert_string_equal(d->feed.author, "News Desk");
	assert_string_equal(d->feed.authors[0].email, "desk@wire.example");
	assert_int_equal(d->nentries, 2);
	assert_string_equal(d->entries[0].link, "https://base.example/2025/07/14/talks");
	assert_string_equal(d->entries[0].id, "wire-2025-0714-001");
	assert_string_equal(d->entries[0].summary,
	    "<p>Delegations <a href=\"https://base.example/people\">met</a> on Monday.</p>");
	assert_string_equal(d->entries[0].authors[0].name, "Jane Doe");
	assert_string_equal(d->entries[0].authors[0].email, "jane@wire.example");
	assert_int_equal(d->entries[0].ncategories, 2);
	assert_string_equal(d->entries[0].enclosures[0].length, "48213");
	assert_string_equal(d->entries[1].link, "https://wire.example/2025/07/14/markets");
	assert_int_equal(d->entries[1].published, 1752525000); /* 16:30 EDT */
	feed_doc_free(d);

	d = fixture("atom10-xhtml.xml", NULL);
	assert_false(d->bozo);
	assert_string_equal(d->feed.title, "Fil <info>");
	assert_string_equal(d->feed.link, "https://agence.example/fil/accueil");
	assert_string_equal(d->feed.language, "fr");
	assert_string_equal(d->entries[0].link, "https://agence.example/fil/2025/07/13/sommet");
	assert_string_equal(d->entries[0].content,
	    "Le <b>sommet</b> <a href=\"https://agence.example/fil/detail\">suite</a>");
	assert_string_equal(d->entries[0].authors[0].uri, "https://agence.example/marie");
	assert_int_equal(d->entries[0].nenclosures, 1);
	feed_doc_free(d);

	d = fixture("feed.json", NULL);
	assert_string_equal(d->version, "json11");
	assert_string_equal(d->entries[0].enclosures[0].length, "10");
	feed_doc_free(d);

	d = fixture("utf16le-bom.xml", NULL);
	assert_string_equal(d->encoding, "utf-16le");
	assert_false(d->bozo);
	assert_string_equal(d->entries[0].title,
	    "\xce\x95\xce\xb9\xce\xb4\xce\xae\xcf\x83\xce\xb5\xce\xb9\xcf\x82");
	feed_doc_free(d);

	d = fixture("windows-1251.xml", NULL);
	assert_string_equal(d->encoding, "windows-1251");
	assert_string_equal(d->feed.title, "\xd0\x9d\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x81\xd1\x82\xd0\xb8");
	feed_doc_free(d);
}

static void
test_seed_feeds(void **state)
{
	size_t len;
	char *s = util_read_file("tests/data/seeds/seeds.rss", &len, err, sizeof err);
	struct feed_doc *d;

	(void)state;
	assert_non_null(s);
	d = feed_parse(s, len, NULL, NULL, err, sizeof err);
	assert_non_null(d);
	assert_int_equal(d->nentries, 2);
	/* "13-07-2025 02:57 IST" in the Devdiscourse pubDate */
	assert_int_equal(d->entries[1].published, 1752355620);
	feed_doc_free(d);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rss20),
		cmocka_unit_test(test_atom10),
		cmocka_unit_test(test_rdf_and_atom03),
		cmocka_unit_test(test_json_feed),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_links_and_references),
		cmocka_unit_test(test_ill_formed),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_seed_feeds),
	};

	return cmocka_run_group_tests_name("feed", tests, NULL, NULL);
}
