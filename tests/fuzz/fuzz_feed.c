/*
 * fuzz_feed.c - libFuzzer target: feed_parse + feed_doc_to_json on any bytes.
 *
 * Besides the sanitizers' findings, two properties abort: a string that
 * leaves feed_parse() (every field of the feed and of each entry, the
 * doc-level strings, the error message) not being valid UTF-8, and
 * feed_doc_to_json() failing on a parsed document.  Either one is a remote
 * crash in the daemon: the sinks build their JSON with jansson, which
 * refuses invalid UTF-8.  Odd lengths arrive with a Latin-1 Content-Type,
 * lengths with bit 1 set with a Content-Language header holding a 5-byte
 * form, so the header paths are exercised too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/feed.h"
#include "wirewatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void
check(const char *what, const char *s)
{
	if (s != NULL && !util_utf8_valid(s, strlen(s))) {
		fprintf(stderr, "fuzz_feed: %s is not valid UTF-8\n", what);
		abort();
	}
}

static void
check_entry(const struct feed_entry *e)
{
	size_t i;

	check("id", e->id);
	check("title", e->title);
	check("subtitle", e->subtitle);
	check("link", e->link);
	check("summary", e->summary);
	check("content", e->content);
	check("rights", e->rights);
	check("language", e->language);
	check("author", e->author);
	for (i = 0; i < e->nauthors; i++) {
		check("authors[].name", e->authors[i].name);
		check("authors[].email", e->authors[i].email);
		check("authors[].uri", e->authors[i].uri);
	}
	for (i = 0; i < e->ncategories; i++)
		check("categories[]", e->categories[i]);
	for (i = 0; i < e->nenclosures; i++) {
		check("enclosures[].url", e->enclosures[i].url);
		check("enclosures[].type", e->enclosures[i].type);
		check("enclosures[].length", e->enclosures[i].length);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char err[WW_ERRLEN], *json;
	struct feed_doc *doc;
	size_t i;

	err[0] = '\0';
	doc = feed_parse_http((const char *)data, len, "http://127.0.0.1/feed.xml",
	    len & 1 ? "text/xml; charset=iso-8859-1" : NULL, NULL,
	    len & 2 ? "x\xf8\x88\x80\x80\x80" : NULL, err, sizeof err);
	if (doc == NULL) {
		check("err", err);
		return 0;
	}
	check("bozo_reason", doc->bozo_reason);
	check("version", doc->version);
	check("encoding", doc->encoding);
	check_entry(&doc->feed);
	for (i = 0; i < doc->nentries; i++)
		check_entry(&doc->entries[i]);
	if ((json = feed_doc_to_json(doc)) == NULL) {
		fprintf(stderr, "fuzz_feed: feed_doc_to_json returned NULL\n");
		abort();
	}
	free(json);
	feed_doc_free(doc);
	return 0;
}
