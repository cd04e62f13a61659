/*
 * match.h - all watchlists over one item in one pass.
 *
 * A matcher holds every configured watchlist compiled together against one
 * entity gazetteer.  matcher_run() normalises the item once, finds the
 * terms present with one multi-pattern pass, evaluates only the candidate
 * watchlists and returns one hit per matching watchlist with its
 * explanation.  Per-item cost grows with text length and hits, not with the
 * number of watchlists.
 */
#ifndef WIREWATCH_MATCH_H
#define WIREWATCH_MATCH_H

#include <stddef.h>

#include <jansson.h>

struct entity_set;
struct matcher;

/*
 * Loads every *.conf file of dir.  NULL on error with "FILE:LINE: message"
 * in err.
 */
struct entity_set *entity_set_load(const char *dir, char *err, size_t errlen);
void entity_set_free(struct entity_set *set);

/* ents must outlive the matcher. */
struct matcher *matcher_new(const struct entity_set *ents);
void matcher_free(struct matcher *m);

/*
 * Adds a watchlist.  Returns its index (0, 1, ...) or -1 with
 * "column N: message" in err (a syntax error, an unknown @Entity or field).
 */
int matcher_add(struct matcher *m, const char *name, const char *query,
    char *err, size_t errlen);

/*
 * The item as published.  title/summary/content may hold HTML (it is
 * stripped and entities decoded here).  Any field may be NULL.
 */
struct match_doc {
	const char *title;
	const char *summary;
	const char *content;
	const char *author;
	const char *category; /* categories joined by "\n" */
	const char *feed;     /* feed name */
};

struct match_hit {
	int watchlist;      /* index returned by matcher_add */
	const char *name;   /* watchlist name (owned by the matcher) */
	char **terms;       /* distinct matched surface strings, as in the text */
	size_t nterms;
	char *snippet;      /* ~200 chars around the first hit, hits in [[...]] */
	json_t *explain;    /* {"clauses": [...], "spans": {field: [[start,end,term]...]}} */
};

struct match_result {
	struct match_hit *hits;
	size_t nhits;
};

/*
 * Re-files every watchlist under its rarest required terms according to the
 * items seen so far.  matcher_run() does this by itself from time to time;
 * results never depend on it, only the number of candidates evaluated.
 */
void matcher_reindex(struct matcher *m);

/*
 * Fills res (caller zero-initialises); returns the number of hits.  With
 * res NULL only counts the matching watchlists (no explanations built).
 */
size_t matcher_run(struct matcher *m, const struct match_doc *doc,
    struct match_result *res);
void match_result_free(struct match_result *res);

#endif
