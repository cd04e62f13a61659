/*
 * sinkfmt_telegram.c - Telegram bots: a sendMessage request with
 * parse_mode HTML and link previews off.
 *
 * Sources (core.telegram.org/bots/api):
 *  - #sendmessage: chat_id (required), text "1-4096 characters after
 *    entities parsing", parse_mode, link_preview_options.
 *  - #linkpreviewoptions: {"is_disabled": true} turns the preview off.
 *  - #formatting-options, "HTML style": only <b>, <strong>, <i>, <em>,
 *    <u>, <ins>, <s>, <strike>, <del>, <span class="tg-spoiler">,
 *    <tg-spoiler>, <a href>, <tg-emoji>, <code>, <pre>, <blockquote> are
 *    supported; "All <, > and & symbols that are not a part of a tag or
 *    an HTML entity must be replaced with the corresponding HTML
 *    entities"; the only named entities are &lt; &gt; &amp; &quot;.
 *  - #messageentity: entity offsets and lengths are in UTF-16 code units,
 *    the unit in which the 4,096 is counted here.
 *  - #replyparameters (Bot API 7.0): "reply_parameters": {"message_id":
 *    N, "allow_sending_without_reply": true} replies to message N of the
 *    chat, and is sent as a plain message when N is gone.
 *  - #message: sendMessage answers {"ok": true, "result": {"message_id":
 *    N, ...}} (read by sinkfmt_telegram_message_id).
 *  - #responseparameters: a 429 carries "parameters": {"retry_after": N}
 *    (seconds); errors are {"ok": false, "error_code": 400,
 *    "description": "Bad Request: ..."}.
 *
 * Only <b>, <a href> and <blockquote> are used.  '@' in user text gets a
 * ZWSP so no @username is notified.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define TEXT_MAX 4096	/* UTF-16 units after entity parsing */
#define TITLE_MAX 300
#define DIGEST_TITLE_MAX 150
#define LABEL_MAX 100
#define DIGEST_SNIPPET 280
#define TERMS_EMAX 2000

static const struct sinkfmt_markup bold = { sinkfmt_esc_telegram, "<b>",
    "</b>" };

struct telegram {
	struct sinkfmt_alert *v;
	size_t n;
	int sc;			/* cap scale of this attempt */
	const char *chat_id;
	long long reply_to;	/* 0: not a reply */
	json_t *msg;
};

/*
 * The length of html as Telegram counts it after parsing: tags removed,
 * each entity one unit (ours are all in the BMP), the rest in UTF-16.
 */
static size_t
visible(const char *html)
{
	const char *p = html, *q;
	size_t n = 0;

	while (*p != '\0') {
		if (*p == '<' && (q = strchr(p, '>')) != NULL) {
			p = q + 1;
			continue;
		}
		if (*p == '&' && (q = strchr(p, ';')) != NULL && q - p <= 10) {
			n++;
			p = q + 1;
			continue;
		}
		q = p + strcspn(p, "<&");
		if (q == p)
			q++;
		n += sinkfmt_measure(p, (size_t)(q - p), SINKFMT_UTF16);
		p = q;
	}
	return n;
}

static void
title_link(struct buf *b, const struct telegram *t,
    const struct sinkfmt_alert *a, size_t max)
{
	const char *link = sinkfmt_link(a, t->sc);

	if (link != NULL) {
		buf_adds(b, "<a href=\"");
		sinkfmt_esc_html(b, link, strlen(link));
		buf_adds(b, "\">");
	} else
		buf_adds(b, "<b>");
	sinkfmt_add(b, a->title, sinkfmt_cap(max, t->sc), SINKFMT_UTF16,
	    sinkfmt_esc_telegram);
	buf_adds(b, link != NULL ? "</a>" : "</b>");
}

static void
snippet(struct buf *b, const struct sinkfmt_alert *a, size_t budget)
{
	if (a->snippet[0] == '\0' || budget == 0)
		return;
	buf_adds(b, "\n<blockquote>");
	sinkfmt_add_marked(b, a->snippet, budget, SINKFMT_UTF16, &bold);
	buf_adds(b, "</blockquote>");
}

static int
telegram_try(void *arg, size_t m, size_t budget, int sc)
{
	struct telegram *t = arg;
	json_t *msg = sinkfmt_object(), *lp = sinkfmt_object();
	const struct sinkfmt_alert *a;
	struct buf b = {0};
	size_t i;
	int ok;

	t->sc = sc;
	if (t->n == 1) {
		a = &t->v[0];
		sinkfmt_add_meta(&b, a, sinkfmt_cap(LABEL_MAX, sc), &bold);
		buf_addc(&b, '\n');
		title_link(&b, t, a, TITLE_MAX);
		snippet(&b, a, budget);
		if (a->nterms > 0) {
			buf_adds(&b, "\nMatched: ");
			sinkfmt_add_terms(&b, a, ", ", SINKFMT_UTF16, &bold, sc,
			    TERMS_EMAX);
		}
	} else {
		buf_adds(&b, "<b>");
		sinkfmt_add_count(&b, t->n);
		buf_adds(&b, "</b>");
		for (i = 0; i < m; i++) {
			a = &t->v[i];
			buf_adds(&b, "\n\n");
			sinkfmt_add_meta(&b, a, sinkfmt_cap(LABEL_MAX, sc),
			    &bold);
			buf_addc(&b, '\n');
			title_link(&b, t, a, DIGEST_TITLE_MAX);
			snippet(&b, a, budget);
		}
		if (m < t->n) {
			buf_adds(&b, "\n\n");
			sinkfmt_add_omitted(&b, t->n - m);
		}
	}
	ok = visible(b.s) <= TEXT_MAX;
	sinkfmt_set(msg, "chat_id", sinkfmt_str(t->chat_id));
	sinkfmt_set(msg, "text", sinkfmt_strbuf(&b));
	sinkfmt_set(msg, "parse_mode", sinkfmt_str("HTML"));
	sinkfmt_set(lp, "is_disabled", json_true());
	sinkfmt_set(msg, "link_preview_options", lp);
	if (t->reply_to > 0 && t->n == 1) {
		json_t *rp = sinkfmt_object();

		sinkfmt_set(rp, "message_id", json_integer(t->reply_to));
		sinkfmt_set(rp, "allow_sending_without_reply", json_true());
		sinkfmt_set(msg, "reply_parameters", rp);
	}
	json_decref(t->msg);
	t->msg = msg;
	return ok;
}

static int
telegram_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct telegram t = {0};
	int rc;

	if (o->chat_id == NULL || o->chat_id[0] == '\0') {
		snprintf(err, errlen, "telegram: no chat-id is set");
		return -1;
	}
	t.n = n;
	t.chat_id = o->chat_id;
	t.reply_to = o->reply_to;
	t.v = sinkfmt_alerts_load(alerts, n);
	rc = sinkfmt_fit_dump("telegram", telegram_try, &t, n,
	    sinkfmt_snippet_budget(t.v, n, DIGEST_SNIPPET), &t.msg, out, err,
	    errlen);
	json_decref(t.msg);
	sinkfmt_alerts_free(t.v, n);
	return rc;
}

static long
telegram_retry_after(const char *body, size_t len)
{
	return sinkfmt_json_seconds_ms(body, len, "parameters", "retry_after");
}

long long
sinkfmt_telegram_message_id(const char *body, size_t len)
{
	json_t *j, *id;
	long long n = 0;

	if (body == NULL || (j = json_loadb(body, len, 0, NULL)) == NULL)
		return 0;
	id = json_object_get(json_object_get(j, "result"), "message_id");
	if (json_is_true(json_object_get(j, "ok")) && json_is_integer(id) &&
	    json_integer_value(id) > 0)
		n = (long long)json_integer_value(id);
	json_decref(j);
	return n;
}

const struct sinkfmt_type_ops sinkfmt_telegram_ops = {
	"telegram", telegram_render, telegram_retry_after, 0, NULL, 0
};
