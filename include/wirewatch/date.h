/*
 * date.h - the one date parser for feeds.
 *
 * Accepts RFC 822/1123 and their common corruptions (no weekday, two-digit
 * years, named zones incl. EDT/PST/IST=+05:30, military letters, GMT+3),
 * RFC 3339 / ISO 8601 / W3CDTF and partials, asctime, and the formats of
 * shared/corpus/dates.jsonl and the seed outlets ("Mon, Jul 14 2025
 * 11:22:48 am", "13-07-2025 02:57 IST").  Never guesses: invalid fields
 * (hour 25, day 99, a malformed zone) give an error.
 */
#ifndef WIREWATCH_DATE_H
#define WIREWATCH_DATE_H

#include <time.h>

/* Returns 0 and the UTC instant in *out, or -1 when s is not a date. */
int date_parse(const char *s, time_t *out);

#endif
