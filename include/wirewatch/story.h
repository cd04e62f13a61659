/*
 * story.h - story identity: does a new item report an event already seen
 * within the story window, or does it start a new story?
 *
 * An item's signature (struct story_sig) holds what the decision needs and
 * nothing else, so that it can live in Redis at a fixed, small size:
 *
 *   - a 64-bit SimHash over the word 3-shingles of title + text: wire
 *     copies (same text, another guid, URL, dateline) are within Hamming
 *     distance STORY_SIMHASH_MAX of each other;
 *   - the set of up to STORY_TERMS content terms of the title and the lead
 *     (stop words dropped, light English suffix stripping), each a 32-bit
 *     hash whose top bit marks a name or a number (capitalised inside a
 *     sentence, or containing a digit): rewrites share their names,
 *     numbers and rare words, not their sentences;
 *   - the item's time and, once decided, its story (id and start time).
 *
 * Candidates come from MinHash LSH over the term set (STORY_BANDS bands of
 * STORY_ROWS rows): an item is filed under STORY_BANDS band keys and looks
 * up the same keys, each bucket holding at most STORY_BUCKET_MAX of the
 * newest items; of the items found, the STORY_CANDS_MAX sharing the most
 * bands with the new one (the MinHash estimate of their similarity) are
 * scored, so the cost per item is bounded whatever the number of stories
 * in the window.  Each candidate is scored (story_score) and the
 * best one at or above the threshold for its time gap gives the story; see
 * docs/stories.md for the method and the figures behind the thresholds.
 *
 * The store is an interface (struct story_store_ops): the in-memory store
 * here serves `wirewatchctl stories`, the unit tests and the benchmark; the
 * daemon keeps the same records in Redis.  story_assign() is the one
 * decision procedure both use.
 */
#ifndef WIREWATCH_STORY_H
#define WIREWATCH_STORY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct feed_entry;

#define STORY_TERMS 48          /* content terms kept per item */
#define STORY_LEAD_TOKENS 60    /* tokens of the text read after the title */
#define STORY_BANDS 24
#define STORY_ROWS 1
#define STORY_BUCKET_MAX 16     /* newest items kept per LSH bucket */
#define STORY_CANDS_MAX 48      /* candidates scored: those sharing the most bands */
#define STORY_SIMHASH_MAX 3     /* Hamming distance of a near-exact copy */
#define STORY_ENTITY_BIT 0x80000000u
#define STORY_IDLEN 17          /* 16 hex digits and a NUL */

struct story_sig {
	uint64_t simhash;
	int64_t time;           /* the item's time (seconds) */
	uint64_t story;         /* its story, once assigned */
	int64_t story_start;    /* the time of the story's first item */
	uint32_t nterms;
	uint32_t terms[STORY_TERMS]; /* sorted by (hash & ~STORY_ENTITY_BIT) */
};

struct story_params {
	long long window;       /* seconds; a story takes items this long after its first */
	double threshold;       /* score needed at a time gap of zero */
	double gap_penalty;     /* added to the threshold per day of gap to the story's start */
	unsigned min_shared;    /* terms two items must share, whatever the score */
};

/* The defaults: story-window 48h and the thresholds of docs/stories.md. */
void story_params_default(struct story_params *p);

/*
 * The signature of an entry (title, then content or else summary, HTML
 * converted to text) at time t; its story is not set yet.
 */
void story_sig_make(const struct feed_entry *e, time_t t, struct story_sig *sig);
/* The same from plain title and text (either may be NULL). */
void story_sig_from_text(const char *title, const char *text, time_t t,
    struct story_sig *sig);

/* The STORY_BANDS LSH band keys of sig. */
void story_bands(const struct story_sig *sig, uint64_t bands[STORY_BANDS]);

/* Hamming distance of two SimHashes. */
int story_hamming(uint64_t a, uint64_t b);

/*
 * How alike two items are, 0..1: 1 for near-exact copies (SimHash within
 * STORY_SIMHASH_MAX), else the weighted cosine of their term sets (names
 * and numbers count double); 0 when they share fewer than min_shared terms.
 */
double story_score(const struct story_sig *a, const struct story_sig *b,
    unsigned min_shared);

/* The threshold a candidate must reach when the new item comes gap seconds
 * after the candidate story's start. */
double story_threshold(const struct story_params *p, long long gap);

/*
 * Picks the story of sig among cands[0..n) (signatures with their story
 * set): the best-scoring candidate whose story started within the window
 * before sig->time and reaches story_threshold().  Returns its index, or
 * -1 for a new story.  best_score (may be NULL) gets the best score seen.
 */
int story_pick(const struct story_params *p, const struct story_sig *sig,
    const struct story_sig *cands, size_t n, double *best_score);

/* A story id from any string (the first item's identity): 64 bits. */
uint64_t story_id_from(const char *key);
/* The 16 hex digits of id. */
void story_id_format(uint64_t id, char out[STORY_IDLEN]);
/* Parses 16 hex digits; -1 when s is not one. */
int story_id_parse(const char *s, uint64_t *id);

/*
 * The store: where signatures are filed under their band keys.  lookup
 * appends to *out (growing it, *cap its capacity) the signatures filed
 * under the bands no older than since: at most STORY_CANDS_MAX, those
 * filed under the most of the bands (ties: the newest); add
 * files sig under the bands.  Both return 0 or -1 (with err filled).
 */
struct story_store_ops {
	int (*lookup)(void *ctx, const uint64_t bands[STORY_BANDS], int64_t since,
	    struct story_sig **out, size_t *n, size_t *cap, char *err, size_t errlen);
	int (*add)(void *ctx, const uint64_t bands[STORY_BANDS],
	    const struct story_sig *sig, char *err, size_t errlen);
};

struct story_store {
	const struct story_store_ops *ops;
	void *ctx;
};

/*
 * Decides sig's story through the store and files sig: sig->story and
 * sig->story_start are set, to a new story (story_id_from(key), starting
 * at sig->time) when nothing matches.  *is_new (may be NULL) tells which.
 * Returns 0 or -1 when the store failed (sig is then not filed).
 */
int story_assign(const struct story_params *p, struct story_store *st,
    const char *key, struct story_sig *sig, int *is_new, char *err, size_t errlen);

/* The in-memory store: a hash table of buckets, nothing expires. */
struct story_memstore;
struct story_memstore *story_memstore_new(void);
void story_memstore_free(struct story_memstore *m);
struct story_store story_memstore_store(struct story_memstore *m);
/* Bytes the store holds (for the benchmark). */
size_t story_memstore_bytes(const struct story_memstore *m);

/* Signatures as bytes, for Redis: fixed header, then the terms. */
#define STORY_SIG_HEADER 36
size_t story_sig_pack(const struct story_sig *sig, unsigned char *out); /* out >= STORY_SIG_HEADER + 4 * STORY_TERMS */
int story_sig_unpack(const unsigned char *p, size_t n, struct story_sig *sig);

#endif
