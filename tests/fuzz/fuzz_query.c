/*
 * fuzz_query.c - libFuzzer target: compile any query against the bundled
 * entities and run it over a fixed item.  Run from the repository root.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/match.h"
#include "wirewatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct entity_set *ents;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const struct match_doc doc = {
		.title = "N. Korean leader backs Russia",
		.summary = "<p>Kim Jong-un met Lavrov in Pyongyang; the North Korea&#8211;Russia "
		    "mutual defense treaty was cited.</p>",
		.content = "조선민주주의인민공화국 и Россия", .author = "Desk",
		.category = "World\nAsia", .feed = "qna",
	};
	struct match_result res = {0};
	char err[WW_ERRLEN], *q;
	struct matcher *m;

	if (ents == NULL && (ents = entity_set_load("conf/entities", err, sizeof err)) == NULL) {
		fprintf(stderr, "fuzz_query: %s (run from the repository root)\n", err);
		abort();
	}
	q = xstrndup((const char *)data, len);
	m = matcher_new(ents);
	if (matcher_add(m, "fuzz", q, err, sizeof err) >= 0) {
		matcher_run(m, &doc, &res);
		match_result_free(&res);
	}
	matcher_free(m);
	free(q);
	return 0;
}
