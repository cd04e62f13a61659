/*
 * sinkfmt_discord.c - Discord webhooks: "content" plus one embed per
 * alert (title, url, description, timestamp, fields), always
 * "allowed_mentions": {"parse": []}, posted with ?wait=true.
 *
 * Sources (discord.com/developers/docs):
 *  - resources/webhook#execute-webhook: JSON body with content (up to
 *    2,000 characters), embeds (up to 10) and allowed_mentions; with
 *    wait=true Discord answers 200 with the message it created instead of
 *    204, so a success is a confirmed one.
 *  - resources/message#embed-object-embed-limits: title 256,
 *    description 4,096, up to 25 fields, field name 256, field value
 *    1,024, footer text 2,048, author name 256; the title, description,
 *    field names and values, footer and author texts of all the embeds
 *    of a message together at most 6,000 characters.
 *  - resources/message#allowed-mentions-object: "parse": [] suppresses
 *    every mention, whatever the text holds.
 *  - topics/rate-limits#exceeding-a-rate-limit: a 429 body holds
 *    "retry_after", seconds as a float.
 *  - topics/rate-limits#header-format: every answer, successes too,
 *    carries X-RateLimit-Limit, -Remaining (requests left in the current
 *    bucket), -Reset (Unix time, seconds with decimals), -Reset-After
 *    (seconds with decimals) and -Bucket; apps are told to parse them
 *    rather than hard-code limits.  Remaining 0 means the next request
 *    before the reset draws a 429, so the sink holds it until then
 *    (Reset-After first: it needs no agreement between the clocks).
 *  - topics/opcodes-and-status-codes#json: 400 with code 50035 "Invalid
 *    Form Body" and per-field errors such as BASE_TYPE_MAX_LENGTH
 *    ("Must be 2000 or fewer in length."); 404 with 10015 "Unknown
 *    Webhook" once the webhook is deleted: that sink is gone.
 *
 * Hits are **bold**; user text is backslash-escaped and '@' is followed
 * by a ZWSP, so @everyone shows as text even where allowed_mentions is
 * not honoured.  Lengths are counted in UTF-16 units (Discord counts
 * code points, never more).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define CONTENT_MAX 2000
#define EMBEDS_MAX 10
#define TITLE_MAX 256
#define DESCRIPTION_MAX 4096
#define FIELD_NAME_MAX 256
#define FIELD_VALUE_MAX 1024
#define EMBEDS_TOTAL_MAX 6000
#define DIGEST_TITLE_MAX 150
#define LABEL_MAX 100
#define CONTENT_TITLE_MAX 300
#define DIGEST_SNIPPET 280
#define COLOR 0xd0021b

static const struct sinkfmt_markup bold = { sinkfmt_esc_discord, "**", "**" };

struct discord {
	struct sinkfmt_alert *v;
	size_t n;
	int sc;			/* cap scale of this attempt */
	json_t *msg;
	size_t total;		/* embed characters so far */
	int ok;
};

static size_t
cap(const struct discord *d, size_t max)
{
	return sinkfmt_cap(max, d->sc);
}

/* A name or label, escaped, within a field value's limit. */
static void
name(struct buf *b, const struct discord *d, const char *text)
{
	sinkfmt_add_within(b, text, cap(d, LABEL_MAX), FIELD_VALUE_MAX,
	    SINKFMT_UTF16, sinkfmt_esc_discord);
}

/* Sets key to b's text (emptied), counting it against max and the total. */
static void
text(struct discord *d, json_t *o, const char *key, struct buf *b, size_t max)
{
	size_t n = sinkfmt_measure(b->s != NULL ? b->s : "", b->len,
	    SINKFMT_UTF16);

	if (n > max)
		d->ok = 0;
	d->total += n;
	sinkfmt_set(o, key, sinkfmt_strbuf(b));
}

static void
add_field(struct discord *d, json_t *fields, const char *name, struct buf *b,
    int inl)
{
	json_t *f = sinkfmt_object();
	struct buf nb = {0};

	if (b->len == 0)	/* Discord requires a value */
		buf_adds(b, "\xe2\x80\x94");
	buf_adds(&nb, name);
	text(d, f, "name", &nb, FIELD_NAME_MAX);
	text(d, f, "value", b, FIELD_VALUE_MAX);
	sinkfmt_set(f, "inline", json_boolean(inl));
	sinkfmt_append(fields, f);
}

/* 1 when t is "YYYY-MM-DDTHH:MM:SSZ", which Discord takes as ISO 8601. */
static int
iso_time(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	if (strlen(t) != sizeof shape - 1)
		return 0;
	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') :
		    t[i] != shape[i])
			return 0;
	return 1;
}

static json_t *
embed(struct discord *d, const struct sinkfmt_alert *a, size_t budget)
{
	json_t *e = sinkfmt_object(), *fields = sinkfmt_array();
	const char *link = sinkfmt_link(a, d->sc);
	struct buf b = {0};
	int digest = d->n > 1;

	sinkfmt_add_within(&b, a->title, cap(d, digest ? DIGEST_TITLE_MAX :
	    TITLE_MAX), TITLE_MAX, SINKFMT_UTF16, sinkfmt_esc_discord);
	if (b.len == 0)		/* an embed needs some content */
		buf_adds(&b, SINKFMT_ELLIPSIS);
	text(d, e, "title", &b, TITLE_MAX);
	if (link != NULL)
		sinkfmt_set(e, "url", sinkfmt_str(link));
	if (iso_time(a->published))
		sinkfmt_set(e, "timestamp", sinkfmt_str(a->published));
	sinkfmt_set(e, "color", json_integer(COLOR));
	if (digest) {
		buf_adds(&b, "**");
		name(&b, d, a->watchlist);
		buf_adds(&b, "** \xc2\xb7 ");
		name(&b, d, a->feed);
		buf_adds(&b, " \xc2\xb7 ");
		name(&b, d, a->when);
		if (a->snippet[0] != '\0' && budget > 0) {
			buf_adds(&b, "\n");
			sinkfmt_add_marked(&b, a->snippet, budget,
			    SINKFMT_UTF16, &bold);
		}
		if (a->nterms > 0) {
			buf_adds(&b, "\nMatched: ");
			sinkfmt_add_terms(&b, a, ", ", SINKFMT_UTF16, &bold,
			    d->sc, FIELD_VALUE_MAX);
		}
		text(d, e, "description", &b, DESCRIPTION_MAX);
		json_decref(fields);
		return e;
	}
	if (a->snippet[0] != '\0' && budget > 0) {
		sinkfmt_add_marked(&b, a->snippet, budget, SINKFMT_UTF16,
		    &bold);
		text(d, e, "description", &b, DESCRIPTION_MAX);
	}
	name(&b, d, a->watchlist);
	add_field(d, fields, "Watchlist", &b, 1);
	name(&b, d, a->feed);
	add_field(d, fields, "Feed", &b, 1);
	name(&b, d, a->when);
	add_field(d, fields, "Published", &b, 1);
	if (a->nterms > 0) {
		sinkfmt_add_terms(&b, a, ", ", SINKFMT_UTF16, &bold, d->sc,
		    FIELD_VALUE_MAX);
		add_field(d, fields, "Matched", &b, 0);
	}
	sinkfmt_set(e, "fields", fields);
	return e;
}

static int
discord_try(void *arg, size_t m, size_t budget, int sc)
{
	struct discord *d = arg;
	json_t *msg = sinkfmt_object(), *embeds = sinkfmt_array(),
	    *am = sinkfmt_object();
	struct buf b = {0};
	size_t i;

	d->ok = 1;
	d->total = 0;
	d->sc = sc;
	if (d->n == 1) {
		buf_adds(&b, "**");
		name(&b, d, d->v[0].watchlist);
		buf_adds(&b, "**: ");
		sinkfmt_add_within(&b, d->v[0].title, cap(d, CONTENT_TITLE_MAX),
		    CONTENT_MAX / 2, SINKFMT_UTF16, sinkfmt_esc_discord);
	} else {
		buf_adds(&b, "**");
		sinkfmt_add_count(&b, d->n);
		buf_adds(&b, "**");
		if (m < d->n) {
			buf_adds(&b, " (");
			sinkfmt_add_omitted(&b, d->n - m);
			buf_adds(&b, ")");
		}
	}
	if (sinkfmt_measure(b.s, b.len, SINKFMT_UTF16) > CONTENT_MAX)
		d->ok = 0;
	sinkfmt_set(msg, "content", sinkfmt_strbuf(&b));
	for (i = 0; i < m; i++)
		sinkfmt_append(embeds, embed(d, &d->v[i], budget));
	if (d->total > EMBEDS_TOTAL_MAX || m > EMBEDS_MAX)
		d->ok = 0;
	sinkfmt_set(msg, "embeds", embeds);
	sinkfmt_set(am, "parse", json_array());
	sinkfmt_set(msg, "allowed_mentions", am);
	json_decref(d->msg);
	d->msg = msg;
	return d->ok;
}

static int
discord_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct discord d = {0};
	int rc;

	(void)o;
	d.n = n;
	d.v = sinkfmt_alerts_load(alerts, n);
	rc = sinkfmt_fit_dump("discord", discord_try, &d,
	    n < EMBEDS_MAX ? n : EMBEDS_MAX,
	    sinkfmt_snippet_budget(d.v, n, DIGEST_SNIPPET), &d.msg, out, err,
	    errlen);
	if (rc == 0)
		out->url_query = xstrdup("wait=true");
	json_decref(d.msg);
	sinkfmt_alerts_free(d.v, n);
	return rc;
}

static long
discord_retry_after(const char *body, size_t len)
{
	return sinkfmt_json_seconds_ms(body, len, NULL, "retry_after");
}

/* Unix time in milliseconds, for X-RateLimit-Reset. */
static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long
discord_pause_after(sinkfmt_header_fn get, const void *ctx)
{
	long long ms;

	if (sinkfmt_header_ms(get(ctx, "X-RateLimit-Remaining")) != 0)
		return 0;
	if ((ms = sinkfmt_header_ms(get(ctx, "X-RateLimit-Reset-After"))) >= 0)
		return sinkfmt_hint_ms(ms);
	if ((ms = sinkfmt_header_ms(get(ctx, "X-RateLimit-Reset"))) >= 0)
		return sinkfmt_hint_ms(ms - wall_ms());
	return 0;
}

const struct sinkfmt_type_ops sinkfmt_discord_ops = {
	"discord", discord_render, discord_retry_after, 1, discord_pause_after, 0
};
