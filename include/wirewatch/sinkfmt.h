/*
 * sinkfmt.h - an alert as each kind of sink wants it: the request body,
 * its content type, extra headers and URL query, one file per format
 * (daemon/sinkfmt_<type>.c) behind one type table (daemon/sinkfmt.c).
 *
 * Rendering never fails on any valid alert text: every service's limits
 * (bytes or characters, as that service counts them) are met by
 * truncating on grapheme boundaries with "…", dropping optional parts,
 * and, in a digest, leaving out the alerts that do not fit and saying
 * how many.  User text (titles, snippets, feed and watchlist names,
 * terms) is escaped for each service so that markup, mentions
 * (@everyone, <!channel>, <users/all>) and link syntax in it are shown
 * literally and can neither ping anyone nor disguise a link; bidi
 * override and isolate controls are removed, line breaks become spaces.
 * Only http(s) links with a plain host are ever linked.
 *
 * Each format file cites the service documentation its limits come
 * from; tests/e2e/chat_receivers.py enforces the same rules
 * independently.
 */
#ifndef WIREWATCH_SINKFMT_H
#define WIREWATCH_SINKFMT_H

#include <stddef.h>

#include <jansson.h>

enum sinkfmt_type {
	SINKFMT_CONSOLE,
	SINKFMT_WEBHOOK,
	SINKFMT_SLACK,
	SINKFMT_DISCORD,
	SINKFMT_MATTERMOST,
	SINKFMT_TEAMS,
	SINKFMT_GOOGLE_CHAT,
	SINKFMT_TELEGRAM,
	SINKFMT_NTFY
};

/*
 * "console", "webhook", "slack", "discord", "mattermost", "teams",
 * "google-chat" (also accepted as "google_chat"), "telegram", "ntfy";
 * -1 for an unknown name or NULL.
 */
int sinkfmt_type_by_name(const char *name);

/* The canonical name above; "?" for a value outside the enum. */
const char *sinkfmt_type_name(enum sinkfmt_type t);

/* Per-sink settings the renderer needs. */
struct sinkfmt_opts {
	const char *chat_id;	/* telegram: required */
	/*
	 * telegram: a single alert is sent as a reply to this message of
	 * the chat (reply_parameters, allow_sending_without_reply); 0: none
	 */
	long long reply_to;
};

/*
 * A rendered request.  Every pointer is malloc'd and owned by the
 * request; sinkfmt_request_free() releases them.
 */
struct sinkfmt_request {
	char *body;		/* NUL-terminated; len excludes the NUL */
	size_t len;
	char *content_type;
	char **headers;		/* "Name: value" lines (ntfy); none elsewhere */
	size_t nheaders;
	/*
	 * "k=v[&k=v]" to append to the sink URL after '?' or '&' (it has no
	 * leading separator); NULL if none.
	 */
	char *url_query;
	/*
	 * How many of alerts[0..n) the message shows: always the first
	 * ones, n for a single alert and for a digest that fits whole, and
	 * n - K for a digest that says "…and K more alerts not shown" (the
	 * webhook envelope's "omitted":K).  The caller must not count an
	 * alert left out as delivered.
	 */
	size_t shown;
};

/*
 * Renders alerts[0..n) (n == 1: one alert; n > 1: one digest message
 * listing as many as fit, then how many were left out; out->shown says
 * how many it holds) for type t into out, which the caller
 * zero-initialises and frees with sinkfmt_request_free() after success.
 * o may be NULL except for telegram.  Returns 0, or -1 with the reason
 * in err and out left empty: an unknown type, n == 0, an alert that is
 * not a JSON object, telegram without a chat_id.  Never fails because
 * of what an alert's text contains or how long it is.
 *
 * The alert fields used: alert_id, watchlist, title, link, published,
 * feed, id, item_id, terms, snippet (hits in [[...]]), explain, and an
 * optional "created" (RFC 3339) that the webhook envelope's timestamp
 * prefers over published.
 *
 * Extra requests: discord's url_query is "wait=true"; google-chat's is
 * "requestId=<alert_id>" (a digest: a stable id derived from all the
 * alert ids), URL-encoded, so a retried POST creates no second message.
 */
int sinkfmt_render(enum sinkfmt_type t, const struct sinkfmt_opts *o,
    const json_t *const *alerts, size_t n, struct sinkfmt_request *out,
    char *err, size_t errlen);

/* Frees what r holds and zeroes it; NULL is a no-op. */
void sinkfmt_request_free(struct sinkfmt_request *r);

/*
 * The service's retry hint in a response body, in milliseconds (rounded
 * up, at most one day), or 0 when there is none: Discord's JSON
 * "retry_after" (seconds, a float), Telegram's "parameters.retry_after"
 * (seconds).  Other types always 0 (their hint is the Retry-After
 * header, which the caller reads).
 */
long sinkfmt_retry_after_ms(enum sinkfmt_type t, const char *body, size_t len);

/*
 * The message_id of Telegram's answer to a sendMessage ({"ok": true,
 * "result": {"message_id": N, ...}}), or 0 when body is not such an
 * answer.
 */
long long sinkfmt_telegram_message_id(const char *body, size_t len);

/*
 * A response header's value by name (case-insensitive), NULL when the
 * response has none; ctx is the caller's (sink.c passes the fetch
 * result).  A value is valid until the next call.
 */
typedef const char *(*sinkfmt_header_fn)(const void *ctx, const char *name);

/*
 * How long nothing more should be sent to this sink after a response
 * with these headers, whatever its status (a success included), in
 * milliseconds (rounded up, at most one day); 0 when the service did
 * not say so.  It is the service announcing that its rate-limit bucket
 * for the destination is used up, so the next request waits for the
 * bucket to reset instead of drawing a 429.  Discord:
 * "X-RateLimit-Remaining: 0" with "X-RateLimit-Reset-After" (seconds, a
 * float), else "X-RateLimit-Reset" (Unix time, a float) against the
 * local clock.  Types whose services send no such headers: always 0.
 */
long sinkfmt_pause_after_ms(enum sinkfmt_type t, sinkfmt_header_fn get,
    const void *ctx);

/*
 * 1 when an answer with this HTTP status means the destination is gone
 * for good (disable the sink until reload): 410 for every type, and 404
 * from Discord (an unknown or deleted webhook).  0 otherwise.
 */
int sinkfmt_gone(enum sinkfmt_type t, long status);
/*
 * 1 when alerts piling up for a sink of this type may go out as digests
 * (digest-after); 0 for webhook: one request per alert, so that its
 * webhook-id, the alert id, makes a repeat after a crash the same request.
 */
int sinkfmt_digests(enum sinkfmt_type t);

#endif
