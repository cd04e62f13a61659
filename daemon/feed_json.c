/*
 * feed_json.c - the format dispatcher, JSON Feed 1.0/1.1 input, the
 * neutral-schema JSON output and struct feed_doc ownership.
 *
 * The format is detected from the bytes: a document whose first
 * significant byte is '{' is JSON Feed, anything else goes to the XML
 * reader, which decides by its root element.
 */
#include <ctype.h>
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

static struct feed_doc *
parse_json(const char *data, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(data, len, 0, &jerr), *items, *it;
	const char *version;
	struct feed_doc *d;
	size_t i;

	if (root == NULL) {
		snprintf(err, errlen, "not a feed: JSON error at line %d: %s", jerr.line, jerr.text);
		return NULL;
	}
	version = json_string_value(json_object_get(root, "version"));
	if (version == NULL || strncmp(version, "https://jsonfeed.org/version/", 29) != 0) {
		snprintf(err, errlen, "not a feed: JSON without a jsonfeed.org version");
		json_decref(root);
		return NULL;
	}
	d = xcalloc(1, sizeof *d);
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
}

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

static void
put_str(json_t *o, const char *key, const char *v)
{
	if (v != NULL && *v != '\0')
		json_object_set_new(o, key, json_string(v));
}

static void
put_time(json_t *o, const char *key, time_t t)
{
	char buf[32];

	if (t == FEED_NO_TIME)
		return;
	util_format_time(t, buf, sizeof buf);
	json_object_set_new(o, key, json_string(buf));
}

static json_t *
entry_json(const struct feed_entry *e)
{
	json_t *o = json_object(), *a, *p;
	size_t i;

	put_str(o, "id", e->id);
	put_str(o, "title", e->title);
	put_str(o, "subtitle", e->subtitle);
	put_str(o, "link", e->link);
	put_str(o, "summary", e->summary);
	put_str(o, "content", e->content);
	put_str(o, "rights", e->rights);
	put_str(o, "language", e->language);
	put_str(o, "author", e->author);
	put_time(o, "published", e->published);
	put_time(o, "updated", e->updated);
	if (e->nauthors) {
		a = json_array();
		for (i = 0; i < e->nauthors; i++) {
			p = json_object();
			put_str(p, "name", e->authors[i].name);
			put_str(p, "email", e->authors[i].email);
			put_str(p, "uri", e->authors[i].uri);
			json_array_append_new(a, p);
		}
		json_object_set_new(o, "authors", a);
	}
	if (e->ncategories) {
		a = json_array();
		for (i = 0; i < e->ncategories; i++)
			json_array_append_new(a, json_string(e->categories[i]));
		json_object_set_new(o, "categories", a);
	}
	if (e->nenclosures) {
		a = json_array();
		for (i = 0; i < e->nenclosures; i++) {
			p = json_object();
			put_str(p, "url", e->enclosures[i].url);
			put_str(p, "type", e->enclosures[i].type);
			put_str(p, "length", e->enclosures[i].length);
			json_array_append_new(a, p);
		}
		json_object_set_new(o, "enclosures", a);
	}
	return o;
}

char *
feed_doc_to_json(const struct feed_doc *d)
{
	json_t *o = json_object(), *entries = json_array();
	char *s;
	size_t i;

	json_object_set_new(o, "bozo", json_boolean(d->bozo));
	if (d->bozo_reason)
		json_object_set_new(o, "bozo_exception", json_string(d->bozo_reason));
	json_object_set_new(o, "version", json_string(d->version ? d->version : ""));
	json_object_set_new(o, "encoding", json_string(d->encoding ? d->encoding : "utf-8"));
	json_object_set_new(o, "feed", entry_json(&d->feed));
	for (i = 0; i < d->nentries; i++)
		json_array_append_new(entries, entry_json(&d->entries[i]));
	json_object_set_new(o, "entries", entries);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
