/*
 * test_store.c - reading replies through store's accessors (replies made
 * by hiredis's reader from RESP text), and key names (keys.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/keys.h"
#include "wirewatch/store.h"

#define RESP(s) store_reply_parse(s, sizeof s - 1)

/* An array of every type, read element by element. */
static void
test_reply_types(void **state)
{
	struct store_reply *r = RESP("*6\r\n:42\r\n$5\r\nab\0cd\r\n+OK\r\n"
	    "-ERR no\r\n$-1\r\n*1\r\n$3\r\n17x\r\n");
	const struct store_reply *e;
	size_t len;

	(void)state;
	assert_non_null(r);
	assert_int_equal(store_reply_type(r), STORE_ARRAY);
	assert_int_equal(store_reply_len(r), 6);
	assert_int_equal(store_reply_type(store_reply_elem(r, 0)), STORE_INT);
	assert_int_equal(store_reply_int(store_reply_elem(r, 0)), 42);
	assert_null(store_reply_str(store_reply_elem(r, 0), NULL));
	/* a string keeps its length past a NUL */
	e = store_reply_elem(r, 1);
	assert_int_equal(store_reply_type(e), STORE_STRING);
	assert_memory_equal(store_reply_str(e, &len), "ab\0cd", 5);
	assert_int_equal(len, 5);
	assert_false(store_reply_is(e, "ab"));
	e = store_reply_elem(r, 2);
	assert_int_equal(store_reply_type(e), STORE_STATUS);
	assert_true(store_reply_is(e, "OK"));
	assert_false(store_reply_is(e, "OKAY"));
	e = store_reply_elem(r, 3);
	assert_int_equal(store_reply_type(e), STORE_ERROR);
	assert_string_equal(store_reply_str(e, NULL), "ERR no");
	assert_false(store_reply_is(e, "ERR no"));
	assert_int_equal(store_reply_type(store_reply_elem(r, 4)), STORE_NIL);
	/* a string read as a number: its leading digits */
	e = store_reply_elem(store_reply_elem(r, 5), 0);
	assert_int_equal(store_reply_int(e), 17);
	/* out of range, or not an array: nil, no elements */
	assert_null(store_reply_elem(r, 6));
	assert_int_equal(store_reply_type(store_reply_elem(r, 6)), STORE_NIL);
	assert_int_equal(store_reply_len(store_reply_elem(r, 0)), 0);
	assert_null(store_reply_elem(store_reply_elem(r, 0), 0));
	assert_int_equal(store_reply_int(NULL), 0);
	assert_null(store_reply_str(NULL, &len));
	store_reply_free(r);
	/* incomplete or no RESP: no reply */
	assert_null(RESP("*2\r\n:1\r\n"));
	assert_null(RESP("hello"));
}

static void
test_keys_name(void **state)
{
	char *k;

	(void)state;
	k = keys_name("ww:", KEY_OUTBOX, NULL);
	assert_string_equal(k, "ww:outbox");
	free(k);
	k = keys_name("p:", KEY_LEASE, "feed one", NULL);
	assert_string_equal(k, "p:lease:feed one");
	free(k);
	k = keys_name("ww:", KEY_ALERTED, "abc", "w1", NULL);
	assert_string_equal(k, "ww:alerted:abc:w1");
	free(k);
	k = keys_name("", KEY_RT_CHANGED, NULL);
	assert_string_equal(k, "rt:changed");
	free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_types),
		cmocka_unit_test(test_keys_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
