/*
 * text.c - HTML to text, normalization and tokenization; see text.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <utf8proc.h>

#include "wirewatch/text.h"

/* Inline elements do not separate words: "unconditional<b>ly</b>". */
static int
inline_tag(const char *name, size_t n)
{
	static const char *tags[] = { "b", "i", "u", "em", "strong", "span", "a", "font",
		"sup", "sub", "small", "big", "abbr", "code", "mark", "s", "q", NULL };
	size_t i;

	for (i = 0; tags[i] != NULL; i++)
		if (strlen(tags[i]) == n && strncasecmp(tags[i], name, n) == 0)
			return 1;
	return 0;
}

static void
add_utf8(struct buf *b, unsigned cp)
{
	utf8proc_uint8_t tmp[4];
	utf8proc_ssize_t n;

	if (cp == 0 || !utf8proc_codepoint_valid((utf8proc_int32_t)cp))
		cp = 0xfffd;
	n = utf8proc_encode_char((utf8proc_int32_t)cp, tmp);
	buf_add(b, tmp, (size_t)n);
}

/* Decodes one reference at p ("&...;"); returns bytes consumed or 0. */
static size_t
entity(const char *p, struct buf *b)
{
	const htmlEntityDesc *e;
	char name[32];
	unsigned long v;
	size_t n = 1;
	char *end;

	if (p[1] == '#') {
		if (p[2] == 'x' || p[2] == 'X')
			v = strtoul(p + 3, &end, 16);
		else
			v = strtoul(p + 2, &end, 10);
		if (end == p + 2 || (end == p + 3 && (p[2] == 'x' || p[2] == 'X')) || v > 0x10ffff)
			return 0;
		add_utf8(b, (unsigned)v);
		return (size_t)(end - p) + (*end == ';');
	}
	while (n < sizeof name && isalnum((unsigned char)p[n]))
		n++;
	if (n == 1 || n >= sizeof name || p[n] != ';')
		return 0;
	memcpy(name, p + 1, n - 1);
	name[n - 1] = '\0';
	if ((e = htmlEntityLookup((const xmlChar *)name)) == NULL)
		return 0;
	add_utf8(b, e->value);
	return n + 1;
}

char *
text_html_to_plain(const char *html)
{
	struct buf b = {0};

	if (html == NULL)
		return xstrdup("");
	text_html_to_plain_buf(html, &b);
	return buf_steal(&b);
}

void
text_html_to_plain_buf(const char *html, struct buf *b)
{
	const char *p = html, *q, *name;
	size_t n, skip;

	if (b->s == NULL)
		buf_add(b, "", 0);
	while (*p != '\0') {
		if (*p == '<' && (isalpha((unsigned char)p[1]) || p[1] == '/' || p[1] == '!')) {
			if (strncmp(p, "<!--", 4) == 0) {
				q = strstr(p + 4, "-->");
				p = q ? q + 3 : p + strlen(p);
				continue;
			}
			name = p + 1 + (p[1] == '/');
			n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
			if ((q = strchr(p, '>')) == NULL)
				break;
			if (p[1] != '/' && ((n == 6 && !strncasecmp(name, "script", 6)) ||
			    (n == 5 && !strncasecmp(name, "style", 5)))) {
				char close[10];
				snprintf(close, sizeof close, "</%.*s", (int)n, name);
				q = strcasestr(q, close);
				if (q == NULL || (q = strchr(q, '>')) == NULL)
					break;
			}
			if (!inline_tag(name, n))
				buf_addc(b, ' ');
			p = q + 1;
		} else if (*p == '&' && (skip = entity(p, b)) > 0) {
			p += skip;
		} else {
			n = strcspn(p + 1, "<&") + 1;
			buf_add(b, p, n);
			p += n;
		}
	}
}

/* Latin, Greek and Cyrillic: the scripts whose accents are folded away. */
static int
accent_folded_script(utf8proc_int32_t cp)
{
	return cp < 0x0250 || (cp >= 0x0370 && cp <= 0x052f) ||
	    (cp >= 0x1c80 && cp <= 0x1c8f) || (cp >= 0x1e00 && cp <= 0x1fff) ||
	    (cp >= 0x2c60 && cp <= 0x2c7f) || (cp >= 0x2de0 && cp <= 0x2dff) ||
	    (cp >= 0xa640 && cp <= 0xa69f) || (cp >= 0xa720 && cp <= 0xa7ff) ||
	    (cp >= 0xab30 && cp <= 0xab6f);
}

static int
is_mark(utf8proc_int32_t cp)
{
	utf8proc_category_t c = utf8proc_category(cp);

	return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC ||
	    c == UTF8PROC_CATEGORY_ME;
}

/*
 * NFKC, case folded, default-ignorables dropped, and the combining marks of
 * Latin, Greek and Cyrillic letters stripped ("café" is "cafe", "Ёлка" is
 * "елка").  Marks of other scripts stay: kana voicing (が is not か),
 * Devanagari vowel signs, Hebrew and Arabic points.
 */
char *
text_fold(const char *s, size_t n)
{
	const utf8proc_option_t opt = UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE |
	    UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_STABLE;
	utf8proc_int32_t *cps, base = 0;
	utf8proc_ssize_t len, len2, i, j;
	size_t k;
	char *r;

	for (k = 0; k < n && (unsigned char)s[k] < 0x80; k++)
		;
	if (k == n) {
		r = xstrndup(s, n);
		for (k = 0; k < n; k++)
			r[k] = (char)tolower((unsigned char)r[k]);
		return r;
	}
	len = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, NULL, 0, opt);
	if (len < 0)
		return xstrndup(s, n);
	cps = xreallocarray(NULL, (size_t)len + 1, sizeof *cps);
	len2 = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, cps, len, opt);
	if (len2 < 0 || len2 > len) {
		free(cps);
		return xstrndup(s, n);
	}
	for (i = j = 0; i < len2; i++) {
		if (is_mark(cps[i])) {
			if (accent_folded_script(base))
				continue;
		} else {
			base = cps[i];
		}
		cps[j++] = cps[i];
	}
	/* recomposes (NFKC) and encodes as UTF-8 in place */
	len = utf8proc_reencode(cps, j, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
	if (len < 0) {
		free(cps);
		return xstrndup(s, n);
	}
	r = (char *)cps;
	r[len] = '\0';
	return r;
}

static int
is_ignorable(utf8proc_int32_t cp)
{
	return cp == 0x200b || cp == 0x200c || cp == 0x200d || cp == 0x2060 ||
	    cp == 0xfeff || cp == 0x00ad;
}

static int
is_cjk(utf8proc_int32_t cp)
{
	return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
	    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xac00 && cp <= 0xd7af) || (cp >= 0x1100 && cp <= 0x11ff) ||
	    (cp >= 0x3130 && cp <= 0x318f) || (cp >= 0x3040 && cp <= 0x30ff);
}

static int
is_word(utf8proc_int32_t cp)
{
	utf8proc_category_t c;

	if (cp < 0x80)
		return isalnum(cp);
	c = utf8proc_category(cp);
	return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
	    (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME) ||
	    (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

static int
is_apostrophe(utf8proc_int32_t cp)
{
	return cp == '\'' || cp == 0x2019 || cp == 0x02bc || cp == 0x2018;
}

static void
emit(struct text_tokens *t, const char *text, size_t start, size_t end)
{
	struct text_token *tok;
	char *norm;
	size_t i;

	if (end <= start)
		return;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->v = xreallocarray(t->v, t->cap, sizeof *t->v);
	}
	for (i = start; i < end && (unsigned char)text[i] < 0x80; i++)
		;
	if (i == end) {
		/* ASCII: fold straight into the arena. */
		tok = &t->v[t->n++];
		tok->start = (uint32_t)start;
		tok->end = (uint32_t)end;
		tok->norm = (uint32_t)t->arena.len;
		tok->normlen = (uint32_t)(end - start);
		buf_add(&t->arena, text + start, end - start);
		buf_addc(&t->arena, '\0');
		norm = t->arena.s + tok->norm;
		for (i = 0; i < tok->normlen; i++)
			if (norm[i] >= 'A' && norm[i] <= 'Z')
				norm[i] = (char)(norm[i] - 'A' + 'a');
		return;
	}
	norm = text_fold(text + start, end - start);
	if (*norm == '\0') {
		free(norm);
		return;
	}
	tok = &t->v[t->n++];
	tok->start = (uint32_t)start;
	tok->end = (uint32_t)end;
	tok->norm = (uint32_t)t->arena.len;
	tok->normlen = (uint32_t)strlen(norm);
	buf_add(&t->arena, norm, tok->normlen + 1);
	free(norm);
}

void
text_tokenize(const char *text, size_t len, struct text_tokens *t)
{
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
	utf8proc_int32_t cp, next;
	utf8proc_ssize_t l, l2;
	size_t i = 0, start = 0, last_end = 0;
	int in = 0;

	while (i < len) {
		if ((unsigned char)text[i] < 0x80) {
			cp = (unsigned char)text[i];
			l = 1;
		} else if ((l = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp)) < 0) {
			cp = 0xfffd;
			l = 1;
		}
		if (is_ignorable(cp)) {
			i += (size_t)l;
			continue;
		}
		if (is_cjk(cp)) {
			if (in)
				emit(t, text, start, last_end);
			in = 0;
			emit(t, text, i, i + (size_t)l);
		} else if (is_word(cp)) {
			if (!in)
				start = i;
			in = 1;
			last_end = i + (size_t)l;
		} else {
			if (in && is_apostrophe(cp) && i + (size_t)l < len &&
			    (text[i + l] == 's' || text[i + l] == 'S')) {
				/* possessive: "Russia's" is "Russia" */
				size_t after = i + (size_t)l + 1;
				next = ' ';
				if (after < len && (l2 = utf8proc_iterate(s + after,
				    (utf8proc_ssize_t)(len - after), &next)) < 0)
					next = ' ';
				if (after >= len || !is_word(next)) {
					emit(t, text, start, last_end);
					in = 0;
					i = after;
					continue;
				}
			}
			if (in)
				emit(t, text, start, last_end);
			in = 0;
		}
		i += (size_t)l;
	}
	if (in)
		emit(t, text, start, last_end);
}

void
text_tokens_reset(struct text_tokens *t)
{
	t->n = 0;
	buf_reset(&t->arena);
}

void
text_tokens_free(struct text_tokens *t)
{
	free(t->v);
	buf_free(&t->arena);
	memset(t, 0, sizeof *t);
}
