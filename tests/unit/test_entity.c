/*
 * test_entity.c - the local entities directory (entities.d) read after
 * the shipped one: new entities, extending and replacing shipped ones,
 * and the mistakes it refuses with FILE:LINE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "wirewatch/entity.h"
#include "wirewatch/match.h"
#include "wirewatch/util.h"

static char root[64];

static void
put(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s/%s", root, dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static char *
dir(const char *d)
{
	return xasprintf("%s/%s", root, d);
}

static int
setup(void **state)
{
	char *p;

	(void)state;
	snprintf(root, sizeof root, "/tmp/ww-test-entity-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	mkdir(p = dir("shipped"), 0700);
	free(p);
	mkdir(p = dir("local"), 0700);
	free(p);
	put("shipped", "a.conf", "[entity \"DPRK\"]\nalias = North Korea\n"
	    "exclude = South Korea\n\n[entity \"Russia\"]\nalias = Russia\n");
	return 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", root);

	(void)state;
	if (system(cmd) != 0)
		return -1;
	free(cmd);
	return 0;
}

static struct entity_set *
load(char *err, size_t errlen, int *rc)
{
	char *s = dir("shipped"), *l = dir("local");
	struct entity_set *set = entity_set_load(s, err, errlen);

	assert_non_null(set);
	*rc = entity_set_load_local(set, l, err, errlen);
	free(s);
	free(l);
	return set;
}

static void
extend_add_and_replace(void **state)
{
	const struct entity *e;
	struct entity_set *set;
	char err[512], *p;
	int rc;

	(void)state;
	put("local", "10.conf", "[entity \"DPRK\"]\nalias = Hermit Kingdom\n\n"
	    "[entity \"Mine\"]\nalias = Widget Corp\n\n"
	    "[entity \"Russia\"]\nreplace = yes\nalias = Rossiya\n");
	set = load(err, sizeof err, &rc);
	assert_int_equal(rc, 0);
	e = entity_find(set, "DPRK");
	assert_int_equal(e->naliases, 2);
	assert_string_equal(e->aliases[0].text, "North Korea");
	assert_string_equal(e->aliases[1].text, "Hermit Kingdom");
	assert_int_equal(e->nexcludes, 1);
	assert_non_null(strstr(e->file, "local/10.conf"));
	e = entity_find(set, "Russia");
	assert_int_equal(e->naliases, 1);
	assert_string_equal(e->aliases[0].text, "Rossiya");
	assert_non_null(entity_find(set, "Mine"));
	entity_set_free(set);
	unlink(p = xasprintf("%s/local/10.conf", root));
	free(p);
}

static void
refusals(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "[entity \"Mine\"]\nalias = x\n\n[entity \"Mine\"]\nalias = y\n",
		  "local/20.conf:4: entity \"Mine\" is defined twice (first at " },
		{ "[entity \"Mine\"]\nreplace = yes\nalias = x\n",
		  "local/20.conf:2: 'replace' is for an entity of the shipped set" },
		{ "[entity \"DPRK\"]\nreplace = maybe\n",
		  "local/20.conf:2: 'replace' is for an entity of the shipped set" },
		{ "[entity \"DPRK\"]\nreplace = yes\n",
		  "local/20.conf:1: entity \"DPRK\" has no alias" },
		{ "[entity \"DPRK\"]\nalias = a\n\n[entity \"DPRK\"]\nalias = b\n",
		  "local/20.conf:4: entity \"DPRK\" is defined twice (first at " },
	};
	struct entity_set *set;
	char err[512], *p;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		put("local", "20.conf", cases[i].text);
		err[0] = '\0';
		set = load(err, sizeof err, &rc);
		assert_int_equal(rc, -1);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: %s", i, err);
		entity_set_free(set);
	}
	unlink(p = xasprintf("%s/local/20.conf", root));
	free(p);
}

static void
missing_directory_is_fine(void **state)
{
	struct entity_set *set;
	char err[512], *s = dir("shipped"), *none = dir("none");

	(void)state;
	set = entity_set_load(s, err, sizeof err);
	assert_int_equal(entity_set_load_local(set, none, err, sizeof err), 0);
	assert_int_equal(set->n, 2);
	entity_set_free(set);
	free(s);
	free(none);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(extend_add_and_replace),
		cmocka_unit_test(refusals),
		cmocka_unit_test(missing_directory_is_fine),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
