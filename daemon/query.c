/*
 * query.c - lexer and recursive-descent parser for watchlist queries;
 * the grammar is in query.h.
 *
 * Words and phrases are tokenized with the same text model as items
 * (text.c), so "North Korea-Russia" in a query is the phrase the text
 * gives, and "Russia's" is "russia".
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/entity.h"
#include "wirewatch/match.h"
#include "wirewatch/query.h"
#include "wirewatch/text.h"
#include "wirewatch/util.h"

#define REGEX_MAX_LEN 1000
#define REGEX_MAX_NEST 32

enum tok { T_EOF, T_LP, T_RP, T_WORD, T_PHRASE, T_ENTITY, T_REGEX, T_FIELD, T_CASE,
	T_AND, T_OR, T_NOT, T_MINUS, T_NEAR };

struct parser {
	const char *src;
	const char *p;
	const struct entity_set *ents;
	/* current token */
	enum tok tok;
	const char *start;        /* where it starts in src */
	char *text;               /* word/phrase/entity/regex body */
	int star;                 /* word ends in '*' */
	int flag_c;               /* regex /.../c */
	int num;                  /* NEAR/n, or field mask */
	char *err;
	size_t errlen;
	int failed;
};

static const struct { const char *name; unsigned bit; } fields[] = {
	{ "title", QF_TITLE }, { "summary", QF_SUMMARY }, { "content", QF_CONTENT },
	{ "author", QF_AUTHOR }, { "category", QF_CATEGORY }, { "feed", QF_FEED },
};

const char *
query_field_name(unsigned field)
{
	size_t i;

	for (i = 0; i < QF_COUNT; i++)
		if (fields[i].bit == field)
			return fields[i].name;
	return "?";
}

static int
column(const struct parser *ps, const char *at)
{
	const char *s;
	int col = 1;

	for (s = ps->src; s < at && *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			col++;
	return col;
}

static void
error_at(struct parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
error_at(struct parser *ps, const char *at, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "column %d: %s", column(ps, at), msg);
}

static int
is_space_at(const char *p, size_t *len)
{
	if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
		*len = 1;
		return 1;
	}
	if ((unsigned char)p[0] == 0xc2 && (unsigned char)p[1] == 0xa0) { /* NBSP */
		*len = 2;
		return 1;
	}
	return 0;
}

/* Curly double quotes open and close phrases too. */
static size_t
quote_len(const char *p)
{
	if (*p == '"')
		return 1;
	if ((unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
	    ((unsigned char)p[2] == 0x9c || (unsigned char)p[2] == 0x9d))
		return 3;
	return 0;
}

static int
word_end(const char *p)
{
	size_t l;

	return *p == '\0' || *p == '(' || *p == ')' || quote_len(p) || is_space_at(p, &l);
}

static void
lex(struct parser *ps)
{
	const char *p = ps->p, *q;
	size_t l, n, i;

	free(ps->text);
	ps->text = NULL;
	ps->star = ps->flag_c = 0;
	while (is_space_at(p, &l))
		p += l;
	ps->start = p;
	if (*p == '\0') {
		ps->tok = T_EOF;
	} else if (*p == '(' || *p == ')') {
		ps->tok = *p == '(' ? T_LP : T_RP;
		p++;
	} else if ((l = quote_len(p)) > 0) {
		q = p + l;
		while (*q != '\0' && !quote_len(q))
			q++;
		if (*q == '\0') {
			error_at(ps, p, "unterminated phrase: expected a closing '\"'");
			ps->tok = T_EOF;
			return;
		}
		ps->tok = T_PHRASE;
		n = (size_t)(q - p - l);
		/* "new sanction*": the last word of a phrase may be a prefix */
		ps->star = n > 1 && p[l + n - 1] == '*';
		ps->text = xstrndup(p + l, n - (size_t)ps->star);
		p = q + quote_len(q);
	} else if (*p == '/') {
		q = p + 1;
		while (*q != '\0' && *q != '/')
			q += (*q == '\\' && q[1] != '\0') ? 2 : 1;
		if (*q == '\0') {
			error_at(ps, p, "unterminated regular expression: expected a closing '/'");
			ps->tok = T_EOF;
			return;
		}
		ps->tok = T_REGEX;
		ps->text = xstrndup(p + 1, (size_t)(q - p - 1));
		p = q + 1;
		if (*p == 'c') {
			ps->flag_c = 1;
			p++;
		}
		if (!word_end(p)) {
			error_at(ps, p, "expected a space or ')' after a regular expression (flag 'c' only)");
			ps->tok = T_EOF;
			return;
		}
	} else if (*p == '-' && !word_end(p + 1)) {
		ps->tok = T_MINUS;
		p++;
	} else if (*p == '@') {
		q = p + 1;
		while (!word_end(q))
			q++;
		ps->tok = T_ENTITY;
		ps->text = xstrndup(p + 1, (size_t)(q - p - 1));
		p = q;
	} else {
		q = p;
		while (!word_end(q) && *q != ':')
			q++;
		n = (size_t)(q - p);
		if (*q == ':' && n > 0) {
			for (i = 0; i < n && isalpha((unsigned char)p[i]); i++)
				;
			if (i == n) {
				ps->tok = T_FIELD;
				ps->num = 0;
				if (n == 4 && !strncasecmp(p, "case", 4))
					ps->tok = T_CASE;
				for (i = 0; i < QF_COUNT; i++)
					if (strlen(fields[i].name) == n && !strncasecmp(p, fields[i].name, n))
						ps->num = (int)fields[i].bit;
				if (ps->tok == T_FIELD && ps->num == 0) {
					error_at(ps, p, "unknown field '%.*s' (expected title, summary, "
					    "content, author, category, feed or case)", (int)n, p);
					ps->tok = T_EOF;
					return;
				}
				ps->p = q + 1;
				return;
			}
		}
		while (!word_end(q))
			q++;
		n = (size_t)(q - p);
		ps->p = q;
		if (n == 3 && !strncmp(p, "AND", 3)) {
			ps->tok = T_AND;
		} else if (n == 2 && !strncmp(p, "OR", 2)) {
			ps->tok = T_OR;
		} else if (n == 3 && !strncmp(p, "NOT", 3)) {
			ps->tok = T_NOT;
		} else if (n >= 4 && !strncmp(p, "NEAR", 4)) {
			char *end;
			long d;
			if (p[4] != '/' || !isdigit((unsigned char)p[5]) ||
			    (d = strtol(p + 5, &end, 10), end != q) || d > 1000) {
				error_at(ps, p, "expected NEAR/n with n a number of words (0 to 1000)");
				ps->tok = T_EOF;
				return;
			}
			ps->tok = T_NEAR;
			ps->num = (int)d;
		} else {
			ps->tok = T_WORD;
			ps->star = n > 1 && p[n - 1] == '*';
			ps->text = xstrndup(p, n - (size_t)ps->star);
		}
		return;
	}
	ps->p = p;
}

static char *
src_between(const char *from, const char *to)
{
	while (to > from && (to[-1] == ' ' || to[-1] == '\t'))
		to--;
	return xstrndup(from, (size_t)(to - from));
}

static struct qnode *
node_new(enum qkind kind, const char *from, const char *to)
{
	struct qnode *n = xcalloc(1, sizeof *n);

	n->kind = kind;
	n->pat = -1;
	n->src = src_between(from, to);
	return n;
}

static void
add_kid(struct qnode *n, struct qnode *k)
{
	n->kids = xreallocarray(n->kids, n->nkids + 1, sizeof *n->kids);
	n->kids[n->nkids++] = k;
}

void
query_free(struct qnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		query_free(n->kids[i]);
	for (i = 0; i < n->nwords; i++) {
		free(n->words[i]);
		free(n->surface[i]);
	}
	free(n->words);
	free(n->surface);
	free(n->kids);
	free(n->src);
	if (n->re)
		pcre2_code_free(n->re);
	free(n);
}

/* --- leaves ---------------------------------------------------------------- */

static struct qnode *
term_leaf(struct parser *ps, int case_sensitive, const char *from)
{
	struct text_tokens t = {0};
	struct qnode *n;
	size_t i;

	text_tokenize(ps->text, strlen(ps->text), &t);
	if (t.n == 0) {
		error_at(ps, ps->start, "expected a word, found '%s'", ps->text);
		text_tokens_free(&t);
		return NULL;
	}
	if (ps->star && t.v[t.n - 1].normlen < 2) {
		error_at(ps, ps->start, "a wildcard needs at least 2 characters before '*'");
		text_tokens_free(&t);
		return NULL;
	}
	n = node_new(Q_TERM, from, ps->p);
	n->nwords = t.n;
	n->words = xcalloc(t.n, sizeof *n->words);
	n->surface = xcalloc(t.n, sizeof *n->surface);
	for (i = 0; i < t.n; i++) {
		n->words[i] = xstrdup(text_token_norm(&t, i));
		n->surface[i] = xstrndup(ps->text + t.v[i].start, t.v[i].end - t.v[i].start);
	}
	n->prefix = ps->star;
	n->case_sensitive = case_sensitive;
	text_tokens_free(&t);
	return n;
}

static struct qnode *
regex_leaf(struct parser *ps, const char *from)
{
	pcre2_compile_context *cctx;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	struct qnode *n;
	int rc;

	if (strlen(ps->text) > REGEX_MAX_LEN) {
		error_at(ps, ps->start, "regular expression longer than %d characters", REGEX_MAX_LEN);
		return NULL;
	}
	n = node_new(Q_REGEX, from, ps->p);
	if ((cctx = pcre2_compile_context_create(NULL)) == NULL)
		abort();
	pcre2_set_parens_nest_limit(cctx, REGEX_MAX_NEST);
	n->re = pcre2_compile((PCRE2_SPTR)ps->text, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP | (ps->flag_c ? 0 : PCRE2_CASELESS), &rc, &off, cctx);
	pcre2_compile_context_free(cctx);
	if (n->re == NULL) {
		pcre2_get_error_message(rc, msg, sizeof msg);
		error_at(ps, ps->start + 1 + off, "bad regular expression: %s", (char *)msg);
		query_free(n);
		return NULL;
	}
	pcre2_jit_compile(n->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
	return n;
}

/* --- grammar ---------------------------------------------------------------- */

static struct qnode *parse_or(struct parser *ps);

static void
set_fields(struct qnode *n, unsigned mask)
{
	size_t i;

	if (n->kind == Q_TERM || n->kind == Q_ENTITY || n->kind == Q_REGEX) {
		if (n->fields == 0)
			n->fields = mask;
		return;
	}
	for (i = 0; i < n->nkids; i++)
		set_fields(n->kids[i], mask);
}

static struct qnode *
parse_primary(struct parser *ps)
{
	const char *from = ps->start;
	struct qnode *n = NULL;
	unsigned mask;

	switch (ps->tok) {
	case T_LP:
		lex(ps);
		n = parse_or(ps);
		if (n == NULL)
			return NULL;
		if (ps->tok != T_RP) {
			error_at(ps, ps->start, "expected ')' to close the '(' at column %d",
			    column(ps, from));
			query_free(n);
			return NULL;
		}
		lex(ps);
		return n;
	case T_FIELD:
		mask = (unsigned)ps->num;
		lex(ps);
		if ((n = parse_primary(ps)) != NULL)
			set_fields(n, mask);
		return n;
	case T_CASE:
		lex(ps);
		if (ps->tok != T_WORD && ps->tok != T_PHRASE) {
			error_at(ps, ps->start, "expected a word or phrase after 'case:'");
			return NULL;
		}
		n = term_leaf(ps, 1, from);
		break;
	case T_WORD:
	case T_PHRASE:
		n = term_leaf(ps, 0, from);
		break;
	case T_ENTITY: {
		const struct entity *e = entity_find(ps->ents, ps->text);
		if (e == NULL) {
			error_at(ps, ps->start, "unknown entity '@%s'", ps->text);
			return NULL;
		}
		n = node_new(Q_ENTITY, from, ps->p);
		n->entity = e;
		break;
	}
	case T_REGEX:
		n = regex_leaf(ps, from);
		break;
	default:
		error_at(ps, ps->start, "expected a word, \"phrase\", @Entity, /regex/ or '('%s",
		    ps->tok == T_EOF ? " at the end of the query" : "");
		return NULL;
	}
	if (n != NULL)
		lex(ps);
	return n;
}

static int
nearable(const struct qnode *n)
{
	size_t i;

	if (n->kind == Q_TERM || n->kind == Q_ENTITY || n->kind == Q_NEAR)
		return 1;
	if (n->kind != Q_OR)
		return 0;
	for (i = 0; i < n->nkids; i++)
		if (!nearable(n->kids[i]))
			return 0;
	return 1;
}

static struct qnode *
parse_near(struct parser *ps)
{
	const char *from = ps->start, *op_at;
	struct qnode *a = parse_primary(ps), *b, *n;
	int dist;

	while (a != NULL && ps->tok == T_NEAR) {
		op_at = ps->start;
		dist = ps->num;
		if (!nearable(a)) {
			error_at(ps, from, "NEAR takes terms, phrases, @Entities or (OR-groups) of them");
			query_free(a);
			return NULL;
		}
		lex(ps);
		const char *bfrom = ps->start;
		if ((b = parse_primary(ps)) == NULL) {
			query_free(a);
			return NULL;
		}
		if (!nearable(b)) {
			error_at(ps, bfrom, "NEAR takes terms, phrases, @Entities or (OR-groups) of them");
			query_free(a);
			query_free(b);
			return NULL;
		}
		(void)op_at;
		n = node_new(Q_NEAR, from, ps->start);
		n->distance = dist;
		add_kid(n, a);
		add_kid(n, b);
		a = n;
	}
	return a;
}

static struct qnode *
parse_unary(struct parser *ps)
{
	const char *from = ps->start;
	struct qnode *k, *n;

	if (ps->tok == T_NOT || ps->tok == T_MINUS) {
		lex(ps);
		if ((k = parse_unary(ps)) == NULL)
			return NULL;
		n = node_new(Q_NOT, from, ps->start);
		add_kid(n, k);
		return n;
	}
	return parse_near(ps);
}

static int
starts_unary(enum tok t)
{
	return t == T_LP || t == T_WORD || t == T_PHRASE || t == T_ENTITY || t == T_REGEX ||
	    t == T_FIELD || t == T_CASE || t == T_NOT || t == T_MINUS;
}

static struct qnode *
parse_list(struct parser *ps, enum qkind kind)
{
	const char *from = ps->start;
	struct qnode *a, *b, *n = NULL;

	a = kind == Q_OR ? parse_list(ps, Q_AND) : parse_unary(ps);
	while (a != NULL) {
		if (kind == Q_OR && ps->tok == T_OR)
			lex(ps);
		else if (kind == Q_AND && ps->tok == T_AND)
			lex(ps);
		else if (!(kind == Q_AND && starts_unary(ps->tok)))
			break;
		b = kind == Q_OR ? parse_list(ps, Q_AND) : parse_unary(ps);
		if (b == NULL) {
			query_free(n ? n : a);
			return NULL;
		}
		if (n == NULL) {
			n = node_new(kind, from, from);
			add_kid(n, a);
		}
		add_kid(n, b);
	}
	if (n != NULL) {
		free(n->src);
		n->src = src_between(from, ps->start);
	}
	return n ? n : a;
}

static struct qnode *
parse_or(struct parser *ps)
{
	return parse_list(ps, Q_OR);
}

static void
default_fields(struct qnode *n)
{
	set_fields(n, QF_DEFAULT);
}

struct qnode *
query_parse(const char *src, const struct entity_set *ents, char *err, size_t errlen)
{
	struct parser ps;
	struct qnode *n;

	memset(&ps, 0, sizeof ps);
	ps.src = ps.p = src;
	ps.ents = ents;
	ps.err = err;
	ps.errlen = errlen;
	lex(&ps);
	if (ps.failed)
		goto fail;
	if (ps.tok == T_EOF) {
		error_at(&ps, ps.start, "empty query: expected a word, \"phrase\", @Entity or /regex/");
		goto fail;
	}
	n = parse_or(&ps);
	if (n == NULL)
		goto fail;
	if (ps.failed) {
		/* a lexical error ended the token stream early */
		query_free(n);
		goto fail;
	}
	if (ps.tok != T_EOF) {
		error_at(&ps, ps.start, ps.tok == T_RP ? "unbalanced ')'" :
		    "expected AND, OR, NOT or the end of the query");
		query_free(n);
		goto fail;
	}
	free(ps.text);
	default_fields(n);
	return n;
fail:
	free(ps.text);
	return NULL;
}
