/*
 * config_internal.h - shared between config.c (the loader, [daemon],
 * [feed], [watchlist], the whole-file checks) and config_sink.c ([sink]
 * keys, credential files and the checks that depend on a sink's type).
 * Not a public API.
 */
#ifndef WIREWATCH_CONFIG_INTERNAL_H
#define WIREWATCH_CONFIG_INTERNAL_H

#include <stddef.h>

#include "wirewatch/config.h"
#include "wirewatch/ini.h"
#include "wirewatch/util.h"

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

enum section_kind { SEC_NONE, SEC_DAEMON, SEC_FEED, SEC_WATCHLIST, SEC_SINK };

/* Where a sink's keys were, for the checks that need its type. */
struct sink_extra {
	const char *url_key;     /* "url" or "url-file": which one set url */
	int url_line;
	int secret_line;         /* the first secret or secret-file */
	int *header_lines;       /* parallel to cfg_sink.headers */
	int chat_id_line;
	int schedule_line;       /* retry-schedule */
	const char *legacy_key;  /* the first of retries and retry-delay */
	int legacy_line;
};

/* Open addressing over names owned by the config; cap is a power of two. */
struct names {
	struct name_slot {
		const char *name;
		size_t index;
	} *slots;
	size_t cap;
	size_t n;
};

/* 0 with *index when name is in t, else -1. */
int config_names_get(const struct names *t, const char *name, size_t *index);
/* name must outlive the table and not be in it yet. */
void config_names_add(struct names *t, const char *name, size_t index);

struct wl_extra;

struct loader {
	struct config *cfg;
	int line;                /* line of the key or header being handled */
	char err[WW_ERRLEN];
	char *cur_section;       /* text of the last [section] header */
	enum section_kind kind;
	size_t cur;              /* index of the current feed/watchlist/sink */
	struct wl_extra *wlx;    /* parallel to cfg->watchlists */
	struct sink_extra *snx;  /* parallel to cfg->sinks */
	size_t feeds_cap, watchlists_cap, sinks_cap;
	struct names feed_names, watchlist_names, sink_names;
	int nsections;
	int daemon_line;         /* first [daemon] header; 0: none */
	int entities_line;
	const struct ini_piece *pieces;  /* the lines of the value being handled */
	size_t npieces;
};

/* config.c */

/*
 * Records the first error as "FILE:LINE: message" (FILE alone when line
 * is 0); later calls do nothing, so the first error wins.
 */
void config_fail(struct loader *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void config_unknown_key(struct loader *l, const char *name);
/* An integer in [min, max] into *out; -1 on a bad value. */
int config_parse_int(const char *v, long min, long max, long *out);
/* A duration in seconds, at least min, into *out; -1 after config_fail(). */
int config_duration(struct loader *l, const char *name, const char *v, long min,
    long *out);
/* 1 for an http(s) URL, or a file:// one when allow_file. */
int config_url_ok(const char *v, int allow_file);
/* url masked for an error message (util_url_mask); malloc'd. */
char *config_masked_url(const char *url, int whole_path);
/* *dst freed and replaced by a copy of v. */
void config_set_str(char **dst, const char *v);
/* p as written in the file at cfgpath: relative to its directory; malloc'd. */
char *config_resolve_path(const char *cfgpath, const char *p);

/* config_sink.c */

/* One key = value in the current [sink "NAME"] section, l->cur. */
void config_sink_key(struct loader *l, const char *name, const char *v);
/* What each sink's type allows and needs, and its retry schedule resolved. */
void config_check_sinks(struct loader *l);

/* config_sink.c: a credential file (url-file, secret-file,
 * redis-password-file), NULL after config_fail(); see there. */
char *config_read_credential(struct loader *l, const char *what, const char *key,
    const char *v, char **where);

#endif
