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
};

struct entity_set {
	struct entity *v;
	size_t n;
};

/* Case-insensitive lookup by name; NULL when unknown. */
const struct entity *entity_find(const struct entity_set *set, const char *name);

#endif
