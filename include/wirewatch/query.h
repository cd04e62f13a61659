/*
 * query.h - the watchlist query language: lexer, parser, syntax tree.
 *
 *   query   := or
 *   or      := and ("OR" and)*
 *   and     := unary (["AND"] unary)*          implicit AND between terms
 *   unary   := ("NOT" | "-") unary | near
 *   near    := primary ("NEAR/n" primary)*
 *   primary := "(" or ")" | FIELD ":" primary | "case:" WORD
 *            | WORD | WORD"*" | "phrase" | @Entity | /regex/[c]
 *
 * Precedence NOT > AND > OR; NEAR binds its two operands tightest and
 * takes terms, phrases, entities and parenthesised OR-groups of those.
 * Operators are upper case: "war and peace" is three words.  A WORD that
 * holds hyphens, dashes or slashes ("Korea-Russia") is a phrase of its
 * parts.  A NEAR pairs two distinct occurrences.
 * Errors name the column (1-based, in characters) and what was expected.
 */
#ifndef WIREWATCH_QUERY_H
#define WIREWATCH_QUERY_H

#include <stddef.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct entity;
struct entity_set;

enum qfield {
	QF_TITLE = 1, QF_SUMMARY = 2, QF_CONTENT = 4, QF_AUTHOR = 8,
	QF_CATEGORY = 16, QF_FEED = 32
};
#define QF_DEFAULT (QF_TITLE | QF_SUMMARY | QF_CONTENT)
#define QF_COUNT 6

enum qkind { Q_TERM, Q_ENTITY, Q_REGEX, Q_AND, Q_OR, Q_NOT, Q_NEAR };

struct qnode {
	enum qkind kind;
	unsigned fields;          /* leaves: QF_* mask */
	char *src;                /* the clause as written */
	/* Q_TERM */
	char **words;             /* normal forms */
	char **surface;           /* as written (for case-sensitive terms) */
	size_t nwords;
	int prefix;               /* last word is a prefix (trailing '*') */
	int case_sensitive;
	/* Q_ENTITY */
	const struct entity *entity;
	/* Q_REGEX */
	pcre2_code *re;
	/* Q_NEAR */
	int distance;
	/* Q_AND, Q_OR, Q_NOT (1), Q_NEAR (2) */
	struct qnode **kids;
	size_t nkids;
	/* filled by the matcher */
	int pat;                  /* Q_TERM: pattern id */
};

/* NULL with "column N: ..." in err. */
struct qnode *query_parse(const char *src, const struct entity_set *ents,
    char *err, size_t errlen);
void query_free(struct qnode *n);

/* The field's name ("title", ...) for a single QF_* bit. */
const char *query_field_name(unsigned field);

#endif
