/*
 * sinkfmt_internal.h - what the format files (sinkfmt_<type>.c) share:
 * their entry in the type table, a sanitized view of an alert, length
 * measures and truncation in a service's unit, escapers, the [[hit]]
 * converter, URL and header helpers, and the fitting search that finds
 * the largest rendering within a service's limits.
 *
 * Truncation cuts on extended grapheme cluster boundaries (utf8proc), so
 * a flag, a ZWJ emoji sequence or a letter with its combining marks is
 * never split, and appends "…" (U+2026: 3 bytes, 1 UTF-16 unit), which
 * counts towards the limit.  Only when a single cluster is longer than
 * the whole budget (hostile runs of combining marks) does it fall back
 * to code point boundaries.
 */
#ifndef WIREWATCH_SINKFMT_INTERNAL_H
#define WIREWATCH_SINKFMT_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#define SINKFMT_ELLIPSIS "\xe2\x80\xa6"	/* … */
#define SINKFMT_ZWSP "\xe2\x80\x8b"	/* U+200B ZERO WIDTH SPACE */

/*
 * How a service counts: bytes of UTF-8, or UTF-16 code units.  Services
 * that say "characters" are measured in UTF-16 code units: never fewer
 * than code points, so a text that fits in UTF-16 units fits however
 * the service counts (Telegram counts UTF-16 units; Discord, Slack and
 * Mattermost code points).
 */
enum sinkfmt_unit {
	SINKFMT_BYTES,
	SINKFMT_UTF16
};

/* One format: its name, renderer and response hooks. */
struct sinkfmt_type_ops {
	const char *name;
	/* alerts are JSON objects (checked by the caller), n >= 1 */
	int (*render)(const struct sinkfmt_opts *o,
	    const json_t *const *alerts, size_t n,
	    struct sinkfmt_request *out, char *err, size_t errlen);
	/* NULL: the service has no retry hint in its bodies */
	long (*retry_after_ms)(const char *body, size_t len);
	int gone_on_404;
	/*
	 * NULL: the service announces no used-up rate limit in its
	 * response headers (see sinkfmt_pause_after_ms)
	 */
	long (*pause_after_ms)(sinkfmt_header_fn get, const void *ctx);
	/*
	 * 1: one alert a request, never a digest (a program's webhook: its
	 * webhook-id is the alert id, so a repeat after a crash is the same
	 * request; a digest's id comes from the alerts it holds)
	 */
	int one_per_request;
};

extern const struct sinkfmt_type_ops sinkfmt_console_ops;
extern const struct sinkfmt_type_ops sinkfmt_webhook_ops;
extern const struct sinkfmt_type_ops sinkfmt_slack_ops;
extern const struct sinkfmt_type_ops sinkfmt_discord_ops;
extern const struct sinkfmt_type_ops sinkfmt_mattermost_ops;
extern const struct sinkfmt_type_ops sinkfmt_teams_ops;
extern const struct sinkfmt_type_ops sinkfmt_google_chat_ops;
extern const struct sinkfmt_type_ops sinkfmt_telegram_ops;
extern const struct sinkfmt_type_ops sinkfmt_ntfy_ops;

/*
 * An alert's fields for display: every string is a malloc'd, valid
 * UTF-8, single-line copy (control characters and U+2028/U+2029 become
 * spaces, bidi embedding/override/isolate controls are removed), never
 * NULL ("" when absent).  link is the cleaned http(s) link or NULL
 * (sinkfmt_url).  json is the alert itself (borrowed).
 */
struct sinkfmt_alert {
	char *alert_id;
	char *watchlist;
	char *title;		/* the link, then "(untitled)", when empty */
	char *link;		/* NULL: nothing to link */
	char *published;	/* as stored (RFC 3339) */
	char *when;		/* for people: "2025-07-13 06:41 UTC" */
	char *feed;
	char *snippet;		/* hits still in [[...]] */
	char **terms;
	size_t nterms;
	const json_t *json;
};

/* Fills a from the JSON object j; cannot fail. */
void sinkfmt_alert_load(struct sinkfmt_alert *a, const json_t *j);
void sinkfmt_alert_clear(struct sinkfmt_alert *a);
/* Loads alerts[0..n) into a new array; free with sinkfmt_alerts_free. */
struct sinkfmt_alert *sinkfmt_alerts_load(const json_t *const *alerts,
    size_t n);
void sinkfmt_alerts_free(struct sinkfmt_alert *v, size_t n);

/* The length of s[0..len) (valid UTF-8) in unit u. */
size_t sinkfmt_measure(const char *s, size_t len, enum sinkfmt_unit u);
size_t sinkfmt_measures(const char *s, enum sinkfmt_unit u);

/*
 * A malloc'd copy of s cut to at most max units: s itself when it fits,
 * else its longest prefix on a grapheme boundary, trailing spaces
 * removed, followed by "…".  "" when max cannot hold even the "…".
 */
char *sinkfmt_truncate(const char *s, size_t max, enum sinkfmt_unit u);

/* An escaper appends s[0..len) to b in a service's syntax. */
typedef void (*sinkfmt_esc_fn)(struct buf *b, const char *s, size_t len);

void sinkfmt_esc_none(struct buf *b, const char *s, size_t len);
/* & < > " as entities (Telegram HTML, Google Chat card HTML). */
void sinkfmt_esc_html(struct buf *b, const char *s, size_t len);
/* sinkfmt_esc_html, and a ZWSP after '@' so no @username notifies. */
void sinkfmt_esc_telegram(struct buf *b, const char *s, size_t len);
/* & < > only, as Slack documents. */
void sinkfmt_esc_slack(struct buf *b, const char *s, size_t len);
/*
 * Discord markdown: a backslash before every markup character (Discord
 * unescapes any backslashed non-alphanumeric character; it does not
 * decode HTML entities), and a ZWSP after '@' so @everyone, @here and
 * @user are shown but never mention (allowed_mentions stops pings too).
 */
void sinkfmt_esc_discord(struct buf *b, const char *s, size_t len);
/*
 * Mattermost markdown: & < > as entities (the server turns a raw
 * "<url|label>" into a link before rendering, and its markdown decodes
 * entities), a backslash before the other GFM escapable characters, and
 * a ZWSP after '@' so @channel, @all, @here and @user never mention.
 */
void sinkfmt_esc_mattermost(struct buf *b, const char *s, size_t len);
/*
 * Teams Adaptive Card text: backslash escapes show literally on some
 * Teams clients, so link syntax is broken with a ZWSP between ']' and
 * '(' instead, and one after every '<' (no <at> tag, no <url> autolink;
 * Teams shows no HTML, so '<' is otherwise literal).
 */
void sinkfmt_esc_teams(struct buf *b, const char *s, size_t len);
/*
 * Google Chat message text, which shows entities literally: a ZWSP after
 * every '<' breaks <users/all>, <users/ID> and <url|label>.
 */
void sinkfmt_esc_gchat(struct buf *b, const char *s, size_t len);

/* s truncated to max units (sinkfmt_truncate), then escaped, onto b. */
void sinkfmt_add(struct buf *b, const char *s, size_t max,
    enum sinkfmt_unit u, sinkfmt_esc_fn esc);

/*
 * The same, cut further when needed so that the escaped text measures at
 * most emax units: for fields with a hard limit that escaping could
 * otherwise push over (Discord's title, Slack's fields).
 */
void sinkfmt_add_within(struct buf *b, const char *s, size_t max, size_t emax,
    enum sinkfmt_unit u, sinkfmt_esc_fn esc);

/* How a service marks a hit: escaper, then open and close markup. */
struct sinkfmt_markup {
	sinkfmt_esc_fn esc;
	const char *open;
	const char *close;
};

/*
 * The snippet (hits in [[...]]; an unclosed "[[" is text) onto b with
 * every hit in m's markup, its visible text cut to max units with "…"
 * (the markup and escapes do not count).
 */
void sinkfmt_add_marked(struct buf *b, const char *snippet, size_t max,
    enum sinkfmt_unit u, const struct sinkfmt_markup *m);

/*
 * The matched terms in m's markup, separated by sep: at most 20 (scaled),
 * each cut to 60 units (scaled), the whole escaped list within emax
 * units; "…" stands for the terms left out.
 */
void sinkfmt_add_terms(struct buf *b, const struct sinkfmt_alert *a,
    const char *sep, enum sinkfmt_unit u, const struct sinkfmt_markup *m,
    int scale, size_t emax);

/*
 * A malloc'd link fit to put in any markup, or NULL: only http(s) URLs
 * whose host is plain (letters, digits, '.', '-', a port, or an [IPv6]
 * literal); spaces, controls, non-ASCII bytes and "<>\^`{|}()[] are
 * percent-encoded; NULL when the result is longer than 2,000 bytes.
 */
char *sinkfmt_url(const char *link);

/* s percent-encoded for a URL query value (RFC 3986 unreserved kept). */
void sinkfmt_add_urlencoded(struct buf *b, const char *s);

/* Standard base64 of p[0..n) onto b. */
void sinkfmt_add_base64(struct buf *b, const void *p, size_t n);

/* A JSON string of s (never NULL; invalid UTF-8 is repaired). */
json_t *sinkfmt_str(const char *s);
/* The same of b's contents; b is emptied. */
json_t *sinkfmt_strbuf(struct buf *b);
/* Sets key of o to v (stolen); out-of-memory is fatal. */
void sinkfmt_set(json_t *o, const char *key, json_t *v);
void sinkfmt_append(json_t *a, json_t *v);
/* A new empty JSON object or array; out-of-memory is fatal. */
json_t *sinkfmt_object(void);
json_t *sinkfmt_array(void);

/*
 * Serializes j (compact, UTF-8) into out->body with content type ctype.
 * Returns 0, or -1 with "NAME: ..." in err when it cannot be serialized.
 */
int sinkfmt_dump(const char *name, const json_t *j,
    struct sinkfmt_request *out, const char *ctype, char *err,
    size_t errlen);

/*
 * For formats whose limit is on the serialized body: replaces *body
 * (freed) with j serialized compactly, NULL when it cannot be, and frees
 * j.  Returns the length of the new *body, 0 when it is NULL.
 */
size_t sinkfmt_serialize(json_t *j, char **body);

/*
 * Moves *body (len bytes, from sinkfmt_serialize) into out->body with
 * content type ctype; *body becomes NULL.
 */
void sinkfmt_give_body(struct sinkfmt_request *out, char **body, size_t len,
    const char *ctype);

/* Adds a "Name: value" header line to r. */
void sinkfmt_header(struct sinkfmt_request *r, const char *name,
    const char *value);

/*
 * Caps scale with the fitting search (below): a cap at scale percent.
 * SINKFMT_FULL is every cap as written.
 */
#define SINKFMT_FULL 100
size_t sinkfmt_cap(size_t cap, int scale);
/* a->link when it is within the scaled 2,000 bytes, else NULL. */
const char *sinkfmt_link(const struct sinkfmt_alert *a, int scale);

/*
 * The fitting search.  try(arg, m, budget, scale) renders the first m
 * alerts with a snippet budget (units per alert) and every fixed cap
 * (titles, names, terms, links) at scale percent into arg, and returns
 * 1 when the result is within every limit; it is called with the last
 * arguments for which it returned 1 before sinkfmt_fit returns, so arg
 * then holds that rendering.  Output must grow with budget and scale.
 *
 * The search keeps every alert it can: snippets shrink first (caps at
 * full scale); only when no snippet fits do the caps shrink, down to
 * half in a digest (then the last alert is left out) and down to
 * nothing for a single alert, whose rendering at scale 0 is bare
 * structure and always fits.  Returns m, or 0 when even that does not
 * fit (a renderer bug).
 */
size_t sinkfmt_fit(int (*try)(void *, size_t, size_t, int), void *arg,
    size_t n, size_t maxbudget);

/*
 * The number at body.key (outer NULL) or body.outer.key of a JSON
 * response, as seconds turned into milliseconds (rounded up, at most a
 * day); 0 when absent, not a positive number, or not JSON.
 */
long sinkfmt_json_seconds_ms(const char *body, size_t len, const char *outer,
    const char *key);

/*
 * A header value that is a plain non-negative decimal number of seconds
 * ("2", "0.350", "1470173023.123"; blanks around it allowed) in
 * milliseconds, rounded up; -1 when v is NULL or not such a number.
 * Values past 10^15 ms read as 10^15.
 */
long long sinkfmt_header_ms(const char *v);

/* ms as a pause or retry hint: 0 when not positive, at most a day. */
long sinkfmt_hint_ms(long long ms);

/*
 * The largest snippet budget worth trying (sinkfmt_fit's maxbudget): the
 * longest snippet of alerts[0..n) in bytes, a bound on any unit, but at
 * most digest_max when n > 1.
 */
size_t sinkfmt_snippet_budget(const struct sinkfmt_alert *a, size_t n,
    size_t digest_max);

/*
 * The fitting search for a format called name whose try() leaves the
 * message it built in *msg, which is then serialized into out as
 * application/json (sinkfmt_dump), with out->shown the m it found.
 * Returns 0, or -1 with "NAME: ..." in err when nothing fits or the
 * message cannot be serialized.  *msg stays the caller's to free.
 */
int sinkfmt_fit_dump(const char *name, int (*try)(void *, size_t, size_t, int),
    void *arg, size_t n, size_t maxbudget, json_t *const *msg,
    struct sinkfmt_request *out, char *err, size_t errlen);

/* "N alerts" / "…and K more alerts not shown" in plain text. */
void sinkfmt_add_count(struct buf *b, size_t n);
void sinkfmt_add_omitted(struct buf *b, size_t omitted);

/*
 * The distinct watchlists of alerts v[0..m), in order, separated by sep,
 * each cut to max UTF-16 units and escaped with esc.
 */
void sinkfmt_add_watchlists(struct buf *b, const struct sinkfmt_alert *v,
    size_t m, const char *sep, size_t max, sinkfmt_esc_fn esc);

/*
 * "watchlist · feed · time" of a: the watchlist inside m's open and
 * close markup, each of the three cut to max UTF-16 units and escaped
 * with m's escaper.
 */
void sinkfmt_add_meta(struct buf *b, const struct sinkfmt_alert *a,
    size_t max, const struct sinkfmt_markup *m);

/* A stable id for a digest of alerts[0..n): "dg_" and 32 hex digits. */
void sinkfmt_digest_id(const struct sinkfmt_alert *a, size_t n,
    char out[36]);

#endif
