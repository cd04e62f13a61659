/*
 * sinkfmt.c - the sink format type table and what the format files
 * share; see sinkfmt.h for the contract and sinkfmt_internal.h for the
 * helpers.
 *
 * The format files build their message as JSON (or text) from a
 * sanitized view of each alert, and sinkfmt_fit() searches for the
 * largest rendering that meets every limit of the service: snippets
 * shrink first, then the fixed caps of titles, names, terms and links
 * (a 10,000-character title is already cut to a few hundred), then, in
 * a digest, alerts at the end are left out.  At the bottom of that
 * search a single alert is bare structure, which fits every service,
 * so no text can make a service refuse an alert for its size.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "wirewatch/alert.h"
#include "wirewatch/log.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

#define URL_MAX 2000		/* bytes: longer links are not linked */
#define TERMS_SHOWN 20
#define TERM_MAX 60		/* units per term */
#define RETRY_AFTER_MAX_MS 86400000L	/* a day: longer hints are nonsense */
#define RESPONSE_PARSE_MAX 65536	/* bytes of a response body parsed */

static const struct sinkfmt_type_ops *const types[] = {
	[SINKFMT_CONSOLE] = &sinkfmt_console_ops,
	[SINKFMT_WEBHOOK] = &sinkfmt_webhook_ops,
	[SINKFMT_SLACK] = &sinkfmt_slack_ops,
	[SINKFMT_DISCORD] = &sinkfmt_discord_ops,
	[SINKFMT_MATTERMOST] = &sinkfmt_mattermost_ops,
	[SINKFMT_TEAMS] = &sinkfmt_teams_ops,
	[SINKFMT_GOOGLE_CHAT] = &sinkfmt_google_chat_ops,
	[SINKFMT_TELEGRAM] = &sinkfmt_telegram_ops,
	[SINKFMT_NTFY] = &sinkfmt_ntfy_ops,
};
#define NTYPES (sizeof types / sizeof types[0])

static const struct sinkfmt_type_ops *
ops(enum sinkfmt_type t)
{
	if ((unsigned)t >= NTYPES)
		return NULL;
	return types[t];
}

int
sinkfmt_type_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	if (strcmp(name, "google_chat") == 0)
		return SINKFMT_GOOGLE_CHAT;
	for (i = 0; i < NTYPES; i++)
		if (strcmp(name, types[i]->name) == 0)
			return (int)i;
	return -1;
}

const char *
sinkfmt_type_name(enum sinkfmt_type t)
{
	const struct sinkfmt_type_ops *p = ops(t);

	return p != NULL ? p->name : "?";
}

int
sinkfmt_render(enum sinkfmt_type t, const struct sinkfmt_opts *o,
    const json_t *const *alerts, size_t n, struct sinkfmt_request *out,
    char *err, size_t errlen)
{
	const struct sinkfmt_type_ops *p = ops(t);
	struct sinkfmt_opts none = {0};
	size_t i;

	memset(out, 0, sizeof *out);
	if (p == NULL) {
		snprintf(err, errlen, "unknown sink type %d", (int)t);
		return -1;
	}
	if (alerts == NULL || n == 0) {
		snprintf(err, errlen, "%s: no alert to render", p->name);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!json_is_object(alerts[i])) {
			snprintf(err, errlen,
			    "%s: alert %zu is not a JSON object",
			    p->name, i + 1);
			return -1;
		}
	if (p->render(o != NULL ? o : &none, alerts, n, out, err,
	    errlen) == -1) {
		sinkfmt_request_free(out);
		return -1;
	}
	return 0;
}

void
sinkfmt_request_free(struct sinkfmt_request *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->body);
	free(r->content_type);
	for (i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	free(r->headers);
	free(r->url_query);
	memset(r, 0, sizeof *r);
}

long
sinkfmt_retry_after_ms(enum sinkfmt_type t, const char *body, size_t len)
{
	const struct sinkfmt_type_ops *p = ops(t);

	if (p == NULL || p->retry_after_ms == NULL || body == NULL ||
	    len == 0 || len > RESPONSE_PARSE_MAX)
		return 0;
	return p->retry_after_ms(body, len);
}

long
sinkfmt_pause_after_ms(enum sinkfmt_type t, sinkfmt_header_fn get,
    const void *ctx)
{
	const struct sinkfmt_type_ops *p = ops(t);

	if (p == NULL || p->pause_after_ms == NULL || get == NULL)
		return 0;
	return p->pause_after_ms(get, ctx);
}

int
sinkfmt_digests(enum sinkfmt_type t)
{
	const struct sinkfmt_type_ops *p = ops(t);

	return p != NULL && !p->one_per_request;
}

int
sinkfmt_gone(enum sinkfmt_type t, long status)
{
	const struct sinkfmt_type_ops *p = ops(t);

	if (p == NULL)
		return 0;
	return status == 410 || (status == 404 && p->gone_on_404);
}

/*
 * Seconds (a JSON number) to milliseconds, rounded up and capped; 0 for
 * anything that is not a positive finite number.
 */
static long
seconds_ms(const json_t *v)
{
	double s;

	if (!json_is_number(v))
		return 0;
	s = json_number_value(v);
	if (!(s > 0) || !isfinite(s))
		return 0;
	if (s * 1000.0 >= (double)RETRY_AFTER_MAX_MS)
		return RETRY_AFTER_MAX_MS;
	return (long)ceil(s * 1000.0);
}

long
sinkfmt_hint_ms(long long ms)
{
	if (ms <= 0)
		return 0;
	return ms < RETRY_AFTER_MAX_MS ? (long)ms : RETRY_AFTER_MAX_MS;
}

/*
 * Digit by digit rather than strtod(): exact (0.35 s is 350 ms, not
 * 351 after a rounding error), no exponents, hex, "inf" or locale.
 */
long long
sinkfmt_header_ms(const char *v)
{
	static const long long limit = 1000000000000000LL;	/* 10^15 */
	static const int place[3] = { 100, 10, 1 };
	long long ms = 0;
	int digits = 0, frac = -1, d;

	if (v == NULL)
		return -1;
	v += strspn(v, " \t");
	for (; *v != '\0'; v++) {
		if (*v == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (*v < '0' || *v > '9')
			break;
		d = *v - '0';
		digits++;
		if (frac < 0) {
			if (ms < limit)
				ms = ms * 10 + d * 1000;
		} else if (frac < 3) {
			ms += d * place[frac++];
		} else if (d > 0 && frac == 3) {
			ms++;		/* below a millisecond: round up, once */
			frac++;
		}
	}
	if (digits == 0 || v[strspn(v, " \t")] != '\0')
		return -1;
	return ms < limit ? ms : limit;
}

long
sinkfmt_json_seconds_ms(const char *body, size_t len, const char *outer,
    const char *key)
{
	json_t *j, *o;
	long ms = 0;

	if ((j = json_loadb(body, len, 0, NULL)) == NULL)
		return 0;
	o = outer != NULL ? json_object_get(j, outer) : j;
	if (json_is_object(o))
		ms = seconds_ms(json_object_get(o, key));
	json_decref(j);
	return ms;
}

/* ---------------------------------------------------------- the view */

/* Bidi embeddings, overrides and isolates: removed from user text. */
static int
bidi_control(utf8proc_int32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* A sanitized single-line copy of s (see struct sinkfmt_alert). */
static char *
oneline(const char *s)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	struct buf b = {0};
	utf8proc_int32_t cp;
	utf8proc_ssize_t n;
	size_t i = 0, len = strlen(s), start, end;
	char *fixed = NULL, *out;

	if (!util_utf8_valid(s, len)) {
		fixed = util_utf8_repair(s, len, &len);
		p = (const utf8proc_uint8_t *)fixed;
	}
	while (i < len) {
		n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
		if (n <= 0) {	/* cannot happen after the repair */
			i++;
			continue;
		}
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
		    cp == 0x2028 || cp == 0x2029)
			buf_addc(&b, ' ');
		else if (!bidi_control(cp))
			buf_add(&b, p + i, (size_t)n);
		i += (size_t)n;
	}
	free(fixed);
	out = buf_steal(&b);
	for (start = 0; out[start] == ' '; start++)
		;
	for (end = strlen(out); end > start && out[end - 1] == ' '; end--)
		;
	memmove(out, out + start, end - start);
	out[end - start] = '\0';
	return out;
}

static char *
field(const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return oneline(s != NULL ? s : "");
}

/* "2025-07-13T06:41:00Z" -> "2025-07-13 06:41 UTC"; else as it is. */
static char *
human_time(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	if (strlen(t) != sizeof shape - 1)
		return xstrdup(t);
	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') :
		    t[i] != shape[i])
			return xstrdup(t);
	return xasprintf("%.10s %.5s UTC", t, t + 11);
}

void
sinkfmt_alert_load(struct sinkfmt_alert *a, const json_t *j)
{
	const json_t *terms = json_object_get(j, "terms"), *v;
	const char *raw;
	size_t i;

	memset(a, 0, sizeof *a);
	a->json = j;
	a->alert_id = field(j, "alert_id");
	a->watchlist = field(j, "watchlist");
	a->title = field(j, "title");
	raw = json_string_value(json_object_get(j, "link"));
	a->link = sinkfmt_url(raw);
	if (a->title[0] == '\0') {
		free(a->title);
		a->title = raw != NULL && raw[0] != '\0' ? oneline(raw) :
		    xstrdup("(untitled)");
	}
	a->published = field(j, "published");
	a->when = human_time(a->published);
	a->feed = field(j, "feed");
	a->snippet = field(j, "snippet");
	if (json_is_array(terms)) {
		a->terms = xcalloc(json_array_size(terms) + 1,
		    sizeof *a->terms);
		json_array_foreach(terms, i, v) {
			if (!json_is_string(v))
				continue;
			a->terms[a->nterms] = oneline(json_string_value(v));
			if (a->terms[a->nterms][0] != '\0')
				a->nterms++;
			else
				free(a->terms[a->nterms]);
		}
	}
}

void
sinkfmt_alert_clear(struct sinkfmt_alert *a)
{
	size_t i;

	free(a->alert_id);
	free(a->watchlist);
	free(a->title);
	free(a->link);
	free(a->published);
	free(a->when);
	free(a->feed);
	free(a->snippet);
	for (i = 0; i < a->nterms; i++)
		free(a->terms[i]);
	free(a->terms);
	memset(a, 0, sizeof *a);
}

struct sinkfmt_alert *
sinkfmt_alerts_load(const json_t *const *alerts, size_t n)
{
	struct sinkfmt_alert *v = xcalloc(n, sizeof *v);
	size_t i;

	for (i = 0; i < n; i++)
		sinkfmt_alert_load(&v[i], alerts[i]);
	return v;
}

void
sinkfmt_alerts_free(struct sinkfmt_alert *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		sinkfmt_alert_clear(&v[i]);
	free(v);
}

/* ------------------------------------------------ measure, truncate */

size_t
sinkfmt_measure(const char *s, size_t len, enum sinkfmt_unit u)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n = 0;

	if (u == SINKFMT_BYTES)
		return len;
	/* Valid UTF-8: one unit per lead byte, two for 4-byte forms. */
	for (i = 0; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			n += p[i] >= 0xf0 ? 2 : 1;
	return n;
}

size_t
sinkfmt_measures(const char *s, enum sinkfmt_unit u)
{
	return sinkfmt_measure(s, strlen(s), u);
}

/*
 * The byte length of the longest prefix of s[0..len) that measures at
 * most max units and ends on a grapheme cluster boundary (on a code
 * point boundary if no cluster boundary but the start fits).
 */
static size_t
prefix_fit(const char *s, size_t len, size_t max, enum sinkfmt_unit u)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t cp, prev = -1, state = 0;
	utf8proc_ssize_t n;
	size_t pos = 0, used = 0, cluster = 0, point = 0, w;

	while (pos < len) {
		n = utf8proc_iterate(p + pos, (utf8proc_ssize_t)(len - pos),
		    &cp);
		if (n <= 0)
			break;
		if (prev != -1 && utf8proc_grapheme_break_stateful(prev, cp,
		    &state))
			cluster = pos;
		point = pos;
		w = u == SINKFMT_BYTES ? (size_t)n : cp >= 0x10000 ? 2 : 1;
		if (used + w > max)
			return cluster > 0 ? cluster : point;
		used += w;
		prev = cp;
		pos += (size_t)n;
	}
	return pos;
}

static size_t
ellipsis_units(enum sinkfmt_unit u)
{
	return u == SINKFMT_BYTES ? 3 : 1;
}

/* The length of s[0..k) without trailing spaces. */
static size_t
rtrim(const char *s, size_t k)
{
	while (k > 0 && s[k - 1] == ' ')
		k--;
	return k;
}

char *
sinkfmt_truncate(const char *s, size_t max, enum sinkfmt_unit u)
{
	size_t len = strlen(s), k;
	char *out;

	if (sinkfmt_measure(s, len, u) <= max)
		return xstrdup(s);
	if (max < ellipsis_units(u))
		return xstrdup("");
	k = rtrim(s, prefix_fit(s, len, max - ellipsis_units(u), u));
	out = xmalloc(k + sizeof SINKFMT_ELLIPSIS);
	memcpy(out, s, k);
	memcpy(out + k, SINKFMT_ELLIPSIS, sizeof SINKFMT_ELLIPSIS);
	return out;
}

void
sinkfmt_add(struct buf *b, const char *s, size_t max, enum sinkfmt_unit u,
    sinkfmt_esc_fn esc)
{
	char *t = sinkfmt_truncate(s, max, u);

	esc(b, t, strlen(t));
	free(t);
}

/* 1 when s cut to max and escaped measures at most emax. */
static int
escaped_within(const char *s, size_t max, size_t emax, enum sinkfmt_unit u,
    sinkfmt_esc_fn esc)
{
	struct buf t = {0};
	int ok;

	sinkfmt_add(&t, s, max, u, esc);
	ok = sinkfmt_measure(t.s != NULL ? t.s : "", t.len, u) <= emax;
	buf_free(&t);
	return ok;
}

void
sinkfmt_add_within(struct buf *b, const char *s, size_t max, size_t emax,
    enum sinkfmt_unit u, sinkfmt_esc_fn esc)
{
	size_t lo = 0, hi = max, mid;

	if (!escaped_within(s, max, emax, u, esc)) {
		/* Cut to lo fits (the empty string does), to hi does not. */
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (escaped_within(s, mid, emax, u, esc))
				lo = mid;
			else
				hi = mid;
		}
		max = lo;
	}
	sinkfmt_add(b, s, max, u, esc);
}

/* ----------------------------------------------------------- escape */

void
sinkfmt_esc_none(struct buf *b, const char *s, size_t len)
{
	buf_add(b, s, len);
}

/* Copies s, replacing each byte listed in from by the string to[i]. */
static void
esc_map(struct buf *b, const char *s, size_t len, const char *from,
    const char *const *to)
{
	size_t i, run = 0;
	const char *hit;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || (hit = strchr(from, s[i])) == NULL)
			continue;
		buf_add(b, s + run, i - run);
		buf_adds(b, to[hit - from]);
		run = i + 1;
	}
	buf_add(b, s + run, len - run);
}

void
sinkfmt_esc_html(struct buf *b, const char *s, size_t len)
{
	static const char *const to[] = { "&amp;", "&lt;", "&gt;", "&quot;" };

	esc_map(b, s, len, "&<>\"", to);
}

void
sinkfmt_esc_telegram(struct buf *b, const char *s, size_t len)
{
	static const char *const to[] = { "&amp;", "&lt;", "&gt;", "&quot;",
	    "@" SINKFMT_ZWSP };

	esc_map(b, s, len, "&<>\"@", to);
}

void
sinkfmt_esc_slack(struct buf *b, const char *s, size_t len)
{
	static const char *const to[] = { "&amp;", "&lt;", "&gt;" };

	esc_map(b, s, len, "&<>", to);
}

/* A backslash before each byte in set; '@' gets a ZWSP after it. */
static void
esc_backslash(struct buf *b, const char *s, size_t len, const char *set)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '@') {
			buf_adds(b, "@" SINKFMT_ZWSP);
			continue;
		}
		if (s[i] != '\0' && strchr(set, s[i]) != NULL)
			buf_addc(b, '\\');
		buf_addc(b, s[i]);
	}
}

void
sinkfmt_esc_discord(struct buf *b, const char *s, size_t len)
{
	esc_backslash(b, s, len, "\\`*_~|<>[](){}#+-.!:");
}

void
sinkfmt_esc_mattermost(struct buf *b, const char *s, size_t len)
{
	size_t i, run = 0;

	/* Entities first, then GFM's escapable punctuation. */
	for (i = 0; i < len; i++) {
		const char *ent = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" :
		    s[i] == '>' ? "&gt;" : NULL;
		if (ent == NULL)
			continue;
		esc_backslash(b, s + run, i - run, "\\`*_~|[](){}#+-.!");
		buf_adds(b, ent);
		run = i + 1;
	}
	esc_backslash(b, s + run, len - run, "\\`*_~|[](){}#+-.!");
}

void
sinkfmt_esc_teams(struct buf *b, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf_addc(b, s[i]);
		if ((s[i] == ']' && i + 1 < len && s[i + 1] == '(') ||
		    s[i] == '<')
			buf_adds(b, SINKFMT_ZWSP);
	}
}

void
sinkfmt_esc_gchat(struct buf *b, const char *s, size_t len)
{
	static const char *const to[] = { "<" SINKFMT_ZWSP };

	esc_map(b, s, len, "<", to);
}

/* ------------------------------------------------------ marked text */

struct seg {
	const char *s;
	size_t len;
	int hit;
};

/* Splits a snippet at its [[hits]]; returns the number of segments. */
static size_t
segments(const char *p, struct seg **out)
{
	struct seg *v = NULL;
	size_t n = 0, cap = 0;
	const char *o, *c;

	while (*p != '\0') {
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 8;
			v = xreallocarray(v, cap, sizeof *v);
		}
		if ((o = strstr(p, "[[")) == NULL ||
		    (c = strstr(o + 2, "]]")) == NULL) {
			v[n++] = (struct seg){ p, strlen(p), 0 };
			break;
		}
		if (o > p)
			v[n++] = (struct seg){ p, (size_t)(o - p), 0 };
		v[n++] = (struct seg){ o + 2, (size_t)(c - o - 2), 1 };
		p = c + 2;
	}
	*out = v;
	return n;
}

static void
emit(struct buf *b, const struct seg *g, size_t len,
    const struct sinkfmt_markup *m)
{
	if (len == 0)
		return;
	if (g->hit)
		buf_adds(b, m->open);
	m->esc(b, g->s, len);
	if (g->hit)
		buf_adds(b, m->close);
}

void
sinkfmt_add_marked(struct buf *b, const char *snippet, size_t max,
    enum sinkfmt_unit u, const struct sinkfmt_markup *m)
{
	struct seg *v;
	size_t n = segments(snippet, &v), i, total = 0, left, mu, k;

	for (i = 0; i < n; i++)
		total += sinkfmt_measure(v[i].s, v[i].len, u);
	if (total <= max) {
		for (i = 0; i < n; i++)
			emit(b, &v[i], v[i].len, m);
		free(v);
		return;
	}
	if (max >= ellipsis_units(u)) {
		left = max - ellipsis_units(u);
		for (i = 0; i < n; i++) {
			mu = sinkfmt_measure(v[i].s, v[i].len, u);
			if (mu <= left) {
				emit(b, &v[i], v[i].len, m);
				left -= mu;
				continue;
			}
			k = prefix_fit(v[i].s, v[i].len, left, u);
			emit(b, &v[i], v[i].hit ? k : rtrim(v[i].s, k), m);
			break;
		}
		buf_adds(b, SINKFMT_ELLIPSIS);
	}
	free(v);
}

void
sinkfmt_add_terms(struct buf *b, const struct sinkfmt_alert *a,
    const char *sep, enum sinkfmt_unit u, const struct sinkfmt_markup *m,
    int scale, size_t emax)
{
	size_t i, shown = sinkfmt_cap(TERMS_SHOWN, scale), used = 0, n;
	size_t ell = sinkfmt_measures(sep, u) + ellipsis_units(u);
	struct buf t = {0};

	for (i = 0; i < a->nterms && i < shown; i++) {
		buf_reset(&t);
		if (i > 0)
			buf_adds(&t, sep);
		buf_adds(&t, m->open);
		sinkfmt_add(&t, a->terms[i], sinkfmt_cap(TERM_MAX, scale), u,
		    m->esc);
		buf_adds(&t, m->close);
		n = sinkfmt_measure(t.s, t.len, u);
		/* Room for this one, and for a final "…" if more follow. */
		if (used + n + (i + 1 < a->nterms ? ell : 0) > emax)
			break;
		buf_add(b, t.s, t.len);
		used += n;
	}
	buf_free(&t);
	if (i < a->nterms && used + ell <= emax) {
		if (i > 0)
			buf_adds(b, sep);
		buf_adds(b, SINKFMT_ELLIPSIS);
	}
}

/* -------------------------------------------------------------- URL */

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* 1 when [h, end) is a plain host with an optional port. */
static int
plain_host(const char *h, const char *end)
{
	const char *p = h;

	if (p < end && *p == '[') {
		for (p++; p < end && (is_hex(*p) || *p == ':' ||
		    *p == '.'); p++)
			;
		if (p >= end || *p != ']')
			return 0;
		p++;
	} else {
		for (; p < end && (is_alnum(*p) || *p == '.' || *p == '-'); p++)
			;
		if (p == h)
			return 0;
	}
	if (p < end && *p == ':')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			;
	return p == end;
}

char *
sinkfmt_url(const char *link)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	const char *host, *end;
	struct buf b = {0};

	if (link == NULL || !util_is_http_url(link) || strlen(link) > URL_MAX)
		return NULL;
	host = strstr(link, "://") + 3;
	end = host + strcspn(host, "/?#");
	if (!plain_host(host, end))
		return NULL;
	buf_add(&b, link, (size_t)(end - link));
	for (p = (const unsigned char *)end; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("\"<>\\^`{|}()[]", *p)) {
			buf_addc(&b, '%');
			buf_addc(&b, hex[*p >> 4]);
			buf_addc(&b, hex[*p & 15]);
		} else
			buf_addc(&b, (char)*p);
	}
	if (b.len > URL_MAX) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

void
sinkfmt_add_urlencoded(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (is_alnum(*p) || strchr("-._~", *p) != NULL)
			buf_addc(b, (char)*p);
		else {
			buf_addc(b, '%');
			buf_addc(b, hex[*p >> 4]);
			buf_addc(b, hex[*p & 15]);
		}
	}
}

void
sinkfmt_add_base64(struct buf *b, const void *data, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	unsigned long v;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		buf_addc(b, tab[v >> 18 & 63]);
		buf_addc(b, tab[v >> 12 & 63]);
		buf_addc(b, tab[v >> 6 & 63]);
		buf_addc(b, tab[v & 63]);
	}
	if (i < n) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned long)p[i + 1] << 8;
		buf_addc(b, tab[v >> 18 & 63]);
		buf_addc(b, tab[v >> 12 & 63]);
		buf_addc(b, i + 1 < n ? tab[v >> 6 & 63] : '=');
		buf_addc(b, '=');
	}
}

/* ------------------------------------------------------------- JSON */

json_t *
sinkfmt_str(const char *s)
{
	return alert_json_string(s != NULL ? s : "");
}

json_t *
sinkfmt_strbuf(struct buf *b)
{
	json_t *j = sinkfmt_str(b->s != NULL ? b->s : "");

	buf_free(b);
	return j;
}

void
sinkfmt_set(json_t *o, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		fatal("sinkfmt: cannot set '%s' (out of memory)", key);
}

void
sinkfmt_append(json_t *a, json_t *v)
{
	if (v == NULL || json_array_append_new(a, v) != 0)
		fatal("sinkfmt: cannot append (out of memory)");
}

static json_t *
made(json_t *j)
{
	if (j == NULL)
		fatal("sinkfmt: out of memory");
	return j;
}

json_t *
sinkfmt_object(void)
{
	return made(json_object());
}

json_t *
sinkfmt_array(void)
{
	return made(json_array());
}

int
sinkfmt_dump(const char *name, const json_t *j, struct sinkfmt_request *out,
    const char *ctype, char *err, size_t errlen)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s == NULL) {
		snprintf(err, errlen, "%s: the message cannot be serialized",
		    name);
		return -1;
	}
	free(out->body);
	free(out->content_type);
	out->body = s;
	out->len = strlen(s);
	out->content_type = xstrdup(ctype);
	return 0;
}

size_t
sinkfmt_serialize(json_t *j, char **body)
{
	free(*body);
	*body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return *body != NULL ? strlen(*body) : 0;
}

void
sinkfmt_give_body(struct sinkfmt_request *out, char **body, size_t len,
    const char *ctype)
{
	free(out->body);
	free(out->content_type);
	out->body = *body;
	out->len = len;
	out->content_type = xstrdup(ctype);
	*body = NULL;
}

void
sinkfmt_header(struct sinkfmt_request *r, const char *name, const char *value)
{
	r->headers = xreallocarray(r->headers, r->nheaders + 1,
	    sizeof *r->headers);
	r->headers[r->nheaders++] = xasprintf("%s: %s", name, value);
}

/* ------------------------------------------------------------ fitting */

size_t
sinkfmt_cap(size_t cap, int scale)
{
	if (scale <= 0)
		return 0;
	return scale >= SINKFMT_FULL ? cap : cap * (size_t)scale / SINKFMT_FULL;
}

const char *
sinkfmt_link(const struct sinkfmt_alert *a, int scale)
{
	if (a->link == NULL || strlen(a->link) > sinkfmt_cap(URL_MAX, scale))
		return NULL;
	return a->link;
}

size_t
sinkfmt_fit(int (*try)(void *, size_t, size_t, int), void *arg, size_t n,
    size_t maxbudget)
{
	size_t m, lo, hi, mid;
	int slo, shi, smid, floor;

	/*
	 * A digest: no m with even its smallest rendering (no snippets,
	 * caps at their floor) over the limit can fit any other way, and
	 * a rendering grows with the alerts in it, so the search starts at
	 * the largest m whose smallest rendering fits (found by bisection)
	 * instead of trying every m down from n.
	 */
	if (n > 2 && !try(arg, n, 0, SINKFMT_FULL / 2)) {
		lo = 1;		/* try(lo) fits or lo == 1 */
		hi = n;		/* try(hi) does not fit */
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (try(arg, mid, 0, SINKFMT_FULL / 2))
				lo = mid;
			else
				hi = mid;
		}
		n = lo;
	}
	for (m = n; m >= 1; m--) {
		if (try(arg, m, maxbudget, SINKFMT_FULL))
			return m;
		if (maxbudget > 0 && try(arg, m, 0, SINKFMT_FULL)) {
			/* try(lo) fits, try(hi) does not. */
			lo = 0;
			hi = maxbudget;
			while (hi - lo > 1) {
				mid = lo + (hi - lo) / 2;
				if (try(arg, m, mid, SINKFMT_FULL))
					lo = mid;
				else
					hi = mid;
			}
			if (try(arg, m, lo, SINKFMT_FULL))
				return m;
			continue;
		}
		/* No snippet fits: shrink the caps. */
		floor = m > 1 ? SINKFMT_FULL / 2 : 0;
		if (!try(arg, m, 0, floor))
			continue;
		slo = floor;
		shi = SINKFMT_FULL;
		while (shi - slo > 1) {
			smid = slo + (shi - slo) / 2;
			if (try(arg, m, 0, smid))
				slo = smid;
			else
				shi = smid;
		}
		if (try(arg, m, 0, slo))
			return m;
	}
	return 0;
}

size_t
sinkfmt_snippet_budget(const struct sinkfmt_alert *a, size_t n,
    size_t digest_max)
{
	size_t i, max = 0, len;

	for (i = 0; i < n; i++)
		if ((len = strlen(a[i].snippet)) > max)
			max = len;
	return n > 1 && max > digest_max ? digest_max : max;
}

int
sinkfmt_fit_dump(const char *name, int (*try)(void *, size_t, size_t, int),
    void *arg, size_t n, size_t maxbudget, json_t *const *msg,
    struct sinkfmt_request *out, char *err, size_t errlen)
{
	size_t m;

	if ((m = sinkfmt_fit(try, arg, n, maxbudget)) == 0) {
		snprintf(err, errlen, "%s: the alert does not fit", name);
		return -1;
	}
	if (sinkfmt_dump(name, *msg, out, "application/json", err,
	    errlen) == -1)
		return -1;
	out->shown = m;
	return 0;
}

void
sinkfmt_add_count(struct buf *b, size_t n)
{
	buf_addf(b, "%zu alert%s", n, n == 1 ? "" : "s");
}

void
sinkfmt_add_omitted(struct buf *b, size_t omitted)
{
	buf_addf(b, SINKFMT_ELLIPSIS "and %zu more alert%s not shown", omitted,
	    omitted == 1 ? "" : "s");
}

void
sinkfmt_add_watchlists(struct buf *b, const struct sinkfmt_alert *v, size_t m,
    const char *sep, size_t max, sinkfmt_esc_fn esc)
{
	size_t i, j;

	for (i = 0; i < m; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(v[j].watchlist, v[i].watchlist) == 0)
				break;
		if (j < i)
			continue;
		if (i > 0)
			buf_adds(b, sep);
		sinkfmt_add(b, v[i].watchlist, max, SINKFMT_UTF16, esc);
	}
}

void
sinkfmt_add_meta(struct buf *b, const struct sinkfmt_alert *a, size_t max,
    const struct sinkfmt_markup *m)
{
	buf_adds(b, m->open);
	sinkfmt_add(b, a->watchlist, max, SINKFMT_UTF16, m->esc);
	buf_adds(b, m->close);
	buf_adds(b, " \xc2\xb7 ");
	sinkfmt_add(b, a->feed, max, SINKFMT_UTF16, m->esc);
	buf_adds(b, " \xc2\xb7 ");
	sinkfmt_add(b, a->when, max, SINKFMT_UTF16, m->esc);
}

void
sinkfmt_digest_id(const struct sinkfmt_alert *a, size_t n, char out[36])
{
	struct buf b = {0};
	size_t i;

	for (i = 0; i < n; i++) {
		buf_adds(&b, a[i].alert_id);
		buf_addc(&b, '\x1f');
	}
	snprintf(out, 36, "dg_%016llx%016llx",
	    (unsigned long long)util_hash64(b.s, b.len, 0x5bd1e995ULL),
	    (unsigned long long)util_hash64(b.s, b.len, 0xc2b2ae3d27d4eb4fULL));
	buf_free(&b);
}
