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
 * Credentials: chat services put their tokens in the webhook URL, so
 * every URL in a message is masked (a sink's after its host), and a
 * secret or a header value is never printed.  url-file and secret-file
 * read them from files of their own, looked up in $CREDENTIALS_DIRECTORY
 * (systemd's LoadCredential=) when that is set; such a file must not be
 * readable or writable by every user, or keeping the credential out of
 * wirewatch.conf would protect nothing.
 */
#include <errno.h>
#include <fcntl.h>
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

#include <curl/curl.h>

#include "wirewatch/config.h"
#include "wirewatch/ini.h"
#include "wirewatch/match.h"
#include "wirewatch/sign.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

/* cfg_feed.backfill until check_feeds() resolves it. */
#define BACKFILL_UNSET LLONG_MIN

/* A credential file is a line or two; more is the wrong file. */
#define CRED_MAX (64 * 1024)
/* The current secret and, during a rotation, the next (sign.h). */
#define SECRETS_MAX 2
/* A first attempt and 100 retries: what 'retries' has always allowed. */
#define SCHEDULE_MAX 101
#define SCHEDULE_STEP_MAX (7 * 86400 * 1000L)

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

enum section_kind { SEC_NONE, SEC_DAEMON, SEC_FEED, SEC_WATCHLIST, SEC_SINK };

struct wl_extra {
	char *sinks_raw;
	int sinks_line;
	int query_line;
	struct ini_piece *pieces;    /* the query's lines */
	size_t npieces;
};

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

static void
fail(struct loader *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct loader *l, int line, const char *fmt, ...)
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

static int
names_get(const struct names *t, const char *name, size_t *index)
{
	struct name_slot *s;

	if (t->cap == 0 || (s = names_slot(t, name))->name == NULL)
		return -1;
	*index = s->index;
	return 0;
}

/* name must outlive the table and not be in it yet. */
static void
names_add(struct names *t, const char *name, size_t index)
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

static int
parse_int(const char *v, long min, long max, long *out)
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
static int
duration(struct loader *l, const char *name, const char *v, long min, long *out)
{
	long long d = util_parse_duration(v);

	if (d < min || d > LONG_MAX) {
		fail(l, l->line, "bad duration '%s' for '%s' (a number with s, m, h or d%s)",
		    v, name, min > 0 ? ", at least 1s" : "");
		return -1;
	}
	*out = (long)d;
	return 0;
}

/* "0", "250ms", "5s", "5m", "2h", "1d" -> milliseconds; -1 on a bad value. */
static long long
duration_ms(const char *v)
{
	size_t n = strlen(v);
	long long d;
	char *end;

	if (n > 2 && strcmp(v + n - 2, "ms") == 0) {
		if (*v < '0' || *v > '9')
			return -1;
		errno = 0;
		d = strtoll(v, &end, 10);
		return errno == 0 && end == v + n - 2 ? d : -1;
	}
	d = util_parse_duration(v);
	return d < 0 ? -1 : d * 1000;
}

static int
url_ok(const char *v, int allow_file)
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
static char *
masked_url(const char *url, int whole_path)
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

/*
 * The rules of store.c's parse_addr, so that -t refuses what the daemon
 * would: "unix:/path", or "host:port" with a port of 1 to 65535.
 */
static void
check_redis(struct loader *l, const char *v)
{
	const char *colon = strrchr(v, ':'), *why;
	char *shown;
	long port;

	if (strncmp(v, "unix:", 5) == 0)
		why = v[5] == '/' ? NULL : "unix: needs an absolute path";
	else if (strstr(v, "://") != NULL)
		why = "not a URL: unix:/path or host:port";
	else if (colon == NULL || colon == v)
		why = "unix:/path or host:port";
	else if (parse_int(colon + 1, 1, 65535, &port) == -1)
		why = "the port must be 1 to 65535";
	else if (strcspn(v, " \t/") < (size_t)(colon - v))
		why = "unix:/path or host:port";
	else
		why = NULL;
	if (why == NULL)
		return;
	shown = strchr(v, '@') || strstr(v, "://") ? masked_url(v, 0) : xstrdup(v);
	fail(l, l->line, "bad redis address '%s' (%s)", shown, why);
	free(shown);
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* p as written in the file at cfgpath: relative to its directory. */
static char *
resolve_path(const char *cfgpath, const char *p)
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
	size_t first, cap;
	char *name;
	int first_line;

	free(l->cur_section);
	l->cur_section = xstrdup(sec);
	l->nsections++;
	l->kind = split_section(sec, &name);
	if (l->kind == SEC_NONE) {
		fail(l, l->line, "unknown section [%s] (expected [daemon], [feed \"NAME\"], "
		    "[watchlist \"NAME\"] or [sink \"NAME\"])", sec);
		return;
	}
	if (l->kind == SEC_DAEMON) {
		if (l->daemon_line == 0)
			l->daemon_line = l->line;
		return;
	}
	if (name == NULL) {
		fail(l, l->line, "section [%s] needs a quoted name, like [%s \"name\"]",
		    sec, sec);
		return;
	}
	t = l->kind == SEC_FEED ? &l->feed_names :
	    l->kind == SEC_WATCHLIST ? &l->watchlist_names : &l->sink_names;
	if (names_get(t, name, &first) == 0) {
		first_line = l->kind == SEC_FEED ? cfg->feeds[first].line :
		    l->kind == SEC_WATCHLIST ? cfg->watchlists[first].line :
		    cfg->sinks[first].line;
		fail(l, l->line, "duplicate section [%s] (first on line %d)", sec, first_line);
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
		l->cur = cfg->nsinks++;
		break;
	}
	names_add(t, name, l->cur);
}

/* --- keys ---------------------------------------------------------------- */

static void
unknown_key(struct loader *l, const char *name)
{
	fail(l, l->line, "unknown key '%s' in [%s]", name, l->cur_section);
}

/* Keys that [daemon] sets for every feed and [feed] may override. */
static int
feed_default_key(struct loader *l, const char *name, const char *v, long *max_items,
    long long *backfill)
{
	long n;

	if (!strcmp(name, "max-items")) {
		if (parse_int(v, 1, 10000000, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'max-items' (1 to 10000000)", v);
		else
			*max_items = n;
	} else if (!strcmp(name, "backfill")) {
		if (parse_backfill(v, backfill) == -1)
			fail(l, l->line, "bad value '%s' for 'backfill' (a duration such as "
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
			fail(l, l->line, "bad value '%s' for 'control' (an absolute path, "
			    "or nothing for no control socket)", v);
		else if (strlen(v) >= sizeof sun.sun_path)
			fail(l, l->line, "'control' path is too long for a unix socket "
			    "(at most %zu bytes)", sizeof sun.sun_path - 1);
	} else if (v[0] == '\0' || (strspn(v, "0123456789") != strlen(v) &&
	    getgrnam(v) == NULL)) {
		fail(l, l->line, "bad value '%s' for '%s' (no such group)", v, name);
	}
	set_str(dst, v);
}

static void
daemon_key(struct loader *l, const char *name, const char *v)
{
	struct config *cfg = l->cfg;
	long n;

	if (!strcmp(name, "redis")) {
		check_redis(l, v);
		set_str(&cfg->redis, v);
	} else if (!strcmp(name, "prefix")) {
		set_str(&cfg->prefix, v);
	} else if (!strcmp(name, "instance")) {
		if (!instance_ok(v))
			fail(l, l->line, "bad value '%s' for 'instance' (1 to 64 letters, "
			    "digits, '.', '_' or '-')", v);
		set_str(&cfg->instance, v);
	} else if (!strcmp(name, "seen-ttl")) {
		if (duration(l, name, v, 1, &n) == 0)
			cfg->seen_ttl = n;
	} else if (!strcmp(name, "entities")) {
		set_str(&cfg->entities, v);
		l->entities_line = l->line;
	} else if (!strcmp(name, "user-agent")) {
		set_str(&cfg->user_agent, v);
	} else if (!strcmp(name, "max-body")) {
		if ((cfg->max_body = parse_size(v)) <= 0)
			fail(l, l->line, "bad size '%s' for 'max-body' (bytes, or with k, M, G)", v);
	} else if (!strcmp(name, "connect-timeout")) {
		duration(l, name, v, 1, &cfg->connect_timeout);
	} else if (!strcmp(name, "fetch-timeout")) {
		duration(l, name, v, 1, &cfg->fetch_timeout);
	} else if (!strcmp(name, "startup-spread")) {
		duration(l, name, v, 0, &cfg->startup_spread);
	} else if (!strcmp(name, "max-redirects")) {
		if (parse_int(v, 0, 50, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'max-redirects' (0 to 50)", v);
		else
			cfg->max_redirects = (int)n;
	} else if (!strcmp(name, "per-host-connections")) {
		if (parse_int(v, 1, 1000, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'per-host-connections' (1 to 1000)", v);
		else
			cfg->per_host = (int)n;
	} else if (!strcmp(name, "control")) {
		control_key(l, name, v, &cfg->control);
	} else if (!strcmp(name, "control-group")) {
		control_key(l, name, v, &cfg->control_group);
	} else if (!strcmp(name, "control-read-group")) {
		control_key(l, name, v, &cfg->control_read_group);
	} else if (!strcmp(name, "max-connections")) {
		if (parse_int(v, 1, 100000, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'max-connections' (1 to 100000)", v);
		else
			cfg->max_concurrent = (int)n;
	} else if (!feed_default_key(l, name, v, &cfg->max_items, &cfg->backfill)) {
		unknown_key(l, name);
	}
}

static void
feed_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_feed *f = &l->cfg->feeds[l->cur];
	char *shown;

	if (!strcmp(name, "url")) {
		if (!url_ok(v, 1)) {
			shown = masked_url(v, 0);
			fail(l, l->line, "feed \"%s\": url '%s' must be http://, https:// or file://",
			    f->name, shown);
			free(shown);
		}
		set_str(&f->url, v);
	} else if (!strcmp(name, "interval")) {
		duration(l, name, v, 1, &f->interval);
	} else if (!strcmp(name, "min-interval")) {
		duration(l, name, v, 1, &f->min_interval);
	} else if (!strcmp(name, "max-interval")) {
		duration(l, name, v, 1, &f->max_interval);
	} else if (!strcmp(name, "adaptive")) {
		if (parse_bool(v, &f->adaptive) == -1)
			fail(l, l->line, "bad value '%s' for 'adaptive' (yes or no)", v);
	} else if (!feed_default_key(l, name, v, &f->max_items, &f->backfill)) {
		unknown_key(l, name);
	}
}

static void
watchlist_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_watchlist *w = &l->cfg->watchlists[l->cur];
	struct wl_extra *x = &l->wlx[l->cur];

	if (!strcmp(name, "query")) {
		set_str(&w->query, v);
		x->query_line = l->line;
		free(x->pieces);
		x->pieces = xreallocarray(NULL, l->npieces, sizeof *x->pieces);
		memcpy(x->pieces, l->pieces, l->npieces * sizeof *x->pieces);
		x->npieces = l->npieces;
	} else if (!strcmp(name, "sinks")) {
		set_str(&x->sinks_raw, v);
		x->sinks_line = l->line;
	} else {
		unknown_key(l, name);
	}
}

/* --- sinks --------------------------------------------------------------- */

/* "console, webhook, ... or ntfy": every type sinkfmt knows, for messages. */
static char *
type_names(void)
{
	struct buf b = {0};
	const char *name, *prev = NULL;
	int i;

	for (i = 0; i < 64; i++) {
		if (strcmp(name = sinkfmt_type_name((enum sinkfmt_type)i), "?") == 0)
			break;
		if (prev != NULL)
			buf_addf(&b, "%s%s", b.len > 0 ? ", " : "", prev);
		prev = name;
	}
	buf_addf(&b, "%s%s", b.len > 0 ? " or " : "", prev != NULL ? prev : "");
	return buf_steal(&b);
}

static const char *
type_name(const struct cfg_sink *s)
{
	return sinkfmt_type_name((enum sinkfmt_type)s->format);
}

/*
 * The text of a url-file or secret-file, NUL-terminated; NULL after
 * fail().  A relative path is looked up in $CREDENTIALS_DIRECTORY when it
 * is set (systemd's LoadCredential= puts the files there), else next to
 * the configuration file.  Only a regular file (not a FIFO that would
 * block the load), of at most CRED_MAX bytes of UTF-8, that other users
 * can neither read nor write.
 */
static char *
read_credential(struct loader *l, const struct cfg_sink *s, const char *key,
    const char *v, char **where)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	struct buf b = {0};
	char why[256], chunk[4096];
	struct stat st;
	ssize_t n;
	int fd;

	why[0] = '\0';
	if (v[0] == '/')
		*where = xstrdup(v);
	else if (dir != NULL && dir[0] != '\0')
		*where = xasprintf("%s/%s", dir, v);
	else
		*where = resolve_path(l->cfg->path, v);
	fd = open(*where, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 || fstat(fd, &st) == -1)
		snprintf(why, sizeof why, "%s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(why, sizeof why, "not a regular file");
	else if (st.st_mode & (S_IROTH | S_IWOTH))
		snprintf(why, sizeof why, "%s by every user (mode %04o), but it holds a "
		    "credential: chmod o-rw it", st.st_mode & S_IROTH ? "readable" :
		    "writable", (unsigned)(st.st_mode & 07777));
	while (why[0] == '\0' && (n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			snprintf(why, sizeof why, "%s", strerror(errno));
		else if (b.len + (size_t)n > CRED_MAX)
			snprintf(why, sizeof why, "larger than %d KiB: not a URL or "
			    "secrets file", CRED_MAX / 1024);
		else
			buf_add(&b, chunk, (size_t)n);
	}
	if (why[0] == '\0' && !util_utf8_valid(b.s != NULL ? b.s : "", b.len))
		snprintf(why, sizeof why, "not UTF-8 text");
	if (why[0] == '\0' && b.len >= 3 && memcmp(b.s, "\xef\xbb\xbf", 3) == 0)
		memset(b.s, ' ', 3);	/* a BOM, as editors write them: trimmed */
	if (fd != -1)
		close(fd);
	if (why[0] != '\0') {
		fail(l, l->line, "sink \"%s\": %s %s: %s", s->name, key, *where, why);
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* A URL libcurl will take; from: the url-file it came from, or NULL. */
static void
check_sink_url(struct loader *l, const struct cfg_sink *s, const char *url,
    const char *from)
{
	char *shown, *in = from != NULL ? xasprintf(" (from %s)", from) : xstrdup("");
	CURLUcode rc = CURLUE_OK;
	CURLU *u;

	if (url_ok(url, 0)) {
		u = curl_url();
		rc = curl_url_set(u, CURLUPART_URL, url, 0);
		curl_url_cleanup(u);
	}
	shown = masked_url(url, 1);
	if (!url_ok(url, 0))
		fail(l, l->line, "sink \"%s\": url '%s'%s must be http:// or https://",
		    s->name, shown, in);
	else if (rc != CURLUE_OK)
		fail(l, l->line, "sink \"%s\": url '%s'%s is not a valid URL (%s)",
		    s->name, shown, in, curl_url_strerror(rc));
	free(shown);
	free(in);
}

static void
sink_url(struct loader *l, struct cfg_sink *s, struct sink_extra *x, const char *key,
    const char *v)
{
	const char *is_file = strcmp(key, "url-file") == 0 ? "url-file" : NULL;
	char *text = NULL, *where = NULL, *url;

	if (x->url_key != NULL && strcmp(x->url_key, key) != 0) {
		fail(l, l->line, "sink \"%s\": '%s' and '%s' (line %d) both given: use one",
		    s->name, key, x->url_key, x->url_line);
		return;
	}
	if (is_file && (text = read_credential(l, s, key, v, &where)) == NULL) {
		free(where);
		return;
	}
	if (is_file) {
		text[strcspn(text, "\n")] = '\0';
		url = xstrdup_trimmed(text);
		if (url[0] == '\0')
			fail(l, l->line, "sink \"%s\": url-file %s: the first line, which "
			    "holds the URL, is empty", s->name, where);
		else
			check_sink_url(l, s, url, where);
	} else {
		url = xstrdup(v);
		check_sink_url(l, s, url, NULL);
	}
	free(s->url);
	s->url = url;
	x->url_key = is_file ? "url-file" : "url";
	x->url_line = l->line;
	free(text);
	free(where);
}

/* what: "secret", or "secret-file PATH: line N", for messages. */
static void
add_secret(struct loader *l, struct cfg_sink *s, struct sink_extra *x,
    const char *secret, const char *what)
{
	char why[WW_ERRLEN];
	size_t i;

	if (sign_secret_check(secret, why, sizeof why) == -1) {
		fail(l, l->line, "sink \"%s\": %s: %s", s->name, what, why);
		return;
	}
	for (i = 0; i < s->nsecrets; i++) {
		if (strcmp(s->secrets[i], secret) == 0) {
			fail(l, l->line, "sink \"%s\": %s: the same secret twice", s->name, what);
			return;
		}
	}
	if (s->nsecrets == SECRETS_MAX) {
		fail(l, l->line, "sink \"%s\": %s: more than %d secrets (the current "
		    "one and, during a rotation, the next)", s->name, what, SECRETS_MAX);
		return;
	}
	s->secrets = xreallocarray(s->secrets, s->nsecrets + 1, sizeof *s->secrets);
	s->secrets[s->nsecrets++] = xstrdup(secret);
	if (x->secret_line == 0)
		x->secret_line = l->line;
}

/* One secret per line; blank lines are skipped. */
static void
sink_secret_file(struct loader *l, struct cfg_sink *s, struct sink_extra *x,
    const char *v)
{
	char *text, *where = NULL, *line, *next, *secret, *what;
	size_t before = s->nsecrets;
	int n = 0;

	if ((text = read_credential(l, s, "secret-file", v, &where)) == NULL) {
		free(where);
		return;
	}
	for (line = text; line != NULL && l->err[0] == '\0'; line = next) {
		n++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		secret = xstrdup_trimmed(line);
		what = xasprintf("secret-file %s: line %d", where, n);
		if (secret[0] != '\0')
			add_secret(l, s, x, secret, what);
		free(secret);
		free(what);
	}
	if (l->err[0] == '\0' && s->nsecrets == before)
		fail(l, l->line, "sink \"%s\": secret-file %s: no secret in it", s->name, where);
	free(text);
	free(where);
}

/* 1 when name (the header's, any case) is one of names. */
static int
header_in(const char *name, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcasecmp(name, *names) == 0)
			return 1;
	return 0;
}

/*
 * "Name: value".  What the request's framing or signature depends on is
 * wirewatch's to set; a header value (an Authorization token, say) is
 * never printed.
 */
static void
sink_header(struct loader *l, struct cfg_sink *s, struct sink_extra *x, const char *v)
{
	static const char *const reserved[] = { "Content-Type", "Content-Length",
	    "Transfer-Encoding", "Host", NULL };
	static const char tchar[] = ALNUM "!#$%&'*+-.^_`|~";
	const char *colon = strchr(v, ':');
	char *raw, *name, *value;

	if (colon == NULL) {
		fail(l, l->line, "sink \"%s\": a header is 'Name: value' (no ':' here)",
		    s->name);
		return;
	}
	raw = xstrndup(v, (size_t)(colon - v));
	name = xstrdup_trimmed(raw);
	free(raw);
	value = xstrdup_trimmed(colon + 1);
	if (name[0] == '\0')
		fail(l, l->line, "sink \"%s\": a header without a name before ':'", s->name);
	else if (strspn(name, tchar) != strlen(name))
		fail(l, l->line, "sink \"%s\": header name '%s' is not an HTTP token "
		    "(letters, digits and !#$%%&'*+-.^_`|~)", s->name, name);
	else if (header_in(name, reserved) || strncasecmp(name, "webhook-", 8) == 0)
		fail(l, l->line, "sink \"%s\": header '%s' is set by wirewatch (Content-Type, "
		    "Content-Length, Transfer-Encoding, Host and the webhook-* signature "
		    "headers cannot be configured)", s->name, name);
	else if (value[0] == '\0')
		fail(l, l->line, "sink \"%s\": header '%s' has no value", s->name, name);
	else if (strpbrk(value, "\r\n") != NULL)
		fail(l, l->line, "sink \"%s\": header '%s': CR or LF in its value",
		    s->name, name);
	if (l->err[0] == '\0') {
		s->headers = xreallocarray(s->headers, s->nheaders + 1, sizeof *s->headers);
		x->header_lines = xreallocarray(x->header_lines, s->nheaders + 1,
		    sizeof *x->header_lines);
		x->header_lines[s->nheaders] = l->line;
		s->headers[s->nheaders++] = xasprintf("%s: %s", name, value);
	}
	free(name);
	free(value);
}

/* A chat number (-1001234567890) or a public @username (5-32 of [A-Za-z0-9_]). */
static int
chat_id_ok(const char *v)
{
	const char *digits = v + (v[0] == '-');
	size_t n;

	if (v[0] == '@') {
		n = strlen(v + 1);
		return n >= 5 && n <= 32 && strspn(v + 1, ALNUM "_") == n &&
		    strchr("0123456789_", v[1]) == NULL;
	}
	n = strspn(digits, "0123456789");
	return n >= 1 && n <= 18 && digits[n] == '\0' && digits[0] != '0';
}

/* "0 5s 5m ...": the delay before each attempt, the first being 0. */
static void
sink_schedule(struct loader *l, struct cfg_sink *s, struct sink_extra *x,
    const char *v)
{
	char *list = xstrdup(v), *tok, *save = NULL;
	long *ms = NULL;
	size_t n = 0;
	long long d;

	for (tok = strtok_r(list, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if ((d = duration_ms(tok)) < 0)
			fail(l, l->line, "sink \"%s\": bad duration '%s' in 'retry-schedule' "
			    "(a number with ms, s, m, h or d)", s->name, tok);
		else if (d > SCHEDULE_STEP_MAX)
			fail(l, l->line, "sink \"%s\": '%s' in 'retry-schedule' is longer "
			    "than 7d", s->name, tok);
		else if (n == 0 && d != 0)
			fail(l, l->line, "sink \"%s\": 'retry-schedule' starts with '%s', but "
			    "its first entry is the first attempt, made at once: 0", s->name, tok);
		else if (n == SCHEDULE_MAX)
			fail(l, l->line, "sink \"%s\": more than %d attempts in "
			    "'retry-schedule'", s->name, SCHEDULE_MAX);
		if (l->err[0] != '\0')
			break;
		ms = xreallocarray(ms, n + 1, sizeof *ms);
		ms[n++] = (long)d;
	}
	free(list);
	if (l->err[0] != '\0') {
		free(ms);
		return;
	}
	free(s->schedule_ms);
	s->schedule_ms = ms;
	s->nschedule = n;
	x->schedule_line = l->line;
}

/* retries and retry-delay make the schedule unless retry-schedule does. */
static void
legacy_key(struct loader *l, struct sink_extra *x, const char *key)
{
	if (x->legacy_line == 0) {
		x->legacy_key = key;
		x->legacy_line = l->line;
	}
}

static void
sink_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_sink *s = &l->cfg->sinks[l->cur];
	struct sink_extra *x = &l->snx[l->cur];
	char *types;
	long n;
	int t;

	if (!strcmp(name, "type")) {
		if ((t = sinkfmt_type_by_name(v)) == -1) {
			types = type_names();
			fail(l, l->line, "sink \"%s\": unknown type '%s' (%s)", s->name, v, types);
			free(types);
		} else {
			s->format = t;
			s->type = t == SINKFMT_CONSOLE ? SINK_CONSOLE : SINK_WEBHOOK;
		}
	} else if (!strcmp(name, "url") || !strcmp(name, "url-file")) {
		sink_url(l, s, x, name, v);
	} else if (!strcmp(name, "secret")) {
		add_secret(l, s, x, v, "secret");
	} else if (!strcmp(name, "secret-file")) {
		sink_secret_file(l, s, x, v);
	} else if (!strcmp(name, "header")) {
		sink_header(l, s, x, v);
	} else if (!strcmp(name, "chat-id")) {
		if (!chat_id_ok(v))
			fail(l, l->line, "sink \"%s\": bad chat-id '%s' (a chat number such as "
			    "-1001234567890, or @channelname)", s->name, v);
		set_str(&s->chat_id, v);
		x->chat_id_line = l->line;
	} else if (!strcmp(name, "retry-schedule")) {
		sink_schedule(l, s, x, v);
	} else if (!strcmp(name, "digest-after")) {
		if (parse_int(v, 0, 1000000, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'digest-after' (0 to 1000000; "
			    "0: no digests)", v);
		else
			s->digest_after = n;
	} else if (!strcmp(name, "timeout")) {
		if (duration(l, name, v, 1, &n) == 0)
			s->timeout_ms = n * 1000;
	} else if (!strcmp(name, "retries")) {
		if (parse_int(v, 0, 100, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'retries' (0 to 100)", v);
		else
			s->retries = (int)n;
		legacy_key(l, x, "retries");
	} else if (!strcmp(name, "retry-delay")) {
		if (duration(l, name, v, 1, &n) == 0)
			s->retry_base_ms = n * 1000;
		legacy_key(l, x, "retry-delay");
	} else {
		unknown_key(l, name);
	}
}

/*
 * An Office 365 connector URL: Microsoft retired those connectors, and
 * Teams takes webhooks through Workflows now.  libcurl's parser decides
 * the host, as it decides where a delivery would go.
 */
static int
teams_connector(const char *url)
{
	char *host = NULL, *path = NULL;
	CURLU *u = curl_url();
	size_t n;
	int hit = 0;

	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
		n = strlen(host);
		if (n > 0 && host[n - 1] == '.')
			host[--n] = '\0';
		hit = strcasecmp(host, "webhook.office.com") == 0 ||
		    (n > 19 && strcasecmp(host + n - 19, ".webhook.office.com") == 0) ||
		    (strcasecmp(host, "outlook.office.com") == 0 &&
		    strncasecmp(path, "/webhook", 8) == 0);
	}
	curl_free(host);
	curl_free(path);
	curl_url_cleanup(u);
	return hit;
}

/*
 * retry-schedule, else 0, D, 2D, 4D, ... (retries + 1 attempts, each delay
 * at most 7d) when retries or retry-delay is given, else the Standard
 * Webhooks schedule.
 */
static void
resolve_schedule(struct loader *l, struct cfg_sink *s, const struct sink_extra *x)
{
	static const long standard[] = { 0, 5000, 300000, 1800000, 7200000,
	    18000000, 36000000, 50400000, 72000000, 86400000 };
	long step = s->retry_base_ms;
	size_t i, n;

	if (s->schedule_ms != NULL && x->legacy_line > 0) {
		if (x->legacy_line > x->schedule_line)
			fail(l, x->legacy_line, "sink \"%s\": '%s' and 'retry-schedule' (line "
			    "%d) both given: retry-schedule replaces retries and retry-delay",
			    s->name, x->legacy_key, x->schedule_line);
		else
			fail(l, x->schedule_line, "sink \"%s\": 'retry-schedule' and '%s' (line "
			    "%d) both given: retry-schedule replaces retries and retry-delay",
			    s->name, x->legacy_key, x->legacy_line);
		return;
	}
	if (s->schedule_ms != NULL)
		return;
	if (x->legacy_line == 0) {
		n = sizeof standard / sizeof standard[0];
		s->schedule_ms = xreallocarray(NULL, n, sizeof *s->schedule_ms);
		memcpy(s->schedule_ms, standard, sizeof standard);
		s->nschedule = n;
		return;
	}
	n = (size_t)s->retries + 1;
	s->schedule_ms = xreallocarray(NULL, n, sizeof *s->schedule_ms);
	s->schedule_ms[0] = 0;
	for (i = 1; i < n; i++) {
		s->schedule_ms[i] = step < SCHEDULE_STEP_MAX ? step : SCHEDULE_STEP_MAX;
		if (step < SCHEDULE_STEP_MAX)
			step *= 2;
	}
	s->nschedule = n;
}

/* What a sink's type allows and needs; only now is its type certain. */
static void
check_sink(struct loader *l, struct cfg_sink *s, const struct sink_extra *x)
{
	/* ntfy's names for the headers sinkfmt_ntfy.c sets for each alert. */
	static const char *const ntfy_set[] = { "Title", "X-Title", "t", "Tags",
	    "X-Tags", "tag", "ta", "Priority", "X-Priority", "prio", "p", "Click",
	    "X-Click", NULL };
	char *types, *shown, *name;
	size_t i;

	if (s->format == -1) {
		types = type_names();
		fail(l, s->line, "sink \"%s\": missing 'type' (%s)", s->name, types);
		free(types);
	} else if (s->type == SINK_CONSOLE && x->url_key != NULL) {
		fail(l, x->url_line, "sink \"%s\": a console sink takes no '%s'", s->name,
		    x->url_key);
	} else if (s->type == SINK_WEBHOOK && s->url == NULL) {
		fail(l, s->line, "sink \"%s\": type %s needs 'url' or 'url-file'", s->name,
		    type_name(s));
	} else if (s->format == SINKFMT_TEAMS && teams_connector(s->url)) {
		shown = masked_url(s->url, 1);
		fail(l, x->url_line, "sink \"%s\": '%s' is an Office 365 connector URL, and "
		    "Microsoft has retired those: in Teams, create a Workflows webhook "
		    "(\"Post to a channel when a webhook request is received\") and use "
		    "its URL", s->name, shown);
		free(shown);
	} else if (s->nsecrets > 0 && s->format != SINKFMT_WEBHOOK) {
		fail(l, x->secret_line, "sink \"%s\": type %s is not signed: 'secret' and "
		    "'secret-file' are for type webhook", s->name, type_name(s));
	} else if (s->nheaders > 0 && s->format != SINKFMT_WEBHOOK &&
	    s->format != SINKFMT_NTFY) {
		fail(l, x->header_lines[0], "sink \"%s\": type %s takes no 'header' (only "
		    "webhook and ntfy do)", s->name, type_name(s));
	} else if (s->chat_id != NULL && s->format != SINKFMT_TELEGRAM) {
		fail(l, x->chat_id_line, "sink \"%s\": 'chat-id' is for type telegram",
		    s->name);
	} else if (s->chat_id == NULL && s->format == SINKFMT_TELEGRAM) {
		fail(l, s->line, "sink \"%s\": type telegram needs 'chat-id' (a chat "
		    "number such as -1001234567890, or @channelname)", s->name);
	}
	for (i = 0; i < s->nheaders && s->format == SINKFMT_NTFY && !l->err[0]; i++) {
		name = xstrndup(s->headers[i], strcspn(s->headers[i], ":"));
		if (header_in(name, ntfy_set))
			fail(l, x->header_lines[i], "sink \"%s\": header '%s' is set by the "
			    "ntfy format for each alert", s->name, name);
		free(name);
	}
	if (l->err[0] == '\0')
		resolve_schedule(l, s, x);
}

/* One complete key = value; l->line is the key's line. */
static void
handle_key(struct loader *l, const char *name, const char *value)
{
	if (l->cur_section == NULL) {
		fail(l, l->line, "'%s' outside any section", name);
		return;
	}
	/* [daemon] control is the one key whose empty value means something: off. */
	if (*value == '\0' && !(l->kind == SEC_DAEMON && !strcmp(name, "control"))) {
		fail(l, l->line, "missing value for '%s'", name);
		return;
	}
	switch (l->kind) {
	case SEC_DAEMON: daemon_key(l, name, value); break;
	case SEC_FEED: feed_key(l, name, value); break;
	case SEC_WATCHLIST: watchlist_key(l, name, value); break;
	case SEC_SINK: sink_key(l, name, value); break;
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
		fail(l, l->daemon_line, "[daemon] has no 'instance', and the host name "
		    "cannot be read (%s): set 'instance'", strerror(errno));
		return;
	}
	host[sizeof host - 1] = '\0';
	if (!instance_ok(host))
		fail(l, l->daemon_line, "[daemon] has no 'instance', and the host name '%s' "
		    "cannot be one (1 to 64 letters, digits, '.', '_' or '-'): set "
		    "'instance'", host);
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
		fail(l, l->daemon_line, "[daemon] has no 'redis' (unix:/path or host:port)");
	else if (l->nsections == 0)
		fail(l, 0, "empty configuration: no [daemon] section with 'redis'");
	else
		fail(l, 0, "no [daemon] section: it must set 'redis' (unix:/path or host:port)");
}

static void
check_feeds(struct loader *l)
{
	struct cfg_feed *f;
	size_t i;

	for (i = 0; i < l->cfg->nfeeds && l->err[0] == '\0'; i++) {
		f = &l->cfg->feeds[i];
		if (f->url == NULL)
			fail(l, f->line, "feed \"%s\": missing 'url'", f->name);
		if (f->min_interval == 0)
			f->min_interval = f->interval / 4 > 30 ? f->interval / 4 :
			    f->interval < 30 ? f->interval : 30;
		if (f->max_interval == 0)
			f->max_interval = f->interval * 4;
		if (f->min_interval > f->max_interval)
			fail(l, f->line, "feed \"%s\": min-interval is above max-interval", f->name);
		if (f->max_items == 0)
			f->max_items = l->cfg->max_items;
		if (f->backfill == BACKFILL_UNSET)
			f->backfill = l->cfg->backfill;
	}
}

static void
check_sinks(struct loader *l)
{
	size_t i;

	for (i = 0; i < l->cfg->nsinks && l->err[0] == '\0'; i++)
		check_sink(l, &l->cfg->sinks[i], &l->snx[i]);
}

static void
resolve_sinks(struct loader *l, size_t wi)
{
	struct cfg_watchlist *w = &l->cfg->watchlists[wi];
	char *list = xstrdup(l->wlx[wi].sinks_raw), *tok, *save = NULL;
	size_t j;

	for (tok = strtok_r(list, ", \t", &save); tok != NULL && l->err[0] == '\0';
	    tok = strtok_r(NULL, ", \t", &save)) {
		if (names_get(&l->sink_names, tok, &j) == -1) {
			fail(l, l->wlx[wi].sinks_line, "watchlist \"%s\": unknown sink '%s'",
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
	fail(l, first_line ? first_line : x->query_line, "watchlist \"%s\": query: %s",
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

	dir = resolve_path(cfg->path, cfg->entities ? cfg->entities : WW_ENTITIES_DIR);
	free(cfg->entities);
	cfg->entities = dir;
	errno = 0;
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		why = errno ? strerror(errno) : "not a directory";
		if (l->entities_line > 0)
			fail(l, l->entities_line, "entities directory %s: %s", dir, why);
		else
			fail(l, l->daemon_line, "entities directory %s (the default): %s; "
			    "set 'entities' in [daemon]", dir, why);
		return;
	}
	if ((cfg->ents = entity_set_load(dir, err, sizeof err)) == NULL) {
		snprintf(l->err, sizeof l->err, "%s", err);
		return;
	}
	cfg->matcher = matcher_new(cfg->ents);
	for (i = 0; i < cfg->nwatchlists && l->err[0] == '\0'; i++) {
		w = &cfg->watchlists[i];
		if (w->query == NULL) {
			fail(l, w->line, "watchlist \"%s\": missing 'query'", w->name);
			break;
		}
		if (l->wlx[i].sinks_raw == NULL) {
			fail(l, w->line, "watchlist \"%s\": missing 'sinks'", w->name);
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
	cfg->path = xstrdup(path);
	cfg->prefix = xstrdup("ww:");
	cfg->seen_ttl = 30 * 86400;
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
	if ((text = ini_read_file(path, &len, l.err, sizeof l.err)) != NULL) {
		ini_parse(path, text, len, &handler, &l, l.err, sizeof l.err);
		free(text);
	}
	if (l.err[0] == '\0')
		check_daemon(&l);
	if (l.err[0] == '\0')
		check_feeds(&l);
	if (l.err[0] == '\0')
		check_sinks(&l);
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
	free(l.feed_names.slots);
	free(l.watchlist_names.slots);
	free(l.sink_names.slots);
	if (l.err[0] != '\0') {
		snprintf(err, errlen, "%s", l.err);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct config *cfg)
{
	struct cfg_sink *s;
	size_t i, j;

	if (cfg == NULL)
		return;
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
	free(cfg->entities);
	free(cfg->user_agent);
	free(cfg);
}
