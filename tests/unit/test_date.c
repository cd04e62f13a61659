/*
 * test_date.c - the date parser against every row of the corpus table
 * (../shared/corpus/dates.jsonl, or $WW_CORPUS/dates.jsonl) and the forms
 * the seed outlets and real feeds use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "wirewatch/date.h"
#include "wirewatch/util.h"

static void
assert_date(const char *in, const char *want)
{
	char got[32];
	time_t t;

	if (date_parse(in, &t) != 0)
		snprintf(got, sizeof got, "null");
	else
		util_format_time(t, got, sizeof got);
	if (strcmp(got, want ? want : "null") != 0)
		fail_msg("date_parse(\"%s\") = %s, want %s", in, got, want ? want : "null");
}

static void
test_corpus_table(void **state)
{
	const char *dir = getenv("WW_CORPUS") ? getenv("WW_CORPUS") : "../shared/corpus";
	char *path = xasprintf("%s/dates.jsonl", dir), line[4096];
	json_t *row;
	int rows = 0;
	FILE *f;

	(void)state;
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s (set WW_CORPUS)", path);
	while (fgets(line, sizeof line, f) != NULL) {
		row = json_loads(line, 0, NULL);
		assert_non_null(row);
		assert_date(json_string_value(json_object_get(row, "input")),
		    json_string_value(json_object_get(row, "expect")));
		json_decref(row);
		rows++;
	}
	fclose(f);
	free(path);
	assert_int_equal(rows, 66);
}

static void
test_seed_formats(void **state)
{
	(void)state;
	assert_date("Mon, Jul 14 2025 11:22:48 am", "2025-07-14T11:22:48Z");
	assert_date("Mon, Jul 14 2025 11:22:48 pm", "2025-07-14T23:22:48Z");
	assert_date("13-07-2025 02:57 IST", "2025-07-12T21:27:00Z");
	assert_date("July 13, 2025", "2025-07-13T00:00:00Z");
	assert_date("Published on July 13, 2025", NULL);
}

static void
test_rfc822_corruptions(void **state)
{
	(void)state;
	assert_date("13 Jul 2025 09:41:00 +0300", "2025-07-13T06:41:00Z");
	assert_date("Sun, 13 Jul 25 09:41:00 GMT", "2025-07-13T09:41:00Z");
	assert_date("Sun, 13 Jul 2025 09:41:00 EDT", "2025-07-13T13:41:00Z");
	assert_date("Sun, 13 Jul 2025 09:41:00 PST", "2025-07-13T17:41:00Z");
	assert_date("Sun, 13 Jul 2025 09:41:00 GMT+3", "2025-07-13T06:41:00Z");
	assert_date("Sun, 13 Jul 2025 09:41:00 Z", "2025-07-13T09:41:00Z");
	assert_date("Sun, 13 Jul 2025 09:41:00 A", "2025-07-13T10:41:00Z");
	assert_date("Sun, 13 Jul 2025 09:41:00 N", "2025-07-13T08:41:00Z");
	assert_date("Sun, 13 Jul 2025 25:41:00 GMT", NULL);
	assert_date("Sun, 31 Feb 2025 09:41:00 GMT", NULL);
	assert_date("yesterday", NULL);
	assert_date("", NULL);
}

static void
test_iso_partials(void **state)
{
	(void)state;
	assert_date("2025-07-13T02:57:00+05:30", "2025-07-12T21:27:00Z");
	assert_date("2025-07-13", "2025-07-13T00:00:00Z");
	assert_date("2025-07", "2025-07-01T00:00:00Z");
	assert_date("2025-07-13T02:57Z", "2025-07-13T02:57:00Z");
	assert_date("2025-07-13T02:57:00.123456789Z", "2025-07-13T02:57:00Z");
	assert_date("2025-13-01", NULL);
	assert_date("2025-07-13T02:57:00+25:00", NULL);
	/* ISO 8601 basic format */
	assert_date("20250713T094100Z", "2025-07-13T09:41:00Z");
	assert_date("20250713", "2025-07-13T00:00:00Z");
	assert_date("20250713T0941+0530", "2025-07-13T04:11:00Z");
	assert_date("20251313", NULL);
	assert_date("20250713T9999", NULL);
	/* a year alone, asctime with a padded day */
	assert_date("2025", "2025-01-01T00:00:00Z");
	assert_date("Sun Jul  3 09:41:00 2025", "2025-07-03T09:41:00Z");
	/* IST is India (+05:30) */
	assert_date("Sun, 13 Jul 2025 09:41:00 IST", "2025-07-13T04:11:00Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_table),
		cmocka_unit_test(test_seed_formats),
		cmocka_unit_test(test_rfc822_corruptions),
		cmocka_unit_test(test_iso_partials),
	};

	return cmocka_run_group_tests_name("date", tests, NULL, NULL);
}
