/*
 * text.h - HTML to text and the text model the matcher works on.
 *
 * Tokens follow Unicode word rules through utf8proc's categories: letters,
 * marks and digits make words; everything else (spaces, punctuation,
 * hyphens and dashes, slashes) separates them.  A possessive "'s" / "’s"
 * is dropped, default-ignorable characters (zero-width spaces and joiners,
 * soft hyphens) vanish without splitting a word, and each Han, Hangul or
 * kana character is a token of its own so that scripts written without
 * spaces match by character sequence.  A token's normal form is NFKC, case
 * folded, with the accents of Latin, Greek and Cyrillic letters stripped
 * (other scripts keep their marks: が is not か); ASCII takes a fast path.
 */
#ifndef WIREWATCH_TEXT_H
#define WIREWATCH_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "wirewatch/util.h"

struct text_token {
	uint32_t start;    /* byte offsets of the token in the text */
	uint32_t end;
	uint32_t norm;     /* offset of the normal form in text_tokens.arena */
	uint32_t normlen;
};

struct text_tokens {
	struct text_token *v;
	size_t n;
	size_t cap;
	struct buf arena;
};

/* HTML (or plain text) to plain text: tags dropped, script/style skipped,
 * entities and character references decoded.  Malloc'd, never NULL. */
char *text_html_to_plain(const char *html);
/* The same appended to out (whose storage is reused from item to item). */
void text_html_to_plain_buf(const char *html, struct buf *out);

/* Appends the tokens of text[0..len) to out. */
void text_tokenize(const char *text, size_t len, struct text_tokens *out);
void text_tokens_reset(struct text_tokens *t);
void text_tokens_free(struct text_tokens *t);

static inline const char *
text_token_norm(const struct text_tokens *t, size_t i)
{
	return t->arena.s + t->v[i].norm;
}

/* The normal form of s[0..n): NFKC, case folded, accents stripped. */
char *text_fold(const char *s, size_t n);

#endif
