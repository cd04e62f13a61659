/*
 * fetch.h - HTTP(S) and file:// transfers on the event loop.
 *
 * libcurl's multi socket API driven by libevent: no transfer ever blocks
 * the loop.  The fetcher owns the limits that apply to every transfer
 * (connect and total timeouts, body size, redirects, protocols) and the
 * politeness caps; requests over a cap wait in a queue and their timeouts
 * start when they start.
 *
 * Two lanes.  Feed polls (GET) and deliveries (requests with post_body,
 * i.e. webhook POSTs from sink.c) are scheduled apart: polls share
 * max_total, deliveries share max_deliveries, and neither counts against
 * the other, so an alert is never queued behind thousands of polls.
 * per_host applies within each lane: a host that serves both feeds and a
 * webhook may see per_host polls plus per_host deliveries at once.
 *
 * Within a lane every host has its own FIFO queue and hosts take turns.
 * A host starts with a few slots (4, or per_host if smaller) and gains one
 * per response until per_host, so that per_host connections are not opened
 * to a server in the same instant; an idle host starts over.
 *
 * Redirects are followed here, hop by hop, so that a feed moved for good
 * (every hop 301/308) can be told apart from a temporary redirect.  Only
 * http:// and https:// go to libcurl.  file:// URLs are read here, and only
 * when they name a regular file (a FIFO, a device or a directory is an
 * error that names the path), at most max_body bytes.
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
	int per_host;          /* concurrent per host, in each lane; 0: 2 */
	int max_total;         /* concurrent feed polls (GET); 0: 64 */
	int max_deliveries;    /* concurrent POSTs, apart from polls; 0: 16 */
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
	const char *const *headers; /* extra headers, "Name: value" (copied) */
	size_t nheaders;
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
	struct fetch *xfer;   /* for fetch_header(); NULL without HTTP headers */
};

/*
 * Called once per fetch, on the loop, never from inside fetch_start().
 * res is valid only during the call.
 * When the fetcher is freed with transfers in flight, each gets a call
 * with ok == 0 and error "cancelled".
 */
typedef void (*fetch_done_cb)(const struct fetch_result *res, void *arg);

struct fetcher *fetch_new(struct event_base *base, const struct fetch_opts *opts);
void fetch_free(struct fetcher *f);

/*
 * Starts (or queues) a transfer; returns NULL only for a request without a
 * URL.  Every other failure, a bad URL included, reaches cb.
 */
struct fetch *fetch_start(struct fetcher *f, const struct fetch_req *req,
    fetch_done_cb cb, void *arg);

/* Cancels one transfer: its callback is not called.  t may be NULL. */
void fetch_cancel(struct fetch *t);

/*
 * The value of the response header name (case-insensitive; the first
 * one when it is repeated) of an HTTP response, or NULL when there is
 * none (and for file:// and failed transfers).  Only during the done
 * callback, and valid until the next call.
 */
const char *fetch_header(const struct fetch_result *res, const char *name);

/* Transfers queued, running or about to report. */
size_t fetch_pending(const struct fetcher *f);

#endif
