/*
 * sinkfmt_slack.c - Slack incoming webhooks: "text" always (it is what
 * notifications and some mobile views show) plus Block Kit blocks.
 *
 * Sources (Slack API documentation):
 *  - api.slack.com/messaging/webhooks: a JSON body with "text" and
 *    optionally "blocks"; when blocks are present, text is the fallback
 *    for notifications.
 *  - api.slack.com/reference/surfaces/formatting#escaping: &, < and >
 *    are the only control characters; replace them with &amp;, &lt;
 *    and &gt; and do not HTML-encode anything else.  That also keeps
 *    <!channel>, <!here>, <@U...> and <url|label> in user text from
 *    pinging or linking: they need a raw '<'.
 *  - api.slack.com/reference/block-kit/blocks#section: section "text"
 *    at most 3,000 characters, "fields" at most 10 of 2,000 each; a
 *    message holds at most 50 blocks.
 *  - api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-
 *    webhooks: a refused payload is a 400 with a short body such as
 *    "invalid_payload" (and "no_text", "invalid_blocks").
 *
 * Hits are *bold* (mrkdwn); the snippet is a "> " quote.  Characters
 * are counted in UTF-16 units after escaping, so "&amp;" counts 5: never
 * less than Slack counts.  The top-level text is kept to 3,000 too
 * (Slack itself truncates beyond 40,000; a long fallback helps nobody).
 */
#include <stdlib.h>
#include <string.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define SLACK_TEXT_MAX 3000	/* section text, and our cap for "text" */
#define SLACK_FIELD_MAX 2000	/* a section field */
#define SLACK_BLOCKS_MAX 50
#define TITLE_MAX 300		/* units of a title in one alert */
#define DIGEST_TITLE_MAX 150
#define LABEL_MAX 100		/* watchlist and feed names */
#define DIGEST_SNIPPET 280	/* snippet units per alert in a digest */

static const struct sinkfmt_markup bold = { sinkfmt_esc_slack, "*", "*" };

struct slack {
	struct sinkfmt_alert *v;
	size_t n;
	int sc;			/* cap scale of this attempt */
	json_t *msg;
};

static size_t
cap(const struct slack *s, size_t max)
{
	return sinkfmt_cap(max, s->sc);
}

static void
name(struct buf *b, const struct slack *s, const char *text)
{
	sinkfmt_add(b, text, cap(s, LABEL_MAX), SINKFMT_UTF16,
	    sinkfmt_esc_slack);
}

/*
 * <url|title>, or the title alone when there is nothing to link.  The
 * URL is escaped too ('&' in a query as &amp;), as Slack writes links.
 */
static void
title_link(struct buf *b, const struct slack *s, const struct sinkfmt_alert *a,
    size_t max)
{
	const char *link = sinkfmt_link(a, s->sc);

	if (link != NULL) {
		buf_addc(b, '<');
		sinkfmt_esc_slack(b, link, strlen(link));
		buf_addc(b, '|');
	}
	sinkfmt_add(b, a->title, cap(s, max), SINKFMT_UTF16, sinkfmt_esc_slack);
	if (link != NULL)
		buf_addc(b, '>');
}

/*
 * "*watchlist*SEP<url|title>\nfeed · time", the quoted snippet and the
 * matched terms: the fallback text of one alert, a digest's section.
 */
static void
summary(struct buf *b, const struct slack *s, const struct sinkfmt_alert *a,
    const char *sep, size_t title_max, size_t budget)
{
	buf_addc(b, '*');
	name(b, s, a->watchlist);
	buf_addc(b, '*');
	buf_adds(b, sep);
	title_link(b, s, a, title_max);
	buf_addc(b, '\n');
	name(b, s, a->feed);
	buf_adds(b, " \xc2\xb7 ");
	name(b, s, a->when);
	if (a->snippet[0] != '\0' && budget > 0) {
		buf_adds(b, "\n>");
		sinkfmt_add_marked(b, a->snippet, budget, SINKFMT_UTF16,
		    &bold);
	}
	if (a->nterms > 0) {
		buf_adds(b, "\nMatched: ");
		sinkfmt_add_terms(b, a, ", ", SINKFMT_UTF16, &bold, s->sc,
		    SLACK_FIELD_MAX);
	}
}

/* Appends a section block of b's mrkdwn (b is emptied); 0 when over max. */
static int
section(json_t *blocks, struct buf *b, size_t max)
{
	json_t *blk = sinkfmt_object(), *text = sinkfmt_object();
	int ok = sinkfmt_measure(b->s, b->len, SINKFMT_UTF16) <= max;

	sinkfmt_set(text, "type", sinkfmt_str("mrkdwn"));
	sinkfmt_set(text, "text", sinkfmt_strbuf(b));
	sinkfmt_set(blk, "type", sinkfmt_str("section"));
	sinkfmt_set(blk, "text", text);
	sinkfmt_append(blocks, blk);
	return ok;
}

/* A mrkdwn section field "*label*\nvalue" of b's text (emptied). */
static json_t *
mrkdwn_field(const char *label, struct buf *b, int *ok)
{
	json_t *f = sinkfmt_object();
	struct buf t = {0};

	buf_addf(&t, "*%s*\n", label);
	buf_add(&t, b->s != NULL ? b->s : "", b->len);
	buf_free(b);
	if (sinkfmt_measure(t.s, t.len, SINKFMT_UTF16) > SLACK_FIELD_MAX)
		*ok = 0;
	sinkfmt_set(f, "type", sinkfmt_str("mrkdwn"));
	sinkfmt_set(f, "text", sinkfmt_strbuf(&t));
	return f;
}

/* One alert: a section with the linked title and four fields, a quote. */
static int
one(struct slack *s, json_t *blocks, const struct sinkfmt_alert *a,
    size_t budget)
{
	json_t *sec = sinkfmt_object(), *text = sinkfmt_object(),
	    *fields = sinkfmt_array();
	struct buf b = {0};
	int ok = 1;

	buf_addc(&b, '*');
	title_link(&b, s, a, TITLE_MAX);
	buf_addc(&b, '*');
	ok &= sinkfmt_measure(b.s, b.len, SINKFMT_UTF16) <= SLACK_TEXT_MAX;
	sinkfmt_set(text, "type", sinkfmt_str("mrkdwn"));
	sinkfmt_set(text, "text", sinkfmt_strbuf(&b));
	name(&b, s, a->watchlist);
	sinkfmt_append(fields, mrkdwn_field("Watchlist", &b, &ok));
	name(&b, s, a->feed);
	sinkfmt_append(fields, mrkdwn_field("Feed", &b, &ok));
	name(&b, s, a->when);
	sinkfmt_append(fields, mrkdwn_field("Published", &b, &ok));
	sinkfmt_add_terms(&b, a, ", ", SINKFMT_UTF16, &bold, s->sc,
	    SLACK_FIELD_MAX - 20);
	sinkfmt_append(fields, mrkdwn_field("Matched", &b, &ok));
	sinkfmt_set(sec, "type", sinkfmt_str("section"));
	sinkfmt_set(sec, "text", text);
	sinkfmt_set(sec, "fields", fields);
	sinkfmt_append(blocks, sec);
	if (a->snippet[0] != '\0' && budget > 0) {
		buf_addc(&b, '>');
		sinkfmt_add_marked(&b, a->snippet, budget, SINKFMT_UTF16,
		    &bold);
		ok &= section(blocks, &b, SLACK_TEXT_MAX);
	}
	return ok;
}

static int
slack_try(void *arg, size_t m, size_t budget, int sc)
{
	struct slack *s = arg;
	json_t *msg = sinkfmt_object(), *blocks = sinkfmt_array();
	struct buf text = {0}, b = {0};
	const struct sinkfmt_alert *a;
	int ok = 1;
	size_t i;

	s->sc = sc;
	if (s->n == 1) {
		a = &s->v[0];
		summary(&text, s, a, ": ", TITLE_MAX, budget);
		ok &= one(s, blocks, a, budget);
	} else {
		buf_addc(&b, '*');
		sinkfmt_add_count(&b, s->n);
		buf_addc(&b, '*');
		if (m < s->n) {
			buf_adds(&b, " (");
			sinkfmt_add_omitted(&b, s->n - m);
			buf_addc(&b, ')');
		}
		buf_add(&text, b.s, b.len);
		ok &= section(blocks, &b, SLACK_TEXT_MAX);
		for (i = 0; i < m; i++) {
			a = &s->v[i];
			buf_adds(&text, "\n\xe2\x80\xa2 *");
			name(&text, s, a->watchlist);
			buf_adds(&text, "*: ");
			title_link(&text, s, a, DIGEST_TITLE_MAX);

			summary(&b, s, a, " \xc2\xb7 ", DIGEST_TITLE_MAX,
			    budget);
			ok &= section(blocks, &b, SLACK_TEXT_MAX);
		}
	}
	ok &= sinkfmt_measure(text.s, text.len, SINKFMT_UTF16) <=
	    SLACK_TEXT_MAX;
	ok &= json_array_size(blocks) <= SLACK_BLOCKS_MAX;
	sinkfmt_set(msg, "text", sinkfmt_strbuf(&text));
	sinkfmt_set(msg, "blocks", blocks);
	sinkfmt_set(msg, "unfurl_links", json_false());
	sinkfmt_set(msg, "unfurl_media", json_false());
	json_decref(s->msg);
	s->msg = msg;
	return ok;
}

static int
slack_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct slack s = {0};
	int rc;

	(void)o;
	s.n = n;
	s.v = sinkfmt_alerts_load(alerts, n);
	rc = sinkfmt_fit_dump("slack", slack_try, &s, n,
	    sinkfmt_snippet_budget(s.v, n, DIGEST_SNIPPET), &s.msg, out, err,
	    errlen);
	json_decref(s.msg);
	sinkfmt_alerts_free(s.v, n);
	return rc;
}

const struct sinkfmt_type_ops sinkfmt_slack_ops = {
	"slack", slack_render, NULL, 0, NULL, 0
};
