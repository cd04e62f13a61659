/*
 * test_stats.c - the /metrics table: exposition text (HELP/TYPE, label
 * escaping, histogram buckets cumulative with +Inf, _sum, _count), alerts
 * counted only when Redis queued them, poll outcomes, and the metrics
 * address parser shared with -t.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/metrics.h"
#include "wirewatch/outbox.h"
#include "wirewatch/stats.h"
#include "wirewatch/util.h"

static char *
render(void)
{
	struct buf b = {0};

	stats_render(&b);
	return buf_steal(&b);
}

static void
counters_and_escaping(void **state)
{
	char *t;

	(void)state;
	stats_reset();
	stats_inc(STATS_POLLS, STATS_POLL_OK, NULL);
	stats_inc(STATS_POLLS, STATS_POLL_OK, NULL);
	stats_inc(STATS_POLLS, STATS_POLL_FAILED, NULL);
	stats_set(STATS_FEED_LAST_OK, "a \"quoted\\ name\nx", NULL, 1700000000);
	t = render();
	assert_non_null(strstr(t, "# TYPE wirewatch_polls_total counter\n"));
	assert_non_null(strstr(t, "wirewatch_polls_total{outcome=\"ok\"} 2\n"));
	assert_non_null(strstr(t, "wirewatch_polls_total{outcome=\"failed\"} 1\n"));
	assert_non_null(strstr(t, "wirewatch_feed_last_success_timestamp_seconds"
	    "{feed=\"a \\\"quoted\\\\ name\\nx\"} 1700000000\n"));
	/* A family nobody touched is not listed. */
	assert_null(strstr(t, "wirewatch_dead_letters_total"));
	free(t);
	stats_reset();
}

static void
histogram_buckets(void **state)
{
	char *t;

	(void)state;
	stats_reset();
	stats_observe(STATS_FETCH_SECONDS, "poll", 0.07);
	stats_observe(STATS_FETCH_SECONDS, "poll", 3);
	stats_observe(STATS_FETCH_SECONDS, "poll", 1000);
	t = render();
	assert_non_null(strstr(t, "# TYPE wirewatch_fetch_duration_seconds histogram\n"));
	assert_non_null(strstr(t, "wirewatch_fetch_duration_seconds_bucket{lane=\"poll\",le=\"0.05\"} 0\n"));
	assert_non_null(strstr(t, "wirewatch_fetch_duration_seconds_bucket{lane=\"poll\",le=\"0.1\"} 1\n"));
	assert_non_null(strstr(t, "wirewatch_fetch_duration_seconds_bucket{lane=\"poll\",le=\"5\"} 2\n"));
	assert_non_null(strstr(t, "wirewatch_fetch_duration_seconds_bucket{lane=\"poll\",le=\"60\"} 2\n"));
	assert_non_null(strstr(t, "wirewatch_fetch_duration_seconds_bucket{lane=\"poll\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(t, "wirewatch_fetch_duration_seconds_count{lane=\"poll\"} 3\n"));
	assert_non_null(strstr(t, "wirewatch_fetch_duration_seconds_sum{lane=\"poll\"} 1003.07"));
	free(t);
	stats_reset();
}

static void
alerts_counted_when_queued(void **state)
{
	struct outbox_alert a[2] = {
		{ "al_1", "ops", "w1", "{}" }, { "al_2", "chat", "w1", "{}" },
	};
	struct stats_hold *h;
	char *t;

	(void)state;
	stats_reset();
	h = stats_hold(a, 2);
	stats_hold_done(h, 0);          /* already seen: nothing queued */
	stats_hold_done(stats_hold(a, 2), 1);
	stats_hold_done(stats_hold(a, 1), 1);
	stats_hold_done(stats_hold(a, 0), 1); /* NULL hold */
	t = render();
	assert_non_null(strstr(t, "wirewatch_alerts_total{watchlist=\"w1\",sink=\"ops\"} 2\n"));
	assert_non_null(strstr(t, "wirewatch_alerts_total{watchlist=\"w1\",sink=\"chat\"} 1\n"));
	free(t);
	stats_reset();
}

static void
poll_outcomes(void **state)
{
	(void)state;
	assert_string_equal(stats_poll_outcome(0, 0, 0, 0), "ok");
	assert_string_equal(stats_poll_outcome(0, 0, 0, 1), "not_modified");
	assert_string_equal(stats_poll_outcome(1, 0, 0, 1), "failed");
	assert_string_equal(stats_poll_outcome(1, 1, 0, 0), "redis_error");
	assert_string_equal(stats_poll_outcome(1, 0, 1, 0), "stopped");
}

static void
many_series(void **state)
{
	char name[32], *t;
	int i;

	(void)state;
	stats_reset();
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof name, "feed-%d", i);
		stats_set(STATS_FEED_LAST_OK, name, NULL, i);
	}
	stats_set(STATS_FEED_LAST_OK, "feed-123", NULL, 42);
	t = render();
	assert_non_null(strstr(t, "{feed=\"feed-123\"} 42\n"));
	assert_non_null(strstr(t, "{feed=\"feed-19999\"} 19999\n"));
	free(t);
	stats_reset();
}

static void
metrics_address(void **state)
{
	char *host = NULL;
	int port = 0;

	(void)state;
	assert_null(metrics_addr_parse("127.0.0.1:9464", &host, &port));
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9464);
	free(host);
	assert_null(metrics_addr_parse("[::1]:1", &host, &port));
	assert_string_equal(host, "::1");
	free(host);
	assert_null(metrics_addr_parse("localhost:65535", NULL, NULL));
	assert_non_null(metrics_addr_parse("9464", NULL, NULL));
	assert_non_null(metrics_addr_parse("::1:9464", NULL, NULL));
	assert_non_null(metrics_addr_parse("127.0.0.1:0", NULL, NULL));
	assert_non_null(metrics_addr_parse("127.0.0.1:65536", NULL, NULL));
	assert_non_null(metrics_addr_parse("127.0.0.1:99999999999", NULL, NULL));
	assert_non_null(metrics_addr_parse("127.0.0.1:", NULL, NULL));
	assert_non_null(metrics_addr_parse(":9464", NULL, NULL));
	assert_non_null(metrics_addr_parse("http://h:1", NULL, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counters_and_escaping),
		cmocka_unit_test(histogram_buckets),
		cmocka_unit_test(alerts_counted_when_queued),
		cmocka_unit_test(poll_outcomes),
		cmocka_unit_test(many_series),
		cmocka_unit_test(metrics_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
