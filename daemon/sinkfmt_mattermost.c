/*
 * sinkfmt_mattermost.c - Mattermost incoming webhooks: "text" in
 * Markdown (the linked title and the quoted snippet) plus one
 * Slack-style attachment carrying the details as fields.
 *
 * Sources:
 *  - developers.mattermost.com/integrate/webhooks/incoming: a JSON body
 *    with "text" (Markdown) and/or "attachments"; a body with neither is
 *    refused with 400 and an AppError body {"id": "web.incoming_webhook.
 *    text.app_error", "message": "No text specified.", ...}.
 *  - developers.mattermost.com/integrate/reference/message-attachments:
 *    fallback, color, fields (title, value, short); field values are
 *    Markdown.
 *  - A post holds at most 16,383 characters (the server's
 *    PostMessageMaxRunesV2); mattermost-server app/webhook.go
 *    (splitWebhookPost) splits a longer webhook text into several posts,
 *    so the text is kept within 16,383 to stay one post.  We keep the
 *    attachment's text within the same budget.
 *  - mattermost-server app/webhook.go (CreateWebhookPost) rewrites
 *    "<url|label>" in the text into a Markdown link before rendering, so
 *    '<' (and '&', '>') from user text go out as entities, which the
 *    Markdown renderers decode; '@' gets a ZWSP so @channel, @all,
 *    @here and @user never notify.
 *
 * Hits are **bold**.  Counted in UTF-16 units (Mattermost counts runes).
 */
#include <stdlib.h>
#include <string.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define TEXT_MAX 16383
#define TITLE_MAX 300
#define DIGEST_TITLE_MAX 150
#define LABEL_MAX 100
#define DIGEST_SNIPPET 280
#define COLOR "#D0021B"
#define TERMS_EMAX 2000

static const struct sinkfmt_markup bold = { sinkfmt_esc_mattermost, "**",
    "**" };

struct mattermost {
	struct sinkfmt_alert *v;
	size_t n;
	int sc;			/* cap scale of this attempt */
	json_t *msg;
	size_t attached;	/* characters in the attachment */
	int ok;
};

/* Plain text (fallback, notifications): only '@' is made harmless. */
static void
esc_plain(struct buf *b, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf_addc(b, s[i]);
		if (s[i] == '@')
			buf_adds(b, SINKFMT_ZWSP);
	}
}

static void
name(struct buf *b, const struct mattermost *mm, const char *text,
    sinkfmt_esc_fn esc)
{
	sinkfmt_add(b, text, sinkfmt_cap(LABEL_MAX, mm->sc), SINKFMT_UTF16,
	    esc);
}

/* [title](link), or the escaped title alone. */
static void
title_link(struct buf *b, const struct mattermost *mm,
    const struct sinkfmt_alert *a, size_t max)
{
	const char *link = sinkfmt_link(a, mm->sc);

	if (link != NULL)
		buf_addc(b, '[');
	sinkfmt_add(b, a->title, sinkfmt_cap(max, mm->sc), SINKFMT_UTF16,
	    sinkfmt_esc_mattermost);
	if (link == NULL)
		return;
	/*
	 * Mattermost finds mentions in the raw text, URLs included
	 * ("https://x.org/@here" would notify the channel): '@' goes out
	 * percent-encoded.
	 */
	buf_adds(b, "](");
	for (; *link != '\0'; link++)
		if (*link == '@')
			buf_adds(b, "%40");
		else
			buf_addc(b, *link);
	buf_addc(b, ')');
}

static void
counted(struct mattermost *mm, json_t *o, const char *key, struct buf *b)
{
	mm->attached += sinkfmt_measure(b->s != NULL ? b->s : "", b->len,
	    SINKFMT_UTF16);
	sinkfmt_set(o, key, sinkfmt_strbuf(b));
}

static void
add_field(struct mattermost *mm, json_t *fields, const char *title,
    struct buf *b, int shrt)
{
	json_t *f = sinkfmt_object();
	struct buf t = {0};

	buf_adds(&t, title);
	counted(mm, f, "title", &t);
	counted(mm, f, "value", b);
	sinkfmt_set(f, "short", json_boolean(shrt));
	sinkfmt_append(fields, f);
}

static json_t *
attachment(struct mattermost *mm, size_t m)
{
	json_t *at = sinkfmt_object(), *fields = sinkfmt_array();
	const struct sinkfmt_alert *a = &mm->v[0];
	struct buf b = {0};

	if (mm->n == 1) {
		name(&b, mm, a->watchlist, esc_plain);
		buf_adds(&b, ": ");
		sinkfmt_add(&b, a->title, sinkfmt_cap(TITLE_MAX, mm->sc),
		    SINKFMT_UTF16, esc_plain);
		counted(mm, at, "fallback", &b);
		name(&b, mm, a->watchlist, sinkfmt_esc_mattermost);
		add_field(mm, fields, "Watchlist", &b, 1);
		name(&b, mm, a->feed, sinkfmt_esc_mattermost);
		add_field(mm, fields, "Feed", &b, 1);
		name(&b, mm, a->when, sinkfmt_esc_mattermost);
		add_field(mm, fields, "Published", &b, 1);
		if (a->nterms > 0) {
			sinkfmt_add_terms(&b, a, ", ", SINKFMT_UTF16, &bold,
			    mm->sc, TERMS_EMAX);
			add_field(mm, fields, "Matched", &b, 0);
		}
	} else {
		sinkfmt_add_count(&b, mm->n);
		counted(mm, at, "fallback", &b);
		/* The distinct watchlists of the alerts shown. */
		sinkfmt_add_watchlists(&b, mm->v, m, ", ",
		    sinkfmt_cap(LABEL_MAX, mm->sc), sinkfmt_esc_mattermost);
		add_field(mm, fields, "Watchlists", &b, 1);
		buf_addf(&b, "%zu", mm->n);
		add_field(mm, fields, "Alerts", &b, 1);
	}
	sinkfmt_set(at, "color", sinkfmt_str(COLOR));
	sinkfmt_set(at, "fields", fields);
	return at;
}

static int
mattermost_try(void *arg, size_t m, size_t budget, int sc)
{
	struct mattermost *mm = arg;
	json_t *msg = sinkfmt_object(), *atts = sinkfmt_array();
	const struct sinkfmt_alert *a;
	struct buf b = {0};
	size_t i;

	mm->attached = 0;
	mm->sc = sc;
	if (mm->n == 1) {
		a = &mm->v[0];
		buf_adds(&b, "#### ");
		title_link(&b, mm, a, TITLE_MAX);
		if (a->snippet[0] != '\0' && budget > 0) {
			buf_adds(&b, "\n> ");
			sinkfmt_add_marked(&b, a->snippet, budget,
			    SINKFMT_UTF16, &bold);
		}
	} else {
		buf_adds(&b, "#### ");
		sinkfmt_add_count(&b, mm->n);
		for (i = 0; i < m; i++) {
			a = &mm->v[i];
			buf_adds(&b, "\n\n**");
			name(&b, mm, a->watchlist, sinkfmt_esc_mattermost);
			buf_adds(&b, "** \xc2\xb7 ");
			title_link(&b, mm, a, DIGEST_TITLE_MAX);
			buf_adds(&b, " \xc2\xb7 ");
			name(&b, mm, a->feed, sinkfmt_esc_mattermost);
			buf_adds(&b, " \xc2\xb7 ");
			name(&b, mm, a->when, sinkfmt_esc_mattermost);
			if (a->snippet[0] != '\0' && budget > 0) {
				buf_adds(&b, "\n> ");
				sinkfmt_add_marked(&b, a->snippet, budget,
				    SINKFMT_UTF16, &bold);
			}
		}
		if (m < mm->n) {
			buf_adds(&b, "\n\n_");
			sinkfmt_add_omitted(&b, mm->n - m);
			buf_adds(&b, "_");
		}
	}
	mm->ok = sinkfmt_measure(b.s, b.len, SINKFMT_UTF16) <= TEXT_MAX;
	sinkfmt_set(msg, "text", sinkfmt_strbuf(&b));
	sinkfmt_append(atts, attachment(mm, m));
	if (mm->attached > TEXT_MAX)
		mm->ok = 0;
	sinkfmt_set(msg, "attachments", atts);
	json_decref(mm->msg);
	mm->msg = msg;
	return mm->ok;
}

static int
mattermost_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct mattermost mm = {0};
	int rc;

	(void)o;
	mm.n = n;
	mm.v = sinkfmt_alerts_load(alerts, n);
	rc = sinkfmt_fit_dump("mattermost", mattermost_try, &mm, n,
	    sinkfmt_snippet_budget(mm.v, n, DIGEST_SNIPPET), &mm.msg, out, err,
	    errlen);
	json_decref(mm.msg);
	sinkfmt_alerts_free(mm.v, n);
	return rc;
}

const struct sinkfmt_type_ops sinkfmt_mattermost_ops = {
	"mattermost", mattermost_render, NULL, 0, NULL, 0
};
