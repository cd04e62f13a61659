/*
 * ctl_stories.c - `wirewatchctl stories [--window D] FILE...`: groups the
 * items of feed files into stories exactly as the daemon does (story.c,
 * with its in-memory store instead of Redis) and prints one JSON line per
 * item: {"id", "story", "title", "published", "file"}.
 *
 * The daemon sees items in the order it polls them; offline, the order is
 * the items' time (published, else updated, else the time of the item
 * before it in its file), ties broken by the order of the files and items
 * on the command line.  --threshold and --gap-penalty override the
 * thresholds for the evaluation (make eval-stories); the daemon has no
 * such keys.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "wirewatch/alert.h"
#include "wirewatch/dedup.h"
#include "wirewatch/feed.h"
#include "wirewatch/log.h"
#include "wirewatch/story.h"
#include "wirewatch/util.h"

struct sitem {
	const struct feed_entry *e;
	const char *file;
	char key[DEDUP_KEYLEN];
	time_t t;
	size_t order;
};

static int
cmp_item(const void *a, const void *b)
{
	const struct sitem *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
usage(void)
{
	fprintf(stderr, "usage: wirewatchctl stories [--window D] [--threshold X] "
	    "[--gap-penalty X] FILE...\n");
	return 2;
}

int
ctl_stories_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "threshold", required_argument, NULL, 't' },
		{ "gap-penalty", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	struct feed_doc **docs = NULL;
	struct sitem *items = NULL;
	size_t nitems = 0, ndocs = 0, i, j;
	struct story_params p;
	struct story_memstore *mem = NULL;
	struct story_store st;
	char err[WW_ERRLEN], sid[STORY_IDLEN], when[32];
	int c, rc = 1;
	char *end;

	story_params_default(&p);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			if ((p.window = util_parse_duration(optarg)) <= 0) {
				fprintf(stderr, "wirewatchctl stories: --window: bad duration '%s' "
				    "(e.g. 48h, 2d)\n", optarg);
				return 2;
			}
			break;
		case 't':
		case 'g':
			{
				double v = strtod(optarg, &end);
				if (*optarg == '\0' || *end != '\0' || v < 0 || v > 10) {
					fprintf(stderr, "wirewatchctl stories: --%s: bad number '%s'\n",
					    c == 't' ? "threshold" : "gap-penalty", optarg);
					return 2;
				}
				if (c == 't')
					p.threshold = v;
				else
					p.gap_penalty = v;
			}
			break;
		default:
			return usage();
		}
	}
	if (optind >= argc)
		return usage();
	docs = xcalloc((size_t)(argc - optind), sizeof *docs);
	for (i = (size_t)optind; i < (size_t)argc; i++) {
		struct feed_doc *doc;
		char (*keys)[DEDUP_KEYLEN];
		size_t len;
		char *data = util_read_file(argv[i], &len, err, sizeof err);
		time_t prev = 0;

		if (data == NULL) {
			fprintf(stderr, "wirewatchctl stories: %s\n", err);
			goto out;
		}
		doc = feed_parse(data, len, NULL, NULL, err, sizeof err);
		free(data);
		if (doc == NULL) {
			fprintf(stderr, "wirewatchctl stories: %s: %s\n", argv[i], err);
			goto out;
		}
		docs[ndocs++] = doc;
		keys = xcalloc(doc->nentries ? doc->nentries : 1, sizeof *keys);
		dedup_doc_keys(doc, keys, NULL);
		items = xreallocarray(items, nitems + doc->nentries, sizeof *items);
		for (j = 0; j < doc->nentries; j++) {
			struct sitem *it = &items[nitems];
			const struct feed_entry *e = &doc->entries[j];

			it->e = e;
			it->file = argv[i];
			memcpy(it->key, keys[j], DEDUP_KEYLEN);
			it->t = e->published != FEED_NO_TIME ? e->published :
			    e->updated != FEED_NO_TIME ? e->updated : prev;
			prev = it->t;
			it->order = nitems++;
		}
		free(keys);
	}
	qsort(items, nitems, sizeof *items, cmp_item);
	mem = story_memstore_new();
	st = story_memstore_store(mem);
	for (i = 0; i < nitems; i++) {
		struct story_sig sig;
		json_t *o;
		char *s;

		story_sig_make(items[i].e, items[i].t, &sig);
		if (story_assign(&p, &st, items[i].key, &sig, NULL, err, sizeof err) == -1) {
			fprintf(stderr, "wirewatchctl stories: %s\n", err);
			goto out;
		}
		story_id_format(sig.story, sid);
		o = json_object();
		json_object_set_new(o, "id", items[i].e->id ? alert_json_string(items[i].e->id) :
		    items[i].e->link ? alert_json_string(items[i].e->link) : json_null());
		json_object_set_new(o, "story", json_string(sid));
		json_object_set_new(o, "title", items[i].e->title ?
		    alert_json_string(items[i].e->title) : json_null());
		util_format_time(items[i].t, when, sizeof when);
		json_object_set_new(o, "published", json_string(when));
		json_object_set_new(o, "file", alert_json_string(items[i].file));
		if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
			fatal("stories: cannot serialize (out of memory)");
		printf("%s\n", s);
		free(s);
		json_decref(o);
	}
	rc = 0;
out:
	story_memstore_free(mem);
	for (i = 0; i < ndocs; i++)
		feed_doc_free(docs[i]);
	free(docs);
	free(items);
	return rc;
}
