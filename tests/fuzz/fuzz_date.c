/*
 * fuzz_date.c - libFuzzer target: date_parse on any NUL-terminated string.
 *
 * Besides crashes, checks one invariant: a date it accepts, printed the way
 * alerts print it (util_format_time, RFC 3339 UTC), parses back to the same
 * instant.  Only years 1000-9999 are checked, the range RFC 3339 can write.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/date.h"
#include "wirewatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#define YEAR_1000 ((time_t)-30610224000LL)	/* 1000-01-01T00:00:00Z */
#define YEAR_10000 ((time_t)253402300800LL)	/* 10000-01-01T00:00:00Z */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s = xstrndup((const char *)data, len), iso[32];
	time_t t, back = 0;

	if (date_parse(s, &t) == 0 && t >= YEAR_1000 && t < YEAR_10000) {
		util_format_time(t, iso, sizeof iso);
		if (date_parse(iso, &back) != 0 || back != t) {
			fprintf(stderr, "date_parse(\"%s\") = %lld, printed %s, parsed "
			    "back as %lld\n", s, (long long)t, iso, (long long)back);
			abort();
		}
	}
	free(s);
	return 0;
}
