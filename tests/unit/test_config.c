/*
 * test_config.c - wirewatch.conf loading and every kind of error, with the
 * exact FILE:LINE the user is pointed at.
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

#include "wirewatch/config.h"
#include "wirewatch/util.h"

static char tmpdir[] = "/tmp/ww-test-config-XXXXXX";

/* Writes text to tmpdir/name, with an absolute entities path prepended
 * where the text says @ENT@. */
static char *
write_conf(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	char cwd[4096];
	struct buf b = {0};
	const char *p = text, *at;
	FILE *f;

	assert_non_null(getcwd(cwd, sizeof cwd));
	while ((at = strstr(p, "@ENT@")) != NULL) {
		buf_add(&b, p, (size_t)(at - p));
		buf_addf(&b, "%s/conf/entities", cwd);
		p = at + 5;
	}
	buf_adds(&b, p);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(b.s, f);
	fclose(f);
	buf_free(&b);
	return path;
}

static void
expect_error(const char *text, int line, const char *msg)
{
	char err[WW_ERRLEN], *path = write_conf("bad.conf", text), *want;
	struct config *cfg = config_load(path, err, sizeof err);

	assert_null(cfg);
	want = xasprintf("%s:%d: %s", path, line, msg);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got  '%s'\nwant '%s...'", err, want);
	free(want);
	free(path);
}

#define HEAD "[daemon]\nredis = 127.0.0.1:6379\nentities = @ENT@\n"

static void
test_full_config(void **state)
{
	char err[WW_ERRLEN], *path;
	struct config *cfg;

	(void)state;
	path = write_conf("good.conf",
	    "; comment\n"
	    "# another\n"
	    "[daemon]\n"
	    "redis = unix:/run/redis/redis.sock   ; inline comment\n"
	    "prefix = test:\n"
	    "seen-ttl = 2d\n"
	    "entities = @ENT@\n"
	    "user-agent = tester/1\n"
	    "max-body = 2M\n"
	    "connect-timeout = 5s\n"
	    "fetch-timeout = 1m\n"
	    "max-redirects = 3\n"
	    "per-host-connections = 4\n"
	    "max-connections = 10\n"
	    "startup-spread = 0\n"
	    "\n"
	    "[watchlist \"w1\"]\n"
	    "query = treaty OR pact\n"
	    "sinks = chat, console\n"
	    "[feed \"qna\"]\n"
	    "url = https://example.org/rss.xml\n"
	    "interval = 5m\n"
	    "adaptive = yes\n"
	    "min-interval = 1m\n"
	    "max-interval = 1h\n"
	    "[feed \"local\"]\n"
	    "url = file:///tmp/x.xml\n"
	    "[sink \"chat\"]\n"
	    "type = webhook\n"
	    "url = http://127.0.0.1:9/hook\n"
	    "timeout = 3s\n"
	    "retries = 5\n"
	    "retry-delay = 2s\n"
	    "[sink \"console\"]\n"
	    "type = console\n");
	cfg = config_load(path, err, sizeof err);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_string_equal(cfg->redis, "unix:/run/redis/redis.sock");
	assert_string_equal(cfg->prefix, "test:");
	assert_int_equal(cfg->seen_ttl, 2 * 86400);
	assert_string_equal(cfg->user_agent, "tester/1");
	assert_int_equal(cfg->max_body, 2 * 1024 * 1024);
	assert_int_equal(cfg->connect_timeout, 5);
	assert_int_equal(cfg->fetch_timeout, 60);
	assert_int_equal(cfg->max_redirects, 3);
	assert_int_equal(cfg->per_host, 4);
	assert_int_equal(cfg->max_concurrent, 10);
	assert_int_equal(cfg->startup_spread, 0);
	assert_int_equal(cfg->nfeeds, 2);
	assert_string_equal(cfg->feeds[0].name, "qna");
	assert_int_equal(cfg->feeds[0].line, 20);
	assert_int_equal(cfg->feeds[0].interval, 300);
	assert_int_equal(cfg->feeds[0].adaptive, 1);
	assert_int_equal(cfg->feeds[0].min_interval, 60);
	assert_int_equal(cfg->feeds[0].max_interval, 3600);
	/* defaults */
	assert_int_equal(cfg->feeds[1].interval, 300);
	assert_int_equal(cfg->feeds[1].adaptive, 0);
	assert_int_equal(cfg->nwatchlists, 1);
	assert_int_equal(cfg->watchlists[0].nsinks, 2);
	assert_string_equal(cfg->sinks[cfg->watchlists[0].sinks[0]].name, "chat");
	assert_string_equal(cfg->sinks[cfg->watchlists[0].sinks[1]].name, "console");
	assert_int_equal(cfg->sinks[0].type, SINK_WEBHOOK);
	assert_int_equal(cfg->sinks[0].timeout_ms, 3000);
	assert_int_equal(cfg->sinks[0].retries, 5);
	assert_int_equal(cfg->sinks[0].retry_base_ms, 2000);
	assert_int_equal(cfg->sinks[1].type, SINK_CONSOLE);
	assert_non_null(cfg->matcher);
	config_free(cfg);
	free(path);
}

static void
test_defaults_and_relative_entities(void **state)
{
	char err[WW_ERRLEN], *path, *link, *target, cwd[4096];
	struct config *cfg;

	(void)state;
	/* entities relative to the config file's directory */
	assert_non_null(getcwd(cwd, sizeof cwd));
	link = xasprintf("%s/ents", tmpdir);
	unlink(link);
	target = xasprintf("%s/conf/entities", cwd);
	assert_int_equal(symlink(target, link), 0);
	free(target);
	path = write_conf("rel.conf", "[daemon]\nredis = localhost:6379\nentities = ents\n");
	cfg = config_load(path, err, sizeof err);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_string_equal(cfg->prefix, "ww:");
	assert_int_equal(cfg->seen_ttl, 30 * 86400);
	assert_int_equal(cfg->max_body, 8 * 1024 * 1024);
	assert_int_equal(cfg->per_host, 2);
	assert_int_equal(cfg->startup_spread, -1);
	assert_non_null(strstr(cfg->user_agent, "wirewatch/"));
	assert_string_equal(cfg->entities, link);
	config_free(cfg);
	free(path);
	free(link);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error(HEAD "[feed \"qna\"]\nurl = http://x/\nintervall = 5m\n", 6,
	    "unknown key 'intervall' in [feed \"qna\"]");
	expect_error(HEAD "[feed \"qna\"]\nurl =\n", 5, "missing value for 'url'");
	expect_error(HEAD "[feed \"qna\"]\nurl = ftp://x/\n", 5, "feed \"qna\": url 'ftp://x/'");
	expect_error(HEAD "[feed \"qna\"]\nurl = http://x/\ninterval = 5 minutes\n", 6,
	    "bad duration '5 minutes' for 'interval'");
	expect_error(HEAD "[feed \"qna\"]\ninterval = 5m\n", 4, "feed \"qna\": missing 'url'");
	expect_error(HEAD "[feeds \"qna\"]\nurl = http://x/\n", 4, "unknown section [feeds \"qna\"]");
	expect_error(HEAD "[feed]\nurl = http://x/\n", 4, "section [feed] needs a quoted name");
	expect_error(HEAD "[feed \"a\"]\nurl = http://x/\n[feed \"b\"]\nurl = http://y/\n"
	    "[feed \"a\"]\nurl = http://z/\n", 8, "duplicate section [feed \"a\"]");
	expect_error(HEAD "[watchlist \"w\"]\nquery = treaty\nsinks = ops\n"
	    "[sink \"chat\"]\ntype = console\n", 6, "watchlist \"w\": unknown sink 'ops'");
	expect_error(HEAD "[watchlist \"w\"]\nquery = (treaty\nsinks = c\n"
	    "[sink \"c\"]\ntype = console\n", 5, "watchlist \"w\": query: ");
	expect_error(HEAD "[watchlist \"w\"]\nquery = @Atlantis AND treaty\nsinks = c\n"
	    "[sink \"c\"]\ntype = console\n", 5, "watchlist \"w\": query: ");
	expect_error(HEAD "[watchlist \"w\"]\nsinks = c\n[sink \"c\"]\ntype = console\n", 4,
	    "watchlist \"w\": missing 'query'");
	expect_error(HEAD "[sink \"c\"]\ntype = pager\n", 5, "sink \"c\": unknown type 'pager'");
	expect_error(HEAD "[sink \"c\"]\ntype = webhook\n", 4, "sink \"c\": a webhook needs 'url'");
	expect_error(HEAD "[daemon]\nmax-body = lots\n", 5, "bad size 'lots' for 'max-body'");
	expect_error(HEAD "this line has no equals sign\n", 4, "syntax error");
	expect_error("[daemon]\nredis = localhost:6379\nentities = /nonexistent/dir\n", 3,
	    "entities directory /nonexistent/dir: No such file or directory");
}

static void
test_missing_file(void **state)
{
	char err[WW_ERRLEN];

	(void)state;
	assert_null(config_load("/nonexistent/wirewatch.conf", err, sizeof err));
	assert_string_equal(err, "/nonexistent/wirewatch.conf: No such file or directory");
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int rc;

	(void)state;
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_defaults_and_relative_entities),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
