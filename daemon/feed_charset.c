/*
 * feed_charset.c - bytes to UTF-8 before the XML parser sees them.
 *
 * Which charset applies is decided here, once, and the document is handed
 * to libxml2 as UTF-8 with its own declaration ignored.  Doing it ourselves
 * rather than through libxml2's switch-encoding machinery gives us the
 * whole iconv table (EBCDIC, DOS and Mac code pages, plus built-in tables
 * for the two Mac ones glibc lacks), a name to report in
 * Python's codec spelling, and a recovery path for bytes that are not valid
 * in the declared charset (bozo, decoded anyway).
 *
 * Order, following RFC 7303 with RFC 3023's media-type rule for text/…:
 *   1. a byte order mark;
 *   2. the HTTP charset parameter;
 *   3. text/… with no charset: us-ascii when every byte is ASCII (RFC 3023
 *      §3.1, as feedparser reports); otherwise the declaration (RFC 7303);
 *   4. UTF-16/32 or EBCDIC sniffed from "<?xm" and the XML declaration;
 *   5. UTF-8.
 *
 * Whatever the charset, what comes out is valid UTF-8 without NUL bytes:
 * libxml2 drops text around an invalid sequence (and passes some through),
 * and stops reading at a NUL, losing every item after it.
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "feed_internal.h"
#include "wirewatch/util.h"

/* Python-style names for the common aliases; anything else is kept. */
static const struct {
	const char *alias;
	const char *name;
} aliases[] = {
	{ "utf8", "utf-8" }, { "utf_8", "utf-8" }, { "u8", "utf-8" },
	{ "ascii", "us-ascii" }, { "us_ascii", "us-ascii" }, { "646", "us-ascii" },
	{ "ansi_x3.4-1968", "us-ascii" },
	{ "latin1", "iso-8859-1" }, { "latin-1", "iso-8859-1" }, { "l1", "iso-8859-1" },
	{ "iso8859-1", "iso-8859-1" }, { "iso_8859-1", "iso-8859-1" },
	{ "iso8859_1", "iso-8859-1" }, { "iso_8859_1", "iso-8859-1" },
	{ "8859", "iso-8859-1" }, { "cp819", "iso-8859-1" },
	{ "gb2312", "gb18030" }, { "gbk", "gb18030" }, { "big5-hkscs", "big5hkscs" },
	{ "utf_16", "utf-16" }, { "utf16", "utf-16" }, { "u16", "utf-16" },
	{ "utf_32", "utf-32" }, { "utf32", "utf-32" }, { "u32", "utf-32" },
	{ "utf_16be", "utf-16be" }, { "utf_16le", "utf-16le" },
	{ "utf_32be", "utf-32be" }, { "utf_32le", "utf-32le" },
};

/* Python codec names that glibc iconv spells differently. */
static const struct {
	const char *name;
	const char *iconv;
} iconv_names[] = {
	{ "iso-8859-1", "WINDOWS-1252" }, /* browsers' reading: C1 bytes as cp1252 */
	{ "us-ascii", "WINDOWS-1252" },   /* only used when the bytes are ASCII */
	{ "cp_is", "CP861" }, { "csibm861", "CP861" }, { "ibm039", "IBM037" }, { "cspc775baltic", "CP775" },
	{ "maciceland", "MAC-IS" }, { "maclatin2", "MAC-CENTRALEUROPE" },
	{ "maccentraleurope", "MAC-CENTRALEUROPE" }, { "macroman", "MACINTOSH" },
	{ "maccyrillic", "MAC-CYRILLIC" }, { "ebcdic_cp_be", "CP500" },
	{ "ebcdic_cp_ch", "CP500" }, { "ebcdic_cp_ca", "CP037" }, { "ebcdic_cp_nl", "CP037" },
	{ "ebcdic_cp_us", "CP037" }, { "ebcdic_cp_wt", "CP037" }, { "ebcdic-cp-wt", "CP037" },
	{ "cspcp852", "CP852" }, { "koi8-t", "KOI8-T" },
};

static char *
canonical(const char *label, size_t n)
{
	char *s = xstrndup(label, n);
	size_t i;

	for (i = 0; s[i]; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	for (i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (!strcmp(s, aliases[i].alias)) {
			free(s);
			return xstrdup(aliases[i].name);
		}
	return s;
}

static iconv_t
open_decoder(const char *name)
{
	char up[64];
	size_t i;
	iconv_t cd;

	for (i = 0; i < sizeof iconv_names / sizeof iconv_names[0]; i++)
		if (!strcmp(name, iconv_names[i].name))
			return iconv_open("UTF-8", iconv_names[i].iconv);
	for (i = 0; name[i] && i < sizeof up - 1; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[i] = '\0';
	if ((cd = iconv_open("UTF-8", up)) != (iconv_t)-1)
		return cd;
	/* Python's "cp437" is glibc's "CP437", "437" too; "ibm_850" style. */
	for (i = 0; up[i]; i++)
		if (up[i] == '_')
			up[i] = '-';
	return iconv_open("UTF-8", up);
}

static char *
http_charset(const char *ct)
{
	const char *p;
	size_t n;

	if (ct == NULL || (p = strcasestr(ct, "charset")) == NULL)
		return NULL;
	p += 7;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '=')
		return NULL;
	while (*p == ' ' || *p == '\t' || *p == '"' || *p == '\'')
		p++;
	n = strcspn(p, "\"'; \t");
	return n ? canonical(p, n) : NULL;
}

/* encoding="..." from an ASCII rendering of the start of the document. */
static char *
declared(const char *s, size_t len)
{
	const char *end, *p;
	size_t n;

	if (len < 6 || strncmp(s, "<?xml", 5) != 0)
		return NULL;
	if ((end = memchr(s, '>', len)) == NULL)
		return NULL;
	for (p = s; (p = memmem(p, (size_t)(end - p), "encoding", 8)) != NULL;) {
		p += 8;
		while (p < end && (*p == ' ' || *p == '=' || *p == '\t'))
			p++;
		if (p < end && (*p == '"' || *p == '\'')) {
			n = strcspn(p + 1, "\"'?>");
			return n ? canonical(p + 1, n) : NULL;
		}
	}
	return NULL;
}

static int
all_ascii(const unsigned char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] & 0x80)
			return 0;
	return 1;
}

/*
 * Length of the valid UTF-8 sequence at s[0..len), or 0: overlong forms,
 * surrogates, code points above U+10FFFF, 5/6-byte forms, bytes F5-FF,
 * truncated sequences and stray continuation bytes are all invalid.
 * s[0] is not ASCII.
 */
static size_t
sequence(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n, k;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > len)
		return 0;
	for (k = 1; k < n; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when a byte of w has its high bit set or is zero. */
#define NOT_ASCII(w) (((w) | (((w) - ONES) & ~(w))) & HIGHS)

/*
 * Strict UTF-8 without NUL bytes (libxml2 stops reading at a NUL, and no
 * string that leaves the parser may hold one).  It runs over every
 * document and again over every string the parser hands out, nearly all
 * of it ASCII, so ASCII goes 32 bytes at a time, then 8, and the tail of
 * a short string padded with spaces; anything else takes the slow path.
 */
int
feed_valid_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0, n;
	uint64_t w[4];

	while (i < len) {
		while (i + 32 <= len) {
			memcpy(w, s + i, 32);
			if (NOT_ASCII(w[0]) | NOT_ASCII(w[1]) | NOT_ASCII(w[2]) | NOT_ASCII(w[3]))
				break;
			i += 32;
		}
		while (i + 8 <= len) {
			memcpy(w, s + i, 8);
			if (NOT_ASCII(w[0]))
				break;
			i += 8;
		}
		if (len - i < 8) {
			w[0] = 0x2020202020202020ULL;
			memcpy(w, s + i, len - i);
			if (!NOT_ASCII(w[0]))
				break;
		}
		if (s[i] != 0 && s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] == 0 || (n = sequence(s + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* windows-1252 0x80-0x9f; the five undefined bytes map to themselves. */
const unsigned short feed_cp1252_c1[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static void
add_utf8(struct buf *b, unsigned cp)
{
	char u[3];

	if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		buf_add(b, u, 2);
	} else {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		buf_add(b, u, 3);
	}
}

/*
 * Characters U+0080-U+009F are C1 controls nobody means in a feed; they are
 * windows-1252 punctuation that went through a Latin-1 decoder ("don\u0092t").
 * Returns a copy with them mapped back (as HTML5 does for &#146;), or NULL
 * when there are none.
 */
static char *
demoronize(const char *s, size_t len, size_t *outlen)
{
	const char *p = s, *end = s + len, *last = s;
	struct buf b = {0};

	while ((p = memchr(p, '\xc2', (size_t)(end - p))) != NULL && p + 1 < end) {
		unsigned char c = (unsigned char)p[1];

		if (c >= 0x80 && c <= 0x9f) {
			buf_add(&b, last, (size_t)(p - last));
			add_utf8(&b, feed_cp1252_c1[c - 0x80]);
			last = p + 2;
		}
		p += 2;
	}
	if (b.s == NULL)
		return NULL;
	buf_add(&b, last, (size_t)(end - last));
	*outlen = b.len;
	return buf_steal(&b);
}

/*
 * Bytes labelled UTF-8 that are not valid UTF-8 (glibc's own UTF-8 decoder
 * is no help: it passes 5- and 6-byte forms and code points above
 * U+10FFFF straight through).  Valid sequences are copied, C1 controls
 * mapped as demoronize() does; what is left is read one of two ways.
 *
 * A whole sequence that UTF-8 forbids (a lead byte and all the
 * continuation bytes it announces, making an overlong form, a surrogate,
 * a code point past U+10FFFF or a 5- or 6-byte form) was written by a
 * broken or hostile encoder, not by a person typing windows-1252: each of
 * its bytes becomes U+FFFD.  Any other bad byte (a lone continuation byte,
 * a lead byte without all its continuation bytes) is read as
 * windows-1252, which it nearly always is: text pasted into a UTF-8 page
 * ("don\x92t", "Nestl\xe9", "Jos\xe9\x97" where 0x97 is a dash).  NUL
 * becomes U+FFFD.  Returns the number of bytes replaced.
 */
static size_t
utf8_recover(const char *in, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, run = 0, n, k, want, bad = 0;
	unsigned c;

	while (i < len) {
		c = s[i];
		if (c != 0 && c < 0x80) {
			i++;
			continue;
		}
		if (c != 0 && (n = sequence(s + i, len - i)) != 0) {
			i += n;
			if (c != 0xc2 || s[i - 1] > 0x9f)
				continue;
			buf_add(out, in + run, i - 2 - run);
			add_utf8(out, feed_cp1252_c1[s[i - 1] - 0x80]);
			run = i;
			continue;
		}
		buf_add(out, in + run, i - run);
		want = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf8 ? 4 : c < 0xfc ? 5 : 6;
		for (k = 1; k < want && i + k < len && (s[i + k] & 0xc0) == 0x80; k++)
			;
		if (c >= 0xc0 && c <= 0xfd && k == want) {
			for (k = 0; k < want; k++)
				buf_add(out, "\xef\xbf\xbd", 3);
		} else {
			if (c == 0)
				buf_add(out, "\xef\xbf\xbd", 3);
			else
				add_utf8(out, c >= 0xa0 ? c : feed_cp1252_c1[c - 0x80]);
			k = 1;
		}
		i += k;
		bad += k;
		run = i;
	}
	buf_add(out, in + run, len - run);
	return bad;
}

/*
 * Single-byte charsets Python knows and glibc iconv does not: bytes
 * 0x80-0xff, from Python's codec tables (U+FFFD where a byte is undefined).
 */
static const struct {
	const char *name; /* Python's codec name, compared without '-' and '_' */
	unsigned short hi[128];
} builtin[] = {
	{ "mac-greek", {
		0x00c4, 0x00b9, 0x00b2, 0x00c9, 0x00b3, 0x00d6, 0x00dc, 0x0385,
		0x00e0, 0x00e2, 0x00e4, 0x0384, 0x00a8, 0x00e7, 0x00e9, 0x00e8,
		0x00ea, 0x00eb, 0x00a3, 0x2122, 0x00ee, 0x00ef, 0x2022, 0x00bd,
		0x2030, 0x00f4, 0x00f6, 0x00a6, 0x20ac, 0x00f9, 0x00fb, 0x00fc,
		0x2020, 0x0393, 0x0394, 0x0398, 0x039b, 0x039e, 0x03a0, 0x00df,
		0x00ae, 0x00a9, 0x03a3, 0x03aa, 0x00a7, 0x2260, 0x00b0, 0x00b7,
		0x0391, 0x00b1, 0x2264, 0x2265, 0x00a5, 0x0392, 0x0395, 0x0396,
		0x0397, 0x0399, 0x039a, 0x039c, 0x03a6, 0x03ab, 0x03a8, 0x03a9,
		0x03ac, 0x039d, 0x00ac, 0x039f, 0x03a1, 0x2248, 0x03a4, 0x00ab,
		0x00bb, 0x2026, 0x00a0, 0x03a5, 0x03a7, 0x0386, 0x0388, 0x0153,
		0x2013, 0x2015, 0x201c, 0x201d, 0x2018, 0x2019, 0x00f7, 0x0389,
		0x038a, 0x038c, 0x038e, 0x03ad, 0x03ae, 0x03af, 0x03cc, 0x038f,
		0x03cd, 0x03b1, 0x03b2, 0x03c8, 0x03b4, 0x03b5, 0x03c6, 0x03b3,
		0x03b7, 0x03b9, 0x03be, 0x03ba, 0x03bb, 0x03bc, 0x03bd, 0x03bf,
		0x03c0, 0x03ce, 0x03c1, 0x03c3, 0x03c4, 0x03b8, 0x03c9, 0x03c2,
		0x03c7, 0x03c5, 0x03b6, 0x03ca, 0x03cb, 0x0390, 0x03b0, 0x00ad,
	} },
	{ "mac-turkish", {
		0x00c4, 0x00c5, 0x00c7, 0x00c9, 0x00d1, 0x00d6, 0x00dc, 0x00e1,
		0x00e0, 0x00e2, 0x00e4, 0x00e3, 0x00e5, 0x00e7, 0x00e9, 0x00e8,
		0x00ea, 0x00eb, 0x00ed, 0x00ec, 0x00ee, 0x00ef, 0x00f1, 0x00f3,
		0x00f2, 0x00f4, 0x00f6, 0x00f5, 0x00fa, 0x00f9, 0x00fb, 0x00fc,
		0x2020, 0x00b0, 0x00a2, 0x00a3, 0x00a7, 0x2022, 0x00b6, 0x00df,
		0x00ae, 0x00a9, 0x2122, 0x00b4, 0x00a8, 0x2260, 0x00c6, 0x00d8,
		0x221e, 0x00b1, 0x2264, 0x2265, 0x00a5, 0x00b5, 0x2202, 0x2211,
		0x220f, 0x03c0, 0x222b, 0x00aa, 0x00ba, 0x03a9, 0x00e6, 0x00f8,
		0x00bf, 0x00a1, 0x00ac, 0x221a, 0x0192, 0x2248, 0x2206, 0x00ab,
		0x00bb, 0x2026, 0x00a0, 0x00c0, 0x00c3, 0x00d5, 0x0152, 0x0153,
		0x2013, 0x2014, 0x201c, 0x201d, 0x2018, 0x2019, 0x00f7, 0x25ca,
		0x00ff, 0x0178, 0x011e, 0x011f, 0x0130, 0x0131, 0x015e, 0x015f,
		0x2021, 0x00b7, 0x201a, 0x201e, 0x2030, 0x00c2, 0x00ca, 0x00c1,
		0x00cb, 0x00c8, 0x00cd, 0x00ce, 0x00cf, 0x00cc, 0x00d3, 0x00d4,
		0xf8ff, 0x00d2, 0x00da, 0x00db, 0x00d9, 0xf8a0, 0x02c6, 0x02dc,
		0x00af, 0x02d8, 0x02d9, 0x02da, 0x00b8, 0x02dd, 0x02db, 0x02c7,
	} },
};

static const unsigned short *
builtin_table(const char *name, const char **pyname)
{
	char a[32], b[32];
	size_t i, j, k;

	for (i = j = 0; name[i] && j < sizeof a - 1; i++)
		if (name[i] != '-' && name[i] != '_')
			a[j++] = name[i];
	a[j] = '\0';
	for (k = 0; k < sizeof builtin / sizeof builtin[0]; k++) {
		for (i = j = 0; builtin[k].name[i]; i++)
			if (builtin[k].name[i] != '-')
				b[j++] = builtin[k].name[i];
		b[j] = '\0';
		if (!strcmp(a, b)) {
			*pyname = builtin[k].name;
			return builtin[k].hi;
		}
	}
	return NULL;
}

/*
 * Converts with cd, replacing each byte iconv refuses with U+FFFD.
 * Returns the number of replacements.
 */
static size_t
convert(iconv_t cd, const char *in, size_t len, struct buf *out, int cp1252)
{
	char tmp[8192], *ip = (char *)in, *op;
	size_t il = len, ol, bad = 0, r;

	while (il > 0) {
		op = tmp;
		ol = sizeof tmp;
		r = iconv(cd, &ip, &il, &op, &ol);
		buf_add(out, tmp, (size_t)(op - tmp));
		if (r == (size_t)-1 && errno != E2BIG) {
			/*
			 * EILSEQ or EINVAL (a truncated sequence at the end).  In
			 * us-ascii read as windows-1252 the refused bytes are the
			 * five it leaves undefined, kept as themselves (C1, as
			 * utf8_recover() does); elsewhere U+FFFD.
			 */
			unsigned char c = (unsigned char)*ip;

			if (cp1252 && c >= 0xa0)
				add_utf8(out, c);
			else if (cp1252 && c >= 0x80)
				add_utf8(out, feed_cp1252_c1[c - 0x80]);
			else
				buf_adds(out, "\xef\xbf\xbd");
			ip++;
			il--;
			bad++;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	op = tmp;
	ol = sizeof tmp;
	iconv(cd, NULL, NULL, &op, &ol);
	buf_add(out, tmp, (size_t)(op - tmp));
	return bad;
}

/* Decodes with a builtin table; returns the number of undefined bytes. */
static size_t
convert_table(const unsigned short *hi, const char *in, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i, bad = 0;

	for (i = 0; i < len; i++) {
		if (p[i] < 0x80) {
			buf_addc(out, (char)p[i]);
			continue;
		}
		add_utf8(out, hi[p[i] - 0x80]);
		bad += hi[p[i] - 0x80] == 0xfffd;
	}
	return bad;
}

/* Decodes the first bytes with a fixed-width family codec, for sniffing. */
static char *
sniff_prefix(const char *data, size_t len, const char *family, size_t *outlen)
{
	struct buf b = {0};
	iconv_t cd = iconv_open("UTF-8", family);

	if (cd == (iconv_t)-1)
		return NULL;
	convert(cd, data, len < 1024 ? len : 1024, &b, 0);
	iconv_close(cd);
	*outlen = b.len;
	return buf_steal(&b);
}

const char *
feed_decode(const char *data, size_t len, const char *content_type, char **label,
    char **bozo_reason, size_t *outlen, char **owned)
{
	const unsigned char *b = (const unsigned char *)data;
	char *http = http_charset(content_type), *decl = NULL, *name = NULL, *pre;
	const char *family = NULL;
	size_t skip = 0, plen, bad;
	struct buf out = {0};
	const unsigned short *hi;
	const char *pyname;
	iconv_t cd;
	int text = content_type != NULL && !strncasecmp(content_type, "text/", 5);

	*owned = NULL;
	*bozo_reason = NULL;
	if (len >= 4 && !memcmp(b, "\0\0\xfe\xff", 4)) {
		name = xstrdup("utf-32be");
		skip = 4;
	} else if (len >= 4 && !memcmp(b, "\xff\xfe\0\0", 4)) {
		name = xstrdup("utf-32le");
		skip = 4;
	} else if (len >= 3 && !memcmp(b, "\xef\xbb\xbf", 3)) {
		name = xstrdup("utf-8");
		skip = 3;
	} else if (len >= 2 && !memcmp(b, "\xfe\xff", 2)) {
		name = xstrdup("utf-16be");
		skip = 2;
	} else if (len >= 2 && !memcmp(b, "\xff\xfe", 2)) {
		name = xstrdup("utf-16le");
		skip = 2;
	} else if (len >= 4 && !memcmp(b, "\0\0\0<", 4)) {
		family = "UTF-32BE";
	} else if (len >= 4 && !memcmp(b, "<\0\0\0", 4)) {
		family = "UTF-32LE";
	} else if (len >= 4 && !memcmp(b, "\0<\0?", 4)) {
		family = "UTF-16BE";
	} else if (len >= 4 && !memcmp(b, "<\0?\0", 4)) {
		family = "UTF-16LE";
	} else if (len >= 4 && !memcmp(b, "\x4c\x6f\xa7\x94", 4)) {
		family = "CP037";
	}
	if (name == NULL && http != NULL) {
		name = http;
		http = NULL;
	}
	if (name == NULL && family != NULL && strcmp(family, "CP037") != 0) {
		name = canonical(family, strlen(family));
	} else if (name == NULL) {
		if (family != NULL && (pre = sniff_prefix(data, len, family, &plen)) != NULL) {
			decl = declared(pre, plen);
			free(pre);
			if (decl == NULL)
				decl = xstrdup("cp037");
		} else {
			decl = declared(data, len < 1024 ? len : 1024);
		}
		if (text && all_ascii(b, len)) {
			name = xstrdup("us-ascii");
		} else if (text && decl != NULL) {
			/* RFC 3023 says us-ascii, which these bytes are not: recover. */
			*bozo_reason = xasprintf("%s without a charset: non-ASCII bytes, "
			    "read as the declared %s", content_type, decl);
			name = decl, decl = NULL;
		} else if (decl != NULL && strcmp(decl, "utf-16") && strcmp(decl, "utf-32")) {
			name = decl, decl = NULL;
		} else {
			if (text)
				*bozo_reason = xasprintf("%s without a charset: non-ASCII bytes, "
				    "read as utf-8", content_type);
			name = xstrdup("utf-8");
		}
	}
	free(http);
	free(decl);
	*label = name;
	data += skip;
	len -= skip;
	if (!strcmp(name, "us-ascii") && !all_ascii((const unsigned char *)data, len) &&
	    *bozo_reason == NULL)
		*bozo_reason = xstrdup("bytes above 0x7f in a us-ascii document");
	if ((!strcmp(name, "utf-8") || !strcmp(name, "us-ascii")) &&
	    feed_valid_utf8((const unsigned char *)data, len)) {
		if ((*owned = demoronize(data, len, outlen)) != NULL)
			return *owned;
		*outlen = len;
		return data;
	}
	if (!strcmp(name, "utf-16") || !strcmp(name, "utf-32")) {
		/* A declaration naming UTF-16 on bytes that are not: read as UTF-8. */
		free(name);
		*label = name = xstrdup("utf-8");
	}
	if (!strcmp(name, "utf-8")) {
		bad = utf8_recover(data, len, &out);
		goto done;
	}
	if ((hi = builtin_table(name, &pyname)) != NULL) {
		free(name);
		*label = name = xstrdup(pyname);
		bad = convert_table(hi, data, len, &out);
		goto done;
	}
	if ((cd = open_decoder(name)) == (iconv_t)-1) {
		free(*bozo_reason);
		*bozo_reason = xasprintf("unknown charset '%s', read as utf-8", name);
		free(name);
		*label = name = xstrdup("utf-8");
		if (feed_valid_utf8((const unsigned char *)data, len)) {
			*outlen = len;
			return data;
		}
		bad = utf8_recover(data, len, &out);
		goto done;
	}
	bad = convert(cd, data, len, &out, !strcmp(name, "us-ascii"));
	iconv_close(cd);
done:
	if (bad > 0 && *bozo_reason == NULL)
		*bozo_reason = xasprintf("%zu byte(s) not valid in %s", bad, name);
	*outlen = out.len;
	*owned = buf_steal(&out);
	if (!feed_valid_utf8((const unsigned char *)*owned, *outlen)) {
		/*
		 * What iconv let through: UCS-4 past U+10FFFF, a U+0000 from
		 * UTF-16 (libxml2 would stop reading at the NUL).
		 */
		pre = util_utf8_repair(*owned, *outlen, outlen);
		free(*owned);
		*owned = pre;
		if (*bozo_reason == NULL)
			*bozo_reason = xasprintf("%s text with characters XML cannot hold, "
			    "read as U+FFFD", name);
	}
	return *owned;
}
