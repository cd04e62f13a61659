/*
 * feed_markup.c - text-level work around the XML parser: repairs to the
 * bytes before libxml2 sees them (references XML rejects, encoding names
 * it refuses) and relative-URI rewriting inside HTML strings after.
 *
 * These work on strings, not on the tree, so they are kept apart from the
 * format walk in feed.c; each is a single forward scan that copies only
 * when it changes something.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/uri.h>

#include "feed_internal.h"
#include "wirewatch/util.h"

/* --- URIs ----------------------------------------------------------------- */

int
feed_has_scheme(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' ||
	    s[i] == '.'); i++)
		;
	return i > 0 && i < n && s[i] == ':' && isalpha((unsigned char)s[0]);
}

static int
uri_attr(const char *name, size_t n)
{
	static const char *const names[] = { "href", "src", "cite", "longdesc", "background",
	    "action", "usemap", "poster", "codebase", "data", "classid", "profile" };
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == n && !strncasecmp(name, names[i], n))
			return 1;
	return 0;
}

/* "%80" to "%FF": an escaped byte that is not ASCII. */
static int
high_escape(const char *p)
{
	return p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]) &&
	    strchr("89ABCDEF", p[1]) != NULL;
}

/*
 * Decodes the run of high escapes at p into o and returns what follows.
 * Only whole, valid UTF-8 sequences are decoded (our own escapes of the
 * IRI always are); any other byte keeps its escape: a link that was
 * "%F8%88..." stays a valid URI rather than becoming invalid text.
 */
static const char *
decode_escapes(struct buf *o, const char *p)
{
	unsigned char run[64];
	size_t n = 0, i, k;

	/* a sequence that starts before the 60th byte ends in the buffer */
	for (; high_escape(p) && n < sizeof run && (n < 60 || strchr("89AB", p[1]) != NULL); p += 3)
		run[n++] = (unsigned char)strtol((char[]){ p[1], p[2], 0 }, NULL, 16);
	for (i = 0; i < n; i += k) {
		k = run[i] >= 0xf0 ? 4 : run[i] >= 0xe0 ? 3 : 2;
		if (i + k <= n && feed_valid_utf8(run + i, k)) {
			buf_add(o, run + i, k);
			continue;
		}
		buf_addf(o, "%%%02X", run[i]);
		k = 1;
	}
	return p;
}

/*
 * xmlBuildURI() that also takes IRIs: libxml2 2.9 refuses non-ASCII
 * bytes, so they are percent-encoded for the call and decoded after.
 * Returns malloc'd memory or NULL.
 */
char *
feed_build_uri(const char *ref, const xmlChar *base)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = {0}, o = {0};
	const char *p;
	xmlChar *abs;

	if ((abs = xmlBuildURI((const xmlChar *)ref, base)) != NULL) {
		p = xstrdup((const char *)abs);
		xmlFree(abs);
		return (char *)p;
	}
	for (p = ref; *p; p++)
		if ((unsigned char)*p >= 0x80)
			break;
	if (*p == '\0')
		return NULL;
	for (p = ref; *p; p++) {
		if ((unsigned char)*p >= 0x80) {
			buf_addc(&b, '%');
			buf_addc(&b, hex[(unsigned char)*p >> 4]);
			buf_addc(&b, hex[(unsigned char)*p & 15]);
		} else {
			buf_addc(&b, *p);
		}
	}
	abs = xmlBuildURI((const xmlChar *)b.s, base);
	buf_free(&b);
	if (abs == NULL)
		return NULL;
	for (p = (const char *)abs; *p;) {
		if (high_escape(p))
			p = decode_escapes(&o, p);
		else
			buf_addc(&o, *p++);
	}
	xmlFree(abs);
	return buf_steal(&o);
}

/*
 * Rewrites relative href/src/... attribute values in an HTML string
 * against base, as feedparser does, so that content keeps working away
 * from its feed.  Takes ownership of s; base may be NULL.
 */
char *
feed_html_resolve(char *s, const xmlChar *base)
{
	const char *p, *last, *name, *val, *vstart, *vend;
	xmlChar *abs;
	struct buf b = {0};
	size_t nlen, vlen;
	char quote, *ref;

	if (s == NULL || (p = strchr(s, '<')) == NULL || base == NULL ||
	    !strncasecmp((const char *)base, "javascript:", 11))
		return s;
	/* Copies spans and rewrites only the values that change. */
	for (last = s; (p = strchr(p, '<')) != NULL;) {
		if (!isalpha((unsigned char)*++p))
			continue;
		while (*p && !isspace((unsigned char)*p) && *p != '>' && *p != '/')
			p++;
		while (*p && *p != '>' && *p != '<') {
			if (isspace((unsigned char)*p) || *p == '/') {
				p++;
				continue;
			}
			name = p;
			while (*p && !isspace((unsigned char)*p) && *p != '=' && *p != '>' && *p != '<')
				p++;
			nlen = (size_t)(p - name);
			if (*p != '=')
				continue;
			p++;
			quote = (*p == '"' || *p == '\'') ? *p++ : '\0';
			val = p;
			while (*p && (quote ? *p != quote : (!isspace((unsigned char)*p) && *p != '>')))
				p++;
			vlen = (size_t)(p - val);
			vstart = val;
			vend = p;
			if (quote && *p == quote)
				p++;
			if (!uri_attr(name, nlen) || vlen >= 4096)
				continue;
			while (vlen > 0 && isspace((unsigned char)*val))
				val++, vlen--;
			while (vlen > 0 && isspace((unsigned char)val[vlen - 1]))
				vlen--;
			if (feed_has_scheme(val, vlen))
				continue;
			ref = xstrndup(val, vlen);
			abs = (xmlChar *)feed_build_uri(ref, base);
			buf_add(&b, last, (size_t)(vstart - last));
			buf_adds(&b, abs ? (const char *)abs : ref);
			last = vend;
			free(abs);
			free(ref);
		}
		if (*p == '\0')
			break;
	}
	if (b.s == NULL)
		return s;
	buf_adds(&b, last);
	free(s);
	return buf_steal(&b);
}


/* --- references ----------------------------------------------------------- */

static int
is_name_char(unsigned char ch)
{
	return isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == ':';
}

/*
 * Repairs references XML would reject, which feeds are full of, so that
 * libxml2's recovery does not drop the text: HTML named entities XML lacks
 * become &#N;, "&#X41;" becomes "&#x41;", and an '&' that starts no valid
 * reference (a bare ampersand in a URL, "&doesnotexist;") becomes "&amp;",
 * and a character reference to no character (&#0;, a surrogate, past
 * U+10FFFF) becomes &#xFFFD;.  CDATA sections, comments and processing
 * instructions are left alone, and a document with its own <!ENTITY
 * declarations is not touched at all.  Returns NULL when nothing changed;
 * *bozo gets FEED_FIX_ENTITY and/or FEED_FIX_CHARREF.
 */
/*
 * The next "<!" or "<?" at or after p, or end when there is none.  memchr
 * for '<' beats memmem for a two-byte needle by a wide margin here.
 */
static const char *
special_lt(const char *p, const char *end)
{
	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL && p + 1 < end) {
		if (p[1] == '!' || p[1] == '?')
			return p;
		p++;
	}
	return end;
}

/*
 * Whether the document declares entities.  Declarations live only in the
 * internal subset, which comes before the root element, so the search
 * stops at the first tag that is not a comment, PI or declaration (the
 * first <!ENTITY comes before any '<' inside an entity value).
 */
static int
declares_entities(const char *p, const char *end)
{
	const char *close;

	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL && end - p >= 2) {
		if (p[1] == '?') {
			close = memmem(p, (size_t)(end - p), "?>", 2);
		} else if (p[1] == '!' && end - p >= 4 && p[2] == '-' && p[3] == '-') {
			close = memmem(p, (size_t)(end - p), "-->", 3);
		} else if (p[1] == '!') {
			if (end - p >= 8 && !memcmp(p, "<!ENTITY", 8))
				return 1;
			close = p + 1;
		} else {
			return 0;
		}
		if (close == NULL)
			return 0;
		p = close + 1;
	}
	return 0;
}

char *
feed_fix_entities(const char *data, size_t len, size_t *outlen, int *bozo)
{
	const char *p = data, *end = data + len, *last = data, *q, *close, *next_lt = NULL;
	const htmlEntityDesc *ent;
	struct buf b = {0};
	char name[33];
	size_t n;
	int changed = 0;

	if (declares_entities(data, end))
		return NULL;
	while (p < end) {
		/* Jump to the next '&' unless a CDATA/comment/PI starts first. */
		if (*p != '&' && *p != '<') {
			const char *amp = memchr(p, '&', (size_t)(end - p));

			if (amp == NULL)
				break;
			if (next_lt < p)
				next_lt = special_lt(p, end);
			p = next_lt != NULL && next_lt < amp ? next_lt : amp;
			continue;
		}
		if (*p == '<' && end - p >= 4 && p[1] == '!' && (p[2] == '[' || p[2] == '-')) {
			close = p[2] == '[' ? memmem(p, (size_t)(end - p), "]]>", 3) :
			    memmem(p, (size_t)(end - p), "-->", 3);
			p = close ? close + 3 : end;
			continue;
		}
		if (*p == '<' && end - p >= 2 && p[1] == '?') {
			close = memmem(p, (size_t)(end - p), "?>", 2);
			p = close ? close + 2 : end;
			continue;
		}
		if (*p != '&') {
			p++;
			continue;
		}
		q = p + 1;
		/* the common case first: &lt; &gt; &amp; */
		if (end - q >= 4 && ((q[0] == 'l' || q[0] == 'g') && q[1] == 't' && q[2] == ';')) {
			p = q + 3;
			continue;
		}
		if (end - q >= 4 && q[0] == 'a' && q[1] == 'm' && q[2] == 'p' && q[3] == ';') {
			p = q + 4;
			continue;
		}
		if (q < end && *q == '#') {
			const char *digits;
			unsigned long v = 0;
			int hex;

			q++;
			if ((hex = q < end && (*q == 'x' || *q == 'X')))
				q++;
			for (digits = q; q < end && (hex ? isxdigit((unsigned char)*q) :
			    isdigit((unsigned char)*q)); q++)
				if (v <= 0x10ffff)
					v = v * (hex ? 16 : 10) + (unsigned long)(isdigit(
					    (unsigned char)*q) ? *q - '0' :
					    tolower((unsigned char)*q) - 'a' + 10);
			if (q > digits && q < end && *q == ';') {
				if (v == 0 || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) {
					/*
					 * No character: libxml2 would drop the reference.
					 * U+FFFD marks where it was, as HTML5 reads it.
					 */
					buf_add(&b, last, (size_t)(p - last));
					buf_adds(&b, "&#xFFFD;");
					last = q + 1;
					changed = 1;
					*bozo |= FEED_FIX_CHARREF;
				} else if (hex && p[2] == 'X') {
					buf_add(&b, last, (size_t)(p - last));
					buf_adds(&b, "&#x");
					last = p + 3;
					changed = 1;
					*bozo |= FEED_FIX_ENTITY;
				} else if (!hex && v >= 0x80 && v <= 0x9f) {
					/* &#146; is windows-1252's quote, as HTML5 reads it */
					buf_add(&b, last, (size_t)(p - last));
					buf_addf(&b, "&#%u;", feed_cp1252_c1[v - 0x80]);
					last = q + 1;
					changed = 1; /* a repair, not an error */
				}
				p = q + 1;
				continue;
			}
		} else {
			for (n = 0; q + n < end && n < sizeof name - 1 &&
			    is_name_char((unsigned char)q[n]); n++)
				name[n] = q[n];
			name[n] = '\0';
			if (n > 0 && q + n < end && q[n] == ';') {
				if (!strcmp(name, "amp") || !strcmp(name, "lt") ||
				    !strcmp(name, "gt") || !strcmp(name, "quot") ||
				    !strcmp(name, "apos")) {
					p = q + n + 1;
					continue;
				}
				if ((ent = htmlEntityLookup((const xmlChar *)name)) != NULL) {
					buf_add(&b, last, (size_t)(p - last));
					buf_addf(&b, "&#%u;", ent->value);
					p = last = q + n + 1;
					changed = 1;
					*bozo |= FEED_FIX_ENTITY;
					continue;
				}
			}
		}
		/* Not a reference XML accepts: keep the ampersand as text. */
		buf_add(&b, last, (size_t)(p - last));
		buf_adds(&b, "&amp;");
		p = last = p + 1;
		changed = 1;
		*bozo |= FEED_FIX_ENTITY;
	}
	if (!changed) {
		buf_free(&b);
		return NULL;
	}
	buf_add(&b, last, (size_t)(end - last));
	*outlen = b.len;
	return buf_steal(&b);
}

/* --- the XML declaration ---------------------------------------------------- */

/*
 * When the XML declaration names an encoding libxml2 rejects as a name
 * (encoding="437"), returns a copy of the document with a plain
 * declaration instead; NULL otherwise.  The charset was applied already.
 */
char *
feed_bad_declaration(const char *data, size_t len)
{
	const char *end, *p;
	struct buf b = {0};

	if (len < 6 || strncmp(data, "<?xml", 5) != 0 ||
	    (end = memmem(data, len < 512 ? len : 512, "?>", 2)) == NULL)
		return NULL;
	if ((p = memmem(data, (size_t)(end - data), "encoding", 8)) == NULL)
		return NULL;
	for (p += 8; p < end && (*p == ' ' || *p == '=' || *p == '"' || *p == '\''); p++)
		;
	if (p < end && isalpha((unsigned char)*p))
		return NULL;
	buf_adds(&b, "<?xml version=\"1.0\"?>");
	buf_add(&b, end + 2, len - (size_t)(end + 2 - data));
	return buf_steal(&b);
}

