/*
 * story.c - story identity: signatures, scoring, the decision, and the
 * in-memory store; see story.h for the contract and docs/stories.md for
 * the method and how its thresholds were chosen.
 *
 * Everything here is pure computation over an item's text and a handful of
 * candidate signatures, so the daemon (Redis store), `wirewatchctl
 * stories` and the tests (in-memory store) run the same decision.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/feed.h"
#include "wirewatch/story.h"
#include "wirewatch/text.h"
#include "wirewatch/util.h"

#define SIMHASH_MIN_TOKENS 24   /* fewer tokens: no SimHash (too few shingles to trust) */
#define SIMHASH_MAX_TOKENS 4000

/*
 * Words that carry no story: English function words and the vocabulary
 * every news item shares (days, "said", "reported").  Sorted for bsearch.
 */
static const char *stopwords[] = {
	"a", "about", "after", "again", "against", "ago", "all", "also", "am", "among",
	"an", "and", "another", "any", "are", "as", "at", "be", "because", "been",
	"before", "being", "between", "both", "but", "by", "can", "could", "day",
	"did", "do", "does", "during", "each", "early", "earlier", "even", "ever",
	"few", "first", "for", "friday", "from", "further", "had", "has", "have",
	"having", "he", "her", "here", "him", "his", "how", "however", "i", "if",
	"in", "into", "is", "it", "its", "just", "last", "late", "later", "least",
	"less", "like", "made", "make", "many", "may", "me", "might", "monday",
	"more", "most", "much", "must", "my", "near", "new", "news", "next", "night",
	"no", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "or",
	"other", "our", "out", "over", "own", "per", "reported", "reporting",
	"reports", "said", "saturday", "say", "says", "she", "should", "since", "so",
	"some", "still", "such", "sunday", "than", "that", "the", "their", "them",
	"then", "there", "these", "they", "this", "those", "through", "thursday",
	"to", "today", "told", "too", "tuesday", "two", "under", "until", "up",
	"upon", "us", "very", "was", "we", "wednesday", "week", "were", "what",
	"when", "where", "whether", "which", "while", "who", "whom", "why", "will",
	"with", "within", "would", "year", "years", "yesterday", "yet", "you",
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
is_stopword(const char *w)
{
	return bsearch(&w, stopwords, sizeof stopwords / sizeof stopwords[0],
	    sizeof stopwords[0], cmp_str) != NULL;
}

/*
 * Light suffix stripping for ASCII words, so that "launches", "launched"
 * and "launch" are one term; other scripts are left as they are.  w is a
 * normal form (lowercase); the stem is written to out (at least n + 1).
 */
static size_t
stem(const char *w, size_t n, char *out)
{
	size_t i;

	memcpy(out, w, n);
	out[n] = '\0';
	for (i = 0; i < n; i++)
		if (!(w[i] >= 'a' && w[i] <= 'z'))
			return n;
	if (n > 5 && strcmp(out + n - 3, "ing") == 0)
		n -= 3;
	else if (n > 4 && strcmp(out + n - 3, "ies") == 0) {
		n -= 3;
		out[n++] = 'y';
	} else if (n > 4 && strcmp(out + n - 2, "ed") == 0)
		n -= 2;
	else if (n > 4 && (strcmp(out + n - 2, "es") == 0) &&
	    (out[n - 3] == 's' || out[n - 3] == 'x' || out[n - 3] == 'h'))
		n -= 2;
	else if (n > 3 && out[n - 1] == 's' && out[n - 2] != 's' && out[n - 2] != 'u')
		n -= 1;
	out[n] = '\0';
	return n;
}

/* Is the token at text[start] the first word of a sentence? */
static int
sentence_start(const char *text, size_t start)
{
	size_t i = start;

	while (i > 0) {
		unsigned char c = (unsigned char)text[i - 1];
		if (c == '.' || c == '!' || c == '?' || c == ':' || c == '\n' || c == '(' ||
		    c == '"' || c == '|')
			return 1;
		if (!isspace(c) && c != '\'' && c < 0x80)
			return 0;
		if (c >= 0x80) /* curly quotes, dashes: treat like an opening quote */
			return 1;
		i--;
	}
	return 1;
}

struct termset {
	uint32_t v[STORY_TERMS];
	uint32_t n;
};

/* Adds a term (hash h, name/number when ent); a known term may become a name. */
static void
termset_add(struct termset *ts, uint32_t h, int ent)
{
	uint32_t i;

	h &= ~STORY_ENTITY_BIT;
	for (i = 0; i < ts->n; i++)
		if ((ts->v[i] & ~STORY_ENTITY_BIT) == h) {
			if (ent)
				ts->v[i] |= STORY_ENTITY_BIT;
			return;
		}
	if (ts->n < STORY_TERMS)
		ts->v[ts->n++] = h | (ent ? STORY_ENTITY_BIT : 0);
}

static int
cmp_term(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a & ~STORY_ENTITY_BIT;
	uint32_t y = *(const uint32_t *)b & ~STORY_ENTITY_BIT;

	return x < y ? -1 : x > y;
}

/*
 * Adds the content terms of text's first max_tokens tokens.  Names are
 * told only where capitalisation means something: in running text
 * (in_title = 0), not at a sentence start.  Numbers are names everywhere.
 */
static void
add_terms(struct termset *ts, const char *text, const struct text_tokens *tk, int in_title,
    size_t max_tokens)
{
	char word[256];
	size_t i, n;
	int ent, digit;

	for (i = 0; i < tk->n && i < max_tokens; i++) {
		const char *norm = text_token_norm(tk, i);
		size_t len = tk->v[i].normlen, k;

		if (len >= sizeof word || is_stopword(norm))
			continue;
		digit = 0;
		for (k = 0; k < len; k++)
			if (norm[k] >= '0' && norm[k] <= '9')
				digit = 1;
		if (len < 2 && !digit && (unsigned char)norm[0] < 0x80)
			continue;
		n = stem(norm, len, word);
		ent = digit || (!in_title && isupper((unsigned char)text[tk->v[i].start]) &&
		    !sentence_start(text, tk->v[i].start));
		termset_add(ts, (uint32_t)util_hash64(word, n, 0x5707c0de), ent);
	}
}

/*
 * SimHash over word 3-shingles of the text's normal forms (stop words
 * kept).  The title stays out: a copy is often retitled, its body not.
 */
static uint64_t
simhash(const struct text_tokens *tk)
{
	int counts[64] = {0};
	uint64_t h, r = 0, w[3];
	size_t i, n;
	int b;

	n = tk->n < SIMHASH_MAX_TOKENS ? tk->n : SIMHASH_MAX_TOKENS;
	if (n < SIMHASH_MIN_TOKENS)
		return 0;
	for (i = 0; i < n; i++) {
		w[i % 3] = util_hash64(text_token_norm(tk, i), tk->v[i].normlen, 0x51a4);
		if (i < 2)
			continue;
		h = util_mix64(w[(i - 2) % 3] * 3 + w[(i - 1) % 3] * 7 + w[i % 3]);
		for (b = 0; b < 64; b++)
			counts[b] += (h >> b) & 1 ? 1 : -1;
	}
	for (b = 0; b < 64; b++)
		if (counts[b] > 0)
			r |= 1ULL << b;
	return r ? r : 1; /* 0 means "none" */
}

void
story_sig_from_text(const char *title, const char *text, time_t t, struct story_sig *sig)
{
	struct termset ts = {{0}, 0};
	struct text_tokens tk = {0};

	memset(sig, 0, sizeof *sig);
	sig->time = (int64_t)t;
	if (title != NULL) {
		text_tokenize(title, strlen(title), &tk);
		add_terms(&ts, title, &tk, 1, STORY_TERMS);
		text_tokens_reset(&tk);
	}
	/* The text is tokenized once: its lead gives terms, all of it the SimHash. */
	if (text != NULL) {
		text_tokenize(text, strlen(text), &tk);
		add_terms(&ts, text, &tk, 0, STORY_LEAD_TOKENS);
	}
	qsort(ts.v, ts.n, sizeof ts.v[0], cmp_term);
	memcpy(sig->terms, ts.v, ts.n * sizeof ts.v[0]);
	sig->nterms = ts.n;
	sig->simhash = simhash(&tk); /* no text: no tokens, no SimHash */
	text_tokens_free(&tk);
}

void
story_sig_make(const struct feed_entry *e, time_t t, struct story_sig *sig)
{
	const char *body = e->content != NULL ? e->content : e->summary;
	char *plain = text_html_to_plain(body);
	char *title = e->title ? text_html_to_plain(e->title) : NULL;

	story_sig_from_text(title, plain, t, sig);
	free(plain);
	free(title);
}

void
story_bands(const struct story_sig *sig, uint64_t bands[STORY_BANDS])
{
	uint64_t mins[STORY_ROWS], h, seed;
	uint32_t i;
	int b, r;

	for (b = 0; b < STORY_BANDS; b++) {
		for (r = 0; r < STORY_ROWS; r++) {
			seed = util_mix64((uint64_t)(b * STORY_ROWS + r + 1) * 0x9e3779b97f4a7c15ULL);
			mins[r] = UINT64_MAX;
			for (i = 0; i < sig->nterms; i++) {
				h = util_mix64((sig->terms[i] & ~STORY_ENTITY_BIT) ^ seed);
				if (h < mins[r])
					mins[r] = h;
			}
		}
		h = (uint64_t)b + 1;
		for (r = 0; r < STORY_ROWS; r++)
			h = util_mix64(h ^ mins[r]);
		bands[b] = h;
	}
}

int
story_hamming(uint64_t a, uint64_t b)
{
	return __builtin_popcountll(a ^ b);
}

/* The weight of a term set: names and numbers count double. */
static double
terms_weight(const struct story_sig *a)
{
	double w = 0;
	uint32_t i;

	for (i = 0; i < a->nterms; i++)
		w += (a->terms[i] & STORY_ENTITY_BIT) ? 2 : 1;
	return w;
}

/*
 * A's terms as a filter for story_pick: bit (hash mod FILTER_BITS) set for
 * each.  The terms of b found in it bound from above the terms a and b
 * share, so that most candidates sharing fewer than min_shared terms are
 * told without the merge below.
 */
#define FILTER_BITS 4096

struct term_filter {
	uint64_t w[FILTER_BITS / 64];
};

static void
filter_make(const struct story_sig *a, struct term_filter *f)
{
	uint32_t i, x;

	memset(f, 0, sizeof *f);
	for (i = 0; i < a->nterms; i++) {
		x = a->terms[i] & (FILTER_BITS - 1);
		f->w[x / 64] |= 1ULL << (x % 64);
	}
}

static unsigned
filter_hits(const struct term_filter *f, const struct story_sig *b)
{
	unsigned hits = 0;
	uint32_t i, x;

	for (i = 0; i < b->nterms; i++) {
		x = b->terms[i] & (FILTER_BITS - 1);
		hits += (unsigned)(f->w[x / 64] >> (x % 64)) & 1;
	}
	return hits;
}

/* story_score with a's weight wa given (and b's filter hits, when f is set). */
static double
score(const struct story_sig *a, double wa, const struct term_filter *f,
    const struct story_sig *b, unsigned min_shared)
{
	double wb, ws = 0;
	uint32_t i = 0, j = 0, x, y;
	unsigned shared = 0;

	if (a->simhash != 0 && b->simhash != 0 &&
	    story_hamming(a->simhash, b->simhash) <= STORY_SIMHASH_MAX)
		return 1.0;
	if (f != NULL && filter_hits(f, b) < min_shared)
		return 0;
	wb = terms_weight(b);
	while (i < a->nterms && j < b->nterms) {
		x = a->terms[i] & ~STORY_ENTITY_BIT;
		y = b->terms[j] & ~STORY_ENTITY_BIT;
		if (x < y) {
			i++;
		} else if (x > y) {
			j++;
		} else {
			ws += ((a->terms[i] | b->terms[j]) & STORY_ENTITY_BIT) ? 2 : 1;
			shared++;
			i++;
			j++;
		}
	}
	if (shared < min_shared || wa == 0 || wb == 0)
		return 0;
	return ws / sqrt(wa * wb);
}

double
story_score(const struct story_sig *a, const struct story_sig *b, unsigned min_shared)
{
	return score(a, terms_weight(a), NULL, b, min_shared);
}

void
story_params_default(struct story_params *p)
{
	p->window = 48 * 3600;
	p->threshold = 0.15;
	p->gap_penalty = 0.30;
	p->min_shared = 3;
}

double
story_threshold(const struct story_params *p, long long gap)
{
	if (gap < 0)
		gap = -gap;
	return p->threshold + p->gap_penalty * (double)gap / 86400.0;
}

int
story_pick(const struct story_params *p, const struct story_sig *sig,
    const struct story_sig *cands, size_t n, double *best_score)
{
	double s, best = 0, best_margin = 0, wa = terms_weight(sig);
	struct term_filter f;
	long long gap;
	int pick = -1;
	size_t i;

	filter_make(sig, &f);
	for (i = 0; i < n; i++) {
		gap = (long long)(sig->time - cands[i].story_start);
		if (gap > p->window || gap < -p->window)
			continue;
		s = score(sig, wa, &f, &cands[i], p->min_shared);
		if (s > best)
			best = s;
		if (s >= story_threshold(p, gap) && (pick == -1 || s - story_threshold(p, gap) > best_margin)) {
			pick = (int)i;
			best_margin = s - story_threshold(p, gap);
		}
	}
	if (best_score != NULL)
		*best_score = best;
	return pick;
}

uint64_t
story_id_from(const char *key)
{
	uint64_t id = util_hash64(key, strlen(key), 0x5707);

	return id ? id : 1;
}

/* (By hand, not snprintf: the daemon formats some fifty per item.) */
void
story_id_format(uint64_t id, char out[STORY_IDLEN])
{
	int i;

	for (i = 15; i >= 0; i--, id >>= 4)
		out[i] = "0123456789abcdef"[id & 15];
	out[16] = '\0';
}

int
story_id_parse(const char *s, uint64_t *id)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 16; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			v = v << 4 | (uint64_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			v = v << 4 | (uint64_t)(s[i] - 'a' + 10);
		else
			return -1;
	}
	if (s[16] != '\0')
		return -1;
	*id = v;
	return 0;
}

int
story_assign(const struct story_params *p, struct story_store *st, const char *key,
    struct story_sig *sig, int *is_new, char *err, size_t errlen)
{
	struct story_sig *cands = NULL;
	uint64_t bands[STORY_BANDS];
	size_t n = 0, cap = 0;
	int pick, rc = -1;

	story_bands(sig, bands);
	if (st->ops->lookup(st->ctx, bands, sig->time - p->window, &cands, &n, &cap,
	    err, errlen) == -1)
		goto out;
	pick = story_pick(p, sig, cands, n, NULL);
	if (pick >= 0) {
		sig->story = cands[pick].story;
		sig->story_start = cands[pick].story_start;
	} else {
		sig->story = story_id_from(key);
		sig->story_start = sig->time;
	}
	if (is_new != NULL)
		*is_new = pick < 0;
	rc = st->ops->add(st->ctx, bands, sig, err, errlen);
out:
	free(cands);
	return rc;
}

/* Packing: little-endian, fixed header then the terms. */
static void
put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
put32(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t
story_sig_pack(const struct story_sig *sig, unsigned char *out)
{
	uint32_t i;

	put64(out, sig->simhash);
	put64(out + 8, (uint64_t)sig->time);
	put64(out + 16, sig->story);
	put64(out + 24, (uint64_t)sig->story_start);
	put32(out + 32, sig->nterms);
	for (i = 0; i < sig->nterms; i++)
		put32(out + STORY_SIG_HEADER + 4 * i, sig->terms[i]);
	return STORY_SIG_HEADER + 4 * (size_t)sig->nterms;
}

int
story_sig_unpack(const unsigned char *p, size_t n, struct story_sig *sig)
{
	uint32_t i;

	if (n < STORY_SIG_HEADER)
		return -1;
	memset(sig, 0, sizeof *sig);
	sig->simhash = get64(p);
	sig->time = (int64_t)get64(p + 8);
	sig->story = get64(p + 16);
	sig->story_start = (int64_t)get64(p + 24);
	sig->nterms = get32(p + 32);
	if (sig->nterms > STORY_TERMS || n != STORY_SIG_HEADER + 4 * (size_t)sig->nterms)
		return -1;
	for (i = 0; i < sig->nterms; i++)
		sig->terms[i] = get32(p + STORY_SIG_HEADER + 4 * i);
	return 0;
}

/*
 * The in-memory store.  Buckets are an open-addressing table of band keys,
 * each with a ring of the newest STORY_BUCKET_MAX item indexes (grown as
 * needed), as the Redis store keeps.  A lookup counts the bands each item
 * found shares in a small table of its own (cache-resident, cleared after
 * use), so that a store of 100,000 items costs one memory access per
 * bucket and per candidate, not per entry.  Items are never removed (the
 * store lives as long as one `wirewatchctl stories` run or one test).
 */
struct slot {
	uint64_t key;   /* 0: empty */
	uint32_t *ring; /* item indexes */
	uint8_t n;      /* filled */
	uint8_t cap;
	uint8_t next;   /* where the next one goes once full */
};

#define COUNT_SLOTS 2048 /* > STORY_BANDS x STORY_BUCKET_MAX */

struct count {
	uint32_t item;  /* index + 1, 0: empty */
	uint32_t hits;
};

struct story_memstore {
	struct slot *slots;
	size_t nslots, used;
	struct story_sig *items;
	int64_t *times;         /* items[i].time, packed for the filter */
	size_t nitems, capitems;
	struct count counts[COUNT_SLOTS];
	uint32_t used_counts[COUNT_SLOTS];
	struct count found[COUNT_SLOTS];
	size_t ring_bytes;
};

static struct slot *
slot_find(struct story_memstore *m, uint64_t key, int create)
{
	size_t i, mask;
	struct slot *old;
	size_t oldn, k;

	if (key == 0)
		key = 1;
	if (create && (m->used + 1) * 4 >= m->nslots * 3) {
		old = m->slots;
		oldn = m->nslots;
		m->nslots = oldn ? oldn * 2 : 1024;
		m->slots = xcalloc(m->nslots, sizeof *m->slots);
		for (k = 0; k < oldn; k++) {
			if (old[k].key == 0)
				continue;
			for (i = old[k].key & (m->nslots - 1); m->slots[i].key != 0;
			    i = (i + 1) & (m->nslots - 1))
				;
			m->slots[i] = old[k];
		}
		free(old);
	}
	if (m->nslots == 0)
		return NULL;
	mask = m->nslots - 1;
	for (i = key & mask; m->slots[i].key != 0; i = (i + 1) & mask)
		if (m->slots[i].key == key)
			return &m->slots[i];
	if (!create)
		return NULL;
	memset(&m->slots[i], 0, sizeof m->slots[i]);
	m->slots[i].key = key;
	m->used++;
	return &m->slots[i];
}

/* Most bands shared first, then the newest (the higher index). */
static int
cmp_found(const void *a, const void *b)
{
	const struct count *x = a, *y = b;

	if (x->hits != y->hits)
		return x->hits > y->hits ? -1 : 1;
	return x->item > y->item ? -1 : x->item < y->item;
}

static int
mem_lookup(void *ctx, const uint64_t bands[STORY_BANDS], int64_t since,
    struct story_sig **out, size_t *n, size_t *cap, char *err, size_t errlen)
{
	struct story_memstore *m = ctx;
	struct slot *found_slots[STORY_BANDS];
	size_t nused = 0, nfound = 0, nslots = 0, i, h, l;
	struct slot *s;
	uint32_t it;
	int b, k;

	(void)err;
	(void)errlen;
	/*
	 * With many stories every step below is a cache miss: each is
	 * prefetched for all bands or candidates first, so that the misses
	 * overlap instead of coming one after another.
	 */
	for (b = 0; b < STORY_BANDS && m->nslots > 0; b++)
		__builtin_prefetch(&m->slots[(bands[b] ? bands[b] : 1) & (m->nslots - 1)]);
	for (b = 0; b < STORY_BANDS; b++)
		if ((s = slot_find(m, bands[b], 0)) != NULL) {
			__builtin_prefetch(s->ring);
			found_slots[nslots++] = s;
		}
	for (i = 0; i < nslots; i++) {
		s = found_slots[i];
		for (k = 0; k < s->n; k++) {
			it = s->ring[k] + 1;
			__builtin_prefetch(&m->times[it - 1]);
			for (h = util_mix64(it) & (COUNT_SLOTS - 1); m->counts[h].item != 0 &&
			    m->counts[h].item != it; h = (h + 1) & (COUNT_SLOTS - 1))
				;
			if (m->counts[h].item == 0) {
				m->counts[h].item = it;
				m->used_counts[nused++] = (uint32_t)h;
			}
			m->counts[h].hits++;
		}
	}
	for (i = 0; i < nused; i++) {
		struct count *c = &m->counts[m->used_counts[i]];
		if (m->times[c->item - 1] >= since)
			m->found[nfound++] = *c;
		c->item = 0;
		c->hits = 0;
	}
	if (nfound > STORY_CANDS_MAX) {
		qsort(m->found, nfound, sizeof m->found[0], cmp_found);
		nfound = STORY_CANDS_MAX;
	}
	for (i = 0; i < nfound; i++)
		for (l = 0; l < sizeof m->items[0]; l += 64)
			__builtin_prefetch((const char *)&m->items[m->found[i].item - 1] + l);
	for (i = 0; i < nfound; i++) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*out = xreallocarray(*out, *cap, sizeof **out);
		}
		(*out)[(*n)++] = m->items[m->found[i].item - 1];
	}
	return 0;
}

static int
mem_add(void *ctx, const uint64_t bands[STORY_BANDS], const struct story_sig *sig,
    char *err, size_t errlen)
{
	struct story_memstore *m = ctx;
	struct slot *s;
	int b;

	(void)err;
	(void)errlen;
	if (m->nitems == m->capitems) {
		m->capitems = m->capitems ? m->capitems * 2 : 256;
		m->items = xreallocarray(m->items, m->capitems, sizeof *m->items);
		m->times = xreallocarray(m->times, m->capitems, sizeof *m->times);
	}
	m->items[m->nitems] = *sig;
	m->times[m->nitems] = sig->time;
	for (b = 0; b < STORY_BANDS; b++) {
		s = slot_find(m, bands[b], 1);
		if (s->n < STORY_BUCKET_MAX) {
			if (s->n == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 1;
				s->ring = xreallocarray(s->ring, s->cap, sizeof *s->ring);
				m->ring_bytes += s->cap / 2 * sizeof *s->ring +
				    (s->cap == 1 ? sizeof *s->ring : 0);
			}
			s->ring[s->n++] = (uint32_t)m->nitems;
		} else {
			/* full: the newest replaces the oldest */
			s->ring[s->next] = (uint32_t)m->nitems;
			s->next = (uint8_t)((s->next + 1) % STORY_BUCKET_MAX);
		}
	}
	m->nitems++;
	return 0;
}

static const struct story_store_ops mem_ops = { mem_lookup, mem_add };

struct story_memstore *
story_memstore_new(void)
{
	return xcalloc(1, sizeof(struct story_memstore));
}

void
story_memstore_free(struct story_memstore *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nslots; i++)
		free(m->slots[i].ring);
	free(m->slots);
	free(m->items);
	free(m->times);
	free(m);
}

struct story_store
story_memstore_store(struct story_memstore *m)
{
	struct story_store st = { &mem_ops, m };

	return st;
}

size_t
story_memstore_bytes(const struct story_memstore *m)
{
	return m->nslots * sizeof *m->slots + m->ring_bytes +
	    m->capitems * (sizeof *m->items + sizeof *m->times);
}
