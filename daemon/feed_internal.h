/*
 * feed_internal.h - shared between feed.c (XML formats) and feed_json.c
 * (JSON Feed, output, ownership).  Not a public API.
 */
#ifndef WIREWATCH_FEED_INTERNAL_H
#define WIREWATCH_FEED_INTERNAL_H

#include "wirewatch/feed.h"

struct feed_doc *feed_parse_xml(const char *data, size_t len, const char *base_url,
    const char *content_type, char *err, size_t errlen);

/*
 * feed_charset.c: decides the charset and returns the document as UTF-8
 * (data itself when it already is, else a buffer stored in *owned for the
 * caller to free).  *label gets the Python codec name (malloc'd);
 * *bozo_reason a message when bytes were invalid or the charset unknown.
 */
const char *feed_decode(const char *data, size_t len, const char *content_type,
    char **label, char **bozo_reason, size_t *outlen, char **owned);
int feed_valid_utf8(const unsigned char *s, size_t len);
extern const unsigned short feed_cp1252_c1[32];

/* feed_markup.c */
#include <libxml/xmlstring.h>
int feed_has_scheme(const char *s, size_t n);
/* xmlBuildURI() that also accepts non-ASCII references; malloc'd or NULL. */
char *feed_build_uri(const char *ref, const xmlChar *base);
/* Relative URI attributes in the HTML string s resolved against base. */
char *feed_html_resolve(char *s, const xmlChar *base);
/* References XML rejects repaired; NULL when nothing changed. */
char *feed_fix_entities(const char *data, size_t len, size_t *outlen, int *bozo);
/* A copy without an unusable encoding="..." declaration, or NULL. */
char *feed_bad_declaration(const char *data, size_t len);

#endif
