/*
 * bench_match.c - `make bench-match`: matcher throughput against the
 * number of watchlists, and a naive loop of one PCRE2 search per watchlist
 * on the same data as the baseline, in one process.
 *
 * Items: 100,000 generated items (title of 8 words, content of ~70 words
 * drawn from a 20,000-word vocabulary with a Zipf-like skew, a few entity
 * aliases sprinkled in).  Watchlists: generated queries mixing AND, OR,
 * NOT, phrases, NEAR and entities over the same vocabulary.
 *
 * For profiling: BENCH_ITEMS=N uses fewer items, BENCH_ONLY=0|1|2 times
 * only the 10, 1,000 or 10,000 watchlist matcher.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "wirewatch/match.h"
#include "wirewatch/util.h"

#define NITEMS_MAX 100000
static size_t NITEMS = NITEMS_MAX; /* BENCH_ITEMS overrides, for profiling */
#define NVOCAB 20000

static unsigned long long rng = 88172645463325252ULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static char vocab[NVOCAB][12];

/* Skewed: low ranks are common words, high ranks rare. */
static const char *
word(void)
{
	unsigned r = rnd(NVOCAB);

	return vocab[rnd(r + 1)];
}

#define ROUNDS 5

static double
cputime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
gen_query(struct buf *pat)
{
	struct buf q = {0};
	/* Watchlists name specific things: words outside the 100 commonest. */
	const char *a = vocab[100 + rnd(NVOCAB - 100)], *b = vocab[100 + rnd(NVOCAB - 100)];
	const char *c = vocab[100 + rnd(NVOCAB - 100)];

	buf_reset(pat);
	switch (rnd(6)) {
	case 0: buf_addf(&q, "%s AND %s", a, b); break;
	case 1: buf_addf(&q, "(%s OR %s) AND %s", a, c, b); break;
	case 2: buf_addf(&q, "\"%s %s\"", a, b); break;
	case 3: buf_addf(&q, "%s NEAR/5 %s", a, b); break;
	case 4: buf_addf(&q, "@DPRK NEAR/3 %s -%s", a, c); break;
	default: buf_addf(&q, "(title:%s OR %s*) AND %s", a, b, c); break;
	}
	buf_addf(pat, "\\b(?:%s|%s|%s)\\b", a, b, c);
	return buf_steal(&q);
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 10, 1000, 10000, 100000 };
#define NSIZES 4
	static char *titles[NITEMS_MAX], *contents[NITEMS_MAX];
	const char *aliases[] = { "North Korea", "Pyongyang", "Kim Jong Un", "Moscow" };
	struct entity_set *ents;
	char err[WW_ERRLEN];
	double base_rate = 0, rate[NSIZES], srate[NSIZES], mem[NSIZES], t0, el;
	struct matcher *ms[NSIZES];
	size_t i, j, s, hits, nhits[NSIZES];
	int round, only = -1;
	struct buf b = {0}, pat = {0};

	/* BENCH_ONLY=0|1|2 times one size only, for profiling */
	if (getenv("BENCH_ONLY") != NULL)
		only = atoi(getenv("BENCH_ONLY"));
	if (getenv("BENCH_ITEMS") != NULL && atol(getenv("BENCH_ITEMS")) > 0 &&
	    atol(getenv("BENCH_ITEMS")) <= NITEMS_MAX)
		NITEMS = (size_t)atol(getenv("BENCH_ITEMS"));
	for (i = 0; i < NVOCAB; i++)
		snprintf(vocab[i], sizeof vocab[i], "w%c%c%05zu", 'a' + (int)(i % 26),
		    'a' + (int)(i / 26 % 26), i);
	if ((ents = entity_set_load("conf/entities", err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (i = 0; i < NITEMS; i++) {
		buf_reset(&b);
		for (j = 0; j < 8; j++)
			buf_addf(&b, "%s%s", j ? " " : "", word());
		titles[i] = xstrdup(b.s);
		buf_reset(&b);
		buf_adds(&b, "<p>");
		for (j = 0; j < 70; j++) {
			if (rnd(60) == 0)
				buf_addf(&b, "%s ", aliases[rnd(4)]);
			buf_addf(&b, "%s%s", word(), rnd(12) == 0 ? ". " : " ");
		}
		buf_adds(&b, "</p>");
		contents[i] = xstrdup(b.s);
	}
	printf("bench-match: %zu items (8-word title, ~70-word HTML content)\n", NITEMS);
	printf("best of %d interleaved rounds, thread CPU time; \"select\" = without building\n"
	    "the hits' explanations (candidate selection and evaluation only)\n", ROUNDS);
	printf("%-12s %12s %12s %10s %9s %14s %12s\n", "watchlists", "items/s", "us/item", "hits",
	    "hits/item", "select us/item", "bytes/wl");
	for (s = 0; s < NSIZES; s++) {
		struct mallinfo2 mi0 = mallinfo2(), mi1;
		ms[s] = matcher_new(ents);
		for (i = 0; i < sizes[s]; i++) {
			char *q = gen_query(&pat);
			if (matcher_add(ms[s], "w", q, err, sizeof err) < 0) {
				fprintf(stderr, "query %s: %s\n", q, err);
				return 1;
			}
			free(q);
		}
		/* one item sizes the per-run state (one record per pattern) */
		{
			struct match_result r = {0};
			struct match_doc d = { .title = titles[0], .content = contents[0] };
			matcher_run(ms[s], &d, &r);
			match_result_free(&r);
		}
		mi1 = mallinfo2();
		mem[s] = (double)(mi1.uordblks + mi1.hblkhd - mi0.uordblks - mi0.hblkhd);
		rate[s] = srate[s] = 0;
	}
	/*
	 * The machine may be shared: rounds interleave the three sizes and the
	 * best round of each counts, in thread CPU time.
	 */
	for (round = 0; round < ROUNDS; round++) {
		for (s = 0; s < NSIZES; s++) {
			if (only >= 0 && (size_t)only != s)
				continue;
			hits = 0;
			t0 = cputime();
			for (i = 0; i < NITEMS; i++) {
				struct match_result r = {0};
				struct match_doc d = { .title = titles[i], .content = contents[i] };
				hits += matcher_run(ms[s], &d, &r);
				match_result_free(&r);
			}
			el = cputime() - t0;
			if ((double)NITEMS / el > rate[s])
				rate[s] = (double)NITEMS / el;
			nhits[s] = hits;
			/* the same without building the hits' explanations */
			t0 = cputime();
			for (i = 0; i < NITEMS; i++) {
				struct match_doc d = { .title = titles[i], .content = contents[i] };
				matcher_run(ms[s], &d, NULL);
			}
			el = cputime() - t0;
			if ((double)NITEMS / el > srate[s])
				srate[s] = (double)NITEMS / el;
		}
	}
	base_rate = rate[0];
	for (s = 0; s < NSIZES; s++) {
		if (only < 0 || (size_t)only == s)
			printf("%-12zu %12.0f %12.2f %10zu %9.3f %14.2f %12.0f\n", sizes[s], rate[s],
			    1e6 / rate[s], nhits[s], (double)nhits[s] / (double)NITEMS, 1e6 / srate[s],
			    mem[s] / (double)sizes[s]);
		matcher_free(ms[s]);
	}
	if (only >= 0)
		goto out;
	printf("cost ratio 10,000 vs 10 watchlists: %.2fx (goal <= 3x)\n", base_rate / rate[2]);
	printf("cost ratio 100,000 vs 10 watchlists: %.2fx (goal <= 4x); selection alone %.2fx\n",
	    base_rate / rate[3], srate[0] / srate[3]);

	if (argc > 1 && strcmp(argv[1], "--engine-only") == 0)
		goto out;
	/* Baseline: one PCRE2 (JIT) search per watchlist per item. */
	printf("naive loop, one PCRE2 JIT search per watchlist (fewer items, same data):\n");
	for (s = 0; s < NSIZES; s++) {
		size_t n = sizes[s], nitems = s == 0 ? NITEMS : s == 1 ? NITEMS / 20 : s == 2 ? NITEMS / 200 :
		    NITEMS / 2000;
		pcre2_code **re = xcalloc(n, sizeof *re);
		pcre2_match_data *md = pcre2_match_data_create(4, NULL);
		int rc;
		PCRE2_SIZE off;

		rng = 88172645463325252ULL;
		for (i = 0; i < n; i++) {
			free(gen_query(&pat));
			re[i] = pcre2_compile((PCRE2_SPTR)pat.s, PCRE2_ZERO_TERMINATED,
			    PCRE2_CASELESS | PCRE2_UTF, &rc, &off, NULL);
			pcre2_jit_compile(re[i], PCRE2_JIT_COMPLETE);
		}
		hits = 0;
		t0 = now();
		for (i = 0; i < nitems; i++)
			for (j = 0; j < n; j++)
				hits += pcre2_match(re[j], (PCRE2_SPTR)contents[i], PCRE2_ZERO_TERMINATED,
				    0, 0, md, NULL) > 0;
		el = now() - t0;
		printf("%-12zu %12.0f items/s over %zu items; wirewatch is %.1fx faster\n", n,
		    nitems / el, nitems, rate[s] / (nitems / el));
		for (i = 0; i < n; i++)
			pcre2_code_free(re[i]);
		free(re);
		pcre2_match_data_free(md);
	}
out:
	for (i = 0; i < NITEMS; i++) {
		free(titles[i]);
		free(contents[i]);
	}
	buf_free(&b);
	buf_free(&pat);
	entity_set_free(ents);
	return 0;
}
