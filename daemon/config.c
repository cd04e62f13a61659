/*
 * config.c - wirewatch.conf into an immutable struct config.
 *
 * ini.c reads the text (sections, keys, values continued on indented
 * lines, each with its line); this file gives the names their meaning and
 * checks every value.  Validation is complete before the daemon starts
 * anything; the first error wins and names FILE:LINE (FILE alone only
 * when no line is to blame: unreadable, a directory, empty).  Cross
 * references (watchlist -> sink) and the rules that depend on a sink's
 * type are checked after the whole file is read, so order does not
 * matter.  Section names live in hash tables, so a file of 100,000 feeds
 * loads in linear time.
 *
 * The [sink] keys, the credential files they read and the checks that
 * depend on a sink's type are in config_sink.c; config_internal.h holds
 * the loader and the helpers the two files share.
 *
 * Credentials: chat services put their tokens in the webhook URL, so
 * every URL in a message is masked (a sink's after its host), and a
 * secret or a header value is never printed.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_internal.h"
#include "wirewatch/config.h"
#include "wirewatch/entity.h"
#include "wirewatch/ini.h"
#include "wirewatch/match.h"
#include "wirewatch/metrics.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

/* cfg_feed.backfill until check_feeds() resolves it. */
#define BACKFILL_UNSET LLONG_MIN

struct wl_extra {
	char *sinks_raw;
	int sinks_line;
	int query_line;
	struct ini_piece *pieces;    /* the query's lines */
	size_t npieces;
};

void
config_fail(struct loader *l, int line, const char *fmt, ...)
{
	char msg[WW_ERRLEN - 64];
	va_list ap;

	if (l->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(l->err, sizeof l->err, "%s:%d: %s", l->cfg->path, line, msg);
	else
		snprintf(l->err, sizeof l->err, "%s: %s", l->cfg->path, msg);
}

/* --- names --------------------------------------------------------------- */

/* The slot holding name, or the empty slot where it belongs. */
static struct name_slot *
names_slot(const struct names *t, const char *name)
{
	size_t i = util_hash64(name, strlen(name), 0) & (t->cap - 1);

	while (t->slots[i].name != NULL && strcmp(t->slots[i].name, name) != 0)
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

int
config_names_get(const struct names *t, const char *name, size_t *index)
{
	struct name_slot *s;

	if (t->cap == 0 || (s = names_slot(t, name))->name == NULL)
		return -1;
	*index = s->index;
	return 0;
}

/* name must outlive the table and not be in it yet. */
void
config_names_add(struct names *t, const char *name, size_t index)
{
	struct name_slot *old = t->slots, *s;
	size_t i, oldcap = t->cap;

	if (2 * (t->n + 1) > t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->slots = xcalloc(t->cap, sizeof *t->slots);
		for (i = 0; i < oldcap; i++)
			if (old[i].name != NULL)
				*names_slot(t, old[i].name) = old[i];
		free(old);
	}
	s = names_slot(t, name);
	s->name = name;
	s->index = index;
	t->n++;
}

struct config_names {
	struct names feeds, watchlists, sinks;
};

static long
names_index(const struct names *t, const char *name)
{
	size_t i;

	return config_names_get(t, name, &i) == 0 ? (long)i : -1;
}

long
config_feed_index(const struct config *cfg, const char *name)
{
	return cfg->names != NULL ? names_index(&cfg->names->feeds, name) : -1;
}

long
config_watchlist_index(const struct config *cfg, const char *name)
{
	return cfg->names != NULL ? names_index(&cfg->names->watchlists, name) : -1;
}

long
config_sink_index(const struct config *cfg, const char *name)
{
	return cfg->names != NULL ? names_index(&cfg->names->sinks, name) : -1;
}

const struct cfg_sink *
config_sink(const struct config *cfg, const char *name)
{
	long i = config_sink_index(cfg, name);

	return i < 0 ? NULL : &cfg->sinks[i];
}

/* --- values ------------------------------------------------------------ */

static int
parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
	    !strcasecmp(v, "on"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
	    !strcmp(v, "0") || !strcasecmp(v, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

static long long
parse_size(const char *v)
{
	long long n, mul = 1;
	char *end;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1024; break;
	case 'm': case 'M': mul = 1024 * 1024; break;
	case 'g': case 'G': mul = 1024LL * 1024 * 1024; break;
	default: return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (n > LLONG_MAX / mul)
		return -1;
	return n * mul;
}

int
config_parse_int(const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	if ((*v < '0' || *v > '9') && *v != '-')
		return -1;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* "all" -> -1, "none" -> 0, a duration -> seconds; -1 on a bad value. */
static int
parse_backfill(const char *v, long long *out)
{
	long long d;

	if (!strcasecmp(v, "all"))
		*out = -1;
	else if (!strcasecmp(v, "none"))
		*out = 0;
	else if ((d = util_parse_duration(v)) >= 0)
		*out = d;
	else
		return -1;
	return 0;
}

/* Durations in seconds, at least min. */
int
config_duration(struct loader *l, const char *name, const char *v, long min,
    long *out)
{
	long long d = util_parse_duration(v);

	if (d < min || d > LONG_MAX) {
		config_fail(l, l->line, "bad duration '%s' for '%s' (a number with "
		    "s, m, h or d%s)", v, name, min > 0 ? ", at least 1s" : "");
		return -1;
	}
	*out = (long)d;
	return 0;
}


int
config_url_ok(const char *v, int allow_file)
{
	return util_is_http_url(v) || (allow_file && strncasecmp(v, "file://", 7) == 0);
}

/*
 * A URL fit for an error message.  util_url_mask masks http(s) URLs, but
 * the URLs a config error prints are mostly the others: "ftp://user:pw@…",
 * a webhook pasted without its scheme, "redis://:pw@host".  Those are
 * masked as if they were http, their scheme kept.  The userinfo is masked
 * here first, as util_url_mask keeps what precedes '@' in a URL that
 * libcurl cannot parse.
 */
char *
config_masked_url(const char *url, int whole_path)
{
	static const char scheme_chars[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-";
	const char *rest = url, *sep = strstr(url, "://"), *end, *at;
	struct buf b = {0};
	size_t slen = 0, n;
	char *m, *out;

	if (sep != NULL && sep > url && strspn(url, scheme_chars) == (size_t)(sep - url)) {
		slen = (size_t)(sep - url) + 3;
		rest = sep + 3;
	}
	end = rest + strcspn(rest, "/?#");
	if (end == rest)	/* no host: nothing util_url_mask could parse */
		return xasprintf("%.*s%s", (int)slen, url, *end ? "/***" : "");
	at = memrchr(rest, '@', (size_t)(end - rest));
	buf_adds(&b, "http://");
	if (at != NULL) {
		buf_adds(&b, "***@");
		rest = at + 1;
	}
	buf_adds(&b, rest);
	m = util_url_mask(b.s, whole_path);
	n = strlen(m);
	if (*end == '\0' && n > 7 && m[n - 1] == '/')
		m[n - 1] = '\0';	/* the parser's, not the user's */
	if (strncmp(m, "http://", 7) == 0)
		out = xasprintf("%.*s%s", (int)slen, url, m + 7);
	else
		out = xasprintf("%.*s***", (int)slen, url);
	free(m);
	buf_free(&b);
	return out;
}

/* The store's own parser, so that -t refuses what the daemon would. */
static void
check_redis(struct loader *l, const char *v)
{
	const char *why = store_addr_parse(v, NULL, NULL, NULL);
	char *shown;

	if (why == NULL)
		return;
	shown = strchr(v, '@') || strstr(v, "://") ? config_masked_url(v, 0) : xstrdup(v);
	config_fail(l, l->line, "bad redis address '%s' (%s)", shown, why);
	free(shown);
}

void
config_set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* p as written in the file at cfgpath: relative to its directory. */
char *
config_resolve_path(const char *cfgpath, const char *p)
{
	const char *slash = strrchr(cfgpath, '/');

	if (p[0] == '/' || slash == NULL)
		return xstrdup(p);
	return xasprintf("%.*s/%s", (int)(slash - cfgpath), cfgpath, p);
}

/* --- sections ------------------------------------------------------------ */

/* `feed "name"` -> kind and name; NULL name when malformed. */
static enum section_kind
split_section(const char *sec, char **name)
{
	static const struct { const char *word; enum section_kind kind; } kinds[] = {
		{ "feed", SEC_FEED }, { "watchlist", SEC_WATCHLIST }, { "sink", SEC_SINK },
	};
	const char *q, *end;
	size_t i, wl;

	*name = NULL;
	if (strcmp(sec, "daemon") == 0)
		return SEC_DAEMON;
	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		wl = strlen(kinds[i].word);
		if (strncmp(sec, kinds[i].word, wl) != 0 ||
		    (sec[wl] != ' ' && sec[wl] != '\t' && sec[wl] != '\0'))
			continue;
		q = sec + wl;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q != '"' || (end = strrchr(q + 1, '"')) == NULL || end[1] != '\0' ||
		    end == q + 1)
			return kinds[i].kind;
		*name = xstrndup(q + 1, (size_t)(end - q - 1));
		return kinds[i].kind;
	}
	return SEC_NONE;
}

/* Arrays grow by doubling: one realloc per section made loading quadratic. */
static void *
grow(void *p, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? 2 * *cap : 16;
	return xreallocarray(p, *cap, size);
}

static void
new_section(struct loader *l, const char *sec)
{
	struct config *cfg = l->cfg;
	struct names *t;
	size_t first, cap, word, len;
	const char *rest;
	char *name;
	int first_line;

	free(l->cur_section);
	l->cur_section = xstrdup(sec);
	l->nsections++;
	l->kind = split_section(sec, &name);
	if (l->kind == SEC_NONE) {
		config_fail(l, l->line, "unknown section [%s] (expected [daemon], "
		    "[feed \"NAME\"], [watchlist \"NAME\"] or [sink \"NAME\"])", sec);
		return;
	}
	if (l->kind == SEC_DAEMON) {
		if (l->daemon_line == 0)
			l->daemon_line = l->line;
		return;
	}
	if (name == NULL) {
		/* [feed example] -> [feed "example"]; [sink] -> [sink "NAME"]. */
		word = strcspn(sec, " \t");
		rest = sec + word + strspn(sec + word, " \t\"");
		len = strlen(rest);
		while (len > 0 && rest[len - 1] == '"')
			len--;
		config_fail(l, l->line, "section [%s] needs a quoted name: [%.*s \"%.*s\"]",
		    sec, (int)word, sec, len > 0 ? (int)len : 4, len > 0 ? rest : "NAME");
		return;
	}
	t = l->kind == SEC_FEED ? &l->feed_names :
	    l->kind == SEC_WATCHLIST ? &l->watchlist_names : &l->sink_names;
	if (config_names_get(t, name, &first) == 0) {
		first_line = l->kind == SEC_FEED ? cfg->feeds[first].line :
		    l->kind == SEC_WATCHLIST ? cfg->watchlists[first].line :
		    cfg->sinks[first].line;
		config_fail(l, l->line, "duplicate section [%s] (first on line %d)", sec,
		    first_line);
		free(name);
		return;
	}
	switch (l->kind) {
	case SEC_FEED:
		cfg->feeds = grow(cfg->feeds, cfg->nfeeds, &l->feeds_cap, sizeof *cfg->feeds);
		memset(&cfg->feeds[cfg->nfeeds], 0, sizeof *cfg->feeds);
		cfg->feeds[cfg->nfeeds].name = name;
		cfg->feeds[cfg->nfeeds].line = l->line;
		cfg->feeds[cfg->nfeeds].interval = 300;
		cfg->feeds[cfg->nfeeds].backfill = BACKFILL_UNSET;
		l->cur = cfg->nfeeds++;
		break;
	case SEC_WATCHLIST:
		cap = l->watchlists_cap;
		cfg->watchlists = grow(cfg->watchlists, cfg->nwatchlists, &cap,
		    sizeof *cfg->watchlists);
		l->wlx = grow(l->wlx, cfg->nwatchlists, &l->watchlists_cap, sizeof *l->wlx);
		memset(&cfg->watchlists[cfg->nwatchlists], 0, sizeof *cfg->watchlists);
		memset(&l->wlx[cfg->nwatchlists], 0, sizeof *l->wlx);
		cfg->watchlists[cfg->nwatchlists].name = name;
		cfg->watchlists[cfg->nwatchlists].line = l->line;
		l->cur = cfg->nwatchlists++;
		break;
	default:
		cap = l->sinks_cap;
		cfg->sinks = grow(cfg->sinks, cfg->nsinks, &cap, sizeof *cfg->sinks);
		l->snx = grow(l->snx, cfg->nsinks, &l->sinks_cap, sizeof *l->snx);
		memset(&cfg->sinks[cfg->nsinks], 0, sizeof *cfg->sinks);
		memset(&l->snx[cfg->nsinks], 0, sizeof *l->snx);
		cfg->sinks[cfg->nsinks].name = name;
		cfg->sinks[cfg->nsinks].line = l->line;
		cfg->sinks[cfg->nsinks].type = SINK_WEBHOOK;
		cfg->sinks[cfg->nsinks].format = -1;
		cfg->sinks[cfg->nsinks].timeout_ms = 10000;
		cfg->sinks[cfg->nsinks].retries = 3;
		cfg->sinks[cfg->nsinks].retry_base_ms = 1000;
		cfg->sinks[cfg->nsinks].digest_after = 10;
		cfg->sinks[cfg->nsinks].story_update_interval = 1800;
		l->cur = cfg->nsinks++;
		break;
	}
	config_names_add(t, name, l->cur);
}

/* --- keys ---------------------------------------------------------------- */

void
config_unknown_key(struct loader *l, const char *name)
{
	config_fail(l, l->line, "unknown key '%s' in [%s]", name, l->cur_section);
}

/* Keys that [daemon] sets for every feed and [feed] may override. */
static int
feed_default_key(struct loader *l, const char *name, const char *v, long *max_items,
    long long *backfill)
{
	long n;

	if (!strcmp(name, "max-items")) {
		if (config_parse_int(v, 1, 10000000, &n) == -1)
			config_fail(l, l->line, "bad value '%s' for 'max-items' (1 to 10000000)", v);
		else
			*max_items = n;
	} else if (!strcmp(name, "backfill")) {
		if (parse_backfill(v, backfill) == -1)
			config_fail(l, l->line, "bad value '%s' for 'backfill' (a duration such as "
			    "24h, all or none)", v);
	} else {
		return 0;
	}
	return 1;
}

/* A consumer name in Redis: 1-64 of [A-Za-z0-9._-]. */
static int
instance_ok(const char *v)
{
	size_t n = strlen(v);

	return n >= 1 && n <= 64 && strspn(v, ALNUM "._-") == n;
}

/*
 * control: an absolute path that fits a unix socket address, or "" (no
 * socket).  control-group, control-read-group: a group that exists, or a
 * gid; the control server looks it up again when it starts.
 */
static void
control_key(struct loader *l, const char *name, const char *v, char **dst)
{
	struct sockaddr_un sun;

	if (!strcmp(name, "control")) {
		if (v[0] != '\0' && v[0] != '/')
			config_fail(l, l->line, "bad value '%s' for 'control' (an absolute path, "
			    "or nothing for no control socket)", v);
		else if (strlen(v) >= sizeof sun.sun_path)
			config_fail(l, l->line, "'control' path is too long for a unix socket "
			    "(at most %zu bytes)", sizeof sun.sun_path - 1);
	} else if (v[0] == '\0' || (strspn(v, "0123456789") != strlen(v) &&
	    getgrnam(v) == NULL)) {
		config_fail(l, l->line, "bad value '%s' for '%s' (no such group)", v, name);
	}
	config_set_str(dst, v);
}

/* metrics: host:port as metrics.c would listen on it, or "" (off). */
static void
metrics_key(struct loader *l, const char *v)
{
	const char *why;

	if (v[0] != '\0' && (why = metrics_addr_parse(v, NULL, NULL)) != NULL)
		config_fail(l, l->line, "bad value '%s' for 'metrics' (%s; nothing "
		    "for no metrics endpoint)", v, why);
	config_set_str(&l->cfg->metrics, v);
}

/*
 * redis-user, redis-password, redis-password-file, redis-db.  The
 * password file is read like a sink's secret-file (config_read_credential:
 * a relative path in $CREDENTIALS_DIRECTORY when set, else next to the
 * config; a regular file, not readable by others); its first line is the
 * password.
 */
static void
redis_key(struct loader *l, const char *name, const char *v)
{
	struct config *cfg = l->cfg;
	char *path = NULL, *text, *nl;
	long n;

	if (!strcmp(name, "redis-user")) {
		if (strcspn(v, " \t\r\n") != strlen(v))
			config_fail(l, l->line, "bad value for 'redis-user' (no spaces)");
		config_set_str(&cfg->redis_user, v);
	} else if (!strcmp(name, "redis-password")) {
		config_set_str(&cfg->redis_password, v);
	} else if (!strcmp(name, "redis-password-file")) {
		if ((text = config_read_credential(l, "", name, v, &path)) != NULL) {
			if ((nl = strpbrk(text, "\r\n")) != NULL)
				*nl = '\0';
			if (text[0] == '\0')
				config_fail(l, l->line, "redis-password-file %s: the first "
				    "line is empty", path);
			config_set_str(&cfg->redis_password, text);
			explicit_bzero(text, strlen(text));
			free(text);
		}
		free(path);
	} else if (!strcmp(name, "redis-db")) {
		if (config_parse_int(v, 0, 100000, &n) == -1)
			config_fail(l, l->line, "bad value '%s' for 'redis-db' (a database "
			    "number, 0 to 100000; Redis has 16 unless configured)", v);
		else
			cfg->redis_db = n;
	} else {
		config_unknown_key(l, name);
	}
}

static void
daemon_key(struct loader *l, const char *name, const char *v)
{
	struct config *cfg = l->cfg;
	long n;

	if (!strcmp(name, "redis")) {
		check_redis(l, v);
		config_set_str(&cfg->redis, v);
	} else if (!strcmp(name, "prefix")) {
		config_set_str(&cfg->prefix, v);
	} else if (!strcmp(name, "instance")) {
		if (!instance_ok(v))
			config_fail(l, l->line, "bad value '%s' for 'instance' (1 to 64 letters, "
			    "digits, '.', '_' or '-')", v);
		config_set_str(&cfg->instance, v);
	} else if (!strcmp(name, "lease")) {
		if (!strcmp(v, "off"))
			cfg->lease = 0;
		else
			config_duration(l, name, v, 0, &cfg->lease);
	} else if (!strcmp(name, "seen-ttl")) {
		if (config_duration(l, name, v, 1, &n) == 0)
			cfg->seen_ttl = n;
	} else if (!strcmp(name, "keep-items")) {
		if (config_duration(l, name, v, 0, &n) == 0)
			cfg->keep_items = n;
	} else if (!strcmp(name, "story-window")) {
		if (config_duration(l, name, v, 60, &n) == 0) {
			if (n > 30 * 86400)
				config_fail(l, l->line, "bad value '%s' for 'story-window' "
				    "(1m to 30d)", v);
			else
				cfg->story_window = n;
		}
	} else if (!strcmp(name, "entities")) {
		config_set_str(&cfg->entities, v);
		l->entities_line = l->line;
	} else if (!strcmp(name, "local-entities")) {
		config_set_str(&cfg->local_entities, v);
	} else if (!strcmp(name, "user-agent")) {
		config_set_str(&cfg->user_agent, v);
	} else if (!strcmp(name, "max-body")) {
		if ((cfg->max_body = parse_size(v)) <= 0)
			config_fail(l, l->line, "bad size '%s' for 'max-body' (bytes, "
			    "or with k, M, G)", v);
	} else if (!strcmp(name, "connect-timeout")) {
		config_duration(l, name, v, 1, &cfg->connect_timeout);
	} else if (!strcmp(name, "fetch-timeout")) {
		config_duration(l, name, v, 1, &cfg->fetch_timeout);
	} else if (!strcmp(name, "startup-spread")) {
		config_duration(l, name, v, 0, &cfg->startup_spread);
	} else if (!strcmp(name, "max-redirects")) {
		if (config_parse_int(v, 0, 50, &n) == -1)
			config_fail(l, l->line, "bad value '%s' for 'max-redirects' (0 to 50)", v);
		else
			cfg->max_redirects = (int)n;
	} else if (!strcmp(name, "per-host-connections")) {
		if (config_parse_int(v, 1, 1000, &n) == -1)
			config_fail(l, l->line, "bad value '%s' for "
			    "'per-host-connections' (1 to 1000)", v);
		else
			cfg->per_host = (int)n;
	} else if (!strcmp(name, "control")) {
		control_key(l, name, v, &cfg->control);
	} else if (!strcmp(name, "control-group")) {
		control_key(l, name, v, &cfg->control_group);
	} else if (!strcmp(name, "control-read-group")) {
		control_key(l, name, v, &cfg->control_read_group);
	} else if (!strcmp(name, "metrics")) {
		metrics_key(l, v);
	} else if (!strncmp(name, "redis-", 6)) {
		redis_key(l, name, v);
	} else if (!strcmp(name, "max-connections")) {
		if (config_parse_int(v, 1, 100000, &n) == -1)
			config_fail(l, l->line, "bad value '%s' for 'max-connections' (1 to 100000)",
			    v);
		else
			cfg->max_concurrent = (int)n;
	} else if (!feed_default_key(l, name, v, &cfg->max_items, &cfg->backfill)) {
		config_unknown_key(l, name);
	}
}

static void
feed_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_feed *f = &l->cfg->feeds[l->cur];
	char *shown;

	if (!strcmp(name, "url")) {
		if (!config_url_ok(v, 1)) {
			shown = config_masked_url(v, 0);
			config_fail(l, l->line, "feed \"%s\": url '%s' must be http://, "
			    "https:// or file://", f->name, shown);
			free(shown);
		}
		config_set_str(&f->url, v);
	} else if (!strcmp(name, "interval")) {
		config_duration(l, name, v, 1, &f->interval);
	} else if (!strcmp(name, "min-interval")) {
		config_duration(l, name, v, 1, &f->min_interval);
	} else if (!strcmp(name, "max-interval")) {
		config_duration(l, name, v, 1, &f->max_interval);
	} else if (!strcmp(name, "adaptive")) {
		if (parse_bool(v, &f->adaptive) == -1)
			config_fail(l, l->line, "bad value '%s' for 'adaptive' (yes or no)", v);
	} else if (!feed_default_key(l, name, v, &f->max_items, &f->backfill)) {
		config_unknown_key(l, name);
	}
}

static void
watchlist_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_watchlist *w = &l->cfg->watchlists[l->cur];
	struct wl_extra *x = &l->wlx[l->cur];

	if (!strcmp(name, "query")) {
		config_set_str(&w->query, v);
		x->query_line = l->line;
		free(x->pieces);
		x->pieces = xreallocarray(NULL, l->npieces, sizeof *x->pieces);
		memcpy(x->pieces, l->pieces, l->npieces * sizeof *x->pieces);
		x->npieces = l->npieces;
	} else if (!strcmp(name, "sinks")) {
		config_set_str(&x->sinks_raw, v);
		x->sinks_line = l->line;
	} else if (!strcmp(name, "backfill")) {
		long d;

		if (config_duration(l, name, v, 0, &d) == 0)
			w->backfill = d;
	} else if (!strcmp(name, "group")) {
		if (!strcmp(v, "story"))
			w->group_items = 0;
		else if (!strcmp(v, "item"))
			w->group_items = 1;
		else
			config_fail(l, l->line, "watchlist \"%s\": bad value '%s' for 'group' "
			    "(story or item)", w->name, v);
	} else {
		config_unknown_key(l, name);
	}
}


/* One complete key = value; l->line is the key's line. */
static void
handle_key(struct loader *l, const char *name, const char *value)
{
	if (l->cur_section == NULL) {
		config_fail(l, l->line, "'%s' outside any section", name);
		return;
	}
	/* [daemon] control, metrics, local-entities: an empty value means off. */
	if (*value == '\0' && !(l->kind == SEC_DAEMON && (!strcmp(name, "control") ||
	    !strcmp(name, "metrics") || !strcmp(name, "local-entities")))) {
		config_fail(l, l->line, "missing value for '%s'", name);
		return;
	}
	switch (l->kind) {
	case SEC_DAEMON: daemon_key(l, name, value); break;
	case SEC_FEED: feed_key(l, name, value); break;
	case SEC_WATCHLIST: watchlist_key(l, name, value); break;
	case SEC_SINK: config_sink_key(l, name, value); break;
	default: break;
	}
}

static int
config_section_cb(void *arg, int line, const char *name)
{
	struct loader *l = arg;

	l->line = line;
	new_section(l, name);
	return l->err[0] != '\0' ? -1 : 0;
}

static int
config_key_cb(void *arg, int line, const char *key, const char *value,
    const struct ini_piece *pieces, size_t npieces)
{
	struct loader *l = arg;

	l->line = line;
	l->pieces = pieces;
	l->npieces = npieces;
	handle_key(l, key, value);
	l->pieces = NULL;
	l->npieces = 0;
	return l->err[0] != '\0' ? -1 : 0;
}

/* Only text spans lines: a URL or a number split over lines is a mistake. */
static int
config_may_span_cb(void *arg, const char *key)
{
	struct loader *l = arg;

	return l->kind == SEC_WATCHLIST &&
	    (strcmp(key, "query") == 0 || strcmp(key, "sinks") == 0);
}

/* --- whole-file checks ------------------------------------------------- */

/* Unless [daemon] names the instance, the host name does. */
static void
default_instance(struct loader *l)
{
	char host[256];

	if (l->cfg->instance != NULL)
		return;
	if (gethostname(host, sizeof host) == -1) {
		config_fail(l, l->daemon_line, "[daemon] has no 'instance', and the host name "
		    "cannot be read (%s): set 'instance'", strerror(errno));
		return;
	}
	host[sizeof host - 1] = '\0';
	if (!instance_ok(host))
		config_fail(l, l->daemon_line, "[daemon] has no 'instance', and the "
		    "host name '%s' cannot be one (1 to 64 letters, digits, '.', "
		    "'_' or '-'): set 'instance'", host);
	else
		l->cfg->instance = xstrdup(host);
}

static void
check_daemon(struct loader *l)
{
	if (l->cfg->redis != NULL) {
		default_instance(l);
		return;
	}
	if (l->daemon_line > 0)
		config_fail(l, l->daemon_line, "[daemon] has no 'redis' "
		    "(unix:/path or host:port)");
	else if (l->nsections == 0)
		config_fail(l, 0, "empty configuration: no [daemon] section with 'redis'");
	else
		config_fail(l, 0, "no [daemon] section: it must set 'redis' "
		    "(unix:/path or host:port)");
}

static void
check_feeds(struct loader *l)
{
	struct cfg_feed *f;
	size_t i;

	for (i = 0; i < l->cfg->nfeeds && l->err[0] == '\0'; i++) {
		f = &l->cfg->feeds[i];
		if (f->url == NULL)
			config_fail(l, f->line, "feed \"%s\": missing 'url'", f->name);
		if (f->min_interval == 0)
			f->min_interval = f->interval / 4 > 30 ? f->interval / 4 :
			    f->interval < 30 ? f->interval : 30;
		if (f->max_interval == 0)
			f->max_interval = f->interval * 4;
		if (f->min_interval > f->max_interval)
			config_fail(l, f->line, "feed \"%s\": min-interval is above max-interval",
			    f->name);
		if (f->max_items == 0)
			f->max_items = l->cfg->max_items;
		if (f->backfill == BACKFILL_UNSET)
			f->backfill = l->cfg->backfill;
	}
}


static void
resolve_sinks(struct loader *l, size_t wi)
{
	struct cfg_watchlist *w = &l->cfg->watchlists[wi];
	char *list = xstrdup(l->wlx[wi].sinks_raw), *tok, *save = NULL;
	size_t j;

	for (tok = strtok_r(list, ", \t", &save); tok != NULL && l->err[0] == '\0';
	    tok = strtok_r(NULL, ", \t", &save)) {
		if (config_names_get(&l->sink_names, tok, &j) == -1) {
			config_fail(l, l->wlx[wi].sinks_line, "watchlist \"%s\": unknown sink '%s'",
			    w->name, tok);
			break;
		}
		w->sinks = xreallocarray(w->sinks, w->nsinks + 1, sizeof *w->sinks);
		w->sinks[w->nsinks++] = j;
	}
	free(list);
}

/* Column col (1-based, in characters) of a query -> its line and column there. */
static void
query_place(const struct wl_extra *x, const char *q, long col, int *line, size_t *lcol)
{
	size_t off, i, p = 0;

	for (off = 0; q[off] != '\0'; off++)
		if (((unsigned char)q[off] & 0xc0) != 0x80 && --col <= 0)
			break;
	for (i = 0; i < x->npieces; i++)
		if (x->pieces[i].off <= off)
			p = i;
	*line = x->pieces[p].line;
	*lcol = ini_columns(q + x->pieces[p].off, off - x->pieces[p].off) + 1;
}

/*
 * matcher_add's message counts columns in the whole query; a query that
 * spans lines is blamed on the line of the first column named, and every
 * column is counted from the start of its line's text.
 */
static void
query_error(struct loader *l, size_t wi, const char *msg)
{
	const struct wl_extra *x = &l->wlx[wi];
	const char *q = l->cfg->watchlists[wi].query, *p, *hit;
	int line, first_line = 0;
	struct buf b = {0};
	size_t lcol;
	char *end;
	long col;

	for (p = msg; (hit = strstr(p, "column ")) != NULL; p = end) {
		col = strtol(hit + 7, &end, 10);
		buf_add(&b, p, (size_t)(hit - p));
		if (end == hit + 7 || x->npieces == 0) {
			buf_adds(&b, "column ");
			end = (char *)hit + 7;
			continue;
		}
		query_place(x, q, col, &line, &lcol);
		if (first_line == 0)
			first_line = line;
		if (line == first_line)
			buf_addf(&b, "column %zu", lcol);
		else
			buf_addf(&b, "line %d column %zu", line, lcol);
	}
	buf_adds(&b, p);
	config_fail(l, first_line ? first_line : x->query_line, "watchlist \"%s\": query: %s",
	    l->cfg->watchlists[wi].name, b.s);
	buf_free(&b);
}

static void
compile_watchlists(struct loader *l)
{
	struct config *cfg = l->cfg;
	struct cfg_watchlist *w;
	char err[WW_ERRLEN], *dir;
	const char *why;
	struct stat st;
	size_t i;
	int idx;

	dir = config_resolve_path(cfg->path, cfg->entities ? cfg->entities : WW_ENTITIES_DIR);
	free(cfg->entities);
	cfg->entities = dir;
	errno = 0;
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		why = errno ? strerror(errno) : "not a directory";
		if (l->entities_line > 0)
			config_fail(l, l->entities_line, "entities directory %s: %s", dir, why);
		else
			config_fail(l, l->daemon_line, "entities directory %s (the default): %s; "
			    "set 'entities' in [daemon]", dir, why);
		return;
	}
	if ((cfg->ents = entity_set_load(dir, err, sizeof err)) == NULL) {
		snprintf(l->err, sizeof l->err, "%s", err);
		return;
	}
	dir = cfg->local_entities ? cfg->local_entities : WW_LOCAL_ENTITIES_DIR;
	dir = dir[0] != '\0' ? config_resolve_path(cfg->path, dir) : xstrdup("");
	free(cfg->local_entities);
	cfg->local_entities = dir;
	if (dir[0] != '\0' && entity_set_load_local(cfg->ents, dir, err, sizeof err) == -1) {
		snprintf(l->err, sizeof l->err, "%s", err);
		return;
	}
	cfg->matcher = matcher_new(cfg->ents);
	for (i = 0; i < cfg->nwatchlists && l->err[0] == '\0'; i++) {
		w = &cfg->watchlists[i];
		if (w->query == NULL) {
			config_fail(l, w->line, "watchlist \"%s\": missing 'query'", w->name);
			break;
		}
		if (l->wlx[i].sinks_raw == NULL) {
			config_fail(l, w->line, "watchlist \"%s\": missing 'sinks'", w->name);
			break;
		}
		resolve_sinks(l, i);
		idx = matcher_add(cfg->matcher, w->name, w->query, err, sizeof err);
		if (idx < 0)
			query_error(l, i, err);
		w->index = idx;
	}
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	static const struct ini_handler handler = { config_section_cb, config_key_cb,
	    config_may_span_cb, "only 'query' and 'sinks'" };
	struct config *cfg = xcalloc(1, sizeof *cfg);
	struct loader l;
	size_t i, len;
	char *text;

	memset(&l, 0, sizeof l);
	l.cfg = cfg;
	cfg->refs = 1;
	cfg->path = xstrdup(path);
	cfg->prefix = xstrdup("ww:");
	cfg->seen_ttl = 30 * 86400;
	cfg->lease = 30;
	cfg->keep_items = 2 * 86400;
	cfg->user_agent = xstrdup("wirewatch/" WW_VERSION " (+https://wirewatch.invalid/)");
	cfg->max_body = 8 * 1024 * 1024;
	cfg->connect_timeout = 10;
	cfg->fetch_timeout = 30;
	cfg->max_redirects = 5;
	cfg->per_host = 2;
	cfg->max_concurrent = 64;
	cfg->startup_spread = -1;
	cfg->max_items = 10000;
	cfg->backfill = 24 * 3600;
	cfg->story_window = 48 * 3600;
	if ((text = ini_read_file(path, &len, l.err, sizeof l.err)) != NULL) {
		ini_parse(path, text, len, &handler, &l, l.err, sizeof l.err);
		free(text);
	}
	if (l.err[0] == '\0')
		check_daemon(&l);
	if (l.err[0] == '\0')
		check_feeds(&l);
	if (l.err[0] == '\0')
		config_check_sinks(&l);
	if (l.err[0] == '\0')
		compile_watchlists(&l);
	for (i = 0; i < cfg->nwatchlists; i++) {
		free(l.wlx[i].sinks_raw);
		free(l.wlx[i].pieces);
	}
	for (i = 0; i < cfg->nsinks; i++)
		free(l.snx[i].header_lines);
	free(l.wlx);
	free(l.snx);
	free(l.cur_section);
	/* The tables stay with the config: their names are its own strings. */
	cfg->names = xcalloc(1, sizeof *cfg->names);
	cfg->names->feeds = l.feed_names;
	cfg->names->watchlists = l.watchlist_names;
	cfg->names->sinks = l.sink_names;
	if (l.err[0] != '\0') {
		snprintf(err, errlen, "%s", l.err);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
config_ref(struct config *cfg)
{
	cfg->refs++;
	return cfg;
}

void
config_free(struct config *cfg)
{
	struct cfg_sink *s;
	size_t i, j;

	if (cfg == NULL || --cfg->refs > 0)
		return;
	if (cfg->names != NULL) {
		free(cfg->names->feeds.slots);
		free(cfg->names->watchlists.slots);
		free(cfg->names->sinks.slots);
		free(cfg->names);
	}
	for (i = 0; i < cfg->nfeeds; i++) {
		free(cfg->feeds[i].name);
		free(cfg->feeds[i].url);
	}
	for (i = 0; i < cfg->nwatchlists; i++) {
		free(cfg->watchlists[i].name);
		free(cfg->watchlists[i].query);
		free(cfg->watchlists[i].sinks);
	}
	for (i = 0; i < cfg->nsinks; i++) {
		s = &cfg->sinks[i];
		free(s->name);
		free(s->url);
		for (j = 0; j < s->nsecrets; j++)
			free(s->secrets[j]);
		free(s->secrets);
		for (j = 0; j < s->nheaders; j++)
			free(s->headers[j]);
		free(s->headers);
		free(s->chat_id);
		free(s->schedule_ms);
	}
	free(cfg->feeds);
	free(cfg->watchlists);
	free(cfg->sinks);
	matcher_free(cfg->matcher);
	entity_set_free(cfg->ents);
	free(cfg->path);
	free(cfg->redis);
	free(cfg->prefix);
	free(cfg->instance);
	free(cfg->control);
	free(cfg->control_group);
	free(cfg->control_read_group);
	free(cfg->metrics);
	free(cfg->local_entities);
	free(cfg->redis_user);
	if (cfg->redis_password != NULL)
		explicit_bzero(cfg->redis_password, strlen(cfg->redis_password));
	free(cfg->redis_password);
	free(cfg->entities);
	free(cfg->user_agent);
	free(cfg);
}
