/*
 * test_config.c - wirewatch.conf loading and every kind of error, with the
 * exact FILE:LINE the user is pointed at: long and continued lines, hostile
 * files (empty, a directory, NUL bytes, binary), the redis address, masked
 * URLs, max-items and backfill, and many sections.
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

/* Writes len bytes as they are (NUL bytes, no @ENT@ expansion). */
static char *
write_raw(const char *name, const char *data, size_t len)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

/* The error for path is "path:LINE: msg..." (line > 0) or "path: msg...". */
static void
expect_error_at(const char *path, int line, const char *msg)
{
	char err[WW_ERRLEN], *want;
	struct config *cfg = config_load(path, err, sizeof err);

	if (cfg != NULL)
		fail_msg("%s loaded, want an error '%s'", path, msg);
	want = line > 0 ? xasprintf("%s:%d: %s", path, line, msg) :
	    xasprintf("%s: %s", path, msg);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got  '%s'\nwant '%s...'", err, want);
	free(want);
}

static struct config *
load_ok(const char *text)
{
	char err[WW_ERRLEN], *path = write_conf("ok.conf", text);
	struct config *cfg = config_load(path, err, sizeof err);

	if (cfg == NULL)
		fail_msg("%s", err);
	free(path);
	return cfg;
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

/* Debian's libinih refused any line over 198 characters. */
static void
test_long_lines(void **state)
{
	struct config *cfg;
	struct buf q = {0}, url = {0}, text = {0};
	int i;

	(void)state;
	buf_adds(&q, "@DPRK AND (");
	for (i = 0; i < 300; i++)
		buf_addf(&q, "%s\"term number %d\"", i ? " OR " : "", i);
	buf_adds(&q, ")");
	buf_adds(&url, "https://example.org/feeds/");
	for (i = 0; i < 60; i++)
		buf_adds(&url, "segment/");
	buf_adds(&url, "rss.xml?x=1");
	buf_addf(&text, HEAD "[feed \"long\"]\nurl = %s\n[watchlist \"w\"]\nquery = %s\n"
	    "sinks = c\n[sink \"c\"]\ntype = console\n", url.s, q.s);
	assert_true(q.len > 5000 && url.len > 400);
	cfg = load_ok(text.s);
	assert_string_equal(cfg->feeds[0].url, url.s);
	assert_string_equal(cfg->watchlists[0].query, q.s);
	config_free(cfg);
	/* Section and key names are not cut at 50 bytes either. */
	buf_reset(&text);
	buf_addf(&text, HEAD "[feed \"%0100d\"]\nurl = http://x/\n[feed \"%0101d\"]\n"
	    "url = http://y/\n", 1, 1);
	cfg = load_ok(text.s);
	assert_int_equal(cfg->nfeeds, 2);
	assert_int_equal(strlen(cfg->feeds[1].name), 101);
	config_free(cfg);
	buf_free(&q);
	buf_free(&url);
	buf_free(&text);
}

static void
test_continued_lines(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok(HEAD
	    "[watchlist \"w\"]\n"
	    "query = @DPRK AND\n"
	    "    (treaty OR   ; an inline comment\n"
	    "; a comment line inside the value\n"
	    "\t\"mutual defense\")\n"
	    "sinks = a,\n"
	    "  b\n"
	    "[sink \"a\"]\n"
	    "\ttype = console   ; git-config style indented keys\n"
	    "\t[sink \"b\"]\n"
	    "\ttype = console\n");
	assert_string_equal(cfg->watchlists[0].query,
	    "@DPRK AND (treaty OR \"mutual defense\")");
	assert_int_equal(cfg->watchlists[0].nsinks, 2);
	assert_int_equal(cfg->nsinks, 2);
	config_free(cfg);
	/* "key =" with the value on the lines below. */
	cfg = load_ok(HEAD "[watchlist \"w\"]\nquery =\n  treaty\nsinks =\n  c\n"
	    "[sink \"c\"]\ntype = console\n");
	assert_string_equal(cfg->watchlists[0].query, "treaty");
	config_free(cfg);
	/* Feeds indented like git config: no line continues another. */
	cfg = load_ok(HEAD "[feed \"f\"]\n\turl = http://x/\n\tinterval = 1m\n");
	assert_string_equal(cfg->feeds[0].url, "http://x/");
	assert_int_equal(cfg->feeds[0].interval, 60);
	config_free(cfg);
}

static void
test_continued_line_errors(void **state)
{
	(void)state;
	/* A URL cannot be split; the error says what continued what. */
	expect_error(HEAD "[feed \"f\"]\nurl = http://example.org/\n    rss.xml\n", 6,
	    "indented more than line 5, so it continues 'url', but only 'query' and "
	    "'sinks' can span lines");
	expect_error("[daemon]\nredis = localhost:6379\n  prefix = x\n", 3,
	    "indented more than line 2, so it continues 'redis'");
	/* A query error names the line and column the problem is on. */
	expect_error(HEAD "[watchlist \"w\"]\nquery = @DPRK AND\n    (treaty OR\n    pact\n"
	    "sinks = c\n[sink \"c\"]\ntype = console\n", 7,
	    "watchlist \"w\": query: column 5: expected ')' to close the '(' at line 6 column 1");
	expect_error(HEAD "[watchlist \"w\"]\nquery = treaty OR\n    @Atlantis\nsinks = c\n"
	    "[sink \"c\"]\ntype = console\n", 6, "watchlist \"w\": query: column 1: ");
	/* A key indented deeper than query would silently become query text. */
	expect_error(HEAD "[watchlist \"w\"]\nquery = treaty\n  sinks = c\n", 6,
	    "'sinks' is indented more than 'query' on line 5");
	/* A continuation indented less than its key. */
	expect_error(HEAD "[watchlist \"w\"]\n    query = treaty OR\n  pact\n", 6,
	    "syntax error (expected [section] or key = value; a line continuing the "
	    "value on line 5 must be indented more than it)");
	expect_error(HEAD "[feed \"f\"\nurl = http://x/\n", 4,
	    "syntax error: a [section] header ends with ']'");
	expect_error(HEAD "= x\n", 4, "syntax error: no key before '='");
}

static void
test_hostile_files(void **state)
{
	static const char nul[] = "[daemon]\nredis = localhost:6379\nprefix = ww\0evil:\n";
	static const char elf[] = "\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x03\x00>\x00";
	static const char latin1[] = "[daemon]\nredis = localhost:6379\n; caf\xe9\n";
	static const char bom[] = "\xef\xbb\xbf[daemon]\r\nredis = localhost:6379\r\n"
	    "entities = ";
	char *path, cwd[4096], *text;
	struct config *cfg;
	char err[WW_ERRLEN];

	(void)state;
	path = write_raw("empty.conf", "", 0);
	expect_error_at(path, 0, "empty configuration: no [daemon] section with 'redis'");
	free(path);
	path = write_raw("comments.conf", "; nothing\n\n# here\n", 18);
	expect_error_at(path, 0, "empty configuration: no [daemon] section with 'redis'");
	free(path);
	expect_error_at(tmpdir, 0, "is a directory");
	path = write_raw("nul.conf", nul, sizeof nul - 1);
	expect_error_at(path, 3, "NUL byte at column 12");
	free(path);
	path = write_raw("elf.conf", elf, sizeof elf - 1);
	expect_error_at(path, 1, "NUL byte at column 8");
	free(path);
	path = write_raw("latin1.conf", latin1, sizeof latin1 - 1);
	expect_error_at(path, 3, "not UTF-8 text");
	free(path);
	expect_error(HEAD "[feed \"f\"]\nurl = http://x/\x1b[31m\n", 5,
	    "control character 0x1b at column 16");
	expect_error(HEAD "[feed \"f\"]\rurl = http://x/\n", 4,
	    "control character 0x0d at column 11");
	/* A BOM and CRLF line ends are fine. */
	assert_non_null(getcwd(cwd, sizeof cwd));
	text = xasprintf("%s%s/conf/entities\r\n", bom, cwd);
	path = write_raw("bom.conf", text, strlen(text));
	cfg = config_load(path, err, sizeof err);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_string_equal(cfg->redis, "localhost:6379");
	config_free(cfg);
	free(path);
	free(text);
	/* Every section is registered, even without keys. */
	expect_error(HEAD "[sink \"c\"]\n", 4, "sink \"c\": missing 'type'");
	expect_error(HEAD "[feed \"a\"]\n[feed \"a\"]\n", 5,
	    "duplicate section [feed \"a\"] (first on line 4)");
}

static void
test_redis(void **state)
{
	struct config *cfg;

	(void)state;
	expect_error("; x\n[daemon]\nentities = @ENT@\n[feed \"f\"]\nurl = http://x/\n", 2,
	    "[daemon] has no 'redis' (unix:/path or host:port)");
	expect_error("[daemon]\nredis = redis://:hunter2@localhost:6379\n", 2,
	    "bad redis address 'redis://***@localhost:6379' (not a URL");
	expect_error("[daemon]\nredis = 127.0.0.1:99999\n", 2,
	    "bad redis address '127.0.0.1:99999' (the port must be 1 to 65535)");
	expect_error("[daemon]\nredis = 127.0.0.1:0\n", 2, "bad redis address");
	expect_error("[daemon]\nredis = 127.0.0.1:-1\n", 2, "bad redis address");
	expect_error("[daemon]\nredis = 127.0.0.1:63x\n", 2, "bad redis address");
	expect_error("[daemon]\nredis = localhost\n", 2,
	    "bad redis address 'localhost' (unix:/path or host:port)");
	expect_error("[daemon]\nredis = :6379\n", 2, "bad redis address");
	expect_error("[daemon]\nredis = unix:run/redis.sock\n", 2,
	    "bad redis address 'unix:run/redis.sock' (unix: needs an absolute path)");
	cfg = load_ok("[daemon]\nredis = ::1:6379\nentities = @ENT@\n");
	assert_string_equal(cfg->redis, "::1:6379");
	config_free(cfg);
	cfg = load_ok("[daemon]\nredis = redis.internal:65535\nentities = @ENT@\n");
	config_free(cfg);
}

static void
test_no_daemon_section(void **state)
{
	char *path;

	(void)state;
	path = write_conf("nodaemon.conf", "[feed \"f\"]\nurl = http://x/\n");
	expect_error_at(path, 0, "no [daemon] section: it must set 'redis'");
	free(path);
	/* The default entities directory is blamed on [daemon]. */
	path = write_conf("defents.conf", "\n[daemon]\nredis = localhost:6379\n");
	expect_error_at(path, 2, "entities directory " WW_ENTITIES_DIR " (the default): ");
	free(path);
}

/* Finding 7: a webhook URL is a credential, also when it is malformed. */
static void
test_urls_masked(void **state)
{
	char err[WW_ERRLEN], *path;

	(void)state;
	path = write_conf("hook.conf", HEAD "[sink \"s\"]\ntype = webhook\n"
	    "url = hooks.example.org/services/T0000/B0000/XyZ123SECRETtoken456\n");
	assert_null(config_load(path, err, sizeof err));
	assert_null(strstr(err, "SECRET"));
	assert_null(strstr(err, "B0000"));
	assert_non_null(strstr(err, "url 'hooks.example.org/***' must be http"));
	free(path);
	path = write_conf("hook2.conf", HEAD "[sink \"s\"]\ntype = webhook\n"
	    "url = ftp://bot:hunter2@hooks.example.org/T0/B0/XyZ123SECRETtoken456\n");
	assert_null(config_load(path, err, sizeof err));
	assert_null(strstr(err, "hunter2"));
	assert_null(strstr(err, "SECRET"));
	assert_non_null(strstr(err, "url 'ftp://***@hooks.example.org/***'"));
	free(path);
	path = write_conf("feed.conf", HEAD "[feed \"f\"]\n"
	    "url = gopher://me:pw@example.org/rss?key=XyZ123SECRETtoken456\n");
	assert_null(config_load(path, err, sizeof err));
	assert_null(strstr(err, "SECRET"));
	assert_null(strstr(err, ":pw"));
	assert_non_null(strstr(err, "url 'gopher://***@example.org/rss?key=***'"));
	free(path);
}

static void
test_max_items_backfill(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok(HEAD "[feed \"a\"]\nurl = http://x/\n");
	assert_int_equal(cfg->max_items, 10000);
	assert_int_equal(cfg->backfill, 24 * 3600);
	assert_int_equal(cfg->feeds[0].max_items, 10000);
	assert_int_equal(cfg->feeds[0].backfill, 24 * 3600);
	config_free(cfg);
	/* Feeds before [daemon] still get its values; a feed may override. */
	cfg = load_ok("[feed \"a\"]\nurl = http://x/\n"
	    "[feed \"b\"]\nurl = http://y/\nmax-items = 50\nbackfill = all\n"
	    "[feed \"c\"]\nurl = http://z/\nbackfill = none\nmax-items = 10000000\n"
	    "[feed \"d\"]\nurl = http://w/\nbackfill = 90m\n"
	    "[daemon]\nredis = localhost:6379\nentities = @ENT@\nmax-items = 200\n"
	    "backfill = 2d\n");
	assert_int_equal(cfg->max_items, 200);
	assert_int_equal(cfg->backfill, 2 * 86400);
	assert_int_equal(cfg->feeds[0].max_items, 200);
	assert_int_equal(cfg->feeds[0].backfill, 2 * 86400);
	assert_int_equal(cfg->feeds[1].max_items, 50);
	assert_int_equal(cfg->feeds[1].backfill, -1);
	assert_int_equal(cfg->feeds[2].max_items, 10000000);
	assert_int_equal(cfg->feeds[2].backfill, 0);
	assert_int_equal(cfg->feeds[3].backfill, 90 * 60);
	config_free(cfg);
	cfg = load_ok(HEAD "backfill = ALL\n[feed \"a\"]\nurl = http://x/\nbackfill = 0\n");
	assert_int_equal(cfg->backfill, -1);
	assert_int_equal(cfg->feeds[0].backfill, 0);
	config_free(cfg);
	expect_error(HEAD "max-items = 0\n", 4, "bad value '0' for 'max-items' (1 to 10000000)");
	expect_error(HEAD "max-items = 10000001\n", 4, "bad value '10000001' for 'max-items'");
	expect_error(HEAD "max-items = lots\n", 4, "bad value 'lots' for 'max-items'");
	expect_error(HEAD "[feed \"a\"]\nurl = http://x/\nmax-items = -5\n", 6,
	    "bad value '-5' for 'max-items'");
	expect_error(HEAD "backfill = sometimes\n", 4,
	    "bad value 'sometimes' for 'backfill' (a duration such as 24h, all or none)");
	expect_error(HEAD "[feed \"a\"]\nurl = http://x/\nbackfill = -1\n", 6,
	    "bad value '-1' for 'backfill'");
}

/* Duplicate names are found through a hash table, not by rescanning. */
static void
test_many_sections(void **state)
{
	struct buf b = {0};
	struct config *cfg;
	char *path;
	int i;

	(void)state;
	buf_adds(&b, HEAD);
	for (i = 0; i < 20000; i++)
		buf_addf(&b, "[feed \"f%d\"]\nurl = http://x/%d\n[watchlist \"w%d\"]\n"
		    "query = treaty\nsinks = s%d\n[sink \"s%d\"]\ntype = console\n",
		    i, i, i, i % 100, i % 100 == i ? i : 100000 + i);
	cfg = load_ok(b.s);
	assert_int_equal(cfg->nfeeds, 20000);
	assert_int_equal(cfg->nwatchlists, 20000);
	assert_string_equal(cfg->sinks[cfg->watchlists[19999].sinks[0]].name, "s99");
	config_free(cfg);
	/* The last of them repeats the first: its line and the first's. */
	buf_adds(&b, "[watchlist \"w0\"]\n");
	path = write_conf("dup.conf", b.s);
	expect_error_at(path, 3 + 20000 * 7 + 1, "duplicate section [watchlist \"w0\"] "
	    "(first on line 6)");
	free(path);
	buf_free(&b);
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
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_continued_lines),
		cmocka_unit_test(test_continued_line_errors),
		cmocka_unit_test(test_hostile_files),
		cmocka_unit_test(test_redis),
		cmocka_unit_test(test_no_daemon_section),
		cmocka_unit_test(test_urls_masked),
		cmocka_unit_test(test_max_items_backfill),
		cmocka_unit_test(test_many_sections),
	};

	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
