/*
 * feed_json.c - the format dispatcher, JSON Feed 1.0/1.1 input, the
 * neutral-schema JSON output, struct feed_doc ownership, and the last
 * check that every string handed out is valid UTF-8.
 *
 * The format is detected from the bytes: a document whose first
 * significant byte is '{' is JSON Feed, anything else goes to the XML
 * reader, which decides by its root element.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <libxml/uri.h>

#include "feed_internal.h"
#include "wirewatch/date.h"
#include "wirewatch/util.h"

static char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? xstrdup(s) : NULL;
}

static time_t
jdate(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	time_t t;

	return s && date_parse(s, &t) == 0 ? t : FEED_NO_TIME;
}

static void
json_people(struct feed_entry *e, json_t *o)
{
	json_t *list = json_object_get(o, "authors"), *one = json_object_get(o, "author"), *a;
	size_t i;

	if (!json_is_array(list) && json_is_object(one)) {
		list = json_array();
		json_array_append(list, one);
	} else {
		json_incref(list);
	}
	json_array_foreach(list, i, a) {
		e->authors = xreallocarray(e->authors, e->nauthors + 1, sizeof *e->authors);
		e->authors[e->nauthors].name = jstr(a, "name");
		e->authors[e->nauthors].email = NULL;
		e->authors[e->nauthors].uri = jstr(a, "url");
		if (e->author == NULL && e->authors[e->nauthors].name)
			e->author = xstrdup(e->authors[e->nauthors].name);
		e->nauthors++;
	}
	json_decref(list);
}

static void
json_entry(struct feed_entry *e, json_t *it)
{
	json_t *tags = json_object_get(it, "tags"), *att = json_object_get(it, "attachments"), *v;
	size_t i;

	memset(e, 0, sizeof *e);
	v = json_object_get(it, "id");
	if (json_is_string(v))
		e->id = jstr(it, "id");
	else if (json_is_integer(v))
		e->id = xasprintf("%lld", (long long)json_integer_value(v));
	e->title = jstr(it, "title");
	e->link = jstr(it, "url");
	e->summary = jstr(it, "summary");
	e->content = jstr(it, "content_html");
	if (e->content == NULL)
		e->content = jstr(it, "content_text");
	e->published = jdate(it, "date_published");
	e->updated = jdate(it, "date_modified");
	json_people(e, it);
	json_array_foreach(tags, i, v) {
		if (!json_is_string(v))
			continue;
		e->categories = xreallocarray(e->categories, e->ncategories + 1,
		    sizeof *e->categories);
		e->categories[e->ncategories++] = xstrdup(json_string_value(v));
	}
	json_array_foreach(att, i, v) {
		struct feed_enclosure *x;
		json_t *size = json_object_get(v, "size_in_bytes");

		if (!json_string_value(json_object_get(v, "url")))
			continue;
		e->enclosures = xreallocarray(e->enclosures, e->nenclosures + 1,
		    sizeof *e->enclosures);
		x = &e->enclosures[e->nenclosures++];
		x->url = jstr(v, "url");
		x->type = jstr(v, "mime_type");
		x->length = json_is_integer(size) ?
		    xasprintf("%lld", (long long)json_integer_value(size)) : NULL;
	}
}

/* The value of the 4 hex digits at s[0..len), or ULONG_MAX. */
static unsigned long
json_hex4(const char *s, size_t len)
{
	unsigned long v = 0;
	int k;

	if (len < 4)
		return ULONG_MAX;
	for (k = 0; k < 4; k++) {
		if (!isxdigit((unsigned char)s[k]))
			return ULONG_MAX;
		v = v * 16 + (unsigned long)(isdigit((unsigned char)s[k]) ? s[k] - '0' :
		    tolower((unsigned char)s[k]) - 'a' + 10);
	}
	return v;
}

/*
 * A JSON document jansson refused, with what it refuses inside strings
 * made acceptable: raw control bytes become \u00XX escapes, \u0000 and
 * unpaired surrogate escapes \ufffd.  The bytes are valid UTF-8 without
 * NUL already (feed_decode()).  Returns NULL when nothing changed.
 */
static char *
json_repair(const char *s, size_t len, size_t *outlen)
{
	struct buf b = {0};
	size_t i, run = 0;
	unsigned long u, lo;
	int in_string = 0, changed = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '"') {
			in_string = !in_string;
		} else if (in_string && (unsigned char)s[i] < 0x20) {
			buf_add(&b, s + run, i - run);
			buf_addf(&b, "\\u%04x", (unsigned)s[i]);
			run = i + 1;
			changed = 1;
		} else if (in_string && s[i] == '\\' && i + 1 < len) {
			if (s[i + 1] != 'u' ||
			    (u = json_hex4(s + i + 2, len - i - 2)) == ULONG_MAX) {
				i++; /* \" and \\ are not the end of anything */
				continue;
			}
			if (u >= 0xd800 && u <= 0xdbff && i + 12 <= len && s[i + 6] == '\\' &&
			    s[i + 7] == 'u' && (lo = json_hex4(s + i + 8, len - i - 8)) >= 0xdc00 &&
			    lo <= 0xdfff) {
				i += 11; /* a pair */
				continue;
			}
			if (u == 0 || (u >= 0xd800 && u <= 0xdfff)) {
				buf_add(&b, s + run, i - run);
				buf_adds(&b, "\\ufffd");
				run = i + 6;
				changed = 1;
			}
			i += 5;
		}
	}
	if (!changed) {
		buf_free(&b);
		return NULL;
	}
	buf_add(&b, s + run, len - run);
	*outlen = b.len;
	return buf_steal(&b);
}

/*
 * jansson refuses a whole document for one bad byte in one string (invalid
 * UTF-8, a raw control character, a lone surrogate escape), which would
 * cost every item of the feed on every poll.  So when it refuses, the
 * bytes are read as the XML side reads text labelled UTF-8 (feed_decode():
 * broken sequences become U+FFFD, stray bytes windows-1252), the strings
 * are repaired as above, and the document is tried once more, bozo.  Valid
 * documents never pay for this.
 */
static json_t *
json_load(const char *data, size_t len, struct feed_doc *d, char *err, size_t errlen)
{
	json_error_t jerr, again;
	json_t *root;
	char *label, *why = NULL, *owned = NULL, *fixed;
	const char *utf8;
	size_t n, fixed_len;

	if ((root = json_loadb(data, len, 0, &jerr)) != NULL)
		return root;
	utf8 = feed_decode(data, len, "application/json; charset=utf-8", &label, &why, &n, &owned);
	free(label);
	free(why);
	if ((fixed = json_repair(utf8, n, &fixed_len)) != NULL) {
		root = json_loadb(fixed, fixed_len, 0, &again);
		free(fixed);
	} else if (utf8 != data) {
		root = json_loadb(utf8, n, 0, &again);
	}
	free(owned);
	if (root == NULL) {
		snprintf(err, errlen, "not a feed: JSON error at line %d: %s", jerr.line, jerr.text);
		return NULL;
	}
	d->bozo = 1;
	d->bozo_reason = xasprintf("JSON error at line %d: %s; read after repairing invalid "
	    "UTF-8, control characters and unpaired surrogates", jerr.line, jerr.text);
	return root;
}

static struct feed_doc *
parse_json(const char *data, size_t len, char *err, size_t errlen)
{
	struct feed_doc *d = xcalloc(1, sizeof *d);
	json_t *root, *items, *it;
	const char *version;
	size_t i;

	if ((root = json_load(data, len, d, err, errlen)) == NULL)
		goto fail;
	version = json_string_value(json_object_get(root, "version"));
	if (version == NULL || strncmp(version, "https://jsonfeed.org/version/", 29) != 0) {
		snprintf(err, errlen, "not a feed: JSON without a jsonfeed.org version");
		json_decref(root);
		goto fail;
	}
	d->version = xstrdup(!strcmp(version + 29, "1.1") ? "json11" : "json1");
	d->encoding = xstrdup("utf-8");
	d->feed.published = d->feed.updated = FEED_NO_TIME;
	d->feed.title = jstr(root, "title");
	d->feed.link = jstr(root, "home_page_url");
	d->feed.subtitle = jstr(root, "description");
	d->feed.language = jstr(root, "language");
	json_people(&d->feed, root);
	items = json_object_get(root, "items");
	d->entries = xcalloc(json_array_size(items) + 1, sizeof *d->entries);
	json_array_foreach(items, i, it)
		json_entry(&d->entries[d->nentries++], it);
	json_decref(root);
	return d;
fail:
	feed_doc_free(d);
	return NULL;
}

/* --- the UTF-8 guarantee ---------------------------------------------------- */

/*
 * Every string that leaves feed_parse() is valid UTF-8 without NUL: the
 * sinks' JSON (jansson refuses anything else, and a NULL payload crashes
 * whoever unpacks it), Redis keys and the logs all rely on it.  The input
 * side already makes the document valid (feed_decode(), feed_fix_entities(),
 * json_load()), but text is also made after that: base64 content decoded
 * to bytes, percent-escapes in links, HTTP headers, libxml2's and
 * jansson's messages.  So this is the one place that checks, just before
 * the document is handed out, over every string field (the list is
 * entry_free()'s): a fast scan for valid text, a copy with U+FFFD for
 * each bad byte otherwise.
 */
static void
repair(char **s)
{
	char *fixed;

	if (*s == NULL || feed_valid_utf8((const unsigned char *)*s, strlen(*s)))
		return;
	fixed = util_utf8_repaired(*s);
	free(*s);
	*s = fixed;
}

static void
entry_repair(struct feed_entry *e)
{
	size_t i;

	repair(&e->id);
	repair(&e->title);
	repair(&e->subtitle);
	repair(&e->link);
	repair(&e->summary);
	repair(&e->content);
	repair(&e->rights);
	repair(&e->language);
	repair(&e->author);
	for (i = 0; i < e->nauthors; i++) {
		repair(&e->authors[i].name);
		repair(&e->authors[i].email);
		repair(&e->authors[i].uri);
	}
	for (i = 0; i < e->ncategories; i++)
		repair(&e->categories[i]);
	for (i = 0; i < e->nenclosures; i++) {
		repair(&e->enclosures[i].url);
		repair(&e->enclosures[i].type);
		repair(&e->enclosures[i].length);
	}
}

static void
doc_repair(struct feed_doc *d)
{
	size_t i;

	repair(&d->bozo_reason);
	repair(&d->version);
	repair(&d->encoding);
	entry_repair(&d->feed);
	for (i = 0; i < d->nentries; i++)
		entry_repair(&d->entries[i]);
}

/*
 * The error message too: it quotes the document (a root element name,
 * jansson's "near '...'"), and snprintf() may have cut it inside a
 * character.  A character cut at the end is dropped, any other bad byte
 * becomes U+FFFD, and the result still fits in errlen.
 */
static void
err_repair(char *err, size_t errlen)
{
	size_t len, n, j;
	char *fixed;

	if (errlen == 0 || feed_valid_utf8((const unsigned char *)err, len = strlen(err)))
		return;
	if (len == errlen - 1) {
		for (j = len; j > 0 && len - j < 4 &&
		    ((unsigned char)err[j - 1] & 0xc0) == 0x80; j--)
			;
		if (j > 0 && (unsigned char)err[j - 1] >= 0xc0 &&
		    !feed_valid_utf8((const unsigned char *)err + j - 1, len - j + 1))
			err[len = j - 1] = '\0';
		if (feed_valid_utf8((const unsigned char *)err, len))
			return;
	}
	fixed = util_utf8_repair(err, len, &n);
	if (n > errlen - 1) {
		n = errlen - 1;
		while (n > 0 && ((unsigned char)fixed[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(err, fixed, n);
	err[n] = '\0';
	free(fixed);
}

/* --- the entry points ------------------------------------------------------ */

struct feed_doc *
feed_parse(const char *data, size_t len, const char *base_url,
    const char *content_type, char *err, size_t errlen)
{
	return feed_parse_http(data, len, base_url, content_type, NULL, NULL, err, errlen);
}

/* Content-Location, resolved against the request URL; unsafe schemes never base. */
static char *
http_base(const char *base_url, const char *location)
{
	xmlChar *abs;
	char *out;

	if (location == NULL || *location == '\0')
		return base_url ? xstrdup(base_url) : NULL;
	abs = xmlBuildURI((const xmlChar *)location, (const xmlChar *)(base_url ? base_url : ""));
	out = xstrdup(abs ? (const char *)abs : location);
	xmlFree(abs);
	if (strncasecmp(out, "javascript:", 11) == 0 || strncasecmp(out, "data:", 5) == 0 ||
	    strncasecmp(out, "vbscript:", 9) == 0) {
		free(out);
		return base_url ? xstrdup(base_url) : NULL;
	}
	return out;
}

struct feed_doc *
feed_parse_http(const char *data, size_t len, const char *base_url,
    const char *content_type, const char *content_location, const char *content_language,
    char *err, size_t errlen)
{
	struct feed_doc *doc;
	char *base;
	size_t i = 0;

	if (base_url != NULL && *base_url == '\0')
		base_url = NULL;
	if (content_type != NULL && *content_type == '\0')
		content_type = NULL;
	if (len >= 3 && (unsigned char)data[0] == 0xef && (unsigned char)data[1] == 0xbb &&
	    (unsigned char)data[2] == 0xbf)
		i = 3;
	while (i < len && isspace((unsigned char)data[i]))
		i++;
	if (i == len) {
		snprintf(err, errlen, "not a feed: empty document");
		return NULL;
	}
	if (data[i] == '{') {
		doc = parse_json(data + i, len - i, err, errlen);
	} else {
		base = http_base(base_url, content_location);
		doc = feed_parse_xml(data, len, base, content_type, err, errlen);
		free(base);
	}
	/* The document's own language wins over the header. */
	if (doc != NULL && doc->feed.language == NULL && content_language != NULL &&
	    *content_language != '\0')
		doc->feed.language = xstrndup(content_language, strcspn(content_language, ", "));
	if (doc != NULL)
		doc_repair(doc);
	else
		err_repair(err, errlen);
	return doc;
}

/* --- ownership ------------------------------------------------------------ */

static void
entry_free(struct feed_entry *e)
{
	size_t i;

	free(e->id);
	free(e->title);
	free(e->subtitle);
	free(e->link);
	free(e->summary);
	free(e->content);
	free(e->rights);
	free(e->language);
	free(e->author);
	for (i = 0; i < e->nauthors; i++) {
		free(e->authors[i].name);
		free(e->authors[i].email);
		free(e->authors[i].uri);
	}
	free(e->authors);
	for (i = 0; i < e->ncategories; i++)
		free(e->categories[i]);
	free(e->categories);
	for (i = 0; i < e->nenclosures; i++) {
		free(e->enclosures[i].url);
		free(e->enclosures[i].type);
		free(e->enclosures[i].length);
	}
	free(e->enclosures);
}

void
feed_doc_free(struct feed_doc *d)
{
	size_t i;

	if (d == NULL)
		return;
	entry_free(&d->feed);
	for (i = 0; i < d->nentries; i++)
		entry_free(&d->entries[i]);
	free(d->entries);
	free(d->bozo_reason);
	free(d->version);
	free(d->encoding);
	free(d);
}

/* --- output ---------------------------------------------------------------- */

/*
 * The schema's JSON for a document.  Each builder returns -1 (or NULL) when
 * jansson refuses, and the failure travels up: a document printed without
 * one of its fields would look like a parse that found no such field.
 * Strings that are not UTF-8 (a struct filled by someone other than
 * feed_parse()) are printed repaired, as feed_parse() would have left them,
 * so what remains is out of memory.
 */
static json_t *
string_json(const char *v)
{
	json_t *j;
	char *fixed;

	if ((j = json_string(v)) != NULL)
		return j;
	fixed = util_utf8_repaired(v);
	j = json_string(fixed);
	free(fixed);
	return j;
}

static int
put_str(json_t *o, const char *key, const char *v)
{
	if (v == NULL || *v == '\0')
		return 0;
	return json_object_set_new(o, key, string_json(v));
}

static int
put_time(json_t *o, const char *key, time_t t)
{
	char buf[32];

	if (t == FEED_NO_TIME)
		return 0;
	util_format_time(t, buf, sizeof buf);
	return json_object_set_new(o, key, json_string(buf));
}

static json_t *
person_json(const struct feed_person *p)
{
	json_t *o = json_object();

	if (o == NULL || put_str(o, "name", p->name) || put_str(o, "email", p->email) ||
	    put_str(o, "uri", p->uri)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
enclosure_json(const struct feed_enclosure *x)
{
	json_t *o = json_object();

	if (o == NULL || put_str(o, "url", x->url) || put_str(o, "type", x->type) ||
	    put_str(o, "length", x->length)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
entry_json(const struct feed_entry *e)
{
	json_t *o = json_object(), *a;
	size_t i;
	int bad = o == NULL;

	bad = bad || put_str(o, "id", e->id) || put_str(o, "title", e->title) ||
	    put_str(o, "subtitle", e->subtitle) || put_str(o, "link", e->link) ||
	    put_str(o, "summary", e->summary) || put_str(o, "content", e->content) ||
	    put_str(o, "rights", e->rights) || put_str(o, "language", e->language) ||
	    put_str(o, "author", e->author) || put_time(o, "published", e->published) ||
	    put_time(o, "updated", e->updated);
	if (!bad && e->nauthors) {
		bad = json_object_set_new(o, "authors", a = json_array());
		for (i = 0; !bad && i < e->nauthors; i++)
			bad = json_array_append_new(a, person_json(&e->authors[i]));
	}
	if (!bad && e->ncategories) {
		bad = json_object_set_new(o, "categories", a = json_array());
		for (i = 0; !bad && i < e->ncategories; i++)
			bad = json_array_append_new(a, string_json(e->categories[i]));
	}
	if (!bad && e->nenclosures) {
		bad = json_object_set_new(o, "enclosures", a = json_array());
		for (i = 0; !bad && i < e->nenclosures; i++)
			bad = json_array_append_new(a, enclosure_json(&e->enclosures[i]));
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *
feed_doc_to_json(const struct feed_doc *d)
{
	json_t *o = json_object(), *entries = json_array();
	char *s = NULL;
	size_t i;
	int bad;

	bad = o == NULL || json_object_set_new(o, "bozo", json_boolean(d->bozo)) ||
	    put_str(o, "bozo_exception", d->bozo_reason) ||
	    json_object_set_new(o, "version", string_json(d->version ? d->version : "")) ||
	    json_object_set_new(o, "encoding", string_json(d->encoding ? d->encoding : "utf-8")) ||
	    json_object_set_new(o, "feed", entry_json(&d->feed));
	for (i = 0; !bad && i < d->nentries; i++)
		bad = json_array_append_new(entries, entry_json(&d->entries[i]));
	if (bad)
		json_decref(entries);
	else if (json_object_set_new(o, "entries", entries) == 0)
		s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
