/*
 * test_query.c - the query grammar: every operator, precedence, fields,
 * and errors that name the column and what was expected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/entity.h"
#include "wirewatch/match.h"
#include "wirewatch/query.h"
#include "wirewatch/util.h"

static struct entity_set *ents;

static void
render(struct buf *b, const struct qnode *n)
{
	static const char *ops[] = { "", "", "", "AND", "OR", "NOT", "NEAR" };
	size_t i;

	switch (n->kind) {
	case Q_TERM:
		if (n->case_sensitive)
			buf_adds(b, "case:");
		buf_addc(b, n->nwords > 1 ? '"' : '\'');
		for (i = 0; i < n->nwords; i++)
			buf_addf(b, "%s%s", i ? " " : "", n->case_sensitive ? n->surface[i] : n->words[i]);
		buf_addf(b, "%s%c", n->prefix ? "*" : "", n->nwords > 1 ? '"' : '\'');
		break;
	case Q_ENTITY:
		buf_addf(b, "@%s", n->entity->name);
		break;
	case Q_REGEX:
		buf_adds(b, "/re/");
		break;
	default:
		buf_addf(b, "(%s", ops[n->kind]);
		if (n->kind == Q_NEAR)
			buf_addf(b, "/%d", n->distance);
		for (i = 0; i < n->nkids; i++) {
			buf_addc(b, ' ');
			render(b, n->kids[i]);
		}
		buf_addc(b, ')');
		return;
	}
	if (n->fields != QF_DEFAULT)
		buf_addf(b, "[%u]", n->fields);
}

static void
assert_tree(const char *q, const char *want)
{
	char err[WW_ERRLEN];
	struct qnode *n = query_parse(q, ents, err, sizeof err);
	struct buf b = {0};

	if (n == NULL)
		fail_msg("query_parse(%s): %s", q, err);
	render(&b, n);
	if (strcmp(b.s, want) != 0)
		fail_msg("query %s\n got  %s\n want %s", q, b.s, want);
	buf_free(&b);
	query_free(n);
}

static void
assert_error(const char *q, const char *want)
{
	char err[WW_ERRLEN];
	struct qnode *n = query_parse(q, ents, err, sizeof err);

	if (n != NULL) {
		query_free(n);
		fail_msg("query %s parsed, want error %s", q, want);
	}
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("query %s\n got  %s\n want %s...", q, err, want);
}

static void
test_operators_and_precedence(void **state)
{
	(void)state;
	assert_tree("treaty", "'treaty'");
	assert_tree("a b", "(AND 'a' 'b')");
	assert_tree("a AND b OR c", "(OR (AND 'a' 'b') 'c')");
	assert_tree("a OR b c", "(OR 'a' (AND 'b' 'c'))");
	assert_tree("a OR (b OR c) AND d", "(OR 'a' (AND (OR 'b' 'c') 'd'))");
	assert_tree("NOT a b", "(AND (NOT 'a') 'b')");
	assert_tree("-a OR b", "(OR (NOT 'a') 'b')");
	assert_tree("NOT NOT a", "(NOT (NOT 'a'))");
	assert_tree("a NEAR/3 b c", "(AND (NEAR/3 'a' 'b') 'c')");
	assert_tree("(a OR \"b c\") NEAR/0 @dprk", "(NEAR/0 (OR 'a' \"b c\") @DPRK)");
	assert_tree("a NEAR/1 b NEAR/2 c", "(NEAR/2 (NEAR/1 'a' 'b') 'c')");
	/* "and"/"or" in lower case are words */
	assert_tree("war and peace", "(AND 'war' 'and' 'peace')");
}

static void
test_terms(void **state)
{
	(void)state;
	assert_tree("\"North Korea-Russia\"", "\"north korea russia\"");
	assert_tree("\xe2\x80\x9cmutual treaty\xe2\x80\x9d", "\"mutual treaty\"");
	assert_tree("Russia's", "'russia'");
	assert_tree("sanction*", "'sanction*'");
	assert_tree("case:US", "case:'US'");
	assert_tree("/kim\\s+jong/", "/re/");
	assert_tree("north-korea", "\"north korea\"");
}

static void
test_fields(void **state)
{
	(void)state;
	assert_tree("title:treaty", "'treaty'[1]");
	assert_tree("summary:a content:b author:c category:d feed:e",
	    "(AND 'a'[2] 'b'[4] 'c'[8] 'd'[16] 'e'[32])");
	assert_tree("title:(a OR b) c", "(AND (OR 'a'[1] 'b'[1]) 'c')");
	assert_tree("title:\"north korea\"", "\"north korea\"[1]");
	assert_tree("title:@DPRK", "@DPRK[1]");
}

static void
test_errors_name_the_column(void **state)
{
	(void)state;
	assert_error("", "column 1: empty query");
	assert_error("treaty AND", "column 11: expected a word");
	assert_error("(treaty OR pact", "column 16: expected ')' to close the '(' at column 1");
	assert_error("treaty)", "column 7: unbalanced ')'");
	assert_error("@DPRK AND @Atlantis", "column 11: unknown entity '@Atlantis'");
	assert_error("titel:treaty", "column 1: unknown field 'titel'");
	assert_error("a \"open phrase", "column 3: unterminated phrase");
	assert_error("a /open", "column 3: unterminated regular expression");
	assert_error("/(/", "column 3: bad regular expression");
	assert_error("/((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))/",
	    "column 35: bad regular expression: parentheses are too deeply nested");
	assert_error("a NEAR b", "column 3: expected NEAR/n");
	assert_error("(a AND b) NEAR/2 c", "column 1: NEAR takes terms");
	assert_error("a NEAR/2 NOT b", "column 10: expected a word");
	assert_error("s*", "column 1: a wildcard needs at least 2 characters");
	assert_error("case:(a)", "column 6: expected a word or phrase after 'case:'");
	assert_error("\xd0\x9a\xd0\x9d\xd0\x94\xd0\xa0 AND", "column 9: expected a word");
}

int
main(void)
{
	char err[WW_ERRLEN];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operators_and_precedence),
		cmocka_unit_test(test_terms),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_errors_name_the_column),
	};
	int rc;

	if ((ents = entity_set_load("conf/entities", err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rc = cmocka_run_group_tests_name("query", tests, NULL, NULL);
	entity_set_free(ents);
	return rc;
}
