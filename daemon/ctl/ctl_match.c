/*
 * ctl_match.c - `wirewatchctl match` (test a query or the configured
 * watchlists against files, like grep) and `wirewatchctl entities`.
 * Both use the daemon's own matcher and gazetteer; no daemon needed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl/ctl.h"
#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/entity.h"
#include "wirewatch/feed.h"
#include "wirewatch/log.h"
#include "wirewatch/match.h"
#include "wirewatch/util.h"

static const char *
default_entities(void)
{
	struct stat st;

	if (stat(WW_ENTITIES_DIR, &st) == 0 && S_ISDIR(st.st_mode))
		return WW_ENTITIES_DIR;
	return "conf/entities";
}

/*
 * -e DIR alone, else the shipped set and, like the daemon, the local
 * directory (entities.d) over it.
 */
static struct entity_set *
load_entities(const char *edir, char *err, size_t errlen)
{
	struct entity_set *set;

	if ((set = entity_set_load(edir ? edir : default_entities(), err, errlen)) == NULL ||
	    edir != NULL)
		return set;
	if (entity_set_load_local(set, WW_LOCAL_ENTITIES_DIR, err, errlen) == -1) {
		entity_set_free(set);
		return NULL;
	}
	return set;
}

static char *
read_input(const char *path, size_t *len, char *err, size_t errlen)
{
	struct buf b = {0};
	char chunk[65536];
	size_t n;

	if (strcmp(path, "-") != 0)
		return util_read_file(path, len, err, errlen);
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		buf_add(&b, chunk, n);
	*len = b.len;
	return buf_steal(&b);
}

static void
print_hit(const char *file, long item, const char *title, const char *link,
    const struct match_hit *h, int as_json)
{
	json_t *o, *terms, *c;
	size_t i;
	char *s;

	if (as_json) {
		terms = json_array();
		for (i = 0; i < h->nterms; i++)
			json_array_append_new(terms, alert_json_string(h->terms[i]));
		o = json_object();
		json_object_set_new(o, "file", alert_json_string(file));
		json_object_set_new(o, "item", item >= 0 ? json_integer(item) : json_null());
		if (title != NULL)
			json_object_set_new(o, "title", alert_json_string(title));
		if (link != NULL)
			json_object_set_new(o, "link", alert_json_string(link));
		json_object_set_new(o, "watchlist", alert_json_string(h->name));
		json_object_set_new(o, "terms", terms);
		json_object_set_new(o, "snippet", alert_json_string(h->snippet));
		json_object_set(o, "explain", h->explain);
		if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
			fatal("match: cannot serialize a hit (out of memory)");
		printf("%s\n", s);
		free(s);
		json_decref(o);
		return;
	}
	if (item >= 0)
		printf("%s: item %ld: %s\n", file, item, title ? title : "(untitled)");
	else
		printf("%s:\n", file);
	printf("  watchlist: %s\n  terms:", h->name);
	for (i = 0; i < h->nterms; i++)
		printf("%s %s", i ? "," : "", h->terms[i]);
	printf("\n  clauses:");
	json_array_foreach(json_object_get(h->explain, "clauses"), i, c)
		printf("%s %s%s %s", i ? "," : "",
		    json_is_true(json_object_get(c, "negated")) ? "NOT " : "",
		    json_string_value(json_object_get(c, "clause")),
		    json_is_true(json_object_get(c, "matched")) ? "(hit)" : "(no hit)");
	printf("\n  snippet: %s\n", h->snippet);
}

static size_t
match_doc_print(struct matcher *m, const char *file, long item, const char *title,
    const char *link, const struct match_doc *d, int as_json)
{
	struct match_result res = {0};
	size_t i, n = matcher_run(m, d, &res);

	for (i = 0; i < n; i++)
		print_hit(file, item, title, link, &res.hits[i], as_json);
	match_result_free(&res);
	return n;
}

static size_t
match_file(struct matcher *m, const char *file, const char *data, size_t len, int as_json)
{
	char err[WW_ERRLEN];
	struct feed_doc *doc = feed_parse(data, len, NULL, NULL, err, sizeof err);
	struct match_doc d;
	struct buf cats = {0};
	const struct feed_entry *e;
	size_t i, c, hits = 0;
	char *text;

	memset(&d, 0, sizeof d);
	d.feed = file;
	if (doc == NULL) {
		/* Plain text: shown and matched as valid UTF-8, like feed text. */
		text = util_utf8_repair(data, len, NULL);
		d.content = text;
		hits = match_doc_print(m, file, -1, NULL, NULL, &d, as_json);
		free(text);
		return hits;
	}
	for (i = 0; i < doc->nentries; i++) {
		e = &doc->entries[i];
		buf_reset(&cats);
		for (c = 0; c < e->ncategories; c++)
			buf_addf(&cats, "%s%s", c ? "\n" : "", e->categories[c]);
		d.title = e->title;
		d.summary = e->summary;
		d.content = e->content;
		d.author = e->author;
		d.category = cats.s;
		hits += match_doc_print(m, file, (long)i, e->title, e->link, &d, as_json);
	}
	buf_free(&cats);
	feed_doc_free(doc);
	return hits;
}

int
ctl_match_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "query", required_argument, NULL, 'q' },
		{ "config", required_argument, NULL, 'c' },
		{ "entities", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *query = NULL, *conf = NULL, *edir = NULL;
	struct entity_set *ents = NULL;
	struct config *cfg = NULL;
	struct matcher *m = NULL;
	char err[WW_ERRLEN], *data;
	size_t hits = 0, len;
	int ch, as_json = 0, rc = 2, i;
	char *stdin_only[] = { "-" };
	char **files;
	int nfiles;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "q:c:e:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q': query = optarg; break;
		case 'c': conf = optarg; break;
		case 'e': edir = optarg; break;
		case 'j': as_json = 1; break;
		default: goto usage;
		}
	}
	if ((query == NULL) == (conf == NULL))
		goto usage;
	if (conf != NULL) {
		if ((cfg = config_load(conf, err, sizeof err)) == NULL) {
			fprintf(stderr, "wirewatchctl match: %s\n", err);
			return 2;
		}
		m = cfg->matcher;
	} else {
		if ((ents = load_entities(edir, err, sizeof err)) == NULL) {
			fprintf(stderr, "wirewatchctl match: %s\n", err);
			return 2;
		}
		m = matcher_new(ents);
		if (matcher_add(m, "query", query, err, sizeof err) < 0) {
			fprintf(stderr, "wirewatchctl match: query: %s\n", err);
			goto out;
		}
	}
	files = optind < argc ? argv + optind : stdin_only;
	nfiles = optind < argc ? argc - optind : 1;
	for (i = 0; i < nfiles; i++) {
		if ((data = read_input(files[i], &len, err, sizeof err)) == NULL) {
			fprintf(stderr, "wirewatchctl match: %s\n", err);
			goto out;
		}
		hits += match_file(m, strcmp(files[i], "-") ? files[i] : "(stdin)", data, len, as_json);
		free(data);
	}
	rc = hits > 0 ? 0 : 1;
out:
	if (cfg != NULL) {
		config_free(cfg);
	} else {
		matcher_free(m);
		entity_set_free(ents);
	}
	return rc;
usage:
	fprintf(stderr, "usage: wirewatchctl match (-q QUERY | -c CONF) [-e DIR] [--json] [FILE...]\n");
	return 2;
}

int
ctl_entities_main(int argc, char **argv)
{
	const char *edir = NULL;
	const struct entity *e;
	struct entity_set *set;
	char err[WW_ERRLEN];
	size_t i;
	int ch, rc = 0;

	optind = 1;
	while ((ch = getopt(argc, argv, "e:")) != -1) {
		if (ch != 'e')
			goto usage;
		edir = optarg;
	}
	if (argc - optind > 1)
		goto usage;
	if ((set = load_entities(edir, err, sizeof err)) == NULL) {
		fprintf(stderr, "wirewatchctl entities: %s\n", err);
		return 2;
	}
	if (optind == argc) {
		printf("%-28s %7s %8s  %s\n", "ENTITY", "ALIASES", "EXCLUDES", "FILE");
		for (i = 0; i < set->n; i++)
			printf("%-28s %7zu %8zu  %s:%d\n", set->v[i].name, set->v[i].naliases,
			    set->v[i].nexcludes, set->v[i].file, set->v[i].line);
	} else if ((e = entity_find(set, argv[optind])) == NULL) {
		fprintf(stderr, "wirewatchctl entities: unknown entity '%s'\n", argv[optind]);
		rc = 1;
	} else {
		printf("%s (%s:%d)\n", e->name, e->file, e->line);
		for (i = 0; i < e->naliases; i++)
			printf("  %s %s\n", e->aliases[i].case_sensitive ? "case-alias" : "alias     ",
			    e->aliases[i].text);
		for (i = 0; i < e->nexcludes; i++)
			printf("  exclude    %s\n", e->excludes[i]);
	}
	entity_set_free(set);
	return rc;
usage:
	fprintf(stderr, "usage: wirewatchctl entities [-e DIR] [NAME]\n");
	return 2;
}
