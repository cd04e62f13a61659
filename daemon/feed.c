/*
 * feed.c - RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 into struct feed_doc.
 *
 * libxml2 builds a tree (recovery on, no network, no external entities,
 * its entity-amplification limits on); we walk it once.  A tree rather
 * than a stream because inline XHTML content must be serialized back and
 * xml:base inherited, both of which the tree gives for free; bench-parse
 * measures what that costs against a bare streaming pass.
 *
 * Before parsing, HTML named entities that XML does not define (&nbsp;,
 * &eacute; ...) are rewritten as character references, outside CDATA and
 * comments, and the document is marked bozo: feeds use them constantly and
 * libxml2's recovery would drop them.  JSON Feed and the output side live
 * in feed_json.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
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

enum kind { K_RSS, K_ATOM, K_RDF };

struct ctx {
	xmlDocPtr doc;
	enum kind kind;
	int atom03;
	int xml_base;         /* the document uses xml:base somewhere */
	const char *root_ns;  /* the feed element's namespace (Atom) */
	xmlNsPtr dropped;     /* XHTML declarations drop_ns() took off */
};

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
atom(struct ctx *c, xmlNodePtr n, const char *name)
{
	if (n->type != XML_ELEMENT_NODE || n->name[0] != (xmlChar)name[0])
		return 0;
	return is(n, NS_ATOM10, name) || is(n, NS_ATOM03, name) ||
	    (c->kind == K_ATOM &&
	    !strcmp((const char *)n->name, name) &&
	    (n->ns == NULL || (c->root_ns && !strcmp(ns_of(n), c->root_ns))));
}

static char *
trimmed(const char *s)
{
	size_t n;

	if (s == NULL)
		return NULL;
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static char *
trimmed_n(const char *s, size_t n)
{
	char *tmp = xstrndup(s, n), *out = trimmed(tmp);

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
		return trimmed((const char *)n->children->content);
	t = xmlNodeGetContent(n);
	char *s = trimmed((const char *)t);

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
	s = trimmed((const char *)v);
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

/*
 * xmlBuildURI() that also takes IRIs: libxml2 2.9 refuses non-ASCII
 * bytes, so they are percent-encoded for the call and decoded after.
 * Returns malloc'd memory or NULL.
 */
static char *
build_uri(const char *ref, const xmlChar *base)
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
	for (p = (const char *)abs; *p; p++) {
		if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]) &&
		    strchr("89ABCDEF", p[1]) != NULL) {
			buf_addc(&o, (char)strtol((char[]){ p[1], p[2], 0 }, NULL, 16));
			p += 2;
		} else {
			buf_addc(&o, *p);
		}
	}
	xmlFree(abs);
	return buf_steal(&o);
}

static int has_scheme(const char *s, size_t n);

/* The base URI for n; without any xml:base, skip libxml2's ancestor walk. */
static xmlChar *
node_base(struct ctx *c, xmlNodePtr n)
{
	if (c->xml_base)
		return xmlNodeGetBase(c->doc, n);
	return c->doc->URL ? xmlStrdup(c->doc->URL) : NULL;
}

/* Resolves ref against the node's xml:base chain and the document URL. */
static char *
resolve(struct ctx *c, xmlNodePtr n, char *ref)
{
	xmlChar *base;
	char *out;

	if (ref == NULL)
		return NULL;
	/* Absolute already: nothing to resolve, skip the base walk. */
	if (has_scheme(ref, strlen(ref)) && strncasecmp(ref, "javascript:", 11) != 0)
		return ref;
	base = node_base(c, n);
	if (base == NULL || !strncasecmp((const char *)base, "javascript:", 11)) {
		xmlFree(base);
		return ref;
	}
	out = build_uri(ref, base);
	xmlFree(base);
	if (out == NULL)
		return ref;
	free(ref);
	return out;
}

/* An id with no scheme ("/relative/link") is resolved like a link. */
static char *
resolve_id(struct ctx *c, xmlNodePtr n, char *id)
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

/* --- relative URIs inside HTML ------------------------------------------- */

static int
has_scheme(const char *s, size_t n)
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

/*
 * Rewrites relative href/src/... attribute values in an HTML string
 * against the element's base (xml:base chain, then the document URL), as
 * feedparser does, so that content keeps working away from its feed.
 * Takes ownership of s.
 */
static char *
html_resolve(struct ctx *c, xmlNodePtr n, char *s)
{
	const char *p, *last, *name, *val, *vstart, *vend;
	xmlChar *base = NULL, *abs;
	struct buf b = {0};
	size_t nlen, vlen;
	char quote, *ref;

	if (s == NULL || (p = strchr(s, '<')) == NULL)
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
			if (has_scheme(val, vlen))
				continue;
			if (base == NULL) {
				base = node_base(c, n);
				if (base == NULL ||
				    !strncasecmp((const char *)base, "javascript:", 11))
					goto out;
			}
			ref = xstrndup(val, vlen);
			abs = (xmlChar *)build_uri(ref, base);
			buf_add(&b, last, (size_t)(vstart - last));
			buf_adds(&b, abs ? (const char *)abs : ref);
			last = vend;
			free(abs);
			free(ref);
		}
		if (*p == '\0')
			break;
	}
out:
	xmlFree(base);
	if (b.s == NULL)
		return s;
	buf_adds(&b, last);
	free(s);
	return buf_steal(&b);
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
drop_ns(struct ctx *c, xmlNodePtr n)
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
dump_children(struct buf *b, struct ctx *c, xmlNodePtr n)
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
static char *
markup_of(struct ctx *c, xmlNodePtr n)
{
	struct buf b = {0};
	char *raw, *out;

	if (!has_element_child(n))
		return text_of(n);
	dump_children(&b, c, n);
	raw = buf_steal(&b);
	out = trimmed(raw);
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
			buf_addc(&b, (char)((v >> bits) & 0xff));
		}
	}
	return buf_steal(&b);
}

/* Atom text construct (or any element when not Atom): the schema's value. */
static char *
text_construct(struct ctx *c, xmlNodePtr n)
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
		out = trimmed(raw);
		free(raw);
		goto markup;
	}
	if (type != NULL && c->kind == K_ATOM && strcmp(type, "text") && strcmp(type, "html") &&
	    strncmp(type, "text/", 5) && !strstr(type, "xml")) {
		raw = text_of(n);
		out = base64_text(raw);
		free(raw);
		goto markup;
	}
	out = markup_of(c, n);
	/* Atom plain text stays text; everything else is markup. */
	if (c->kind == K_ATOM && mode == NULL && (type == NULL || !strcmp(type, "text") ||
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
		name = trimmed(s);
	} else if ((lp = strchr(s, '(')) != NULL && (rp = strrchr(s, ')')) != NULL &&
	    rp > lp && memchr(s, '@', (size_t)(lp - s))) {
		name = trimmed_n(lp + 1, (size_t)(rp - lp - 1));
		*lp = '\0';
		email = trimmed(s);
	} else if ((lp = strchr(s, '(')) != NULL && (rp = strrchr(s, ')')) != NULL &&
	    rp > lp && memchr(lp, '@', (size_t)(rp - lp))) {
		email = trimmed_n(lp + 1, (size_t)(rp - lp - 1));
		*lp = '\0';
		name = trimmed(s);
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
add_atom_person(struct ctx *c, struct feed_entry *e, xmlNodePtr n)
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
atom_link(struct ctx *c, struct feed_entry *e, xmlNodePtr n)
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
common_element(struct ctx *c, struct feed_entry *e, xmlNodePtr k, int is_feed,
    char **guid_link)
{
	char *v;

	if (atom(c, k, "title") || rss(k, "title") || is(k, NS_DC, "title")) {
		if (e->title == NULL || !is(k, NS_DC, "title"))
			replace(&e->title, text_construct(c, k));
	} else if (atom(c, k, "link")) {
		if (c->kind == K_ATOM || xmlHasProp(k, (const xmlChar *)"href"))
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
parse_entry(struct ctx *c, struct feed_doc *d, xmlNodePtr item)
{
	struct feed_entry *e;
	char *guid_link = NULL, *media = NULL, *v;
	const char *summary_elem = NULL;
	xmlNodePtr k;

	d->entries = xreallocarray(d->entries, d->nentries + 1, sizeof *d->entries);
	e = &d->entries[d->nentries++];
	memset(e, 0, sizeof *e);
	e->published = e->updated = FEED_NO_TIME;
	if (c->kind == K_RDF && (v = (char *)xmlGetNsProp(item, (const xmlChar *)"about",
	    (const xmlChar *)NS_RDF)) != NULL) {
		e->id = trimmed(v);
		xmlFree(v);
	}
	for (k = item->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE || common_element(c, e, k, 0, &guid_link))
			continue;
		if (c->kind != K_ATOM && (rss(k, "summary") || rss(k, "description")) &&
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
			set_first(&e->content, html_resolve(c, k, trimmed(v)));
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
parse_channel(struct ctx *c, struct feed_doc *d, xmlNodePtr ch)
{
	struct feed_entry *f = &d->feed;
	char *guid_link = NULL;
	xmlNodePtr k;

	for (k = ch->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (rss(k, "item") || atom(c, k, "entry")) {
			parse_entry(c, d, k);
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

/* --- entities ------------------------------------------------------------ */

static int
is_name_char(unsigned char ch)
{
	return isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == ':';
}

/*
 * Repairs references XML would reject, which feeds are full of, so that
 * libxml2's recovery does not drop the text: HTML named entities XML lacks
 * become &#N;, "&#X41;" becomes "&#x41;", and an '&' that starts no valid
 * reference (a bare ampersand in a URL, "&doesnotexist;") becomes "&amp;".
 * CDATA sections, comments and processing instructions are left alone, and
 * a document with its own <!ENTITY declarations is not touched at all.
 * Returns NULL when nothing changed.
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

static char *
fix_entities(const char *data, size_t len, size_t *outlen, int *bozo)
{
	const char *p = data, *end = data + len, *last = data, *q, *close, *next_lt = NULL;
	const htmlEntityDesc *ent;
	struct buf b = {0};
	char name[33];
	size_t n;
	int changed = 0;

	if (memmem(data, len, "<!ENTITY", 8) != NULL)
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
			q++;
			if (q < end && (*q == 'x' || *q == 'X')) {
				const char *h = ++q;
				while (q < end && isxdigit((unsigned char)*q))
					q++;
				if (q > h && q < end && *q == ';') {
					if (p[2] == 'X') {
						buf_add(&b, last, (size_t)(p - last));
						buf_adds(&b, "&#x");
						last = p + 3;
						changed = *bozo = 1;
					}
					p = q + 1;
					continue;
				}
			} else {
				const char *d = q;
				while (q < end && isdigit((unsigned char)*q))
					q++;
				if (q > d && q < end && *q == ';') {
					long v = q - d <= 4 ? strtol(d, NULL, 10) : 0;

					/* &#146; is windows-1252's quote, as HTML5 reads it */
					if (v >= 0x80 && v <= 0x9f) {
						buf_add(&b, last, (size_t)(p - last));
						buf_addf(&b, "&#%u;", feed_cp1252_c1[v - 0x80]);
						last = q + 1;
						changed = 1; /* a repair, not an error */
					}
					p = q + 1;
					continue;
				}
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
					changed = *bozo = 1;
					continue;
				}
			}
		}
		/* Not a reference XML accepts: keep the ampersand as text. */
		buf_add(&b, last, (size_t)(p - last));
		buf_adds(&b, "&amp;");
		p = last = p + 1;
		changed = *bozo = 1;
	}
	if (!changed) {
		buf_free(&b);
		return NULL;
	}
	buf_add(&b, last, (size_t)(end - last));
	*outlen = b.len;
	return buf_steal(&b);
}

/* --- the document ---------------------------------------------------------- */

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

/*
 * Truncation is decided by whether the root element's end tag was parsed,
 * not by error codes: a mismatched tag in a complete document is bozo but
 * not a cut download.  SAX2's end-element handler is wrapped to see it;
 * the state is per thread, like libxml2's error handler.
 */
static _Thread_local struct {
	endElementNsSAX2Func orig;
	int root_closed;
} endtag;

static void
feed_end_element_cb(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri)
{
	xmlParserCtxtPtr ctxt = ctx;

	if (ctxt->nameNr <= 1)
		endtag.root_closed = 1;
	if (endtag.orig != NULL)
		endtag.orig(ctx, localname, prefix, uri);
}

static void
feed_xml_error_cb(void *arg, xmlErrorPtr e)
{
	struct feed_doc *d = arg;

	if (e->level < XML_ERR_ERROR)
		return;
	d->bozo = 1;
	if (d->bozo_reason == NULL)
		d->bozo_reason = xasprintf("XML error at line %d: %s", e->line,
		    e->message ? e->message : "?");
}

static int
xml_root_kind(struct ctx *c, struct feed_doc *d, xmlNodePtr root, char *err, size_t errlen)
{
	xmlNodePtr k;
	const char *name = (const char *)root->name;

	if (!strcmp(name, "rss") || !strcmp(name, "channel")) {
		c->kind = K_RSS;
		d->version = xstrdup(rss_version(root, c->doc));
	} else if (is(root, NS_RDF, "RDF") || !strcmp(name, "RDF")) {
		c->kind = K_RDF;
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
		c->kind = K_ATOM;
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
 * When the XML declaration names an encoding libxml2 rejects as a name
 * (encoding="437"), returns a copy of the document with a plain
 * declaration instead; NULL otherwise.  The charset was applied already.
 */
static char *
bad_declaration(const char *data, size_t len)
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

struct feed_doc *
feed_parse_xml(const char *data, size_t len, const char *base_url,
    const char *content_type, char *err, size_t errlen)
{
	struct feed_doc *d = xcalloc(1, sizeof *d);
	xmlParserCtxtPtr ctxt = NULL;
	char *fixed, *label, *lang, *utf8 = NULL, *why = NULL, *decl;
	int ent_bozo = 0;
	size_t fixed_len = 0;
	struct ctx c;
	xmlNodePtr root, k;

	memset(&c, 0, sizeof c);
	d->feed.published = d->feed.updated = FEED_NO_TIME;
	data = feed_decode(data, len, content_type, &label, &why, &len, &utf8);
	d->encoding = label;
	if (why != NULL) {
		d->bozo = 1;
		d->bozo_reason = why;
	}
	if ((decl = bad_declaration(data, len)) != NULL) {
		/* "437": not an XML EncName, and the bytes are UTF-8 by now anyway */
		free(utf8);
		data = utf8 = decl;
		len = strlen(decl);
	}
	fixed = fix_entities(data, len, &fixed_len, &ent_bozo);
	if (ent_bozo) {
		d->bozo = 1;
		if (d->bozo_reason == NULL)
			d->bozo_reason = xstrdup("undefined entity or bare '&'");
	}
	if (content_type && strncasecmp(content_type, "text/plain", 10) == 0) {
		d->bozo = 1;
		if (d->bozo_reason == NULL)
			d->bozo_reason = xstrdup("served as text/plain, not an XML media type");
	}
	/* data is UTF-8 by now; fix_entities() never adds an xml:base */
	c.xml_base = memmem(data, len, "xml:base", 8) != NULL;
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL)
		fatal("xmlNewParserCtxt failed");
	/* libxml2 2.9 has no per-context structured handler; one thread. */
	xmlSetStructuredErrorFunc(d, feed_xml_error_cb);
	endtag.orig = ctxt->sax->endElementNs;
	endtag.root_closed = 0;
	ctxt->sax->endElementNs = feed_end_element_cb;
	c.doc = xmlCtxtReadMemory(ctxt, fixed ? fixed : data, (int)(fixed ? fixed_len : len),
	    base_url && *base_url ? base_url : NULL, "UTF-8",
	    XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC | XML_PARSE_COMPACT);
	xmlSetStructuredErrorFunc(NULL, NULL);
	free(fixed);
	free(utf8);
	if (c.doc == NULL || (root = xmlDocGetRootElement(c.doc)) == NULL) {
		snprintf(err, errlen, "not a feed: %s", d->bozo_reason ? d->bozo_reason :
		    "document is neither XML nor JSON");
		goto fail;
	}
	if (xml_root_kind(&c, d, root, err, errlen) == -1)
		goto fail;
	if (!endtag.root_closed) {
		d->truncated = d->bozo = 1;
		if (d->bozo_reason == NULL)
			d->bozo_reason = xstrdup("document ends before its root element is closed");
	}
	if ((lang = (char *)xmlNodeGetLang(root)) != NULL) {
		d->feed.language = trimmed(lang);
		xmlFree(lang);
		for (char *u = d->feed.language; *u; u++)
			if (*u == '_')
				*u = '-';
	}
	if (c.kind == K_ATOM) {
		parse_channel(&c, d, root);
	} else {
		for (k = root->children; k != NULL; k = k->next) {
			if (rss(k, "channel"))
				parse_channel(&c, d, k);
			else if (rss(k, "item"))
				parse_entry(&c, d, k);
		}
		if (!strcmp((const char *)root->name, "channel"))
			parse_channel(&c, d, root);
	}
	xmlFreeDoc(c.doc);
	xmlFreeNsList(c.dropped);
	xmlFreeParserCtxt(ctxt);
	return d;
fail:
	if (c.doc)
		xmlFreeDoc(c.doc);
	xmlFreeNsList(c.dropped);
	xmlFreeParserCtxt(ctxt);
	feed_doc_free(d);
	return NULL;
}
