/*
 * test_story_redis.c - the Redis side of stories (story_redis.h): the
 * day keys byte for byte as existing data and the function library have
 * them; the candidates of a ww_story_cands reply, read from RESP text
 * (store_reply_parse); the refs counted and picked as ww_story_cands picks
 * them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/keys.h"
#include "wirewatch/store.h"
#include "wirewatch/story.h"
#include "wirewatch/story_redis.h"
#include "wirewatch/util.h"

#define T0 1752300000 /* day 20281 */

static const char wire[] =
    "North Korean leader Kim Jong Un told Russian Foreign Minister Sergei "
    "Lavrov that Pyongyang would unconditionally support Moscow.";

static void
test_day_keys(void **state)
{
	uint64_t bands[STORY_BANDS] = { 0 };
	struct story_cmd cmd;
	struct story_sig sig;
	char *k;

	(void)state;
	k = story_redis_day_key("ww:", KEY_STORY_BANDS, T0);
	assert_string_equal(k, "ww:story:b:20281");
	free(k);
	k = story_redis_day_key("x:", KEY_STORY_SIGS, 20281LL * 86400 - 1);
	assert_string_equal(k, "x:story:s:20280");
	free(k);
	k = story_redis_day_key("ww:", KEY_STORY_SIGS, -1);
	assert_string_equal(k, "ww:story:s:-1");
	free(k);

	/* FCALL_RO ww_story_cands 6: 3 band hashes, then 3 signature hashes */
	story_redis_lookup_cmd("ww:", bands, T0 - 2 * 86400, T0, &cmd);
	assert_int_equal(cmd.argc, 4 + 6 + STORY_BANDS);
	assert_string_equal(cmd.argv[2], "6");
	assert_string_equal(cmd.argv[3], "ww:story:b:20279");
	assert_string_equal(cmd.argv[5], "ww:story:b:20281");
	assert_string_equal(cmd.argv[6], "ww:story:s:20279");
	assert_string_equal(cmd.argv[8], "ww:story:s:20281");
	story_cmd_free(&cmd);

	story_sig_from_text("Kim backs Russia", wire, T0, &sig);
	story_redis_add_cmd("ww:", 48 * 3600, "0123456789abcdef", bands, &sig, &cmd);
	assert_string_equal(cmd.argv[3], "ww:story:b:20281");
	assert_string_equal(cmd.argv[4], "ww:story:s:20281");
	story_cmd_free(&cmd);
}

/* A ww_story_cands reply: its signatures no older than since, the rest skipped. */
static void
test_parse_cands(void **state)
{
	struct story_sig a, old, *out = NULL;
	struct store_reply *r;
	struct buf b = { 0 };
	size_t n = 0, cap = 0;
	char *ha, *ho;

	(void)state;
	story_sig_from_text("Kim backs Russia in talks with Lavrov", wire, T0, &a);
	a.story = 0x0123456789abcdefULL;
	a.story_start = T0 - 5;
	old = a;
	old.time = T0 - 3 * 86400;
	ha = story_redis_sig_hex(&a);
	ho = story_redis_sig_hex(&old);
	buf_addf(&b, "*5\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$-1\r\n$3\r\nxyz\r\n:7\r\n",
	    strlen(ha), ha, strlen(ho), ho);
	r = store_reply_parse(b.s, b.len);
	assert_non_null(r);
	assert_int_equal(story_redis_parse_cands(r, T0 - 86400, &out, &n, &cap), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(&out[0], &a, sizeof a);
	store_reply_free(r);

	r = store_reply_parse(":0\r\n", 4);
	assert_non_null(r);
	assert_int_equal(story_redis_parse_cands(r, 0, &out, &n, &cap), -1);
	assert_int_equal(n, 1);
	store_reply_free(r);
	assert_int_equal(story_redis_parse_cands(NULL, 0, &out, &n, &cap), -1);

	free(out);
	free(ha);
	free(ho);
	buf_free(&b);
}

/* The most bands first, the later seen first among equals, then by day. */
static void
test_refs_pick(void **state)
{
	struct story_refs rs = { 0 };
	char refs[4][STORY_IDLEN];
	int days[4];

	(void)state;
	story_refs_add(&rs, 0, "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb", 32);
	story_refs_add(&rs, 1, "cccccccccccccccc", 16);
	story_refs_add(&rs, 1, "bbbbbbbbbbbbbbbbdddddddddddddddd", 32);
	assert_int_equal(story_refs_pick(&rs, 3, refs, days), 3);
	/* b (2 bands) and the newest of the ones with one, d, then c */
	assert_string_equal(refs[0], "bbbbbbbbbbbbbbbb");
	assert_int_equal(days[0], 0);
	assert_string_equal(refs[1], "dddddddddddddddd");
	assert_int_equal(days[1], 1);
	assert_string_equal(refs[2], "cccccccccccccccc");
	assert_int_equal(days[2], 1);
	story_refs_free(&rs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_day_keys),
		cmocka_unit_test(test_parse_cands),
		cmocka_unit_test(test_refs_pick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
