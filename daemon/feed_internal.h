/*
 * feed_internal.h - shared between the feed_*.c files: feed_xml.c (libxml2),
 * feed.c (the RSS/Atom walk), feed_json.c (JSON Feed, output, ownership),
 * feed_charset.c and feed_markup.c.  Not a public API.
 */
#ifndef WIREWATCH_FEED_INTERNAL_H
#define WIREWATCH_FEED_INTERNAL_H

#include "wirewatch/feed.h"

#include <libxml/tree.h>

/* feed_xml.c: libxml2 with our options and guards, then the walk. */
struct feed_doc *feed_parse_xml(const char *data, size_t len, const char *base_url,
    const char *content_type, char *err, size_t errlen);

/* feed.c: the walk over the tree, element by element. */
enum feed_kind { FEED_RSS, FEED_ATOM, FEED_RDF };

struct feed_ctx {
	xmlDocPtr doc;
	enum feed_kind kind;
	int atom03;
	int xml_base;         /* the document uses xml:base somewhere */
	const char *root_ns;  /* the feed element's namespace (Atom) */
	xmlNsPtr dropped;     /* XHTML declarations drop_ns() took off */
};

/* Sets c->kind (and d->version) from the root, or -1: not a feed. */
int feed_root_kind(struct feed_ctx *c, struct feed_doc *d, xmlNodePtr root, char *err,
    size_t errlen);
/*
 * During the parse: reads n now if it is an entry the walk would read (1);
 * the caller then empties n and sets n->_private to feed_taken, which the
 * walk skips.
 */
extern const char feed_taken[];
int feed_take_entry(struct feed_ctx *c, struct feed_doc *d, xmlNodePtr n);
/* Fills d from the tree under the root element. */
void feed_walk(struct feed_ctx *c, struct feed_doc *d, xmlNodePtr root);

/*
 * feed_charset.c: decides the charset and returns the document as UTF-8
 * (data itself when it already is, else a buffer stored in *owned for the
 * caller to free).  *label gets the Python codec name (malloc'd);
 * *bozo_reason a message when bytes were invalid or the charset unknown.
 */
const char *feed_decode(const char *data, size_t len, const char *content_type,
    char **label, char **bozo_reason, size_t *outlen, char **owned);
/* 1 when s[0..len) is strict UTF-8 (see util_utf8_valid) with no NUL. */
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
#define FEED_FIX_ENTITY 0x1  /* an HTML entity, a bare '&', &#X41; */
#define FEED_FIX_CHARREF 0x2 /* &#0;, a surrogate or past U+10FFFF: U+FFFD */
char *feed_fix_entities(const char *data, size_t len, size_t *outlen, int *bozo);
/* A copy without an unusable encoding="..." declaration, or NULL. */
char *feed_bad_declaration(const char *data, size_t len);

#endif
