/*
 * feed.c - RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 into struct feed_doc.
 *
 * feed_xml.c has libxml2 build a tree (recovery on, no network, no
 * external entities, amplification bounded); we walk it once here.  A
 * tree rather than a stream because inline XHTML content must be
 * serialized back and xml:base inherited, both of which the tree gives
 * for free; bench-parse measures what that costs against a bare streaming
 * pass (under 2x).
 *
 * The pipeline: feed_charset.c turns the bytes into UTF-8, feed_markup.c
 * repairs references XML would drop (&nbsp;, a bare '&'), feed_xml.c
 * parses, and the walk here detects the format from the root element and
 * maps elements to the neutral schema, resolving links and relative URIs
 * inside HTML.  JSON Feed, the dispatcher and the output side live in
 * feed_json.c.  What we chose where the formats leave a choice is in
 * docs/feed-policy.md.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>

#include "feed_internal.h"
#include "wirewatch/date.h"
#include "wirewatch/log.h"
#include "wirewatch/util.h"

#define NS_ATOM10 "http://www.w3.org/2005/Atom"
#define NS_ATOM03 "http://purl.org/atom/ns#"
#define NS_DC "http://purl.org/dc/elements/1.1/"
#define NS_DCTERMS "http://purl.org/dc/terms/"
#define NS_CONTENT "http://purl.org/rss/1.0/modules/content/"
#define NS_XHTML "http://www.w3.org/1999/xhtml"
#define NS_RSS10 "http://purl.org/rss/1.0/"
#define NS_RSS090 "http://my.netscape.com/rdf/simple/0.9/"
#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_MEDIA "http://search.yahoo.com/mrss/"

/* --- small helpers ------------------------------------------------------ */

static const char *
ns_of(xmlNodePtr n)
{
	return n->ns && n->ns->href ? (const char *)n->ns->href : "";
}

static int
is(xmlNodePtr n, const char *ns, const char *name)
{
	/* the first byte rules out nearly every candidate without a call */
	return n->type == XML_ELEMENT_NODE && n->name[0] == (xmlChar)name[0] &&
	    strcmp((const char *)n->name, name) == 0 && strcmp(ns_of(n), ns) == 0;
}

/* RSS core elements: no namespace, or one of RSS's own. */
static int
rss(xmlNodePtr n, const char *name)
{
	const char *ns = ns_of(n);

	return n->type == XML_ELEMENT_NODE && n->name[0] == (xmlChar)name[0] &&
	    strcmp((const char *)n->name, name) == 0 && (*ns == '\0' || !strcmp(ns, NS_RSS10) || !strcmp(ns, NS_RSS090) ||
	    !strncmp(ns, "http://backend.userland.com/rss", 31) ||
	    !strcmp(ns, "http://blogs.law.harvard.edu/tech/rss"));
}

/* Atom elements: Atom 1.0 or 0.3, or whatever namespace the feed uses. */
static int
atom(struct feed_ctx *c, xmlNodePtr n, const char *name)
{
	if (n->type != XML_ELEMENT_NODE || n->name[0] != (xmlChar)name[0])
		return 0;
	return is(n, NS_ATOM10, name) || is(n, NS_ATOM03, name) ||
	    (c->kind == FEED_ATOM &&
	    !strcmp((const char *)n->name, name) &&
	    (n->ns == NULL || (c->root_ns && !strcmp(ns_of(n), c->root_ns))));
}

static char *
trimmed_n(const char *s, size_t n)
{
	char *tmp = xstrndup(s, n), *out = xstrdup_trimmed(tmp);

	free(tmp);
	return out;
}

static char *
text_of(xmlNodePtr n)
{
	xmlChar *t;

	/* The common case, one text child: no intermediate copy. */
	if (n->children != NULL && n->children == n->last &&
	    n->children->type == XML_TEXT_NODE && n->children->content != NULL)
		return xstrdup_trimmed((const char *)n->children->content);
	t = xmlNodeGetContent(n);
	char *s = xstrdup_trimmed((const char *)t);

	xmlFree(t);
	return s;
}

static char *
attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	char *s;

	if (v == NULL)
		return NULL;
	s = xstrdup_trimmed((const char *)v);
	xmlFree(v);
	return s;
}

static void
replace(char **dst, char *v)
{
	if (v == NULL)
		return;
	if (*v == '\0') {
		free(v);
		return;
	}
	free(*dst);
	*dst = v;
}

static void
set_first(char **dst, char *v)
{
	if (*dst != NULL || v == NULL || *v == '\0') {
		free(v);
		return;
	}
	*dst = v;
}


/* The base URI for n; without any xml:base, skip libxml2's ancestor walk. */
static xmlChar *
node_base(struct feed_ctx *c, xmlNodePtr n)
{
	if (c->xml_base)
		return xmlNodeGetBase(c->doc, n);
	return c->doc->URL ? xmlStrdup(c->doc->URL) : NULL;
}

/* Resolves ref against the node's xml:base chain and the document URL. */
static char *
resolve(struct feed_ctx *c, xmlNodePtr n, char *ref)
{
	xmlChar *base;
	char *out;

	if (ref == NULL)
		return NULL;
	/* Absolute already: nothing to resolve, skip the base walk. */
	if (feed_has_scheme(ref, strlen(ref)) && strncasecmp(ref, "javascript:", 11) != 0)
		return ref;
	base = node_base(c, n);
	if (base == NULL || !strncasecmp((const char *)base, "javascript:", 11)) {
		xmlFree(base);
		return ref;
	}
	out = feed_build_uri(ref, base);
	xmlFree(base);
	if (out == NULL)
		return ref;
	free(ref);
	return out;
}

/* An id with no scheme ("/relative/link") is resolved like a link. */
static char *
resolve_id(struct feed_ctx *c, xmlNodePtr n, char *id)
{
	size_t i;

	if (id == NULL || *id == '\0')
		return id;
	for (i = 0; id[i] && id[i] != ':' && id[i] != '/'; i++)
		;
	if (id[i] == ':' || id[0] != '/')
		return id;
	return resolve(c, n, id);
}

/* HTML in s with relative URIs resolved against n's base (feed_markup.c). */
static char *
html_resolve(struct feed_ctx *c, xmlNodePtr n, char *s)
{
	xmlChar *base;

	if (s == NULL || strchr(s, '<') == NULL)
		return s;
	base = node_base(c, n);
	s = feed_html_resolve(s, base);
	xmlFree(base);
	return s;
}

static void
set_date(time_t *dst, xmlNodePtr n)
{
	char *s = text_of(n);
	time_t t;

	/* The last date element wins; an unparseable one clears. */
	*dst = date_parse(s, &t) == 0 ? t : FEED_NO_TIME;
	free(s);
}

/* --- text constructs ---------------------------------------------------- */

/*
 * Drops the XHTML namespace so inline XHTML serializes as plain markup.
 * Only that declaration goes, and it is parked on the context rather than
 * freed: attributes and nodes elsewhere may still point at an xmlNs, and
 * other namespaces (SVG, MathML, xlink) must keep their declarations.
 */
static void
drop_ns(struct feed_ctx *c, xmlNodePtr n)
{
	xmlNsPtr *pp, ns;
	xmlNodePtr k;

	for (k = n; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		for (pp = &k->nsDef; (ns = *pp) != NULL;) {
			if (ns->prefix == NULL && ns->href != NULL &&
			    !strcmp((const char *)ns->href, NS_XHTML)) {
				*pp = ns->next;
				ns->next = c->dropped;
				c->dropped = ns;
			} else {
				pp = &ns->next;
			}
		}
		if (k->ns != NULL && k->ns->prefix == NULL &&
		    !strcmp((const char *)k->ns->href, NS_XHTML))
			k->ns = NULL;
		drop_ns(c, k->children);
	}
}

static void
dump_children(struct buf *b, struct feed_ctx *c, xmlNodePtr n)
{
	xmlBufferPtr xb = xmlBufferCreate();
	xmlNodePtr k;

	drop_ns(c, n->children);
	for (k = n->children; k != NULL; k = k->next)
		xmlNodeDump(xb, c->doc, k, 0, 0);
	buf_add(b, xmlBufferContent(xb), (size_t)xmlBufferLength(xb));
	xmlBufferFree(xb);
}

static int
has_element_child(xmlNodePtr n)
{
	xmlNodePtr k;

	for (k = n->children; k != NULL; k = k->next)
		if (k->type == XML_ELEMENT_NODE)
			return 1;
	return 0;
}

/* Markup written straight into a text element ("naked markup"). */
/*
 * Typepad wrote type="html" content as an XHTML <div> holding escaped
 * HTML.  Returns that div when it is all there is (no other element, no
 * text beside it, nothing but text inside it), else NULL.
 */
static xmlNodePtr
escaped_html_div(xmlNodePtr n)
{
	xmlNodePtr k, div = NULL;

	for (k = n->children; k != NULL; k = k->next) {
		if (k->type == XML_ELEMENT_NODE) {
			if (div != NULL || !is(k, NS_XHTML, "div") || has_element_child(k))
				return NULL;
			div = k;
		} else if (k->type == XML_TEXT_NODE && k->content != NULL) {
			for (const xmlChar *p = k->content; *p; p++)
				if (!isspace(*p))
					return NULL;
		}
	}
	return div;
}

static char *
markup_of(struct feed_ctx *c, xmlNodePtr n)
{
	struct buf b = {0};
	char *raw, *out;

	if (!has_element_child(n))
		return text_of(n);
	dump_children(&b, c, n);
	raw = buf_steal(&b);
	out = xstrdup_trimmed(raw);
	free(raw);
	return out;
}

static char *
base64_text(const char *s)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf b = {0};
	unsigned v = 0;
	int bits = 0;
	const char *p;

	for (; *s; s++) {
		if (*s == '=')
			break;
		if ((p = strchr(tbl, *s)) == NULL || *s == '\0')
			continue;
		v = (v << 6) | (unsigned)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			/* a NUL would end the string here: U+FFFD keeps the rest */
			if (((v >> bits) & 0xff) == 0)
				buf_adds(&b, "\xef\xbf\xbd");
			else
				buf_addc(&b, (char)((v >> bits) & 0xff));
		}
	}
	return buf_steal(&b);
}

/* Atom text construct (or any element when not Atom): the schema's value. */
static char *
text_construct(struct feed_ctx *c, xmlNodePtr n)
{
	char *type = attr(n, "type"), *mode = attr(n, "mode"), *raw, *out;

	if (type != NULL && *type == '\0') {
		/* type="" is no type: text */
		free(type);
		type = NULL;
	}
	struct buf b = {0};
	xmlNodePtr k, div = NULL;

	if (mode != NULL && !strcmp(mode, "base64")) {
		raw = text_of(n);
		out = base64_text(raw);
		free(raw);
		goto markup;
	}
	if ((mode != NULL && !strcmp(mode, "xml")) ||
	    (type != NULL && (!strcmp(type, "xhtml") || !strcmp(type, "application/xhtml+xml")))) {
		for (k = n->children; k != NULL; k = k->next)
			if (k->type == XML_ELEMENT_NODE) {
				div = k;
				break;
			}
		/* Atom 1.0 drops the wrapping div; Atom 0.3 keeps it. */
		if (!c->atom03 && div != NULL && !strcmp((const char *)div->name, "div"))
			dump_children(&b, c, div);
		else
			dump_children(&b, c, n);
		raw = buf_steal(&b);
		out = xstrdup_trimmed(raw);
		free(raw);
		goto markup;
	}
	if (type != NULL && c->kind == FEED_ATOM && strcmp(type, "text") && strcmp(type, "html") &&
	    strncmp(type, "text/", 5) && !strstr(type, "xml")) {
		raw = text_of(n);
		out = base64_text(raw);
		free(raw);
		goto markup;
	}
	if (type != NULL && (!strcmp(type, "html") || !strcmp(type, "text/html")) &&
	    (div = escaped_html_div(n)) != NULL) {
		out = text_of(div);
		goto markup;
	}
	out = markup_of(c, n);
	/* Atom plain text stays text; everything else is markup. */
	if (c->kind == FEED_ATOM && mode == NULL && (type == NULL || !strcmp(type, "text") ||
	    !strcmp(type, "text/plain")) && !has_element_child(n))
		goto done;
	out = html_resolve(c, n, out);
	goto done;
markup:
	out = html_resolve(c, n, out);
done:
	free(type);
	free(mode);
	return out;
}

/* --- people ------------------------------------------------------------- */

static void
add_person(struct feed_entry *e, char *name, char *email, char *uri)
{
	struct feed_person *p;

	if (!name && !email && !uri)
		return;
	e->authors = xreallocarray(e->authors, e->nauthors + 1, sizeof *e->authors);
	p = &e->authors[e->nauthors++];
	p->name = name;
	p->email = email;
	p->uri = uri;
	if (e->author == NULL && name != NULL)
		e->author = xstrdup(name);
}

/* "me@x (Jane)", "Jane <me@x>", "me@x", "Jane". */
static void
add_rss_person(struct feed_entry *e, char *s)
{
	char *lt, *gt, *lp, *rp, *name = NULL, *email = NULL;

	if (s == NULL || *s == '\0') {
		free(s);
		return;
	}
	if ((lt = strchr(s, '<')) != NULL && (gt = strchr(lt, '>')) != NULL &&
	    memchr(lt, '@', (size_t)(gt - lt))) {
		email = trimmed_n(lt + 1, (size_t)(gt - lt - 1));
		*lt = '\0';
		name = xstrdup_trimmed(s);
	} else if ((lp = strchr(s, '(')) != NULL && (rp = strrchr(s, ')')) != NULL &&
	    rp > lp && memchr(s, '@', (size_t)(lp - s))) {
		name = trimmed_n(lp + 1, (size_t)(rp - lp - 1));
		*lp = '\0';
		email = xstrdup_trimmed(s);
	} else if ((lp = strchr(s, '(')) != NULL && (rp = strrchr(s, ')')) != NULL &&
	    rp > lp && memchr(lp, '@', (size_t)(rp - lp))) {
		email = trimmed_n(lp + 1, (size_t)(rp - lp - 1));
		*lp = '\0';
		name = xstrdup_trimmed(s);
	} else if (strchr(s, '@') != NULL && strchr(s, ' ') == NULL) {
		email = xstrdup(s);
	} else {
		name = xstrdup(s);
	}
	if (name && !*name) {
		free(name);
		name = NULL;
	}
	add_person(e, name, email, NULL);
	free(s);
}

static void
add_atom_person(struct feed_ctx *c, struct feed_entry *e, xmlNodePtr n)
{
	char *name = NULL, *email = NULL, *uri = NULL;
	xmlNodePtr k;

	for (k = n->children; k != NULL; k = k->next) {
		if (atom(c, k, "name"))
			replace(&name, text_of(k));
		else if (atom(c, k, "email"))
			replace(&email, text_of(k));
		else if (atom(c, k, "uri") || atom(c, k, "url") || atom(c, k, "homepage"))
			replace(&uri, resolve(c, k, text_of(k)));
	}
	add_person(e, name, email, uri);
}

static void
add_category(struct feed_entry *e, char *term)
{
	if (term == NULL || *term == '\0') {
		free(term);
		return;
	}
	e->categories = xreallocarray(e->categories, e->ncategories + 1, sizeof *e->categories);
	e->categories[e->ncategories++] = term;
}

static void
add_enclosure(struct feed_entry *e, char *url, char *type, char *length)
{
	struct feed_enclosure *x;

	if (url == NULL || *url == '\0') {
		free(url);
		free(type);
		free(length);
		return;
	}
	e->enclosures = xreallocarray(e->enclosures, e->nenclosures + 1, sizeof *e->enclosures);
	x = &e->enclosures[e->nenclosures++];
	x->url = url;
	x->type = type;
	x->length = length;
}

/* --- elements shared by feed and entry ---------------------------------- */

static void
atom_link(struct feed_ctx *c, struct feed_entry *e, xmlNodePtr n)
{
	char *rel = attr(n, "rel"), *href = attr(n, "href");

	if (href == NULL || *href == '\0') {
		/* Atom 0.3 drafts put the URL in the element's text. */
		free(href);
		href = text_of(n);
	}
	if (href == NULL || *href == '\0') {
		free(rel);
		free(href);
		return;
	}
	href = resolve(c, n, href);
	if (rel != NULL && !strcmp(rel, "enclosure")) {
		add_enclosure(e, href, attr(n, "type"), attr(n, "length"));
	} else if (rel == NULL || !strcmp(rel, "alternate")) {
		set_first(&e->link, href);
	} else {
		free(href);
	}
	free(rel);
}

/* Returns 1 when the element was understood. */
static int
common_element(struct feed_ctx *c, struct feed_entry *e, xmlNodePtr k, int is_feed,
    char **guid_link)
{
	char *v;

	if (atom(c, k, "title") || rss(k, "title") || is(k, NS_DC, "title")) {
		if (e->title == NULL || !is(k, NS_DC, "title"))
			replace(&e->title, text_construct(c, k));
	} else if (atom(c, k, "link")) {
		if (c->kind == FEED_ATOM || xmlHasProp(k, (const xmlChar *)"href"))
			atom_link(c, e, k);
		else
			replace(&e->link, resolve(c, k, text_of(k)));
	} else if (rss(k, "link")) {
		replace(&e->link, resolve(c, k, text_of(k)));
	} else if (atom(c, k, "id")) {
		replace(&e->id, resolve_id(c, k, text_of(k)));
	} else if (rss(k, "guid")) {
		v = text_of(k);
		replace(&e->id, resolve_id(c, k, xstrdup(v)));
		{
			char *perma = attr(k, "isPermaLink");
			if (perma == NULL || strcasecmp(perma, "false") != 0)
				replace(guid_link, resolve(c, k, v));
			else
				free(v);
			free(perma);
		}
	} else if (atom(c, k, "updated") || atom(c, k, "modified") ||
	    rss(k, "lastBuildDate") || is(k, NS_DC, "date") || is(k, NS_DCTERMS, "modified")) {
		set_date(&e->updated, k);
	} else if (atom(c, k, "published") || atom(c, k, "issued") || rss(k, "pubDate") ||
	    is(k, NS_DCTERMS, "issued")) {
		set_date(&e->published, k);
	} else if (atom(c, k, "author")) {
		add_atom_person(c, e, k);
	} else if (rss(k, "author") || is(k, NS_DC, "creator") || is(k, NS_DC, "author") ||
	    (is_feed && rss(k, "managingEditor"))) {
		add_rss_person(e, text_of(k));
	} else if (rss(k, "category") || is(k, NS_DC, "subject")) {
		add_category(e, text_of(k));
	} else if (atom(c, k, "category")) {
		add_category(e, attr(k, "term"));
	} else if (atom(c, k, "rights") || atom(c, k, "copyright") || rss(k, "copyright") ||
	    is(k, NS_DC, "rights")) {
		replace(&e->rights, text_construct(c, k));
	} else {
		return 0;
	}
	return 1;
}

/* --- entries ------------------------------------------------------------ */

static void
parse_entry(struct feed_ctx *c, struct feed_doc *d, xmlNodePtr item)
{
	struct feed_entry *e;
	char *guid_link = NULL, *media = NULL, *v;
	const char *summary_elem = NULL;
	xmlNodePtr k;

	if ((d->nentries & (d->nentries - 1)) == 0) /* 0, 1, 2, 4 ...: double */
		d->entries = xreallocarray(d->entries, d->nentries ? d->nentries * 2 : 1,
		    sizeof *d->entries);
	e = &d->entries[d->nentries++];
	memset(e, 0, sizeof *e);
	e->published = e->updated = FEED_NO_TIME;
	if (c->kind == FEED_RDF && (v = (char *)xmlGetNsProp(item, (const xmlChar *)"about",
	    (const xmlChar *)NS_RDF)) != NULL) {
		e->id = xstrdup_trimmed(v);
		xmlFree(v);
	}
	for (k = item->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE || common_element(c, e, k, 0, &guid_link))
			continue;
		if (c->kind != FEED_ATOM && (rss(k, "summary") || rss(k, "description")) &&
		    (v = text_construct(c, k)) != NULL) {
			/*
			 * RSS with a made-up <summary> next to <description>:
			 * the first is the summary, the other the content,
			 * so neither text is lost.
			 */
			if (e->summary != NULL && e->content == NULL && summary_elem != NULL &&
			    strcmp(summary_elem, (const char *)k->name) != 0)
				set_first(&e->content, v);
			else
				replace(&e->summary, v);
			if (summary_elem == NULL)
				summary_elem = (const char *)k->name;
		} else if (atom(c, k, "summary") || rss(k, "description") ||
		    is(k, NS_DC, "description")) {
			if (e->summary == NULL || !is(k, NS_DC, "description"))
				replace(&e->summary, text_construct(c, k));
		} else if (atom(c, k, "content")) {
			set_first(&e->content, text_construct(c, k));
		} else if (is(k, NS_CONTENT, "encoded") || rss(k, "fullitem")) {
			set_first(&e->content, html_resolve(c, k, text_of(k)));
		} else if (is(k, NS_XHTML, "body") || rss(k, "body")) {
			struct buf b = {0};
			dump_children(&b, c, k);
			v = buf_steal(&b);
			set_first(&e->content, html_resolve(c, k, xstrdup_trimmed(v)));
			free(v);
		} else if (is(k, NS_MEDIA, "description")) {
			replace(&media, text_of(k));
		} else if (rss(k, "enclosure")) {
			add_enclosure(e, resolve(c, k, attr(k, "url")), attr(k, "type"),
			    attr(k, "length"));
		}
	}
	if (e->link == NULL && guid_link != NULL)
		e->link = guid_link;
	else
		free(guid_link);
	if (e->summary == NULL)
		e->summary = media;
	else
		free(media);
}

static void
parse_channel(struct feed_ctx *c, struct feed_doc *d, xmlNodePtr ch)
{
	struct feed_entry *f = &d->feed;
	char *guid_link = NULL;
	xmlNodePtr k, next;

	for (k = ch->children; k != NULL; k = next) {
		next = k->next;
		if (k->type != XML_ELEMENT_NODE || k->_private == (void *)feed_taken)
			continue;
		if (rss(k, "item") || atom(c, k, "entry")) {
			parse_entry(c, d, k);
			/* done with it: its nodes' memory serves the entries that follow */
			xmlUnlinkNode(k);
			xmlFreeNode(k);
			continue;
		}
		if (common_element(c, f, k, 1, &guid_link))
			continue;
		if (atom(c, k, "subtitle") || atom(c, k, "tagline") || rss(k, "description") ||
		    is(k, NS_DC, "description"))
			replace(&f->subtitle, text_construct(c, k));
		else if (rss(k, "language") || is(k, NS_DC, "language"))
			replace(&f->language, text_of(k));
		if (f->language != NULL)
			for (char *u = f->language; *u; u++)
				if (*u == '_')
					*u = '-';
	}
	free(guid_link);
}

/*
 * Called while the document is parsed, as each element closes: when n is
 * an entry that feed_walk() would read where it stands (an RSS item of the
 * channel or of the root, an Atom entry of the feed), reads it now and
 * returns 1, so that the caller can free it before the rest is parsed.
 * RSS 1.0 and a root <channel> are left to the walk.
 */
const char feed_taken[] = "taken";

int
feed_take_entry(struct feed_ctx *c, struct feed_doc *d, xmlNodePtr n)
{
	xmlNodePtr parent = n->parent, root = xmlDocGetRootElement(c->doc);

	if (n->type != XML_ELEMENT_NODE || parent == NULL || root == NULL ||
	    parent->type != XML_ELEMENT_NODE)
		return 0;
	if (c->kind == FEED_ATOM) {
		if (parent != root || !(rss(n, "item") || atom(c, n, "entry")))
			return 0;
	} else if (c->kind == FEED_RSS && strcmp((const char *)root->name, "channel") != 0) {
		if (parent == root) {
			if (!rss(n, "item"))
				return 0;
		} else if (parent->parent != root || !rss(parent, "channel") ||
		    !(rss(n, "item") || atom(c, n, "entry"))) {
			return 0;
		}
	} else {
		return 0;
	}
	parse_entry(c, d, n);
	return 1;
}

/* --- the feed element ---------------------------------------------------- */

static const char *
rss_version(xmlNodePtr root, xmlDocPtr doc)
{
	char *v = attr(root, "version");
	const char *out = "rss";

	if (v == NULL)
		return out;
	if (!strncmp(v, "2.", 2) || !strcmp(v, "2"))
		out = "rss20";
	else if (!strcmp(v, "0.91"))
		out = doc->intSubset && doc->intSubset->ExternalID &&
		    strstr((const char *)doc->intSubset->ExternalID, "Netscape") ?
		    "rss091n" : "rss091u";
	else if (!strcmp(v, "0.92"))
		out = "rss092";
	else if (!strcmp(v, "0.93"))
		out = "rss093";
	else if (!strcmp(v, "0.94"))
		out = "rss094";
	free(v);
	return out;
}

/* Detects the format and version from the root element (sets c->kind). */
int
feed_root_kind(struct feed_ctx *c, struct feed_doc *d, xmlNodePtr root, char *err, size_t errlen)
{
	xmlNodePtr k;
	const char *name = (const char *)root->name;

	if (!strcmp(name, "rss") || !strcmp(name, "channel")) {
		c->kind = FEED_RSS;
		d->version = xstrdup(rss_version(root, c->doc));
	} else if (is(root, NS_RDF, "RDF") || !strcmp(name, "RDF")) {
		c->kind = FEED_RDF;
		d->version = xstrdup("rss10");
		for (xmlNsPtr ns = root->nsDef; ns != NULL; ns = ns->next)
			if (ns->href && !strcmp((const char *)ns->href, NS_RSS090)) {
				free(d->version);
				d->version = xstrdup("rss090");
			}
		for (k = root->children; k != NULL; k = k->next)
			if (k->type == XML_ELEMENT_NODE && !strcmp(ns_of(k), NS_RSS090)) {
				free(d->version);
				d->version = xstrdup("rss090");
				break;
			}
	} else if (!strcmp(name, "feed")) {
		c->kind = FEED_ATOM;
		c->root_ns = root->ns ? (const char *)root->ns->href : NULL;
		if (!strcmp(ns_of(root), NS_ATOM10)) {
			d->version = xstrdup("atom10");
		} else if (!strcmp(ns_of(root), NS_ATOM03)) {
			d->version = xstrdup("atom03");
			c->atom03 = 1;
		} else {
			char *v = attr(root, "version");
			d->version = xstrdup(v && !strcmp(v, "0.3") ? "atom03" : "atom");
			c->atom03 = v && !strcmp(v, "0.3");
			free(v);
		}
	} else {
		snprintf(err, errlen, "not a feed: root element <%s>", name);
		return -1;
	}
	return 0;
}

/*
 * Maps the tree under root (the feed element) into d: xml:lang of the
 * feed element, then channel and items, or the Atom feed and its entries.
 */
void
feed_walk(struct feed_ctx *c, struct feed_doc *d, xmlNodePtr root)
{
	xmlNodePtr k;
	char *lang;

	if ((lang = (char *)xmlNodeGetLang(root)) != NULL) {
		d->feed.language = xstrdup_trimmed(lang);
		xmlFree(lang);
		for (char *u = d->feed.language; *u; u++)
			if (*u == '_')
				*u = '-';
	}
	if (c->kind == FEED_ATOM) {
		parse_channel(c, d, root);
	} else {
		for (k = root->children; k != NULL; k = k->next) {
			if (k->_private == (void *)feed_taken)
				continue;
			if (rss(k, "channel"))
				parse_channel(c, d, k);
			else if (rss(k, "item"))
				parse_entry(c, d, k);
		}
		if (!strcmp((const char *)root->name, "channel"))
			parse_channel(c, d, root);
	}
}
