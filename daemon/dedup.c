/*
 * dedup.c - item identity; see dedup.h for the rules and why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "wirewatch/dedup.h"
#include "wirewatch/feed.h"
#include "wirewatch/util.h"

static const char *tracking_params[] = {
	"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid",
	"mc_eid", "_ga", "_gl", "ocid", "cmpid", "ito", "smid", "ncid", NULL
};

static int
is_tracking(const char *param, size_t len)
{
	size_t i;

	if (len >= 4 && strncasecmp(param, "utm_", 4) == 0)
		return 1;
	for (i = 0; tracking_params[i] != NULL; i++)
		if (strlen(tracking_params[i]) == len &&
		    strncasecmp(param, tracking_params[i], len) == 0)
			return 1;
	return 0;
}

static void
add_query(struct buf *out, const char *query)
{
	const char *p = query, *amp, *eq;
	size_t len, name_len;
	int first = 1;

	while (*p != '\0') {
		amp = strchr(p, '&');
		len = amp ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', len);
		name_len = eq ? (size_t)(eq - p) : len;
		if (len > 0 && !is_tracking(p, name_len)) {
			buf_addc(out, first ? '?' : '&');
			buf_add(out, p, len);
			first = 0;
		}
		p += len + (amp ? 1 : 0);
	}
}

char *
dedup_canonical_url(const char *url)
{
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	struct buf out = {0};
	CURLU *u;
	char *c;

	if (!util_is_http_url(url))
		return xstrdup(url);
	u = curl_url();
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return xstrdup(url);
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0); /* NULL when default */
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	buf_adds(&out, "//");
	for (c = host; *c; c++)
		buf_addc(&out, (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c));
	if (port != NULL && strcmp(port, "80") != 0 && strcmp(port, "443") != 0)
		buf_addf(&out, ":%s", port);
	buf_adds(&out, path ? path : "/");
	if (query != NULL)
		add_query(&out, query);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return buf_steal(&out);
}

static int
nonempty(const char *s)
{
	if (s == NULL)
		return 0;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return *s != '\0';
}

static int
id_repeats(const struct feed_doc *doc, size_t i)
{
	const char *id = doc->entries[i].id;
	size_t j;

	for (j = 0; j < doc->nentries; j++)
		if (j != i && doc->entries[j].id != NULL &&
		    strcmp(doc->entries[j].id, id) == 0)
			return 1;
	return 0;
}

static void
add_url(struct buf *b, const char *url)
{
	char *c = dedup_canonical_url(url);

	buf_adds(b, c);
	free(c);
}

void
dedup_item_key(const struct feed_doc *doc, size_t i, char out[DEDUP_KEYLEN])
{
	const struct feed_entry *e = &doc->entries[i];
	struct buf b = {0};
	time_t when;

	if (nonempty(e->id)) {
		buf_adds(&b, "id\x1f");
		add_url(&b, e->id);
		if (id_repeats(doc, i) && nonempty(e->link)) {
			buf_addc(&b, '\x1f');
			add_url(&b, e->link);
		}
	} else if (nonempty(e->link)) {
		buf_adds(&b, "link\x1f");
		add_url(&b, e->link);
	} else {
		when = e->published != FEED_NO_TIME ? e->published : e->updated;
		buf_addf(&b, "title\x1f%s\x1f%lld\x1f%s", e->title ? e->title : "",
		    (long long)when, (e->title || when != FEED_NO_TIME) ? "" :
		    (e->summary ? e->summary : e->content ? e->content : ""));
	}
	snprintf(out, DEDUP_KEYLEN, "%016llx%016llx",
	    (unsigned long long)util_hash64(b.s, b.len, 0),
	    (unsigned long long)util_hash64(b.s, b.len, 0x9e3779b97f4a7c15ULL));
	buf_free(&b);
}
