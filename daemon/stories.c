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
 * One item is one struct job and these steps on the Redis connection:
 * the refs filed under its bands (HMGET of each day's band hash), the
 * signatures of the refs picked (HMGET of each day's signature hash, for
 * the refs this process did not file itself: those it has in the ring),
 * counted and picked as ww_story_cands does (story_redis.h), its story's
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

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/feed.h"
#include "wirewatch/keys.h"
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
#define INDEX_BITS 17    /* the ring's band index: 2^17 chains */
#define REF_BUCKETS 8192 /* the ring's index by ref */

/* A decision of this process: its signature (with its story) and bands. */
struct local_sig {
	struct story_sig sig;
	uint64_t bands[STORY_BANDS];
	json_t *source;          /* {feed, title, link, published} (a reference) */
	unsigned long seq;       /* decision number (struct stories's seq) */
	size_t hexlen;
	char hex[STORY_SIG_HEXMAX]; /* sig as ww_story_cands returns it */
	uint64_t ref;            /* the ref it is filed under in Redis */
	int filed;               /* its record filed it there (ww_story_record said so) */
	int32_t refnext;         /* the next slot of its ref chain, -1: none */
	int32_t storynext;       /* the next (older) slot of its story's chain */
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
	/*
	 * The ring's band index: chains of (ring slot, band) links, link
	 * slot * STORY_BANDS + band, one chain per hash of (band, band key),
	 * so that a lookup visits the decisions sharing a band with it, not
	 * the whole ring.  -1 ends a chain.
	 */
	int32_t *heads;          /* 1 << INDEX_BITS chains */
	struct link { uint64_t key; int32_t next, prev; } *links; /* key: the band key */
	uint32_t *mark;          /* per slot: the lookup that last counted it */
	uint8_t *hits;           /* per slot: bands shared in that lookup */
	uint32_t lookups;
	int32_t *refheads;       /* REF_BUCKETS chains of slots by ref */
	int32_t *storyheads;     /* REF_BUCKETS chains of slots by story, newest first */
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
	size_t slot;            /* its decision's slot in the ring */
	struct story_sig sig;
	uint64_t bands[STORY_BANDS];
	size_t hexlen;          /* sig as hex, once decided */
	char hex[STORY_SIG_HEXMAX];
	json_t *sources;        /* the story's sources before this item */
	int joined;             /* joins a known story (else opens one) */
	struct jalert *alerts;
	size_t n;
	char **kept;            /* the kept item's fields (recent.h) */
	size_t nkept;
	char *fence_key;        /* the feed's lease and its fencing token */
	char *fence_token;      /* (stories_record), or NULL */
	/* The candidates' lookup (story_redis.h): several commands a step. */
	int pending;            /* commands of the step not answered yet */
	int answered;           /* commands of the step answered */
	char *error;            /* the step's first error */
	int64_t d0;             /* the first day of the window */
	struct story_refs refs;
	char *sigbuf;           /* the candidates' signatures (hex), one after another */
	size_t sigused, sigcap;
	size_t sigoff[STORY_CANDS_MAX], siglen[STORY_CANDS_MAX];
	/*
	 * The refs picked, in order: each either fetched (its signature, in
	 * sigbuf, when Redis had one) or one of this process's filed
	 * decisions (a copy in mine, not fetched: Redis holds exactly that).
	 */
	size_t npick, nfilled;
	int fetched[STORY_CANDS_MAX];
	struct story_sig *mine;
	unsigned long mineseq[STORY_CANDS_MAX];
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
	free(j->error);
	story_refs_free(&j->refs);
	free(j->sigbuf);
	free(j->mine);
	json_decref(j->source);
	json_decref(j->sources);
	free(j->item_key);
	free(j);
}

static void start(struct job *j);
static const struct local_sig *local_filed(const struct stories *s, const char *ref);
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
	s->k_outbox = keys_name(cfg->prefix, KEY_OUTBOX, NULL);
	s->k_recent = keys_name(cfg->prefix, KEY_RECENT, NULL);
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
	free(s->heads);
	free(s->links);
	free(s->mark);
	free(s->hits);
	free(s->refheads);
	free(s->storyheads);
	free(s);
}

static void
stories_setup_cb(const struct store_reply *reply, const char *error, void *arg)
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

/* The story member, "story":{"id":..,"sources":[..]}: once per record. */
static char *
story_member(const char *sid, json_t *sources)
{
	json_t *st = json_object();
	char *text, *out;

	if (st == NULL)
		fatal("stories: out of memory");
	json_object_set_new(st, "id", json_string(sid));
	json_object_set(st, "sources", sources);
	if ((text = json_dumps(st, JSON_COMPACT)) == NULL)
		fatal("stories: cannot serialize a story (out of memory)");
	out = xasprintf("\"story\":%s", text);
	free(text);
	json_decref(st);
	return out;
}

/* Is text[at] at the top level of the object text starts (outside strings)? */
static int
top_level(const char *text, const char *at)
{
	const char *p;
	int depth = 0, str = 0;

	for (p = text; p < at; p++) {
		if (str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				str = 0;
		} else if (*p == '"')
			str = 1;
		else if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
	}
	return !str && depth == 1;
}

/*
 * The alert with its story (*first), and the compact "also reported by"
 * form (*update, unless update is NULL): the texts json_dumps() gives for the alert with "story"
 * set (a new last member), and for the update also the title replaced
 * (in its place, or a new member after the story) and "update": true
 * last.  The alert is printed once: the story member (printed once per
 * record) and the update's title are spliced into its text.
 */
static void
story_alerts(const struct job *j, const char *story, const json_t *alert, char **first,
    char **update)
{
	const json_t *old = json_object_get(alert, "title");
	json_t *title, *copy;
	const char *feed, *ti;
	char *base, *t, *tt, *ot = NULL, *pat = NULL, *at = NULL;
	size_t len;

	if ((base = json_dumps(alert, JSON_COMPACT)) == NULL)
		fatal("stories: cannot serialize an alert (out of memory)");
	len = strlen(base);
	base[len - 1] = '\0'; /* its closing brace */
	*first = xasprintf("%s%s%s}", base, len > 2 ? "," : "", story);
	if (update == NULL) {
		free(base);
		return;
	}
	feed = json_string_value(json_object_get(j->source, "feed"));
	ti = json_string_value(json_object_get(j->source, "title"));
	t = xasprintf("Also reported by %s: %s", feed ? feed : "?", ti ? ti : "(untitled)");
	title = alert_json_string(t);
	free(t);
	if ((tt = json_dumps(title, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatal("stories: out of memory");
	if (old == NULL) {
		*update = xasprintf("%s%s%s,\"title\":%s,\"update\":true}", base,
		    len > 2 ? "," : "", story, tt);
		goto out;
	}
	if ((ot = json_dumps(old, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatal("stories: out of memory");
	pat = xasprintf("\"title\":%s", ot);
	if ((at = strstr(base, pat)) != NULL && at > base &&
	    (at[-1] == ',' || at[-1] == '{') && top_level(base, at) &&
	    (at[strlen(pat)] == ',' || at[strlen(pat)] == '\0')) {
		*at = '\0';
		*update = xasprintf("%s\"title\":%s%s,%s,\"update\":true}", base, tt,
		    at + strlen(pat), story);
		goto out;
	}
	/* Not found as printed (cannot happen): print a copy with the title. */
	if ((copy = json_copy((json_t *)alert)) == NULL)
		fatal("stories: out of memory");
	json_object_set(copy, "title", title);
	free(base);
	if ((base = json_dumps(copy, JSON_COMPACT)) == NULL)
		fatal("stories: cannot serialize an alert (out of memory)");
	json_decref(copy);
	base[strlen(base) - 1] = '\0';
	*update = xasprintf("%s,%s,\"update\":true}", base, story);
out:
	json_decref(title);
	free(base);
	free(tt);
	free(ot);
	free(pat);
}

static void
stories_recorded_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct job *j = arg;
	struct stories *s = j->s;
	const struct store_reply *e;
	size_t i, k;
	int result;

	if (error != NULL) {
		job_end(j, -1, error);
		return;
	}
	if (store_reply_type(reply) == STORE_ARRAY)
		result = 1;
	else if (store_reply_type(reply) == STORE_INT && store_reply_int(reply) == 0)
		result = 0;
	else {
		job_end(j, -1, "stories: unexpected reply to ww_story_record");
		return;
	}
	if (result == 1) {
		char sid[STORY_IDLEN];

		/* Filed under its ref: later lookups take it from the ring. */
		if (s->ring[j->slot].seq == j->seq)
			s->ring[j->slot].filed = 1;

		story_id_format(j->sig.story, sid);
		if (j->joined)
			log_info("item %s joins story %s (%zu earlier source%s)",
			    j->item_key, sid, json_array_size(j->sources),
			    json_array_size(j->sources) == 1 ? "" : "s");
		else
			log_info("item %s opens story %s", j->item_key, sid);
		/* Counted once queued: the reply lists the alerts that were. */
		for (i = 0; i < store_reply_len(reply); i++) {
			e = store_reply_elem(reply, i);
			if (store_reply_type(e) != STORE_INT)
				continue;
			k = (size_t)store_reply_int(e);
			if (k >= 1 && k <= j->n)
				stats_inc(STATS_ALERTS, j->alerts[k - 1].watchlist,
				    j->alerts[k - 1].sink);
		}
		if (store_reply_len(reply) > 0)
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
	    nb[16], ivl[32], keep[32], nk[32], bandhex[STORY_BANDS][STORY_IDLEN];
	char **own = NULL, *src, *member = NULL;
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
	own = xcalloc(6 + 3 * j->n, sizeof *own);
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
	argv[argc++] = own[nown++] = keys_name(cfg->prefix, KEY_SEEN, j->item_key, NULL);
	argv[argc++] = s->k_outbox;
	argv[argc++] = own[nown++] = keys_name(cfg->prefix, KEY_STORY, sid, NULL);
	argv[argc++] = own[nown++] = story_redis_day_key(cfg->prefix, KEY_STORY_BANDS, j->sig.time);
	argv[argc++] = own[nown++] = story_redis_day_key(cfg->prefix, KEY_STORY_SIGS, j->sig.time);
	argv[argc++] = s->k_recent;
	argv[argc++] = own[nown++] = outbox_day_key(cfg, time(NULL));
	if (j->fence_key != NULL)
		argv[argc++] = j->fence_key;
	argv[argc++] = ttl;
	argv[argc++] = rttl;
	argv[argc++] = sttl;
	argv[argc++] = max;
	argv[argc++] = ref;
	argv[argc++] = j->hex;
	argv[argc++] = src;
	argv[argc++] = nb;
	for (b = 0; b < STORY_BANDS; b++) {
		story_id_format(j->bands[b], bandhex[b]);
		argv[argc++] = bandhex[b];
	}
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
			if (member == NULL)
				member = story_member(sid, sources);
			/*
			 * No update for a story this item opens (the first record
			 * of a story id made from its own key: nothing can be
			 * before it) nor for story-updates = none.
			 */
			story_alerts(j, member, a->alert, &own[nown],
			    j->joined && strcmp(a->mode, "none") != 0 ? &own[nown + 1] : NULL);
			argv[argc++] = own[nown++];
			argv[argc++] = own[nown] != NULL ? own[nown] : "";
			nown++;
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
	free(member);
	json_decref(sources);
}

static void
stories_sources_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct job *j = arg;
	json_error_t jerr;
	const char *str;
	size_t len;

	if (error != NULL) {
		job_end(j, -1, error);
		return;
	}
	if (store_reply_type(reply) == STORE_STRING &&
	    (str = store_reply_str(reply, &len)) != NULL &&
	    (j->sources = json_loadb(str, len, 0, &jerr)) != NULL &&
	    !json_is_array(j->sources)) {
		json_decref(j->sources);
		j->sources = NULL;
	}
	record(j);
}

/* The chain of band key v in band b. */
static size_t
chain_of(int b, uint64_t v)
{
	return util_mix64(v ^ ((uint64_t)(b + 1) * 0x9e3779b97f4a7c15ULL)) &
	    ((1u << INDEX_BITS) - 1);
}

/* Ring slots by bands shared (most first), then decision (newest first). */
struct found {
	uint32_t slot;
	unsigned shared;
	unsigned long seq;
};

static int
cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	if (x->shared != y->shared)
		return x->shared > y->shared ? -1 : 1;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* The local decisions inside j's window that share a band with it, as
   ring indexes in idx (at most STORY_CANDS_MAX): those sharing the most
   bands, the newest first among equals (as ww_story_cands picks them in
   Redis).  Returns how many. */
static size_t
local_cands(struct stories *s, const struct job *j, size_t idx[STORY_CANDS_MAX])
{
	static struct found found[LOCAL_MAX];
	static uint32_t touched[LOCAL_MAX];
	const struct local_sig *l;
	size_t ntouched = 0, nfound = 0, k, chain[STORY_BANDS];
	int32_t link;
	uint32_t slot;
	int b;

	if (s->ring == NULL)
		return 0;
	if (++s->lookups == 0) { /* wrapped: no mark may look current */
		memset(s->mark, 0, LOCAL_MAX * sizeof *s->mark);
		s->lookups = 1;
	}
	/* The chains' heads are cache misses: all asked for at once. */
	for (b = 0; b < STORY_BANDS; b++) {
		chain[b] = chain_of(b, j->bands[b]);
		__builtin_prefetch(&s->heads[chain[b]]);
	}
	for (b = 0; b < STORY_BANDS; b++) {
		for (link = s->heads[chain[b]]; link != -1;
		    link = s->links[link].next) {
			if ((int)(link % STORY_BANDS) != b)
				continue;
			if (s->links[link].key != j->bands[b])
				continue;
			slot = (uint32_t)(link / STORY_BANDS);
			if (s->mark[slot] != s->lookups) {
				s->mark[slot] = s->lookups;
				s->hits[slot] = 0;
				touched[ntouched++] = slot;
			}
			s->hits[slot]++;
		}
	}
	for (k = 0; k < ntouched; k++) {
		l = &s->ring[touched[k]];
		if (l->sig.time < j->sig.time - s->params.window)
			continue;
		found[nfound].slot = touched[k];
		found[nfound].shared = s->hits[touched[k]];
		found[nfound].seq = l->seq;
		nfound++;
	}
	qsort(found, nfound, sizeof *found, cmp_found);
	for (k = 0; k < nfound && k < STORY_CANDS_MAX; k++)
		idx[k] = found[k].slot;
	return k;
}

/* Takes ring slot i's links out of the band index. */
static void
index_remove(struct stories *s, size_t i)
{
	struct link *ln;
	int32_t link;
	int b;

	for (b = 0; b < STORY_BANDS; b++) {
		link = (int32_t)(i * STORY_BANDS + (size_t)b);
		ln = &s->links[link];
		if (ln->prev != -1)
			s->links[ln->prev].next = ln->next;
		else
			s->heads[chain_of(b, s->ring[i].bands[b])] = ln->next;
		if (ln->next != -1)
			s->links[ln->next].prev = ln->prev;
	}
}

/* Puts ring slot i's links into the band index. */
static void
index_add(struct stories *s, size_t i)
{
	struct link *ln;
	int32_t link, *head;
	int b;

	for (b = 0; b < STORY_BANDS; b++) {
		link = (int32_t)(i * STORY_BANDS + (size_t)b);
		head = &s->heads[chain_of(b, s->ring[i].bands[b])];
		ln = &s->links[link];
		ln->key = s->ring[i].bands[b];
		ln->prev = -1;
		ln->next = *head;
		if (*head != -1)
			s->links[*head].prev = link;
		*head = link;
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
	static int32_t mine[LOCAL_MAX];
	const struct local_sig *l;
	size_t k, n = 0, m;
	int32_t i;
	int dup;

	if (s->ring == NULL)
		return;
	/* The story's chain is newest first: taken oldest first. */
	for (i = s->storyheads[j->sig.story % REF_BUCKETS]; i != -1 && n < LOCAL_MAX;
	    i = s->ring[i].storynext)
		mine[n++] = i;
	for (k = n; k-- > 0;) {
		l = &s->ring[mine[k]];
		if (l->sig.story != j->sig.story || l->source == NULL ||
		    l->seq >= j->seq || json_array_size(sources) >= SOURCES_MAX - 1)
			continue;
		for (dup = 0, m = 0; m < json_array_size(sources) && !dup; m++)
			dup = same_source(json_array_get(sources, m), l->source);
		if (!dup && !same_source(l->source, j->source))
			json_array_append(sources, l->source);
	}
}

/* The ring's filed decision under ref (16 hex digits), or NULL. */
static const struct local_sig *
local_filed(const struct stories *s, const char *ref)
{
	uint64_t r;
	int32_t i;

	if (s->ring == NULL || story_id_parse(ref, &r) == -1)
		return NULL;
	for (i = s->refheads[r % REF_BUCKETS]; i != -1; i = s->ring[i].refnext)
		if (s->ring[i].ref == r && s->ring[i].filed)
			return &s->ring[i];
	return NULL;
}

/* Takes slot i out of its ref and story chains. */
static void
ref_remove(struct stories *s, size_t i)
{
	int32_t *p = &s->refheads[s->ring[i].ref % REF_BUCKETS];

	while (*p != -1 && *p != (int32_t)i)
		p = &s->ring[*p].refnext;
	if (*p == (int32_t)i)
		*p = s->ring[i].refnext;
	p = &s->storyheads[s->ring[i].sig.story % REF_BUCKETS];
	while (*p != -1 && *p != (int32_t)i)
		p = &s->ring[*p].storynext;
	if (*p == (int32_t)i)
		*p = s->ring[i].storynext;
}

/* Files j's decision in the local ring (the oldest goes). */
static void
local_file(struct stories *s, struct job *j)
{
	struct local_sig *l;

	if (s->ring == NULL) {
		s->ring = xcalloc(LOCAL_MAX, sizeof *s->ring);
		s->heads = xreallocarray(NULL, (size_t)1 << INDEX_BITS, sizeof *s->heads);
		memset(s->heads, 0xff, ((size_t)1 << INDEX_BITS) * sizeof *s->heads);
		s->links = xcalloc((size_t)LOCAL_MAX * STORY_BANDS, sizeof *s->links);
		s->mark = xcalloc(LOCAL_MAX, sizeof *s->mark);
		s->hits = xcalloc(LOCAL_MAX, sizeof *s->hits);
		s->refheads = xreallocarray(NULL, REF_BUCKETS, sizeof *s->refheads);
		memset(s->refheads, 0xff, REF_BUCKETS * sizeof *s->refheads);
		s->storyheads = xreallocarray(NULL, REF_BUCKETS, sizeof *s->storyheads);
		memset(s->storyheads, 0xff, REF_BUCKETS * sizeof *s->storyheads);
	}
	l = &s->ring[s->ring_next];
	if (l->source != NULL) {
		index_remove(s, s->ring_next);
		ref_remove(s, s->ring_next);
	}
	json_decref(l->source);
	l->source = json_incref(j->source);
	l->seq = j->seq;
	l->sig = j->sig;
	memcpy(l->bands, j->bands, sizeof l->bands);
	l->hexlen = j->hexlen;
	memcpy(l->hex, j->hex, j->hexlen + 1);
	index_add(s, s->ring_next);
	l->ref = story_id_from(j->item_key);
	l->filed = 0;
	l->refnext = s->refheads[l->ref % REF_BUCKETS];
	s->refheads[l->ref % REF_BUCKETS] = (int32_t)s->ring_next;
	l->storynext = s->storyheads[l->sig.story % REF_BUCKETS];
	s->storyheads[l->sig.story % REF_BUCKETS] = (int32_t)s->ring_next;
	j->slot = s->ring_next;
	s->ring_next = (s->ring_next + 1) % LOCAL_MAX;
	if (s->nring < LOCAL_MAX)
		s->nring++;
}

/* A step's command was answered: keeps its first error. */
static void
step_answer(struct job *j, const char *error)
{
	j->pending--;
	j->answered++;
	if (error != NULL && j->error == NULL)
		j->error = xstrdup(error);
}

static void bands_done(struct job *j);
static void sigs_done(struct job *j);

/* One day's bands: the refs filed under them, counted. */
static void
stories_bands_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct job *j = arg;
	const struct store_reply *e;
	const char *v;
	int day = j->answered;
	size_t i, len;

	if (error == NULL && store_reply_type(reply) != STORE_ARRAY)
		error = "stories: unexpected reply to HMGET of the story bands";
	for (i = 0; error == NULL && i < store_reply_len(reply); i++) {
		e = store_reply_elem(reply, i);
		if (store_reply_type(e) == STORE_STRING &&
		    (v = store_reply_str(e, &len)) != NULL)
			story_refs_add(&j->refs, day, v, len);
	}
	step_answer(j, error);
	if (j->pending == 0)
		bands_done(j);
}

/* One day's candidates: their signatures, kept for the decision. */
static void
stories_sigs_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct job *j = arg;
	const struct store_reply *e;
	const char *v;
	size_t i, len;

	if (error == NULL && store_reply_type(reply) != STORE_ARRAY)
		error = "stories: unexpected reply to HMGET of the story signatures";
	for (i = 0; error == NULL && i < store_reply_len(reply); i++) {
		e = store_reply_elem(reply, i);
		while (j->nfilled < j->npick && !j->fetched[j->nfilled])
			j->nfilled++;
		if (j->nfilled == j->npick)
			break;
		j->siglen[j->nfilled] = 0;
		if (store_reply_type(e) != STORE_STRING ||
		    (v = store_reply_str(e, &len)) == NULL || len >= STORY_SIG_HEXMAX) {
			j->nfilled++;
			continue;
		}
		if (j->sigused + len > j->sigcap) {
			j->sigcap = j->sigcap ? 2 * j->sigcap : 16 * STORY_SIG_HEXMAX;
			if (j->sigcap < j->sigused + len)
				j->sigcap = j->sigused + len;
			j->sigbuf = xrealloc(j->sigbuf, j->sigcap);
		}
		memcpy(j->sigbuf + j->sigused, v, len);
		j->sigoff[j->nfilled] = j->sigused;
		j->siglen[j->nfilled++] = len;
		j->sigused += len;
	}
	step_answer(j, error);
	if (j->pending == 0)
		sigs_done(j);
}

/* The refs are counted: fetches the signatures of those picked. */
static void
bands_done(struct job *j)
{
	struct stories *s = j->s;
	char refs[STORY_CANDS_MAX][STORY_IDLEN];
	int days[STORY_CANDS_MAX];
	const char *argv[2 + STORY_CANDS_MAX];
	char *key;
	size_t n, i, k;
	int argc;

	if (j->error != NULL) {
		job_end(j, -1, j->error);
		return;
	}
	n = story_refs_pick(&j->refs, STORY_CANDS_MAX, refs, days);
	story_refs_free(&j->refs);
	j->npick = n;
	for (i = 0; i < n; i++) {
		const struct local_sig *l = local_filed(s, refs[i]);

		j->fetched[i] = l == NULL;
		if (l == NULL)
			continue;
		if (j->mine == NULL)
			j->mine = xreallocarray(NULL, STORY_CANDS_MAX, sizeof *j->mine);
		j->mine[i] = l->sig;
		j->mineseq[i] = l->seq;
	}
	j->pending = 1; /* until every command is sent: answers may come at once */
	j->answered = 0;
	for (i = 0; i < n; i = k) {
		key = NULL;
		argv[0] = "HMGET";
		argc = 2;
		for (k = i; k < n && days[k] == days[i]; k++)
			if (j->fetched[k])
				argv[argc++] = refs[k];
		if (argc == 2)
			continue;
		key = story_redis_day_key(s->cfg->prefix, KEY_STORY_SIGS,
		    (j->d0 + days[i]) * 86400);
		argv[1] = key;
		j->pending++;
		store_command(s->store, stories_sigs_cb, j, argc, argv);
		free(key);
	}
	if (--j->pending == 0)
		sigs_done(j);
}

/* The candidates are in: decides the story. */
static void
sigs_done(struct job *j)
{
	struct stories *s = j->s;
	struct story_known known[STORY_CANDS_MAX];
	struct story_sig *cands = NULL;
	size_t idx[STORY_CANDS_MAX], nlocal, n = 0, cap = 0, k, i;
	int64_t since = j->sig.time - s->params.window;
	char sid[STORY_IDLEN];
	const char *argv[3];
	char *key;
	int pick;

	if (j->error != NULL) {
		job_end(j, -1, j->error);
		return;
	}
	/*
	 * The candidates are Redis's, then the local ones.  Most local ones
	 * are among Redis's too (recorded before this lookup ran): those
	 * are neither decoded from hex nor scored twice (a copy of an earlier
	 * candidate cannot change the pick).
	 */
	nlocal = local_cands(s, j, idx);
	for (k = 0; k < nlocal; k++) {
		known[k].hex = s->ring[idx[k]].hex;
		known[k].len = s->ring[idx[k]].hexlen;
		known[k].sig = &s->ring[idx[k]].sig;
		known[k].used = 0;
	}
	for (i = 0; i < j->npick; i++) {
		if (j->fetched[i]) {
			if (j->siglen[i] > 0)
				story_redis_parse_sig(j->sigbuf + j->sigoff[i], j->siglen[i],
				    since, known, nlocal, &cands, &n, &cap);
			continue;
		}
		for (k = 0; k < nlocal; k++)
			if (s->ring[idx[k]].seq == j->mineseq[i])
				known[k].used = 1;
		if (j->mine[i].time < since)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			cands = xreallocarray(cands, cap, sizeof *cands);
		}
		cands[n++] = j->mine[i];
	}
	free(j->sigbuf);
	j->sigbuf = NULL;
	for (k = 0; k < nlocal; k++) {
		if (known[k].used)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			cands = xreallocarray(cands, cap, sizeof *cands);
		}
		cands[n++] = *known[k].sig;
	}
	pick = story_pick(&s->params, &j->sig, cands, n, NULL);
	if (pick >= 0) {
		j->sig.story = cands[pick].story;
		j->sig.story_start = cands[pick].story_start;
	} else {
		j->sig.story = story_id_from(j->item_key);
		j->sig.story_start = j->sig.time;
	}
	free(cands);
	j->hexlen = story_redis_sig_hex_to(&j->sig, j->hex);
	j->seq = ++s->seq;
	local_file(s, j);
	j->joined = pick >= 0;
	story_id_format(j->sig.story, sid);
	key = keys_name(s->cfg->prefix, KEY_STORY, sid, NULL);
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
		const struct cfg_sink *sink = config_sink(s->cfg, alerts[i].sink);

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

/* The first step: the refs filed under the item's bands, day by day. */
static void
start(struct job *j)
{
	struct stories *s = j->s;
	char bandhex[STORY_BANDS][STORY_IDLEN];
	const char *argv[2 + STORY_BANDS];
	char *key;
	int nd, d, b;

	story_redis_days(j->sig.time - s->params.window, j->sig.time, &j->d0, &nd);
	for (b = 0; b < STORY_BANDS; b++) {
		story_id_format(j->bands[b], bandhex[b]);
		argv[2 + b] = bandhex[b];
	}
	argv[0] = "HMGET";
	j->pending = 1; /* until every command is sent: answers may come at once */
	j->answered = 0;
	for (d = 0; d < nd; d++) {
		key = story_redis_day_key(s->cfg->prefix, KEY_STORY_BANDS, (j->d0 + d) * 86400);
		argv[1] = key;
		j->pending++;
		store_command(s->store, stories_bands_cb, j, 2 + STORY_BANDS, argv);
		free(key);
	}
	if (--j->pending == 0)
		bands_done(j);
}
