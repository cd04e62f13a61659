/*
 * sinkfmt_ntfy.c - ntfy: the message as a plain text body, with Title,
 * Tags, Priority and Click headers.
 *
 * Sources:
 *  - docs.ntfy.sh/publish: PUT/POST the message as the body; headers
 *    X-Title/Title/t, X-Tags/Tags/tag/ta (comma-separated; a tag that
 *    names an emoji shortcode shows as that emoji), X-Priority/Priority/
 *    prio/p (1-5 or min, low, default, high, max/urgent), X-Click/Click;
 *    #limitations: messages are limited to 4,096 bytes.
 *  - binwiederhier/ntfy server/server.go (handlePublishBody): a body
 *    over the message limit, or not valid UTF-8, is stored as an
 *    attachment instead of the message, or refused where attachments
 *    are off (400, code 40014 "invalid request: attachments not
 *    allowed"); so the body stays within 4,096 bytes of UTF-8.
 *  - server/util.go (maybeDecodeHeader): header values are decoded as
 *    RFC 2047 encoded-words (mime.WordDecoder), the only way to carry
 *    non-ASCII in an HTTP header; a Priority of the form "u=N[, i]"
 *    (RFC 9218) is ignored, so ours is a plain digit.
 *
 * Header values are single-line (no CR/LF can reach them); one that is
 * not plain ASCII, or that holds "=?", is sent as RFC 2047 B
 * encoded-words of at most 75 characters each (RFC 2047 section 2),
 * split on character boundaries and separated by spaces, which decoders
 * drop between adjacent encoded-words (section 6.2).
 *
 * Hits are *starred* in the plain text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define BODY_MAX 4096	/* bytes */
#define TITLE_HEADER_MAX 200	/* UTF-16 units of the Title header */
#define TITLE_MAX 300
#define DIGEST_TITLE_MAX 150
#define LABEL_MAX 100
#define TAG_MAX 60
#define WORD_BYTES 45	/* 45 bytes -> 60 base64 chars -> 72-char word */
#define DIGEST_SNIPPET 200
#define TERMS_EMAX 1000	/* bytes */
#define PRIORITY "4"	/* high: an analyst wants to see it now */

static const struct sinkfmt_markup star = { sinkfmt_esc_none, "*", "*" };
static const struct sinkfmt_markup unmarked = { sinkfmt_esc_none, "", "" };

struct ntfy {
	struct sinkfmt_alert *v;
	size_t n;
	int sc;			/* cap scale of this attempt */
	struct buf body;
};

/* The value as an RFC 2047 header value when it needs to be one. */
static char *
header_value(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b = {0};
	size_t i, len = strlen(s), start, end;
	utf8proc_int32_t cp;
	utf8proc_ssize_t n;
	int plain = strstr(s, "=?") == NULL;

	for (i = 0; i < len && plain; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f)
			plain = 0;
	if (plain)
		return xstrdup(s);
	for (start = 0; start < len; start = end) {
		/* The longest run of whole characters within WORD_BYTES. */
		for (end = start; end < len; end += (size_t)n) {
			n = utf8proc_iterate(p + end,
			    (utf8proc_ssize_t)(len - end), &cp);
			if (n <= 0)
				n = 1;
			if (end + (size_t)n - start > WORD_BYTES)
				break;
		}
		if (end == start)	/* cannot happen */
			end = start + 1;
		if (b.len > 0)
			buf_addc(&b, ' ');
		buf_adds(&b, "=?UTF-8?B?");
		sinkfmt_add_base64(&b, s + start, end - start);
		buf_adds(&b, "?=");
	}
	return buf_steal(&b);
}

static void
header(struct sinkfmt_request *r, const char *name, struct buf *b)
{
	char *v = header_value(b->s != NULL ? b->s : "");

	sinkfmt_header(r, name, v);
	free(v);
	buf_free(b);
}

/* 1 when the comma-separated list b already holds tag t. */
static int
has_tag(const struct buf *b, const char *t)
{
	const char *p = b->s != NULL ? b->s : "", *e;
	size_t n = strlen(t);

	for (; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		if ((size_t)(e - p) == n && memcmp(p, t, n) == 0)
			return 1;
	}
	return 0;
}

/* A tag: a single-line name without commas (ntfy's separator), once. */
static void
add_tag(struct buf *b, const char *s)
{
	char *t = sinkfmt_truncate(s, TAG_MAX, SINKFMT_UTF16), *c;

	for (c = t; *c != '\0'; c++)
		if (*c == ',')
			*c = ' ';
	if (t[0] != '\0' && !has_tag(b, t)) {
		if (b->len > 0)
			buf_addc(b, ',');
		buf_adds(b, t);
	}
	free(t);
}

static int
ntfy_try(void *arg, size_t m, size_t budget, int sc)
{
	struct ntfy *t = arg;
	struct buf *b = &t->body;
	const struct sinkfmt_alert *a;
	const char *link;
	size_t i;

	t->sc = sc;
	buf_reset(b);
	if (t->n == 1) {
		a = &t->v[0];
		sinkfmt_add(b, a->title, sinkfmt_cap(TITLE_MAX, sc),
		    SINKFMT_UTF16, sinkfmt_esc_none);
		buf_addc(b, '\n');
		sinkfmt_add_meta(b, a, sinkfmt_cap(LABEL_MAX, sc), &unmarked);
		if (a->snippet[0] != '\0' && budget > 0) {
			buf_adds(b, "\n\n");
			sinkfmt_add_marked(b, a->snippet, budget, SINKFMT_BYTES,
			    &star);
		}
		if (a->nterms > 0) {
			buf_adds(b, "\n\nMatched: ");
			sinkfmt_add_terms(b, a, ", ", SINKFMT_BYTES, &star, sc,
			    TERMS_EMAX);
		}
		if ((link = sinkfmt_link(a, sc)) != NULL) {
			buf_addc(b, '\n');
			buf_adds(b, link);
		}
	} else {
		for (i = 0; i < m; i++) {
			a = &t->v[i];
			if (i > 0)
				buf_adds(b, "\n\n");
			buf_adds(b, "\xe2\x80\xa2 ");
			sinkfmt_add(b, a->title,
			    sinkfmt_cap(DIGEST_TITLE_MAX, sc), SINKFMT_UTF16,
			    sinkfmt_esc_none);
			buf_adds(b, "\n  ");
			sinkfmt_add_meta(b, a, sinkfmt_cap(LABEL_MAX, sc),
			    &unmarked);
			if (a->snippet[0] != '\0' && budget > 0) {
				buf_adds(b, "\n  ");
				sinkfmt_add_marked(b, a->snippet, budget,
				    SINKFMT_BYTES, &star);
			}
			if ((link = sinkfmt_link(a, sc)) != NULL) {
				buf_adds(b, "\n  ");
				buf_adds(b, link);
			}
		}
		if (m < t->n) {
			buf_adds(b, "\n\n");
			sinkfmt_add_omitted(b, t->n - m);
		}
	}
	return b->len <= BODY_MAX;
}

static int
ntfy_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct ntfy t = {0};
	struct buf h = {0};
	size_t i, m;
	int rc = -1;

	(void)o;
	t.n = n;
	t.v = sinkfmt_alerts_load(alerts, n);
	if ((m = sinkfmt_fit(ntfy_try, &t, n, sinkfmt_snippet_budget(t.v, n,
	    DIGEST_SNIPPET))) == 0) {
		snprintf(err, errlen, "ntfy: the alert does not fit");
		goto out;
	}
	out->len = t.body.len;
	out->body = buf_steal(&t.body);
	out->content_type = xstrdup("text/plain; charset=utf-8");
	out->shown = m;

	if (n == 1) {
		sinkfmt_add(&h, t.v[0].watchlist, LABEL_MAX, SINKFMT_UTF16,
		    sinkfmt_esc_none);
		buf_adds(&h, ": ");
		sinkfmt_add(&h, t.v[0].title, TITLE_HEADER_MAX, SINKFMT_UTF16,
		    sinkfmt_esc_none);
	} else {
		buf_adds(&h, "wirewatch: ");
		sinkfmt_add_count(&h, n);
	}
	header(out, "Title", &h);
	/* An emoji, the watchlists, then the first alert's terms. */
	buf_adds(&h, "newspaper");
	for (i = 0; i < n && i < 5; i++)
		add_tag(&h, t.v[i].watchlist);
	for (i = 0; i < t.v[0].nterms && i < 5; i++)
		add_tag(&h, t.v[0].terms[i]);
	header(out, "Tags", &h);
	buf_adds(&h, PRIORITY);
	header(out, "Priority", &h);
	for (i = 0; i < n; i++)
		if (t.v[i].link != NULL) {
			buf_adds(&h, t.v[i].link);
			header(out, "Click", &h);
			break;
		}
	rc = 0;
out:
	buf_free(&t.body);
	sinkfmt_alerts_free(t.v, n);
	return rc;
}

const struct sinkfmt_type_ops sinkfmt_ntfy_ops = {
	"ntfy", ntfy_render, NULL, 0, NULL, 0
};
