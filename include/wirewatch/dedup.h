/*
 * dedup.h - item identity.
 *
 * An item's identity (its key, 32 hex digits) is a hash of its best stable
 * id, chosen by these rules, in order:
 *
 *   1. a guid/id that no other item of the same document carries: the id
 *      alone, so the same guid is the same item whatever else changes;
 *   2. no guid: the canonical link, else title + date (+ the summary when
 *      there is neither title nor date);
 *   3. a guid that repeats inside the document (some CMSes stamp every item
 *      with the channel's guid) is not trusted alone: it is combined with
 *      the item's link; without a link, with its title + date;
 *   4. items of rule 3 that still collide (same guid and link, as when the
 *      channel's link is stamped too) are combined with title + date;
 *   5. items of rule 3 that still collide after that (same guid, link,
 *      title and date) are kept apart by the ordinal of the occurrence among
 *      them: the first keeps its key, the next ones get "#1", "#2", ...  The
 *      keys are stable from poll to poll as long as the feed keeps its order.
 *
 * So a document never loses an item to a broken guid: N items with one
 * guid are N keys.  Rules 1, 2 and the with-link case of rule 3 are those
 * of earlier versions, byte for byte, so that the seen sets in existing
 * Redis databases stay valid.  Repeats are decided on the id exactly as
 * written; URLs, as links or as URL-shaped ids, are canonicalized before
 * hashing so that http/https and tracking-parameter variants of one article
 * are one item (also across documents and feeds).
 */
#ifndef WIREWATCH_DEDUP_H
#define WIREWATCH_DEDUP_H

#include <stddef.h>

struct feed_doc;

#define DEDUP_KEYLEN 33 /* 32 hex digits and a NUL */

struct dedup_stats {
	size_t guid_repeats;   /* items whose guid is shared with another item */
	size_t kept_apart;     /* items still colliding after link/title/date, told apart by ordinal */
	const char *bad_guid;  /* one repeated guid (points into doc), NULL if none */
};

/*
 * Fills keys[0..doc->nentries) with every item's identity by the rules
 * above, and st (may be NULL) with what the document's guids were worth;
 * st->bad_guid lives as long as doc.  Expected linear time in the size of
 * the document, also when every id is equal: repeats are found with a hash
 * table whose seed is random per process, so colliding ids cannot be
 * prepared offline.
 */
void dedup_doc_keys(const struct feed_doc *doc, char (*keys)[DEDUP_KEYLEN],
    struct dedup_stats *st);

/*
 * The identity of item i alone: the same key dedup_doc_keys() gives it.
 * Costs a scan of the document per call (and the canonicalization of every
 * item sharing i's guid), so calling it for every item is quadratic; use
 * dedup_doc_keys() for a whole document.
 */
void dedup_item_key(const struct feed_doc *doc, size_t i, char out[DEDUP_KEYLEN]);

/*
 * Canonical form of an http(s) URL for comparison (not for fetching):
 * scheme dropped, host lowercased, default port, fragment and tracking
 * parameters (utm_*, fbclid, gclid, ...) removed.  Malloc'd; a string that
 * is not an http(s) URL is returned as a copy.
 */
char *dedup_canonical_url(const char *url);

#endif
