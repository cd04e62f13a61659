/*
 * test_control.c - the control socket's request decoder (control_decode):
 * what it accepts, what it refuses and with which message, and the line
 * length limit at its exact edge.
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

#include "wirewatch/control.h"
#include "wirewatch/util.h"

static void
accepts(const char *line, const char *cmd)
{
	struct control_request r;
	char err[WW_ERRLEN] = "";

	if (control_decode(line, strlen(line), &r, err, sizeof err) != 0)
		fail_msg("control_decode(%s) failed: %s", line, err);
	assert_string_equal(r.cmd, cmd);
	assert_true(json_is_object(r.req));
	control_request_clear(&r);
	assert_null(r.req);
}

/* Refused, with a message containing want. */
static void
refuses_n(const char *line, size_t len, const char *want)
{
	struct control_request r;
	char err[WW_ERRLEN] = "";

	if (control_decode(line, len, &r, err, sizeof err) != -1)
		fail_msg("control_decode(%.80s) accepted it (cmd %s)", line, r.cmd);
	assert_null(r.req);
	assert_null(r.id);
	if (strstr(err, want) == NULL)
		fail_msg("control_decode(%.80s): error \"%s\", want \"%s\"", line, err, want);
}

static void
refuses(const char *line, const char *want)
{
	refuses_n(line, strlen(line), want);
}

static void
test_valid(void **state)
{
	(void)state;
	accepts("{\"v\":1,\"cmd\":\"status\"}", "status");
	accepts("  {\"cmd\":\"feeds\", \"v\":1}  ", "feeds");
	accepts("{\"v\":1,\"cmd\":\"ping\"}\r", "ping");
	accepts("{\"v\":1,\"cmd\":\"watchlist.add\",\"name\":\"x\",\"query\":\"a\"}",
	    "watchlist.add");
	accepts("{\"v\":1,\"cmd\":\"a-b_c.9\"}", "a-b_c.9");
	accepts("{\"v\":1,\"cmd\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static void
test_id(void **state)
{
	struct control_request r;
	char err[WW_ERRLEN];
	const char *line = "{\"v\":1,\"cmd\":\"ping\",\"id\":\"abc\"}";

	(void)state;
	assert_int_equal(control_decode(line, strlen(line), &r, err, sizeof err), 0);
	assert_string_equal(json_string_value(r.id), "abc");
	control_request_clear(&r);
	line = "{\"v\":1,\"cmd\":\"ping\",\"id\":42}";
	assert_int_equal(control_decode(line, strlen(line), &r, err, sizeof err), 0);
	assert_int_equal(json_integer_value(r.id), 42);
	control_request_clear(&r);
	refuses("{\"v\":1,\"cmd\":\"ping\",\"id\":[1]}", "\"id\" must be");
	refuses("{\"v\":1,\"cmd\":\"ping\",\"id\":1.5}", "\"id\" must be");
}

static void
test_bad_json(void **state)
{
	(void)state;
	refuses("{\"v\":1,\"cmd\":\"status\"", "bad JSON at column");
	refuses("{\"v\":1,\"cmd\":\"status\"} trailing", "bad JSON");
	refuses("{\"v\":1,\"cmd\":\"status\"}{\"v\":1,\"cmd\":\"ping\"}", "bad JSON");
	refuses("nope", "bad JSON at column 4");
	refuses("{\"v\":1,\"cmd\":\"status\",\"cmd\":\"ping\"}", "bad JSON");
	refuses("{\"v\":1,\"cmd\":\"st\\u0000atus\"}", "bad JSON");
	refuses_n("{\"v\":1,\"cmd\":\"st\0atus\"}", 23, "bad JSON");
	refuses("{\"v\":1,\"cmd\":\"status\",\"x\":\"\xff\xfe\"}", "bad JSON");
	refuses("", "empty request");
	refuses(" \t\r", "empty request");
}

static void
test_not_object(void **state)
{
	(void)state;
	refuses("[{\"v\":1,\"cmd\":\"status\"}]", "a request is a JSON object");
	refuses("\"status\"", "a request is a JSON object");
	refuses("1", "a request is a JSON object");
	refuses("null", "a request is a JSON object");
}

static void
test_cmd(void **state)
{
	(void)state;
	refuses("{\"v\":1}", "missing \"cmd\"");
	refuses("{\"v\":1,\"command\":\"status\"}", "missing \"cmd\"");
	refuses("{\"v\":1,\"cmd\":7}", "\"cmd\" must be a string");
	refuses("{\"v\":1,\"cmd\":null}", "\"cmd\" must be a string");
	refuses("{\"v\":1,\"cmd\":\"\"}", "bad \"cmd\"");
	refuses("{\"v\":1,\"cmd\":\"Status\"}", "bad \"cmd\"");
	refuses("{\"v\":1,\"cmd\":\"status now\"}", "bad \"cmd\"");
	refuses("{\"v\":1,\"cmd\":\"st\\u00e4tus\"}", "bad \"cmd\"");
	refuses("{\"v\":1,\"cmd\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
	    "bad \"cmd\"");
}

static void
test_version(void **state)
{
	(void)state;
	refuses("{\"cmd\":\"status\"}", "missing \"v\"");
	refuses("{\"v\":2,\"cmd\":\"status\"}", "unsupported protocol version 2");
	refuses("{\"v\":0,\"cmd\":\"status\"}", "unsupported protocol version 0");
	refuses("{\"v\":\"1\",\"cmd\":\"status\"}", "\"v\" must be a number");
	refuses("{\"v\":1.0,\"cmd\":\"status\"}", "\"v\" must be a number");
	refuses("{\"v\":99999999999999999999,\"cmd\":\"status\"}", "bad JSON");
}

/* A request padded with spaces to n bytes. */
static char *
padded(size_t n)
{
	const char *req = "{\"v\":1,\"cmd\":\"status\"}";
	char *s = xmalloc(n + 1);

	memset(s, ' ', n);
	memcpy(s, req, strlen(req));
	s[n] = '\0';
	return s;
}

static void
test_huge_line(void **state)
{
	struct control_request r;
	char err[WW_ERRLEN], *s;

	(void)state;
	/* Exactly the limit is a request; one byte more is not, valid or not. */
	s = padded(CONTROL_MAX_LINE);
	assert_int_equal(control_decode(s, CONTROL_MAX_LINE, &r, err, sizeof err), 0);
	assert_string_equal(r.cmd, "status");
	control_request_clear(&r);
	free(s);
	s = padded(CONTROL_MAX_LINE + 1);
	refuses_n(s, CONTROL_MAX_LINE + 1, "request line too long (1048577 bytes");
	free(s);
	s = padded(2 * CONTROL_MAX_LINE);
	refuses_n(s, 2 * CONTROL_MAX_LINE, "request line too long");
	free(s);
}

static void
test_deep_nesting(void **state)
{
	size_t n = 100000, i;
	char *s = xmalloc(2 * n + 64);

	(void)state;
	/* An argument nested deeper than jansson parses is an error, not a crash. */
	i = (size_t)sprintf(s, "{\"v\":1,\"cmd\":\"x\",\"a\":");
	memset(s + i, '[', n);
	memset(s + i + n, ']', n);
	strcpy(s + i + 2 * n, "}");
	refuses(s, "bad JSON");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_cmd),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_huge_line),
		cmocka_unit_test(test_deep_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
