/*
 * sinkfmt_teams.c - Microsoft Teams through a Workflows ("When a Teams
 * webhook request is received") webhook: a message whose one attachment
 * is an Adaptive Card 1.2.
 *
 * Sources (learn.microsoft.com/microsoftteams/platform):
 *  - webhooks-and-connectors/how-to/connectors-using: Workflows take
 *    Adaptive Cards only, posted as {"type": "message", "attachments":
 *    [{"contentType": "application/vnd.microsoft.card.adaptive",
 *    "content": {...}}]}; the Office 365 connectors (webhook.office.com)
 *    are retired; a webhook message is limited to about 28 KB.
 *  - task-modules-and-cards/cards/cards-format: Adaptive Card text in
 *    Teams is Markdown only (bold, italic, lists, [text](url) links); no
 *    HTML.  Mentions need <at> tags plus msteams entities, which are
 *    never sent, so no text can mention anyone.
 *  - adaptivecards.io/explorer: TextBlock (text, wrap, size, weight,
 *    isSubtle), FactSet (facts of title and value), Container (items,
 *    separator, selectAction), Action.OpenUrl (title, url); all in 1.2.
 *  - Backslash escapes show literally on some Teams clients
 *    (microsoft/AdaptiveCards issues 5590, 7474), so user text is not
 *    backslash-escaped; "](" gets a ZWSP inside, which stops a disguised
 *    link, and titles are never inside link syntax: the title's
 *    Container opens the link (selectAction).
 *  - Without a charset the webhook service measures the body as UTF-16,
 *    halving what fits (a report quoted on techqa.club, "MS Teams webhook
 *    returns error 413 on small messages"), hence "charset=utf-8".
 *
 * Hits are **bold**.  The body is kept within 28,000 bytes.  The
 * Workflows endpoint answers 202 and may drop a card it cannot post, so
 * the card uses only long-supported 1.2 elements.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define BODY_MAX 28000	/* bytes */
#define TITLE_MAX 300
#define DIGEST_TITLE_MAX 150
#define LABEL_MAX 100
#define DIGEST_SNIPPET 280
#define TERMS_EMAX 2000

static const struct sinkfmt_markup bold = { sinkfmt_esc_teams, "**", "**" };

struct teams {
	struct sinkfmt_alert *v;
	size_t n;
	int sc;			/* cap scale of this attempt */
	char *body;
	size_t len;
};

/* A wrapping TextBlock of b's text (emptied); style is "title", "small". */
static json_t *
textblock(struct buf *b, const char *style)
{
	json_t *t = sinkfmt_object();

	sinkfmt_set(t, "type", sinkfmt_str("TextBlock"));
	sinkfmt_set(t, "text", sinkfmt_strbuf(b));
	sinkfmt_set(t, "wrap", json_true());
	if (strcmp(style, "title") == 0) {
		sinkfmt_set(t, "size", sinkfmt_str("Medium"));
		sinkfmt_set(t, "weight", sinkfmt_str("Bolder"));
	} else if (strcmp(style, "small") == 0) {
		sinkfmt_set(t, "size", sinkfmt_str("Small"));
		sinkfmt_set(t, "isSubtle", json_true());
	}
	return t;
}

static json_t *
open_url(const char *title, const char *url)
{
	json_t *a = sinkfmt_object();

	sinkfmt_set(a, "type", sinkfmt_str("Action.OpenUrl"));
	if (title != NULL)
		sinkfmt_set(a, "title", sinkfmt_str(title));
	sinkfmt_set(a, "url", sinkfmt_str(url));
	return a;
}

static void
fact(json_t *facts, const char *title, struct buf *b)
{
	json_t *f = sinkfmt_object();

	if (b->len == 0)
		buf_adds(b, "\xe2\x80\x94");
	sinkfmt_set(f, "title", sinkfmt_str(title));
	sinkfmt_set(f, "value", sinkfmt_strbuf(b));
	sinkfmt_append(facts, f);
}

static void
name(struct buf *b, const struct teams *t, const char *text)
{
	sinkfmt_add(b, text, sinkfmt_cap(LABEL_MAX, t->sc), SINKFMT_UTF16,
	    sinkfmt_esc_teams);
}

/* The title in a Container that opens the link when clicked. */
static json_t *
title_container(const struct teams *t, const struct sinkfmt_alert *a,
    size_t max)
{
	json_t *c = sinkfmt_object(), *items = sinkfmt_array();
	const char *link = sinkfmt_link(a, t->sc);
	struct buf b = {0};

	sinkfmt_add(&b, a->title, sinkfmt_cap(max, t->sc), SINKFMT_UTF16,
	    sinkfmt_esc_teams);
	if (b.len == 0)
		buf_adds(&b, SINKFMT_ELLIPSIS);
	sinkfmt_append(items, textblock(&b, "title"));
	sinkfmt_set(c, "type", sinkfmt_str("Container"));
	sinkfmt_set(c, "items", items);
	if (link != NULL)
		sinkfmt_set(c, "selectAction", open_url(NULL, link));
	return c;
}

static void
single(const struct teams *t, json_t *body, json_t *actions,
    const struct sinkfmt_alert *a, size_t budget)
{
	json_t *fs = sinkfmt_object(), *facts = sinkfmt_array();
	const char *link = sinkfmt_link(a, t->sc);
	struct buf b = {0};

	name(&b, t, a->watchlist);
	if (b.len == 0)
		buf_adds(&b, SINKFMT_ELLIPSIS);
	sinkfmt_append(body, textblock(&b, "small"));
	sinkfmt_append(body, title_container(t, a, TITLE_MAX));
	name(&b, t, a->feed);
	fact(facts, "Feed", &b);
	name(&b, t, a->when);
	fact(facts, "Published", &b);
	if (a->nterms > 0) {
		sinkfmt_add_terms(&b, a, ", ", SINKFMT_UTF16, &bold, t->sc,
		    TERMS_EMAX);
		fact(facts, "Matched", &b);
	}
	sinkfmt_set(fs, "type", sinkfmt_str("FactSet"));
	sinkfmt_set(fs, "facts", facts);
	sinkfmt_append(body, fs);
	if (a->snippet[0] != '\0' && budget > 0) {
		sinkfmt_add_marked(&b, a->snippet, budget, SINKFMT_UTF16,
		    &bold);
		sinkfmt_append(body, textblock(&b, ""));
	}
	if (link != NULL)
		sinkfmt_append(actions, open_url("Open article", link));
}

static json_t *
digest_item(const struct teams *t, const struct sinkfmt_alert *a,
    size_t budget)
{
	json_t *c = sinkfmt_object(), *items = sinkfmt_array();
	struct buf b = {0};

	sinkfmt_add_meta(&b, a, sinkfmt_cap(LABEL_MAX, t->sc), &bold);
	sinkfmt_append(items, textblock(&b, "small"));
	sinkfmt_append(items, title_container(t, a, DIGEST_TITLE_MAX));
	if (a->snippet[0] != '\0' && budget > 0) {
		sinkfmt_add_marked(&b, a->snippet, budget, SINKFMT_UTF16,
		    &bold);
		sinkfmt_append(items, textblock(&b, ""));
	}
	sinkfmt_set(c, "type", sinkfmt_str("Container"));
	sinkfmt_set(c, "separator", json_true());
	sinkfmt_set(c, "items", items);
	return c;
}

static int
teams_try(void *arg, size_t m, size_t budget, int sc)
{
	struct teams *t = arg;
	json_t *msg = sinkfmt_object(), *atts = sinkfmt_array(),
	    *att = sinkfmt_object(), *card = sinkfmt_object(),
	    *body = sinkfmt_array(), *actions = sinkfmt_array();
	struct buf b = {0};
	size_t i;

	t->sc = sc;
	if (t->n == 1)
		single(t, body, actions, &t->v[0], budget);
	else {
		sinkfmt_add_count(&b, t->n);
		sinkfmt_append(body, textblock(&b, "title"));
		for (i = 0; i < m; i++)
			sinkfmt_append(body, digest_item(t, &t->v[i], budget));
		if (m < t->n) {
			sinkfmt_add_omitted(&b, t->n - m);
			sinkfmt_append(body, textblock(&b, "small"));
		}
	}
	sinkfmt_set(card, "$schema",
	    sinkfmt_str("http://adaptivecards.io/schemas/adaptive-card.json"));
	sinkfmt_set(card, "type", sinkfmt_str("AdaptiveCard"));
	sinkfmt_set(card, "version", sinkfmt_str("1.2"));
	sinkfmt_set(card, "body", body);
	if (json_array_size(actions) > 0)
		sinkfmt_set(card, "actions", actions);
	else
		json_decref(actions);
	sinkfmt_set(att, "contentType",
	    sinkfmt_str("application/vnd.microsoft.card.adaptive"));
	sinkfmt_set(att, "contentUrl", json_null());
	sinkfmt_set(att, "content", card);
	sinkfmt_append(atts, att);
	sinkfmt_set(msg, "type", sinkfmt_str("message"));
	sinkfmt_set(msg, "attachments", atts);
	t->len = sinkfmt_serialize(msg, &t->body);
	return t->body != NULL && t->len <= BODY_MAX;
}

static int
teams_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct teams t = {0};
	size_t m;
	int rc = -1;

	(void)o;
	t.n = n;
	t.v = sinkfmt_alerts_load(alerts, n);
	if ((m = sinkfmt_fit(teams_try, &t, n, sinkfmt_snippet_budget(t.v, n,
	    DIGEST_SNIPPET))) == 0)
		snprintf(err, errlen, "teams: the alert does not fit");
	else {
		sinkfmt_give_body(out, &t.body, t.len,
		    "application/json; charset=utf-8");
		out->shown = m;
		rc = 0;
	}
	free(t.body);
	sinkfmt_alerts_free(t.v, n);
	return rc;
}

const struct sinkfmt_type_ops sinkfmt_teams_ops = {
	"teams", teams_render, NULL, 0, NULL, 0
};
