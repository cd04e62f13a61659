/*
 * test_config_diff.c - config_diff(old, new): added, removed, changed and
 * unchanged feeds, watchlists and sinks by name (order does not matter, a
 * sink's index moving is no change), the [daemon] keys that need a restart
 * kept at their running values and named, and reference counting.
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

static char tmpdir[] = "/tmp/ww-test-diff-XXXXXX";

static struct config *
load(const char *name, const char *body)
{
	char cwd[4096], err[WW_ERRLEN], *path = xasprintf("%s/%s", tmpdir, name);
	struct config *cfg;
	FILE *f;

	assert_non_null(getcwd(cwd, sizeof cwd));
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[daemon]\nredis = unix:/tmp/r.sock\ninstance = t\n"
	    "entities = %s/conf/entities\n%s", cwd, body);
	fclose(f);
	cfg = config_load(path, err, sizeof err);
	if (cfg == NULL)
		fail_msg("%s", err);
	free(path);
	return cfg;
}

static const char old_text[] =
    "[feed \"a\"]\nurl = http://a.example/\ninterval = 1h\n"
    "[feed \"b\"]\nurl = http://b.example/\n"
    "[feed \"c\"]\nurl = http://c.example/\n"
    "[sink \"out\"]\ntype = console\n"
    "[sink \"hook\"]\ntype = webhook\nurl = http://h.example/x\n"
    "[watchlist \"w1\"]\nquery = sanctions\nsinks = out\n"
    "[watchlist \"w2\"]\nquery = embargo\nsinks = out, hook\n";

static void
test_diff_kinds(void **state)
{
	struct config *o, *n;
	struct config_diff *d;

	(void)state;
	o = load("old.conf", old_text);
	/* c removed, d added, a retimed, b moved in the file (same settings);
	 * hook removed, chat added; w1 unchanged though out's index moves,
	 * w2 changed (its sinks), w3 added. */
	n = load("new.conf",
	    "[sink \"chat\"]\ntype = webhook\nurl = http://c.example/y\n"
	    "[sink \"out\"]\ntype = console\n"
	    "[feed \"d\"]\nurl = http://d.example/\n"
	    "[feed \"b\"]\nurl = http://b.example/\n"
	    "[feed \"a\"]\nurl = http://a.example/\ninterval = 5m\n"
	    "[watchlist \"w2\"]\nquery = embargo\nsinks = out, chat\n"
	    "[watchlist \"w1\"]\nquery = sanctions\nsinks = out\n"
	    "[watchlist \"w3\"]\nquery = blockade\nsinks = chat\n");
	d = config_diff(o, n);
	/* feeds: d b a */
	assert_int_equal(d->feeds.old_index[0], -1);
	assert_int_equal(d->feeds.change[0], CFG_ADDED);
	assert_int_equal(d->feeds.old_index[1], 1);
	assert_int_equal(d->feeds.change[1], CFG_SAME);
	assert_int_equal(d->feeds.old_index[2], 0);
	assert_int_equal(d->feeds.change[2], CFG_CHANGED);
	assert_int_equal(d->feeds.nremoved, 1);
	assert_string_equal(o->feeds[d->feeds.removed[0]].name, "c");
	assert_int_equal(d->feeds.nadded, 1);
	assert_int_equal(d->feeds.nchanged, 1);
	/* sinks: chat out */
	assert_int_equal(d->sinks.change[0], CFG_ADDED);
	assert_int_equal(d->sinks.change[1], CFG_SAME);
	assert_int_equal(d->sinks.nremoved, 1);
	assert_string_equal(o->sinks[d->sinks.removed[0]].name, "hook");
	/* watchlists: w2 w1 w3 */
	assert_int_equal(d->watchlists.change[0], CFG_CHANGED);
	assert_int_equal(d->watchlists.change[1], CFG_SAME);
	assert_int_equal(d->watchlists.change[2], CFG_ADDED);
	assert_int_equal(d->watchlists.nremoved, 0);
	assert_string_equal(d->restart, "");
	config_diff_free(d);
	config_free(o);
	config_free(n);
}

static void
test_same_file_no_change(void **state)
{
	struct config *o, *n;
	struct config_diff *d;
	size_t i;

	(void)state;
	o = load("old.conf", old_text);
	n = load("same.conf", old_text);
	d = config_diff(o, n);
	for (i = 0; i < n->nfeeds; i++)
		assert_int_equal(d->feeds.change[i], CFG_SAME);
	for (i = 0; i < n->nwatchlists; i++)
		assert_int_equal(d->watchlists.change[i], CFG_SAME);
	for (i = 0; i < n->nsinks; i++)
		assert_int_equal(d->sinks.change[i], CFG_SAME);
	assert_int_equal(d->feeds.nremoved + d->sinks.nremoved + d->watchlists.nremoved, 0);
	config_diff_free(d);
	config_free(o);
	config_free(n);
}

static void
test_restart_keys_kept(void **state)
{
	struct config *o, *n;
	struct config_diff *d;
	char err[WW_ERRLEN], cwd[4096], *path = xasprintf("%s/r.conf", tmpdir);
	FILE *f;

	(void)state;
	o = load("old.conf", old_text);
	assert_non_null(getcwd(cwd, sizeof cwd));
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[daemon]\nredis = unix:/tmp/other.sock\ninstance = t2\nprefix = x:\n"
	    "per-host-connections = 9\nseen-ttl = 2d\nentities = %s/conf/entities\n%s",
	    cwd, old_text);
	fclose(f);
	n = config_load(path, err, sizeof err);
	assert_non_null(n);
	d = config_diff(o, n);
	assert_string_equal(d->restart, "redis, prefix, instance, per-host-connections");
	/* new now describes what runs; seen-ttl is not a restart key. */
	assert_string_equal(n->redis, "unix:/tmp/r.sock");
	assert_string_equal(n->prefix, "ww:");
	assert_string_equal(n->instance, "t");
	assert_int_equal(n->per_host, 2);
	assert_int_equal(n->seen_ttl, 2 * 86400);
	config_diff_free(d);
	config_free(o);
	config_free(n);
	free(path);
}

static void
test_refcount(void **state)
{
	struct config *o;

	(void)state;
	o = load("old.conf", old_text);
	assert_ptr_equal(config_ref(o), o);
	config_free(o);
	/* Still alive: one reference left (ASan would catch a use after free). */
	assert_string_equal(o->feeds[0].name, "a");
	config_free(o);
	config_free(NULL);
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
	char *cmd = xasprintf("rm -rf %s", tmpdir);
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
		cmocka_unit_test(test_diff_kinds),
		cmocka_unit_test(test_same_file_no_change),
		cmocka_unit_test(test_restart_keys_kept),
		cmocka_unit_test(test_refcount),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
