/*
 * fetch.c - HTTP(S) and file:// transfers on the event loop.
 *
 * HTTP goes through libcurl's multi socket API, wired the way curl's
 * hiperfifo example does it: CURLMOPT_SOCKETFUNCTION keeps one libevent
 * event per socket curl watches, CURLMOPT_TIMERFUNCTION arms one timer,
 * both feed curl_multi_socket_action(), and finished transfers are
 * collected with curl_multi_info_read() after every such call.  Each
 * transfer is one struct fetch hung on CURLOPT_PRIVATE.
 *
 * Scheduling.  Politeness caps are enforced here rather than with
 * CURLMOPT_MAX_HOST_CONNECTIONS because libcurl starts a transfer's timeout
 * clock when the handle is added: thousands of queued feeds would time out
 * waiting for a connection.  A request is queued on its host, parsed from
 * the URL once, when it is queued.  A host that has waiting requests and a
 * free slot sits on its lane's ready list, and starting a transfer takes
 * the host at the head of that list, so a start or a completion costs O(1)
 * however long the queues are.  Hosts take turns; each host's queue is
 * FIFO.  Feed polls and deliveries (POSTs) are separate lanes, each with
 * its own hosts and its own global cap, so an alert never queues behind
 * feed polls.
 *
 * Slow start.  A host does not get all its per-host slots at once: it
 * starts with INITIAL_WINDOW and gains a slot for every response it
 * answers, until per-host-connections, and starts over when it has been
 * idle (its struct host is freed).  Opening per-host-connections sockets to
 * one server in the same millisecond overflows a small accept backlog; the
 * kernel then drops the handshake's last ACK, our side believes it is
 * connected, the request is never acknowledged and the transfer sits until
 * its timeout (issue 11: 64 connections at once to a Python http.server).
 *
 * file:// is not handed to libcurl, whose open() of a FIFO blocks the loop
 * for good and which reads /dev/zero until max-body.  It is served here, from
 * a zero-timeout event: only regular files are read, at most max-body bytes,
 * synchronously (local files, bounded by max-body).
 *
 * URLs may carry credentials (user:password@, ?token=): every URL this file
 * puts in an error or a log line goes through util_url_mask().  Errors from
 * libcurl come from curl_easy_strerror(), whose texts are fixed per code;
 * CURLOPT_ERRORBUFFER is not used because its messages name hosts and, for
 * proxy errors, the proxy string, which may hold a password.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "wirewatch/fetch.h"
#include "wirewatch/log.h"
#include "wirewatch/stats.h"
#include "wirewatch/util.h"

/*
 * Finished transfers' easy handles are kept (curl_easy_reset()) for the
 * next ones instead of curl_easy_cleanup() + curl_easy_init(): at 50,000
 * polls a cycle that was a tenth of the daemon's CPU.
 */
#define IDLE_EASY		128
#define LANE_POLL		0
#define LANE_DELIVERY		1
#define NLANES			2

#define INITIAL_WINDOW		4	/* a host's slots before it answers */
#define DEFAULT_MAX_DELIVERIES	16
#define FILE_CHUNK		65536

TAILQ_HEAD(fetch_list, fetch);

/* A host's queue within one lane.  Lives while it has work. */
struct host {
	char *name;
	uint64_t hash;
	int lane;
	struct fetch_list waiting;
	size_t nwaiting;
	int active;
	int window;		/* slots it may use now; <= per_host */
	int ready;		/* on its lane's ready list */
	TAILQ_ENTRY(host) ready_entry;
	struct host *next;	/* hash chain */
};
TAILQ_HEAD(host_list, host);

struct lane {
	int cap;
	int active;
	struct host_list ready;	/* waiting work and a free slot */
};

enum fetch_state {
	FETCH_QUEUED,		/* on host->waiting */
	FETCH_RUNNING,		/* in the multi handle, on f->running */
	FETCH_LATER		/* t->later pending, on f->later */
};

struct fetch {
	struct fetcher *f;
	enum fetch_state state;
	int lane;
	struct host *host;	/* queued or running over HTTP */
	CURL *easy;
	struct curl_slist *headers;
	char *url;
	char *post_body;
	size_t post_len;
	char *content_type;
	char *etag;
	char *last_modified;
	char **extra;            /* extra request headers, "Name: value" */
	size_t nextra;
	long timeout_ms;
	fetch_done_cb cb;
	void *arg;

	struct event *later;	/* file read or an error to report */
	char *error;		/* FETCH_LATER: the error (malloc'd); NULL: read the file */

	int redirects;
	int all_permanent;
	int too_big;
	struct buf body;
	uint64_t t0;
	TAILQ_ENTRY(fetch) entry;
};

struct fetcher {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct fetch_opts opts;
	char *user_agent;
	int dying;

	struct lane lanes[NLANES];
	struct host **buckets;	/* hosts by (lane, name) */
	size_t nbuckets;	/* a power of two */
	size_t nhosts;

	struct fetch_list running;
	struct fetch_list later;
	CURL *idle[IDLE_EASY];	/* easy handles of finished transfers, reset */
	int nidle;
	size_t nqueued;
	size_t nrunning;
	size_t nlater;
};

struct sock {
	struct event *ev;
};

static void pump(struct fetcher *, int);
static void check_done(struct fetcher *);
static void fetch_release(struct fetch *);

/* --- hosts and lanes -------------------------------------------------- */

/* The lower-cased host of an HTTP URL; "" when it does not parse. */
static char *
url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *out, *p;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		out = xstrdup(host);
	else
		out = xstrdup("");
	for (p = out; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	curl_free(host);
	curl_url_cleanup(u);
	return out;
}

static void
host_rehash(struct fetcher *f)
{
	struct host **nb, *h, *next;
	size_t i, n = f->nbuckets * 2;

	nb = xcalloc(n, sizeof *nb);
	for (i = 0; i < f->nbuckets; i++) {
		for (h = f->buckets[i]; h != NULL; h = next) {
			next = h->next;
			h->next = nb[h->hash & (n - 1)];
			nb[h->hash & (n - 1)] = h;
		}
	}
	free(f->buckets);
	f->buckets = nb;
	f->nbuckets = n;
}

static struct host *
host_get(struct fetcher *f, int lane, const char *name)
{
	uint64_t hv = util_hash64(name, strlen(name), (uint64_t)lane + 1);
	struct host *h;

	for (h = f->buckets[hv & (f->nbuckets - 1)]; h != NULL; h = h->next)
		if (h->hash == hv && h->lane == lane &&
		    strcmp(h->name, name) == 0)
			return h;
	if (f->nhosts >= f->nbuckets)
		host_rehash(f);
	h = xcalloc(1, sizeof *h);
	h->name = xstrdup(name);
	h->hash = hv;
	h->lane = lane;
	h->window = INITIAL_WINDOW < f->opts.per_host ? INITIAL_WINDOW :
	    f->opts.per_host;
	TAILQ_INIT(&h->waiting);
	h->next = f->buckets[hv & (f->nbuckets - 1)];
	f->buckets[hv & (f->nbuckets - 1)] = h;
	f->nhosts++;
	return h;
}

/* Frees a host with nothing queued or running. */
static void
host_put(struct fetcher *f, struct host *h)
{
	struct host **pp;

	if (h->active > 0 || h->nwaiting > 0)
		return;
	for (pp = &f->buckets[h->hash & (f->nbuckets - 1)]; *pp != h;
	    pp = &(*pp)->next)
		;
	*pp = h->next;
	f->nhosts--;
	free(h->name);
	free(h);
}

/* Puts a host on its lane's ready list, or takes it off, as it now stands. */
static void
host_update(struct fetcher *f, struct host *h)
{
	struct lane *l = &f->lanes[h->lane];
	int eligible = h->nwaiting > 0 && h->active < h->window;

	if (eligible && !h->ready) {
		TAILQ_INSERT_TAIL(&l->ready, h, ready_entry);
		h->ready = 1;
	} else if (!eligible && h->ready) {
		TAILQ_REMOVE(&l->ready, h, ready_entry);
		h->ready = 0;
	}
}

/* A transfer's slot is free again. */
static void
slot_release(struct fetch *t)
{
	struct fetcher *f = t->f;
	struct host *h = t->host;

	t->host = NULL;
	f->lanes[t->lane].active--;
	h->active--;
	host_update(f, h);
	host_put(f, h);
}

/* --- libcurl and libevent callbacks ----------------------------------- */

static size_t
fetch_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *t = arg;
	size_t len = size * n;

	/* Checked on the decoded bytes, so a gzip bomb stops at the limit. */
	if (t->f->opts.max_body > 0 &&
	    (long long)(t->body.len + len) > t->f->opts.max_body) {
		t->too_big = 1;
		return 0;
	}
	buf_add(&t->body, p, len);
	return len;
}

static void
socket_action(struct fetcher *f, curl_socket_t s, int action)
{
	CURLMcode mc;
	int running;

	mc = curl_multi_socket_action(f->multi, s, action, &running);
	if (mc != CURLM_OK)
		log_warn("fetch: curl_multi_socket_action: %s",
		    curl_multi_strerror(mc));
	check_done(f);
}

static void
fetch_event_cb(evutil_socket_t fd, short what, void *arg)
{
	int action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	socket_action(arg, fd, action);
}

static void
fetch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int
fetch_multi_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct fetcher *f = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(f->timer);
		return 0;
	}
	/* A zero timeout is served from the loop, never from inside curl. */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (evtimer_add(f->timer, &tv) == -1) {
		log_warn("fetch: cannot arm the transfer timer");
		return -1;
	}
	return 0;
}

/*
 * Every call re-registers the socket (event_del, event_assign, event_add)
 * instead of trusting what libevent already holds: if a socket number is
 * ever closed and reused behind our back, a stale registration would
 * otherwise swallow the new socket's readiness.
 */
static int
fetch_multi_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg,
    void *sockp)
{
	struct fetcher *f = arg;
	struct sock *so = sockp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (so != NULL) {
			curl_multi_assign(f->multi, s, NULL);
			event_free(so->ev);
			free(so);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (so == NULL) {
		so = xcalloc(1, sizeof *so);
		so->ev = event_new(f->base, s, kind, fetch_event_cb, f);
		if (so->ev == NULL)
			fatal("fetch: event_new failed");
		curl_multi_assign(f->multi, s, so);
	} else {
		event_del(so->ev);
		event_assign(so->ev, f->base, s, kind, fetch_event_cb, f);
	}
	if (event_add(so->ev, NULL) == -1) {
		log_warn("fetch: cannot watch socket %d", (int)s);
		return -1;
	}
	return 0;
}

/* --- file:// ---------------------------------------------------------- */

static int
is_file_url(const char *url)
{
	return strncasecmp(url, "file://", 7) == 0;
}

static const char *
file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "of an unknown type";
}

/*
 * The local path of a file:// URL, percent-decoded ("file:///p" or
 * "file://localhost/p").  NULL with the reason in err.
 */
static char *
file_path(const char *url, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *path = NULL, *out = NULL;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		snprintf(err, errlen, "not a local file URL (file:///path)");
	else if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) !=
	    CURLUE_OK || path[0] != '/')
		snprintf(err, errlen, "bad path in file URL");
	else
		out = xstrdup(path);
	curl_free(path);
	curl_url_cleanup(u);
	return out;
}

static int
file_refuse(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (S_ISREG(st->st_mode))
		return 0;
	snprintf(err, errlen, "%s: not a regular file (%s); refused",
	    path, file_kind(st->st_mode));
	return -1;
}

/*
 * Reads a file:// URL into t->body.  stat() first so that a FIFO or a
 * device is refused without being opened; the open itself cannot block
 * (O_NONBLOCK) and fstat() on the descriptor settles what was opened.
 */
static void
file_read(struct fetch *t, struct fetch_result *res)
{
	long long max = t->f->opts.max_body;
	char chunk[FILE_CHUNK], *path;
	struct stat st;
	size_t want;
	ssize_t n;
	int fd = -1;

	if ((path = file_path(t->url, res->error, sizeof res->error)) == NULL)
		return;
	if (stat(path, &st) == -1) {
		snprintf(res->error, sizeof res->error, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (file_refuse(path, &st, res->error, sizeof res->error) == -1)
		goto out;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(res->error, sizeof res->error, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (file_refuse(path, &st, res->error, sizeof res->error) == -1)
		goto out;
	for (;;) {
		want = sizeof chunk;
		if (max > 0 && (long long)(t->body.len + want) > max + 1)
			want = (size_t)(max + 1 - (long long)t->body.len);
		if (max > 0 && (st.st_size > max || want == 0))
			break;
		if ((n = read(fd, chunk, want)) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(res->error, sizeof res->error, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		buf_add(&t->body, chunk, (size_t)n);
	}
	if (max > 0 && (st.st_size > max || (long long)t->body.len > max)) {
		snprintf(res->error, sizeof res->error,
		    "%s: body exceeds max-body (%lld bytes)", path, max);
		goto out;
	}
	res->ok = 1;
	res->status = 200;
	res->body = t->body.s ? t->body.s : "";
	res->len = t->body.len;
out:
	if (fd != -1)
		close(fd);
	free(path);
}

/* Reports a file read or an early failure, from the loop. */
static void
fetch_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch *t = arg;
	struct fetch_result res;

	(void)fd;
	(void)what;
	memset(&res, 0, sizeof res);
	if (t->error != NULL)
		snprintf(res.error, sizeof res.error, "%s", t->error);
	else
		file_read(t, &res);
	res.url = t->url;
	res.seconds = (double)(util_now_ms() - t->t0) / 1000.0;
	stats_fetched(t->post_body != NULL, res.seconds, res.len);
	t->cb(&res, t->arg);
	fetch_release(t);
}

/* Completes t from a zero-timeout event: callbacks never run in fetch_start(). */
static void
defer(struct fetch *t)
{
	struct fetcher *f = t->f;
	struct timeval tv = { 0, 0 };

	t->state = FETCH_LATER;
	TAILQ_INSERT_TAIL(&f->later, t, entry);
	f->nlater++;
	if ((t->later = evtimer_new(f->base, fetch_later_cb, t)) == NULL)
		fatal("fetch: evtimer_new failed");
	evtimer_add(t->later, &tv);
}

static void fail_later(struct fetch *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail_later(struct fetch *t, const char *fmt, ...)
{
	va_list ap;
	char *e;

	va_start(ap, fmt);
	if (vasprintf(&e, fmt, ap) < 0)
		e = xstrdup("out of memory");
	va_end(ap);
	free(t->error);
	t->error = e;
	defer(t);
}

/* --- transfers -------------------------------------------------------- */

static void
fetch_release(struct fetch *t)
{
	struct fetcher *f = t->f;
	struct host *h = t->host;
	size_t i;

	switch (t->state) {
	case FETCH_QUEUED:
		TAILQ_REMOVE(&h->waiting, t, entry);
		h->nwaiting--;
		f->nqueued--;
		t->host = NULL;
		host_update(f, h);
		host_put(f, h);
		break;
	case FETCH_RUNNING:
		curl_multi_remove_handle(f->multi, t->easy);
		TAILQ_REMOVE(&f->running, t, entry);
		f->nrunning--;
		slot_release(t);
		break;
	case FETCH_LATER:
		event_free(t->later);
		TAILQ_REMOVE(&f->later, t, entry);
		f->nlater--;
		break;
	}
	if (t->easy != NULL && !f->dying && f->nidle < IDLE_EASY) {
		curl_easy_reset(t->easy);
		f->idle[f->nidle++] = t->easy;
	} else if (t->easy != NULL) {
		curl_easy_cleanup(t->easy);
	}
	curl_slist_free_all(t->headers);
	buf_free(&t->body);
	free(t->error);
	free(t->url);
	free(t->post_body);
	free(t->content_type);
	free(t->etag);
	free(t->last_modified);
	for (i = 0; i < t->nextra; i++)
		free(t->extra[i]);
	free(t->extra);
	free(t);
}

static void
setup_easy(struct fetch *t)
{
	struct fetcher *f = t->f;
	char *h;
	size_t i;

	if (t->easy != NULL)
		curl_easy_reset(t->easy);	/* a redirect: the same transfer again */
	else if (f->nidle > 0)
		t->easy = f->idle[--f->nidle];	/* reset when it was put back */
	else
		t->easy = curl_easy_init();
	if (t->easy == NULL)
		fatal("curl_easy_init failed");
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	buf_reset(&t->body);
	t->too_big = 0;

	curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	/* file:// never reaches libcurl (see the top of this file). */
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, f->user_agent);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, f->opts.connect_timeout_ms);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS,
	    t->timeout_ms > 0 ? t->timeout_ms : f->opts.timeout_ms);
	if (f->opts.max_body > 0)
		curl_easy_setopt(t->easy, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)f->opts.max_body);
	if (t->post_body != NULL) {
		curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->post_body);
		curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)t->post_len);
		h = xasprintf("Content-Type: %s",
		    t->content_type ? t->content_type : "application/json");
		t->headers = curl_slist_append(t->headers, h);
		free(h);
		/* Webhooks answer fast; no 100-continue round trip. */
		t->headers = curl_slist_append(t->headers, "Expect:");
	}
	for (i = 0; i < t->nextra; i++)
		t->headers = curl_slist_append(t->headers, t->extra[i]);
	if (t->etag != NULL) {
		h = xasprintf("If-None-Match: %s", t->etag);
		t->headers = curl_slist_append(t->headers, h);
		free(h);
	}
	if (t->last_modified != NULL) {
		h = xasprintf("If-Modified-Since: %s", t->last_modified);
		t->headers = curl_slist_append(t->headers, h);
		free(h);
	}
	if (t->headers != NULL)
		curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
}

/* Hands t, which holds a slot, to libcurl. */
static void
start_one(struct fetch *t)
{
	struct fetcher *f = t->f;
	CURLMcode mc;

	t->state = FETCH_RUNNING;
	TAILQ_INSERT_TAIL(&f->running, t, entry);
	f->nrunning++;
	t->t0 = util_now_ms(); /* response time excludes queueing */
	setup_easy(t);
	if ((mc = curl_multi_add_handle(f->multi, t->easy)) == CURLM_OK)
		return;
	TAILQ_REMOVE(&f->running, t, entry);
	f->nrunning--;
	slot_release(t);
	/* The owner hears of it from its callback, which logs it. */
	fail_later(t, "cannot start transfer: %s", curl_multi_strerror(mc));
}

/* Starts queued transfers of one lane while its cap and its hosts allow. */
static void
pump(struct fetcher *f, int lane)
{
	struct lane *l = &f->lanes[lane];
	struct host *h;
	struct fetch *t;

	while (!f->dying && l->active < l->cap &&
	    (h = TAILQ_FIRST(&l->ready)) != NULL) {
		t = TAILQ_FIRST(&h->waiting);
		TAILQ_REMOVE(&h->waiting, t, entry);
		h->nwaiting--;
		f->nqueued--;
		h->active++;
		l->active++;
		/* To the back of the list: hosts take turns. */
		TAILQ_REMOVE(&l->ready, h, ready_entry);
		h->ready = 0;
		host_update(f, h);
		start_one(t);
	}
}

static char *
header_value(CURL *easy, const char *name)
{
	struct curl_header *h;

	if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return NULL;
	return xstrdup(h->value);
}

/* "ftp" for "ftp://user:pw@host/": a scheme that is safe to log. */
static void
url_scheme(const char *url, char *out, size_t outlen)
{
	size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

	if (n == 0 || url[n] != ':' || n >= outlen)
		snprintf(out, outlen, "unknown");
	else
		snprintf(out, outlen, "%.*s", (int)n, url);
}

/*
 * A redirect is followed by reusing the transfer with the new URL.
 * Returns 1 when the transfer was restarted.
 */
static int
follow_redirect(struct fetch *t, long status, struct fetch_result *res)
{
	struct fetcher *f = t->f;
	char *loc = NULL, *from, *to, scheme[16];
	CURLMcode mc;

	if (status != 301 && status != 302 && status != 303 && status != 307 &&
	    status != 308)
		return 0;
	if (t->post_body != NULL)
		return 0;
	curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &loc);
	if (loc == NULL)
		return 0;
	if (!util_is_http_url(loc)) {
		url_scheme(loc, scheme, sizeof scheme);
		snprintf(res->error, sizeof res->error,
		    "HTTP %ld redirect to a %s: URL refused", status, scheme);
		return 0;
	}
	if (t->redirects >= f->opts.max_redirects) {
		snprintf(res->error, sizeof res->error,
		    "too many redirects (more than %d)", f->opts.max_redirects);
		return 0;
	}
	from = util_url_mask(t->url, 0);
	to = util_url_mask(loc, 0);
	log_debug("fetch: %s: HTTP %ld redirect to %s", from, status, to);
	free(from);
	free(to);
	t->redirects++;
	if (status != 301 && status != 308)
		t->all_permanent = 0;
	free(t->url);
	t->url = xstrdup(loc);
	/* Validators belong to the old resource. */
	free(t->etag);
	free(t->last_modified);
	t->etag = t->last_modified = NULL;
	/* The slot stays with the first host; so does the timeout clock. */
	curl_multi_remove_handle(f->multi, t->easy);
	setup_easy(t);
	if ((mc = curl_multi_add_handle(f->multi, t->easy)) != CURLM_OK) {
		snprintf(res->error, sizeof res->error,
		    "cannot follow redirect: %s", curl_multi_strerror(mc));
		return 0;
	}
	return 1;
}

static void
finish(struct fetch *t, CURLcode rc)
{
	struct fetch_result res;
	struct host *h = t->host;
	curl_off_t retry = 0;
	char *ct = NULL;
	long status = 0;

	memset(&res, 0, sizeof res);
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	/* The host answered: one more slot, up to per-host-connections. */
	if (status > 0 && h->window < t->f->opts.per_host) {
		h->window++;
		host_update(t->f, h);
	}
	if (rc == CURLE_OK && follow_redirect(t, status, &res))
		return;

	res.status = status;
	res.url = t->url;
	res.seconds = (double)(util_now_ms() - t->t0) / 1000.0;
	if (rc == CURLE_OK && res.error[0] == '\0') {
		res.ok = 1;
		res.body = t->body.s ? t->body.s : "";
		res.len = t->body.len;
		if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			res.content_type = ct;
		res.etag = header_value(t->easy, "ETag");
		res.last_modified = header_value(t->easy, "Last-Modified");
		curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry);
		res.retry_after = (long)retry;
		if (t->redirects > 0 && t->all_permanent)
			res.moved_to = t->url;
		if (status >= 400 || (status >= 300 && status != 304))
			snprintf(res.error, sizeof res.error, "HTTP %ld", status);
	} else if (res.error[0] != '\0') {
		res.ok = 0;
	} else if (t->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(res.error, sizeof res.error,
		    "body exceeds max-body (%lld bytes)", t->f->opts.max_body);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(res.error, sizeof res.error, "timeout after %.1fs: %s",
		    res.seconds, curl_easy_strerror(rc));
	} else {
		snprintf(res.error, sizeof res.error, "%s", curl_easy_strerror(rc));
	}
	stats_fetched(t->post_body != NULL, res.seconds, res.len);
	t->cb(&res, t->arg);
	free(res.etag);
	free(res.last_modified);
	fetch_release(t);
}

static void
check_done(struct fetcher *f)
{
	struct fetch *t;
	CURLMsg *msg;
	CURLcode rc;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		finish(t, rc);
	}
	pump(f, LANE_POLL);
	pump(f, LANE_DELIVERY);
}

/* --- public API ------------------------------------------------------- */

struct fetcher *
fetch_new(struct event_base *base, const struct fetch_opts *opts)
{
	static int global_init;
	struct fetcher *f;
	int i;

	if (!global_init) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_init = 1;
	}
	f = xcalloc(1, sizeof *f);
	f->base = base;
	f->opts = *opts;
	if (f->opts.per_host <= 0)
		f->opts.per_host = 2;
	if (f->opts.max_total <= 0)
		f->opts.max_total = 64;
	if (f->opts.max_deliveries <= 0)
		f->opts.max_deliveries = DEFAULT_MAX_DELIVERIES;
	f->user_agent = xstrdup(opts->user_agent ? opts->user_agent :
	    "wirewatch/" WW_VERSION);
	f->opts.user_agent = f->user_agent;
	for (i = 0; i < NLANES; i++)
		TAILQ_INIT(&f->lanes[i].ready);
	f->lanes[LANE_POLL].cap = f->opts.max_total;
	f->lanes[LANE_DELIVERY].cap = f->opts.max_deliveries;
	f->nbuckets = 64;
	f->buckets = xcalloc(f->nbuckets, sizeof *f->buckets);
	TAILQ_INIT(&f->running);
	TAILQ_INIT(&f->later);
	if ((f->multi = curl_multi_init()) == NULL)
		fatal("curl_multi_init failed");
	if ((f->timer = evtimer_new(base, fetch_timer_cb, f)) == NULL)
		fatal("fetch: evtimer_new failed");
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION,
	    fetch_multi_socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION,
	    fetch_multi_timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	return f;
}

/* Any transfer still held: running first, so that hosts drain. */
static struct fetch *
any_fetch(struct fetcher *f)
{
	size_t i;

	if (!TAILQ_EMPTY(&f->running))
		return TAILQ_FIRST(&f->running);
	if (!TAILQ_EMPTY(&f->later))
		return TAILQ_FIRST(&f->later);
	for (i = 0; f->nqueued > 0 && i < f->nbuckets; i++)
		if (f->buckets[i] != NULL)
			return TAILQ_FIRST(&f->buckets[i]->waiting);
	return NULL;
}

void
fetch_free(struct fetcher *f)
{
	struct fetch_result res;
	struct fetch *t;

	if (f == NULL)
		return;
	f->dying = 1;
	memset(&res, 0, sizeof res);
	snprintf(res.error, sizeof res.error, "cancelled");
	while ((t = any_fetch(f)) != NULL) {
		res.url = t->url;
		t->cb(&res, t->arg);
		fetch_release(t);
	}
	while (f->nidle > 0)
		curl_easy_cleanup(f->idle[--f->nidle]);
	curl_multi_cleanup(f->multi);
	event_free(f->timer);
	free(f->buckets);
	free(f->user_agent);
	free(f);
}

struct fetch *
fetch_start(struct fetcher *f, const struct fetch_req *req, fetch_done_cb cb,
    void *arg)
{
	struct fetch *t;
	char *name;

	if (req->url == NULL || *req->url == '\0')
		return NULL;
	t = xcalloc(1, sizeof *t);
	t->f = f;
	t->url = xstrdup(req->url);
	if (req->post_body != NULL) {
		t->post_body = xstrndup(req->post_body, req->post_len);
		t->post_len = req->post_len;
	}
	t->lane = t->post_body != NULL ? LANE_DELIVERY : LANE_POLL;
	t->content_type = req->content_type ? xstrdup(req->content_type) : NULL;
	t->etag = req->etag ? xstrdup(req->etag) : NULL;
	t->last_modified = req->last_modified ? xstrdup(req->last_modified) : NULL;
	if (req->nheaders > 0) {
		t->extra = xcalloc(req->nheaders, sizeof *t->extra);
		for (t->nextra = 0; t->nextra < req->nheaders; t->nextra++)
			t->extra[t->nextra] = xstrdup(req->headers[t->nextra]);
	}
	t->timeout_ms = req->timeout_ms;
	t->cb = cb;
	t->arg = arg;
	t->all_permanent = 1;
	t->t0 = util_now_ms();
	if (is_file_url(t->url)) {
		if (t->post_body != NULL)
			fail_later(t, "cannot POST to a file:// URL");
		else
			defer(t);
		return t;
	}
	name = url_host(t->url);
	t->host = host_get(f, t->lane, name);
	free(name);
	t->state = FETCH_QUEUED;
	TAILQ_INSERT_TAIL(&t->host->waiting, t, entry);
	t->host->nwaiting++;
	f->nqueued++;
	host_update(f, t->host);
	pump(f, t->lane);
	return t;
}

void
fetch_cancel(struct fetch *t)
{
	struct fetcher *f;
	int lane;

	if (t == NULL)
		return;
	f = t->f;
	lane = t->lane;
	fetch_release(t);
	pump(f, lane);
}

size_t
fetch_pending(const struct fetcher *f)
{
	return f->nqueued + f->nrunning + f->nlater;
}
