/*
 * test_sinkfmt.c - every sink format against its documented limits,
 * required fields and escaping rules, checked here independently of the
 * renderers: the seed story, a 10,000-character item, hostile text
 * (<script>, &, @everyone, <!channel>, <users/all>, disguised links),
 * RTL and emoji text, invalid-looking markup, and 10-alert digests.
 *
 * With SINKFMT_DUMP_DIR set, every rendered request is also written
 * there as TYPE-CASE.json ({"type", "case", "content_type", "headers",
 * "url_query", "body", "links"}) so that tests/e2e/chat_receivers.py
 * --check-dir can post them to its receivers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define ELL "\xe2\x80\xa6"
#define ZWSP "\xe2\x80\x8b"

static const char QNA_LINK[] = "https://www.qna.org.qa/en/News-Area/News/"
    "2025-07/13/0032-n-korean-leader-reaffirms-unconditional-support-for-"
    "russia-in-ukraine-war";
static const char QNA_TITLE[] = "N. Korean leader reaffirms unconditional "
    "support for Russia in Ukraine war";

static const enum sinkfmt_type ALL[] = {
	SINKFMT_CONSOLE, SINKFMT_WEBHOOK, SINKFMT_SLACK, SINKFMT_DISCORD,
	SINKFMT_MATTERMOST, SINKFMT_TEAMS, SINKFMT_GOOGLE_CHAT,
	SINKFMT_TELEGRAM, SINKFMT_NTFY
};
#define NALL (sizeof ALL / sizeof ALL[0])

/* ------------------------------------------------------- fixtures */

static json_t *
alert(const char *id, const char *watchlist, const char *title,
    const char *link, const char *feed, const char *snippet, const char *t1,
    const char *t2)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s,s], "
	    "s:s, s:{s:[s], s:{}}}",
	    "alert_id", id, "watchlist", watchlist, "title", title,
	    "published", "2025-07-13T06:41:00Z", "feed", feed,
	    "id", "5c1e0a7d", "item_id", link != NULL ? link : "urn:x",
	    "terms", t1, t2, "snippet", snippet,
	    "explain", "clauses", "@DPRK AND @Russia AND treaty", "spans");

	assert_non_null(a);
	if (link != NULL)
		json_object_set_new(a, "link", json_string(link));
	return a;
}

static json_t *
seed(void)
{
	return alert("al_0123456789abcdef0123456789abcdef", "treaty", QNA_TITLE,
	    QNA_LINK, "qna",
	    ELL "encourage all the measures taken by the Russian leadership "
	    "as regards the tackling of the root cause of the Ukrainian "
	    "crisis\xe2\x80\x9d in line with the North Korea-[[Russia]] mutual "
	    "defense [[treaty]], the KCNA said." ELL, "treaty", "Russia");
}

/* n characters (code points) cycling through 1- to 4-byte forms. */
static char *
long_text(size_t n, int marks)
{
	static const char *const parts[] = { "Kim ", "\xce\xa9", "\xe7\x95\x8c",
	    "\xf0\x9f\x98\x80", " treaty ", "\xd8\xb9" };
	static const size_t chars[] = { 4, 1, 1, 1, 8, 1 };
	struct buf b = {0};
	size_t i = 0, k = 0;

	while (i < n) {
		if (marks && k % 40 == 7 && i + 12 < n) {
			buf_adds(&b, "[[Russia]] ");
			i += 7;
		} else {
			buf_adds(&b, parts[k % 6]);
			i += chars[k % 6];
		}
		k++;
	}
	return buf_steal(&b);
}

static json_t *
big(void)
{
	char *t = long_text(10000, 0), *s = long_text(10000, 1);
	json_t *a = alert("al_big", "treaty", t, QNA_LINK, "qna", s, "treaty",
	    "Russia");

	free(t);
	free(s);
	return a;
}

static json_t *
hostile(void)
{
	return alert("al_hostile", "w<&>@here",
	    "<script>alert(1)</script> & @everyone <!channel> <users/all> "
	    "[click](https://evil.example/x) <https://evil.example|click> "
	    "<@U123> @here &amp;",
	    "https://example.org/news?a=1&b=<2>", "f@all <b>x</b>",
	    "[[<script>]] &amp; @everyone <!here> [x](https://evil.example) "
	    "<users/all> <https://evil.example|y> **bold** `code` @channel "
	    "<at>someone</at> &lt;", "<script>", "@everyone");
}

static json_t *
rtl(void)
{
	/* Arabic, Hebrew, a family (ZWJ), a flag, an RLO override. */
	return alert("al_rtl", "\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a",
	    "\xd9\x83\xd9\x8a\xd9\x85 \xd9\x8a\xd8\xaf\xd8\xb9\xd9\x85 "
	    "\xd8\xb1\xd9\x88\xd8\xb3\xd9\x8a\xd8\xa7 \xf0\x9f\x87\xb0"
	    "\xf0\x9f\x87\xb5 \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"
	    "\xe2\x80\x8d\xf0\x9f\x91\xa7 \xe2\x80\xae\xd7\xa9\xd7\x9c\xd7\x95"
	    "\xd7\x9d\xe2\x80\xac end",
	    QNA_LINK, "\xd7\x97\xd7\x93\xd7\xa9\xd7\x95\xd7\xaa",
	    "\xd9\x83\xd9\x8a\xd9\x85 [[\xd8\xb1\xd9\x88\xd8\xb3\xd9\x8a\xd8"
	    "\xa7]] \xf0\x9f\x87\xb0\xf0\x9f\x87\xb5 [[\xd7\x90\xd7\x9e\xd7"
	    "\xa0\xd7\x94]] \xf0\x9f\x98\x80\xe2\x80\xae tail",
	    "\xd8\xb1\xd9\x88\xd8\xb3\xd9\x8a\xd8\xa7",
	    "\xd7\x90\xd7\x9e\xd7\xa0\xd7\x94");
}

static json_t *
markup(void)
{
	return alert("al_markup", "treaty",
	    "[[x]] </blockquote> <a href=\"javascript:alert(1)\">x</a> "
	    "*bold* _it_ ~s~ `c` ``` # h1 > q - li 1. n \\ | {} $x$ :smile:",
	    "javascript:alert(1)", "qna\nsecond line\r\tx",
	    "[[unclosed treaty ]] ]] [[ <b <i>> &#x; &bogus; \\ ` ``` *_~|> "
	    "# - 1. [[]] [[Russia]]]] [[", "treaty", "Russia");
}

/*
 * Every field long and full of what escaping multiplies: the caps must
 * shrink (the fitting search's last resort) for anything to fit.
 */
static json_t *
pathological(void)
{
	struct buf b = {0};
	json_t *a, *terms = json_array();
	size_t i;

	for (i = 0; i < 5000; i++)
		buf_adds(&b, "&<");
	a = alert("al_path", b.s, b.s, NULL, b.s, b.s, b.s, b.s);
	buf_reset(&b);
	buf_adds(&b, "https://example.org/");
	for (i = 0; i < 1950; i++)
		buf_addc(&b, '&');
	json_object_set_new(a, "link", json_string(b.s));
	buf_reset(&b);
	for (i = 0; i < 500; i++)
		buf_adds(&b, "[@");
	for (i = 0; i < 40; i++)
		json_array_append_new(terms, json_string(b.s));
	json_object_set_new(a, "terms", terms);
	json_object_set_new(a, "published", json_string(b.s));
	buf_free(&b);
	return a;
}

/* ------------------------------------------------------ measures */

static size_t
codepoints(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if ((*s & 0xc0) != 0x80)
			n++;
	return n;
}

static size_t
utf16(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	for (; *p != '\0'; p++)
		if ((*p & 0xc0) != 0x80)
			n += *p >= 0xf0 ? 2 : 1;
	return n;
}

/* Both counts within max, whichever the service uses. */
static void
assert_chars(const char *what, const char *s, size_t max)
{
	if (codepoints(s) > max || utf16(s) > max)
		fail_msg("%s: %zu code points, %zu UTF-16 units > %zu", what,
		    codepoints(s), utf16(s), max);
}

static const char *
str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("\"%s\" is missing or not a string", key);
	return json_string_value(v);
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Calls fn on every string in j (values only). */
static void
strings(const json_t *j, void (*fn)(const char *, void *), void *arg)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_string(j))
		fn(json_string_value(j), arg);
	else if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
			strings(v, fn, arg);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			strings(v, fn, arg);
	}
}

/* -------------------------------------------------- dump, render */

/* Set while rendering alerts outside the schema (not for the receivers). */
static int no_dump;

static void
dump(enum sinkfmt_type t, const char *cas, const struct sinkfmt_request *r,
    const json_t *const *alerts, size_t n)
{
	const char *dir = getenv("SINKFMT_DUMP_DIR");
	json_t *d, *h, *links;
	char path[512];
	size_t i;

	if (dir == NULL || dir[0] == '\0' || no_dump)
		return;
	h = json_array();
	links = json_array();
	for (i = 0; i < r->nheaders; i++)
		json_array_append_new(h, json_string(r->headers[i]));
	for (i = 0; i < n; i++) {
		char *u = sinkfmt_url(json_string_value(json_object_get(alerts[i],
		    "link")));
		if (u != NULL)
			json_array_append_new(links, json_string(u));
		free(u);
	}
	d = json_pack("{s:s, s:s, s:s, s:o, s:s?, s:s%, s:o}",
	    "type", sinkfmt_type_name(t), "case", cas,
	    "content_type", r->content_type, "headers", h,
	    "url_query", r->url_query, "body", r->body, r->len, "links", links);
	assert_non_null(d);
	snprintf(path, sizeof path, "%s/%s-%s.json", dir, sinkfmt_type_name(t),
	    cas);
	assert_int_equal(json_dump_file(d, path, JSON_INDENT(1)), 0);
	json_decref(d);
}

static void
render(enum sinkfmt_type t, const char *cas, json_t **alerts, size_t n,
    struct sinkfmt_request *r)
{
	struct sinkfmt_opts o = { "-1001234567890", 0 };
	char err[256] = "";

	memset(r, 0, sizeof *r);
	if (sinkfmt_render(t, &o, (const json_t *const *)alerts, n, r, err,
	    sizeof err) != 0)
		fail_msg("%s/%s: %s", sinkfmt_type_name(t), cas, err);
	assert_non_null(r->body);
	assert_non_null(r->content_type);
	assert_int_equal(strlen(r->body), r->len);
	if (!util_utf8_valid(r->body, r->len))
		fail_msg("%s/%s: the body is not valid UTF-8",
		    sinkfmt_type_name(t), cas);
	dump(t, cas, r, (const json_t *const *)alerts, n);
}

static json_t *
parse(const struct sinkfmt_request *r)
{
	json_error_t e;
	json_t *j = json_loadb(r->body, r->len, 0, &e);

	if (j == NULL)
		fail_msg("body is not JSON: %s", e.text);
	return j;
}

/* ------------------------------------------------ escaping checks */

struct esc {
	const char *type;
	const char *const *links;	/* the only URLs a link may point to */
	size_t nlinks;
};

static void
link_allowed(const struct esc *e, const char *url, size_t len)
{
	size_t i;

	for (i = 0; i < e->nlinks; i++)
		if (strlen(e->links[i]) == len && memcmp(e->links[i], url, len) == 0)
			return;
	fail_msg("%s: a link to %.*s", e->type, (int)len, url);
}

/* The same for a URL written with &amp; (Slack, HTML attributes). */
static void
link_allowed_escaped(const struct esc *e, const char *url, size_t len)
{
	struct buf u = {0};
	size_t i;

	for (i = 0; i < len; i++) {
		buf_addc(&u, url[i]);
		if (len - i >= 5 && strncmp(url + i, "&amp;", 5) == 0)
			i += 4;
	}
	link_allowed(e, u.s != NULL ? u.s : "", u.len);
	buf_free(&u);
}

/* No mention-like "@word" without the ZWSP. */
static void
no_raw_at(const char *type, const char *s)
{
	const char *p;

	for (p = strchr(s, '@'); p != NULL; p = strchr(p + 1, '@'))
		if (strncmp(p + 1, ZWSP, 3) != 0)
			fail_msg("%s: a raw '@' in \"%s\"", type, s);
}

static void
slack_text(const char *s, void *arg)
{
	const struct esc *e = arg;
	const char *p, *end;

	for (p = s; *p != '\0'; p++) {
		if (*p == '&' && strncmp(p, "&amp;", 5) != 0 &&
		    strncmp(p, "&lt;", 4) != 0 && strncmp(p, "&gt;", 4) != 0)
			fail_msg("slack: a raw '&' in \"%s\"", s);
		if (*p == '>')
			continue;
		if (*p != '<')
			continue;
		/* Only <url|label> links to the alert's own link. */
		end = p + 1 + strcspn(p + 1, "|>");
		if (strncmp(p + 1, "http", 4) != 0)
			fail_msg("slack: a raw '<' in \"%s\"", s);
		link_allowed_escaped(e, p + 1, (size_t)(end - p - 1));
	}
}

/* Telegram and Google Chat card HTML: allowed tags and entities only. */
static void
html_text(const char *s, const struct esc *e, const char *const *tags)
{
	const char *p, *q;
	char name[32];
	size_t i, n;

	for (p = s; *p != '\0'; p++) {
		if (*p == '&') {
			if (strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) &&
			    strncmp(p, "&gt;", 4) && strncmp(p, "&quot;", 6))
				fail_msg("%s: a raw '&' in \"%s\"", e->type, s);
			continue;
		}
		if (*p == '>')
			fail_msg("%s: a raw '>' in \"%s\"", e->type, s);
		if (*p != '<')
			continue;
		q = p + 1 + (p[1] == '/');
		n = strspn(q, "abcdefghijklmnopqrstuvwxyz");
		if (n == 0 || n >= sizeof name)
			fail_msg("%s: a raw '<' in \"%s\"", e->type, s);
		memcpy(name, q, n);
		name[n] = '\0';
		for (i = 0; tags[i] != NULL; i++)
			if (strcmp(tags[i], name) == 0)
				break;
		if (tags[i] == NULL)
			fail_msg("%s: tag <%s> in \"%s\"", e->type, name, s);
		if (strncmp(q + n, " href=\"", 7) == 0) {
			const char *u = q + n + 7, *uend = strchr(u, '"');
			assert_non_null(uend);
			link_allowed_escaped(e, u, (size_t)(uend - u));
		}
		if ((p = strchr(p, '>')) == NULL)
			fail_msg("%s: an unclosed tag in \"%s\"", e->type, s);
	}
}

static void
telegram_html(const char *s, void *arg)
{
	static const char *const tags[] = { "b", "a", "blockquote", NULL };

	html_text(s, arg, tags);
}

static void
gchat_card_html(const char *s, void *arg)
{
	static const char *const tags[] = { "b", "a", "br", NULL };

	html_text(s, arg, tags);
}

/* Discord: every markup character in user text is backslashed. */
static void
discord_text(const char *s, void *arg)
{
	const char *p;

	(void)arg;
	no_raw_at("discord", s);
	for (p = s; *p != '\0'; p++) {
		if (*p == '\\') {
			p++;
			if (*p == '\0')
				break;
			continue;
		}
		if (*p == '<' || *p == '[' || *p == ']' || *p == '(' ||
		    *p == '`' || *p == '|')
			fail_msg("discord: a raw '%c' in \"%s\"", *p, s);
	}
}

static void
teams_text(const char *s, void *arg)
{
	(void)arg;
	if (strstr(s, "](") != NULL)
		fail_msg("teams: link syntax in \"%s\"", s);
	if (strstr(s, "<at>") != NULL)
		fail_msg("teams: a mention tag in \"%s\"", s);
}

/* ---------------------------------------------------- type checks */

static void
check_console(const struct sinkfmt_request *r, json_t **alerts, size_t n)
{
	json_error_t e;
	const char *p = r->body;
	size_t i;

	for (i = 0; i < n; i++) {
		size_t len = strcspn(p, "\n");
		json_t *j = json_loadb(p, len, 0, &e);
		assert_non_null(j);
		assert_true(json_equal(j, alerts[i]));
		json_decref(j);
		p += len + (p[len] == '\n');
	}
	assert_int_equal(*p, '\0');
}

static void
check_webhook(const struct sinkfmt_request *r, json_t **alerts, size_t n)
{
	static const char *const keys[] = { "watchlist", "title", "published",
	    "feed", "id" };
	json_t *j = parse(r), *d = json_object_get(j, "data"), *a;
	const char *ts;
	size_t i, k;

	assert_true(r->len < 20000);
	assert_string_equal(str(j, "type"), n == 1 ? "alert" : "alert.digest");
	ts = json_string_value(json_object_get(alerts[0], "published"));
	if (ts != NULL && strlen(ts) > 64)	/* capped */
		assert_true(ends_with(str(j, "timestamp"), ELL));
	else
		assert_string_equal(str(j, "timestamp"), ts != NULL ? ts : "");
	assert_true(json_is_object(d));
	if (n > 1) {
		assert_int_equal(json_integer_value(json_object_get(d, "count")), n);
		assert_true(json_array_size(json_object_get(d, "alerts")) +
		    (size_t)json_integer_value(json_object_get(d, "omitted")) == n);
	}
	for (i = 0; i < (n == 1 ? 1 : json_array_size(json_object_get(d,
	    "alerts"))); i++) {
		a = n == 1 ? d : json_array_get(json_object_get(d, "alerts"), i);
		assert_string_equal(str(a, "alert_id"), str(alerts[i], "alert_id"));
		for (k = 0; k < 5; k++)	/* what the alert has, the data has */
			if (json_object_get(alerts[i], keys[k]) != NULL)
				str(a, keys[k]);
		if (json_object_get(alerts[i], "terms") != NULL)
			assert_true(json_is_array(json_object_get(a, "terms")));
	}
	json_decref(j);
}

static void
check_slack(const struct sinkfmt_request *r, const struct esc *e)
{
	json_t *j = parse(r), *blocks = json_object_get(j, "blocks"), *b, *f;
	size_t i, k;

	assert_true(strlen(str(j, "text")) > 0);
	assert_chars("slack text", str(j, "text"), 3000);
	assert_true(json_is_array(blocks));
	assert_true(json_array_size(blocks) >= 1 && json_array_size(blocks) <= 50);
	json_array_foreach(blocks, i, b) {
		assert_string_equal(str(b, "type"), "section");
		assert_chars("slack section", str(json_object_get(b, "text"),
		    "text"), 3000);
		if ((f = json_object_get(b, "fields")) != NULL) {
			assert_true(json_array_size(f) <= 10);
			for (k = 0; k < json_array_size(f); k++)
				assert_chars("slack field", str(json_array_get(f,
				    k), "text"), 2000);
		}
	}
	strings(j, slack_text, (void *)e);
	json_decref(j);
}

static void
check_discord(const struct sinkfmt_request *r)
{
	json_t *j = parse(r), *embeds = json_object_get(j, "embeds"), *em, *f,
	    *am = json_object_get(j, "allowed_mentions");
	size_t i, k, total = 0;
	const char *s;

	assert_string_equal(r->url_query, "wait=true");
	assert_chars("discord content", str(j, "content"), 2000);
	assert_true(json_is_array(json_object_get(am, "parse")));
	assert_int_equal(json_array_size(json_object_get(am, "parse")), 0);
	assert_true(json_array_size(embeds) >= 1 && json_array_size(embeds) <= 10);
	json_array_foreach(embeds, i, em) {
		s = str(em, "title");
		assert_chars("discord title", s, 256);
		total += utf16(s);
		if (json_object_get(em, "description") != NULL) {
			s = str(em, "description");
			assert_chars("discord description", s, 4096);
			total += utf16(s);
		}
		f = json_object_get(em, "fields");
		assert_true(json_array_size(f) <= 25);
		for (k = 0; k < json_array_size(f); k++) {
			json_t *fk = json_array_get(f, k);
			assert_chars("discord field name", str(fk, "name"), 256);
			assert_chars("discord field value", str(fk, "value"), 1024);
			assert_true(strlen(str(fk, "value")) > 0);
			total += utf16(str(fk, "name")) + utf16(str(fk, "value"));
		}
		if (json_object_get(em, "url") != NULL)
			assert_true(util_is_http_url(str(em, "url")));
		discord_text(str(em, "title"), NULL);
	}
	if (total > 6000)
		fail_msg("discord: embeds hold %zu characters", total);
	json_decref(j);
}

static void
check_mattermost(const struct sinkfmt_request *r, size_t nlinks)
{
	json_t *j = parse(r), *atts = json_object_get(j, "attachments");
	const char *text = str(j, "text"), *p;
	size_t brackets = 0;

	assert_chars("mattermost text", text, 16383);
	assert_true(json_is_array(atts) && json_array_size(atts) == 1);
	str(json_array_get(atts, 0), "fallback");
	if (strchr(text, '<') != NULL)
		fail_msg("mattermost: a raw '<' in \"%s\"", text);
	no_raw_at("mattermost", text);
	for (p = text; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '[')
			brackets++;
	}
	/* Only our own [title](link), one per linked alert. */
	if (brackets > nlinks)
		fail_msg("mattermost: %zu links in \"%s\"", brackets, text);
	json_decref(j);
}

static void
check_teams(const struct sinkfmt_request *r, const struct esc *e)
{
	json_t *j = parse(r), *att, *card;

	assert_true(r->len <= 28000);
	assert_non_null(strstr(r->content_type, "charset=utf-8"));
	assert_string_equal(str(j, "type"), "message");
	att = json_array_get(json_object_get(j, "attachments"), 0);
	assert_string_equal(str(att, "contentType"),
	    "application/vnd.microsoft.card.adaptive");
	card = json_object_get(att, "content");
	assert_string_equal(str(card, "type"), "AdaptiveCard");
	assert_string_equal(str(card, "version"), "1.2");
	assert_true(json_array_size(json_object_get(card, "body")) >= 1);
	strings(card, teams_text, (void *)e);
	json_decref(j);
}

static void
check_gchat(const struct sinkfmt_request *r, const struct esc *e)
{
	json_t *j = parse(r), *cards = json_object_get(j, "cardsV2"), *card,
	    *sec, *w, *x;
	const char *text = str(j, "text"), *p, *k;
	size_t i, m;

	assert_true(r->len <= 32000);
	assert_non_null(r->url_query);
	assert_true(strncmp(r->url_query, "requestId=", 10) == 0);
	for (p = strchr(text, '<'); p != NULL; p = strchr(p + 1, '<'))
		if (strncmp(p + 1, ZWSP, 3) != 0)
			fail_msg("google-chat: a raw '<' in \"%s\"", text);
	assert_int_equal(json_array_size(cards), 1);
	card = json_object_get(json_array_get(cards, 0), "card");
	str(json_object_get(card, "header"), "title");
	json_array_foreach(json_object_get(card, "sections"), i, sec) {
		if (json_object_get(sec, "header") != NULL)
			gchat_card_html(str(sec, "header"), (void *)e);
		json_array_foreach(json_object_get(sec, "widgets"), m, w) {
			json_object_foreach(w, k, x) {
				if (strcmp(k, "textParagraph") == 0 ||
				    strcmp(k, "decoratedText") == 0)
					gchat_card_html(str(x, "text"), (void *)e);
			}
		}
	}
	json_decref(j);
}

/* Telegram's count: tags gone, entities one unit, UTF-16 units. */
static size_t
telegram_visible(const char *s)
{
	struct buf b = {0};
	const char *p;
	size_t n;

	for (p = s; *p != '\0'; p++) {
		if (*p == '<') {
			p = strchr(p, '>');
			continue;
		}
		if (*p == '&') {
			buf_addc(&b, 'e');
			p = strchr(p, ';');
			continue;
		}
		buf_addc(&b, *p);
	}
	n = b.s != NULL ? utf16(b.s) : 0;
	buf_free(&b);
	return n;
}

static void
check_telegram(const struct sinkfmt_request *r, const struct esc *e)
{
	json_t *j = parse(r), *lp = json_object_get(j, "link_preview_options");
	const char *text = str(j, "text");
	struct buf plain = {0};
	const char *p;

	assert_string_equal(str(j, "chat_id"), "-1001234567890");
	assert_string_equal(str(j, "parse_mode"), "HTML");
	assert_true(json_is_true(json_object_get(lp, "is_disabled")));
	if (telegram_visible(text) == 0 || telegram_visible(text) > 4096)
		fail_msg("telegram: %zu characters", telegram_visible(text));
	telegram_html(text, (void *)e);
	for (p = text; *p != '\0'; p++) {	/* '@' outside tags */
		if (*p == '<')
			p = strchr(p, '>');
		else
			buf_addc(&plain, *p);
	}
	if (plain.s != NULL)
		no_raw_at("telegram", plain.s);
	buf_free(&plain);
	json_decref(j);
}

static const char *
header_of(const struct sinkfmt_request *r, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < r->nheaders; i++)
		if (strncmp(r->headers[i], name, n) == 0 &&
		    strncmp(r->headers[i] + n, ": ", 2) == 0)
			return r->headers[i] + n + 2;
	return NULL;
}

static void
check_ntfy(const struct sinkfmt_request *r)
{
	const char *h, *names[] = { "Title", "Tags", "Priority" };
	const unsigned char *p;
	size_t i;

	assert_true(r->len <= 4096);
	assert_true(strncmp(r->content_type, "text/plain", 10) == 0);
	for (i = 0; i < 3; i++)
		if ((h = header_of(r, names[i])) == NULL || h[0] == '\0')
			fail_msg("ntfy: no %s header", names[i]);
	assert_string_equal(header_of(r, "Priority"), "4");
	for (i = 0; i < r->nheaders; i++)
		for (p = (const unsigned char *)r->headers[i]; *p != '\0'; p++)
			if (*p < 0x20 || *p >= 0x7f)
				fail_msg("ntfy: header \"%s\" is not plain ASCII",
				    r->headers[i]);
	if ((h = header_of(r, "Click")) != NULL)
		assert_true(util_is_http_url(h));
}

/* Renders alerts for every type and runs that type's checks. */
static void
check_all(const char *cas, json_t **alerts, size_t n)
{
	struct sinkfmt_request r;
	const char *links[16];
	struct esc e = { NULL, links, 0 };
	size_t i, k;
	char *u;

	for (i = 0; i < n && i < 16; i++)
		if ((u = sinkfmt_url(json_string_value(json_object_get(alerts[i],
		    "link")))) != NULL)
			links[e.nlinks++] = u;
	for (k = 0; k < NALL; k++) {
		e.type = sinkfmt_type_name(ALL[k]);
		render(ALL[k], cas, alerts, n, &r);
		switch (ALL[k]) {
		case SINKFMT_CONSOLE:
			check_console(&r, alerts, n);
			break;
		case SINKFMT_WEBHOOK:
			check_webhook(&r, alerts, n);
			break;
		case SINKFMT_SLACK:
			check_slack(&r, &e);
			break;
		case SINKFMT_DISCORD:
			check_discord(&r);
			break;
		case SINKFMT_MATTERMOST:
			check_mattermost(&r, e.nlinks);
			break;
		case SINKFMT_TEAMS:
			check_teams(&r, &e);
			break;
		case SINKFMT_GOOGLE_CHAT:
			check_gchat(&r, &e);
			break;
		case SINKFMT_TELEGRAM:
			check_telegram(&r, &e);
			break;
		case SINKFMT_NTFY:
			check_ntfy(&r);
			break;
		}
		sinkfmt_request_free(&r);
	}
	for (i = 0; i < e.nlinks; i++)
		free((char *)links[i]);
}

/* ------------------------------------------------------------ tests */

static void
test_names(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < NALL; k++)
		assert_int_equal(sinkfmt_type_by_name(sinkfmt_type_name(ALL[k])),
		    (int)ALL[k]);
	assert_string_equal(sinkfmt_type_name(SINKFMT_GOOGLE_CHAT), "google-chat");
	assert_int_equal(sinkfmt_type_by_name("google_chat"), SINKFMT_GOOGLE_CHAT);
	assert_int_equal(sinkfmt_type_by_name("Slack"), -1);
	assert_int_equal(sinkfmt_type_by_name(""), -1);
	assert_int_equal(sinkfmt_type_by_name(NULL), -1);
	assert_string_equal(sinkfmt_type_name((enum sinkfmt_type)42), "?");
}

static void
test_truncate(void **state)
{
	char *s;

	(void)state;
	/* A flag is two regional indicators: never split. */
	s = sinkfmt_truncate("ab\xf0\x9f\x87\xb0\xf0\x9f\x87\xb5" "cd", 5,
	    SINKFMT_UTF16);
	assert_string_equal(s, "ab" ELL);
	free(s);
	s = sinkfmt_truncate("ab\xf0\x9f\x87\xb0\xf0\x9f\x87\xb5" "cd", 7,
	    SINKFMT_UTF16);
	assert_string_equal(s, "ab\xf0\x9f\x87\xb0\xf0\x9f\x87\xb5" ELL);
	free(s);
	/* A ZWJ family stays whole. */
	s = sinkfmt_truncate("x\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"
	    "\xe2\x80\x8d\xf0\x9f\x91\xa7y", 6, SINKFMT_UTF16);
	assert_string_equal(s, "x" ELL);
	free(s);
	/* A letter keeps its combining mark. */
	s = sinkfmt_truncate("ae\xcc\x81" "bcd", 3, SINKFMT_UTF16);
	assert_string_equal(s, "a" ELL);
	free(s);
	/* Bytes: never inside a sequence; trailing spaces go. */
	s = sinkfmt_truncate("\xe7\x95\x8c\xe7\x95\x8c\xe7\x95\x8c", 7,
	    SINKFMT_BYTES);
	assert_string_equal(s, "\xe7\x95\x8c" ELL);
	free(s);
	s = sinkfmt_truncate("one two three", 9, SINKFMT_UTF16);
	assert_string_equal(s, "one two" ELL);
	free(s);
	/* Fits: unchanged; no room even for the ellipsis: empty. */
	s = sinkfmt_truncate("fits", 4, SINKFMT_UTF16);
	assert_string_equal(s, "fits");
	free(s);
	s = sinkfmt_truncate("abc", 0, SINKFMT_UTF16);
	assert_string_equal(s, "");
	free(s);
	s = sinkfmt_truncate("abcdef", 2, SINKFMT_BYTES);
	assert_string_equal(s, "");
	free(s);
	/* One cluster longer than the budget: code points, still valid. */
	s = sinkfmt_truncate("a\xcc\x81\xcc\x81\xcc\x81\xcc\x81\xcc\x81", 4,
	    SINKFMT_UTF16);
	assert_string_equal(s, "a\xcc\x81\xcc\x81" ELL);
	free(s);
	assert_int_equal(sinkfmt_measures("a\xf0\x9f\x98\x80\xce\xa9",
	    SINKFMT_UTF16), 4);
	assert_int_equal(sinkfmt_measures("a\xf0\x9f\x98\x80\xce\xa9",
	    SINKFMT_BYTES), 7);
}

static void
test_marked(void **state)
{
	static const struct sinkfmt_markup m = { sinkfmt_esc_html, "<b>", "</b>" };
	struct buf b = {0};

	(void)state;
	sinkfmt_add_marked(&b, "a [[x&y]] b [[c", 100, SINKFMT_UTF16, &m);
	assert_string_equal(b.s, "a <b>x&amp;y</b> b [[c");
	buf_reset(&b);
	/* Cut inside a hit: the markup is closed, then the ellipsis. */
	sinkfmt_add_marked(&b, "ab [[treaty]] cd", 6, SINKFMT_UTF16, &m);
	assert_string_equal(b.s, "ab <b>tr</b>" ELL);
	buf_reset(&b);
	sinkfmt_add_marked(&b, "[[]]x", 10, SINKFMT_UTF16, &m);
	assert_string_equal(b.s, "x");
	buf_free(&b);
}

static void
test_escapers(void **state)
{
	struct buf b = {0};

	(void)state;
	sinkfmt_esc_slack(&b, "<!channel> & \"x\"", 16);
	assert_string_equal(b.s, "&lt;!channel&gt; &amp; \"x\"");
	buf_reset(&b);
	sinkfmt_esc_discord(&b, "@everyone [a](b) *c*", 20);
	assert_string_equal(b.s, "@" ZWSP "everyone \\[a\\]\\(b\\) \\*c\\*");
	buf_reset(&b);
	sinkfmt_esc_mattermost(&b, "<x|y> @all 1.", 13);
	assert_string_equal(b.s, "&lt;x\\|y&gt; @" ZWSP "all 1\\.");
	buf_reset(&b);
	sinkfmt_esc_teams(&b, "[a](b) <at>", 11);
	assert_string_equal(b.s, "[a]" ZWSP "(b) <" ZWSP "at>");
	buf_reset(&b);
	sinkfmt_esc_gchat(&b, "<users/all>", 11);
	assert_string_equal(b.s, "<" ZWSP "users/all>");
	buf_reset(&b);
	sinkfmt_esc_telegram(&b, "<b>@x&</b>", 10);
	assert_string_equal(b.s, "&lt;b&gt;@" ZWSP "x&amp;&lt;/b&gt;");
	buf_free(&b);
}

static void
test_url(void **state)
{
	char *u;

	(void)state;
	assert_null(sinkfmt_url("javascript:alert(1)"));
	assert_null(sinkfmt_url("ftp://example.org/"));
	assert_null(sinkfmt_url("https://user@evil.example/"));
	assert_null(sinkfmt_url("https://ex%61mple.org/"));
	assert_null(sinkfmt_url("https:///path"));
	assert_null(sinkfmt_url(NULL));
	u = sinkfmt_url("https://example.org:8443/a (b)/[c]|<d>\"e\xc3\xa9?q=1#f");
	assert_string_equal(u, "https://example.org:8443/a%20%28b%29/%5Bc%5D%7C"
	    "%3Cd%3E%22e%C3%A9?q=1#f");
	free(u);
	u = sinkfmt_url("http://[::1]:80/x");
	assert_string_equal(u, "http://[::1]:80/x");
	free(u);
	u = sinkfmt_url(QNA_LINK);
	assert_string_equal(u, QNA_LINK);
	free(u);
}

static void
test_seed(void **state)
{
	json_t *a = seed();
	struct sinkfmt_request r;
	json_t *j;

	(void)state;
	check_all("seed", &a, 1);

	/* Readable in each markup: linked title, marked hits, the terms. */
	render(SINKFMT_SLACK, "seed", &a, 1, &r);
	assert_non_null(strstr(r.body, "<https://www.qna.org.qa/"));
	assert_non_null(strstr(r.body, "*Russia* mutual defense *treaty*"));
	assert_non_null(strstr(r.body, "2025-07-13 06:41 UTC"));
	sinkfmt_request_free(&r);
	render(SINKFMT_DISCORD, "seed", &a, 1, &r);
	j = parse(&r);
	assert_string_equal(str(json_array_get(json_object_get(j, "embeds"), 0),
	    "url"), QNA_LINK);
	assert_string_equal(str(json_array_get(json_object_get(j, "embeds"), 0),
	    "timestamp"), "2025-07-13T06:41:00Z");
	assert_non_null(strstr(r.body, "**Russia** mutual defense **treaty**"));
	json_decref(j);
	sinkfmt_request_free(&r);
	render(SINKFMT_TELEGRAM, "seed", &a, 1, &r);
	assert_non_null(strstr(r.body, "<b>Russia</b> mutual defense <b>treaty</b>"));
	assert_non_null(strstr(r.body, "<a href=\\\"https://www.qna.org.qa/"));
	sinkfmt_request_free(&r);
	render(SINKFMT_TEAMS, "seed", &a, 1, &r);
	assert_non_null(strstr(r.body, "**Russia** mutual defense **treaty**"));
	assert_non_null(strstr(r.body, "\"Action.OpenUrl\""));
	sinkfmt_request_free(&r);
	render(SINKFMT_MATTERMOST, "seed", &a, 1, &r);
	assert_non_null(strstr(r.body, "\\\\. Korean leader"));
	assert_non_null(strstr(r.body, "](https://www.qna.org.qa/"));
	sinkfmt_request_free(&r);
	render(SINKFMT_GOOGLE_CHAT, "seed", &a, 1, &r);
	assert_string_equal(r.url_query,
	    "requestId=al_0123456789abcdef0123456789abcdef");
	assert_non_null(strstr(r.body, "<b>Russia</b> mutual defense <b>treaty</b>"));
	sinkfmt_request_free(&r);
	render(SINKFMT_NTFY, "seed", &a, 1, &r);
	assert_string_equal(header_of(&r, "Title"), "treaty: " "N. Korean leader "
	    "reaffirms unconditional support for Russia in Ukraine war");
	assert_string_equal(header_of(&r, "Tags"), "newspaper,treaty,Russia");
	assert_string_equal(header_of(&r, "Click"), QNA_LINK);
	assert_non_null(strstr(r.body, "*Russia* mutual defense *treaty*"));
	sinkfmt_request_free(&r);
	render(SINKFMT_WEBHOOK, "seed", &a, 1, &r);
	j = parse(&r);
	/* Fits as is: the data is the alert, explain included. */
	assert_true(json_equal(json_object_get(j, "data"), a));
	json_decref(j);
	sinkfmt_request_free(&r);
	json_decref(a);
}

static void
test_big(void **state)
{
	json_t *a = big(), *j, *em;
	struct sinkfmt_request r;
	const char *s;

	(void)state;
	check_all("big", &a, 1);

	/* Cut, on a boundary, with the ellipsis, in each unit. */
	render(SINKFMT_DISCORD, "big", &a, 1, &r);
	j = parse(&r);
	em = json_array_get(json_object_get(j, "embeds"), 0);
	assert_true(ends_with(str(em, "title"), ELL));
	assert_true(ends_with(str(em, "description"), ELL));
	assert_true(utf16(str(em, "description")) > 3000);	/* not over-cut */
	json_decref(j);
	sinkfmt_request_free(&r);
	render(SINKFMT_WEBHOOK, "big", &a, 1, &r);
	j = parse(&r);
	s = str(json_object_get(j, "data"), "title");
	assert_true(ends_with(s, ELL));
	assert_true(json_is_true(json_object_get(json_object_get(j, "data"),
	    "truncated")));
	assert_null(json_object_get(json_object_get(j, "data"), "explain"));
	assert_true(r.len > 15000);	/* the snippet fills what is left */
	json_decref(j);
	sinkfmt_request_free(&r);
	render(SINKFMT_TEAMS, "big", &a, 1, &r);
	assert_non_null(strstr(r.body, ELL "\""));	/* the title */
	assert_true(r.len > 14000);	/* all of the snippet fits */
	sinkfmt_request_free(&r);
	render(SINKFMT_TELEGRAM, "big", &a, 1, &r);
	j = parse(&r);
	assert_true(telegram_visible(str(j, "text")) > 3500);
	assert_non_null(strstr(str(j, "text"), ELL "</a>"));
	json_decref(j);
	sinkfmt_request_free(&r);
	render(SINKFMT_NTFY, "big", &a, 1, &r);
	assert_true(r.len > 3500);
	assert_non_null(strstr(header_of(&r, "Title"), "=?UTF-8?B?"));
	sinkfmt_request_free(&r);
	json_decref(a);
}

static void
test_hostile(void **state)
{
	json_t *a = hostile(), *m = markup(), *p;
	struct sinkfmt_request r;

	(void)state;
	check_all("hostile", &a, 1);
	check_all("markup", &m, 1);
	p = pathological();
	check_all("pathological", &p, 1);
	json_decref(p);

	render(SINKFMT_SLACK, "hostile", &a, 1, &r);
	assert_non_null(strstr(r.body, "&lt;script&gt;"));
	assert_non_null(strstr(r.body, "&lt;!channel&gt;"));
	assert_null(strstr(r.body, "<https://evil.example"));
	sinkfmt_request_free(&r);
	render(SINKFMT_GOOGLE_CHAT, "hostile", &a, 1, &r);
	assert_null(strstr(r.body, "<users/all>"));
	assert_non_null(strstr(r.body, "&lt;users/all&gt;"));	/* card */
	sinkfmt_request_free(&r);
	/* The javascript: link is never linked, anywhere. */
	render(SINKFMT_TELEGRAM, "markup", &m, 1, &r);
	assert_null(strstr(r.body, "href=\\\"javascript"));
	sinkfmt_request_free(&r);
	render(SINKFMT_NTFY, "markup", &m, 1, &r);
	assert_null(header_of(&r, "Click"));
	assert_null(strchr(r.body, '\r'));
	assert_non_null(strstr(r.body, "qna second line"));
	sinkfmt_request_free(&r);
	json_decref(a);
	json_decref(m);
}

/* Decodes an RFC 2047 B header value (the words we write) for checking. */
static char *
rfc2047(const char *v)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf b = {0};
	const char *p = v, *e;
	unsigned long acc = 0;
	int bits = 0;

	while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
		p += 10;
		e = strstr(p, "?=");
		assert_non_null(e);
		assert_true(e - p + 12 <= 75);	/* RFC 2047 word length */
		for (acc = 0, bits = 0; p < e && *p != '='; p++) {
			acc = acc << 6 | (unsigned long)(strchr(tab, *p) - tab);
			if ((bits += 6) >= 8) {
				bits -= 8;
				buf_addc(&b, (char)(acc >> bits & 0xff));
			}
		}
		p = e + 2;
	}
	return buf_steal(&b);
}

static void
test_rtl(void **state)
{
	json_t *a = rtl();
	struct sinkfmt_request r;
	char *title;

	(void)state;
	check_all("rtl", &a, 1);
	render(SINKFMT_NTFY, "rtl", &a, 1, &r);
	title = rfc2047(header_of(&r, "Title"));
	/* Decoded: watchlist, title, the RLO/PDF controls removed. */
	assert_non_null(strstr(title, "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91"
	    "\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d end"));
	assert_true(strncmp(title, "\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a: ", 10) == 0);
	assert_true(util_utf8_valid(title, strlen(title)));
	free(title);
	assert_null(strstr(r.body, "\xe2\x80\xae"));
	sinkfmt_request_free(&r);
	render(SINKFMT_DISCORD, "rtl", &a, 1, &r);
	assert_null(strstr(r.body, "\xe2\x80\xae"));
	assert_null(strstr(r.body, "\xe2\x80\xac"));
	assert_non_null(strstr(r.body, "\xf0\x9f\x87\xb0\xf0\x9f\x87\xb5"));
	sinkfmt_request_free(&r);
	json_decref(a);
}

static void
test_digest(void **state)
{
	json_t *seeds[12], *bigs[10], *mixed[10], *j;
	struct sinkfmt_request r;
	char id[40];
	size_t i;

	(void)state;
	for (i = 0; i < 12; i++) {
		seeds[i] = seed();
		snprintf(id, sizeof id, "al_%032zu", i);
		json_object_set_new(seeds[i], "alert_id", json_string(id));
	}
	for (i = 0; i < 10; i++)
		bigs[i] = big();
	for (i = 0; i < 10; i++)
		mixed[i] = i % 5 == 0 ? hostile() : i % 5 == 1 ? rtl() :
		    i % 5 == 2 ? markup() : i % 5 == 3 ? pathological() : big();
	check_all("digest", seeds, 10);
	check_all("digest-big", bigs, 10);
	check_all("digest-mixed", mixed, 10);

	/* Ten seed alerts fit whole everywhere. */
	render(SINKFMT_DISCORD, "digest", seeds, 10, &r);
	j = parse(&r);
	assert_int_equal(json_array_size(json_object_get(j, "embeds")), 10);
	assert_null(strstr(r.body, "not shown"));
	json_decref(j);
	sinkfmt_request_free(&r);
	render(SINKFMT_TELEGRAM, "digest", seeds, 10, &r);
	assert_non_null(strstr(r.body, "10 alerts"));
	assert_null(strstr(r.body, "not shown"));
	sinkfmt_request_free(&r);
	render(SINKFMT_SLACK, "digest", seeds, 10, &r);
	assert_null(strstr(r.body, "not shown"));
	sinkfmt_request_free(&r);
	render(SINKFMT_NTFY, "digest", seeds, 10, &r);
	assert_string_equal(header_of(&r, "Title"), "wirewatch: 10 alerts");
	sinkfmt_request_free(&r);
	render(SINKFMT_WEBHOOK, "digest", seeds, 10, &r);
	j = parse(&r);
	assert_int_equal(json_array_size(json_object_get(json_object_get(j,
	    "data"), "alerts")), 10);
	json_decref(j);
	sinkfmt_request_free(&r);
	/* Discord carries 10 embeds: the 11th and 12th are counted. */
	render(SINKFMT_DISCORD, "digest12", seeds, 12, &r);
	assert_non_null(strstr(r.body, "and 2 more alerts not shown"));
	sinkfmt_request_free(&r);
	/* Google Chat: a stable requestId for the same digest. */
	render(SINKFMT_GOOGLE_CHAT, "digest", seeds, 10, &r);
	assert_true(strncmp(r.url_query, "requestId=dg_", 13) == 0);
	sinkfmt_request_free(&r);

	for (i = 0; i < 12; i++)
		json_decref(seeds[i]);
	for (i = 0; i < 10; i++) {
		json_decref(bigs[i]);
		json_decref(mixed[i]);
	}
}

/*
 * How many alerts r's text says were left out: the webhook envelope's
 * "omitted", elsewhere the K of "…and K more alert(s) not shown" (0
 * when there is no such line).
 */
static size_t
said_omitted(enum sinkfmt_type t, const struct sinkfmt_request *r)
{
	const char *p, *q;
	json_t *j;
	size_t k = 0, c;

	if (t == SINKFMT_WEBHOOK) {
		j = parse(r);
		k = (size_t)json_integer_value(json_object_get(json_object_get(j,
		    "data"), "omitted"));
		json_decref(j);
		return k;
	}
	/* Some formats say it twice (a fallback text): the same K. */
	for (p = r->body; (p = strstr(p, ELL "and ")) != NULL; p = q) {
		p += strlen(ELL "and ");
		for (c = 0, q = p; *q >= '0' && *q <= '9'; q++)
			c = c * 10 + (size_t)(*q - '0');
		assert_true(q > p);
		assert_true(strncmp(q, " more alert", 11) == 0);
		if (k != 0 && c != k)
			fail_msg("%s: says both %zu and %zu not shown",
			    sinkfmt_type_name(t), k, c);
		k = c;
	}
	return k;
}

/* Renders alerts[0..n) as t, not dumped, and checks r->shown. */
static size_t
shown(enum sinkfmt_type t, json_t **alerts, size_t n)
{
	struct sinkfmt_request r;
	size_t k;

	no_dump = 1;
	render(t, "shown", alerts, n, &r);
	no_dump = 0;
	k = said_omitted(t, &r);
	if (r.shown < 1 || r.shown > n || r.shown != n - k)
		fail_msg("%s: %zu of %zu alerts shown, but the text leaves out "
		    "%zu", sinkfmt_type_name(t), r.shown, n, k);
	if (t == SINKFMT_WEBHOOK && n > 1) {
		json_t *j = parse(&r);
		assert_int_equal(json_array_size(json_object_get(
		    json_object_get(j, "data"), "alerts")), r.shown);
		json_decref(j);
	}
	k = r.shown;
	sinkfmt_request_free(&r);
	return k;
}

/*
 * sinkfmt_request.shown agrees with what the message says: n for a
 * single alert and for a digest that fits, n - K when a digest that
 * does not fit says K were left out.  Console has no limit and always
 * shows all.
 */
static void
test_shown(void **state)
{
	enum { NBIG = 80 };
	json_t *one[1], *seeds[12], *bigs[NBIG];
	char id[40];
	size_t i, t, k;

	(void)state;
	one[0] = seed();
	for (i = 0; i < 12; i++) {
		seeds[i] = seed();
		snprintf(id, sizeof id, "al_%032zu", i);
		json_object_set_new(seeds[i], "alert_id", json_string(id));
	}
	for (i = 0; i < NBIG; i++) {
		bigs[i] = big();
		snprintf(id, sizeof id, "al_big%zu", i);
		json_object_set_new(bigs[i], "alert_id", json_string(id));
	}
	for (t = 0; t < NALL; t++) {
		assert_int_equal(shown(ALL[t], one, 1), 1);
		assert_int_equal(shown(ALL[t], bigs, 1), 1);
		shown(ALL[t], seeds, 10);
		shown(ALL[t], seeds, 12);
		k = shown(ALL[t], bigs, NBIG);
		if (ALL[t] == SINKFMT_CONSOLE)
			assert_int_equal(k, NBIG);
		else if (k >= NBIG)
			fail_msg("%s: a digest of %d big alerts shows all of "
			    "them", sinkfmt_type_name(ALL[t]), NBIG);
	}
	json_decref(one[0]);
	for (i = 0; i < 12; i++)
		json_decref(seeds[i]);
	for (i = 0; i < NBIG; i++)
		json_decref(bigs[i]);
}

static void
test_errors(void **state)
{
	json_t *a = seed(), *notobj = json_string("x");
	const json_t *list[2] = { a, notobj };
	struct sinkfmt_request r;
	struct sinkfmt_opts none = { NULL, 0 };
	char err[256];

	(void)state;
	assert_int_equal(sinkfmt_render(SINKFMT_TELEGRAM, &none,
	    (const json_t *const *)&a, 1, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "chat-id"));
	assert_null(r.body);
	assert_int_equal(sinkfmt_render(SINKFMT_SLACK, NULL, list, 0, &r, err,
	    sizeof err), -1);
	assert_int_equal(sinkfmt_render(SINKFMT_SLACK, NULL, list, 2, &r, err,
	    sizeof err), -1);
	assert_string_equal(err, "slack: alert 2 is not a JSON object");
	assert_int_equal(sinkfmt_render((enum sinkfmt_type)99, NULL, list, 1, &r,
	    err, sizeof err), -1);
	sinkfmt_request_free(&r);
	sinkfmt_request_free(NULL);
	/*
	 * An alert with nothing but an id (outside the schema, so the
	 * receivers would refuse the webhook's copy) still renders everywhere.
	 */
	json_decref(a);
	a = json_pack("{s:s}", "alert_id", "al_x");
	no_dump = 1;
	check_all("empty", &a, 1);
	no_dump = 0;
	json_decref(a);
	json_decref(notobj);
}

/* Telegram story threads: reply_parameters on a single alert only. */
static void
test_telegram_reply(void **state)
{
	struct sinkfmt_opts o = { "-1001234567890", 42 };
	struct sinkfmt_request r;
	json_t *v[2], *j, *rp;
	char err[256] = "";

	(void)state;
	v[0] = seed();
	v[1] = seed();
	memset(&r, 0, sizeof r);
	assert_int_equal(sinkfmt_render(SINKFMT_TELEGRAM, &o,
	    (const json_t *const *)v, 1, &r, err, sizeof err), 0);
	j = parse(&r);
	rp = json_object_get(j, "reply_parameters");
	assert_true(json_is_object(rp) && json_object_size(rp) == 2);
	assert_int_equal(json_integer_value(json_object_get(rp, "message_id")),
	    42);
	assert_true(json_is_true(json_object_get(rp,
	    "allow_sending_without_reply")));
	json_decref(j);
	sinkfmt_request_free(&r);
	/* a digest replies to nothing */
	assert_int_equal(sinkfmt_render(SINKFMT_TELEGRAM, &o,
	    (const json_t *const *)v, 2, &r, err, sizeof err), 0);
	j = parse(&r);
	assert_null(json_object_get(j, "reply_parameters"));
	json_decref(j);
	sinkfmt_request_free(&r);
	/* no reply_to: a plain message */
	o.reply_to = 0;
	assert_int_equal(sinkfmt_render(SINKFMT_TELEGRAM, &o,
	    (const json_t *const *)v, 1, &r, err, sizeof err), 0);
	j = parse(&r);
	assert_null(json_object_get(j, "reply_parameters"));
	json_decref(j);
	sinkfmt_request_free(&r);
	json_decref(v[0]);
	json_decref(v[1]);

#define MID(s) sinkfmt_telegram_message_id(s, strlen(s))
	assert_true(MID("{\"ok\":true,\"result\":{\"message_id\":"
	    "9007199254740991,\"date\":1}}") == 9007199254740991LL);
	assert_true(MID("{\"ok\":true,\"result\":{\"message_id\":7}}") == 7);
	assert_true(MID("{\"ok\":false,\"result\":{\"message_id\":7}}") == 0);
	assert_true(MID("{\"ok\":true,\"result\":{\"message_id\":\"7\"}}") == 0);
	assert_true(MID("{\"ok\":true,\"result\":{\"message_id\":-3}}") == 0);
	assert_true(MID("{\"ok\":true,\"result\":true}") == 0);
	assert_true(MID("not json") == 0);
	assert_true(sinkfmt_telegram_message_id(NULL, 0) == 0);
#undef MID
}

static void
test_responses(void **state)
{
	static const char discord[] = "{\"message\": \"You are being rate "
	    "limited.\", \"retry_after\": 0.35, \"global\": false}";
	static const char telegram[] = "{\"ok\":false,\"error_code\":429,"
	    "\"description\":\"Too Many Requests: retry after 7\","
	    "\"parameters\":{\"retry_after\":7}}";

	(void)state;
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_DISCORD, discord,
	    strlen(discord)), 350);
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_TELEGRAM, telegram,
	    strlen(telegram)), 7000);
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_SLACK, discord,
	    strlen(discord)), 0);
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_DISCORD, telegram,
	    strlen(telegram)), 0);
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_DISCORD, "ratelimited",
	    11), 0);
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_DISCORD,
	    "{\"retry_after\":-1}", 18), 0);
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_DISCORD,
	    "{\"retry_after\":\"5\"}", 19), 0);
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_DISCORD,
	    "{\"retry_after\":1e300}", 21), 86400000);
	assert_int_equal(sinkfmt_retry_after_ms(SINKFMT_DISCORD, NULL, 0), 0);
	assert_int_equal(sinkfmt_gone(SINKFMT_SLACK, 410), 1);
	assert_int_equal(sinkfmt_gone(SINKFMT_NTFY, 410), 1);
	assert_int_equal(sinkfmt_gone(SINKFMT_DISCORD, 404), 1);
	assert_int_equal(sinkfmt_gone(SINKFMT_SLACK, 404), 0);
	assert_int_equal(sinkfmt_gone(SINKFMT_TELEGRAM, 404), 0);
	assert_int_equal(sinkfmt_gone(SINKFMT_DISCORD, 400), 0);
	assert_int_equal(sinkfmt_gone(SINKFMT_DISCORD, 200), 0);
}

/* Response headers for sinkfmt_pause_after_ms: NULL-terminated pairs. */
static const char *
headers_get(const void *ctx, const char *name)
{
	const char *const *h = ctx;

	for (; h[0] != NULL; h += 2)
		if (strcasecmp(h[0], name) == 0)
			return h[1];
	return NULL;
}

static long
pause_of(enum sinkfmt_type t, const char *const *h)
{
	return sinkfmt_pause_after_ms(t, headers_get, h);
}

static void
test_rate_headers(void **state)
{
	/* What a Discord webhook answers (topics/rate-limits, header format). */
	static const char *const used_up[] = { "X-RateLimit-Limit", "5",
	    "X-RateLimit-Remaining", "0", "X-RateLimit-Reset",
	    "1470173023.123", "X-RateLimit-Reset-After", "1.250",
	    "X-RateLimit-Bucket", "abcd1234", NULL };
	static const char *const left[] = { "x-ratelimit-limit", "5",
	    "x-ratelimit-remaining", "3", "x-ratelimit-reset-after", "1.25",
	    NULL };
	static const char *const lower[] = { "x-ratelimit-remaining", " 0 ",
	    "x-ratelimit-reset-after", "0.3501", NULL };
	static const char *const no_reset[] = { "X-RateLimit-Remaining", "0",
	    NULL };
	static const char *const bad_after[] = { "X-RateLimit-Remaining", "0",
	    "X-RateLimit-Reset-After", "1e3", NULL };
	static const char *const huge[] = { "X-RateLimit-Remaining", "0",
	    "X-RateLimit-Reset-After", "9999999999999999999999", NULL };
	static const char *const none[] = { NULL };
	const char *by_reset[] = { "X-RateLimit-Remaining", "0",
	    "X-RateLimit-Reset", NULL, NULL };
	char reset[64];
	long ms;

	(void)state;
	/* Reset-After wins over Reset (a date long past here). */
	assert_int_equal(pause_of(SINKFMT_DISCORD, used_up), 1250);
	assert_int_equal(pause_of(SINKFMT_DISCORD, left), 0);
	assert_int_equal(pause_of(SINKFMT_DISCORD, lower), 351);
	assert_int_equal(pause_of(SINKFMT_DISCORD, no_reset), 0);
	assert_int_equal(pause_of(SINKFMT_DISCORD, huge), 86400000);
	assert_int_equal(pause_of(SINKFMT_DISCORD, none), 0);
	/* Not a plain number of seconds, and no Reset either: no hold. */
	assert_int_equal(pause_of(SINKFMT_DISCORD, bad_after), 0);
	/* Without Reset-After: Reset, a Unix time, against the clock. */
	snprintf(reset, sizeof reset, "%lld.500", (long long)time(NULL) + 3);
	by_reset[3] = reset;
	ms = pause_of(SINKFMT_DISCORD, by_reset);
	assert_true(ms > 2400 && ms <= 3500);
	snprintf(reset, sizeof reset, "%lld", (long long)time(NULL) - 10);
	assert_int_equal(pause_of(SINKFMT_DISCORD, by_reset), 0);
	/* Only types that read such headers. */
	assert_int_equal(pause_of(SINKFMT_SLACK, used_up), 0);
	assert_int_equal(pause_of(SINKFMT_WEBHOOK, used_up), 0);
	assert_int_equal(sinkfmt_pause_after_ms(SINKFMT_DISCORD, NULL, NULL), 0);

	assert_int_equal(sinkfmt_header_ms("2"), 2000);
	assert_int_equal(sinkfmt_header_ms("0.35"), 350);
	assert_int_equal(sinkfmt_header_ms("0.0001"), 1);
	assert_int_equal(sinkfmt_header_ms(".5"), 500);
	assert_int_equal(sinkfmt_header_ms("5."), 5000);
	assert_int_equal(sinkfmt_header_ms("\t0\t"), 0);
	assert_true(sinkfmt_header_ms("1470173023.123") == 1470173023123LL);
	assert_int_equal(sinkfmt_header_ms(NULL), -1);
	assert_int_equal(sinkfmt_header_ms(""), -1);
	assert_int_equal(sinkfmt_header_ms("."), -1);
	assert_int_equal(sinkfmt_header_ms("-1"), -1);
	assert_int_equal(sinkfmt_header_ms("1.2.3"), -1);
	assert_int_equal(sinkfmt_header_ms("0x10"), -1);
	assert_int_equal(sinkfmt_header_ms("inf"), -1);
	assert_int_equal(sinkfmt_header_ms("2 s"), -1);
	assert_int_equal(sinkfmt_hint_ms(-5), 0);
	assert_int_equal(sinkfmt_hint_ms(86400001), 86400000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_marked),
		cmocka_unit_test(test_escapers),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_big),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_rtl),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_shown),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_telegram_reply),
		cmocka_unit_test(test_rate_headers),
	};

	return cmocka_run_group_tests_name("sinkfmt", tests, NULL, NULL);
}
