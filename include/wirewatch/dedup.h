/*
 * dedup.h - item identity.
 *
 * An item's identity is a hash of its best stable id: the guid/id, else its
 * canonical link, else title + date.  A guid that repeats inside one
 * document (some CMSes stamp every item with the channel's guid) is not
 * trusted alone and is combined with the link.  URLs, as links or as
 * URL-shaped ids, are canonicalized first so that http/https and
 * tracking-parameter variants of one article are one item.
 */
#ifndef WIREWATCH_DEDUP_H
#define WIREWATCH_DEDUP_H

#include <stddef.h>

struct feed_doc;

#define DEDUP_KEYLEN 33 /* 32 hex digits and a NUL */

void dedup_item_key(const struct feed_doc *doc, size_t i, char out[DEDUP_KEYLEN]);

/*
 * Canonical form of an http(s) URL for comparison (not for fetching):
 * scheme dropped, host lowercased, default port, fragment and tracking
 * parameters (utm_*, fbclid, gclid, ...) removed.  Malloc'd; a string that
 * is not an http(s) URL is returned as a copy.
 */
char *dedup_canonical_url(const char *url);

#endif
