/*
 * test_text.c - HTML to text, normalization and tokenization.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/text.h"

/* The normal forms of text's tokens joined by '|'. */
static char *
toks(const char *text)
{
	struct text_tokens t = {0};
	struct buf b = {0};
	size_t i;

	text_tokenize(text, strlen(text), &t);
	for (i = 0; i < t.n; i++) {
		if (i)
			buf_addc(&b, '|');
		buf_adds(&b, text_token_norm(&t, i));
	}
	text_tokens_free(&t);
	return buf_steal(&b);
}

static void
assert_toks(const char *text, const char *want)
{
	char *got = toks(text);

	if (strcmp(got, want) != 0)
		fail_msg("tokens of \"%s\": got %s, want %s", text, got, want);
	free(got);
}

static void
test_words_and_separators(void **state)
{
	(void)state;
	assert_toks("North Korea-Russia mutual defense treaty",
	    "north|korea|russia|mutual|defense|treaty");
	assert_toks("Korea\xe2\x80\x93Russia Korea\xe2\x80\x94Russia and/or", /* en, em dash */
	    "korea|russia|korea|russia|and|or");
	assert_toks("\xe2\x80\x9cunwavering\xe2\x80\x9d (KCNA).", "unwavering|kcna");
	assert_toks("", "");
}

static void
test_possessives_and_apostrophes(void **state)
{
	(void)state;
	assert_toks("Russia's Russia\xe2\x80\x99s Kim\xe2\x80\x99s", "russia|russia|kim");
	assert_toks("the North\xe2\x80\x99s state media", "the|north|state|media");
	/* not a possessive: the s starts a word */
	assert_toks("rock'n'roll", "rock|n|roll");
}

static void
test_invisible_characters(void **state)
{
	(void)state;
	assert_toks("Pyong\xe2\x80\x8byang", "pyongyang");                 /* ZWSP */
	assert_toks("Kim\xc2\xa0Jong\xc2\xa0Un", "kim|jong|un");            /* NBSP */
	assert_toks("Py\xc2\xadong", "pyong");                              /* soft hyphen */
}

static void
test_fold_accents_scripts(void **state)
{
	(void)state;
	assert_toks("Caf\xc3\xa9 S\xc3\xa3o PAULO", "cafe|sao|paulo");
	assert_toks("\xd0\x9a\xd0\x9d\xd0\x94\xd0\xa0 \xd0\x81\xd0\xbb\xd0\xba\xd0\xb0",
	    "\xd0\xba\xd0\xbd\xd0\xb4\xd1\x80|\xd0\xb5\xd0\xbb\xd0\xba\xd0\xb0"); /* КНДР Ёлка */
	assert_toks("Αθήνα ΑΘΗΝΑ", "αθηνα|αθηνα");                             /* Greek tonos */
	/* accents fold in Latin, Greek and Cyrillic only */
	assert_toks("ガス カス", "ガ|ス|カ|ス");                              /* kana voicing kept */
	assert_toks("दिल्ली", "दिल्ली");                                      /* Devanagari signs kept */
	assert_toks("Schröder Ærø", "schroder|ærø");                        /* ø is a letter */
	assert_toks("\xef\xbc\xb5\xef\xbc\xb3", "us");                       /* fullwidth ＵＳ (NFKC) */
	/* Hangul and Han: one token per character */
	assert_toks("\xeb\xb6\x81\xed\x95\x9c\xec\x9d\x98", "\xeb\xb6\x81|\xed\x95\x9c|\xec\x9d\x98");
	assert_toks("\xe6\x9c\x9d\xe9\xb2\x9c" "abc", "\xe6\x9c\x9d|\xe9\xb2\x9c|abc");
}

static void
test_html_to_plain(void **state)
{
	char *s;

	(void)state;
	s = text_html_to_plain("<p>Kim&nbsp;Jong&#8211;un</p><script>var x='treaty';</script>"
	    "uncondition<b>al</b>&amp;<br/>support &#x41;&bogus; <!-- treaty -->");
	assert_string_equal(s, " Kim\xc2\xa0Jong\xe2\x80\x93un  unconditional& support A&bogus; ");
	free(s);
	s = text_html_to_plain("a < b and c > d");
	assert_string_equal(s, "a < b and c > d");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words_and_separators),
		cmocka_unit_test(test_possessives_and_apostrophes),
		cmocka_unit_test(test_invisible_characters),
		cmocka_unit_test(test_fold_accents_scripts),
		cmocka_unit_test(test_html_to_plain),
	};

	return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
