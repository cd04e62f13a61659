/*
 * outbox_lane.c - the outbox's per-sink lanes: pace (token buckets, local
 * and shared), pauses and holds, digests, parked ids and their fetch,
 * and the lanes kept, made and retired by a reload.
 *
 * Pacing.  Every sink has a lane: a FIFO of the entries waiting for it
 * and, for the chat services that publish a rate limit, a token bucket
 * (lane_pace() has the figures and their sources).  A message, one alert
 * or a digest, costs one token; a rate-limited lane has one attempt in
 * flight at a time, so that a 429 stops the next message before it is
 * sent.  A 429, or any retryable answer with a retry hint, pauses the
 * lane until the hint (the answered alerts themselves go to the retry
 * set as before).  Any answer whose rate-limit headers say the service's
 * bucket is used up (Discord's X-RateLimit-Remaining: 0) holds the lane
 * until its reset the same way, so the next message draws no 429.  When
 * a token comes and more than digest-after alerts
 * wait, up to DIGEST_MAX of them go out as one digest, as many as the
 * format fits (and, until the lane has been idle for QUIET_MS, so does
 * whatever waits behind them, two alerts or more); a digest's outcome
 * is each of its alerts' outcome.
 *
 * Starvation.  The stream is one queue for every sink, read in order, so
 * a backlog for a slow sink must not stop the reads: OUTBOX_MAX_INFLIGHT
 * bounds the alerts in delivery attempts, not those waiting.  A lane
 * holds at most LANE_HOLD waiting alerts in memory; past that it keeps
 * only the stream ids of the others ("parked": still pending in our
 * consumer's list in Redis, so a crash loses nothing) and fetches them
 * back with XCLAIM, in order, as it drains.  Parked ids cost ~50 bytes
 * and are bounded by PARKED_MAX over all lanes; only when that is
 * reached do reads stop (logged), and then every sink waits for the
 * slowest.  The maintenance XCLAIM keeps parked ids, like held entries,
 * from looking idle to other instances.
 *
 * Several instances sharing a Redis (leases on) also share each paced
 * sink's bucket: a message takes a local token and then one from
 * <prefix>pace:<sink> (ww_take, asked one message at a time), so that
 * together they keep the service's rate.  A 429 pause stays local.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "wirewatch/config.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/outbox.h"
#include "wirewatch/sign.h"
#include "wirewatch/sink.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/stats.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#include "outbox_internal.h"

#define DIGEST_MAX 50           /* alerts offered to one digest */
#define PAUSE_DEFAULT_MS 1000   /* after a 429 that gives no hint */
#define QUIET_MS 10000          /* idle this long: a backlog is over */

static void outbox_lane_timer_cb(evutil_socket_t fd, short what, void *arg);

/* --- pace per sink type ------------------------------------------------- */

/*
 * The default token bucket of a sink: per_s tokens a second, at most
 * burst of them saved up; 0/0 for no bucket.  Each figure is the
 * service's documented limit for one destination (webhook, chat,
 * space, channel), or below it:
 *
 *  - slack: 1 a second, burst 1.  api.slack.com/apis/rate-limits,
 *    "Posting messages: 1 per second ... Short bursts >1 allowed. If you
 *    attempt bursts, there is no guarantee" (incoming webhooks included,
 *    api.slack.com/changelog/2018-03-great-rate-limits).
 *  - discord: 5 per 2 s per webhook, burst 5.  The per-route bucket
 *    webhooks announce in X-RateLimit-Limit/-Reset-After
 *    (discord.com/developers/docs/topics/rate-limits; the figure itself
 *    is what webhooks answer, not a documented constant).  Should
 *    Discord want less, every answer's X-RateLimit-Remaining: 0 holds
 *    the lane until the reset (lane_hold), and a 429 with its JSON
 *    retry_after pauses it.
 *  - telegram: core.telegram.org/bots/faq, "avoid sending more than one
 *    message per second" in a chat, "not ... more than 20 messages per
 *    minute" in a group.  A private chat (a positive numeric chat-id):
 *    1 a second, burst 1.  A group, supergroup or channel (a negative
 *    id or an @username): burst 3 then one per 3.6 s, so that no
 *    60-second window holds more than 3 + 16.7 < 20.
 *  - google-chat: 1 a second, burst 1: 60 message writes a minute per
 *    space (developers.google.com/workspace/chat/limits, per-space
 *    quotas).
 *  - teams: 2 a second, burst 4: the Teams connector/incoming webhook
 *    table (learn.microsoft.com/microsoftteams/platform/
 *    webhooks-and-connectors/how-to/connectors-using, "Rate limiting
 *    for connectors": 4 per second, 60 per 30 seconds).  Workflows
 *    webhooks publish no figure of their own; the same table's hourly
 *    and daily caps (100/h, 1,800/day) are not modelled, the 429 pause
 *    covers them.
 *  - mattermost, webhook, ntfy, console: no bucket (self-hosted or
 *    ours; a public ntfy server's limits answer 429, which pauses).
 */
static void
lane_pace(const struct cfg_sink *s, double *per_s, double *burst)
{
	*per_s = 0;
	*burst = 0;
	switch ((enum sinkfmt_type)s->format) {
	case SINKFMT_SLACK:
	case SINKFMT_GOOGLE_CHAT:
		*per_s = 1;
		*burst = 1;
		break;
	case SINKFMT_DISCORD:
		*per_s = 2.5;
		*burst = 5;
		break;
	case SINKFMT_TEAMS:
		*per_s = 2;
		*burst = 4;
		break;
	case SINKFMT_TELEGRAM:
		if (s->chat_id != NULL && isdigit((unsigned char)s->chat_id[0])) {
			*per_s = 1;
			*burst = 1;
		} else {
			*per_s = 1 / 3.6;
			*burst = 3;
		}
		break;
	default:
		break;
	}
}

/* --- lifetime ------------------------------------------------------------ */

struct lane *
outbox_lane_new(struct outbox *ob, const struct cfg_sink *sink, size_t index)
{
	struct lane *l = xcalloc(1, sizeof *l);

	l->ob = ob;
	l->sink = sink;
	l->index = index;
	lane_pace(l->sink, &l->per_s, &l->burst);
	l->tokens = l->burst;
	l->refilled = util_now_ms();
	TAILQ_INIT(&l->queue);
	l->timer = evtimer_new(ob->base, outbox_lane_timer_cb, l);
	/*
	 * Instances sharing a Redis (leases on) also share the bucket: a
	 * token of the local one and one of <prefix>pace:<sink>.
	 */
	if (l->per_s > 0 && ob->cfg->lease > 0)
		l->k_pace = keys_name(ob->cfg->prefix, KEY_PACE, l->sink->name,
		    NULL);
	return l;
}

size_t
outbox_lane_nparked(const struct lane *l)
{
	return l->ptail - l->phead;
}

void
outbox_lane_forget_parked(struct lane *l)
{
	l->ob->nparked -= outbox_lane_nparked(l);
	l->phead = l->ptail = 0;
}

/*
 * Lets go of everything waiting in the lane: the entries stay pending
 * in Redis (our consumer's list) and are read again after a restart or
 * reconnect.  Attempts in flight are not touched.
 */
void
outbox_lane_drop(struct lane *l)
{
	struct entry *e;

	while ((e = TAILQ_FIRST(&l->queue)) != NULL) {
		TAILQ_REMOVE(&l->queue, e, wait);
		l->nqueue--;
		outbox_entry_release(e);
	}
	outbox_lane_forget_parked(l);
	if (l->timer != NULL)
		evtimer_del(l->timer);
}

void
outbox_lane_free(struct lane *l)
{
	outbox_lane_drop(l);
	if (l->timer != NULL)
		event_free(l->timer);
	free(l->parked);
	free(l->k_pace);
	free(l);
}

static int
lane_empty(const struct lane *l)
{
	return l->nqueue == 0 && outbox_lane_nparked(l) == 0 && !l->fetching &&
	    l->sending == 0;
}

/*
 * --once: 1 when alerts still wait in lanes and it is worth waiting for
 * them.  A lane paused by its service for longer than ONCE_RETRY_WAIT_MS
 * is given up instead (its alerts stay pending for the next run), as a
 * retry due that late is, and so are parked alerts once Redis is gone.
 */
int
outbox_lanes_keep_waiting(struct outbox *ob)
{
	uint64_t now = util_now_ms();
	int up = store_is_up(ob->store), wait = 0;
	struct lane *l;
	size_t i, n, left = 0;

	for (i = 0; i < ob->nlanes; i++) {
		l = ob->lanes[i];
		if (l->sending > 0 || l->fetching ||
		    (l->paused_until <= now + ONCE_RETRY_WAIT_MS &&
		    (l->nqueue > 0 || (outbox_lane_nparked(l) > 0 && up))))
			wait = 1;
	}
	if (wait)
		return 1;
	for (i = 0; i < ob->nlanes; i++) {
		l = ob->lanes[i];
		if ((n = l->nqueue + outbox_lane_nparked(l)) == 0)
			continue;
		left += n;
		if (l->paused_until > now + ONCE_RETRY_WAIT_MS)
			log_warn("sink \"%s\": paused by its service for another "
			    "%llus; %zu alert%s stay pending for the next run",
			    l->sink->name,
			    (unsigned long long)((l->paused_until - now) / 1000),
			    n, n == 1 ? "" : "s");
		else
			log_warn("sink \"%s\": redis is unavailable; %zu alert%s "
			    "stay pending for the next run", l->sink->name, n,
			    n == 1 ? "" : "s");
		outbox_lane_drop(l);
	}
	if (left > 0)
		ob->unfinished = 1;
	return 0;
}

/* --- lanes: pace, pause, digests ---------------------------------------- */

static void
lane_arm(struct lane *l, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(l->timer, &tv);
}

/* refilled may lie ahead (the end of a pause): no tokens before it. */
static void
lane_refill(struct lane *l, uint64_t now)
{
	if (now <= l->refilled)
		return;
	l->tokens += (double)(now - l->refilled) / 1000 * l->per_s;
	if (l->tokens > l->burst)
		l->tokens = l->burst;
	l->refilled = now;
}

/*
 * The service said to slow down (a 429, or a retry hint): nothing more
 * goes to this sink for hint_ms (without a hint: one token's time).
 * Logged when the pause starts, not for every answer within it.
 */
static void
lane_pause(struct lane *l, long status, long hint_ms)
{
	uint64_t now = util_now_ms(), until;
	long ms = hint_ms;

	if (ms <= 0)
		ms = l->per_s > 0 ? (long)(1000 / l->per_s) : PAUSE_DEFAULT_MS;
	if (ms > RETRY_AFTER_MAX_MS)
		ms = RETRY_AFTER_MAX_MS;
	until = now + (uint64_t)ms;
	if (until <= l->paused_until)
		return;
	if (l->paused_until <= now)
		log_notice("sink \"%s\": the service answered %ld%s; nothing is "
		    "sent to it for %.1fs", l->sink->name, status,
		    hint_ms > 0 ? " with a retry hint" : "", (double)ms / 1000);
	stats_inc(STATS_RATE_LIMIT_WAITS, l->sink->name, "service");
	l->paused_until = until;
	l->tokens = 0;
	l->refilled = until;
}

/* A backlog starts (rate-limited or digesting): count what it sends. */
static void
lane_episode(struct lane *l)
{
	if (!l->limited && !l->digesting)
		l->ep_alerts = l->ep_msgs = 0;
}

/*
 * The service's rate-limit headers said, on any answer, that its bucket
 * for this sink is used up for ms (sinkfmt_pause_after_ms): the next
 * message waits that long rather than draw a 429.  The same hold as a
 * pause, but the lane's own tokens keep accruing meanwhile (the
 * service's bucket is full again when the hold ends), and it is normal
 * operation: logged once per backlog, when alerts are held.
 */
static void
lane_hold(struct lane *l, long ms)
{
	uint64_t until;

	if (ms > RETRY_AFTER_MAX_MS)
		ms = RETRY_AFTER_MAX_MS;
	/* +1: util_now_ms() truncates, and the reset must be behind us. */
	until = util_now_ms() + (uint64_t)ms + 1;
	if (until <= l->paused_until)
		return;
	l->paused_until = until;
	stats_inc(STATS_RATE_LIMIT_WAITS, l->sink->name, "headers");
	if (l->nqueue + outbox_lane_nparked(l) > 0 && !l->limited) {
		lane_episode(l);
		l->limited = 1;
		log_notice("sink \"%s\": its service says the rate limit is "
		    "used up; nothing is sent to it for %.1fs and alerts wait "
		    "their turn", l->sink->name, (double)ms / 1000);
	} else {
		log_debug("sink \"%s\": rate limit used up; next message in "
		    "%.3fs", l->sink->name, (double)ms / 1000);
	}
}

void
outbox_lane_push(struct lane *l, struct entry *e)
{
	TAILQ_INSERT_TAIL(&l->queue, e, wait);
	l->nqueue++;
}

void
outbox_lane_park(struct lane *l, const char *sid)
{
	if (l->ptail == l->pcap) {
		if (l->phead > 0) {
			memmove(l->parked, l->parked + l->phead,
			    outbox_lane_nparked(l) * sizeof *l->parked);
			l->ptail -= l->phead;
			l->phead = 0;
		} else {
			l->pcap = l->pcap ? l->pcap * 2 : 256;
			l->parked = xreallocarray(l->parked, l->pcap,
			    sizeof *l->parked);
		}
	}
	snprintf(l->parked[l->ptail++], SID_MAX, "%s", sid);
	l->ob->nparked++;
}

/*
 * Renders alerts[0..n) as one message that shows every one of them:
 * returns how many it holds (n, or fewer when a digest of n would leave
 * some out), 0 with the reason in err when the format refuses.  A digest
 * that leaves some out (req->shown < n, always the last ones) is
 * rendered again with only the alerts it showed.
 */
static size_t
render(const struct cfg_sink *sink, const json_t *const *alerts, size_t n,
    long long reply_to, struct sinkfmt_request *req, char *err, size_t errlen)
{
	struct sinkfmt_opts opts;
	size_t k;

	memset(&opts, 0, sizeof opts);
	opts.chat_id = sink->chat_id;
	opts.reply_to = reply_to;
	for (;;) {
		memset(req, 0, sizeof *req);
		if (sinkfmt_render((enum sinkfmt_type)sink->format, &opts, alerts,
		    n, req, err, errlen) == -1)
			return 0;
		if ((k = req->shown) == n)
			return n;
		sinkfmt_request_free(req);
		n = k;
	}
}

/* A stable id for a digest (its webhook-id): from its alert ids. */
static char *
digest_id(struct entry *const *v, size_t n)
{
	struct buf b = {0};
	char *id;
	size_t i;

	for (i = 0; i < n; i++) {
		buf_adds(&b, v[i]->alert_id);
		buf_addc(&b, '\x1f');
	}
	id = xasprintf("dg_%016llx%016llx",
	    (unsigned long long)util_hash64(b.s, b.len, 0x5bd1e995ULL),
	    (unsigned long long)util_hash64(b.s, b.len, 0xc2b2ae3d27d4eb4fULL));
	buf_free(&b);
	return id;
}

static void outbox_sent_cb(const struct sink_result *r, void *arg);

/*
 * Adds the sink's own headers and, for a webhook with secrets, the
 * Standard Webhooks headers, and makes one attempt of req with s.  The
 * webhook-id is the alert id (a digest's: digest_id()): the same on
 * every attempt and after every restart, so a receiver can drop repeats.
 */
static void
attempt(struct outbox *ob, struct send *s, const struct sinkfmt_request *req,
    const char *msg_id, const char *label)
{
	const struct cfg_sink *sink = s->lane->sink;
	struct sink_payload pl;
	const char **hdr;
	char *sig = NULL, *h_id = NULL, *h_ts = NULL, *h_sig = NULL;
	long long now = (long long)time(NULL);
	size_t i, n = 0;

	hdr = xcalloc(req->nheaders + sink->nheaders + 4, sizeof *hdr);
	for (i = 0; i < req->nheaders; i++)
		hdr[n++] = req->headers[i];
	for (i = 0; i < sink->nheaders; i++)
		hdr[n++] = sink->headers[i];
	if (sink->format == SINKFMT_WEBHOOK) {
		h_id = xasprintf("webhook-id: %s", msg_id);
		h_ts = xasprintf("webhook-timestamp: %lld", now);
		hdr[n++] = h_id;
		hdr[n++] = h_ts;
		if (sink->nsecrets > 0) {
			sig = sign_webhook((const char *const *)sink->secrets,
			    sink->nsecrets, msg_id, now, req->body, req->len);
			if (sig == NULL)
				fatal("sink \"%s\": a secret that passed the "
				    "configuration check cannot sign", sink->name);
			h_sig = xasprintf("webhook-signature: %s", sig);
			hdr[n++] = h_sig;
		}
	}
	memset(&pl, 0, sizeof pl);
	pl.body = req->body;
	pl.len = req->len;
	pl.content_type = req->content_type;
	pl.headers = hdr;
	pl.nheaders = n;
	pl.url_query = req->url_query;
	s->lane->sending++;
	s->owner = config_ref((struct config *)ob->cfg);
	ob->nsending += s->n;
	/* s may be gone when this returns (the console answers at once). */
	sinks_deliver(ob->sinks, sink, &pl, label, outbox_sent_cb, s);
	free(hdr);
	free(sig);
	free(h_id);
	free(h_ts);
	free(h_sig);
}

/*
 * Takes up to n entries off the head of the lane and makes one attempt:
 * the oldest alone (n == 1), or a digest of as many of them as the
 * format shows; those it cannot show go back to the head.
 */
static void
lane_send(struct lane *l, size_t n)
{
	struct outbox *ob = l->ob;
	struct entry *v[DIGEST_MAX], *e;
	json_t *alerts[DIGEST_MAX];
	struct sinkfmt_request req;
	struct send *s;
	char err[256], *id, *label;
	size_t m = 0, k, i;

	if (n > DIGEST_MAX)
		n = DIGEST_MAX;
	while (m < n && (e = TAILQ_FIRST(&l->queue)) != NULL) {
		TAILQ_REMOVE(&l->queue, e, wait);
		l->nqueue--;
		/* outbox_take_entry() parsed it: a JSON object. */
		alerts[m] = e->alert;
		v[m++] = e;
	}
	if (m == 0)
		return;
	k = render(l->sink, (const json_t *const *)alerts, m,
	    m == 1 ? v[0]->reply_to : 0, &req, err, sizeof err);
	if (k == 0) {
		for (i = 0; i < m; i++)
			outbox_refuse(ob, v[i], err);
		return;
	}
	for (i = m; i-- > k;) {
		TAILQ_INSERT_HEAD(&l->queue, v[i], wait);
		l->nqueue++;
	}
	s = xmalloc(sizeof *s + k * sizeof s->v[0]);
	s->lane = l;
	s->n = k;
	memcpy(s->v, v, k * sizeof v[0]);
	if (k > 1 && !l->digesting) {
		lane_episode(l);
		l->digesting = 1;
		log_notice("sink \"%s\": %zu alerts wait: they go out as digests "
		    "(digest-after = %ld)", l->sink->name,
		    l->nqueue + outbox_lane_nparked(l) + k, l->sink->digest_after);
	}
	l->ep_msgs++;
	l->ep_alerts += k;
	if (k == 1) {
		attempt(ob, s, &req, v[0]->alert_id, v[0]->label);
	} else {
		id = digest_id(v, k);
		label = xasprintf("digest %s of %zu alerts for sink \"%s\"", id,
		    k, l->sink->name);
		for (i = 0; i < k; i++)
			log_debug("outbox: %s in %s", v[i]->label, label);
		attempt(ob, s, &req, id, label);
		free(label);
		free(id);
	}
	sinkfmt_request_free(&req);
}

/* An XCLAIM of parked ids: its reply brings their entries back. */
struct fetch_req {
	struct lane *lane;
	unsigned gen;
	size_t n;
};

static void
outbox_fetched_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct fetch_req *f = arg;
	struct lane *l = f->lane;
	struct outbox *ob = l->ob;
	size_t i;

	if (f->gen != ob->gen) {
		/*
		 * Parked ids were forgotten since (a reconnect: the PEL read
		 * parks them again; a stop: they stay pending).
		 */
		free(f);
		return;
	}
	l->fetching = 0;
	if (error != NULL) {
		/* Still parked: the poll timer fetches them again. */
		log_debug("sink \"%s\": fetching waiting alerts: %s",
		    l->sink->name, error);
		free(f);
		outbox_check_idle(ob);
		return;
	}
	/* Popped first: the entries taken are no longer parked. */
	l->phead += f->n;
	ob->nparked -= f->n;
	for (i = 0; i < store_reply_len(reply); i++)
		outbox_take_entry(ob, store_reply_elem(reply, i), 1);
	free(f);
	if (l->retired) {
		/*
		 * outbox_take_entry dead-lettered them: the sink is not
		 * configured.
		 */
		outbox_lane_retire_done(l);
		outbox_check_idle(ob);
		return;
	}
	outbox_lane_pump(l);
	outbox_check_idle(ob);
}

/*
 * Brings parked entries back once the lane has room for a digest's
 * worth.  XCLAIM (min-idle 0) returns the entries still pending, in the
 * order asked, and resets their idle time; those acknowledged or
 * trimmed meanwhile are simply not returned.
 */
static void
lane_fetch(struct lane *l)
{
	struct outbox *ob = l->ob;
	struct fetch_req *f;
	const char **argv;
	size_t n, i;
	int argc = 0;

	if (l->fetching || outbox_lane_nparked(l) == 0 || ob->stopping ||
	    (!l->retired && l->nqueue + DIGEST_MAX > LANE_HOLD) ||
	    !store_is_up(ob->store))
		return;
	n = LANE_HOLD - l->nqueue;
	if (n > outbox_lane_nparked(l))
		n = outbox_lane_nparked(l);
	argv = xcalloc(5 + n, sizeof *argv);
	argv[argc++] = "XCLAIM";
	argv[argc++] = ob->k_outbox;
	argv[argc++] = GROUP;
	argv[argc++] = ob->consumer;
	argv[argc++] = "0";
	for (i = 0; i < n; i++)
		argv[argc++] = l->parked[l->phead + i];
	f = xmalloc(sizeof *f);
	f->lane = l;
	f->gen = ob->gen;
	f->n = n;
	l->fetching = 1;
	store_command(ob->store, outbox_fetched_cb, f, argc, argv);
	free(argv);
}

static void lane_limited(struct lane *l);

struct take_req {
	struct lane *lane;
	unsigned gen;
};

static void
outbox_taken_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct take_req *t = arg;
	struct lane *l = t->lane;

	l->asking = 0;
	if (t->gen != l->ob->gen || error != NULL) {
		/* Ask again in a second (Redis is away: nothing moves anyway). */
		if (error != NULL)
			log_debug("outbox: sink \"%s\": shared rate limit: %s",
			    l->sink->name, error);
		lane_arm(l, 1000);
	} else if (store_reply_type(reply) == STORE_INT &&
	    store_reply_int(reply) > 0) {
		lane_limited(l);
		lane_arm(l, (uint64_t)store_reply_int(reply));
	} else {
		l->granted = 1;
		outbox_lane_pump(l);
		outbox_lane_settle(l);
		outbox_check_idle(l->ob);
	}
	free(t);
}

/* Asks the bucket shared by every instance for a token (ww_take). */
static void
lane_ask(struct lane *l)
{
	struct take_req *t;
	const char *argv[6];
	char rate[32], burst[32];

	if (l->asking)
		return;
	t = xmalloc(sizeof *t);
	t->lane = l;
	t->gen = l->ob->gen;
	snprintf(rate, sizeof rate, "%.6f", l->per_s);
	snprintf(burst, sizeof burst, "%.6f", l->burst);
	argv[0] = "FCALL";
	argv[1] = "ww_take";
	argv[2] = "1";
	argv[3] = l->k_pace;
	argv[4] = rate;
	argv[5] = burst;
	l->asking = 1;
	store_command(l->ob->store, outbox_taken_cb, t, 6, argv);
}

/* Out of tokens: wait for the next one (logged once per backlog). */
static void
lane_limited(struct lane *l)
{
	if (!l->limited) {
		lane_episode(l);
		l->limited = 1;
		log_notice("sink \"%s\": rate limit reached (%.2g a second, "
		    "bursts of %.0f); alerts wait their turn%s", l->sink->name,
		    l->per_s, l->burst, l->sink->digest_after > 0 ?
		    " and go out as digests when many wait" : "");
	}
	stats_inc(STATS_RATE_LIMIT_WAITS, l->sink->name, "pace");
	lane_arm(l, (uint64_t)((1 - l->tokens) / l->per_s * 1000) + 1);
}

/*
 * Sends what the lane's pace allows: while alerts wait and the lane is
 * neither paused nor out of tokens (nor, when it has a bucket, waiting
 * for an answer), one message each time: a digest when more than
 * digest-after alerts wait, else the oldest alone.  Re-entered from an
 * attempt that completes at once, it only lets the outer loop look
 * again.
 */
void
outbox_lane_pump(struct lane *l)
{
	struct outbox *ob = l->ob;
	char why[300];
	struct entry *e;
	uint64_t now;
	size_t waiting, n;

	if (l->pumping)
		return;
	l->pumping = 1;
	while (!ob->stopping && !TAILQ_EMPTY(&l->queue)) {
		if (l->disabled) {
			snprintf(why, sizeof why, "sink \"%s\" is disabled (its "
			    "destination is gone) until the configuration is "
			    "reloaded", l->sink->name);
			e = TAILQ_FIRST(&l->queue);
			TAILQ_REMOVE(&l->queue, e, wait);
			l->nqueue--;
			outbox_refuse(ob, e, why);
			continue;
		}
		now = util_now_ms();
		if (l->paused_until > now) {
			lane_arm(l, l->paused_until - now);
			break;
		}
		if (l->resolving || outbox_tg_lookup(l, TAILQ_FIRST(&l->queue)))
			break;
		if (l->per_s > 0) {
			if (l->sending > 0)
				break;
			lane_refill(l, now);
			if (l->tokens < 1) {
				lane_limited(l);
				break;
			}
			if (l->k_pace != NULL && !l->granted) {
				lane_ask(l);
				break;
			}
			l->granted = 0;
			l->tokens -= 1;
		} else if (l->sending >= (size_t)ob->cfg->per_host) {
			/*
			 * No rate limit (mattermost, ntfy, webhook): no more
			 * attempts at once than the host takes, so that a
			 * pile-up waits here, where a 429's pause holds it
			 * and (chat) it goes out as digests, and not in the
			 * fetcher's queue for a connection, out of reach.
			 * (The console answers before its attempt returns.)
			 */
			break;
		}
		/*
		 * Once a backlog goes out as digests, its tail does too (any
		 * two or more waiting) rather than one alert a token: the
		 * last alerts of a flood are not held back for seconds or
		 * minutes more than the first ones.  outbox_lane_settle() ends
		 * that.
		 */
		waiting = l->nqueue + outbox_lane_nparked(l);
		n = l->sink->digest_after > 0 &&
		    sinkfmt_digests((enum sinkfmt_type)l->sink->format) &&
		    (waiting > (size_t)l->sink->digest_after ||
		    (l->digesting && waiting > 1)) ? DIGEST_MAX : 1;
		lane_send(l, n);
	}
	l->pumping = 0;
	lane_fetch(l);
}

/*
 * Once a lane that was rate-limited or digesting has been empty for
 * QUIET_MS, its backlog is over: one line says so, and the next one is
 * logged again.  The delay keeps a steady trickle at the limit from
 * logging every few seconds.
 */
void
outbox_lane_settle(struct lane *l)
{
	uint64_t now = util_now_ms();

	if (!lane_empty(l)) {
		l->idle_since = 0;
		return;
	}
	if (!l->limited && !l->digesting)
		return;
	if (l->idle_since == 0) {
		l->idle_since = now;
		lane_arm(l, QUIET_MS);
	} else if (now - l->idle_since < QUIET_MS) {
		lane_arm(l, QUIET_MS - (now - l->idle_since) + 1);
	} else {
		log_notice("sink \"%s\": caught up: %lu alert%s went out in %lu "
		    "message%s", l->sink->name, l->ep_alerts,
		    l->ep_alerts == 1 ? "" : "s", l->ep_msgs,
		    l->ep_msgs == 1 ? "" : "s");
		l->limited = l->digesting = 0;
		l->idle_since = 0;
	}
}

static void
outbox_lane_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lane *l = arg;

	(void)fd;
	(void)what;
	outbox_lane_pump(l);
	outbox_lane_settle(l);
	outbox_check_idle(l->ob);
}

static void
outbox_sent_cb(const struct sink_result *r, void *arg)
{
	struct send *s = arg;
	struct lane *l = s->lane;
	struct outbox *ob = l->ob;
	struct sink_result res = *r;
	long hint;
	size_t i;

	l->sending--;
	ob->nsending -= s->n;
	/*
	 * The service saw the message at some time up to now (it may have
	 * waited for a connection): count it as seen now, so that no token
	 * earned while it was on its way lets the next one follow closer
	 * than the pace.  A paced lane has one attempt in flight, so this
	 * only ever slows it by the round trip.
	 */
	if (l->per_s > 0 && util_now_ms() > l->refilled)
		l->refilled = util_now_ms();
	/* Discord's JSON retry_after, Telegram's parameters.retry_after. */
	hint = sinkfmt_retry_after_ms((enum sinkfmt_type)l->sink->format,
	    r->resp, r->resp_len);
	if (hint < res.retry_after_ms)
		hint = res.retry_after_ms;
	res.retry_after_ms = hint;
	if (r->outcome == SINK_RETRY && (r->status == 429 || hint > 0))
		lane_pause(l, r->status, hint);
	if (r->pause_ms > 0)
		lane_hold(l, r->pause_ms);
	if (s->n > 1 && (r->outcome == SINK_RETRY || r->outcome == SINK_FAILED))
		log_warn("outbox: a digest of %zu alerts for sink \"%s\" failed: "
		    "%s%s%.*s; %s", s->n, l->sink->name,
		    r->reason ? r->reason : "failed",
		    r->resp_len > 0 ? "; response: " : "",
		    (int)(r->resp_len < 300 ? r->resp_len : 300),
		    r->resp != NULL ? r->resp : "",
		    r->outcome == SINK_RETRY ?
		    "each alert is retried on its own" :
		    "each alert goes to the dead letters");
	for (i = 0; i < s->n; i++)
		outbox_finish(ob, s->v[i], &res, s->n > 1);
	config_free(s->owner);
	free(s);
	if (l->retired) {
		outbox_lane_retire_done(l);
		outbox_check_idle(ob);
		return;
	}
	if (r->outcome != SINK_ABORTED) {
		outbox_lane_pump(l);
		outbox_lane_settle(l);
		if (!ob->stopping)
			outbox_read_more(ob);
	}
	outbox_check_idle(ob);
}

/* --- reload: lanes kept, made, retired ------------------------------------ */

/*
 * A retired lane (its sink removed by a reload) lives until its last
 * attempt answered and its parked ids were fetched back (and, since the
 * sink is not configured any more, dead-lettered by outbox_take_entry).
 */
void
outbox_lane_retire_done(struct lane *l)
{
	if (l->sending > 0 || l->fetching)
		return;
	if (outbox_lane_nparked(l) > 0 && !l->ob->stopping &&
	    store_is_up(l->ob->store)) {
		lane_fetch(l);
		return;
	}
	if (outbox_lane_nparked(l) > 0)
		return; /* Redis is away: outbox_poll_cb fetches them later */
	LIST_REMOVE(l, retired_link);
	outbox_lane_free(l);
}

/* Every lane's parked ids, retired lanes' included. */
void
outbox_lanes_fetch(struct outbox *ob)
{
	struct lane *l, *next;
	size_t i;

	for (i = 0; i < ob->nlanes; i++)
		lane_fetch(ob->lanes[i]);
	for (l = LIST_FIRST(&ob->retired); l != NULL; l = next) {
		next = LIST_NEXT(l, retired_link);
		outbox_lane_retire_done(l);
	}
}

void
outbox_reconfigure(struct outbox *ob, const struct config *cfg)
{
	struct lane **lanes = xcalloc(cfg->nsinks + 1, sizeof *lanes), *l;
	char *taken = xcalloc(ob->nlanes + 1, 1), why[300];
	struct entry *e;
	size_t i, j;

	for (i = 0; i < cfg->nsinks; i++) {
		for (j = 0; j < ob->nlanes; j++)
			if (!taken[j] && strcmp(ob->lanes[j]->sink->name,
			    cfg->sinks[i].name) == 0)
				break;
		if (j == ob->nlanes) {
			lanes[i] = outbox_lane_new(ob, &cfg->sinks[i], i);
			continue;
		}
		/* Kept: its queue, parked ids and pause carry over. */
		taken[j] = 1;
		l = lanes[i] = ob->lanes[j];
		l->sink = &cfg->sinks[i];
		l->index = i;
		l->disabled = 0;
		lane_pace(l->sink, &l->per_s, &l->burst);
		if (l->tokens > l->burst)
			l->tokens = l->burst;
	}
	ob->cfg = cfg;
	for (j = 0; j < ob->nlanes; j++) {
		if (taken[j])
			continue;
		l = ob->lanes[j];
		l->retired = 1;
		evtimer_del(l->timer);
		LIST_INSERT_HEAD(&ob->retired, l, retired_link);
		snprintf(why, sizeof why, "sink \"%s\" was removed from the "
		    "configuration by a reload", l->sink->name);
		if (l->nqueue + outbox_lane_nparked(l) > 0 || l->sending > 0)
			log_warn("outbox: %s: %zu waiting alert%s go to the dead "
			    "letters, %zu attempt%s in flight finish", why,
			    l->nqueue + outbox_lane_nparked(l),
			    l->nqueue + outbox_lane_nparked(l) == 1 ? "" : "s",
			    l->sending,
			    l->sending == 1 ? "" : "s");
		while ((e = TAILQ_FIRST(&l->queue)) != NULL) {
			TAILQ_REMOVE(&l->queue, e, wait);
			l->nqueue--;
			outbox_refuse(ob, e, why);
		}
		outbox_lane_retire_done(l);
	}
	free(ob->lanes);
	ob->lanes = lanes;
	ob->nlanes = cfg->nsinks;
	free(taken);
	outbox_check_idle(ob);
}
