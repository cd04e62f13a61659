/*
 * feed.h - bytes to items: RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed.
 *
 * feed_parse() never touches the network and never loads external
 * entities.  The result follows the neutral schema of the conformance
 * corpus (shared/corpus/README.md); feed_doc_to_json() prints exactly that
 * schema, and it is what `wirewatchctl parse` prints.
 */
#ifndef WIREWATCH_FEED_H
#define WIREWATCH_FEED_H

#include <stddef.h>
#include <time.h>

#define FEED_NO_TIME ((time_t)-1)

struct feed_person {
	char *name;  /* each may be NULL */
	char *email;
	char *uri;
};

struct feed_enclosure {
	char *url;
	char *type;
	char *length;
};

/*
 * One entry, or (in struct feed_doc.feed) the feed's own metadata.  Every
 * string is NULL when absent.  Text fields are trimmed; summary/content
 * keep markup as described in the schema.  Dates are FEED_NO_TIME when
 * absent or unparseable.
 */
struct feed_entry {
	char *id;
	char *title;
	char *subtitle; /* feed level only */
	char *link;
	char *summary;
	char *content;
	char *rights;
	char *language; /* feed level only */
	char *author;   /* first author's name */
	time_t published;
	time_t updated;
	struct feed_person *authors;
	size_t nauthors;
	char **categories;
	size_t ncategories;
	struct feed_enclosure *enclosures;
	size_t nenclosures;
};

struct feed_doc {
	int bozo;           /* 1 when the parser had to recover */
	char *bozo_reason;  /* why, or NULL */
	int truncated;      /* the document ends before its root element closes */
	char *version;      /* feedparser's names: "rss20", "atom10", ... or "" */
	char *encoding;     /* lowercase charset the bytes were decoded with */
	struct feed_entry feed;
	struct feed_entry *entries;
	size_t nentries;
};

/*
 * Parses a document.  base_url (may be NULL) resolves relative links;
 * content_type (may be NULL) is the HTTP Content-Type header.
 * Returns a document (possibly bozo, with what could be recovered) or NULL
 * when the bytes are not a feed at all, with the reason in err
 * (e.g. "not a feed: document is not XML or JSON",
 * "XML error at line 3: ...").
 */
struct feed_doc *feed_parse(const char *data, size_t len, const char *base_url,
    const char *content_type, char *err, size_t errlen);
/*
 * feed_parse() with the other response headers that matter (each may be
 * NULL): Content-Location is a base URI, itself resolved against base_url;
 * Content-Language is the feed's language when the document names none.
 */
struct feed_doc *feed_parse_http(const char *data, size_t len, const char *base_url,
    const char *content_type, const char *content_location, const char *content_language,
    char *err, size_t errlen);
void feed_doc_free(struct feed_doc *doc);

/* The neutral-schema JSON for doc, malloc'd, one object, no newline. */
char *feed_doc_to_json(const struct feed_doc *doc);

#endif
