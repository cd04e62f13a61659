/*
 * entity.c - loading the gazetteer; the format is in entity.h.
 *
 * Files are read in name order so that the set, and every error, is the
 * same on every machine.  A later file may not redefine an entity: two
 * definitions of "DPRK" are a mistake worth stopping for.  The one
 * exception is the local directory (entities.d), read after the shipped
 * set: an entity named there again extends the shipped one, or replaces
 * its aliases and excludes with "replace = yes", so that local edits live
 * apart from the files an upgrade replaces.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "wirewatch/entity.h"
#include "wirewatch/match.h"
#include "wirewatch/text.h"
#include "wirewatch/util.h"

/* A name usable as @NAME: no spaces, parentheses or quotes (ASCII or not). */
static int
valid_name(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == '(' || *p == ')' || *p == '"' || *p == '\'' ||
		    *p == 0x7f)
			return 0;
	/* curly quotes and no-break/other spaces */
	return strstr(s, "\xe2\x80\x9c") == NULL && strstr(s, "\xe2\x80\x9d") == NULL &&
	    strstr(s, "\xc2\xa0") == NULL && strstr(s, "\xe2\x80\x83") == NULL &&
	    strstr(s, "\xe3\x80\x80") == NULL;
}

/* Does the text hold a word at all?  "---" can never be found. */
static int
has_word(const char *s)
{
	struct text_tokens t = {0};
	int r;

	text_tokenize(s, strlen(s), &t);
	r = t.n > 0;
	text_tokens_free(&t);
	return r;
}

static char *
strip(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

const struct entity *
entity_find(const struct entity_set *set, const char *name)
{
	size_t i;

	for (i = 0; set != NULL && i < set->n; i++)
		if (strcasecmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

/* Drops the first n aliases and m excludes of e (replace = yes). */
static void
drop_shipped(struct entity *e, size_t n, size_t m)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(e->aliases[i].text);
	if (n > 0)
		memmove(e->aliases, e->aliases + n, (e->naliases - n) * sizeof *e->aliases);
	e->naliases -= n;
	for (i = 0; i < m; i++)
		free(e->excludes[i]);
	if (m > 0)
		memmove(e->excludes, e->excludes + m, (e->nexcludes - m) * sizeof *e->excludes);
	e->nexcludes -= m;
}

/*
 * Entities at indexes below shipped come from the shipped directory: a
 * local file (entities.d) may name one again, which extends it (its
 * aliases and excludes are added), or with "replace = yes" replaces them.
 */
static int
load_file(struct entity_set *set, const char *path, size_t shipped, char *err,
    size_t errlen)
{
	struct entity *cur = NULL;
	char *line = NULL, *s, *eq, *key, *val, *semi;
	size_t cap = 0, base_alias = 0, base_excl = 0;
	int lineno = 0, rc = -1;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		s = strip(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *q1 = strchr(s, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
			const struct entity *prev;
			if (cur != NULL && cur->naliases == 0) {
				snprintf(err, errlen, "%s:%d: entity \"%s\" has no alias", path,
				    cur->line, cur->name);
				goto out;
			}
			if (strncmp(s, "[entity", 7) != 0 || q1 == NULL || q2 == NULL ||
			    q2 == q1 + 1 || strcmp(strip(q2 + 1), "]") != 0) {
				snprintf(err, errlen, "%s:%d: expected [entity \"NAME\"]", path, lineno);
				goto out;
			}
			*q2 = '\0';
			if (!valid_name(q1 + 1)) {
				snprintf(err, errlen, "%s:%d: entity name \"%s\" cannot be written as "
				    "@NAME (no spaces, parentheses or quotes)", path, lineno, q1 + 1);
				goto out;
			}
			if ((prev = entity_find(set, q1 + 1)) != NULL &&
			    (size_t)(prev - set->v) < shipped && !prev->extended) {
				/* A local file takes a shipped entity over. */
				cur = &set->v[prev - set->v];
				cur->extended = 1;
				free(cur->file);
				cur->file = xstrdup(path);
				cur->line = lineno;
				base_alias = cur->naliases;
				base_excl = cur->nexcludes;
				continue;
			}
			if (prev != NULL) {
				snprintf(err, errlen, "%s:%d: entity \"%s\" is defined twice (first at "
				    "%s:%d)", path, lineno, q1 + 1, prev->file, prev->line);
				goto out;
			}
			base_alias = base_excl = 0;
			set->v = xreallocarray(set->v, set->n + 1, sizeof *set->v);
			cur = &set->v[set->n++];
			memset(cur, 0, sizeof *cur);
			cur->name = xstrdup(q1 + 1);
			cur->file = xstrdup(path);
			cur->line = lineno;
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = strip(s);
		val = eq + 1;
		/* inline comment: " ; ..." */
		if ((semi = strstr(val, " ;")) != NULL)
			*semi = '\0';
		val = strip(val);
		if (cur == NULL) {
			snprintf(err, errlen, "%s:%d: '%s' outside an [entity] section", path,
			    lineno, key);
			goto out;
		}
		if (*val == '\0') {
			snprintf(err, errlen, "%s:%d: missing value for '%s'", path, lineno, key);
			goto out;
		}
		if (!has_word(val) && (!strcmp(key, "alias") || !strcmp(key, "case-alias") ||
		    !strcmp(key, "exclude"))) {
			snprintf(err, errlen, "%s:%d: '%s' has no letter or digit to match", path,
			    lineno, val);
			goto out;
		}
		if (!strcmp(key, "alias") || !strcmp(key, "case-alias")) {
			cur->aliases = xreallocarray(cur->aliases, cur->naliases + 1,
			    sizeof *cur->aliases);
			cur->aliases[cur->naliases].text = xstrdup(val);
			cur->aliases[cur->naliases++].case_sensitive = key[0] == 'c';
		} else if (!strcmp(key, "exclude")) {
			cur->excludes = xreallocarray(cur->excludes, cur->nexcludes + 1,
			    sizeof *cur->excludes);
			cur->excludes[cur->nexcludes++] = xstrdup(val);
		} else if (!strcmp(key, "replace") && cur->extended &&
		    (!strcmp(val, "yes") || !strcmp(val, "no"))) {
			if (val[0] == 'y')
				drop_shipped(cur, base_alias, base_excl);
			base_alias = base_excl = 0;
		} else if (!strcmp(key, "replace")) {
			snprintf(err, errlen, "%s:%d: 'replace' is for an entity of the shipped "
			    "set named again in a local directory (replace = yes or no)",
			    path, lineno);
			goto out;
		} else {
			snprintf(err, errlen, "%s:%d: unknown key '%s' (alias, case-alias or exclude)",
			    path, lineno, key);
			goto out;
		}
	}
	if (cur != NULL && cur->naliases == 0) {
		snprintf(err, errlen, "%s:%d: entity \"%s\" has no alias", path, cur->line,
		    cur->name);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.conf of dir, in name order; -1 with err set. */
static int
load_dir(struct entity_set *set, const char *dir, size_t shipped, char *err,
    size_t errlen)
{
	char **names = NULL, *path;
	size_t n = 0, i, len;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "entities directory %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 5 && !strcmp(de->d_name + len - 5, ".conf") && de->d_name[0] != '.') {
			names = xreallocarray(names, n + 1, sizeof *names);
			names[n++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, by_name);
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, names[i]);
		if (rc == 0)
			rc = load_file(set, path, shipped, err, errlen);
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

struct entity_set *
entity_set_load(const char *dir, char *err, size_t errlen)
{
	struct entity_set *set = xcalloc(1, sizeof *set);

	if (load_dir(set, dir, 0, err, errlen) != 0) {
		entity_set_free(set);
		return NULL;
	}
	return set;
}

int
entity_set_load_local(struct entity_set *set, const char *dir, char *err,
    size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) == -1 && errno == ENOENT)
		return 0;
	return load_dir(set, dir, set->n, err, errlen);
}

void
entity_set_free(struct entity_set *set)
{
	size_t i, j;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++) {
		for (j = 0; j < set->v[i].naliases; j++)
			free(set->v[i].aliases[j].text);
		for (j = 0; j < set->v[i].nexcludes; j++)
			free(set->v[i].excludes[j]);
		free(set->v[i].aliases);
		free(set->v[i].excludes);
		free(set->v[i].name);
		free(set->v[i].file);
	}
	free(set->v);
	free(set);
}
