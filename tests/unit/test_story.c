/*
 * test_story.c - story identity: wire copies by SimHash, rewrites by the
 * term score, the time gap, the window, the in-memory store, packing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "wirewatch/story.h"

#define T0 1752350000 /* 12 July 2025 */

static const char *wire =
    "North Korean leader Kim Jong Un told visiting Russian Foreign Minister Sergei "
    "Lavrov that Pyongyang would back every step the Kremlin takes over Ukraine, state "
    "media KCNA reported on Sunday. The two met on Saturday in the coastal city of "
    "Wonsan, where Lavrov had held talks a day earlier with his counterpart Choe "
    "Son-hui. Kim said the North would unconditionally support the Russian leadership.";

static void
test_wire_copy_is_simhash_close(void **state)
{
	struct story_sig a, b;
	char *copy = malloc(strlen(wire) + 64);

	(void)state;
	sprintf(copy, "(Capital Ledger) - %s Editing by the desk.", wire);
	story_sig_from_text("Kim backs Russia in talks with Lavrov", wire, T0, &a);
	story_sig_from_text("Kim pledges support to Moscow", copy, T0 + 600, &b);
	assert_true(a.simhash != 0);
	assert_true(story_hamming(a.simhash, b.simhash) <= STORY_SIMHASH_MAX);
	assert_true(story_score(&a, &b, 3) == 1.0);
	free(copy);
}

static void
test_rewrite_and_unrelated(void **state)
{
	struct story_sig a, b, c;
	struct story_params p;

	(void)state;
	story_params_default(&p);
	story_sig_from_text("Kim tells Lavrov North Korea stands behind Moscow", wire, T0, &a);
	story_sig_from_text("Lavrov meets Kim in Wonsan as Pyongyang pledges support for Russia",
	    "North Korea's leader pledged unconditional backing for Russia's actions in Ukraine "
	    "during a meeting with Sergei Lavrov, KCNA said. Kim and the Russian foreign minister "
	    "met in Wonsan.", T0 + 3 * 3600, &b);
	story_sig_from_text("ECB cuts deposit rate to 2% and signals pause",
	    "The European Central Bank lowered its deposit rate by a quarter point to 2.0% on "
	    "Thursday. President Christine Lagarde said the bank was in a good position.",
	    T0 + 3600, &c);
	assert_true(story_score(&a, &b, p.min_shared) >= story_threshold(&p, 3 * 3600));
	assert_true(story_score(&a, &c, p.min_shared) < story_threshold(&p, 3600));
	assert_true(story_score(&a, &c, p.min_shared) == 0); /* fewer than 3 shared terms */
}

/* The same text a day and a half later needs a far better score. */
static void
test_threshold_rises_with_gap(void **state)
{
	struct story_params p;

	(void)state;
	story_params_default(&p);
	assert_true(p.window == 48 * 3600);
	assert_true(story_threshold(&p, 0) < story_threshold(&p, 6 * 3600));
	assert_true(story_threshold(&p, 36 * 3600) > 0.5);
	assert_true(story_threshold(&p, -36 * 3600) == story_threshold(&p, 36 * 3600));
}

static void
test_store_groups_and_window(void **state)
{
	struct story_memstore *m = story_memstore_new();
	struct story_store st = story_memstore_store(m);
	struct story_params p;
	struct story_sig a, b, c, d;
	char err[256];
	int is_new;

	(void)state;
	story_params_default(&p);
	story_sig_from_text("Kim backs Russia in talks with Lavrov", wire, T0, &a);
	assert_int_equal(story_assign(&p, &st, "item-a", &a, &is_new, err, sizeof err), 0);
	assert_true(is_new);
	assert_true(a.story == story_id_from("item-a"));
	assert_true(a.story_start == T0);

	/* a wire copy an hour later joins a's story */
	story_sig_from_text("Kim pledges support to Moscow", wire, T0 + 3600, &b);
	assert_int_equal(story_assign(&p, &st, "item-b", &b, &is_new, err, sizeof err), 0);
	assert_false(is_new);
	assert_true(b.story == a.story);
	assert_true(b.story_start == T0);

	/* the same text past the window starts a new story */
	story_sig_from_text("Kim pledges support to Moscow", wire, T0 + 49 * 3600, &c);
	assert_int_equal(story_assign(&p, &st, "item-c", &c, &is_new, err, sizeof err), 0);
	assert_true(is_new);
	assert_true(c.story != a.story);

	/* a longer window takes it */
	p.window = 72 * 3600;
	story_sig_from_text("Kim pledges support to Moscow", wire, T0 + 49 * 3600, &d);
	assert_int_equal(story_assign(&p, &st, "item-d", &d, &is_new, err, sizeof err), 0);
	assert_false(is_new);
	story_memstore_free(m);
}

static void
test_pack_roundtrip(void **state)
{
	unsigned char buf[STORY_SIG_HEADER + 4 * STORY_TERMS];
	struct story_sig a, b;
	size_t n;

	(void)state;
	story_sig_from_text("Kim backs Russia in talks with Lavrov", wire, T0, &a);
	a.story = 0x0123456789abcdefULL;
	a.story_start = T0 - 5;
	n = story_sig_pack(&a, buf);
	assert_int_equal(n, STORY_SIG_HEADER + 4 * a.nterms);
	assert_int_equal(story_sig_unpack(buf, n, &b), 0);
	assert_memory_equal(&a, &b, sizeof a);
	assert_int_equal(story_sig_unpack(buf, n - 1, &b), -1);
	assert_int_equal(story_sig_unpack(buf, 10, &b), -1);
}

static void
test_ids(void **state)
{
	char s[STORY_IDLEN];
	uint64_t id;

	(void)state;
	story_id_format(0xabcdef0123456789ULL, s);
	assert_string_equal(s, "abcdef0123456789");
	assert_int_equal(story_id_parse(s, &id), 0);
	assert_true(id == 0xabcdef0123456789ULL);
	assert_int_equal(story_id_parse("xyz", &id), -1);
	assert_true(story_id_from("a") != story_id_from("b"));
}

/* Empty and title-only items are items like any other: no crash, no match by accident. */
static void
test_empty(void **state)
{
	struct story_sig a, b;

	(void)state;
	story_sig_from_text(NULL, NULL, T0, &a);
	story_sig_from_text("", "", T0, &b);
	assert_int_equal(a.nterms, 0);
	assert_true(a.simhash == 0);
	assert_true(story_score(&a, &b, 3) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_copy_is_simhash_close),
		cmocka_unit_test(test_rewrite_and_unrelated),
		cmocka_unit_test(test_threshold_rises_with_gap),
		cmocka_unit_test(test_store_groups_and_window),
		cmocka_unit_test(test_pack_roundtrip),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
