/*
 * bench_stories.c - `make bench-stories`: the cost of story assignment
 * with 1,000 and with 100,000 stories in the window (goal: at most twice
 * the cost), through the in-memory store and through Redis (the daemon's
 * layout, function library and lookup, story_redis.c; and, as the
 * baseline in the same run, the lookup as one FCALL_RO ww_story_cands),
 * and Redis memory per item.  Redis through store.h's synchronous
 * connection.
 *
 * Synthetic items: each story has 8 names out of a million and 32 words
 * drawn from a 50,000-word vocabulary with a Zipf-like skew (the shared
 * words of news, stop words excluded); a rewrite keeps the names, drops a
 * third of the words and adds new ones.  The store is filled with N one-item stories spread
 * over a day (filed directly, as story_assign files a new story); then M
 * items are assigned (4,000), half rewrites of stored stories, half new
 * stories; the figures are for those M.  Timing is CPU time of this process for the memory
 * store, wall time for Redis (it includes the server's work).
 *
 *   bench_stories [REDIS-UNIX-SOCKET]   (bench_stories.sh starts a server)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wirewatch/keys.h"
#include "wirewatch/store.h"
#include "wirewatch/story.h"
#include "wirewatch/story_redis.h"
#include "wirewatch/util.h"

#define T0 1752300000
#define NAMES 8
#define WORDS 32
#define VOCAB 50000

static uint64_t rng = 88172645463325252ULL;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * Zipf-like: small ranks far more often (log-uniform ranks), starting at
 * rank 200: the most common words are stop words, which signatures drop.
 */
static unsigned
zipf(void)
{
	double u = (double)(rnd() % 1000000) / 1000000.0;

	return (unsigned)(200.0 * pow(VOCAB / 200.0, u)) % VOCAB;
}

static void
story_text(unsigned story, int rewrite, struct buf *title, struct buf *text)
{
	uint64_t saved = rng;
	int i;

	buf_reset(title);
	buf_reset(text);
	rng = 0x9e3779b97f4a7c15ULL * (story + 1);
	for (i = 0; i < NAMES; i++) {
		unsigned nm = (unsigned)(rnd() % 1000000);
		if (i < 3)
			buf_addf(title, "N%u w%u ", nm, zipf());
		buf_addf(text, "the N%u ", nm);
	}
	for (i = 0; i < WORDS; i++) {
		unsigned w = zipf();
		if (!rewrite || i % 3 != 0)
			buf_addf(text, "w%u ", w);
	}
	rng = saved;
	if (rewrite)
		for (i = 0; i < WORDS / 4; i++)
			buf_addf(text, "w%u ", zipf());
}

/*
 * Redis as a story store, synchronously, with the daemon's commands
 * (stories.c sends them async): the lookup is its HMGET of the item's
 * bands in each day's band hash, the refs counted and picked in C
 * (story_refs_*), then HMGET of the picked signatures in each day's
 * signature hash.  The daemon also has the signatures it filed itself in
 * a ring and skips fetching those; here every one is fetched (as for
 * items another instance, or the daemon before a restart, filed).  With
 * lua set, the lookup is one FCALL_RO ww_story_cands instead: the same
 * candidates, the lookup the daemon made before (the baseline).
 */
struct rstore {
	struct store_sync *c;
	int lua;
};

/* One lookup's state across its commands' callbacks. */
struct lookup {
	char *error;            /* the first error */
	struct story_refs refs;
	int day;                /* the band hash being read (its day index) */
	int64_t since;
	struct story_sig **out;
	size_t *n, *cap;
};

static void
keep_error(struct lookup *l, const char *error)
{
	if (error != NULL && l->error == NULL)
		l->error = xstrdup(error);
}

/* Calls each(l, v, len) for every string of an array reply. */
static void
each_string(struct lookup *l, const struct store_reply *reply,
    const char *error, const char *what,
    void (*each)(struct lookup *, const char *, size_t))
{
	const struct store_reply *e;
	const char *v;
	size_t i, len;

	keep_error(l, error);
	if (error == NULL && store_reply_type(reply) != STORE_ARRAY)
		keep_error(l, what);
	for (i = 0; error == NULL && i < store_reply_len(reply); i++) {
		e = store_reply_elem(reply, i);
		if (store_reply_type(e) == STORE_STRING &&
		    (v = store_reply_str(e, &len)) != NULL)
			each(l, v, len);
	}
}

static void
add_ref(struct lookup *l, const char *v, size_t len)
{
	story_refs_add(&l->refs, l->day, v, len);
}

static void
add_sig(struct lookup *l, const char *v, size_t len)
{
	story_redis_parse_sig(v, len, l->since, NULL, 0, l->out, l->n, l->cap);
}

static void
bands_cb(const struct store_reply *reply, const char *error, void *arg)
{
	each_string(arg, reply, error,
	    "unexpected reply to HMGET of the story bands", add_ref);
}

static void
sigs_cb(const struct store_reply *reply, const char *error, void *arg)
{
	each_string(arg, reply, error,
	    "unexpected reply to HMGET of the story signatures", add_sig);
}

static void
cands_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct lookup *l = arg;

	keep_error(l, error);
	if (error == NULL &&
	    story_redis_parse_cands(reply, l->since, l->out, l->n, l->cap) == -1)
		keep_error(l, "unexpected reply to FCALL_RO ww_story_cands");
}

/* The daemon's lookup (stories.c: start, bands_done). */
static void
hmget_lookup(struct rstore *rs, const uint64_t bands[STORY_BANDS], struct lookup *l)
{
	char bandhex[STORY_BANDS][STORY_IDLEN], refs[STORY_CANDS_MAX][STORY_IDLEN];
	const char *argv[2 + STORY_BANDS + STORY_CANDS_MAX];
	int days[STORY_CANDS_MAX], nd, d, b, argc;
	size_t np, i, k;
	int64_t d0;
	char *key;

	/* "now" is since + window: the lookup covers since..now */
	story_redis_days(l->since, l->since + 48 * 3600, &d0, &nd);
	argv[0] = "HMGET";
	for (b = 0; b < STORY_BANDS; b++) {
		story_id_format(bands[b], bandhex[b]);
		argv[2 + b] = bandhex[b];
	}
	for (d = 0; d < nd && l->error == NULL; d++) {
		key = story_redis_day_key("bench:", KEY_STORY_BANDS, (d0 + d) * 86400);
		argv[1] = key;
		l->day = d;
		store_sync_command(rs->c, bands_cb, l, 2 + STORY_BANDS, argv);
		free(key);
	}
	np = story_refs_pick(&l->refs, STORY_CANDS_MAX, refs, days);
	story_refs_free(&l->refs);
	for (i = 0; i < np && l->error == NULL; i = k) {
		argc = 2;
		for (k = i; k < np && days[k] == days[i]; k++)
			argv[argc++] = refs[k];
		key = story_redis_day_key("bench:", KEY_STORY_SIGS, (d0 + days[i]) * 86400);
		argv[1] = key;
		store_sync_command(rs->c, sigs_cb, l, argc, argv);
		free(key);
	}
}

static int
r_lookup(void *ctx, const uint64_t bands[STORY_BANDS], int64_t since,
    struct story_sig **out, size_t *n, size_t *cap, char *err, size_t errlen)
{
	struct rstore *rs = ctx;
	struct lookup l = { .since = since, .out = out, .n = n, .cap = cap };
	struct story_cmd cmd;

	if (rs->lua) {
		story_redis_lookup_cmd("bench:", bands, since, since + 48 * 3600, &cmd);
		store_sync_command(rs->c, cands_cb, &l, cmd.argc, (const char **)cmd.argv);
		story_cmd_free(&cmd);
	} else
		hmget_lookup(rs, bands, &l);
	if (l.error != NULL) {
		snprintf(err, errlen, "%s", l.error);
		free(l.error);
		return -1;
	}
	return 0;
}

/* Keeps a command's error (arg: a char ** that is NULL). */
static void
error_cb(const struct store_reply *reply, const char *error, void *arg)
{
	char **e = arg;

	(void)reply;
	if (error != NULL && *e == NULL)
		*e = xstrdup(error);
}

static int
r_add(void *ctx, const uint64_t bands[STORY_BANDS], const struct story_sig *sig,
    char *err, size_t errlen)
{
	struct rstore *rs = ctx;
	struct story_cmd cmd;
	char ref[STORY_IDLEN], *error = NULL;

	story_id_format((uint64_t)rnd(), ref);
	story_redis_add_cmd("bench:", 48 * 3600, ref, bands, sig, &cmd);
	store_sync_command(rs->c, error_cb, &error, cmd.argc, (const char **)cmd.argv);
	story_cmd_free(&cmd);
	if (error != NULL) {
		snprintf(err, errlen, "%s", error);
		free(error);
		return -1;
	}
	return 0;
}

static const struct story_store_ops r_ops = { r_lookup, r_add };

static double
now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
memory_cb(const struct store_reply *reply, const char *error, void *arg)
{
	long long *v = arg;
	const char *s = store_reply_str(reply, NULL), *p;

	(void)error;
	if (store_reply_type(reply) == STORE_STRING &&
	    (p = strstr(s, "used_memory:")) != NULL)
		*v = atoll(p + 12);
}

static long long
used_memory(struct store_sync *c)
{
	const char *argv[2] = { "INFO", "memory" };
	long long v = -1;

	store_sync_command(c, memory_cb, &v, 2, argv);
	return v;
}

/*
 * Fills st with n stories, then assigns m items; returns items/s of the
 * assignments (signatures made beforehand) and counts how many joined.
 */
static double
run(struct story_store *st, unsigned n, unsigned m, clockid_t clk, unsigned *joined,
    unsigned *wrong)
{
	struct buf title = {0}, text = {0};
	struct story_params p;
	struct story_sig *sigs;
	char key[32], err[256];
	double t0, t1;
	unsigned i;
	int is_new;

	story_params_default(&p);
	for (i = 0; i < n; i++) {
		struct story_sig s;
		uint64_t bands[STORY_BANDS];

		/* n stories of one item each, filed as story_assign files them */
		story_text(i, 0, &title, &text);
		story_sig_from_text(title.s, text.s, T0 + (time_t)((uint64_t)i * 86400 / n), &s);
		snprintf(key, sizeof key, "s%u", i);
		s.story = story_id_from(key);
		s.story_start = s.time;
		story_bands(&s, bands);
		if (st->ops->add(st->ctx, bands, &s, err, sizeof err) == -1) {
			fprintf(stderr, "bench_stories: %s\n", err);
			exit(1);
		}
	}
	sigs = xcalloc(m, sizeof *sigs);
	for (i = 0; i < m; i++) {
		if (i % 2 == 0)
			story_text((unsigned)(rnd() % n), 1, &title, &text);
		else
			story_text(n + i, 0, &title, &text);
		story_sig_from_text(title.s, text.s, T0 + 86400 + i, &sigs[i]);
	}
	*joined = *wrong = 0;
	t0 = now_s(clk);
	for (i = 0; i < m; i++) {
		snprintf(key, sizeof key, "m%u", i);
		if (story_assign(&p, st, key, &sigs[i], &is_new, err, sizeof err) == -1) {
			fprintf(stderr, "bench_stories: %s\n", err);
			exit(1);
		}
		if (i % 2 == 0)
			*joined += !is_new;
		else
			*wrong += !is_new;
	}
	t1 = now_s(clk);
	free(sigs);
	buf_free(&title);
	buf_free(&text);
	return m / (t1 - t0);
}

int
main(int argc, char **argv)
{
	static const unsigned sizes[2] = { 1000, 100000 };
	static const char *const lookup[2] = {
		"daemon's lookup (HMGETs)", "FCALL_RO ww_story_cands"
	};
	double rate[2], rrate[2][2];
	unsigned joined, wrong, i, mode;
	char *addr, err[256];
	uint64_t seed;
	struct buf title = {0}, text = {0};
	struct story_sig s;
	double t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the signature itself, independent of the window */
	t0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < 20000; i++) {
		story_text(i, 0, &title, &text);
		story_sig_from_text(title.s, text.s, T0, &s);
	}
	printf("signature (title + 40 words): %.0f items/s\n",
	    20000 / (now_s(CLOCK_PROCESS_CPUTIME_ID) - t0));
	buf_free(&title);
	buf_free(&text);

	for (i = 0; i < 2; i++) {
		struct story_memstore *m = story_memstore_new();
		struct story_store st = story_memstore_store(m);
		rate[i] = run(&st, sizes[i], 4000, CLOCK_PROCESS_CPUTIME_ID, &joined, &wrong);
		printf("memory store, %6u stories in the window: %8.0f assignments/s "
		    "(%u of 2000 rewrites joined a story, %u of 2000 new stories did), %.0f bytes/item\n",
		    sizes[i], rate[i], joined, wrong,
		    (double)story_memstore_bytes(m) / (sizes[i] + 4000));
		story_memstore_free(m);
	}
	printf("memory store: cost at 100,000 stories / cost at 1,000 = %.2fx (goal <= 2x)\n",
	    rate[0] / rate[1]);
	if (argc < 2)
		return 0;
	addr = xasprintf("unix:%s", argv[1]);

	seed = rng; /* both lookups get the same items */
	for (mode = 0; mode < 2; mode++) {
		rng = seed;
		for (i = 0; i < 2; i++) {
			struct rstore rs = { NULL, mode == 1 };
			struct story_store st = { &r_ops, &rs };
			const char *flush[1] = { "FLUSHALL" };
			const char *load[4] = { "FUNCTION", "LOAD", "REPLACE", story_redis_library };
			long long before, after;
			char *error = NULL;

			if ((rs.c = store_sync_connect(addr, 60000, NULL, NULL, 0, err,
			    sizeof err)) == NULL) {
				fprintf(stderr, "bench_stories: %s\n", err);
				return 1;
			}
			store_sync_command(rs.c, error_cb, &error, 1, flush);
			store_sync_command(rs.c, error_cb, &error, 4, load);
			if (error != NULL) {
				fprintf(stderr, "bench_stories: FLUSHALL, FUNCTION LOAD: %s\n", error);
				return 1;
			}
			before = used_memory(rs.c);
			rrate[mode][i] = run(&st, sizes[i], 4000, CLOCK_MONOTONIC, &joined, &wrong);
			after = used_memory(rs.c);
			printf("redis store, %s, %6u stories in the window: %8.0f assignments/s "
			    "(%u of 2000 rewrites joined a story, %u of 2000 new stories did), "
			    "memory %.0f bytes/item\n", lookup[mode], sizes[i], rrate[mode][i],
			    joined, wrong, (double)(after - before) / (sizes[i] + 4000));
			store_sync_free(rs.c);
		}
		printf("redis store, %s: cost at 100,000 stories / cost at 1,000 = %.2fx "
		    "(goal <= 2x)\n", lookup[mode], rrate[mode][0] / rrate[mode][1]);
	}
	free(addr);
	printf("redis store: the daemon's lookup / ww_story_cands = %.2fx at 1,000 stories, "
	    "%.2fx at 100,000 (assignments/s)\n", rrate[0][0] / rrate[1][0],
	    rrate[0][1] / rrate[1][1]);
	return 0;
}
