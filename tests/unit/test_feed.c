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
#include <jansson.h>

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

/* --- hostile text: every string out of feed_parse() is UTF-8 ------------- */

#define FFFD "\xef\xbf\xbd"

/*
 * Byte sequences UTF-8 forbids, and what a document labelled UTF-8 makes
 * of them (feed_charset.c): a whole forbidden sequence is U+FFFD per byte;
 * a byte on its own or a sequence cut short is read as windows-1252, the
 * policy for text pasted into UTF-8 (docs/feed-policy.md).  Strings made
 * after decoding (base64 content, below) get U+FFFD for every bad byte.
 */
static const struct bad_seq {
	const char *name;
	const char *bytes;
	size_t len;
	const char *read;
} bad_seqs[] = {
	{ "overlong C0 80", "\xc0\x80", 2, FFFD FFFD },
	{ "overlong E0 80 80", "\xe0\x80\x80", 3, FFFD FFFD FFFD },
	{ "overlong F0 80 80 80", "\xf0\x80\x80\x80", 4, FFFD FFFD FFFD FFFD },
	{ "surrogate ED A0 80", "\xed\xa0\x80", 3, FFFD FFFD FFFD },
	{ "past U+10FFFF F4 90 80 80", "\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD },
	{ "5-byte F8 88 80 80 80", "\xf8\x88\x80\x80\x80", 5, FFFD FFFD FFFD FFFD FFFD },
	{ "6-byte FC 84 80 80 80 80", "\xfc\x84\x80\x80\x80\x80", 6,
	    FFFD FFFD FFFD FFFD FFFD FFFD },
	{ "byte F5", "\xf5", 1, "\xc3\xb5" },
	{ "byte FF", "\xff", 1, "\xc3\xbf" },
	{ "truncated E2 82", "\xe2\x82", 2, "\xc3\xa2" "\xe2\x80\x9a" },
	{ "lone continuation 80", "\x80", 1, "\xe2\x82\xac" },
	{ "NUL", "\0", 1, FFFD },
};

/* Character references to no character, and JSON escapes to none. */
static const struct bad_seq bad_refs[] = {
	{ "&#0;", "&#0;", 4, FFFD },
	{ "&#x0;", "&#x0;", 5, FFFD },
	{ "&#xD800;", "&#xD800;", 8, FFFD },
	{ "&#57343;", "&#57343;", 8, FFFD },
	{ "&#x110000;", "&#x110000;", 10, FFFD },
	{ "&#99999999999;", "&#99999999999;", 14, FFFD },
}, bad_escapes[] = {
	{ "\\u0000", "\\u0000", 6, FFFD },
	{ "\\ud800", "\\ud800", 6, FFFD },
	{ "\\udfff", "\\udfff", 6, FFFD },
	{ "\\udc00\\ud800", "\\udc00\\ud800", 12, FFFD FFFD },
	{ "\\ud800 then a pair", "\\ud800\\ud83d\\ude00", 18, FFFD "\xf0\x9f\x98\x80" },
	{ "raw control byte", "\x01", 1, "\x01" },
};

/* tmpl with every '|' replaced by "preé", the bytes, " post". */
static struct feed_doc *
parse_filled(const char *tmpl, const struct bad_seq *row, const char *ct)
{
	struct buf b = {0};
	struct feed_doc *d;

	for (; *tmpl; tmpl++) {
		if (*tmpl != '|') {
			buf_addc(&b, *tmpl);
			continue;
		}
		buf_adds(&b, "pre\xc3\xa9");
		buf_add(&b, row->bytes, row->len);
		buf_adds(&b, " post");
	}
	d = feed_parse(b.s, b.len, "http://e.example/feed", ct, err, sizeof err);
	if (d == NULL)
		fail_msg("%s: feed_parse: %s", row->name, err);
	buf_free(&b);
	return d;
}

static void
utf8_or_fail(const char *row, const char *what, const char *s)
{
	if (s != NULL && !util_utf8_valid(s, strlen(s)))
		fail_msg("%s: %s is not valid UTF-8: \"%s\"", row, what, s);
}

/* s holds "preé", want, " post": the bad bytes replaced, the rest intact. */
static void
field_or_fail(const char *row, const char *what, const char *s, const char *want)
{
	char *expect = xasprintf("pre\xc3\xa9%s post", want);

	if (s == NULL)
		fail_msg("%s: %s is missing", row, what);
	utf8_or_fail(row, what, s);
	if (strstr(s, expect) == NULL)
		fail_msg("%s: %s is \"%s\", want it to hold \"%s\"", row, what, s, expect);
	free(expect);
}

static void
entry_utf8_or_fail(const char *row, const struct feed_entry *e)
{
	size_t i;

	utf8_or_fail(row, "id", e->id);
	utf8_or_fail(row, "title", e->title);
	utf8_or_fail(row, "subtitle", e->subtitle);
	utf8_or_fail(row, "link", e->link);
	utf8_or_fail(row, "summary", e->summary);
	utf8_or_fail(row, "content", e->content);
	utf8_or_fail(row, "rights", e->rights);
	utf8_or_fail(row, "language", e->language);
	utf8_or_fail(row, "author", e->author);
	for (i = 0; i < e->nauthors; i++) {
		utf8_or_fail(row, "author name", e->authors[i].name);
		utf8_or_fail(row, "author email", e->authors[i].email);
		utf8_or_fail(row, "author uri", e->authors[i].uri);
	}
	for (i = 0; i < e->ncategories; i++)
		utf8_or_fail(row, "category", e->categories[i]);
	for (i = 0; i < e->nenclosures; i++) {
		utf8_or_fail(row, "enclosure url", e->enclosures[i].url);
		utf8_or_fail(row, "enclosure type", e->enclosures[i].type);
		utf8_or_fail(row, "enclosure length", e->enclosures[i].length);
	}
}

/* Every string of d is UTF-8, and feed_doc_to_json() prints every entry. */
static void
doc_utf8_or_fail(const char *row, const struct feed_doc *d)
{
	json_error_t jerr;
	json_t *j;
	char *s;
	size_t i;

	utf8_or_fail(row, "bozo_reason", d->bozo_reason);
	utf8_or_fail(row, "version", d->version);
	utf8_or_fail(row, "encoding", d->encoding);
	entry_utf8_or_fail(row, &d->feed);
	for (i = 0; i < d->nentries; i++)
		entry_utf8_or_fail(row, &d->entries[i]);
	if ((s = feed_doc_to_json(d)) == NULL)
		fail_msg("%s: feed_doc_to_json returned NULL", row);
	if ((j = json_loads(s, 0, &jerr)) == NULL)
		fail_msg("%s: feed_doc_to_json printed bad JSON: %s", row, jerr.text);
	assert_int_equal(json_array_size(json_object_get(j, "entries")), d->nentries);
	if (d->nentries > 0 && d->entries[0].title != NULL)
		assert_string_equal(json_string_value(json_object_get(json_array_get(
		    json_object_get(j, "entries"), 0), "title")), d->entries[0].title);
	json_decref(j);
	free(s);
}

static const char rss_tmpl[] =
    "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
    "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
    "<title>|</title><link>http://e.example/|</link><description>|</description>"
    "<copyright>|</copyright>"
    "<item><title>|</title><link>http://e.example/|</link><description>|</description>"
    "<content:encoded>|</content:encoded><guid isPermaLink='false'>|</guid>"
    "<author>|</author><category>|</category><pubDate>|</pubDate>"
    "<enclosure url='http://e.example/|' type='|' length='|'/></item>"
    "<item><title>next</title></item></channel></rss>";

static const char atom_tmpl[] =
    "<feed xmlns='http://www.w3.org/2005/Atom'><title>|</title><subtitle>|</subtitle>"
    "<rights>|</rights><link href='http://e.example/|'/><id>|</id>"
    "<entry><id>|</id><title>|</title><link href='http://e.example/|'/>"
    "<summary>|</summary><content type='html'>|</content><updated>|</updated>"
    "<author><name>|</name><email>|</email><uri>http://e.example/|</uri></author>"
    "<category term='|'/><link rel='enclosure' href='http://e.example/|' type='|' "
    "length='|'/></entry><entry><title>next</title></entry></feed>";

static const char json_tmpl[] =
    "{\"version\": \"https://jsonfeed.org/version/1.1\", \"title\": \"|\", "
    "\"home_page_url\": \"http://e.example/|\", \"description\": \"|\", "
    "\"language\": \"|\", \"items\": [{\"id\": \"|\", \"url\": \"http://e.example/|\", "
    "\"title\": \"|\", \"summary\": \"|\", \"content_html\": \"|\", "
    "\"date_published\": \"|\", \"tags\": [\"|\"], "
    "\"authors\": [{\"name\": \"|\", \"url\": \"http://e.example/|\"}], "
    "\"attachments\": [{\"url\": \"http://e.example/|\", \"mime_type\": \"|\"}]}, "
    "{\"id\": \"2\", \"title\": \"next\"}]}";

static void
rss_or_fail(const struct bad_seq *row)
{
	struct feed_doc *d = parse_filled(rss_tmpl, row, NULL);
	const struct feed_entry *e = &d->entries[0];

	doc_utf8_or_fail(row->name, d);
	assert_true(d->bozo);
	assert_false(d->truncated);
	field_or_fail(row->name, "feed title", d->feed.title, row->read);
	field_or_fail(row->name, "feed link", d->feed.link, row->read);
	field_or_fail(row->name, "feed subtitle", d->feed.subtitle, row->read);
	field_or_fail(row->name, "feed rights", d->feed.rights, row->read);
	if (d->nentries != 2)
		fail_msg("%s: %zu items, want 2", row->name, d->nentries);
	field_or_fail(row->name, "title", e->title, row->read);
	field_or_fail(row->name, "link", e->link, row->read);
	field_or_fail(row->name, "summary", e->summary, row->read);
	field_or_fail(row->name, "content", e->content, row->read);
	field_or_fail(row->name, "id", e->id, row->read);
	field_or_fail(row->name, "author", e->author, row->read);
	field_or_fail(row->name, "category", e->ncategories ? e->categories[0] : NULL, row->read);
	assert_int_equal(e->nenclosures, 1);
	field_or_fail(row->name, "enclosure url", e->enclosures[0].url, row->read);
	field_or_fail(row->name, "enclosure type", e->enclosures[0].type, row->read);
	field_or_fail(row->name, "enclosure length", e->enclosures[0].length, row->read);
	assert_true(e->published == FEED_NO_TIME);
	assert_string_equal(d->entries[1].title, "next");
	feed_doc_free(d);
}

static void
atom_or_fail(const struct bad_seq *row)
{
	struct feed_doc *d = parse_filled(atom_tmpl, row, NULL);
	const struct feed_entry *e = &d->entries[0];

	doc_utf8_or_fail(row->name, d);
	assert_true(d->bozo);
	assert_false(d->truncated);
	field_or_fail(row->name, "feed title", d->feed.title, row->read);
	field_or_fail(row->name, "feed subtitle", d->feed.subtitle, row->read);
	field_or_fail(row->name, "feed rights", d->feed.rights, row->read);
	field_or_fail(row->name, "feed link", d->feed.link, row->read);
	field_or_fail(row->name, "feed id", d->feed.id, row->read);
	if (d->nentries != 2)
		fail_msg("%s: %zu entries, want 2", row->name, d->nentries);
	field_or_fail(row->name, "id", e->id, row->read);
	field_or_fail(row->name, "title", e->title, row->read);
	field_or_fail(row->name, "link", e->link, row->read);
	field_or_fail(row->name, "summary", e->summary, row->read);
	field_or_fail(row->name, "content", e->content, row->read);
	field_or_fail(row->name, "author", e->author, row->read);
	assert_int_equal(e->nauthors, 1);
	field_or_fail(row->name, "author email", e->authors[0].email, row->read);
	field_or_fail(row->name, "author uri", e->authors[0].uri, row->read);
	field_or_fail(row->name, "category", e->ncategories ? e->categories[0] : NULL, row->read);
	assert_int_equal(e->nenclosures, 1);
	field_or_fail(row->name, "enclosure url", e->enclosures[0].url, row->read);
	field_or_fail(row->name, "enclosure type", e->enclosures[0].type, row->read);
	field_or_fail(row->name, "enclosure length", e->enclosures[0].length, row->read);
	assert_true(e->updated == FEED_NO_TIME);
	assert_string_equal(d->entries[1].title, "next");
	feed_doc_free(d);
}

static void
json_or_fail(const struct bad_seq *row)
{
	struct feed_doc *d = parse_filled(json_tmpl, row, NULL);
	const struct feed_entry *e = &d->entries[0];

	doc_utf8_or_fail(row->name, d);
	assert_true(d->bozo);
	assert_string_equal(d->version, "json11");
	field_or_fail(row->name, "feed title", d->feed.title, row->read);
	field_or_fail(row->name, "feed link", d->feed.link, row->read);
	field_or_fail(row->name, "feed subtitle", d->feed.subtitle, row->read);
	field_or_fail(row->name, "feed language", d->feed.language, row->read);
	if (d->nentries != 2)
		fail_msg("%s: %zu items, want 2", row->name, d->nentries);
	field_or_fail(row->name, "id", e->id, row->read);
	field_or_fail(row->name, "link", e->link, row->read);
	field_or_fail(row->name, "title", e->title, row->read);
	field_or_fail(row->name, "summary", e->summary, row->read);
	field_or_fail(row->name, "content", e->content, row->read);
	field_or_fail(row->name, "author", e->author, row->read);
	assert_int_equal(e->nauthors, 1);
	field_or_fail(row->name, "author uri", e->authors[0].uri, row->read);
	field_or_fail(row->name, "category", e->ncategories ? e->categories[0] : NULL, row->read);
	assert_int_equal(e->nenclosures, 1);
	field_or_fail(row->name, "enclosure url", e->enclosures[0].url, row->read);
	field_or_fail(row->name, "enclosure type", e->enclosures[0].type, row->read);
	assert_true(e->published == FEED_NO_TIME);
	assert_string_equal(d->entries[1].title, "next");
	feed_doc_free(d);
}

static void
test_invalid_utf8(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad_seqs / sizeof bad_seqs[0]; i++) {
		rss_or_fail(&bad_seqs[i]);
		atom_or_fail(&bad_seqs[i]);
		json_or_fail(&bad_seqs[i]);
	}
	for (i = 0; i < sizeof bad_refs / sizeof bad_refs[0]; i++) {
		rss_or_fail(&bad_refs[i]);
		atom_or_fail(&bad_refs[i]);
	}
	for (i = 0; i < sizeof bad_escapes / sizeof bad_escapes[0]; i++)
		json_or_fail(&bad_escapes[i]);
}

static void
base64_add(struct buf *b, const unsigned char *p, size_t n)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned v;
	size_t i;

	for (i = 0; i < n; i += 3) {
		v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
		    (i + 2 < n ? p[i + 2] : 0);
		buf_addc(b, tbl[v >> 18 & 63]);
		buf_addc(b, tbl[v >> 12 & 63]);
		buf_addc(b, i + 1 < n ? tbl[v >> 6 & 63] : '=');
		buf_addc(b, i + 2 < n ? tbl[v & 63] : '=');
	}
}

/* Text made after decoding: every bad byte is U+FFFD, the rest kept. */
static void
test_invalid_utf8_made_late(void **state)
{
	struct buf b = {0}, raw = {0}, want = {0};
	struct feed_doc *d;
	const char *s;
	char *json;
	size_t i, k;

	(void)state;
	/* base64 content (Atom, a non-text type) decodes to arbitrary bytes */
	for (i = 0; i < sizeof bad_seqs / sizeof bad_seqs[0]; i++) {
		buf_reset(&b);
		buf_reset(&raw);
		buf_reset(&want);
		buf_adds(&raw, "pre\xc3\xa9");
		buf_add(&raw, bad_seqs[i].bytes, bad_seqs[i].len);
		buf_adds(&raw, " post");
		for (k = 0; k < bad_seqs[i].len; k++)
			buf_adds(&want, FFFD);
		buf_adds(&b, "<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>t</title>"
		    "<content type='application/octet-stream'>");
		base64_add(&b, (const unsigned char *)raw.s, raw.len);
		buf_adds(&b, "</content></entry></feed>");
		d = feed_parse(b.s, b.len, NULL, NULL, err, sizeof err);
		assert_non_null(d);
		doc_utf8_or_fail(bad_seqs[i].name, d);
		field_or_fail(bad_seqs[i].name, "base64 content", d->entries[0].content, want.s);
		feed_doc_free(d);
	}
	buf_free(&b);
	buf_free(&raw);
	buf_free(&want);
	/* a percent-escape that is not UTF-8 stays escaped in a resolved link */
	d = parse("<feed xmlns='http://www.w3.org/2005/Atom'><entry>"
	    "<link href='/\xc3\xa9%F8%88%80%80%80/%C3%A9'/></entry></feed>",
	    "http://e.example/", NULL);
	doc_utf8_or_fail("escapes", d);
	assert_string_equal(d->entries[0].link,
	    "http://e.example/\xc3\xa9%F8%88%80%80%80/\xc3\xa9");
	feed_doc_free(d);
	/* HTTP headers are outside input too */
	s = "<rss version='2.0'><channel><title>t</title></channel></rss>";
	d = feed_parse_http(s, strlen(s), NULL, "application/rss+xml; charset=\"utf\xff-8\"",
	    NULL, "d\xf8\x88\x80\x80\x80", err, sizeof err);
	assert_non_null(d);
	doc_utf8_or_fail("headers", d);
	assert_string_equal(d->feed.language, "d" FFFD FFFD FFFD FFFD FFFD);
	assert_non_null(strstr(d->encoding, FFFD));
	feed_doc_free(d);
	/* feed_doc_to_json prints repaired text rather than dropping the field */
	d = parse("<rss version='2.0'><channel><title>t</title><item><title>x</title>"
	    "</item></channel></rss>", NULL, NULL);
	free(d->entries[0].title);
	d->entries[0].title = xstrdup("a\xf8\x88\x80\x80\x80" "b");
	json = feed_doc_to_json(d);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"title\":\"a" FFFD FFFD FFFD FFFD FFFD "b\""));
	free(json);
	feed_doc_free(d);
}

static void
test_error_messages_utf8(void **state)
{
	char small[31];
	const char *doc = "<caf\xc3\xa9 version='2.0'/>";

	(void)state;
	/* the root element's name, quoted, with é cut in half by snprintf */
	assert_null(feed_parse(doc, strlen(doc), NULL, NULL, err, sizeof err));
	assert_string_equal(err, "not a feed: root element <caf\xc3\xa9>");
	assert_int_equal(strlen("not a feed: root element <caf") + 2, sizeof small);
	assert_null(feed_parse(doc, strlen(doc), NULL, NULL, small, sizeof small));
	assert_string_equal(small, "not a feed: root element <caf");
	/* a JSON document that stays unreadable: the first error is reported */
	doc = "{\"version\": \xf8 }";
	assert_null(feed_parse(doc, strlen(doc), NULL, NULL, err, sizeof err));
	assert_true(util_utf8_valid(err, strlen(err)));
	assert_non_null(strstr(err, "JSON error"));
}

/*
 * The same in fixtures, which are also fuzzing seeds: the feeds of
 * tests/e2e/test_hostile_parse.py, one item for each of its 12 byte rows
 * (bad_seqs, in the same order) and 3 reference or escape rows.
 */
static void
test_hostile_fixtures(void **state)
{
	struct feed_doc *d;

	(void)state;
	d = fixture("hostile-utf8.xml", NULL);
	doc_utf8_or_fail("hostile-utf8.xml", d);
	assert_int_equal(d->nentries, 15);
	field_or_fail("hostile-utf8.xml", "title", d->entries[5].title, bad_seqs[5].read);
	feed_doc_free(d);
	d = fixture("hostile-utf8.json", NULL);
	doc_utf8_or_fail("hostile-utf8.json", d);
	assert_int_equal(d->nentries, 15);
	field_or_fail("hostile-utf8.json", "title", d->entries[5].title, bad_seqs[5].read);
	feed_doc_free(d);
	d = fixture("too-deep.xml", NULL);
	assert_false(d->truncated);
	assert_int_equal(d->nentries, 1);
	feed_doc_free(d);
}

/* RSS with `deep` levels of <x> inside the third item's description. */
static struct feed_doc *
nested(int deep)
{
	struct buf b = {0};
	struct feed_doc *d;
	int i;

	buf_adds(&b, "<rss version='2.0'><channel><title>t</title>"
	    "<item><title>one</title></item><item><title>two</title></item>"
	    "<item><title>deep</title><description>");
	for (i = 0; i < deep; i++)
		buf_adds(&b, "<x>");
	buf_adds(&b, "y");
	for (i = 0; i < deep; i++)
		buf_adds(&b, "</x>");
	buf_adds(&b, "</description></item><item><title>after</title></item></channel></rss>");
	d = feed_parse(b.s, b.len, NULL, NULL, err, sizeof err);
	assert_non_null(d);
	buf_free(&b);
	return d;
}

static void
test_too_deep(void **state)
{
	struct buf b = {0};
	struct feed_doc *d;
	int i;

	(void)state;
	/*
	 * 300 levels: the parse stops, the unfinished item goes, the two
	 * before it stay, and it is not a cut download (which the daemon
	 * would refuse on every poll).
	 */
	d = nested(300);
	assert_false(d->truncated);
	assert_true(d->bozo);
	assert_non_null(strstr(d->bozo_reason, "too deeply nested"));
	assert_int_equal(d->nentries, 2);
	assert_string_equal(d->entries[0].title, "one");
	assert_string_equal(d->entries[1].title, "two");
	assert_string_equal(d->feed.title, "t");
	feed_doc_free(d);
	d = nested(100000);
	assert_false(d->truncated);
	assert_int_equal(d->nentries, 2);
	feed_doc_free(d);
	/* the limit: rss, channel, item, description and 252 <x> are 256 levels */
	d = nested(252);
	assert_false(d->bozo);
	assert_int_equal(d->nentries, 4);
	feed_doc_free(d);
	d = nested(253);
	assert_non_null(d->bozo_reason);
	assert_non_null(strstr(d->bozo_reason, "too deeply nested"));
	assert_int_equal(d->nentries, 2);
	feed_doc_free(d);
	/* Atom: the same, with the depth in feed-level metadata */
	buf_adds(&b, "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>"
	    "<entry><title>one</title></entry><subtitle type='xhtml'>");
	for (i = 0; i < 300; i++)
		buf_adds(&b, "<div>");
	buf_adds(&b, "</subtitle><entry><title>after</title></entry></feed>");
	d = feed_parse(b.s, b.len, NULL, NULL, err, sizeof err);
	assert_non_null(d);
	assert_true(d->bozo);
	assert_false(d->truncated);
	assert_null(d->feed.subtitle);
	assert_string_equal(d->feed.title, "t");
	assert_int_equal(d->nentries, 1);
	assert_string_equal(d->entries[0].title, "one");
	feed_doc_free(d);
	buf_free(&b);
	/* a cut download is still a cut download */
	d = parse("<rss version='2.0'><channel><item><title>One</title></item><item><x><x>",
	    NULL, NULL);
	assert_true(d->truncated);
	feed_doc_free(d);
}

/*
 * Items and entries are read while the document is parsed and their nodes
 * freed (feed_xml.c take_entry()); a document that declares an entity is
 * read by the walk after the parse instead.  Both must give the same
 * result: items between and after channel elements, text and comments
 * around them, attributes, xml:base, nested namespaces, an item at the
 * root, an Atom feed.
 */
static void
test_entries_read_during_parse(void **state)
{
	static const char *const docs[] = {
		"<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
		"<channel><title>T</title>\n<item><title>one</title><guid>g1</guid>"
		"<dc:creator>A</dc:creator></item> text <!-- c -->\n"
		"<link>http://example.com/</link>"
		"<item xml:base=\"http://example.com/sub/\"><title>two &amp; more</title>"
		"<link>rel/2</link><description><![CDATA[<p>x</p>]]></description></item>"
		"<description>after items</description>"
		"<item><title>three</title><category>c1</category><category>c2</category>"
		"<enclosure url=\"http://e/x.mp3\" type=\"audio/mpeg\" length=\"1\"/></item>"
		"</channel><item><title>root item</title></item></rss>",
		"<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\"><title>F</title>"
		"<entry><id>e1</id><title type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">"
		"<b>bold</b> t</div></title><link href=\"/a\"/></entry>\n"
		"<subtitle>s</subtitle><entry><id>e2</id><title>two</title>"
		"<author><name>N</name></author></entry></feed>",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		char *withdtd = xasprintf("<!DOCTYPE x [<!ENTITY unused \"u\">]>%s", docs[i]);
		struct feed_doc *a = parse(docs[i], "http://example.com/feed", NULL);
		struct feed_doc *b = parse(withdtd, "http://example.com/feed", NULL);
		char *ja = feed_doc_to_json(a), *jb = feed_doc_to_json(b);

		assert_int_equal(a->nentries, i == 0 ? 4 : 2);
		assert_string_equal(ja, jb);
		free(ja);
		free(jb);
		free(withdtd);
		feed_doc_free(a);
		feed_doc_free(b);
	}
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
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_invalid_utf8_made_late),
		cmocka_unit_test(test_error_messages_utf8),
		cmocka_unit_test(test_hostile_fixtures),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_entries_read_during_parse),
	};

	return cmocka_run_group_tests_name("feed", tests, NULL, NULL);
}
