/*
 * entity.h - the gazetteer: entities with aliases (the .conf files of conf/entities).
 *
 * File format (one or more entities per file, '#' or ';' comment lines):
 *
 *   [entity "DPRK"]
 *   alias = North Korea          ; matched like a quoted phrase
 *   alias = 북한
 *   case-alias = KCNA            ; matched case-sensitively
 *   exclude = South Korea        ; an alias hit inside this does not count
 *   replace = yes                ; entities.d only: see entity_set_load_local
 */
#ifndef WIREWATCH_ENTITY_H
#define WIREWATCH_ENTITY_H

#include <stddef.h>

struct entity_alias {
	char *text;
	int case_sensitive;
};

struct entity {
	char *name;
	char *file;
	int line;
	struct entity_alias *aliases;
	size_t naliases;
	char **excludes;
	size_t nexcludes;
	int extended;    /* a local file (entities.d) extended or replaced it */
};

struct entity_set {
	struct entity *v;
	size_t n;
};

/*
 * Reads the local entities directory (entities.d) into set, loaded with
 * entity_set_load() from the shipped one: new entities are added, one
 * named again extends the shipped entity (its aliases and excludes are
 * added) or, with "replace = yes" in its section, replaces what the
 * shipped file gave it.  A directory that does not exist is no error.
 * -1 with "FILE:LINE: message" in err.
 */
int entity_set_load_local(struct entity_set *set, const char *dir, char *err,
    size_t errlen);

/* Case-insensitive lookup by name; NULL when unknown. */
const struct entity *entity_find(const struct entity_set *set, const char *name);

#endif
