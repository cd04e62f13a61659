/*
 * sinkfmt_google_chat.c - Google Chat incoming webhooks: "text" (what
 * notifications show) plus one card in "cardsV2", and the alert id as
 * the requestId query parameter so a retried POST finds the message it
 * already created instead of posting it twice.
 *
 * Sources (developers.google.com/workspace/chat):
 *  - quickstart/webhooks: a webhook POSTs a Message as JSON to the space
 *    URL (which carries key and token in its query); text and/or cardsV2.
 *  - create-messages: "The maximum message size, including any text or
 *    cards, is 32,000 bytes."  The whole JSON body is kept within that.
 *  - api/reference/rest/v1/spaces.messages/create: query parameter
 *    requestId, "Specifying an existing request ID returns the message
 *    created with that ID instead of creating a new message."
 *  - format-messages: message text uses *bold*, _italic_, ~strike~,
 *    `code`, <url|label> links and <users/ID>, <users/all> mentions; card
 *    text (textParagraph, decoratedText, section headers) is an HTML
 *    subset: <b>, <i>, <u>, <s>, <font color>, <a href>, <br>.
 *  - Message text shows entities literally (librenms/librenms issue
 *    18234: "&gt;" displayed as such), so text is not entity-escaped: a
 *    ZWSP after every '<' breaks <users/all> and <url|label> instead.
 *    Card text is HTML-escaped.
 *  - Errors come as {"error": {"code": 400, "message": ..., "status":
 *    "INVALID_ARGUMENT"}} (the Google API error model).
 *
 * Hits are <b>bold</b> in the card.  Sizes are in bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define BODY_MAX 32000	/* bytes */
#define TITLE_MAX 300	/* UTF-16 units, as elsewhere; bytes are checked */
#define TEXT_TITLE_MAX 200
#define DIGEST_TITLE_MAX 150
#define LABEL_MAX 100
#define DIGEST_SNIPPET 280
#define TERMS_EMAX 2000
#define REQUEST_ID_MAX 64

static const struct sinkfmt_markup bold = { sinkfmt_esc_html, "<b>", "</b>" };

struct gchat {
	struct sinkfmt_alert *v;
	size_t n;
	int sc;			/* cap scale of this attempt */
	char *body;
	size_t len;
};

/* {"KIND": {"text": b}} plus, for decoratedText, a top label. */
static json_t *
widget(const char *kind, const char *label, struct buf *b)
{
	json_t *w = sinkfmt_object(), *in = sinkfmt_object();

	if (label != NULL)
		sinkfmt_set(in, "topLabel", sinkfmt_str(label));
	sinkfmt_set(in, "text", sinkfmt_strbuf(b));
	if (strcmp(kind, "decoratedText") == 0)
		sinkfmt_set(in, "wrapText", json_true());
	sinkfmt_set(w, kind, in);
	return w;
}

static json_t *
button(const char *url)
{
	json_t *w = sinkfmt_object(), *list = sinkfmt_object(),
	    *buttons = sinkfmt_array(), *bt = sinkfmt_object(),
	    *click = sinkfmt_object(), *link = sinkfmt_object();

	sinkfmt_set(link, "url", sinkfmt_str(url));
	sinkfmt_set(click, "openLink", link);
	sinkfmt_set(bt, "text", sinkfmt_str("Open article"));
	sinkfmt_set(bt, "onClick", click);
	sinkfmt_append(buttons, bt);
	sinkfmt_set(list, "buttons", buttons);
	sinkfmt_set(w, "buttonList", list);
	return w;
}

static size_t
cap(const struct gchat *g, size_t max)
{
	return sinkfmt_cap(max, g->sc);
}

/* <a href="link">title</a>, or the title alone. */
static void
title_link(struct buf *b, const struct gchat *g, const struct sinkfmt_alert *a,
    size_t max)
{
	const char *link = sinkfmt_link(a, g->sc);

	if (link != NULL) {
		buf_adds(b, "<a href=\"");
		sinkfmt_esc_html(b, link, strlen(link));
		buf_adds(b, "\">");
	}
	sinkfmt_add(b, a->title, cap(g, max), SINKFMT_UTF16, sinkfmt_esc_html);
	if (link != NULL)
		buf_adds(b, "</a>");
}

/* The header subtitle is plain text; a digest's section header is HTML. */
static const struct sinkfmt_markup plain_meta = { sinkfmt_esc_gchat, "", "" };
static const struct sinkfmt_markup html_meta = { sinkfmt_esc_html, "", "" };

static json_t *
single(const struct gchat *g, const struct sinkfmt_alert *a, size_t budget)
{
	json_t *card = sinkfmt_object(), *header = sinkfmt_object(),
	    *sections = sinkfmt_array(), *section = sinkfmt_object(),
	    *widgets = sinkfmt_array();
	const char *link = sinkfmt_link(a, g->sc);
	struct buf b = {0};

	/*
	 * Header title and subtitle are plain text: the ZWSP after '<' keeps
	 * them literal even if a client were to read them as HTML.
	 */
	sinkfmt_add(&b, a->title, cap(g, TITLE_MAX), SINKFMT_UTF16,
	    sinkfmt_esc_gchat);
	if (b.len == 0)
		buf_adds(&b, SINKFMT_ELLIPSIS);
	sinkfmt_set(header, "title", sinkfmt_strbuf(&b));
	sinkfmt_add_meta(&b, a, cap(g, LABEL_MAX), &plain_meta);
	sinkfmt_set(header, "subtitle", sinkfmt_strbuf(&b));
	if (a->snippet[0] != '\0' && budget > 0) {
		sinkfmt_add_marked(&b, a->snippet, budget, SINKFMT_UTF16,
		    &bold);
		sinkfmt_append(widgets, widget("textParagraph", NULL, &b));
	}
	if (a->nterms > 0) {
		sinkfmt_add_terms(&b, a, ", ", SINKFMT_UTF16, &bold, g->sc,
		    TERMS_EMAX);
		sinkfmt_append(widgets, widget("decoratedText", "Matched", &b));
	}
	if (link != NULL)
		sinkfmt_append(widgets, button(link));
	else {
		sinkfmt_add(&b, a->title, cap(g, TITLE_MAX), SINKFMT_UTF16,
		    sinkfmt_esc_html);
		if (b.len == 0)
			buf_adds(&b, SINKFMT_ELLIPSIS);
		sinkfmt_append(widgets, widget("decoratedText", "Title", &b));
	}
	sinkfmt_set(section, "widgets", widgets);
	sinkfmt_append(sections, section);
	sinkfmt_set(card, "header", header);
	sinkfmt_set(card, "sections", sections);
	return card;
}

static json_t *
digest(const struct gchat *g, size_t m, size_t budget)
{
	json_t *card = sinkfmt_object(), *header = sinkfmt_object(),
	    *sections = sinkfmt_array(), *s, *w;
	const struct sinkfmt_alert *a;
	struct buf b = {0};
	size_t i;

	sinkfmt_add_count(&b, g->n);
	sinkfmt_set(header, "title", sinkfmt_strbuf(&b));
	for (i = 0; i < m; i++) {
		a = &g->v[i];
		s = sinkfmt_object();
		w = sinkfmt_array();
		sinkfmt_add_meta(&b, a, cap(g, LABEL_MAX), &html_meta);
		sinkfmt_set(s, "header", sinkfmt_strbuf(&b));
		title_link(&b, g, a, DIGEST_TITLE_MAX);
		if (b.len == 0)
			buf_adds(&b, SINKFMT_ELLIPSIS);
		sinkfmt_append(w, widget("decoratedText", NULL, &b));
		if (a->snippet[0] != '\0' && budget > 0) {
			sinkfmt_add_marked(&b, a->snippet, budget,
			    SINKFMT_UTF16, &bold);
			if (a->nterms > 0)
				buf_adds(&b, "<br>");
		}
		if (a->nterms > 0) {
			buf_adds(&b, "Matched: ");
			sinkfmt_add_terms(&b, a, ", ", SINKFMT_UTF16, &bold,
			    g->sc, TERMS_EMAX);
		}
		if (b.len > 0)
			sinkfmt_append(w, widget("textParagraph", NULL, &b));
		sinkfmt_set(s, "widgets", w);
		sinkfmt_append(sections, s);
	}
	if (m < g->n) {
		s = sinkfmt_object();
		w = sinkfmt_array();
		sinkfmt_add_omitted(&b, g->n - m);
		sinkfmt_append(w, widget("textParagraph", NULL, &b));
		sinkfmt_set(s, "widgets", w);
		sinkfmt_append(sections, s);
	}
	sinkfmt_set(card, "header", header);
	sinkfmt_set(card, "sections", sections);
	return card;
}

static int
gchat_try(void *arg, size_t m, size_t budget, int sc)
{
	struct gchat *g = arg;
	json_t *msg = sinkfmt_object(), *cards = sinkfmt_array(),
	    *c = sinkfmt_object();
	struct buf b = {0};

	g->sc = sc;
	buf_addc(&b, '*');
	if (g->n == 1) {
		sinkfmt_add(&b, g->v[0].watchlist, cap(g, LABEL_MAX),
		    SINKFMT_UTF16, sinkfmt_esc_gchat);
		buf_adds(&b, "*: ");
		sinkfmt_add(&b, g->v[0].title, cap(g, TEXT_TITLE_MAX),
		    SINKFMT_UTF16, sinkfmt_esc_gchat);
	} else {
		sinkfmt_add_count(&b, g->n);
		buf_adds(&b, "*: ");
		sinkfmt_add_watchlists(&b, g->v, m, ", ", cap(g, LABEL_MAX),
		    sinkfmt_esc_gchat);
	}
	sinkfmt_set(msg, "text", sinkfmt_strbuf(&b));
	sinkfmt_set(c, "cardId", sinkfmt_str(g->n == 1 ? "alert" : "digest"));
	sinkfmt_set(c, "card", g->n == 1 ? single(g, &g->v[0], budget) :
	    digest(g, m, budget));
	sinkfmt_append(cards, c);
	sinkfmt_set(msg, "cardsV2", cards);
	g->len = sinkfmt_serialize(msg, &g->body);
	return g->body != NULL && g->len <= BODY_MAX;
}

static int
gchat_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct gchat g = {0};
	struct buf q = {0};
	char id[36];
	size_t m;
	int rc = -1;

	(void)o;
	g.n = n;
	g.v = sinkfmt_alerts_load(alerts, n);
	if ((m = sinkfmt_fit(gchat_try, &g, n, sinkfmt_snippet_budget(g.v, n,
	    DIGEST_SNIPPET))) == 0) {
		snprintf(err, errlen, "google-chat: the alert does not fit");
		goto out;
	}
	sinkfmt_give_body(out, &g.body, g.len,
	    "application/json; charset=utf-8");
	out->shown = m;
	/* Alert ids are "al_" and 32 hex digits; anything longer is hashed. */
	buf_adds(&q, "requestId=");
	if (n == 1 && strlen(g.v[0].alert_id) <= REQUEST_ID_MAX &&
	    g.v[0].alert_id[0] != '\0')
		sinkfmt_add_urlencoded(&q, g.v[0].alert_id);
	else {
		sinkfmt_digest_id(g.v, n, id);
		sinkfmt_add_urlencoded(&q, id);
	}
	/*
	 * One thread per story: the first alert opens it, later items reply
	 * in it (threadKey = story id; a new thread if the key is unknown).
	 */
	if (n == 1 && json_is_string(json_object_get(json_object_get(alerts[0], "story"), "id"))) {
		buf_adds(&q, "&threadKey=");
		sinkfmt_add_urlencoded(&q, json_string_value(json_object_get(
		    json_object_get(alerts[0], "story"), "id")));
		buf_adds(&q, "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
	}
	out->url_query = buf_steal(&q);
	rc = 0;
out:
	free(g.body);
	sinkfmt_alerts_free(g.v, n);
	return rc;
}

const struct sinkfmt_type_ops sinkfmt_google_chat_ops = {
	"google-chat", gchat_render, NULL, 0, NULL, 0
};
