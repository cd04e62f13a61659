/* fuzz_feed.c - libFuzzer target: feed_parse + feed_doc_to_json on any bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "wirewatch/feed.h"
#include "wirewatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char err[WW_ERRLEN];
	struct feed_doc *doc;

	doc = feed_parse((const char *)data, len, "http://127.0.0.1/feed.xml",
	    len & 1 ? "text/xml; charset=iso-8859-1" : NULL, err, sizeof err);
	if (doc != NULL)
		free(feed_doc_to_json(doc));
	feed_doc_free(doc);
	return 0;
}
