/*
 * stories.c - alerts per story in the daemon; see stories.h.
 *
 * Up to INFLIGHT_MAX jobs are on the Redis connection at once, in the
 * order they came (one connection: replies come back in that order).  An
 * item's candidates are its Redis candidates plus the items this process
 * decided lately (the local ring, filed at decision time, before their
 * record reaches Redis), so two outlets of one story polled together are
 * one story without waiting for each other's round trips (several
 * instances sharing a Redis can still race; see docs/stories.md).
 *
 * One item is one struct job and three steps on the Redis connection:
 * the candidates of its signature (FCALL_RO ww_story_cands), its story's
 * sources (HGET; also for a new story, so that records are sent in the
 * order the jobs came), then ww_story_record, which decides atomically
 * what each alert becomes.  The job owns copies of
 * everything its callbacks need (the poll's document may go before it),
 * and the callback that ends it frees it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/feed.h"
#include "wirewatch/log.h"
#include "wirewatch/stats.h"
#include "wirewatch/stories.h"
#include "wirewatch/story.h"
#include "wirewatch/story_redis.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#define SOURCES_MAX 50   /* sources kept per story (the record stops growing) */
#define INFLIGHT_MAX 64  /* jobs on the connection at once */
#define LOCAL_MAX 4096   /* decisions kept in the local ring */

/* A decision of this process: its signature (with its story) and bands. */
struct local_sig {
	struct story_sig sig;
	uint64_t bands[STORY_BANDS];
	json_t *source;          /* {feed, title, link, published} (a reference) */
	unsigned long seq;       /* decision number (struct stories's seq) */
};

struct job;

struct stories {
	struct store *store;
	const struct config *cfg;
	struct story_params params;
	char *k_outbox;
	char *k_recent;
	struct job *head, *tail; /* waiting jobs, oldest first */
	size_t inflight;         /* jobs started and not ended */
	int pumping;
	struct local_sig *ring;  /* the last LOCAL_MAX decisions */
	size_t nring, ring_next;
	unsigned long seq;       /* decisions made */
};

struct job {
	struct job *next;
	struct stories *s;
	struct outbox *ob;
	outbox_record_cb cb;
	void *arg;
	char *item_key;
	json_t *source;         /* {feed, title, link, published} */
	unsigned long seq;      /* its decision's number, once decided */
	struct story_sig sig;
	uint64_t bands[STORY_BANDS];
	json_t *sources;        /* the story's sources before this item */
	int joined;             /* joins a known story (else opens one) */
	struct jalert *alerts;
	size_t n;
	char **kept;            /* the kept item's fields (recent.h) */
	size_t nkept;
	char *fence_key;        /* the feed's lease and its fencing token */
	char *fence_token;      /* (stories_record), or NULL */
};

/*
 * An alert of the job: copies (mode is a literal), as a reload may free
 * the configuration, its sink and its watchlist before the job runs.
 */
struct jalert {
	char *id;
	char *sink;
	char *watchlist;
	const char *mode;       /* item, thread, digest, none */
	long interval_ms;
	json_t *alert;
};

static void
job_free(struct job *j)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		json_decref(j->alerts[i].alert);
		free(j->alerts[i].id);
		free(j->alerts[i].sink);
		free(j->alerts[i].watchlist);
	}
	free(j->alerts);
	for (i = 0; i < j->nkept; i++)
		free(j->kept[i]);
	free(j->kept);
	free(j->fence_key);
	free(j->fence_token);
	json_decref(j->source);
	json_decref(j->sources);
	free(j->item_key);
	free(j);
}

static void start(struct job *j);
static void local_sources(const struct stories *s, const struct job *j,
    json_t *sources);

/* Starts waiting jobs while fewer than INFLIGHT_MAX run (a loop: a job
   may end at once). */
static void
pump(struct stories *s)
{
	struct job *j;

	if (s->pumping)
		return;
	s->pumping = 1;
	while (s->inflight < INFLIGHT_MAX && (j = s->head) != NULL) {
		s->head = j->next;
		if (s->head == NULL)
			s->tail = NULL;
		s->inflight++;
		start(j);
	}
	s->pumping = 0;
}

static void
job_end(struct job *j, int result, const char *error)
{
	struct stories *s = j->s;

	s->inflight--;
	j->cb(result, error, j->arg);
	job_free(j);
	pump(s);
}

struct stories *
stories_new(struct store *store, const struct config *cfg)
{
	struct stories *s = xcalloc(1, sizeof *s);

	s->store = store;
	s->cfg = cfg;
	story_params_default(&s->params);
	s->params.window = cfg->story_window;
	s->k_outbox = xasprintf("%soutbox", cfg->prefix);
	s->k_recent = xasprintf("%srecent", cfg->prefix);
	return s;
}

void
stories_set_config(struct stories *s, const struct config *cfg)
{
	/* The prefix takes a restart (config_diff): the keys stay. */
	s->cfg = cfg;
	s->params.window = cfg->story_window;
}

void
stories_free(struct stories *s)
{
	struct job *j;
	size_t i;

	if (s == NULL)
		return;
	/* Only at exit, when no poll waits any more: nobody to call back. */
	while ((j = s->head) != NULL) {
		s->head = j->next;
		job_free(j);
	}
	free(s->k_outbox);
	free(s->k_recent);
	for (i = 0; s->ring != NULL && i < LOCAL_MAX; i++)
		json_decref(s->ring[i].source);
	free(s->ring);
	free(s);
}

static void
stories_setup_cb(struct redisReply *reply, const char *error, void *arg)
{
	(void)reply;
	(void)arg;
	if (error != NULL)
		log_err("stories: cannot load the function library: %s", error);
}

void
stories_setup(struct stories *s)
{
	const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE", story_redis_library };

	store_command(s->store, stories_setup_cb, s, 4, argv);
}

static const struct cfg_sink *
find_sink(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nsinks; i++)
		if (strcmp(cfg->sinks[i].name, name) == 0)
			return &cfg->sinks[i];
	return NULL;
}

static const char *
mode_name(int group_items, const struct cfg_sink *sink)
{
	if (group_items)
		return "item";
	if (sink == NULL) /* not in cfg: cannot happen, the snapshot is cfg's */
		return "digest";
	switch (sink->story_updates) {
	case CFG_STORY_UPDATES_THREAD:
		return "thread";
	case CFG_STORY_UPDATES_NONE:
		return "none";
	default:
		return "digest";
	}
}

/* The alert with its story; update: the compact "also reported by" form. */
static char *
story_alert(const struct job *j, const char *sid, json_t *sources, const json_t *alert,
    int update)
{
	json_t *a = json_deep_copy(alert), *st = json_object();
	const char *feed, *title;
	char *out, *t;

	if (a == NULL || st == NULL)
		fatal("stories: out of memory");
	json_object_set_new(st, "id", json_string(sid));
	json_object_set(st, "sources", sources);
	json_object_set_new(a, "story", st);
	if (update) {
		feed = json_string_value(json_object_get(j->source, "feed"));
		title = json_string_value(json_object_get(j->source, "title"));
		t = xasprintf("Also reported by %s: %s", feed ? feed : "?",
		    title ? title : "(untitled)");
		json_object_set_new(a, "title", alert_json_string(t));
		free(t);
		json_object_set_new(a, "update", json_true());
	}
	if ((out = json_dumps(a, JSON_COMPACT)) == NULL)
		fatal("stories: cannot serialize an alert (out of memory)");
	json_decref(a);
	return out;
}

static void
stories_recorded_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct job *j = arg;
	size_t i, k;
	int result;

	if (error != NULL) {
		job_end(j, -1, error);
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY)
		result = 1;
	else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
		result = 0;
	else {
		job_end(j, -1, "stories: unexpected reply to ww_story_record");
		return;
	}
	if (result == 1) {
		char sid[STORY_IDLEN];

		story_id_format(j->sig.story, sid);
		if (j->joined)
			log_info("item %s joins story %s (%zu earlier source%s)",
			    j->item_key, sid, json_array_size(j->sources),
			    json_array_size(j->sources) == 1 ? "" : "s");
		else
			log_info("item %s opens story %s", j->item_key, sid);
		/* Counted once queued: the reply lists the alerts that were. */
		for (i = 0; i < reply->elements; i++) {
			if (reply->element[i]->type != REDIS_REPLY_INTEGER)
				continue;
			k = (size_t)reply->element[i]->integer;
			if (k >= 1 && k <= j->n)
				stats_inc(STATS_ALERTS, j->alerts[k - 1].watchlist,
				    j->alerts[k - 1].sink);
		}
		if (reply->elements > 0)
			outbox_kick(j->ob);
	}
	job_end(j, result, NULL);
}

/* The story is decided: record the item, its alerts and its signature. */
static void
record(struct job *j)
{
	struct stories *s = j->s;
	const struct config *cfg = s->cfg;
	char sid[STORY_IDLEN], ref[STORY_IDLEN], ttl[32], rttl[32], sttl[32], max[16],
	    nb[16], ivl[32], keep[32], nk[32];
	char **own = NULL, *src;
	const char **argv;
	size_t i, nown = 0, argc = 0;
	json_t *sources;
	int b;

	story_id_format(j->sig.story, sid);
	story_id_format(story_id_from(j->item_key), ref);
	sources = j->sources != NULL ? json_deep_copy(j->sources) : json_array();
	local_sources(s, j, sources);
	if (json_array_size(sources) < SOURCES_MAX)
		json_array_append(sources, j->source);
	if ((src = json_dumps(j->source, JSON_COMPACT)) == NULL)
		fatal("stories: out of memory");
	argv = xcalloc(22 + STORY_BANDS + j->nkept + 8 * j->n, sizeof *argv);
	own = xcalloc(6 + STORY_BANDS + 3 * j->n, sizeof *own);
	snprintf(ttl, sizeof ttl, "%lld", cfg->seen_ttl);
	snprintf(rttl, sizeof rttl, "%lld", cfg->story_window + 86400);
	snprintf(sttl, sizeof sttl, "%lld", cfg->story_window + 86400);
	snprintf(max, sizeof max, "%d", STORY_BUCKET_MAX);
	snprintf(nb, sizeof nb, "%d", STORY_BANDS);
	snprintf(keep, sizeof keep, "%lld", cfg->keep_items * 1000);
	snprintf(nk, sizeof nk, "%zu", j->nkept);
	argv[argc++] = "FCALL";
	argv[argc++] = "ww_story_record";
	argv[argc++] = j->fence_key != NULL ? "8" : "7";
	argv[argc++] = own[nown++] = xasprintf("%sseen:%s", cfg->prefix, j->item_key);
	argv[argc++] = s->k_outbox;
	argv[argc++] = own[nown++] = xasprintf("%sstory:r:%s", cfg->prefix, sid);
	argv[argc++] = own[nown++] = story_redis_day_key(cfg->prefix, 'b', j->sig.time);
	argv[argc++] = own[nown++] = story_redis_day_key(cfg->prefix, 's', j->sig.time);
	argv[argc++] = s->k_recent;
	argv[argc++] = own[nown++] = outbox_day_key(cfg, time(NULL));
	if (j->fence_key != NULL)
		argv[argc++] = j->fence_key;
	argv[argc++] = ttl;
	argv[argc++] = rttl;
	argv[argc++] = sttl;
	argv[argc++] = max;
	argv[argc++] = ref;
	argv[argc++] = own[nown++] = story_redis_sig_hex(&j->sig);
	argv[argc++] = src;
	argv[argc++] = nb;
	for (b = 0; b < STORY_BANDS; b++)
		argv[argc++] = own[nown++] = xasprintf("%016llx", (unsigned long long)j->bands[b]);
	argv[argc++] = keep;
	argv[argc++] = nk;
	for (i = 0; i < j->nkept; i++)
		argv[argc++] = j->kept[i];
	for (i = 0; i < j->n; i++) {
		const struct jalert *a = &j->alerts[i];

		snprintf(ivl, sizeof ivl, "%ld", a->interval_ms);
		argv[argc++] = a->id;
		argv[argc++] = a->sink;
		argv[argc++] = a->watchlist;
		argv[argc++] = j->item_key;
		if (strcmp(a->mode, "item") == 0) {
			argv[argc++] = own[nown++] = json_dumps(a->alert, JSON_COMPACT);
			argv[argc++] = "";
		} else {
			argv[argc++] = own[nown++] = story_alert(j, sid, sources, a->alert, 0);
			argv[argc++] = own[nown++] = story_alert(j, sid, sources, a->alert, 1);
		}
		argv[argc++] = a->mode;
		argv[argc++] = own[nown++] = xstrdup(ivl);
	}
	if (j->fence_key != NULL)
		argv[argc++] = j->fence_token; /* last: the script takes it off */
	for (i = 0; i < argc; i++)
		if (argv[i] == NULL)
			fatal("stories: out of memory");
	store_command(s->store, stories_recorded_cb, j, (int)argc, argv);
	for (i = 0; i < nown; i++)
		free(own[i]);
	free(own);
	free(argv);
	free(src);
	json_decref(sources);
}

static void
stories_sources_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct job *j = arg;
	json_error_t jerr;

	if (error != NULL) {
		job_end(j, -1, error);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING &&
	    (j->sources = json_loadb(reply->str, reply->len, 0, &jerr)) != NULL &&
	    !json_is_array(j->sources)) {
		json_decref(j->sources);
		j->sources = NULL;
	}
	record(j);
}

/* Appends to the candidates the local decisions inside j's window that
   share a band with it: the STORY_CANDS_MAX sharing the most bands, the
   newest first among equals (as ww_story_cands picks them in Redis). */
static void
local_cands(const struct stories *s, const struct job *j, struct story_sig **cands,
    size_t *n, size_t *cap)
{
	static uint16_t shared[LOCAL_MAX];
	size_t per[STORY_BANDS + 1] = {0}, i, k, taken = 0;
	const struct local_sig *l;
	int b, h;

	for (k = 0; k < s->nring; k++) {
		/* newest first: ring_next - 1, - 2, ... */
		i = (s->ring_next + LOCAL_MAX - 1 - k) % LOCAL_MAX;
		l = &s->ring[i];
		shared[k] = 0;
		if (l->sig.time < j->sig.time - s->params.window)
			continue;
		for (b = 0; b < STORY_BANDS; b++)
			shared[k] += l->bands[b] == j->bands[b];
		per[shared[k]]++;
	}
	for (h = STORY_BANDS; h >= 1 && taken < STORY_CANDS_MAX; h--) {
		if (per[h] == 0)
			continue;
		for (k = 0; k < s->nring && taken < STORY_CANDS_MAX; k++) {
			if (shared[k] != h)
				continue;
			i = (s->ring_next + LOCAL_MAX - 1 - k) % LOCAL_MAX;
			if (*n == *cap) {
				*cap = *cap ? 2 * *cap : 16;
				*cands = xrealloc(*cands, *cap * sizeof **cands);
			}
			(*cands)[(*n)++] = s->ring[i].sig;
			taken++;
		}
	}
}

/* Same feed and link: the same source. */
static int
same_source(const json_t *a, const json_t *b)
{
	const char *fa = json_string_value(json_object_get(a, "feed")),
	    *fb = json_string_value(json_object_get(b, "feed")),
	    *la = json_string_value(json_object_get(a, "link")),
	    *lb = json_string_value(json_object_get(b, "link"));

	return fa != NULL && fb != NULL && strcmp(fa, fb) == 0 &&
	    (la == lb || (la != NULL && lb != NULL && strcmp(la, lb) == 0));
}

/*
 * Adds to sources (the story's, as Redis had them when j read them) the
 * items of j's story this process decided before j (a lower decision
 * number: jobs decided after j are in the ring too by now) whose record
 * may not have reached Redis by then (jobs overlap on the connection),
 * oldest first, without repeats: an update names every outlet seen so
 * far, the first alert only itself.
 */
static void
local_sources(const struct stories *s, const struct job *j, json_t *sources)
{
	const struct local_sig *l;
	size_t k, i, m;
	int dup;

	for (k = s->nring; k-- > 0;) {
		/* oldest first: ring_next - nring, ..., ring_next - 1 */
		i = (s->ring_next + LOCAL_MAX - 1 - k) % LOCAL_MAX;
		l = &s->ring[i];
		if (l->sig.story != j->sig.story || l->source == NULL ||
		    l->seq >= j->seq || json_array_size(sources) >= SOURCES_MAX - 1)
			continue;
		for (dup = 0, m = 0; m < json_array_size(sources) && !dup; m++)
			dup = same_source(json_array_get(sources, m), l->source);
		if (!dup && !same_source(l->source, j->source))
			json_array_append(sources, l->source);
	}
}

/* Files j's decision in the local ring (the oldest goes). */
static void
local_file(struct stories *s, const struct job *j)
{
	struct local_sig *l;

	if (s->ring == NULL)
		s->ring = xcalloc(LOCAL_MAX, sizeof *s->ring);
	l = &s->ring[s->ring_next];
	json_decref(l->source);
	l->source = json_incref(j->source);
	l->seq = j->seq;
	l->sig = j->sig;
	memcpy(l->bands, j->bands, sizeof l->bands);
	s->ring_next = (s->ring_next + 1) % LOCAL_MAX;
	if (s->nring < LOCAL_MAX)
		s->nring++;
}

static void
stories_cands_cb(struct redisReply *reply, const char *error, void *arg)
{
	struct job *j = arg;
	struct stories *s = j->s;
	struct story_sig *cands = NULL;
	size_t n = 0, cap = 0;
	char sid[STORY_IDLEN];
	const char *argv[3];
	char *key;
	int pick;

	if (error != NULL) {
		job_end(j, -1, error);
		return;
	}
	if (story_redis_parse_cands(reply, j->sig.time - s->params.window, &cands, &n,
	    &cap) == -1) {
		job_end(j, -1, "stories: unexpected reply to ww_story_cands");
		return;
	}
	local_cands(s, j, &cands, &n, &cap);
	pick = story_pick(&s->params, &j->sig, cands, n, NULL);
	if (pick >= 0) {
		j->sig.story = cands[pick].story;
		j->sig.story_start = cands[pick].story_start;
	} else {
		j->sig.story = story_id_from(j->item_key);
		j->sig.story_start = j->sig.time;
	}
	free(cands);
	j->seq = ++s->seq;
	local_file(s, j);
	j->joined = pick >= 0;
	story_id_format(j->sig.story, sid);
	key = xasprintf("%sstory:r:%s", s->cfg->prefix, sid);
	argv[0] = "HGET";
	argv[1] = key;
	argv[2] = "sources";
	store_command(s->store, stories_sources_cb, j, 3, argv);
	free(key);
}

void
stories_record(struct stories *s, struct outbox *ob, const char *feed,
    const struct feed_entry *e, const char *item_key, const struct stories_alert *alerts,
    size_t n, const char *const *kept, size_t nkept, const char *fence_key,
    const char *fence_token, outbox_record_cb cb, void *arg)
{
	struct job *j = xcalloc(1, sizeof *j);
	time_t now = time(NULL), t;
	char when[32];
	size_t i;

	j->s = s;
	j->ob = ob;
	j->cb = cb;
	j->arg = arg;
	j->item_key = xstrdup(item_key);
	if (fence_key != NULL) {
		j->fence_key = xstrdup(fence_key);
		j->fence_token = xstrdup(fence_token);
	}
	/*
	 * The item's time is its publication time when that is believable
	 * (within the window before now), else now: a feed that dates its
	 * items wrongly cannot put them into old stories or far-off days.
	 */
	t = e->published != FEED_NO_TIME ? e->published : e->updated;
	if (t == FEED_NO_TIME || t > now || t < now - (time_t)s->params.window)
		t = now;
	util_format_time(t, when, sizeof when);
	j->source = json_object();
	json_object_set_new(j->source, "feed", alert_json_string(feed));
	json_object_set_new(j->source, "title", alert_json_string(e->title));
	json_object_set_new(j->source, "link", alert_json_string(e->link));
	json_object_set_new(j->source, "published", json_string(when));
	j->alerts = xcalloc(n ? n : 1, sizeof *j->alerts);
	for (i = 0; i < n; i++) {
		const struct cfg_sink *sink = find_sink(s->cfg, alerts[i].sink);

		j->alerts[i].id = xstrdup(alerts[i].id);
		j->alerts[i].sink = xstrdup(alerts[i].sink);
		j->alerts[i].watchlist = xstrdup(alerts[i].watchlist);
		j->alerts[i].mode = mode_name(alerts[i].group_items, sink);
		j->alerts[i].interval_ms = sink != NULL ?
		    sink->story_update_interval * 1000 : 30L * 60 * 1000;
		j->alerts[i].alert = json_incref(alerts[i].alert);
	}
	j->n = n;
	j->kept = xcalloc(nkept + 1, sizeof *j->kept);
	for (i = 0; i < nkept; i++)
		j->kept[i] = xstrdup(kept[i]);
	j->nkept = nkept;
	story_sig_make(e, t, &j->sig);
	story_bands(&j->sig, j->bands);
	if (s->tail != NULL)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pump(s);
}

void
stories_cancel(struct stories *s)
{
	struct job *j;

	while ((j = s->head) != NULL) {
		s->head = j->next;
		if (s->head == NULL)
			s->tail = NULL;
		j->cb(-1, "shutting down before its story was decided", j->arg);
		job_free(j);
	}
}

static void
start(struct job *j)
{
	struct stories *s = j->s;
	struct story_cmd cmd;

	story_redis_lookup_cmd(s->cfg->prefix, j->bands, j->sig.time - s->params.window,
	    j->sig.time, &cmd);
	store_command(s->store, stories_cands_cb, j, cmd.argc, (const char **)cmd.argv);
	story_cmd_free(&cmd);
}
