/*
 * match.c - every watchlist over one item in one pass.
 *
 * Design (after Lucene Monitor, see DESIGN.md "Matching at scale"):
 *
 * 1. Patterns.  Every literal in every watchlist -- a word, a phrase, a
 *    wildcard, an entity's aliases and exclusions -- becomes one pattern: a
 *    sequence of normalized tokens.  Identical patterns are stored once,
 *    whichever watchlists use them.
 * 2. One pass.  A hash table maps a pattern's first token to the patterns
 *    that start with it (one-word wildcards are keyed by their first 2-8
 *    bytes, and each token probes its own shorter prefixes of the key
 *    lengths in use; the wildcards keyed by the whole token are found
 *    through its exact slot).  The item's fields are tokenized once and
 *    each token is looked up once, so the scan costs O(tokens x patterns
 *    starting with that token), not O(watchlists); a phrase is rejected by
 *    comparing its second word's hash with the next token's before any
 *    string compare.
 *    Every hit is recorded as (field, first token, last token), then
 *    grouped by pattern.
 * 3. Candidates.  Each watchlist is indexed under the patterns of one
 *    required clause -- for AND and NEAR the rarest child, for OR the
 *    union -- so a watchlist becomes a candidate only when something it
 *    cannot match without occurred.  Its next rarest required clause is
 *    its filter: a candidate none of whose filter patterns occurred (a
 *    bitmap per item) is dropped before its query is read; the others are
 *    gathered once each (a bitmap over the watchlists) with their flat
 *    forms prefetched, then evaluated.  "Rarest" starts as "fewest patterns"
 *    and becomes "patterns seen in the fewest items": every pattern counts
 *    the items it occurred in, and the watchlists are re-filed after 1k,
 *    4k, 16k ... items (then every 1M).  Watchlists with no such clause
 *    (pure NOT, regex only) are in a small bucket evaluated for every item.
 * 4. Evaluation of the candidates only, over the recorded positions, on
 *    each query flattened into one array (NEAR included): NEAR merges
 *    position lists, an entity's occurrences (exclusions applied) are
 *    gathered once per item for all the watchlists that name it, a NEAR of
 *    two terms or entities stops at the first pair, and regular
 *    expressions run (PCRE2, JIT) only here.
 * 5. Memory.  From 10,000 watchlists on the pass is bound by cache misses
 *    (at 100,000 what an item touches is spread over megabytes), so: the
 *    hash slots are dense 64-byte lines (short keys inline) behind an
 *    index of 4-byte entries; a plain one-word pattern is recorded
 *    straight from its slot; all tokens of a field are hashed first and
 *    their index entries, then their slots, prefetched; the state a pass
 *    touches per pattern (generation, occurrence range, item count) is
 *    one 16-byte record apart from the pattern itself, its watchers one
 *    dense array of 16-byte entries found through an offset array; and
 *    these arrays start on 64-byte boundaries.
 * 6. Results.  A hit's explanation is written straight as compact JSON text
 *    (byte for byte what jansson printed when it was built as objects) by a
 *    walk over the flat form, with each clause's text JSON-escaped once at
 *    matcher_add; terms, snippet and explanation go out as one allocation.
 *
 * Per-item cost therefore grows with the item's length, the patterns it
 * contains and its hits, not with the number of watchlists as such;
 * bench-match measures it (its generated watchlists cover most of the
 * items' vocabulary at 10,000, the hard case).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "wirewatch/entity.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
#include "wirewatch/query.h"
#include "wirewatch/text.h"
#include "wirewatch/util.h"

#define REGEX_MATCH_LIMIT 100000
#define REGEX_DEPTH_LIMIT 1000
#define REGEX_HEAP_LIMIT_KIB 4096
#define SNIPPET_BEFORE 80
#define SNIPPET_AFTER 140

struct ivec {
	int *v;
	size_t n, cap;
};

/* A vector in a slot: 16 bytes. */
struct svec {
	int *v;
	uint32_t n, cap;
};

struct occ {
	uint8_t field;     /* index 0..QF_COUNT-1 */
	uint32_t first;    /* token indexes, inclusive */
	uint32_t last;
};

struct pattern {
	char **words;
	size_t *lens;      /* strlen of each word */
	char **surface;    /* case-sensitive patterns only */
	size_t nwords;
	int prefix;
	int cs;
	uint64_t h2;       /* hash of the second word, when has_h2() */
	struct ivec watchers;  /* watchlists indexed under this pattern */
};

/*
 * Per-run state of a pattern, apart from the pattern so that the pass and
 * the evaluation touch 16 bytes per pattern (a quarter of a line; at
 * 100,000 watchlists 48,000 patterns take 768 KB): the occurrences are
 * recorded in scan order and then grouped by pattern into one array
 * (off, n).  Its watchers are wlist[wofs[id] .. wofs[id + 1]).
 */
struct prun {
	unsigned gen;
	uint32_t n;
	uint32_t off;
	uint32_t df;       /* items the pattern occurred in, for choosing triggers */
};

struct occs {
	struct occ *v;
	size_t n, cap;
};

#define SCRATCH_MAX 32

struct rawocc {
	int id;
	struct occ o;
};

#define SLOT_INLINE 12

/* 64 bytes: a probe that finds a short key reads one cache line. */
struct slot {
	char *key;
	uint64_t hash;
	uint32_t len : 31;
	/*
	 * In the exact table: the prefix table holds patterns other than
	 * psimple1 under this very key (see intern()).
	 */
	uint32_t pmore : 1;
	int simple1;            /* 1 + id of the plain one-word pattern, 0 if none */
	char inl[SLOT_INLINE];  /* the key again when shorter than SLOT_INLINE */
	/*
	 * In the exact table: 1 + id of the plain wildcard whose prefix is
	 * this whole key, so that a token as long as a wildcard's prefix
	 * finds it with its one exact probe.
	 */
	int psimple1;
	/*
	 * In the exact table: the first (id, h2) pair of pats again, so that
	 * the commonest bucket -- one phrase -- is read from the slot.
	 */
	int p0, p0h2;
	struct svec pats;  /* the other patterns starting with this key */
};

_Static_assert(sizeof(struct slot) == 64, "a slot is one cache line");

struct table {
	struct slot *t;    /* the slots, in insertion order */
	size_t n, cap;
	uint32_t *ix;      /* open addressing: 1 + a slot's index, 0 when free */
	size_t ixcap;      /* a power of 2, at least 2n */
};

struct entity_pats {
	struct ivec aliases;
	struct ivec excludes;
	int built;
	/*
	 * Per run: the occurrences of all aliases in every field, exclusions
	 * already removed, computed the first time a candidate asks (one
	 * entity is typically shared by many watchlists).
	 */
	unsigned gen;
	struct occ *occ;
	size_t nocc, capocc;
};

struct watchlist {
	char *name;
	struct qnode *q;
	size_t code;       /* offset of its flat form in matcher.code */
	int filt;          /* -1, a pattern id, or -2 - offset of (n, ids...) in fsets */
	int filt2;         /* a second pattern id of a two-pattern filter, or -1 */
	uint32_t ctext;    /* offset of its clause texts in matcher.ctext */
};

/* A candidate before its query is read: its watchlist and flat form. */
struct pend {
	int wl;
	uint32_t code;
};

/* A watcher as the candidate loop reads it (one array for all patterns). */
struct wentry {
	int wl;
	int filt;          /* as watchlist.filt */
	int filt2;         /* as watchlist.filt2 */
	uint32_t code;     /* watchlist.code, so that a candidate reads one line */
};

/*
 * A query flattened into one array in prefix order, so that evaluating a
 * candidate reads a cache line or two instead of chasing tree pointers.
 * size is the number of instructions of the subtree (skip to i + size).
 */
enum iop { I_TERM, I_ENTITY, I_SLOW /* regex */, I_AND, I_OR, I_NOT, I_NEAR };

struct inst {
	uint8_t op;
	uint8_t fields;
	uint16_t pad;
	uint32_t size;
	int32_t arg;       /* pattern id, entity index, NEAR distance or index into matcher.slow */
};

struct span {
	int field;
	size_t start, end;  /* bytes in the field's text */
};

struct spans {
	struct span *v;
	size_t n, cap;
};

struct field_text {
	const char *text;  /* b.s, or NULL when the item has no such field */
	int ascii;         /* every byte of it below 0x80: a character is a byte */
	struct buf b;
	struct text_tokens tok;
};

struct matcher {
	const struct entity_set *ents;
	struct watchlist *wl;
	size_t nwl, capwl;
	struct pattern *pats;
	size_t npats, cappats;
	struct table exact;     /* first token -> patterns */
	struct table prefix;    /* first 2-8 bytes -> single-word wildcards */
	unsigned prefix_lens;   /* bit k: some key in prefix is k bytes long */
	struct table keys;      /* pattern identity -> pattern id */
	struct buf keybuf;      /* intern()'s scratch */
	struct entity_pats *epats;
	struct ivec always;
	struct inst *code;      /* every watchlist's flat form */
	size_t ncode, capcode;
	const struct qnode **slow; /* regex nodes (I_SLOW) */
	size_t nslow;
	struct wentry *wlist;   /* watchers as one array (CSR), rebuilt after adds */
	uint32_t *wofs;         /* npats + 1: where each pattern's watchers start */
	struct ivec fsets;      /* filters of several patterns: n, gen, answer, ids... */
	struct table fkeys;     /* a filter's ids -> 1 + its offset in fsets */
	int wbuilt;
	int wdirty;
	uint64_t *hbuf;         /* per token of a field: hashes of it and its prefixes */
	size_t caphbuf;
	struct slot **sbuf;     /* per token of a field: its slot in exact, or NULL */
	size_t capsbuf;
	uint64_t nitems, next_reindex;
	/* per run */
	unsigned gen;
	struct prun *run;       /* npats */
	uint64_t *present;      /* a bit per pattern: occurred in this item */
	struct rawocc *raw;
	size_t nraw, capraw;
	struct occ *occ;        /* grouped by pattern */
	size_t capocc;
	struct ivec touched;
	struct pend *pend;      /* candidates: watchers whose filter passed, once each */
	size_t npend, cappend;
	uint64_t *wseen;        /* a bit per watchlist: in pend (cleared after the run) */
	struct ivec cands;
	struct field_text f[QF_COUNT];
	struct occs scratch[SCRATCH_MAX]; /* for NEAR, see scratch_take() */
	size_t nscratch;
	utf8proc_int32_t *cps;  /* code points, for NFC */
	size_t capcps;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	/* explanations (fill_hit), reused from hit to hit */
	struct buf ctext;       /* each watchlist's clauses as JSON strings, NUL-terminated */
	struct spans sp;
	struct buf xb;          /* the explanation */
	struct buf sb;          /* the snippet */
	struct buf tb;          /* the distinct terms, NUL-terminated */
	size_t *toff;           /* their offsets in tb */
	size_t captoff;
};

/* --- small containers ------------------------------------------------------ */

static void
ivec_push(struct ivec *v, int x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->v = xreallocarray(v->v, v->cap, sizeof *v->v);
	}
	v->v[v->n++] = x;
}

/*
 * Arrays read a record at a time are put on 64-byte boundaries, so that no
 * record of 16, 32 or 64 bytes straddles two cache lines (malloc gives 16,
 * and large blocks start 16 bytes into a page).  The first oldn records
 * are kept.
 */
static void *
line_realloc(void *p, size_t oldn, size_t n, size_t size)
{
	void *q;

	if (size != 0 && n > SIZE_MAX / size)
		fatal("out of memory allocating %zu x %zu bytes", n, size);
	if (posix_memalign(&q, 64, n * size > 0 ? n * size : 64) != 0)
		fatal("out of memory allocating %zu bytes", n * size);
	if (p != NULL)
		memcpy(q, p, oldn * size);
	free(p);
	return q;
}

static void
svec_push(struct svec *v, int x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->v = xreallocarray(v->v, v->cap, sizeof *v->v);
	}
	v->v[v->n++] = x;
}

/* FNV-1a as util_hash64(p, n, 0), so that it can be computed incrementally. */
#define FNV_INIT 1469598103934665603ULL
#define FNV_STEP(h, c) (((h) ^ (unsigned char)(c)) * 1099511628211ULL)

/*
 * The slots are kept in insertion order, densely, and found through an
 * index of 4-byte entries at most half full: a probe reads a line of the
 * small index and then the one slot, instead of a line of a table of
 * 64-byte slots three quarters empty (at 100,000 watchlists the exact
 * table's index is 256 KB and its slots 1.3 MB, where the slots alone
 * took 4 MB).  Growing moves the slots: a slot pointer is good until the
 * next create on the same table.
 */
static struct slot *
table_find_hashed(struct table *t, const char *key, size_t len, uint64_t h, int create)
{
	struct slot *s;
	size_t i, j, mask;
	uint32_t x;

	if (create && (t->n + 1) * 2 > t->ixcap) {
		t->ixcap = t->ixcap ? t->ixcap * 2 : 64;
		free(t->ix);
		t->ix = xcalloc(t->ixcap, sizeof *t->ix);
		for (i = 0; i < t->n; i++) {
			for (j = t->t[i].hash & (t->ixcap - 1); t->ix[j] != 0; j = (j + 1) & (t->ixcap - 1))
				;
			t->ix[j] = (uint32_t)i + 1;
		}
	}
	if (t->ixcap == 0)
		return NULL;
	mask = t->ixcap - 1;
	for (i = h & mask; (x = t->ix[i]) != 0; i = (i + 1) & mask) {
		s = &t->t[x - 1];
		if (s->hash == h && s->len == len &&
		    memcmp(len < SLOT_INLINE ? s->inl : s->key, key, len) == 0)
			return s;
	}
	if (!create)
		return NULL;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->t = line_realloc(t->t, t->n, t->cap, sizeof *t->t);
	}
	s = &t->t[t->n];
	memset(s, 0, sizeof *s);
	s->key = xmalloc(len + 1); /* keys may hold NUL bytes (filter sets) */
	memcpy(s->key, key, len);
	s->key[len] = '\0';
	s->hash = h;
	s->len = (uint32_t)len;
	if (len < SLOT_INLINE)
		memcpy(s->inl, key, len);
	t->ix[i] = (uint32_t)++t->n;
	return s;
}

/*
 * The scan's lookup, inlined: no create, the key compared byte by byte
 * (a token is a few bytes; a call to memcmp costs more).
 */
static inline struct slot *
table_lookup(const struct table *t, const char *key, size_t len, uint64_t h)
{
	const struct slot *s;
	const char *k;
	size_t i, j, mask = t->ixcap - 1;
	uint32_t x;

	if (t->ixcap == 0)
		return NULL;
	for (i = h & mask; (x = t->ix[i]) != 0; i = (i + 1) & mask) {
		s = &t->t[x - 1];
		if (s->hash != h || s->len != len)
			continue;
		k = len < SLOT_INLINE ? s->inl : s->key;
		for (j = 0; j < len && k[j] == key[j]; j++)
			;
		if (j == len)
			return (struct slot *)s;
	}
	return NULL;
}

static struct slot *
table_find(struct table *t, const char *key, size_t len, int create)
{
	return table_find_hashed(t, key, len, util_hash64(key, len, 0), create);
}

static void
table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->t[i].key);
		free(t->t[i].pats.v);
	}
	free(t->t);
	free(t->ix);
}

/* --- patterns ----------------------------------------------------------------- */

/*
 * Single-word wildcards are keyed by their first 2 to 8 bytes (as many as
 * the prefix has), and a token looks up its own first k bytes for each
 * key length k in use (a bit mask): a handful of probes per token however
 * many wildcards there are, and buckets as selective as the prefixes.
 */
#define PREFIX_KEY_MIN 2
#define PREFIX_KEY_MAX 8

static size_t
prefix_key_len(size_t len)
{
	return len < PREFIX_KEY_MAX ? len : PREFIX_KEY_MAX;
}

/*
 * The wildcard key lengths in use shorter than a token of len bytes (bit
 * k for length k): the prefixes it probes in the prefix table.
 */
static inline unsigned
shorter_keys(const struct matcher *m, size_t len)
{
	if (m->prefix.n == 0 || len <= PREFIX_KEY_MIN)
		return 0;
	return m->prefix_lens & ((len > PREFIX_KEY_MAX ? 2u << PREFIX_KEY_MAX : 1u << len) - 1) &
	    ~((1u << PREFIX_KEY_MIN) - 1);
}

/* A phrase whose second word is matched exactly (not a wildcard) has h2. */
static int
has_h2(const struct pattern *p)
{
	return p->nwords >= 2 && !(p->prefix && p->nwords == 2);
}

static int
intern(struct matcher *m, char **words, char **surface, size_t n, int prefix, int cs)
{
	struct buf key = m->keybuf;
	struct pattern *p;
	struct slot *s;
	size_t i;
	int id;

	buf_reset(&key);
	buf_addf(&key, "%d%d", prefix, cs);
	for (i = 0; i < n; i++)
		buf_addf(&key, "\x1f%s", cs ? surface[i] : words[i]);
	s = table_find(&m->keys, key.s, key.len, 1);
	m->keybuf = key;
	if (s->pats.n > 0)
		return s->pats.v[0];
	id = (int)m->npats;
	svec_push(&s->pats, id);
	if (m->npats == m->cappats) {
		m->cappats = m->cappats ? m->cappats * 2 : 64;
		m->pats = xreallocarray(m->pats, m->cappats, sizeof *m->pats);
		m->run = line_realloc(m->run, m->npats, m->cappats, sizeof *m->run);
		m->present = xreallocarray(m->present, m->cappats / 64, sizeof *m->present);
		memset(m->present + m->npats / 64, 0,
		    (m->cappats - m->npats) / 64 * sizeof *m->present);
	}
	memset(&m->run[m->npats], 0, sizeof *m->run);
	p = &m->pats[m->npats++];
	memset(p, 0, sizeof *p);
	p->nwords = n;
	p->prefix = prefix;
	p->cs = cs;
	p->words = xcalloc(n, sizeof *p->words);
	p->lens = xcalloc(n, sizeof *p->lens);
	p->surface = cs ? xcalloc(n, sizeof *p->surface) : NULL;
	for (i = 0; i < n; i++) {
		p->words[i] = xstrdup(words[i]);
		p->lens[i] = strlen(words[i]);
		if (cs)
			p->surface[i] = xstrdup(surface[i]);
	}
	if (has_h2(p))
		p->h2 = util_hash64(words[1], strlen(words[1]), 0);
	if (n == 1 && prefix) {
		size_t klen = prefix_key_len(strlen(words[0]));
		struct slot *e;
		/*
		 * A token exactly klen long looks its wildcards up with its
		 * exact probe: the exact table's slot for the key says what
		 * the prefix table holds under it.
		 */
		e = table_find(&m->exact, words[0], klen, 1);
		s = table_find(&m->prefix, words[0], klen, 1);
		m->prefix_lens |= 1u << klen;
		if (klen == strlen(words[0]) && !cs) {
			/* every token starting with the key matches: no compare */
			s->simple1 = id + 1;
			e->psimple1 = id + 1;
			return id;
		}
		e->pmore = 1;
	} else {
		s = table_find(&m->exact, words[0], strlen(words[0]), 1);
		if (n == 1 && !cs) {
			s->simple1 = id + 1;
			return id;
		}
		/*
		 * In the exact table a bucket holds pairs: the id (-1 - id when
		 * there is no second-word hash to check) and the low 32 bits of
		 * h2, so that the scan rejects a phrase without reading it.
		 */
		if (s->pats.n == 0) {
			s->p0 = has_h2(p) ? id : -1 - id;
			s->p0h2 = (int)(uint32_t)p->h2;
		}
		svec_push(&s->pats, has_h2(p) ? id : -1 - id);
		svec_push(&s->pats, (int)(uint32_t)p->h2);
		return id;
	}
	svec_push(&s->pats, id);
	return id;
}

/* A literal (alias, exclusion) tokenized like text; -1 if it has no word. */
static int
intern_text(struct matcher *m, const char *text, int cs)
{
	struct text_tokens t = {0};
	char **w, **s;
	size_t i;
	int id = -1;

	text_tokenize(text, strlen(text), &t);
	if (t.n > 0) {
		w = xcalloc(t.n, sizeof *w);
		s = xcalloc(t.n, sizeof *s);
		for (i = 0; i < t.n; i++) {
			w[i] = (char *)text_token_norm(&t, i);
			s[i] = xstrndup(text + t.v[i].start, t.v[i].end - t.v[i].start);
		}
		id = intern(m, w, s, t.n, 0, cs);
		for (i = 0; i < t.n; i++)
			free(s[i]);
		free(w);
		free(s);
	}
	text_tokens_free(&t);
	return id;
}

static struct entity_pats *
entity_patterns(struct matcher *m, const struct entity *e)
{
	struct entity_pats *ep = &m->epats[e - m->ents->v];
	size_t i;
	int id;

	if (ep->built)
		return ep;
	ep->built = 1;
	for (i = 0; i < e->naliases; i++)
		if ((id = intern_text(m, e->aliases[i].text, e->aliases[i].case_sensitive)) >= 0)
			ivec_push(&ep->aliases, id);
	for (i = 0; i < e->nexcludes; i++)
		if ((id = intern_text(m, e->excludes[i], 0)) >= 0)
			ivec_push(&ep->excludes, id);
	return ep;
}

static void
compile_leaves(struct matcher *m, struct qnode *n)
{
	size_t i;

	if (n->kind == Q_TERM)
		n->pat = intern(m, n->words, n->surface, n->nwords, n->prefix, n->case_sensitive);
	else if (n->kind == Q_ENTITY)
		entity_patterns(m, n->entity);
	for (i = 0; i < n->nkids; i++)
		compile_leaves(m, n->kids[i]);
}

/* Expected cost of indexing under pats: the items they occurred in so far. */
static uint64_t
trigger_cost(const struct matcher *m, const struct ivec *pats)
{
	uint64_t c = 0;
	size_t i;

	for (i = 0; i < pats->n; i++)
		c += (uint64_t)m->run[pats->v[i]].df + 1;
	return c;
}

/*
 * The patterns of which at least one must occur for n to match, or 0 when
 * no such set exists (n can match without any literal).  Of an AND's (or
 * NEAR's) children the rarest is chosen: before any item has been seen
 * that is the one with the fewest patterns, later the one whose patterns
 * occurred in the fewest items (matcher_reindex).
 */
static int
triggers(struct matcher *m, const struct qnode *n, struct ivec *out)
{
	struct ivec best = {0}, tmp;
	size_t i;
	int found = 0;

	switch (n->kind) {
	case Q_TERM:
		ivec_push(out, n->pat);
		return 1;
	case Q_ENTITY: {
		struct entity_pats *ep = entity_patterns(m, n->entity);
		for (i = 0; i < ep->aliases.n; i++)
			ivec_push(out, ep->aliases.v[i]);
		return 1;
	}
	case Q_OR:
		for (i = 0; i < n->nkids; i++)
			if (!triggers(m, n->kids[i], out))
				return 0;
		return 1;
	case Q_AND:
	case Q_NEAR:
		for (i = 0; i < n->nkids; i++) {
			memset(&tmp, 0, sizeof tmp);
			if (triggers(m, n->kids[i], &tmp) &&
			    (!found || trigger_cost(m, &tmp) < trigger_cost(m, &best))) {
				free(best.v);
				best = tmp;
				found = 1;
			} else {
				free(tmp.v);
			}
		}
		for (i = 0; found && i < best.n; i++)
			ivec_push(out, best.v[i]);
		free(best.v);
		return found;
	default:
		return 0;
	}
}

/* --- public: building ---------------------------------------------------------- */

struct matcher *
matcher_new(const struct entity_set *ents)
{
	struct matcher *m = xcalloc(1, sizeof *m);

	m->ents = ents;
	m->epats = xcalloc(ents ? ents->n + 1 : 1, sizeof *m->epats);
	m->md = pcre2_match_data_create(32, NULL);
	m->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(m->mctx, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(m->mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(m->mctx, REGEX_HEAP_LIMIT_KIB);
	return m;
}

static size_t
flatten(struct matcher *m, const struct qnode *n)
{
	size_t at = m->ncode, i;
	struct inst *c;

	if (m->ncode == m->capcode) {
		m->capcode = m->capcode ? m->capcode * 2 : 64;
		m->code = xreallocarray(m->code, m->capcode, sizeof *m->code);
	}
	c = &m->code[m->ncode++];
	memset(c, 0, sizeof *c);
	c->fields = (uint8_t)n->fields;
	switch (n->kind) {
	case Q_TERM:
		c->op = I_TERM;
		c->arg = n->pat;
		break;
	case Q_ENTITY:
		c->op = I_ENTITY;
		c->arg = (int32_t)(n->entity - m->ents->v);
		break;
	case Q_AND:
	case Q_OR:
	case Q_NOT:
		c->op = n->kind == Q_AND ? I_AND : n->kind == Q_OR ? I_OR : I_NOT;
		for (i = 0; i < n->nkids; i++)
			flatten(m, n->kids[i]);
		break;
	case Q_NEAR:
		c->op = I_NEAR;
		c->arg = n->distance;
		for (i = 0; i < n->nkids; i++)
			flatten(m, n->kids[i]);
		break;
	default:
		if ((m->nslow & (m->nslow - 1)) == 0) /* 0, 1, 2, 4 ...: double */
			m->slow = xreallocarray(m->slow, m->nslow ? m->nslow * 2 : 1, sizeof *m->slow);
		m->slow[m->nslow] = n;
		m->code[at].op = I_SLOW;
		m->code[at].arg = (int32_t)m->nslow++;
		break;
	}
	m->code[at].size = (uint32_t)(m->ncode - at);
	return at;
}

/*
 * The clauses an explanation lists (collect()) -- the leaves under AND, OR
 * and NOT, in the order collect() visits them: each one's source as a JSON
 * string, escaped once here rather than for every hit, one after the
 * other in ctext (so that a hit reads one or two cache lines of them).  A
 * source that is not valid UTF-8 is stored empty: its entry has no
 * "clause" key (what jansson, which refuses such a string, used to give).
 */
static void
clause_texts(struct matcher *m, const struct qnode *n)
{
	size_t i;

	if (n->kind == Q_AND || n->kind == Q_OR || n->kind == Q_NOT) {
		for (i = 0; i < n->nkids; i++)
			clause_texts(m, n->kids[i]);
		return;
	}
	if (util_utf8_valid(n->src, strlen(n->src)))
		text_json_string(&m->ctext, n->src, strlen(n->src));
	buf_addc(&m->ctext, '\0');
}

/*
 * The required clauses of n: each a set of patterns of which at least one
 * must occur for n to match, appended to out as (count, ids...).  An AND
 * or NEAR contributes its children's, an OR one set (the union) if every
 * child has one, a NOT or regex none.
 */
static void
required_sets(struct matcher *m, const struct qnode *n, struct ivec *out)
{
	struct ivec u = {0};
	size_t i;

	switch (n->kind) {
	case Q_TERM:
	case Q_ENTITY:
	case Q_OR:
		if (triggers(m, n, &u) && u.n > 0) {
			ivec_push(out, (int)u.n);
			for (i = 0; i < u.n; i++)
				ivec_push(out, u.v[i]);
		}
		free(u.v);
		break;
	case Q_AND:
	case Q_NEAR:
		for (i = 0; i < n->nkids; i++)
			required_sets(m, n->kids[i], out);
		break;
	default:
		break;
	}
}

/*
 * A filter of several patterns (an entity's aliases, an OR), stored once
 * however many watchlists use it as (n, gen, answer, ids...) in fsets, so
 * that the answer is computed once per item.  Returns its offset.
 */
static int
filter_set(struct matcher *m, const int *ids, size_t n)
{
	struct slot *s;
	size_t i;
	int off;

	s = table_find(&m->fkeys, (const char *)ids, n * sizeof *ids, 1);
	if (s->simple1)
		return s->simple1 - 1;
	off = (int)m->fsets.n;
	ivec_push(&m->fsets, (int)n);
	ivec_push(&m->fsets, 0);
	ivec_push(&m->fsets, 0);
	for (i = 0; i < n; i++)
		ivec_push(&m->fsets, ids[i]);
	s->simple1 = off + 1;
	return off;
}

/*
 * Files watchlist id under the patterns of its rarest required clause (its
 * triggers), or in the always-evaluated bucket, and keeps the next rarest
 * clause as its filter: a candidate none of whose filter patterns occurred
 * in the item is dropped before its query is read.
 */
static void
index_watchlist(struct matcher *m, int id)
{
	struct ivec sets = {0}, tmp;
	struct ivec *w;
	size_t i, k, best = SIZE_MAX, second = SIZE_MAX;
	uint64_t c, cbest = UINT64_MAX, csecond = UINT64_MAX;

	required_sets(m, m->wl[id].q, &sets);
	for (i = 0; i < sets.n; i += 1 + (size_t)sets.v[i]) {
		tmp.v = sets.v + i + 1;
		tmp.n = (size_t)sets.v[i];
		c = trigger_cost(m, &tmp);
		if (c < cbest) {
			second = best;
			csecond = cbest;
			best = i;
			cbest = c;
		} else if (c < csecond) {
			second = i;
			csecond = c;
		}
	}
	m->wl[id].filt = m->wl[id].filt2 = -1;
	if (best == SIZE_MAX) {
		ivec_push(&m->always, id);
	} else {
		for (k = 0; k < (size_t)sets.v[best]; k++) {
			w = &m->pats[sets.v[best + 1 + k]].watchers;
			if (w->n == 0 || w->v[w->n - 1] != id)
				ivec_push(w, id);
		}
		if (second != SIZE_MAX && sets.v[second] <= 2) {
			m->wl[id].filt = sets.v[second + 1];
			if (sets.v[second] == 2)
				m->wl[id].filt2 = sets.v[second + 2];
		} else if (second != SIZE_MAX)
			m->wl[id].filt = -2 - filter_set(m, sets.v + second + 1,
			    (size_t)sets.v[second]);
	}
	m->wdirty = 1;
	free(sets.v);
}

int
matcher_add(struct matcher *m, const char *name, const char *query, char *err,
    size_t errlen)
{
	struct qnode *q;
	int id;

	if ((q = query_parse(query, m->ents, err, errlen)) == NULL)
		return -1;
	compile_leaves(m, q);
	id = (int)m->nwl;
	if (m->nwl == m->capwl) {
		m->capwl = m->capwl ? m->capwl * 2 : 16;
		m->wl = xreallocarray(m->wl, m->capwl, sizeof *m->wl);
		m->wseen = xreallocarray(m->wseen, m->capwl / 64 + 1, sizeof *m->wseen);
		memset(m->wseen, 0, (m->capwl / 64 + 1) * sizeof *m->wseen);
	}
	m->wl[m->nwl].name = xstrdup(name);
	m->wl[m->nwl].q = q;
	m->wl[m->nwl].code = m->ncode;
	flatten(m, q);
	m->wl[m->nwl].ctext = (uint32_t)m->ctext.len;
	clause_texts(m, q);
	m->nwl++;
	index_watchlist(m, id);
	return id;
}

void
matcher_reindex(struct matcher *m)
{
	size_t i;

	for (i = 0; i < m->npats; i++)
		m->pats[i].watchers.n = 0;
	m->always.n = 0;
	m->fsets.n = 0;
	table_free(&m->fkeys);
	memset(&m->fkeys, 0, sizeof m->fkeys);
	for (i = 0; i < m->nwl; i++)
		index_watchlist(m, (int)i);
	m->wdirty = 1;
}

void
matcher_free(struct matcher *m)
{
	size_t i, j;

	if (m == NULL)
		return;
	for (i = 0; i < m->nwl; i++) {
		free(m->wl[i].name);
		query_free(m->wl[i].q);
	}
	for (i = 0; i < m->npats; i++) {
		for (j = 0; j < m->pats[i].nwords; j++) {
			free(m->pats[i].words[j]);
			if (m->pats[i].surface != NULL)
				free(m->pats[i].surface[j]);
		}
		free(m->pats[i].words);
		free(m->pats[i].lens);
		free(m->pats[i].surface);
		free(m->pats[i].watchers.v);
	}
	free(m->run);
	free(m->present);
	free(m->code);
	free(m->slow);
	free(m->hbuf);
	free(m->sbuf);
	free(m->raw);
	free(m->occ);
	free(m->wlist);
	free(m->wofs);
	free(m->fsets.v);
	for (i = 0; m->ents && i < m->ents->n; i++) {
		free(m->epats[i].aliases.v);
		free(m->epats[i].excludes.v);
		free(m->epats[i].occ);
	}
	for (i = 0; i < QF_COUNT; i++) {
		buf_free(&m->f[i].b);
		text_tokens_free(&m->f[i].tok);
	}
	free(m->cps);
	buf_free(&m->keybuf);
	for (i = 0; i < SCRATCH_MAX; i++)
		free(m->scratch[i].v);
	free(m->epats);
	free(m->pats);
	free(m->wl);
	free(m->pend);
	free(m->wseen);
	free(m->always.v);
	free(m->touched.v);
	free(m->cands.v);
	table_free(&m->exact);
	table_free(&m->prefix);
	table_free(&m->keys);
	table_free(&m->fkeys);
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	buf_free(&m->ctext);
	free(m->sp.v);
	buf_free(&m->xb);
	buf_free(&m->sb);
	buf_free(&m->tb);
	free(m->toff);
	free(m);
}

/* --- the pass over an item ------------------------------------------------------ */

static inline void
record(struct matcher *m, int id, int field, size_t first, size_t last)
{
	struct prun *r = &m->run[id];
	struct rawocc *o;

	if (r->gen != m->gen) {
		r->gen = m->gen;
		r->n = 0;
		ivec_push(&m->touched, id);
		m->present[id >> 6] |= 1ull << (id & 63);
	}
	r->n++;
	if (m->nraw == m->capraw) {
		m->capraw = m->capraw ? m->capraw * 2 : 256;
		m->raw = xreallocarray(m->raw, m->capraw, sizeof *m->raw);
	}
	o = &m->raw[m->nraw++];
	o->id = id;
	o->o.field = (uint8_t)field;
	o->o.first = (uint32_t)first;
	o->o.last = (uint32_t)last;
}

/* Groups the recorded occurrences by pattern, in scan order within each. */
static void
group_occurrences(struct matcher *m)
{
	struct prun *r;
	size_t i, off = 0;

	for (i = 0; i < m->touched.n; i++) {
		r = &m->run[m->touched.v[i]];
		if (r->df < UINT32_MAX)
			r->df++;
		off += r->n;
		r->off = (uint32_t)off; /* its end: filled backwards below */
		/* the candidate loop reads its watchers next */
		__builtin_prefetch(&m->wlist[m->wofs[m->touched.v[i]]]);
	}
	if (off > m->capocc) {
		m->capocc = off * 2;
		m->occ = xreallocarray(m->occ, m->capocc, sizeof *m->occ);
	}
	/* from the last occurrence back: each pattern's off ends at its start */
	for (i = m->nraw; i-- > 0;) {
		r = &m->run[m->raw[i].id];
		m->occ[--r->off] = m->raw[i].o;
	}
}

/* The occurrences of pattern id in this run (n = 0 if none). */
static const struct occ *
occs_of(const struct matcher *m, int id, size_t *n)
{
	const struct prun *r;

	if (id < 0 || m->run[id].gen != m->gen) {
		*n = 0;
		return NULL;
	}
	r = &m->run[id];
	*n = r->n;
	return m->occ + r->off;
}

static int
excluded(struct matcher *m, const struct entity_pats *ep, const struct occ *o)
{
	const struct occ *x;
	size_t i, j, n;

	for (i = 0; i < ep->excludes.n; i++) {
		x = occs_of(m, ep->excludes.v[i], &n);
		for (j = 0; j < n; j++)
			if (x[j].field == o->field && x[j].first <= o->first &&
			    x[j].last >= o->last)
				return 1;
	}
	return 0;
}

/* Entity e's occurrences in this run (all fields, exclusions removed). */
static const struct entity_pats *
entity_occs(struct matcher *m, const struct entity *e)
{
	struct entity_pats *ep = entity_patterns(m, e);
	const struct occ *o;
	size_t i, j, n;

	if (ep->gen == m->gen)
		return ep;
	ep->gen = m->gen;
	ep->nocc = 0;
	for (i = 0; i < ep->aliases.n; i++) {
		o = occs_of(m, ep->aliases.v[i], &n);
		for (j = 0; j < n; j++) {
			if (excluded(m, ep, &o[j]))
				continue;
			if (ep->nocc == ep->capocc) {
				ep->capocc = ep->capocc ? ep->capocc * 2 : 8;
				ep->occ = xreallocarray(ep->occ, ep->capocc, sizeof *ep->occ);
			}
			ep->occ[ep->nocc++] = o[j];
		}
	}
	return ep;
}

/*
 * Does p occur at token i?  from is the first word still to compare (1 when
 * the hash table already matched the first word exactly).
 */
static int
pattern_at(const struct pattern *p, const struct field_text *f, size_t i, size_t from)
{
	const struct text_tokens *t = &f->tok;
	const struct text_token *tk;
	size_t k, len;

	if (i + p->nwords > t->n)
		return 0;
	for (k = 0; k < p->nwords; k++) {
		tk = &t->v[i + k];
		len = p->lens[k];
		if (k < from) {
			/* matched by the lookup */
		} else if (k == p->nwords - 1 && p->prefix) {
			if (tk->normlen < len || memcmp(text_token_norm(t, i + k), p->words[k], len))
				return 0;
		} else if (tk->normlen != len ||
		    memcmp(text_token_norm(t, i + k), p->words[k], len) != 0) {
			return 0;
		}
		if (p->cs && (strlen(p->surface[k]) != tk->end - tk->start ||
		    memcmp(f->text + tk->start, p->surface[k], tk->end - tk->start) != 0))
			return 0;
	}
	return 1;
}

static void
scan_field(struct matcher *m, int field)
{
	struct field_text *f = &m->f[field];
	const char *norm;
	struct slot *s;
	size_t i, j, k;
	uint64_t h, *ph;
	unsigned bits;
	size_t len;

	if (m->exact.n == 0 && m->prefix.n == 0)
		return;
	if (f->tok.n * (PREFIX_KEY_MAX + 1) > m->caphbuf) {
		m->caphbuf = f->tok.n * (PREFIX_KEY_MAX + 1) * 2;
		m->hbuf = xreallocarray(m->hbuf, m->caphbuf, sizeof *m->hbuf);
	}
	/*
	 * First the hashes of every token and its prefixes (one pass over the
	 * bytes each), prefetching the slots they land on, so that the hash
	 * table's cache misses overlap instead of coming one after another.
	 */
	for (i = 0; i < f->tok.n; i++) {
		norm = text_token_norm(&f->tok, i);
		len = f->tok.v[i].normlen;
		ph = m->hbuf + i * (PREFIX_KEY_MAX + 1);
		h = FNV_INIT;
		for (k = 0; k < len; k++) {
			h = FNV_STEP(h, norm[k]);
			if (k + 1 <= PREFIX_KEY_MAX)
				ph[k + 1] = h;
		}
		ph[0] = h;
		if (m->exact.n > 0)
			__builtin_prefetch(&m->exact.ix[h & (m->exact.ixcap - 1)]);
		for (bits = shorter_keys(m, len); bits != 0; bits &= bits - 1)
			__builtin_prefetch(&m->prefix.ix[ph[__builtin_ctz(bits)] & (m->prefix.ixcap - 1)]);
	}
	if (f->tok.n > m->capsbuf) {
		m->capsbuf = f->tok.n * 2;
		m->sbuf = xreallocarray(m->sbuf, m->capsbuf, sizeof *m->sbuf);
	}
	/*
	 * Then the slots themselves, prefetching what a hit reads next (the
	 * pattern's run record, the bucket's pattern list).
	 */
	for (i = 0; i < f->tok.n; i++) {
		s = table_lookup(&m->exact, text_token_norm(&f->tok, i), f->tok.v[i].normlen,
		    m->hbuf[i * (PREFIX_KEY_MAX + 1)]);
		m->sbuf[i] = s;
		if (s != NULL && s->simple1)
			__builtin_prefetch(&m->run[s->simple1 - 1], 1);
		if (s != NULL && s->pats.n > 2)
			__builtin_prefetch(s->pats.v + 2);
		if (s != NULL && s->psimple1)
			__builtin_prefetch(&m->run[s->psimple1 - 1], 1);
		len = f->tok.v[i].normlen;
		ph = m->hbuf + i * (PREFIX_KEY_MAX + 1);
		for (bits = shorter_keys(m, len); bits != 0; bits &= bits - 1) {
			k = (size_t)__builtin_ctz(bits);
			if ((s = table_lookup(&m->prefix, text_token_norm(&f->tok, i), k,
			    ph[k])) == NULL)
				continue;
			if (s->simple1)
				__builtin_prefetch(&m->run[s->simple1 - 1], 1);
			if (s->pats.n > 0)
				__builtin_prefetch(s->pats.v);
		}
	}
	for (i = 0; i < f->tok.n; i++) {
		norm = text_token_norm(&f->tok, i);
		len = f->tok.v[i].normlen;
		ph = m->hbuf + i * (PREFIX_KEY_MAX + 1);
		if ((s = m->sbuf[i]) != NULL) {
			if (s->simple1)
				record(m, s->simple1 - 1, field, i, i);
			for (j = 0; j < s->pats.n; j += 2) {
				int id = j == 0 ? s->p0 : s->pats.v[j];
				int h2 = j == 0 ? s->p0h2 : s->pats.v[j + 1];
				const struct pattern *p;
				/* the next token's hash rejects most phrases cheaply */
				if (id >= 0 && (i + 1 >= f->tok.n ||
				    (uint32_t)m->hbuf[(i + 1) * (PREFIX_KEY_MAX + 1)] != (uint32_t)h2))
					continue;
				if (id < 0)
					id = -1 - id;
				p = &m->pats[id];
				if (pattern_at(p, f, i, 1))
					record(m, id, field, i, i + p->nwords - 1);
			}
		}
		/*
		 * Wildcards keyed by a shorter prefix of the token from the
		 * prefix table, those keyed by the whole token through its
		 * exact slot (psimple1; the others only when pmore says so).
		 */
		for (bits = shorter_keys(m, len); bits != 0; bits &= bits - 1) {
			k = (size_t)__builtin_ctz(bits);
			if ((s = table_lookup(&m->prefix, norm, k, ph[k])) == NULL)
				continue;
			if (s->simple1)
				record(m, s->simple1 - 1, field, i, i);
			for (j = 0; j < s->pats.n; j++)
				if (pattern_at(&m->pats[s->pats.v[j]], f, i, 0))
					record(m, s->pats.v[j], field, i, i);
		}
		if ((s = m->sbuf[i]) == NULL || len > PREFIX_KEY_MAX)
			continue;
		if (s->psimple1)
			record(m, s->psimple1 - 1, field, i, i);
		if (s->pmore && (s = table_lookup(&m->prefix, norm, len, ph[len])) != NULL)
			for (j = 0; j < s->pats.n; j++)
				if (pattern_at(&m->pats[s->pats.v[j]], f, i, 0))
					record(m, s->pats.v[j], field, i, i);
	}
}

/*
 * The field's text in NFC, in place: ASCII text is left as it is, other
 * text is decomposed into m's reused code point buffer and re-encoded.
 */
static void
nfc(struct matcher *m, struct field_text *f)
{
	const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
	struct buf *b = &f->b;
	utf8proc_ssize_t n;
	const char *p;

	for (p = b->s; *p && (unsigned char)*p < 0x80; p++)
		;
	f->ascii = p == b->s + b->len;
	if (*p == '\0')
		return;
	for (;;) {
		n = utf8proc_decompose((const utf8proc_uint8_t *)b->s, (utf8proc_ssize_t)b->len,
		    m->cps, (utf8proc_ssize_t)m->capcps, opt);
		if (n < 0)
			return; /* invalid UTF-8: matched as it is */
		if ((size_t)n <= m->capcps)
			break;
		m->capcps = (size_t)n * 2;
		m->cps = xreallocarray(m->cps, m->capcps, sizeof *m->cps);
	}
	if ((n = utf8proc_reencode(m->cps, n, opt)) < 0)
		return;
	buf_reset(b);
	buf_add(b, m->cps, (size_t)n);
}

static void
load_fields(struct matcher *m, const struct match_doc *d)
{
	const char *raw[QF_COUNT] = { d->title, d->summary, d->content, d->author,
		d->category, d->feed };
	struct field_text *f;
	int i;

	for (i = 0; i < QF_COUNT; i++) {
		f = &m->f[i];
		text_tokens_reset(&f->tok);
		f->text = NULL;
		if (raw[i] == NULL)
			continue;
		buf_reset(&f->b);
		if (i < 3)
			text_html_to_plain_buf(raw[i], &f->b);
		else
			buf_adds(&f->b, raw[i]);
		nfc(m, f);
		f->text = f->b.s;
		text_tokenize(f->text, f->b.len, &f->tok);
	}
}

/* --- evaluation ------------------------------------------------------------------- */

static void
occs_push(struct occs *o, struct occ x)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 8;
		o->v = xreallocarray(o->v, o->cap, sizeof *o->v);
	}
	o->v[o->n++] = x;
}

static int
in_fields(unsigned mask, int field)
{
	return (mask & (1u << field)) != 0;
}

static void
pattern_occs(struct matcher *m, int id, unsigned mask, struct occs *out)
{
	const struct occ *o;
	size_t i, n;

	o = occs_of(m, id, &n);
	for (i = 0; i < n; i++)
		if (in_fields(mask, o[i].field))
			occs_push(out, o[i]);
}

/*
 * Two occurrences within distance words of each other, in either order
 * ("treaty NEAR/3 treaty" needs two different occurrences).
 */
static int
near_pair(const struct occ *l, const struct occ *r, long distance)
{
	long gap;

	if (l->field != r->field || (l->first == r->first && l->last == r->last))
		return 0;
	gap = l->last < r->first ? (long)r->first - (long)l->last - 1 :
	    r->last < l->first ? (long)l->first - (long)r->last - 1 : 0;
	return gap <= distance;
}

/* Entity e's occurrences in the fields of mask. */
static void
entity_occs_in(struct matcher *m, const struct entity *e, unsigned mask, struct occs *out)
{
	const struct entity_pats *ep = entity_occs(m, e);
	size_t i;

	for (i = 0; i < ep->nocc; i++)
		if (in_fields(mask, ep->occ[i].field))
			occs_push(out, ep->occ[i]);
}

/*
 * The pairs of a NEAR: one merged span per pair, or with split both
 * operands' spans.
 */
static void
near_merge(const struct occs *a, const struct occs *b, long distance, int split,
    struct occs *out)
{
	const struct occ *l, *r;
	struct occ x;
	size_t i, j;

	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++) {
			l = &a->v[i];
			r = &b->v[j];
			if (!near_pair(l, r, distance))
				continue;
			if (split) {
				occs_push(out, *l);
				occs_push(out, *r);
				continue;
			}
			x.field = l->field;
			x.first = l->first < r->first ? l->first : r->first;
			x.last = l->last > r->last ? l->last : r->last;
			occs_push(out, x);
		}
}

/*
 * Scratch occurrence lists for evaluating NEAR, reused from item to item:
 * taken and given back in stack order; a query nested deeper than the pool
 * gets a fresh list.
 */
static struct occs *
scratch_take(struct matcher *m)
{
	struct occs *o;

	if (m->nscratch < SCRATCH_MAX) {
		o = &m->scratch[m->nscratch++];
		o->n = 0;
		return o;
	}
	return xcalloc(1, sizeof *o);
}

static void
scratch_give(struct matcher *m, struct occs *o)
{
	if (o >= m->scratch && o < m->scratch + SCRATCH_MAX) {
		m->nscratch--;
		return;
	}
	free(o->v);
	free(o);
}

/*
 * Occurrences of the clause at c.  A NEAR yields one merged span per
 * matching pair, or, with split (for explanations), both operands' spans
 * of each pair.
 */
static void
code_occs(struct matcher *m, const struct inst *c, struct occs *out, int split)
{
	const struct inst *k, *end = c + c->size;
	struct occs *a, *b;

	switch (c->op) {
	case I_TERM:
		pattern_occs(m, c->arg, c->fields, out);
		break;
	case I_ENTITY:
		entity_occs_in(m, &m->ents->v[c->arg], c->fields, out);
		break;
	case I_OR:
		for (k = c + 1; k < end; k += k->size)
			code_occs(m, k, out, split);
		break;
	case I_NEAR:
		k = c + 1;
		a = scratch_take(m);
		b = scratch_take(m);
		code_occs(m, k, a, split);
		code_occs(m, k + k->size, b, split);
		near_merge(a, b, c->arg, split, out);
		scratch_give(m, b);
		scratch_give(m, a);
		break;
	default:
		break;
	}
}

static int
regex_hits(struct matcher *m, const struct qnode *n, struct spans *out)
{
	PCRE2_SIZE *ov;
	int f, rc, hit = 0;

	for (f = 0; f < QF_COUNT; f++) {
		if (!in_fields(n->fields, f) || m->f[f].text == NULL)
			continue;
		rc = pcre2_match(n->re, (PCRE2_SPTR)m->f[f].text, PCRE2_ZERO_TERMINATED, 0, 0,
		    m->md, m->mctx);
		if (rc < 0)
			continue; /* no match, or over the match limit: no match */
		hit = 1;
		if (out == NULL)
			return 1;
		ov = pcre2_get_ovector_pointer(m->md);
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 8;
			out->v = xreallocarray(out->v, out->cap, sizeof *out->v);
		}
		out->v[out->n].field = f;
		out->v[out->n].start = ov[0];
		out->v[out->n].end = ov[1];
		out->n++;
	}
	return hit;
}

/* The allocation-free checks for the common leaves. */
static int
pattern_present(struct matcher *m, int id, unsigned mask)
{
	const struct occ *o;
	size_t i, n;

	o = occs_of(m, id, &n);
	for (i = 0; i < n; i++)
		if (in_fields(mask, o[i].field))
			return 1;
	return 0;
}

static int
entity_present_in(struct matcher *m, const struct entity *e, unsigned fields)
{
	const struct entity_pats *ep = entity_occs(m, e);
	size_t i;

	for (i = 0; i < ep->nocc; i++)
		if (in_fields(fields, ep->occ[i].field))
			return 1;
	return 0;
}

/* A term's or an entity's occurrences in this run, all fields. */
static const struct occ *
leaf_occs(struct matcher *m, const struct inst *c, size_t *n)
{
	const struct entity_pats *ep;

	if (c->op == I_TERM)
		return occs_of(m, c->arg, n);
	ep = entity_occs(m, &m->ents->v[c->arg]);
	*n = ep->nocc;
	return ep->occ;
}

/*
 * A NEAR of two terms or entities (the common case) without gathering
 * its pairs: stops at the first.  Returns 0 when c is another kind of
 * NEAR, else 1 with the answer in *r.
 */
static int
near_leaves(struct matcher *m, const struct inst *c, int *r)
{
	const struct inst *x = c + 1, *y = x + x->size;
	const struct occ *a, *b;
	size_t i, j, na, nb;

	if (x->op > I_ENTITY || y->op > I_ENTITY)
		return 0;
	a = leaf_occs(m, x, &na);
	b = leaf_occs(m, y, &nb);
	*r = 1;
	for (i = 0; i < na; i++) {
		if (!in_fields(x->fields, a[i].field))
			continue;
		for (j = 0; j < nb; j++)
			if (in_fields(y->fields, b[j].field) && near_pair(&a[i], &b[j], c->arg))
				return 1;
	}
	*r = 0;
	return 1;
}

/*
 * Does the query at c match this item?  Over the flat form; only regular
 * expressions are kept as tree nodes (I_SLOW).
 */
static int
eval_code(struct matcher *m, const struct inst *c)
{
	const struct inst *k, *end = c + c->size;

	switch (c->op) {
	case I_TERM:
		return pattern_present(m, c->arg, c->fields);
	case I_ENTITY:
		return entity_present_in(m, &m->ents->v[c->arg], c->fields);
	case I_AND:
		for (k = c + 1; k < end; k += k->size)
			if (!eval_code(m, k))
				return 0;
		return 1;
	case I_OR:
		for (k = c + 1; k < end; k += k->size)
			if (eval_code(m, k))
				return 1;
		return 0;
	case I_NOT:
		return !eval_code(m, c + 1);
	case I_NEAR: {
		/* both sides present at all before any position merging */
		struct occs *o;
		int r;
		for (k = c + 1; k < end; k += k->size)
			if (!eval_code(m, k))
				return 0;
		if (near_leaves(m, c, &r))
			return r;
		o = scratch_take(m);
		code_occs(m, c, o, 0);
		r = o->n > 0;
		scratch_give(m, o);
		return r;
	}
	default:
		return regex_hits(m, m->slow[c->arg], NULL);
	}
}

/*
 * Appending to the explanation buffers without a call per piece: room()
 * makes space for n more bytes (and a NUL), the bytes are stored, and the
 * buffer is NUL-terminated at the end (end()).  struct buf's own layout,
 * so buf_reset/buf_free still apply.
 */
static char *
room(struct buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = b->cap * 2 > b->len + n + 1 ? b->cap * 2 : b->len + n + 64;
		b->s = xrealloc(b->s, b->cap);
	}
	return b->s + b->len;
}

static void
put(struct buf *b, const char *s, size_t n)
{
	memcpy(room(b, n), s, n);
	b->len += n;
}

#define PUTS(b, lit) put((b), (lit), sizeof (lit) - 1)

static void
put_uint(struct buf *b, size_t v)
{
	char d[24];
	size_t i = sizeof d;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	put(b, d + i, sizeof d - i);
}

static void
end(struct buf *b)
{
	*room(b, 0) = '\0';
}

static void
add_span(struct spans *s, struct matcher *m, const struct occ *o)
{
	const struct text_tokens *t = &m->f[o->field].tok;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
	}
	s->v[s->n].field = o->field;
	s->v[s->n].start = t->v[o->first].start;
	s->v[s->n].end = t->v[o->last].end;
	s->n++;
}

/*
 * Spans of the positive leaves into m->sp, and one explain entry per leaf
 * appended to m->xb: {"clause":...,"matched":...,"negated":...,"hits":N}.
 * Over the flat form (hot from the evaluation just done), the clause texts
 * escaped in advance (clause_texts()); nothing allocated once the
 * matcher's buffers have grown.
 */
static void
collect(struct matcher *m, const struct inst *c, int negated, const char **src)
{
	const struct inst *k, *end = c + c->size;
	struct occs *o;
	size_t i, len, before = m->sp.n;
	int hit;

	switch (c->op) {
	case I_NOT:
		collect(m, c + 1, !negated, src);
		return;
	case I_AND:
	case I_OR:
		for (k = c + 1; k < end; k += k->size)
			collect(m, k, negated, src);
		return;
	case I_SLOW:
		hit = regex_hits(m, m->slow[c->arg], negated ? NULL : &m->sp);
		break;
	default:
		o = scratch_take(m);
		code_occs(m, c, o, 1);
		hit = o->n > 0;
		for (i = 0; !negated && i < o->n; i++)
			add_span(&m->sp, m, &o->v[i]);
		scratch_give(m, o);
		break;
	}
	if (m->xb.s[m->xb.len - 1] != '[')
		PUTS(&m->xb, ",");
	len = strlen(*src);
	if (len > 0) {
		PUTS(&m->xb, "{\"clause\":");
		put(&m->xb, *src, len);
		PUTS(&m->xb, ",");
	} else {
		PUTS(&m->xb, "{");
	}
	*src += len + 1;
	if (hit)
		PUTS(&m->xb, "\"matched\":true,\"negated\":");
	else
		PUTS(&m->xb, "\"matched\":false,\"negated\":");
	if (negated)
		PUTS(&m->xb, "true,\"hits\":");
	else
		PUTS(&m->xb, "false,\"hits\":");
	put_uint(&m->xb, negated ? 0 : m->sp.n - before);
	PUTS(&m->xb, "}");
}

static int
span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->field != y->field)
		return x->field - y->field;
	return x->start < y->start ? -1 : x->start > y->start;
}

static size_t
utf8_back(const char *s, size_t i)
{
	while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	return i;
}

/*
 * n characters (not bytes) back from i, then forward to a word start; in
 * ASCII text (ascii) a character is a byte.
 */
static size_t
chars_back(const char *s, size_t i, size_t n, int ascii)
{
	size_t j = i;

	if (ascii)
		j = i > n ? i - n : 0;
	while (j > 0 && n > 0 && !ascii) {
		j = utf8_back(s, j - 1);
		n--;
	}
	if (j == 0)
		return 0;
	while (j < i && s[j] != ' ' && s[j] != '\n')
		j++;
	return j < i ? j + 1 : utf8_back(s, j);
}

/* n characters forward from i, then back to a word end. */
static size_t
chars_forward(const char *s, size_t len, size_t i, size_t n, int ascii)
{
	size_t j = i, k;

	if (ascii)
		j = len - i > n ? i + n : len;
	while (j < len && n > 0 && !ascii) {
		j++;
		while (j < len && ((unsigned char)s[j] & 0xc0) == 0x80)
			j++;
		n--;
	}
	if (j >= len)
		return len;
	for (k = j; k > i && s[k] != ' ' && s[k] != '\n'; k--)
		;
	return k > i ? k : j;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/*
 * Appends s[0..n) with each run of white space as one space, none at the
 * start of the string that begins at b->s[from].
 */
/* Eight bytes, the first in the low byte whatever the machine's order. */
static inline uint64_t
load_le64(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static void
add_collapsed(struct buf *b, size_t from, const char *s, size_t n)
{
	char *o = room(b, n), *start = b->s + from;
	uint64_t x, y, low, sp;
	size_t i = 0;

	while (i < n) {
		/*
		 * Eight bytes at a time where nothing changes: no byte below
		 * 0x20, no two spaces in a row, and no space first where the
		 * output starts or already ends with one (the masks may flag
		 * more than that, never less: such bytes go one by one).
		 */
		if (i + 8 <= n) {
			x = load_le64(s + i);
			y = x ^ (' ' * ONES);
			low = (x - ' ' * ONES) & ~x & HIGHS;
			sp = (y - ONES) & ~y & HIGHS;
			if (low == 0 && (sp & (sp << 8)) == 0 &&
			    !((sp & 0x80) && (o == start || o[-1] == ' '))) {
				memcpy(o, s + i, 8);
				o += 8;
				i += 8;
				continue;
			}
		}
		if ((unsigned char)s[i] > ' ' || !is_space(s[i]))
			*o++ = s[i];
		else if (o > start && o[-1] != ' ')
			*o++ = ' ';
		i++;
	}
	b->len = (size_t)(o - b->s);
	*o = '\0';
}

/* The snippet of the sorted spans sp into m->sb (empty when none). */
static void
snippet(struct matcher *m, const struct spans *sp)
{
	static const int order[] = { 2, 1, 0, 3, 4, 5 }; /* content, summary, title ... */
	const struct span *first = NULL;
	struct buf *b = &m->sb;
	const char *text;
	size_t i, from, to, pos, len, lead;
	int k;

	buf_reset(b);
	for (k = 0; k < QF_COUNT && first == NULL; k++)
		for (i = 0; i < sp->n; i++)
			if (sp->v[i].field == order[k]) {
				first = &sp->v[i];
				break;
			}
	if (first == NULL)
		return;
	text = m->f[first->field].text;
	len = m->f[first->field].b.len;
	from = chars_back(text, first->start, SNIPPET_BEFORE, m->f[first->field].ascii);
	to = chars_forward(text, len, first->end, SNIPPET_AFTER, m->f[first->field].ascii);
	if (from > 0)
		PUTS(b, "…");
	pos = from;
	for (i = 0; i < sp->n; i++) {
		const struct span *s = &sp->v[i];
		if (s->field != first->field || s->start < pos || s->end > to)
			continue;
		add_collapsed(b, 0, text + pos, s->start - pos);
		PUTS(b, "[[");
		put(b, text + s->start, s->end - s->start);
		PUTS(b, "]]");
		pos = s->end;
	}
	add_collapsed(b, 0, text + pos, to - pos);
	if (to < len)
		PUTS(b, "…");
	/* no leading or trailing space */
	while (b->len > 0 && b->s[b->len - 1] == ' ')
		b->len--;
	for (lead = 0; lead < b->len && b->s[lead] == ' '; lead++)
		;
	if (lead > 0) {
		memmove(b->s, b->s + lead, b->len - lead);
		b->len -= lead;
	}
	end(b);
}

/* Sorts the spans by field and start (few: insertion sort, else qsort). */
static void
sort_spans(struct spans *sp)
{
	struct span x;
	size_t i, j;

	if (sp->n > 32) {
		qsort(sp->v, sp->n, sizeof *sp->v, span_cmp);
		return;
	}
	for (i = 1; i < sp->n; i++) {
		x = sp->v[i];
		for (j = i; j > 0 && span_cmp(&sp->v[j - 1], &x) > 0; j--)
			sp->v[j] = sp->v[j - 1];
		sp->v[j] = x;
	}
}

/*
 * A hit's terms, snippet and explanation.  Built in the matcher's buffers
 * and handed over as one allocation (h->terms, the strings after it):
 * one malloc per hit.  The explanation is written as the compact JSON
 * that jansson printed when it was built as json_t objects, byte for byte
 * (tests/unit/test_match_golden.c holds that output).
 */
static void
fill_hit(struct matcher *m, int id, struct match_hit *h)
{
	struct spans *sp = &m->sp;
	struct buf *x = &m->xb, *tb = &m->tb;
	size_t i, j, n, nterms = 0, at, tlen;
	const char *text, *src;
	char *blk, *p;
	int field = -1;

	sp->n = 0;
	x->len = 0;
	PUTS(x, "{\"clauses\":[");
	src = m->ctext.s + m->wl[id].ctext;
	collect(m, m->code + m->wl[id].code, 0, &src);
	PUTS(x, "],\"spans\":{");
	sort_spans(sp);
	/* Keep the longest hit where hits nest ("North Korean" over "North Korea"). */
	for (i = j = 0; i < sp->n; i++) {
		if (j > 0 && sp->v[j - 1].field == sp->v[i].field &&
		    sp->v[i].start < sp->v[j - 1].end) {
			if (sp->v[i].end > sp->v[j - 1].end)
				sp->v[j - 1].end = sp->v[i].end;
			continue;
		}
		sp->v[j++] = sp->v[i];
	}
	sp->n = j;
	tb->len = 0;
	PUTS(tb, "\0"); /* the terms start at 1 */
	if (m->captoff < sp->n) {
		m->captoff = sp->n;
		m->toff = xreallocarray(m->toff, m->captoff, sizeof *m->toff);
	}
	for (i = 0; i < sp->n; i++) {
		text = m->f[sp->v[i].field].text + sp->v[i].start;
		tlen = sp->v[i].end - sp->v[i].start;
		/* the term as the text has it, white space collapsed; once */
		at = tb->len;
		add_collapsed(tb, at, text, tlen);
		PUTS(tb, "\0");
		for (j = 0; j < nterms; j++)
			if (strcmp(tb->s + m->toff[j], tb->s + at) == 0)
				break;
		if (j < nterms) {
			tb->len = at;
			tb->s[at] = '\0';
		} else {
			m->toff[nterms++] = at;
		}
		/* "field":[[start,end,"text"],...] grouped by field, in field order */
		if (sp->v[i].field != field) {
			if (field >= 0)
				PUTS(x, "],");
			field = sp->v[i].field;
			PUTS(x, "\"");
			put(x, query_field_name(1u << field), strlen(query_field_name(1u << field)));
			PUTS(x, "\":[");
		} else {
			PUTS(x, ",");
		}
		PUTS(x, "[");
		put_uint(x, sp->v[i].start);
		PUTS(x, ",");
		put_uint(x, sp->v[i].end);
		/* jansson refused the others (ASCII text has no NUL: valid) */
		if (m->f[sp->v[i].field].ascii || util_utf8_valid(text, tlen)) {
			end(x);
			PUTS(x, ",");
			text_json_string(x, text, tlen);
		}
		PUTS(x, "]");
	}
	if (field >= 0)
		PUTS(x, "]}}");
	else
		PUTS(x, "}}");
	end(x);
	end(tb);
	snippet(m, sp);
	n = (nterms + 1) * sizeof *h->terms;
	blk = xmalloc(n + tb->len + 1 + m->sb.len + 1 + x->len + 1);
	h->terms = (char **)(void *)blk;
	p = blk + n;
	memcpy(p, tb->s, tb->len + 1);
	for (i = 0; i < nterms; i++)
		h->terms[i] = p + m->toff[i];
	h->terms[nterms] = NULL;
	h->nterms = nterms;
	p += tb->len + 1;
	memcpy(p, m->sb.len > 0 ? m->sb.s : "", m->sb.len + 1);
	h->snippet = p;
	p += m->sb.len + 1;
	memcpy(p, x->s, x->len + 1);
	h->explain = p;
	h->watchlist = id;
	h->name = m->wl[id].name;
}
/* Did a pattern of the candidate's filter occur in this item? */
static int
present(const struct matcher *m, int id)
{
	return (m->present[id >> 6] >> (id & 63)) & 1;
}

static int
filter_passes(struct matcher *m, const struct wentry *e)
{
	int *f;
	int i;

	if (e->filt == -1)
		return 1;
	if (e->filt >= 0)
		return present(m, e->filt) || (e->filt2 >= 0 && present(m, e->filt2));
	f = m->fsets.v + (-2 - e->filt);
	if ((unsigned)f[1] != m->gen) {
		f[1] = (int)m->gen;
		f[2] = 0;
		for (i = 0; i < f[0] && !f[2]; i++)
			f[2] = present(m, f[3 + i]);
	}
	return f[2];
}

static int
int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* A handful typically: insertion sort, else qsort. */
static void
sort_ints(int *v, size_t n)
{
	size_t i, j;
	int x;

	if (n > 32) {
		qsort(v, n, sizeof *v, int_cmp);
		return;
	}
	for (i = 1; i < n; i++) {
		x = v[i];
		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* The watcher lists as one array, so that the candidate loop reads it densely. */
static void
build_watchers(struct matcher *m)
{
	size_t i, j, n = 0;

	for (i = 0; i < m->npats; i++)
		n += m->pats[i].watchers.n;
	free(m->wlist);
	m->wlist = line_realloc(NULL, 0, n + 1, sizeof *m->wlist);
	m->wofs = xreallocarray(m->wofs, m->npats + 1, sizeof *m->wofs);
	for (i = n = 0; i < m->npats; i++) {
		m->wofs[i] = (uint32_t)n;
		for (j = 0; j < m->pats[i].watchers.n; j++) {
			m->wlist[n].wl = m->pats[i].watchers.v[j];
			m->wlist[n].filt = m->wl[m->wlist[n].wl].filt;
			m->wlist[n].filt2 = m->wl[m->wlist[n].wl].filt2;
			m->wlist[n].code = (uint32_t)m->wl[m->wlist[n].wl].code;
			n++;
		}
	}
	m->wofs[m->npats] = (uint32_t)n;
	m->wbuilt = 1;
	m->wdirty = 0;
}

size_t
matcher_run(struct matcher *m, const struct match_doc *doc, struct match_result *res)
{
	size_t i;
	int f, w, j, id;

	/*
	 * Re-file the watchlists under their rarest triggers as the pattern
	 * statistics grow: after 1,024 items, then 4x as many, up to every
	 * 1,048,576 items.
	 */
	if (m->next_reindex == 0)
		m->next_reindex = 1024;
	if (++m->nitems >= m->next_reindex) {
		matcher_reindex(m);
		m->next_reindex = m->nitems + (m->nitems < (1u << 20) / 4 ? m->nitems * 3 : 1u << 20);
	}
	if (m->wdirty || !m->wbuilt)
		build_watchers(m);
	m->gen++;
	if (m->gen == 0) {
		/* wrapped: forget every generation stamp */
		for (i = 0; i < m->npats; i++)
			m->run[i].gen = 0;
		for (i = 0; m->ents != NULL && i < m->ents->n; i++)
			m->epats[i].gen = 0;
		for (i = 0; i < m->fsets.n; i += 3 + (size_t)m->fsets.v[i])
			m->fsets.v[i + 1] = 0;
		m->gen = 1;
	}
	for (i = 0; i < m->touched.n; i++)
		m->present[m->touched.v[i] >> 6] = 0;
	m->touched.n = 0;
	m->cands.n = 0;
	m->nraw = 0;
	load_fields(m, doc);
	for (f = 0; f < QF_COUNT; f++)
		if (m->f[f].text != NULL)
			scan_field(m, f);
	group_occurrences(m);
	/*
	 * The watchers of the patterns that occurred whose filter passes,
	 * once each (a watchlist filed under several patterns may come up
	 * more than once: a bitmap of 12.5 KB at 100,000 watchlists), their
	 * flat forms fetched together; then the candidates' evaluation.
	 */
	m->npend = 0;
	for (i = 0; i < m->touched.n; i++) {
		id = m->touched.v[i];
		for (j = (int)m->wofs[id]; j < (int)m->wofs[id + 1]; j++) {
			w = m->wlist[j].wl;
			if ((m->wseen[w >> 6] >> (w & 63)) & 1 || !filter_passes(m, &m->wlist[j]))
				continue;
			m->wseen[w >> 6] |= 1ull << (w & 63);
			if (m->npend == m->cappend) {
				m->cappend = m->cappend ? m->cappend * 2 : 64;
				m->pend = xreallocarray(m->pend, m->cappend, sizeof *m->pend);
			}
			m->pend[m->npend].wl = m->wlist[j].wl;
			m->pend[m->npend].code = m->wlist[j].code;
			__builtin_prefetch(m->code + m->wlist[j].code);
			m->npend++;
		}
	}
	for (i = 0; i < m->npend; i++) {
		w = m->pend[i].wl;
		m->wseen[w >> 6] = 0;
		if (eval_code(m, m->code + m->pend[i].code)) {
			ivec_push(&m->cands, w);
			/* its record (clause texts' offset, name) is cold at 100,000 */
			if (res != NULL)
				__builtin_prefetch(&m->wl[w]);
		}
	}
	for (i = 0; i < m->always.n; i++)
		if (eval_code(m, m->code + m->wl[m->always.v[i]].code))
			ivec_push(&m->cands, m->always.v[i]);
	if (res == NULL)
		return m->cands.n;
	/* The hits in watchlist order. */
	sort_ints(m->cands.v, m->cands.n);
	if (m->cands.n > 0)
		res->hits = xreallocarray(res->hits, res->nhits + m->cands.n, sizeof *res->hits);
	/*
	 * At 100,000 watchlists a hit's record and clause texts are cold:
	 * fetch them for all the hits at once rather than one miss after
	 * another.
	 */
	for (i = 0; i < m->cands.n; i++)
		__builtin_prefetch(&m->wl[m->cands.v[i]]);
	for (i = 0; i < m->cands.n; i++)
		__builtin_prefetch(m->ctext.s + m->wl[m->cands.v[i]].ctext);
	for (i = 0; i < m->cands.n; i++) {
		memset(&res->hits[res->nhits], 0, sizeof *res->hits);
		fill_hit(m, m->cands.v[i], &res->hits[res->nhits++]);
	}
	return res->nhits;
}

void
match_result_free(struct match_result *res)
{
	size_t i;

	for (i = 0; i < res->nhits; i++)
		free(res->hits[i].terms); /* with the strings: see fill_hit() */
	free(res->hits);
	res->hits = NULL;
	res->nhits = 0;
}

