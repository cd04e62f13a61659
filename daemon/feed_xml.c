/*
 * feed_xml.c - the libxml2 side of feed_parse(): bytes (already UTF-8,
 * see feed_charset.c) to a tree, with the safety checks around it.
 *
 * Options are fixed: recovery on (ill-formed feeds are the norm and are
 * reported as bozo), no network, no external DTD or entity loading, no
 * entity substitution, never XML_PARSE_HUGE, so libxml2's own
 * amplification checks stay on.  On top of those we refuse documents
 * whose internal entity references would expand past a bound, and we
 * watch for the root end tag to tell a cut download (truncated) from an
 * ill-formed but complete one.  The walk itself is feed.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "feed_internal.h"
#include "wirewatch/log.h"
#include "wirewatch/util.h"

/* --- entity amplification ---------------------------------------------- */

/*
 * A document may declare internal entities; libxml2 keeps references to
 * them as nodes (we never ask for substitution), but reading text or an
 * attribute expands them, and one 100 kB entity referenced 20,000 times is
 * 2 GB ("quadratic blowup", which libxml2's own checks let through).  So
 * before the walk, when there are declarations at all, we add up what
 * every reference would expand to and refuse the document past a limit.
 */
#define EXPANSION_LIMIT (4u << 20)

struct memo {
	xmlEntityPtr ent[64];
	size_t size[64];
	int n;
};

static size_t
entity_size(xmlDocPtr doc, xmlEntityPtr ent, struct memo *m, int depth)
{
	const xmlChar *p;
	char name[64];
	size_t total = 0, k;
	xmlEntityPtr sub;
	int i;

	if (ent == NULL || ent->content == NULL)
		return 0;
	for (i = 0; i < m->n; i++)
		if (m->ent[i] == ent)
			return m->size[i];
	if (depth > 16 || m->n == (int)(sizeof m->ent / sizeof m->ent[0]))
		return EXPANSION_LIMIT;
	for (p = ent->content; *p && total < EXPANSION_LIMIT; p++) {
		if (*p != '&' || p[1] == '#') {
			total++;
			continue;
		}
		for (k = 0; p[1 + k] && p[1 + k] != ';' && k < sizeof name - 1; k++)
			name[k] = (char)p[1 + k];
		name[k] = '\0';
		if (p[1 + k] != ';' ||
		    (sub = xmlGetDocEntity(doc, (const xmlChar *)name)) == NULL) {
			total++;
			continue;
		}
		total += entity_size(doc, sub, m, depth + 1);
		p += k + 1;
	}
	if (total > EXPANSION_LIMIT)
		total = EXPANSION_LIMIT;
	m->ent[m->n] = ent;
	m->size[m->n++] = total;
	return total;
}

static size_t
tree_expansion(xmlDocPtr doc, xmlNodePtr n, struct memo *m)
{
	size_t total = 0;
	xmlAttrPtr a;

	for (; n != NULL && total < EXPANSION_LIMIT; n = n->next) {
		if (n->type == XML_ENTITY_REF_NODE) {
			total += entity_size(doc, xmlGetDocEntity(doc, n->name), m, 0);
		} else if (n->type == XML_ELEMENT_NODE) {
			for (a = n->properties; a != NULL; a = a->next)
				total += tree_expansion(doc, a->children, m);
			total += tree_expansion(doc, n->children, m);
		}
	}
	return total;
}

static int
too_amplified(xmlDocPtr doc)
{
	struct memo m;

	if (doc->intSubset == NULL || doc->intSubset->entities == NULL)
		return 0;
	m.n = 0;
	return tree_expansion(doc, doc->children, &m) >= EXPANSION_LIMIT;
}

/* --- the document ---------------------------------------------------------- */

/*
 * Three facts come from wrapping SAX2's element handlers rather than from
 * scanning the bytes.  Truncation is decided by whether the root element's
 * end tag was parsed, not by error codes: a mismatched tag in a complete
 * document is bozo but not a cut download.  Whether any element has an
 * xml:base attribute: without one, every node's base is the document URL
 * and the walk skips libxml2's ancestor walk.  And the nesting limit: an
 * element deeper than FEED_MAX_DEPTH stops the parse there, and we keep
 * the node it would have joined, so that the element left open around it
 * can be dropped and what was whole before it kept (see too_deep()).
 * The state is per thread, like libxml2's error handler.
 *
 * libxml2 has its own limit (256 without XML_PARSE_HUGE, checked one level
 * further down); it reports it as an error and halts, which would leave the
 * root unclosed and the whole document taken for a cut download, on every
 * poll.  Ours fires first.
 */
#define FEED_MAX_DEPTH 256

static _Thread_local struct {
	startElementNsSAX2Func orig_start;
	endElementNsSAX2Func orig_end;
	xmlParserCtxtPtr ctxt; /* the document's; entity content has its own */
	int root_closed;
	int xml_base;
	int too_deep;
	xmlNodePtr open;       /* the innermost element open at the limit */
	int line;
	/*
	 * Entries read as they close (take_entry()): 0 not decided yet, 1 on,
	 * -1 off (a document declaring entities, RSS 1.0, not a feed).
	 */
	int inc;
	struct feed_ctx *c;
	struct feed_doc *d;
} hook;

static void
feed_start_element_cb(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
    int nb_defaulted, const xmlChar **attributes)
{
	xmlParserCtxtPtr ctxt = ctx;
	int i;

	if (ctxt == hook.ctxt && ctxt->nameNr >= FEED_MAX_DEPTH) {
		if (!hook.too_deep) {
			hook.too_deep = 1;
			hook.open = ctxt->node;
			hook.line = ctxt->input != NULL ? ctxt->input->line : 0;
		}
		xmlStopParser(ctxt);
		return;
	}
	/* attributes: (localname, prefix, URI, value, end) per attribute */
	for (i = 0; i < nb_attributes && !hook.xml_base; i++)
		if (attributes[i * 5 + 1] != NULL && attributes[i * 5][0] == 'b' &&
		    !strcmp((const char *)attributes[i * 5], "base") &&
		    !strcmp((const char *)attributes[i * 5 + 1], "xml"))
			hook.xml_base = 1;
	if (hook.orig_start != NULL)
			hook.orig_start(ctx, localname, prefix, uri, nb_namespaces, namespaces,
		    nb_attributes, nb_defaulted, attributes);
}

/*
 * An item or entry that has just closed is read into the document and its
 * subtree freed, so that the tree of a large document never holds more
 * than one item: the walk after the parse finds only the feed-level
 * elements.  Decided at the first candidate: off when the document
 * declares entities (the expansion check needs the whole tree first) or
 * is not RSS 2.0 or Atom.
 */
static void
take_entry(xmlParserCtxtPtr ctxt, xmlNodePtr n)
{
	xmlDocPtr doc = ctxt->myDoc;
	xmlNodePtr root;
	char err[8];

	if (doc == NULL || n->doc != doc)
		return;
	if (hook.inc == 0) {
		root = xmlDocGetRootElement(doc);
		hook.inc = -1;
		hook.c->doc = doc;
		if (root != NULL && (doc->intSubset == NULL || doc->intSubset->entities == NULL) &&
		    (!strcmp((const char *)root->name, "rss") ||
		    !strcmp((const char *)root->name, "feed")) &&
		    feed_root_kind(hook.c, hook.d, root, err, sizeof err) == 0)
			hook.inc = 1;
	}
	if (hook.inc != 1)
		return;
	hook.c->xml_base = hook.xml_base;
	if (feed_take_entry(hook.c, hook.d, n)) {
		/*
		 * Its content goes; the empty element stays, marked, so that the
		 * parser's bookkeeping (it appends the next text to its parent's
		 * last child when that is text) sees what it left.
		 */
		xmlFreeNodeList(n->children);
		n->children = n->last = NULL;
		xmlFreePropList(n->properties);
		n->properties = NULL;
		n->_private = (void *)feed_taken;
	}
}

static void
feed_end_element_cb(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri)
{
	xmlParserCtxtPtr ctxt = ctx;
	xmlNodePtr n = NULL;

	if (ctxt == hook.ctxt && ctxt->nameNr <= 1)
		hook.root_closed = 1;
	if (ctxt == hook.ctxt && hook.inc >= 0 && hook.c != NULL && ctxt->node != NULL &&
	    ctxt->node->type == XML_ELEMENT_NODE &&
	    (!strcmp((const char *)localname, "item") || !strcmp((const char *)localname, "entry")))
		n = ctxt->node;
	if (hook.orig_end != NULL)
		hook.orig_end(ctx, localname, prefix, uri);
	if (n != NULL && ctxt->node != n)
		take_entry(ctxt, n);
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

/*
 * After the nesting limit: every element from the root down to hook.open
 * was still open.  The outermost of them below the root and the RSS
 * channel (an item, an entry, or a feed-level element) is incomplete and
 * goes; the elements before it were closed, so they are whole and stay.
 */
static void
too_deep(struct feed_doc *d, xmlDocPtr doc)
{
	xmlNodePtr n, cut = NULL;

	for (n = hook.open; n != NULL && n->type == XML_ELEMENT_NODE && n->doc == doc;
	    n = n->parent) {
		if (n->parent == NULL || n->parent->type != XML_ELEMENT_NODE)
			break; /* the root */
		if (strcmp((const char *)n->name, "channel") != 0)
			cut = n;
	}
	if (cut != NULL) {
		xmlUnlinkNode(cut);
		xmlFreeNode(cut);
	}
	d->bozo = 1;
	free(d->bozo_reason);
	d->bozo_reason = xasprintf("too deeply nested: an element more than %d levels deep "
	    "at line %d; the parse stops there, the items before it are kept",
	    FEED_MAX_DEPTH, hook.line);
}

struct feed_doc *
feed_parse_xml(const char *data, size_t len, const char *base_url,
    const char *content_type, char *err, size_t errlen)
{
	struct feed_doc *d = xcalloc(1, sizeof *d);
	xmlParserCtxtPtr ctxt = NULL;
	char *fixed, *label, *utf8 = NULL, *why = NULL, *decl;
	int ent_bozo = 0;
	size_t fixed_len = 0;
	struct feed_ctx c;
	xmlNodePtr root;

	memset(&c, 0, sizeof c);
	d->feed.published = d->feed.updated = FEED_NO_TIME;
	data = feed_decode(data, len, content_type, &label, &why, &len, &utf8);
	d->encoding = label;
	if (why != NULL) {
		d->bozo = 1;
		d->bozo_reason = why;
	}
	if ((decl = feed_bad_declaration(data, len)) != NULL) {
		/* "437": not an XML EncName, and the bytes are UTF-8 by now anyway */
		free(utf8);
		data = utf8 = decl;
		len = strlen(decl);
	}
	fixed = feed_fix_entities(data, len, &fixed_len, &ent_bozo);
	if (ent_bozo) {
		d->bozo = 1;
		if (d->bozo_reason == NULL && (ent_bozo & FEED_FIX_ENTITY))
			d->bozo_reason = xstrdup("undefined entity or bare '&'");
		else if (d->bozo_reason == NULL)
			d->bozo_reason = xstrdup("character reference to no character "
			    "(NUL, a surrogate, past U+10FFFF), read as U+FFFD");
	}
	if (content_type && strncasecmp(content_type, "text/plain", 10) == 0) {
		d->bozo = 1;
		if (d->bozo_reason == NULL)
			d->bozo_reason = xstrdup("served as text/plain, not an XML media type");
	}
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL)
		fatal("xmlNewParserCtxt failed");
	/* libxml2 2.9 has no per-context structured handler; one thread. */
	xmlSetStructuredErrorFunc(d, feed_xml_error_cb);
	hook.orig_start = ctxt->sax->startElementNs;
	hook.orig_end = ctxt->sax->endElementNs;
	hook.ctxt = ctxt;
	hook.root_closed = hook.xml_base = hook.too_deep = hook.line = 0;
	hook.open = NULL;
	hook.inc = 0;
	hook.c = &c;
	hook.d = d;
	ctxt->sax->startElementNs = feed_start_element_cb;
	ctxt->sax->endElementNs = feed_end_element_cb;
	/*
	 * The bytes are UTF-8 already (feed_charset.c): no encoding is named,
	 * since naming one makes libxml2 2.9 convert the whole document into
	 * a second buffer (17 MB more at the peak for a 17 MB document).
	 */
	c.doc = xmlCtxtReadMemory(ctxt, fixed ? fixed : data, (int)(fixed ? fixed_len : len),
	    base_url && *base_url ? base_url : NULL, NULL,
	    XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC | XML_PARSE_COMPACT);
	xmlSetStructuredErrorFunc(NULL, NULL);
	hook.ctxt = NULL;
	hook.c = NULL;
	hook.d = NULL;
	free(fixed);
	free(utf8);
	if (c.doc != NULL && hook.too_deep)
		too_deep(d, c.doc);
	if (c.doc == NULL || (root = xmlDocGetRootElement(c.doc)) == NULL) {
		snprintf(err, errlen, "not a feed: %s", d->bozo_reason ? d->bozo_reason :
		    "document is neither XML nor JSON");
		goto fail;
	}
	if (hook.inc != 1 && feed_root_kind(&c, d, root, err, errlen) == -1)
		goto fail;
	if (too_amplified(c.doc)) {
		snprintf(err, errlen, "entity references would expand past %u bytes",
		    EXPANSION_LIMIT);
		goto fail;
	}
	c.xml_base = hook.xml_base;
	if (!hook.root_closed && !hook.too_deep) {
		d->truncated = d->bozo = 1;
		if (d->bozo_reason == NULL)
			d->bozo_reason = xstrdup("document ends before its root element is closed");
	}
	feed_walk(&c, d, root);
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
