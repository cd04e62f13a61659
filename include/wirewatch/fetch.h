/*
 * fetch.h - HTTP(S) and file:// transfers on the event loop.
 *
 * libcurl's multi socket API driven by libevent: no transfer ever blocks
 * the loop.  The fetcher owns the limits that apply to every transfer
 * (connect and total timeouts, body size, redirects, protocols) and the
 * politeness caps (per-host and global concurrency); requests over a cap
 * wait in a FIFO queue and their timeouts start when they start.
 *
 * Redirects are followed here, hop by hop, so that a feed moved for good
 * (every hop 301/308) can be told apart from a temporary redirect.
 */
#ifndef WIREWATCH_FETCH_H
#define WIREWATCH_FETCH_H

#include <stddef.h>

struct event_base;
struct fetcher;
struct fetch;

struct fetch_opts {
	long connect_timeout_ms;
	long timeout_ms;       /* whole transfer, per hop */
	long long max_body;    /* bytes after decoding; abort at the limit */
	int max_redirects;
	int per_host;          /* concurrent transfers per host */
	int max_total;         /* concurrent transfers overall */
	const char *user_agent;
};

struct fetch_req {
	const char *url;
	const char *post_body;     /* non-NULL: POST this body */
	size_t post_len;
	const char *content_type;  /* of the POST body */
	const char *etag;          /* conditional GET validators, may be NULL */
	const char *last_modified;
	long timeout_ms;           /* 0: the fetcher's default */
};

struct fetch_result {
	int ok;               /* 1: an HTTP response (any status) or a file arrived */
	long status;          /* HTTP status; 200 for file:// */
	char *body;           /* NUL-terminated, may hold NULs */
	size_t len;
	char *content_type;
	char *etag;
	char *last_modified;
	char *url;            /* the URL finally fetched */
	char *moved_to;       /* set when every redirect hop was 301/308 */
	long retry_after;     /* seconds from Retry-After, or 0 */
	double seconds;       /* wall time of the whole fetch */
	char error[256];      /* when !ok, or a non-2xx/304 status: the reason */
};

/*
 * Called once per fetch, on the loop.  res is valid only during the call.
 * When the fetcher is freed with transfers in flight, each gets a call
 * with ok == 0 and error "cancelled".
 */
typedef void (*fetch_done_cb)(const struct fetch_result *res, void *arg);

struct fetcher *fetch_new(struct event_base *base, const struct fetch_opts *opts);
void fetch_free(struct fetcher *f);

/* Starts (or queues) a transfer; never fails except on a bad request. */
struct fetch *fetch_start(struct fetcher *f, const struct fetch_req *req,
    fetch_done_cb cb, void *arg);

/* Cancels one transfer: its callback is not called. */
void fetch_cancel(struct fetch *t);

/* Transfers running and queued. */
size_t fetch_pending(const struct fetcher *f);

#endif
