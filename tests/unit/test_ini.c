/*
 * test_ini.c - the line reader on its own: what it hands to its callbacks
 * (headers, keys, whole values with the line of each piece) and every
 * error of the text itself, with its line and column.  What the names
 * mean is config.c's and is tested in test_config.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "wirewatch/ini.h"
#include "wirewatch/util.h"

/* What the callbacks saw, one event a line, and when to stop. */
struct events {
	struct buf log;
	int stop_at;     /* a key callback on this line returns -1 */
};

static int
on_section(void *arg, int line, const char *name)
{
	struct events *e = arg;

	buf_addf(&e->log, "%d [%s]\n", line, name);
	return 0;
}

static int
on_key(void *arg, int line, const char *key, const char *value,
    const struct ini_piece *pieces, size_t npieces)
{
	struct events *e = arg;
	size_t i;

	buf_addf(&e->log, "%d %s=<%s>", line, key, value);
	if (npieces > 1)
		for (i = 0; i < npieces; i++)
			buf_addf(&e->log, " %zu@%d", pieces[i].off, pieces[i].line);
	buf_addc(&e->log, '\n');
	return line == e->stop_at ? -1 : 0;
}

/* "query" and "sinks" may span lines, as in wirewatch.conf. */
static int
on_may_span(void *arg, const char *key)
{
	(void)arg;
	return strcmp(key, "query") == 0 || strcmp(key, "sinks") == 0;
}

static const struct ini_handler handler = { on_section, on_key, on_may_span,
    "only 'query' and 'sinks'" };

/* Parses text (a copy: the reader cuts lines in place); 0 or -1, err, events. */
static int
parse(const struct ini_handler *h, const char *text, size_t len, struct events *e,
    char *err, size_t errlen)
{
	char *copy = xmalloc(len + 1);
	int rc;

	memcpy(copy, text, len);
	copy[len] = '\0';
	err[0] = '\0';
	rc = ini_parse("t.conf", copy, len, h, e, err, errlen);
	free(copy);
	return rc;
}

static void
expect_events(const char *text, const char *want)
{
	struct events e = { {0}, 0 };
	char err[WW_ERRLEN];

	if (parse(&handler, text, strlen(text), &e, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_string_equal(e.log.s != NULL ? e.log.s : "", want);
	buf_free(&e.log);
}

static void
expect_error_n(const struct ini_handler *h, const char *text, size_t len,
    const char *want)
{
	struct events e = { {0}, 0 };
	char err[WW_ERRLEN];

	if (parse(h, text, len, &e, err, sizeof err) != -1)
		fail_msg("parsed, want '%s'", want);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got  '%s'\nwant '%s...'", err, want);
	buf_free(&e.log);
}

static void
expect_error(const char *text, const char *want)
{
	expect_error_n(&handler, text, strlen(text), want);
}

static void
test_syntax(void **state)
{
	(void)state;
	expect_events("; comment\n# comment\n[ daemon ]\nredis = x:1   ; inline\n"
	    "prefix: ww:\nkey   =   spaced value  \nempty =\nsemi = a;b\n",
	    "3 [daemon]\n4 redis=<x:1>\n5 prefix=<ww:>\n6 key=<spaced value>\n"
	    "7 empty=<>\n8 semi=<a;b>\n");
	/* A BOM, CRLF and no newline at the end. */
	expect_events("\xef\xbb\xbf[feed \"a\"]\r\nurl = http://x/\r\ninterval = 5m",
	    "1 [feed \"a\"]\n2 url=<http://x/>\n3 interval=<5m>\n");
	/* Tabs are text; keys before any header are the caller's to judge. */
	expect_events("key = a\tb\n", "1 key=<a\tb>\n");
	expect_events("", "");
	/* Indented keys, git-config style, continue nothing. */
	expect_events("[sink \"a\"]\n\ttype = console\n\t[sink \"b\"]\n\ttype = console\n",
	    "1 [sink \"a\"]\n2 type=<console>\n3 [sink \"b\"]\n4 type=<console>\n");
}

static void
test_continued(void **state)
{
	(void)state;
	/* Joined with one space; comment lines inside skipped; each piece's line. */
	expect_events("query = a AND\n    (b OR   ; why\n; a comment line\n\tc)\nsinks = x\n",
	    "1 query=<a AND (b OR c)> 0@1 6@2 12@4\n5 sinks=<x>\n");
	/* The value may start on the line below its key. */
	expect_events("query =\n  treaty\n", "1 query=<treaty> 0@1 0@2\n");
	/* A blank line ends the value. */
	expect_events("sinks = a,\n  b\n\nquery = c\n", "1 sinks=<a, b> 0@1 3@2\n4 query=<c>\n");
	/* A header ends it too. */
	expect_events("query = a\n  b\n[x]\n", "1 query=<a b> 0@1 2@2\n3 [x]\n");
}

static void
test_errors(void **state)
{
	static const struct ini_handler no_span = { on_section, on_key, NULL, NULL };

	(void)state;
	expect_error("[daemon]\nthis line has no equals sign\n",
	    "t.conf:2: syntax error (expected [section] or key = value)");
	expect_error("= x\n", "t.conf:1: syntax error: no key before '='");
	expect_error(": x\n", "t.conf:1: syntax error: no key before ':'");
	expect_error("[feed \"f\"\n", "t.conf:1: syntax error: a [section] header ends with ']'");
	expect_error("url = http://x/\n    rss.xml\n", "t.conf:2: indented more than line 1, "
	    "so it continues 'url', but only 'query' and 'sinks' can span lines (lines "
	    "may be of any length)");
	expect_error_n(&no_span, "a = 1\n  2\n", 10, "t.conf:2: indented more than line 1, "
	    "so it continues 'a', but no key can span lines");
	expect_error("query = treaty\n  sinks = c\n", "t.conf:2: 'sinks' is indented more "
	    "than 'query' on line 1, so it would continue it: indent both alike");
	expect_error("    query = treaty OR\n  pact\n", "t.conf:2: syntax error (expected "
	    "[section] or key = value; a line continuing the value on line 1 must be "
	    "indented more than it)");
	expect_error_n(&handler, "a = b\nc = d\0e\n", 12, "t.conf:2: NUL byte at column 6 "
	    "(a binary file?)");
	expect_error("a = caf\xe9\n", "t.conf:1: not UTF-8 text");
	expect_error("a = \xc3\xa9\x1b[31m\n", "t.conf:1: control character 0x1b at column 6");
	expect_error("a = b\rc = d\n", "t.conf:1: control character 0x0d at column 6");
	expect_error("a = \x7f\n", "t.conf:1: control character 0x7f at column 5");
}

/* A callback that refuses stops the reader; err stays the caller's. */
static void
test_callback_stops(void **state)
{
	struct events e = { {0}, 2 };
	const char *text = "a = 1\nb = 2\nc = 3\n[s]\n";
	char err[WW_ERRLEN];

	(void)state;
	assert_int_equal(parse(&handler, text, strlen(text), &e, err, sizeof err), -1);
	assert_string_equal(err, "");
	assert_string_equal(e.log.s, "1 a=<1>\n2 b=<2>\n");
	buf_free(&e.log);
	/* Also when the refused key was cut short by an indented line. */
	e.stop_at = 1;
	text = "url = x\n  y\nz = 1\n";
	assert_int_equal(parse(&handler, text, strlen(text), &e, err, sizeof err), -1);
	assert_string_equal(err, "");
	assert_string_equal(e.log.s, "1 url=<x>\n");
	buf_free(&e.log);
}

static void
test_read_file(void **state)
{
	char dir[] = "/tmp/ww-test-ini-XXXXXX", err[WW_ERRLEN], *path, *text;
	size_t len;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_null(ini_read_file(dir, &len, err, sizeof err));
	assert_non_null(strstr(err, ": is a directory"));
	path = xasprintf("%s/a.conf", dir);
	assert_null(ini_read_file(path, &len, err, sizeof err));
	text = xasprintf("%s: No such file or directory", path);
	assert_string_equal(err, text);
	free(text);
	assert_non_null(f = fopen(path, "w"));
	fputs("[daemon]\n", f);
	fclose(f);
	assert_non_null(text = ini_read_file(path, &len, err, sizeof err));
	assert_int_equal(len, 9);
	assert_string_equal(text, "[daemon]\n");
	free(text);
	unlink(path);
	rmdir(dir);
	free(path);
}

static void
test_columns(void **state)
{
	(void)state;
	assert_int_equal(ini_columns("", 0), 0);
	assert_int_equal(ini_columns("abc", 3), 3);
	assert_int_equal(ini_columns("caf\xc3\xa9!", 6), 5);
	assert_int_equal(ini_columns("\xe6\x9c\x9d\xe9\xb2\x9c", 6), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_continued),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_columns),
	};

	return cmocka_run_group_tests_name("ini", tests, NULL, NULL);
}
