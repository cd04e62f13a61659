/*
 * fetch.c - libcurl multi socket API on libevent.
 *
 * The wiring follows curl's hiperfifo example: CURLMOPT_SOCKETFUNCTION
 * keeps one libevent event per socket curl cares about,
 * CURLMOPT_TIMERFUNCTION arms one timer, and both feed
 * curl_multi_socket_action(); finished transfers are collected with
 * curl_multi_info_read().  Each transfer is one struct fetch hung on
 * CURLOPT_PRIVATE that holds everything its callbacks need.
 *
 * Politeness caps are enforced here rather than with
 * CURLMOPT_MAX_HOST_CONNECTIONS because libcurl starts a transfer's timeout
 * clock when the handle is added: thousands of queued feeds would time out
 * waiting for a connection.  Our own FIFO adds a handle only when its host
 * and the global cap have room, so a timeout measures the transfer alone.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "wirewatch/fetch.h"
#include "wirewatch/log.h"
#include "wirewatch/util.h"

struct host_slot {
	char *name;
	int active;
	LIST_ENTRY(host_slot) entry;
};

struct fetch {
	struct fetcher *f;
	CURL *easy;
	struct curl_slist *headers;
	char *url;
	char *post_body;
	size_t post_len;
	char *content_type;
	char *etag;
	char *last_modified;
	long timeout_ms;
	fetch_done_cb cb;
	void *arg;

	struct host_slot *host;  /* NULL: not counted (file://) or queued */
	int running;
	int redirects;
	int all_permanent;
	int too_big;
	struct buf body;
	uint64_t t0;
	TAILQ_ENTRY(fetch) entry; /* in f->waiting or f->active */
};
TAILQ_HEAD(fetch_list, fetch);

struct fetcher {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct fetch_opts opts;
	char *user_agent;
	struct fetch_list waiting;
	struct fetch_list active;
	size_t nwaiting;
	size_t nactive;
	LIST_HEAD(, host_slot) hosts;
};

struct sock_info {
	struct event *ev;
	struct fetcher *f;
};

static void pump(struct fetcher *f);
static void check_done(struct fetcher *f);

static char *
url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *scheme = NULL, *out = NULL;

	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    strcasecmp(scheme, "file") != 0 &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		out = xstrdup(host);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return out;
}

static struct host_slot *
host_get(struct fetcher *f, const char *name)
{
	struct host_slot *h;

	LIST_FOREACH(h, &f->hosts, entry)
		if (strcmp(h->name, name) == 0)
			return h;
	h = xcalloc(1, sizeof *h);
	h->name = xstrdup(name);
	LIST_INSERT_HEAD(&f->hosts, h, entry);
	return h;
}

static void
host_release(struct fetch *t)
{
	struct host_slot *h = t->host;

	if (h == NULL)
		return;
	t->host = NULL;
	if (--h->active == 0) {
		LIST_REMOVE(h, entry);
		free(h->name);
		free(h);
	}
}

/* --- libcurl callbacks ------------------------------------------------ */

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
fetch_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher *f = arg;
	int action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(f->multi, fd, action, &running);
	check_done(f);
}

static void
fetch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher *f = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
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
	evtimer_add(f->timer, &tv);
	return 0;
}

static int
fetch_multi_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg,
    void *sockp)
{
	struct fetcher *f = arg;
	struct sock_info *si = sockp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (si != NULL) {
			event_free(si->ev);
			free(si);
			curl_multi_assign(f->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (si == NULL) {
		si = xcalloc(1, sizeof *si);
		si->f = f;
		curl_multi_assign(f->multi, s, si);
	} else {
		event_free(si->ev);
	}
	si->ev = event_new(f->base, s, kind, fetch_event_cb, f);
	event_add(si->ev, NULL);
	return 0;
}

/* --- transfers -------------------------------------------------------- */

static void
fetch_release(struct fetch *t)
{
	struct fetcher *f = t->f;

	if (t->running) {
		curl_multi_remove_handle(f->multi, t->easy);
		TAILQ_REMOVE(&f->active, t, entry);
		f->nactive--;
		t->running = 0;
	} else {
		TAILQ_REMOVE(&f->waiting, t, entry);
		f->nwaiting--;
	}
	host_release(t);
	curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	buf_free(&t->body);
	free(t->url);
	free(t->post_body);
	free(t->content_type);
	free(t->etag);
	free(t->last_modified);
	free(t);
}

static void
setup_easy(struct fetch *t)
{
	struct fetcher *f = t->f;
	char *h;

	if (t->easy != NULL)
		curl_easy_reset(t->easy);
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
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https,file");
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

static void
start_one(struct fetch *t)
{
	struct fetcher *f = t->f;

	TAILQ_REMOVE(&f->waiting, t, entry);
	f->nwaiting--;
	TAILQ_INSERT_TAIL(&f->active, t, entry);
	f->nactive++;
	t->running = 1;
	t->t0 = util_now_ms(); /* response time excludes queueing */
	setup_easy(t);
	curl_multi_add_handle(f->multi, t->easy);
}

/* Starts queued transfers while the caps allow, in FIFO order per host. */
static void
pump(struct fetcher *f)
{
	struct fetch *t, *next;
	struct host_slot *h;
	char *name;

	for (t = TAILQ_FIRST(&f->waiting); t != NULL; t = next) {
		next = TAILQ_NEXT(t, entry);
		if (f->nactive >= (size_t)f->opts.max_total)
			break;
		name = url_host(t->url);
		if (name != NULL) {
			h = host_get(f, name);
			free(name);
			if (h->active >= f->opts.per_host)
				continue;
			h->active++;
			t->host = h;
		}
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

/*
 * A redirect is followed by reusing the transfer with the new URL.
 * Returns 1 when the transfer was restarted.
 */
static int
follow_redirect(struct fetch *t, long status, struct fetch_result *res)
{
	struct fetcher *f = t->f;
	char *loc = NULL;

	if (status != 301 && status != 302 && status != 303 && status != 307 &&
	    status != 308)
		return 0;
	if (t->post_body != NULL)
		return 0;
	curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &loc);
	if (loc == NULL)
		return 0;
	if (!util_is_http_url(loc)) {
		snprintf(res->error, sizeof res->error,
		    "HTTP %ld redirect to a non-HTTP URL refused", status);
		return 0;
	}
	if (t->redirects >= f->opts.max_redirects) {
		snprintf(res->error, sizeof res->error,
		    "too many redirects (more than %d)", f->opts.max_redirects);
		return 0;
	}
	t->redirects++;
	if (status != 301 && status != 308)
		t->all_permanent = 0;
	free(t->url);
	t->url = xstrdup(loc);
	/* Validators belong to the old resource. */
	free(t->etag);
	free(t->last_modified);
	t->etag = t->last_modified = NULL;
	curl_multi_remove_handle(f->multi, t->easy);
	setup_easy(t);
	curl_multi_add_handle(f->multi, t->easy);
	return 1;
}

static void
finish(struct fetch *t, CURLcode rc)
{
	struct fetch_result res;
	curl_off_t retry = 0;
	char *ct = NULL;
	long status = 0;

	memset(&res, 0, sizeof res);
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK && status == 0)
		status = 200; /* file:// */
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
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		finish(t, msg->data.result);
	}
	pump(f);
}

/* --- public API ------------------------------------------------------- */

struct fetcher *
fetch_new(struct event_base *base, const struct fetch_opts *opts)
{
	static int global_init;
	struct fetcher *f;

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
	f->user_agent = xstrdup(opts->user_agent ? opts->user_agent :
	    "wirewatch/" WW_VERSION);
	f->opts.user_agent = f->user_agent;
	TAILQ_INIT(&f->waiting);
	TAILQ_INIT(&f->active);
	LIST_INIT(&f->hosts);
	f->multi = curl_multi_init();
	f->timer = evtimer_new(base, fetch_timer_cb, f);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, fetch_multi_socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, fetch_multi_timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	return f;
}

void
fetch_free(struct fetcher *f)
{
	struct fetch_result res;
	struct fetch *t;

	if (f == NULL)
		return;
	memset(&res, 0, sizeof res);
	snprintf(res.error, sizeof res.error, "cancelled");
	while ((t = TAILQ_FIRST(&f->active)) != NULL ||
	    (t = TAILQ_FIRST(&f->waiting)) != NULL) {
		res.url = t->url;
		t->cb(&res, t->arg);
		fetch_release(t);
	}
	curl_multi_cleanup(f->multi);
	event_free(f->timer);
	free(f->user_agent);
	free(f);
}

struct fetch *
fetch_start(struct fetcher *f, const struct fetch_req *req, fetch_done_cb cb,
    void *arg)
{
	struct fetch *t;

	if (req->url == NULL || *req->url == '\0')
		return NULL;
	t = xcalloc(1, sizeof *t);
	t->f = f;
	t->url = xstrdup(req->url);
	if (req->post_body != NULL) {
		t->post_body = xstrndup(req->post_body, req->post_len);
		t->post_len = req->post_len;
	}
	t->content_type = req->content_type ? xstrdup(req->content_type) : NULL;
	t->etag = req->etag ? xstrdup(req->etag) : NULL;
	t->last_modified = req->last_modified ? xstrdup(req->last_modified) : NULL;
	t->timeout_ms = req->timeout_ms;
	t->cb = cb;
	t->arg = arg;
	t->all_permanent = 1;
	t->t0 = util_now_ms();
	TAILQ_INSERT_TAIL(&f->waiting, t, entry);
	f->nwaiting++;
	pump(f);
	return t;
}

void
fetch_cancel(struct fetch *t)
{
	if (t != NULL)
		fetch_release(t);
}

size_t
fetch_pending(const struct fetcher *f)
{
	return f->nactive + f->nwaiting;
}
