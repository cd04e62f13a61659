/*
 * feed_internal.h - shared between feed.c (XML formats) and feed_json.c
 * (JSON Feed, output, ownership).  Not a public API.
 */
#ifndef WIREWATCH_FEED_INTERNAL_H
#define WIREWATCH_FEED_INTERNAL_H

#include "wirewatch/feed.h"

struct feed_doc *feed_parse_xml(const char *data, size_t len, const char *base_url,
    const char *content_type, char *err, size_t errlen);

#endif
