/*
 * metrics.c - /metrics and /healthz over libevent's evhttp; see metrics.h.
 *
 * Requests are answered at once from what is in memory: a scrape never
 * waits for Redis (a scrape while Redis is down must still say so).  The
 * figures only Redis knows (outbox depth, retry set, dead letters) are
 * read by a timer while the connection is up, and shown while that
 * reading is at most three periods old.
 *
 * The endpoint is meant for a loopback address or a private network: it
 * has no authentication, only GET and HEAD, small header and body limits
 * and an idle timeout.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "wirewatch/config.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/metrics.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/sink.h"
#include "wirewatch/stats.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

/* Shared by a refresh's commands: outlives the endpoint if need be. */
struct refresh {
	struct metrics *m;   /* NULL once the endpoint is gone */
	int pending;
};

struct metrics {
	struct event_base *base;
	char *prefix;             /* the config's, copied: a reload may free it */
	struct pipeline *p;
	struct evhttp *http;
	struct event *timer;
	struct refresh *refresh;  /* in flight, or NULL */
	time_t started;
	/* from Redis, at refreshed (0: never) */
	time_t refreshed;
	long long pending, lag, retry, dead;
	int lag_known;
	/* the refresh in progress */
	long long r_pending, r_lag, r_retry, r_dead;
	int r_lag_known, r_failed;
};

enum { R_GROUPS, R_RETRY, R_DEAD };

struct refresh_cmd {
	struct refresh *r;
	int what;
};

const char *
metrics_addr_parse(const char *addr, char **host, int *port)
{
	const char *colon, *h = addr, *p;
	size_t hlen;
	long n;

	if (addr[0] == '[') {
		if ((colon = strstr(addr, "]:")) == NULL)
			return "host:port, or [IPv6 address]:port";
		h = addr + 1;
		hlen = (size_t)(colon - h);
		colon++;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL || strchr(addr, ':') != colon)
			return "host:port, or [IPv6 address]:port";
		hlen = (size_t)(colon - addr);
	}
	if (hlen == 0 || strcspn(h, " \t/[]@") < hlen)
		return "host:port, or [IPv6 address]:port";
	p = colon + 1;
	for (n = 0; *p >= '0' && *p <= '9' && n <= 65535; p++)
		n = n * 10 + (*p - '0');
	if (p == colon + 1 || *p != '\0' || n < 1 || n > 65535)
		return "the port must be 1 to 65535";
	if (host != NULL)
		*host = xstrndup(h, hlen);
	if (port != NULL)
		*port = (int)n;
	return NULL;
}

/* --- Redis figures --------------------------------------------------------- */

static long long
int_reply(const struct store_reply *r)
{
	return store_reply_type(r) == STORE_INT ? store_reply_int(r) : -1;
}

/* XINFO GROUPS: the dispatch group's pending count and lag (nil: unknown). */
static int
read_groups(struct metrics *m, const struct store_reply *reply)
{
	const struct store_reply *g, *k, *v;
	size_t i, j;
	int found = 0;

	if (store_reply_type(reply) != STORE_ARRAY)
		return -1;
	for (i = 0; i < store_reply_len(reply); i++) {
		g = store_reply_elem(reply, i);
		for (j = 0; j + 1 < store_reply_len(g); j += 2) {
			k = store_reply_elem(g, j);
			v = store_reply_elem(g, j + 1);
			if (store_reply_is(k, "name"))
				found = store_reply_type(v) == STORE_STRING &&
				    store_reply_is(v, "dispatch");
		}
		if (!found)
			continue;
		for (j = 0; j + 1 < store_reply_len(g); j += 2) {
			k = store_reply_elem(g, j);
			v = store_reply_elem(g, j + 1);
			if (store_reply_is(k, "pending"))
				m->r_pending = int_reply(v);
			else if (store_reply_is(k, "lag") && store_reply_type(v) == STORE_INT) {
				m->r_lag = store_reply_int(v);
				m->r_lag_known = 1;
			}
		}
		return 0;
	}
	return 0; /* no group yet: nothing was ever queued */
}

static void refresh_release(struct refresh *r);

static void
metrics_refreshed_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct refresh_cmd *c = arg;
	struct refresh *r = c->r;
	struct metrics *m = r->m;

	if (m != NULL) {
		if (error != NULL) {
			/* A missing stream is no error: XINFO says so. */
			if (c->what != R_GROUPS || strstr(error, "no such key") == NULL)
				m->r_failed = 1;
		} else if (c->what == R_GROUPS) {
			if (read_groups(m, reply) == -1)
				m->r_failed = 1;
		} else if (c->what == R_RETRY) {
			m->r_retry = int_reply(reply);
		} else {
			m->r_dead = int_reply(reply);
		}
	}
	free(c);
	refresh_release(r);
}

/* One reply (or the sender's hold) is in; the last one ends the refresh. */
static void
refresh_release(struct refresh *r)
{
	struct metrics *m = r->m;

	if (--r->pending > 0)
		return;
	if (m != NULL) {
		m->refresh = NULL;
		if (!m->r_failed && m->r_retry >= 0 && m->r_dead >= 0) {
			m->pending = m->r_pending;
			m->lag = m->r_lag;
			m->lag_known = m->r_lag_known;
			m->retry = m->r_retry;
			m->dead = m->r_dead;
			m->refreshed = time(NULL);
		}
	}
	free(r);
}

static void
send_refresh(struct metrics *m, int what, const char *cmd, const char *sub,
    const char *key)
{
	struct refresh_cmd *c = xcalloc(1, sizeof *c);
	const char *argv[3];
	int argc = 0;

	c->r = m->refresh;
	c->what = what;
	argv[argc++] = cmd;
	if (sub != NULL)
		argv[argc++] = sub;
	argv[argc++] = key;
	m->refresh->pending++;
	store_command(pipeline_store(m->p), metrics_refreshed_cb, c, argc, argv);
}

static void
metrics_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;
	struct timeval tv = { METRICS_REFRESH_MS / 1000, (METRICS_REFRESH_MS % 1000) * 1000 };
	char *k_outbox, *k_retry, *k_dead;

	(void)fd;
	(void)what;
	evtimer_add(m->timer, &tv);
	if (m->refresh != NULL || !store_is_up(pipeline_store(m->p)))
		return;
	m->refresh = xcalloc(1, sizeof *m->refresh);
	m->refresh->m = m;
	m->refresh->pending = 1; /* held until every command is sent */
	m->r_pending = m->r_lag = 0;
	m->r_retry = m->r_dead = -1;
	m->r_lag_known = m->r_failed = 0;
	k_outbox = keys_name(m->prefix, KEY_OUTBOX, NULL);
	k_retry = keys_name(m->prefix, KEY_RETRY, NULL);
	k_dead = keys_name(m->prefix, KEY_DEAD, NULL);
	send_refresh(m, R_GROUPS, "XINFO", "GROUPS", k_outbox);
	send_refresh(m, R_RETRY, "ZCARD", NULL, k_retry);
	send_refresh(m, R_DEAD, "XLEN", NULL, k_dead);
	free(k_outbox);
	free(k_retry);
	free(k_dead);
	refresh_release(m->refresh); /* the hold: ends now if all replies came */
}

/* --- rendering ------------------------------------------------------------- */

static void
gauge(struct buf *b, const char *name, const char *help, double v)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name,
	    name, v);
}

static long long
json_int(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void
render_process(struct buf *b, const struct metrics *m)
{
	long long pages = 0, rss = 0;
	struct dirent *de;
	long nfd = 0;
	FILE *f;
	DIR *d;

	gauge(b, "process_start_time_seconds", "Unix time the daemon started.",
	    (double)m->started);
	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(f, "%lld %lld", &pages, &rss) == 2)
			gauge(b, "process_resident_memory_bytes", "Resident memory.",
			    (double)rss * (double)sysconf(_SC_PAGESIZE));
		fclose(f);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			nfd += de->d_name[0] != '.';
		closedir(d);
		gauge(b, "process_open_fds", "Open file descriptors.", (double)(nfd - 1));
	}
}

static void
render(struct metrics *m, struct buf *b)
{
	json_t *status = pipeline_status_json(m->p);
	const char *why;
	int up = stats_redis_up(&why);

	stats_render(b);
	buf_addf(b, "# HELP wirewatch_build_info The running version (value 1).\n"
	    "# TYPE wirewatch_build_info gauge\n"
	    "wirewatch_build_info{version=\"%s\"} 1\n", WW_VERSION);
	gauge(b, "wirewatch_redis_up", "1 when the Redis connection is up.", up);
	buf_adds(b, "# HELP wirewatch_feeds Feeds by state: ok (the last poll "
	    "succeeded), failing, never (not polled successfully yet).\n"
	    "# TYPE wirewatch_feeds gauge\n");
	buf_addf(b, "wirewatch_feeds{state=\"ok\"} %lld\n", json_int(status, "feeds_ok"));
	buf_addf(b, "wirewatch_feeds{state=\"failing\"} %lld\n",
	    json_int(status, "feeds_failing"));
	buf_addf(b, "wirewatch_feeds{state=\"never\"} %lld\n", json_int(status, "feeds_never"));
	gauge(b, "wirewatch_polls_in_progress", "Feed polls in progress.",
	    (double)json_int(status, "polls_running"));
	gauge(b, "wirewatch_outbox_inflight_alerts", "Alerts in delivery attempts "
	    "now.", (double)json_int(status, "outbox_in_flight"));
	if (m->refreshed != 0 && time(NULL) - m->refreshed <=
	    3 * METRICS_REFRESH_MS / 1000) {
		gauge(b, "wirewatch_outbox_depth", "Alerts not delivered yet: "
		    "unread, pending and waiting for a retry (read from Redis "
		    "every few seconds).", (double)(m->pending +
		    (m->lag_known ? m->lag : 0) + m->retry));
		gauge(b, "wirewatch_outbox_pending_alerts", "Alerts handed to a "
		    "dispatcher whose outcome is not recorded yet.", (double)m->pending);
		if (m->lag_known)
			gauge(b, "wirewatch_outbox_unread_alerts", "Alerts in the "
			    "outbox no dispatcher has read yet.", (double)m->lag);
		gauge(b, "wirewatch_outbox_retry_alerts", "Alerts waiting for "
		    "their next attempt.", (double)m->retry);
		gauge(b, "wirewatch_dead_letter_alerts", "Entries in the "
		    "dead-letter stream.", (double)m->dead);
	}
	render_process(b, m);
	json_decref(status);
}

/* --- HTTP ------------------------------------------------------------------ */

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	evhttp_send_reply(req, code, reason, NULL);
}

static void
metrics_scrape_cb(struct evhttp_request *req, void *arg)
{
	struct buf b = {0};

	render(arg, &b);
	reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
	buf_free(&b);
}

static void
metrics_health_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	json_t *status = pipeline_status_json(m->p);
	uint64_t last = stats_loop_last_turn(), now = util_now_ms();
	const char *why = NULL;
	char *text;

	if (json_is_true(json_object_get(status, "stopping")))
		text = xstrdup("stopping\n");
	else if (last != 0 && now - last > METRICS_STALL_MS)
		text = xasprintf("event loop stalled for %llus\n",
		    (unsigned long long)((now - last) / 1000));
	else if (!stats_redis_up(&why))
		text = xasprintf("%s\n", why);
	else
		text = xstrdup("ok\n");
	json_decref(status);
	if (strcmp(text, "ok\n") == 0)
		reply(req, 200, "OK", "text/plain; charset=utf-8", text, strlen(text));
	else
		reply(req, 503, "Service Unavailable", "text/plain; charset=utf-8",
		    text, strlen(text));
	free(text);
}

static void
metrics_other_cb(struct evhttp_request *req, void *arg)
{
	static const char text[] = "not found: try /metrics or /healthz\n";

	(void)arg;
	reply(req, 404, "Not Found", "text/plain; charset=utf-8", text, sizeof text - 1);
}

/* Series that should read 0 before anything happened, so rates work. */
static void
touch(const struct config *cfg)
{
	static const char *const outcomes[] = { STATS_POLL_OK,
		STATS_POLL_NOT_MODIFIED, STATS_POLL_FAILED, STATS_POLL_REDIS,
		STATS_POLL_STOPPED };
	size_t i, j;

	for (i = 0; i < sizeof outcomes / sizeof *outcomes; i++)
		stats_add(STATS_POLLS, outcomes[i], NULL, 0);
	stats_add(STATS_FETCHED_BYTES, "poll", NULL, 0);
	stats_add(STATS_ITEMS_PARSED, NULL, NULL, 0);
	stats_add(STATS_ITEMS_NEW, NULL, NULL, 0);
	stats_add(STATS_REDIS_DOWN, NULL, NULL, 0);
	for (i = 0; i < cfg->nwatchlists; i++)
		for (j = 0; j < cfg->watchlists[i].nsinks; j++)
			stats_add(STATS_ALERTS, cfg->watchlists[i].name,
			    cfg->sinks[cfg->watchlists[i].sinks[j]].name, 0);
	for (i = 0; i < cfg->nsinks; i++) {
		for (j = SINK_DELIVERED; j <= SINK_FAILED; j++)
			stats_delivery_add(&cfg->sinks[i], (int)j, 0);
		stats_add(STATS_RETRIES, cfg->sinks[i].name, NULL, 0);
		stats_add(STATS_DEAD_LETTERS, cfg->sinks[i].name, NULL, 0);
	}
}

struct metrics *
metrics_new(struct event_base *base, const struct config *cfg,
    struct pipeline *p, char *err, size_t errlen)
{
	struct timeval first = { 1, 0 };
	struct metrics *m;
	const char *why;
	char *host = NULL;
	int port = 0;

	err[0] = '\0';
	if (cfg->metrics == NULL || cfg->metrics[0] == '\0')
		return NULL;
	if ((why = metrics_addr_parse(cfg->metrics, &host, &port)) != NULL) {
		snprintf(err, errlen, "metrics '%s': %s", cfg->metrics, why);
		return NULL;
	}
	m = xcalloc(1, sizeof *m);
	m->base = base;
	m->prefix = xstrdup(cfg->prefix);
	m->p = p;
	m->started = time(NULL);
	if ((m->http = evhttp_new(base)) == NULL)
		fatal("evhttp_new: out of memory");
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_max_headers_size(m->http, 16384);
	evhttp_set_max_body_size(m->http, 1024);
	evhttp_set_cb(m->http, "/metrics", metrics_scrape_cb, m);
	evhttp_set_cb(m->http, "/healthz", metrics_health_cb, m);
	evhttp_set_gencb(m->http, metrics_other_cb, m);
	errno = 0;
	if (evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port) == NULL) {
		snprintf(err, errlen, "metrics %s: cannot listen: %s", cfg->metrics,
		    errno ? strerror(errno) : "bad address");
		free(host);
		evhttp_free(m->http);
		free(m);
		return NULL;
	}
	free(host);
	touch(cfg);
	m->timer = evtimer_new(base, metrics_timer_cb, m);
	evtimer_add(m->timer, &first); /* Redis is usually up by then */
	log_info("metrics: http://%s/metrics and /healthz", cfg->metrics);
	return m;
}

void
metrics_set_pipeline(struct metrics *m, const struct config *cfg,
    struct pipeline *p)
{
	if (m == NULL)
		return;
	free(m->prefix);
	m->prefix = xstrdup(cfg->prefix);
	m->p = p;
	touch(cfg);
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->refresh != NULL)
		m->refresh->m = NULL; /* its last reply frees it */
	event_free(m->timer);
	evhttp_free(m->http);
	free(m->prefix);
	free(m);
}
