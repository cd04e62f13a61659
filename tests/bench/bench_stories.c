/*
 * bench_stories.c - `make bench-stories`: the cost of story assignment
 * with 1,000 and with 100,000 stories in the window (goal: at most twice
 * the cost), through the in-memory store and through Redis (the daemon's
 * layout and function library, story_redis.c), and Redis memory per item.
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

#include <hiredis.h>

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

/* Redis as a story store, synchronously (the daemon sends the same commands async). */
struct rstore {
	redisContext *c;
};

static int
r_lookup(void *ctx, const uint64_t bands[STORY_BANDS], int64_t since,
    struct story_sig **out, size_t *n, size_t *cap, char *err, size_t errlen)
{
	struct rstore *rs = ctx;
	struct story_cmd cmd;
	redisReply *r;
	int rc;

	/* "now" is since + window: the lookup covers since..now */
	story_redis_lookup_cmd("bench:", bands, since, since + 48 * 3600, &cmd);
	r = redisCommandArgv(rs->c, cmd.argc, (const char **)cmd.argv, NULL);
	story_cmd_free(&cmd);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "redis: %s", r ? r->str : rs->c->errstr);
		freeReplyObject(r);
		return -1;
	}
	rc = story_redis_parse_cands(r, since, out, n, cap);
	freeReplyObject(r);
	return rc;
}

static int
r_add(void *ctx, const uint64_t bands[STORY_BANDS], const struct story_sig *sig,
    char *err, size_t errlen)
{
	struct rstore *rs = ctx;
	struct story_cmd cmd;
	char ref[STORY_IDLEN];
	redisReply *r;

	story_id_format((uint64_t)rnd(), ref);
	story_redis_add_cmd("bench:", 48 * 3600, ref, bands, sig, &cmd);
	r = redisCommandArgv(rs->c, cmd.argc, (const char **)cmd.argv, NULL);
	story_cmd_free(&cmd);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "redis: %s", r ? r->str : rs->c->errstr);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
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

static long long
used_memory(redisContext *c)
{
	redisReply *r = redisCommand(c, "INFO memory");
	long long v = -1;
	char *p;

	if (r != NULL && r->type == REDIS_REPLY_STRING &&
	    (p = strstr(r->str, "used_memory:")) != NULL)
		v = atoll(p + 12);
	freeReplyObject(r);
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
	double rate[2], rrate[2];
	unsigned joined, wrong, i;
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

	for (i = 0; i < 2; i++) {
		struct rstore rs;
		struct story_store st = { &r_ops, &rs };
		redisReply *r;
		long long before, after;

		if ((rs.c = redisConnectUnix(argv[1])) == NULL || rs.c->err) {
			fprintf(stderr, "bench_stories: cannot connect to %s\n", argv[1]);
			return 1;
		}
		freeReplyObject(redisCommand(rs.c, "FLUSHALL"));
		r = redisCommand(rs.c, "FUNCTION LOAD REPLACE %s", story_redis_library);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "bench_stories: FUNCTION LOAD: %s\n", r ? r->str : "no reply");
			return 1;
		}
		freeReplyObject(r);
		before = used_memory(rs.c);
		rrate[i] = run(&st, sizes[i], 4000, CLOCK_MONOTONIC, &joined, &wrong);
		after = used_memory(rs.c);
		printf("redis store,  %6u stories in the window: %8.0f assignments/s "
		    "(%u of 2000 rewrites joined a story, %u of 2000 new stories did), "
		    "memory %.0f bytes/item\n", sizes[i], rrate[i], joined, wrong,
		    (double)(after - before) / (sizes[i] + 4000));
		redisFree(rs.c);
	}
	printf("redis store: cost at 100,000 stories / cost at 1,000 = %.2fx (goal <= 2x)\n",
	    rrate[0] / rrate[1]);
	return 0;
}
