/*
 * test_scheduler.c - feed timing: spread, backoff, ceiling, Retry-After,
 * adaptive intervals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wirewatch/scheduler.h"

static void
test_first_poll_spread(void **state)
{
	struct sched_state st;
	long d, lo = 1L << 30, hi = 0;
	unsigned r;

	(void)state;
	sched_init(&st, 300, 0, 0, 0);
	for (r = 0; r < 100000; r += 997) {
		d = sched_first_delay_ms(&st, 60, r * 2654435761u);
		assert_true(d >= 0 && d < 60000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	/* Spread over the window, not bunched at one instant. */
	assert_true(lo < 5000);
	assert_true(hi > 55000);
	/* A short interval bounds the window. */
	sched_init(&st, 10, 0, 0, 0);
	assert_true(sched_first_delay_ms(&st, 60, 123456789u) < 10000);
}

static void
test_ok_poll_keeps_interval_with_jitter(void **state)
{
	struct sched_state st;
	long d;
	unsigned r;

	(void)state;
	sched_init(&st, 300, 0, 0, 0);
	for (r = 0; r < 1000; r++) {
		d = sched_after_poll_ms(&st, 1, 0, 0, r * 7919u);
		assert_in_range(d, 270000, 330000);
	}
	assert_int_equal(st.failures, 0);
}

static void
test_backoff_grows_to_ceiling_and_never_stops(void **state)
{
	struct sched_state st;
	long d, prev = 0;
	int i;

	(void)state;
	sched_init(&st, 300, 0, 0, 0);
	for (i = 0; i < 40; i++) {
		d = sched_after_poll_ms(&st, 0, 0, 0, 0);
		/* rnd 0 gives the low edge of the jitter: -10% */
		assert_true(d > 0);
		assert_true(d <= SCHED_BACKOFF_CEILING * 1000L);
		if (i < 6)
			assert_true(d > prev);
		prev = d;
	}
	assert_int_equal(st.failures, 40);
	assert_true(prev >= SCHED_BACKOFF_CEILING * 900L);
	/* Recovery returns to the interval at once. */
	d = sched_after_poll_ms(&st, 1, 0, 0, 0);
	assert_in_range(d, 270000, 300000);
	assert_int_equal(st.failures, 0);
}

static void
test_retry_after_is_honoured(void **state)
{
	struct sched_state st;
	long d;

	(void)state;
	sched_init(&st, 60, 0, 0, 0);
	d = sched_after_poll_ms(&st, 0, 0, 1800, 0);
	assert_true(d >= 1800 * 900L);
	d = sched_after_poll_ms(&st, 1, 0, 600, 0);
	assert_true(d >= 600 * 900L);
}

static void
test_adaptive_within_bounds(void **state)
{
	struct sched_state st;
	int i;

	(void)state;
	sched_init(&st, 600, 1, 120, 2400);
	for (i = 0; i < 50; i++)
		sched_after_poll_ms(&st, 1, 5, 0, 0);
	assert_int_equal(st.current, 120);
	for (i = 0; i < 50; i++)
		sched_after_poll_ms(&st, 1, 0, 0, 0);
	assert_int_equal(st.current, 2400);
	/* Not adaptive: the interval never moves. */
	sched_init(&st, 600, 0, 120, 2400);
	for (i = 0; i < 10; i++)
		sched_after_poll_ms(&st, 1, 5, 0, 0);
	assert_int_equal(st.current, 600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_poll_spread),
		cmocka_unit_test(test_ok_poll_keeps_interval_with_jitter),
		cmocka_unit_test(test_backoff_grows_to_ceiling_and_never_stops),
		cmocka_unit_test(test_retry_after_is_honoured),
		cmocka_unit_test(test_adaptive_within_bounds),
	};

	return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
