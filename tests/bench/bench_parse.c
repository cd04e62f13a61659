/*
 * bench_parse.c - feed_parse() throughput against the floor: a bare
 * libxml2 streaming pass (xmlTextReader read loop, same parser options)
 * over the same bytes, and a DOM build-and-free for reference.
 *
 * usage: bench_parse DIR [ROUNDS]
 * Loads every file of DIR into memory first so that only parsing is timed,
 * then prints one line per contender and the ratios.  Each file is parsed
 * with a base URL, as the daemon does.  bench_parse.sh adds feedparser.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/xmlreader.h>

#include "wirewatch/feed.h"
#include "wirewatch/util.h"

struct file {
	char *data;
	size_t len;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
best(double a, double b)
{
	return a < b ? a : b;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct file *
load(const char *dir, size_t *n, size_t *bytes)
{
	char **names = NULL, err[WW_ERRLEN], *path;
	struct file *files;
	struct dirent *de;
	size_t i, nn = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		perror(dir);
		exit(1);
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			names = xreallocarray(names, nn + 1, sizeof *names);
			names[nn++] = xstrdup(de->d_name);
		}
	closedir(d);
	qsort(names, nn, sizeof *names, cmp);
	files = xcalloc(nn ? nn : 1, sizeof *files);
	*bytes = 0;
	for (i = 0; i < nn; i++) {
		path = xasprintf("%s/%s", dir, names[i]);
		if ((files[i].data = util_read_file(path, &files[i].len, err, sizeof err)) == NULL) {
			fprintf(stderr, "bench_parse: %s\n", err);
			exit(1);
		}
		*bytes += files[i].len;
		free(path);
		free(names[i]);
	}
	free(names);
	*n = nn;
	return files;
}

static void
report(const char *what, double secs, size_t items, size_t bytes, int rounds)
{
	(void)rounds;
	printf("%-28s %8.3f s  %10.0f items/s  %8.1f MB/s\n", what, secs,
	    (double)items / secs, (double)bytes / secs / 1e6);
}

int
main(int argc, char **argv)
{
	struct file *files;
	size_t n, bytes, i, items = 0;
	double t0, t_feed, t_reader, t_dom;
	int rounds = argc > 2 ? atoi(argv[2]) : 1, r;
	char err[WW_ERRLEN], base[64];
	const int opts = XML_PARSE_NONET | XML_PARSE_RECOVER | XML_PARSE_NOERROR |
	    XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_parse DIR [ROUNDS]\n");
		return 2;
	}
	if (rounds < 1)
		rounds = 1;
	files = load(argv[1], &n, &bytes);
	xmlInitParser();

	/*
	 * Each round times the three contenders one after the other over the
	 * whole corpus; the best round of each is reported, which keeps a busy
	 * machine's noise out of the ratios.
	 */
	t_feed = t_reader = t_dom = 1e9;
	for (r = 0; r < rounds; r++) {
		t0 = now();
		for (i = 0; i < n; i++) {
			struct feed_doc *doc;

			snprintf(base, sizeof base, "https://news%zu.example/feed", i);
			doc = feed_parse(files[i].data, files[i].len, base, "application/rss+xml",
			    err, sizeof err);
			if (doc == NULL) {
				fprintf(stderr, "bench_parse: file %zu: %s\n", i, err);
				return 1;
			}
			if (r == 0)
				items += doc->nentries;
			feed_doc_free(doc);
		}
		t_feed = best(t_feed, now() - t0);

		t0 = now();
		for (i = 0; i < n; i++) {
			xmlTextReaderPtr rd = xmlReaderForMemory(files[i].data, (int)files[i].len,
			    NULL, NULL, opts);
			while (xmlTextReaderRead(rd) == 1)
				;
			xmlFreeTextReader(rd);
		}
		t_reader = best(t_reader, now() - t0);

		t0 = now();
		for (i = 0; i < n; i++)
			xmlFreeDoc(xmlReadMemory(files[i].data, (int)files[i].len, NULL, NULL, opts));
		t_dom = best(t_dom, now() - t0);
	}

	printf("corpus: %zu feeds, %zu items, %.1f MB; best of %d round(s)\n", n, items,
	    (double)bytes / 1e6, rounds);
	report("feed_parse", t_feed, items, bytes, rounds);
	report("libxml2 xmlTextReader loop", t_reader, items, bytes, rounds);
	report("libxml2 xmlReadMemory+free", t_dom, items, bytes, rounds);
	printf("ratio feed_parse / xmlTextReader: %.2fx the time (goal <= 2x)\n",
	    t_feed / t_reader);
	printf("ratio feed_parse / xmlReadMemory: %.2fx the time\n", t_feed / t_dom);
	/* machine-readable, for bench_parse.sh */
	printf("FEED_ITEMS_PER_S %.0f\n", (double)items / t_feed);
	for (i = 0; i < n; i++)
		free(files[i].data);
	free(files);
	xmlCleanupParser();
	return 0;
}
