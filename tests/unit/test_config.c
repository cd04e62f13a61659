/*
 * test_config.c - wirewatch.conf loading and every kind of error, with the
 * exact FILE:LINE the user is pointed at: long and continued lines, hostile
 * files (empty, a directory, NUL bytes, binary), the redis address, masked
 * URLs, max-items and backfill, many sections, the daemon's instance name,
 * and every sink key: type, url and url-file (with $CREDENTIALS_DIRECTORY
 * and file modes), Teams connector URLs, secrets, headers, chat-id,
 * retry-schedule and the legacy retries, digest-after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "wirewatch/config.h"
#include "wirewatch/sinkfmt.h"
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
	assert_int_equal(cfg->sinks[0].format, SINKFMT_WEBHOOK);
	assert_int_equal(cfg->sinks[0].digest_after, 10);
	assert_int_equal(cfg->sinks[1].type, SINK_CONSOLE);
	assert_int_equal(cfg->sinks[1].format, SINKFMT_CONSOLE);
	assert_null(cfg->sinks[1].url);
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
	expect_error(HEAD "[sink \"c\"]\ntype = webhook\n", 4,
	    "sink \"c\": type webhook needs 'url' or 'url-file'");
	expect_error(HEAD "[daemon]\nmax-body = lots\n", 5, "bad size 'lots' for 'max-body'");
	expect_error(HEAD "keep-items = two days\n", 4, "bad duration 'two days' for 'keep-items'");
	expect_error(HEAD "[watchlist \"w\"]\nquery = treaty\nsinks = c\nbackfill = all\n"
	    "[sink \"c\"]\ntype = console\n", 7, "bad duration 'all' for 'backfill'");
	expect_error(HEAD "this line has no equals sign\n", 4, "syntax error");
	expect_error("[daemon]\nredis = localhost:6379\nentities = /nonexistent/dir\n", 3,
	    "entities directory /nonexistent/dir: No such file or directory");
}

/* keep-items: 2d by default, 0 turns it off; [watchlist] backfill: none by default. */
static void
test_keep_items_and_backfill(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok(HEAD "[watchlist \"a\"]\nquery = treaty\nsinks = c\n"
	    "[watchlist \"b\"]\nquery = pact\nsinks = c\nbackfill = 6h\n"
	    "[sink \"c\"]\ntype = console\n");
	assert_int_equal(cfg->keep_items, 2 * 86400);
	assert_int_equal(cfg->watchlists[0].backfill, 0);
	assert_int_equal(cfg->watchlists[1].backfill, 6 * 3600);
	config_free(cfg);
	cfg = load_ok(HEAD "keep-items = 0\n");
	assert_int_equal(cfg->keep_items, 0);
	config_free(cfg);
	cfg = load_ok(HEAD "keep-items = 90m\n");
	assert_int_equal(cfg->keep_items, 5400);
	config_free(cfg);
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

/* --- [daemon] instance ---------------------------------------------------- */

static void
test_instance(void **state)
{
	struct config *cfg;
	char host[256], name65[66];

	(void)state;
	assert_int_equal(gethostname(host, sizeof host), 0);
	cfg = load_ok(HEAD);
	assert_string_equal(cfg->instance, host);
	config_free(cfg);
	cfg = load_ok(HEAD "instance = ww-1.eu_west\n");
	assert_string_equal(cfg->instance, "ww-1.eu_west");
	config_free(cfg);
	memset(name65, 'a', 65);
	name65[65] = '\0';
	expect_error(HEAD "instance = two words\n", 4, "bad value 'two words' for "
	    "'instance' (1 to 64 letters, digits, '.', '_' or '-')");
	expect_error(HEAD "instance = host/1\n", 4, "bad value 'host/1' for 'instance'");
	expect_error(HEAD "instance =\n", 4, "missing value for 'instance'");
	name65[64] = '\0';
	cfg = load_ok(HEAD "instance = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	assert_string_equal(cfg->instance, name65);
	config_free(cfg);
	expect_error(HEAD "instance = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    4, "bad value 'aaaa");
}

/* --- [daemon] lease (cluster.h) -------------------------------------------- */

static void
test_lease(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok(HEAD);
	assert_int_equal(cfg->lease, 30);
	config_free(cfg);
	cfg = load_ok(HEAD "lease = 2m\n");
	assert_int_equal(cfg->lease, 120);
	config_free(cfg);
	cfg = load_ok(HEAD "lease = off\n");
	assert_int_equal(cfg->lease, 0);
	config_free(cfg);
	cfg = load_ok(HEAD "lease = 0\n");
	assert_int_equal(cfg->lease, 0);
	config_free(cfg);
	expect_error(HEAD "lease = soon\n", 4, "bad duration 'soon' for 'lease'");
	expect_error(HEAD "lease = -5s\n", 4, "bad duration '-5s' for 'lease'");
}

/* --- sinks ---------------------------------------------------------------- */

#define TYPES "console, webhook, slack, discord, mattermost, teams, google-chat, " \
	"telegram or ntfy"

/* The error for text, which must not load. */
static char *
load_error(const char *text)
{
	char err[WW_ERRLEN], *path = write_conf("bad.conf", text);
	struct config *cfg = config_load(path, err, sizeof err);

	if (cfg != NULL)
		fail_msg("loaded, want an error:\n%s", text);
	free(path);
	return xstrdup(err);
}

/* tmpdir/name holding text, with mode. */
static char *
write_mode(const char *name, const char *text, mode_t mode)
{
	char *path = write_raw(name, text, strlen(text));

	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void
test_sink_types(void **state)
{
	static const struct { const char *name; int format; const char *extra; } t[] = {
		{ "console", SINKFMT_CONSOLE, "" },
		{ "webhook", SINKFMT_WEBHOOK, "url = https://hooks.example.org/a\n" },
		{ "slack", SINKFMT_SLACK, "url = https://hooks.slack.com/services/T/B/x\n" },
		{ "discord", SINKFMT_DISCORD, "url = https://discord.com/api/webhooks/1/x\n" },
		{ "mattermost", SINKFMT_MATTERMOST, "url = https://mm.example.org/hooks/x\n" },
		{ "teams", SINKFMT_TEAMS, "url = https://prod-01.westeurope.logic.azure.com"
		    ":443/workflows/abc/triggers/manual/paths/invoke?sig=x\n" },
		{ "google-chat", SINKFMT_GOOGLE_CHAT,
		    "url = https://chat.googleapis.com/v1/spaces/A/messages?key=k\n" },
		{ "google_chat", SINKFMT_GOOGLE_CHAT,
		    "url = https://chat.googleapis.com/v1/spaces/A/messages?key=k\n" },
		{ "telegram", SINKFMT_TELEGRAM, "url = https://api.telegram.org/bot1:x/"
		    "sendMessage\nchat-id = -1001234567890\n" },
		{ "ntfy", SINKFMT_NTFY, "url = https://ntfy.sh/wirewatch-alerts\n" },
	};
	struct config *cfg;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		text = xasprintf(HEAD "[sink \"s\"]\ntype = %s\n%s", t[i].name, t[i].extra);
		cfg = load_ok(text);
		assert_int_equal(cfg->sinks[0].format, t[i].format);
		assert_int_equal(cfg->sinks[0].type,
		    t[i].format == SINKFMT_CONSOLE ? SINK_CONSOLE : SINK_WEBHOOK);
		assert_true((cfg->sinks[0].url == NULL) == (t[i].format == SINKFMT_CONSOLE));
		config_free(cfg);
		free(text);
	}
	expect_error(HEAD "[sink \"c\"]\ntype = pager\n", 5,
	    "sink \"c\": unknown type 'pager' (" TYPES ")");
	expect_error(HEAD "[sink \"c\"]\ntype = Slack\n", 5, "sink \"c\": unknown type 'Slack'");
	expect_error(HEAD "[sink \"c\"]\nurl = https://x.example/\n", 4,
	    "sink \"c\": missing 'type' (" TYPES ")");
	/* Every HTTP type needs a URL, console takes none. */
	expect_error(HEAD "[sink \"c\"]\ntype = slack\n", 4,
	    "sink \"c\": type slack needs 'url' or 'url-file'");
	expect_error(HEAD "[sink \"c\"]\ntype = ntfy\n\n", 4,
	    "sink \"c\": type ntfy needs 'url' or 'url-file'");
	expect_error(HEAD "[sink \"c\"]\nurl = https://x.example/\ntype = console\n", 5,
	    "sink \"c\": a console sink takes no 'url'");
	/* The type may come after the keys that depend on it. */
	cfg = load_ok(HEAD "[sink \"t\"]\nchat-id = @wire_watch\n"
	    "url = https://api.telegram.org/bot1:x/sendMessage\ntype = telegram\n");
	assert_string_equal(cfg->sinks[0].chat_id, "@wire_watch");
	config_free(cfg);
}

static void
test_sink_url(void **state)
{
	char *err;

	(void)state;
	expect_error(HEAD "[sink \"c\"]\ntype = slack\nurl = https://hooks.example.org/x\n"
	    "url-file = slack.url\n", 7,
	    "sink \"c\": 'url-file' and 'url' (line 6) both given: use one");
	/* libcurl must be able to parse it; the path still masked. */
	err = load_error(HEAD "[sink \"c\"]\ntype = slack\n"
	    "url = https://hooks.exa mple.org/T000/SECRETtoken\n");
	assert_non_null(strstr(err, ":6: sink \"c\": url 'https://"));
	assert_non_null(strstr(err, "is not a valid URL ("));
	assert_null(strstr(err, "SECRET"));
	free(err);
	err = load_error(HEAD "[sink \"c\"]\ntype = discord\n"
	    "url = https://discord.com:99999/api/webhooks/1/SECRETtoken\n");
	assert_non_null(strstr(err, ":6: sink \"c\": url 'https://discord.com:99999/***' "
	    "is not a valid URL ("));
	free(err);
}

static void
test_teams_connector(void **state)
{
	static const char *const refused[] = {
		"https://contoso.webhook.office.com/webhookb2/1@2/IncomingWebhook/3/4",
		"https://webhook.office.com/webhookb2/x",
		"https://CONTOSO.Webhook.Office.COM./webhookb2/x",
		"https://outlook.office.com/webhook/1@2/IncomingWebhook/3/4",
		"https://user@outlook.office.com:443/webhook/x",
	};
	static const char *const allowed[] = {
		"https://prod-01.westeurope.logic.azure.com:443/workflows/1/triggers/"
		    "manual/paths/invoke?api-version=2016-06-01&sig=x",
		"https://outlook.office.com/owa/",
		"https://notwebhook.office.com/webhookb2/x",
		"https://webhook.office.com.example.org/webhookb2/x",
	};
	struct config *cfg;
	char *text, *err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		text = xasprintf(HEAD "[sink \"t\"]\ntype = teams\n; the old one\nurl = %s\n",
		    refused[i]);
		err = load_error(text);
		if (strstr(err, ":7: sink \"t\": '") == NULL ||
		    strstr(err, "/***' is an Office 365 connector URL, and Microsoft has "
		    "retired those: in Teams, create a Workflows webhook") == NULL ||
		    strstr(err, "IncomingWebhook") != NULL)
			fail_msg("%s: %s", refused[i], err);
		free(err);
		free(text);
	}
	for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
		text = xasprintf(HEAD "[sink \"t\"]\ntype = teams\nurl = %s\n", allowed[i]);
		cfg = load_ok(text);
		config_free(cfg);
		free(text);
	}
	/* Only type teams: a generic webhook may point anywhere. */
	cfg = load_ok(HEAD "[sink \"w\"]\nurl = https://x.webhook.office.com/webhookb2/x\n"
	    "type = webhook\n");
	config_free(cfg);
	/* Blamed on the url line even when type comes last. */
	expect_error(HEAD "[sink \"t\"]\nurl = https://x.webhook.office.com/webhookb2/x\n"
	    "type = teams\n", 5, "sink \"t\": 'https://x.webhook.office.com/***' is an "
	    "Office 365 connector URL");
}

static void
test_url_file(void **state)
{
	char *path, *text, *abs, *creds, *err;
	struct config *cfg;

	(void)state;
	/* Next to the configuration file; the first line, trimmed. */
	path = write_mode("slack.url", "\xef\xbb\xbf  https://hooks.slack.com/services/"
	    "T0/B0/tok  \r\nsecond line ignored\n", 0600);
	cfg = load_ok(HEAD "[sink \"s\"]\ntype = slack\nurl-file = slack.url\n");
	assert_string_equal(cfg->sinks[0].url, "https://hooks.slack.com/services/T0/B0/tok");
	config_free(cfg);
	free(path);
	/* Absolute. */
	abs = xasprintf("%s/abs.url", tmpdir);
	path = write_mode("abs.url", "https://ntfy.example.org/topic", 0640);
	text = xasprintf(HEAD "[sink \"s\"]\ntype = ntfy\nurl-file = %s\n", abs);
	cfg = load_ok(text);
	assert_string_equal(cfg->sinks[0].url, "https://ntfy.example.org/topic");
	config_free(cfg);
	free(text);
	free(path);
	/* In $CREDENTIALS_DIRECTORY when that is set, and only there. */
	creds = xasprintf("%s/creds", tmpdir);
	assert_int_equal(mkdir(creds, 0700), 0);
	path = write_mode("creds/slack.url", "https://hooks.slack.com/services/T0/B0/cred\n",
	    0400);
	free(path);
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	cfg = load_ok(HEAD "[sink \"s\"]\ntype = slack\nurl-file = slack.url\n");
	assert_string_equal(cfg->sinks[0].url, "https://hooks.slack.com/services/T0/B0/cred");
	config_free(cfg);
	cfg = load_ok(text = xasprintf(HEAD "[sink \"s\"]\ntype = ntfy\nurl-file = %s\n", abs));
	config_free(cfg);
	free(text);
	err = load_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = other.url\n");
	text = xasprintf(":6: sink \"s\": url-file %s/other.url: No such file", creds);
	if (strstr(err, text) == NULL)
		fail_msg("%s", err);
	free(text);
	free(err);
	unsetenv("CREDENTIALS_DIRECTORY");
	/* Errors, each at the url-file line. */
	expect_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = missing.url\n", 6,
	    "sink \"s\": url-file ");
	path = write_mode("open.url", "https://hooks.slack.com/services/T0/B0/tok\n", 0644);
	err = load_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = open.url\n");
	assert_non_null(strstr(err, ":6: sink \"s\": url-file "));
	assert_non_null(strstr(err, "open.url: readable by every user (mode 0644), but it "
	    "holds a credential: chmod o-rw it"));
	free(err);
	assert_int_equal(chmod(path, 0602), 0);
	err = load_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = open.url\n");
	assert_non_null(strstr(err, "open.url: writable by every user (mode 0602)"));
	free(err);
	free(path);
	path = write_mode("empty.url", "\n\nhttps://x.example/\n", 0600);
	expect_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = empty.url\n", 6,
	    "sink \"s\": url-file ");
	err = load_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = empty.url\n");
	assert_non_null(strstr(err, "empty.url: the first line, which holds the URL, is "
	    "empty"));
	free(err);
	free(path);
	path = write_mode("bad.url", "hooks.slack.com/services/T0/B0/XyZ123SECRETtoken\n",
	    0600);
	err = load_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = bad.url\n");
	assert_non_null(strstr(err, ":6: sink \"s\": url 'hooks.slack.com/***' (from "));
	assert_non_null(strstr(err, "bad.url) must be http:// or https://"));
	assert_null(strstr(err, "SECRET"));
	free(err);
	free(path);
	err = load_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = creds\n");
	assert_non_null(strstr(err, "creds: not a regular file"));
	free(err);
	text = xasprintf("%s/fifo.url", tmpdir);
	assert_int_equal(mkfifo(text, 0600), 0);
	err = load_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = fifo.url\n");
	assert_non_null(strstr(err, "fifo.url: not a regular file"));
	free(err);
	free(text);
	path = write_raw("latin1.url", "https://x.example/caf\xe9", 23);
	assert_int_equal(chmod(path, 0600), 0);
	err = load_error(HEAD "[sink \"s\"]\ntype = slack\nurl-file = latin1.url\n");
	assert_non_null(strstr(err, "latin1.url: not UTF-8 text"));
	free(err);
	free(path);
	free(abs);
	free(creds);
}

#define SECRET1 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET2 "whsec_c2VjcmV0LXR3by1mb3Itcm90YXRpb24="

static void
test_secrets(void **state)
{
	struct config *cfg;
	char *path, *err;

	(void)state;
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret = " SECRET1 "\nsecret = " SECRET2 "\n");
	assert_int_equal(cfg->sinks[0].nsecrets, 2);
	assert_string_equal(cfg->sinks[0].secrets[0], SECRET1);
	assert_string_equal(cfg->sinks[0].secrets[1], SECRET2);
	config_free(cfg);
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n");
	assert_int_equal(cfg->sinks[0].nsecrets, 0);
	assert_null(cfg->sinks[0].secrets);
	config_free(cfg);
	/* A bad secret is never printed. */
	err = load_error(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret = whsec_not*base64*SECRET\n");
	assert_non_null(strstr(err, ":7: sink \"w\": secret: a secret is \"whsec_\""));
	assert_null(strstr(err, "SECRET"));
	free(err);
	expect_error(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret = MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 7, "sink \"w\": secret: ");
	expect_error(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret = whsec_\n", 7, "sink \"w\": secret: ");
	expect_error(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret = " SECRET1 "\nsecret = " SECRET1 "\n", 8,
	    "sink \"w\": secret: the same secret twice");
	expect_error(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret = " SECRET1 "\nsecret = " SECRET2 "\nsecret = whsec_dGhyZWU=\n", 9,
	    "sink \"w\": secret: more than 2 secrets (the current one and, during a "
	    "rotation, the next)");
	/* Only a webhook signs; blamed on the first secret, whatever the order. */
	expect_error(HEAD "[sink \"s\"]\nsecret = " SECRET1 "\ntype = slack\n"
	    "url = https://hooks.slack.com/services/x\n", 5, "sink \"s\": type slack is "
	    "not signed: 'secret' and 'secret-file' are for type webhook");
	/* secret-file: one per line, blank lines skipped. */
	path = write_mode("hook.secrets", "\n" SECRET1 "\r\n\n  " SECRET2 "  \n", 0600);
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret-file = hook.secrets\n");
	assert_int_equal(cfg->sinks[0].nsecrets, 2);
	assert_string_equal(cfg->sinks[0].secrets[1], SECRET2);
	config_free(cfg);
	free(path);
	path = write_mode("bad.secrets", SECRET1 "\nwhsec_!!SECRET!!\n", 0600);
	err = load_error(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret-file = bad.secrets\n");
	assert_non_null(strstr(err, ":7: sink \"w\": secret-file "));
	assert_non_null(strstr(err, "bad.secrets: line 2: a secret is \"whsec_\""));
	assert_null(strstr(err, "SECRET"));
	free(err);
	free(path);
	path = write_mode("none.secrets", "\n  \n", 0600);
	err = load_error(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret-file = none.secrets\n");
	assert_non_null(strstr(err, "none.secrets: no secret in it"));
	free(err);
	free(path);
	path = write_mode("open.secrets", SECRET1 "\n", 0644);
	err = load_error(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret-file = open.secrets\n");
	assert_non_null(strstr(err, ":7: sink \"w\": secret-file "));
	assert_non_null(strstr(err, "readable by every user (mode 0644)"));
	free(err);
	free(path);
	/* secret and secret-file add up, to at most two. */
	path = write_mode("one.secret", SECRET2 "\n", 0600);
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "secret = " SECRET1 "\nsecret-file = one.secret\n");
	assert_int_equal(cfg->sinks[0].nsecrets, 2);
	config_free(cfg);
	free(path);
}

static void
test_headers(void **state)
{
	struct config *cfg;
	char *err;

	(void)state;
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "header = Authorization:   Bearer abc def\nheader = X-Team:ops\n"
	    "header = X-Team: on-call\n");
	assert_int_equal(cfg->sinks[0].nheaders, 3);
	assert_string_equal(cfg->sinks[0].headers[0], "Authorization: Bearer abc def");
	assert_string_equal(cfg->sinks[0].headers[1], "X-Team: ops");
	assert_string_equal(cfg->sinks[0].headers[2], "X-Team: on-call");
	config_free(cfg);
	cfg = load_ok(HEAD "[sink \"n\"]\ntype = ntfy\nurl = https://ntfy.sh/t\n"
	    "header = Authorization: Bearer tk_x\nheader = X-Icon: https://x.example/i.png\n");
	assert_int_equal(cfg->sinks[0].nheaders, 2);
	config_free(cfg);
#define W HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	err = load_error(W "header = Authorization Bearer SECRET\n");
	assert_non_null(strstr(err, ":7: sink \"w\": a header is 'Name: value' (no ':' here)"));
	assert_null(strstr(err, "SECRET"));
	free(err);
	expect_error(W "header = : x\n", 7, "sink \"w\": a header without a name before ':'");
	expect_error(W "header = X Token: x\n", 7, "sink \"w\": header name 'X Token' is not "
	    "an HTTP token (letters, digits and !#$%&'*+-.^_`|~)");
	expect_error(W "header = X-T\xc3\xb6ken: x\n", 7, "sink \"w\": header name 'X-T");
	expect_error(W "header = Content-Type: text/plain\n", 7, "sink \"w\": header "
	    "'Content-Type' is set by wirewatch (Content-Type, Content-Length, "
	    "Transfer-Encoding, Host and the webhook-* signature headers cannot be "
	    "configured)");
	expect_error(W "header = content-length: 5\n", 7,
	    "sink \"w\": header 'content-length' is set by wirewatch");
	expect_error(W "header = HOST: evil.example\n", 7,
	    "sink \"w\": header 'HOST' is set by wirewatch");
	expect_error(W "header = Transfer-Encoding: chunked\n", 7,
	    "sink \"w\": header 'Transfer-Encoding' is set by wirewatch");
	expect_error(W "header = webhook-id: 1\n", 7,
	    "sink \"w\": header 'webhook-id' is set by wirewatch");
	expect_error(W "header = Webhook-Signature: v1,x\n", 7,
	    "sink \"w\": header 'Webhook-Signature' is set by wirewatch");
	expect_error(W "header = webhook-timestamp: 1\n", 7,
	    "sink \"w\": header 'webhook-timestamp' is set by wirewatch");
	expect_error(W "header = X-Empty:\n", 7, "sink \"w\": header 'X-Empty' has no value");
	/* A CR cannot reach a header: the reader refuses it with its column. */
	expect_error(W "header = X-A: b\rX-B: c\n", 7, "control character 0x0d at column 16");
#undef W
	/* Only webhook and ntfy take headers; blamed on the first header. */
	expect_error(HEAD "[sink \"s\"]\ntype = slack\nheader = X-A: b\n"
	    "url = https://hooks.slack.com/services/x\n", 6,
	    "sink \"s\": type slack takes no 'header' (only webhook and ntfy do)");
	/* ntfy's headers for each alert are not to be configured, in any of its names. */
	expect_error(HEAD "[sink \"n\"]\ntype = ntfy\nurl = https://ntfy.sh/t\n"
	    "header = Authorization: Bearer tk_x\nheader = X-Priority: 5\n", 8,
	    "sink \"n\": header 'X-Priority' is set by the ntfy format for each alert");
	expect_error(HEAD "[sink \"n\"]\ntype = ntfy\nurl = https://ntfy.sh/t\n"
	    "header = title: x\n", 7, "sink \"n\": header 'title' is set by the ntfy format");
	/* ... which a webhook may send. */
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "header = Priority: 5\n");
	config_free(cfg);
}

static void
test_chat_id(void **state)
{
	static const char *const good[] = { "-1001234567890", "123456789", "@wirewatch",
	    "@Wire_Watch_2026" };
	static const char *const bad[] = { "abc", "@abc", "@1wirewatch", "@_wirewatch",
	    "12a", "-0", "0", "--5", "@wire-watch", "1234567890123456789" };
	struct config *cfg;
	char *text, *want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		text = xasprintf(HEAD "[sink \"t\"]\ntype = telegram\n"
		    "url = https://api.telegram.org/bot1:x/sendMessage\nchat-id = %s\n", good[i]);
		cfg = load_ok(text);
		assert_string_equal(cfg->sinks[0].chat_id, good[i]);
		config_free(cfg);
		free(text);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		text = xasprintf(HEAD "[sink \"t\"]\ntype = telegram\n"
		    "url = https://api.telegram.org/bot1:x/sendMessage\nchat-id = %s\n", bad[i]);
		want = xasprintf("sink \"t\": bad chat-id '%s' (a chat number such as "
		    "-1001234567890, or @channelname)", bad[i]);
		expect_error(text, 7, want);
		free(want);
		free(text);
	}
	expect_error(HEAD "[sink \"t\"]\ntype = telegram\n"
	    "url = https://api.telegram.org/bot1:x/sendMessage\n", 4,
	    "sink \"t\": type telegram needs 'chat-id' (a chat number such as "
	    "-1001234567890, or @channelname)");
	expect_error(HEAD "[sink \"s\"]\ntype = slack\nurl = https://hooks.slack.com/x\n"
	    "chat-id = 12345\n", 7, "sink \"s\": 'chat-id' is for type telegram");
}

static void
test_retry_schedule(void **state)
{
	static const long standard[] = { 0, 5000, 300000, 1800000, 7200000, 18000000,
	    36000000, 50400000, 72000000, 86400000 };
	struct config *cfg;
	struct buf b = {0};
	size_t i;

	(void)state;
	/* Default: the Standard Webhooks schedule, for every type. */
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "[sink \"c\"]\ntype = console\n");
	for (i = 0; i < cfg->nsinks; i++) {
		assert_int_equal(cfg->sinks[i].nschedule, 10);
		assert_memory_equal(cfg->sinks[i].schedule_ms, standard, sizeof standard);
	}
	config_free(cfg);
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "retry-schedule = 0  1s\t500ms 2m 1h 7d\n");
	assert_int_equal(cfg->sinks[0].nschedule, 6);
	assert_int_equal(cfg->sinks[0].schedule_ms[0], 0);
	assert_int_equal(cfg->sinks[0].schedule_ms[1], 1000);
	assert_int_equal(cfg->sinks[0].schedule_ms[2], 500);
	assert_int_equal(cfg->sinks[0].schedule_ms[3], 120000);
	assert_int_equal(cfg->sinks[0].schedule_ms[4], 3600000);
	assert_int_equal(cfg->sinks[0].schedule_ms[5], 7 * 86400000L);
	config_free(cfg);
	cfg = load_ok(HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	    "retry-schedule = 0ms\n");
	assert_int_equal(cfg->sinks[0].nschedule, 1);
	assert_int_equal(cfg->sinks[0].schedule_ms[0], 0);
	config_free(cfg);
#define W HEAD "[sink \"w\"]\ntype = webhook\nurl = https://x.example/h\n"
	expect_error(W "retry-schedule = 5s 10s\n", 7, "sink \"w\": 'retry-schedule' starts "
	    "with '5s', but its first entry is the first attempt, made at once: 0");
	expect_error(W "retry-schedule = 0 1h 8d\n", 7,
	    "sink \"w\": '8d' in 'retry-schedule' is longer than 7d");
	expect_error(W "retry-schedule = 0 604800001ms\n", 7,
	    "sink \"w\": '604800001ms' in 'retry-schedule' is longer than 7d");
	expect_error(W "retry-schedule = 0 soon\n", 7, "sink \"w\": bad duration 'soon' in "
	    "'retry-schedule' (a number with ms, s, m, h or d)");
	expect_error(W "retry-schedule = 0, 5s\n", 7, "sink \"w\": bad duration '0,' in");
	expect_error(W "retry-schedule = 0 -5s\n", 7, "sink \"w\": bad duration '-5s' in");
	expect_error(W "retry-schedule = 0 5 ms\n", 7, "sink \"w\": bad duration 'ms' in");
	expect_error(W "retry-schedule =\n", 7, "missing value for 'retry-schedule'");
	buf_adds(&b, W "retry-schedule = 0");
	for (i = 0; i < 101; i++)
		buf_adds(&b, " 1s");
	buf_adds(&b, "\n");
	expect_error(b.s, 7, "sink \"w\": more than 101 attempts in 'retry-schedule'");
	buf_free(&b);
	/* retries and retry-delay: 0, D, 2D, 4D, ..., each at most 7d. */
	cfg = load_ok(W "retries = 2\nretry-delay = 3s\n");
	assert_int_equal(cfg->sinks[0].nschedule, 3);
	assert_int_equal(cfg->sinks[0].schedule_ms[1], 3000);
	assert_int_equal(cfg->sinks[0].schedule_ms[2], 6000);
	config_free(cfg);
	cfg = load_ok(W "retry-delay = 1m\n");
	assert_int_equal(cfg->sinks[0].nschedule, 4);
	assert_int_equal(cfg->sinks[0].schedule_ms[3], 240000);
	config_free(cfg);
	cfg = load_ok(W "retries = 0\n");
	assert_int_equal(cfg->sinks[0].nschedule, 1);
	assert_int_equal(cfg->sinks[0].schedule_ms[0], 0);
	config_free(cfg);
	cfg = load_ok(W "retries = 100\nretry-delay = 1d\n");
	assert_int_equal(cfg->sinks[0].nschedule, 101);
	assert_int_equal(cfg->sinks[0].schedule_ms[3], 4 * 86400000L);
	assert_int_equal(cfg->sinks[0].schedule_ms[4], 7 * 86400000L);
	assert_int_equal(cfg->sinks[0].schedule_ms[100], 7 * 86400000L);
	config_free(cfg);
	/* Not both: blamed on whichever comes second. */
	expect_error(W "retry-schedule = 0 1s\nretries = 2\n", 8, "sink \"w\": 'retries' and "
	    "'retry-schedule' (line 7) both given: retry-schedule replaces retries and "
	    "retry-delay");
	expect_error(W "retry-delay = 2s\nretries = 2\nretry-schedule = 0 1s\n", 9,
	    "sink \"w\": 'retry-schedule' and 'retry-delay' (line 7) both given");
#undef W
}

static void
test_digest_after(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok(HEAD "[sink \"a\"]\ntype = console\n[sink \"b\"]\ntype = console\n"
	    "digest-after = 0\n[sink \"c\"]\ntype = console\ndigest-after = 250\n");
	assert_int_equal(cfg->sinks[0].digest_after, 10);
	assert_int_equal(cfg->sinks[1].digest_after, 0);
	assert_int_equal(cfg->sinks[2].digest_after, 250);
	config_free(cfg);
	expect_error(HEAD "[sink \"a\"]\ntype = console\ndigest-after = -1\n", 6,
	    "bad value '-1' for 'digest-after' (0 to 1000000; 0: no digests)");
	expect_error(HEAD "[sink \"a\"]\ntype = console\ndigest-after = many\n", 6,
	    "bad value 'many' for 'digest-after'");
}

/* Issue 13: story-window, group, story-updates, story-update-interval. */
static void
test_story_keys(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok(HEAD "[watchlist \"w\"]\nquery = treaty\nsinks = a\n"
	    "[watchlist \"x\"]\nquery = treaty\nsinks = a\ngroup = item\n"
	    "[sink \"a\"]\ntype = console\n[sink \"b\"]\ntype = webhook\nurl = http://h/\n"
	    "[sink \"c\"]\ntype = google-chat\nurl = https://chat.googleapis.com/v1/x\n"
	    "[sink \"d\"]\ntype = slack\nurl = https://hooks.slack.com/x\nstory-updates = none\n"
	    "story-update-interval = 2h\n");
	assert_int_equal(cfg->story_window, 48 * 3600);
	assert_int_equal(cfg->watchlists[0].group_items, 0);
	assert_int_equal(cfg->watchlists[1].group_items, 1);
	assert_int_equal(cfg->sinks[0].story_updates, CFG_STORY_UPDATES_DIGEST);
	assert_int_equal(cfg->sinks[1].story_updates, CFG_STORY_UPDATES_THREAD);
	assert_int_equal(cfg->sinks[2].story_updates, CFG_STORY_UPDATES_THREAD);
	assert_int_equal(cfg->sinks[3].story_updates, CFG_STORY_UPDATES_NONE);
	assert_int_equal(cfg->sinks[0].story_update_interval, 1800);
	assert_int_equal(cfg->sinks[3].story_update_interval, 7200);
	config_free(cfg);
	cfg = load_ok(HEAD "story-window = 6h\n");
	assert_int_equal(cfg->story_window, 6 * 3600);
	config_free(cfg);
	expect_error(HEAD "story-window = 90d\n", 4,
	    "bad value '90d' for 'story-window' (1m to 30d)");
	expect_error(HEAD "[watchlist \"w\"]\nquery = treaty\nsinks = a\ngroup = story-ish\n"
	    "[sink \"a\"]\ntype = console\n", 7,
	    "watchlist \"w\": bad value 'story-ish' for 'group' (story or item)");
	expect_error(HEAD "[sink \"a\"]\ntype = console\nstory-updates = thread-ish\n", 6,
	    "sink \"a\": bad value 'thread-ish' for 'story-updates' (thread, digest or none)");
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
		cmocka_unit_test(test_keep_items_and_backfill),
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
		cmocka_unit_test(test_instance),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_sink_types),
		cmocka_unit_test(test_sink_url),
		cmocka_unit_test(test_teams_connector),
		cmocka_unit_test(test_url_file),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_chat_id),
		cmocka_unit_test(test_retry_schedule),
		cmocka_unit_test(test_digest_after),
		cmocka_unit_test(test_story_keys),
	};

	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
