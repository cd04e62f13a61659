/*
 * config.c - wirewatch.conf into an immutable struct config.
 *
 * The INI syntax is read here, not by libinih.  Debian builds inih with a
 * 200-byte line buffer, so a watchlist query or URL of ordinary length was
 * refused; it also cuts section and key names at 50 bytes, turns every
 * indented line into a value that replaces the one before (which breaks
 * git-config style indented keys), skips sections without keys, and gives
 * the handler no line numbers.  None of that can be changed from outside
 * the library.
 *
 * The syntax is inih's otherwise: "[section]" headers, "key = value" (or
 * "key: value"), ';' or '#' at the start of a line for a comment, ';'
 * after white space for a comment at the end of a line, an optional UTF-8
 * BOM, LF or CRLF.  Lines may be of any length; the file is bounded
 * instead (CONFIG_MAX_FILE).  A line indented deeper than the key line
 * above it continues that key's value, joined with one space (Python's
 * configparser rule), for the keys that hold text: query and sinks.  Any
 * other key continued is an error, since a URL or a number split over
 * lines is a mistake, not a style.  A blank line or a header ends a value;
 * comment lines inside one are skipped.  NUL bytes, invalid UTF-8 and
 * control characters are refused with their line.
 *
 * Validation is complete before the daemon starts anything; the first
 * error wins and names FILE:LINE (FILE alone only when no line is to
 * blame: unreadable, a directory, empty).  Cross references (watchlist ->
 * sink) are resolved after the whole file is read, so order does not
 * matter.  Section names live in hash tables, so a file of 100,000 feeds
 * loads in linear time.  URLs in messages are masked: a webhook URL is a
 * credential.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wirewatch/config.h"
#include "wirewatch/match.h"
#include "wirewatch/util.h"

/* Larger is not a configuration file (or is /dev/zero). */
#define CONFIG_MAX_FILE (128 * 1024 * 1024)

/* cfg_feed.backfill until check_feeds() resolves it. */
#define BACKFILL_UNSET LLONG_MIN

enum section_kind { SEC_NONE, SEC_DAEMON, SEC_FEED, SEC_WATCHLIST, SEC_SINK };

/* Where one line of a value spanning lines starts in the joined value. */
struct piece {
	size_t off;
	int line;
};

struct wl_extra {
	char *sinks_raw;
	int sinks_line;
	int query_line;
	struct piece *pieces;    /* the query's lines */
	size_t npieces;
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
	int line;                /* line being read, or of the key being handled */
	char err[WW_ERRLEN];
	char *cur_section;       /* text of the last [section] header */
	enum section_kind kind;
	size_t cur;              /* index of the current feed/watchlist/sink */
	struct wl_extra *wlx;    /* parallel to cfg->watchlists */
	size_t feeds_cap, watchlists_cap, sinks_cap;
	struct names feed_names, watchlist_names, sink_names;
	int nsections;
	int daemon_line;         /* first [daemon] header; 0: none */
	int entities_line;

	/* The key = value being read; handled once a line does not continue it. */
	int pending;
	char *key;
	int key_line;
	size_t key_indent;
	struct buf value;
	struct piece *pieces;
	size_t npieces, pieces_cap;
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

/* Characters (code points) in valid UTF-8 s[0..n). */
static size_t
columns(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
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

/* Durations in seconds; "retry-delay" also accepts "ms". */
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
		cfg->sinks = grow(cfg->sinks, cfg->nsinks, &l->sinks_cap, sizeof *cfg->sinks);
		memset(&cfg->sinks[cfg->nsinks], 0, sizeof *cfg->sinks);
		cfg->sinks[cfg->nsinks].name = name;
		cfg->sinks[cfg->nsinks].line = l->line;
		cfg->sinks[cfg->nsinks].type = -1;
		cfg->sinks[cfg->nsinks].timeout_ms = 10000;
		cfg->sinks[cfg->nsinks].retries = 3;
		cfg->sinks[cfg->nsinks].retry_base_ms = 1000;
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

static void
sink_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_sink *s = &l->cfg->sinks[l->cur];
	char *shown;
	long n;

	if (!strcmp(name, "type")) {
		if (!strcmp(v, "webhook"))
			s->type = SINK_WEBHOOK;
		else if (!strcmp(v, "console"))
			s->type = SINK_CONSOLE;
		else
			fail(l, l->line, "sink \"%s\": unknown type '%s' (webhook or console)",
			    s->name, v);
	} else if (!strcmp(name, "url")) {
		if (!url_ok(v, 0)) {
			shown = masked_url(v, 1);
			fail(l, l->line, "sink \"%s\": url '%s' must be http:// or https://",
			    s->name, shown);
			free(shown);
		}
		set_str(&s->url, v);
	} else if (!strcmp(name, "timeout")) {
		if (duration(l, name, v, 1, &n) == 0)
			s->timeout_ms = n * 1000;
	} else if (!strcmp(name, "retries")) {
		if (parse_int(v, 0, 100, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'retries' (0 to 100)", v);
		else
			s->retries = (int)n;
	} else if (!strcmp(name, "retry-delay")) {
		if (duration(l, name, v, 1, &n) == 0)
			s->retry_base_ms = n * 1000;
	} else {
		unknown_key(l, name);
	}
}

/* One complete key = value; l->line is the key's line. */
static void
handle_key(struct loader *l, const char *name, const char *value)
{
	if (l->cur_section == NULL) {
		fail(l, l->line, "'%s' outside any section", name);
		return;
	}
	if (*value == '\0') {
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

/* --- lines --------------------------------------------------------------- */

static void
rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* Cuts a ';' comment that follows white space, then trailing white space. */
static void
strip_comment(char *s)
{
	char *p;

	if (*s == '\0')
		return;
	for (p = s + 1; *p != '\0'; p++) {
		if (*p == ';' && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
	rtrim(s);
}

/* Refuses what cannot be configuration text, with the line and column. */
static int
check_text(struct loader *l, const char *s, size_t n)
{
	const char *nul = memchr(s, '\0', n);
	size_t i;

	if (nul != NULL) {
		fail(l, l->line, "NUL byte at column %zu (a binary file?)",
		    columns(s, (size_t)(nul - s)) + 1);
		return -1;
	}
	if (!util_utf8_valid(s, n)) {
		fail(l, l->line, "not UTF-8 text (a binary file, or another encoding: "
		    "save it as UTF-8)");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			fail(l, l->line, "control character 0x%02x at column %zu",
			    (unsigned char)s[i], columns(s, i) + 1);
			return -1;
		}
	}
	return 0;
}

static void
add_piece(struct loader *l, size_t off)
{
	l->pieces = grow(l->pieces, l->npieces, &l->pieces_cap, sizeof *l->pieces);
	l->pieces[l->npieces].off = off;
	l->pieces[l->npieces++].line = l->line;
}

static void
end_value(struct loader *l)
{
	int line = l->line;

	if (!l->pending)
		return;
	l->pending = 0;
	l->line = l->key_line;
	handle_key(l, l->key, l->value.s != NULL ? l->value.s : "");
	l->line = line;
}

/* The value being read may continue on lines indented deeper than its key. */
static int
may_span(const struct loader *l)
{
	return l->kind == SEC_WATCHLIST &&
	    (strcmp(l->key, "query") == 0 || strcmp(l->key, "sinks") == 0);
}

/* after: the line of a value that may span lines, just ended, or 0. */
static void
start_value(struct loader *l, char *s, size_t indent, int after)
{
	char *sep = s + strcspn(s, "=:"), *v;

	if (*sep == '\0' && after > 0) {
		fail(l, l->line, "syntax error (expected [section] or key = value; a line "
		    "continuing the value on line %d must be indented more than it)", after);
		return;
	}
	if (*sep == '\0') {
		fail(l, l->line, "syntax error (expected [section] or key = value)");
		return;
	}
	if (sep == s) {
		fail(l, l->line, "syntax error: no key before '%c'", *sep);
		return;
	}
	*sep = '\0';
	rtrim(s);
	v = sep + 1 + strspn(sep + 1, " \t");
	free(l->key);
	l->key = xstrdup(s);
	l->key_line = l->line;
	l->key_indent = indent;
	l->pending = 1;
	buf_reset(&l->value);
	buf_adds(&l->value, v);
	l->npieces = 0;
	add_piece(l, 0);
}

/* Only text values span lines: a URL or a number split over lines is a mistake. */
static void
continue_value(struct loader *l, const char *s)
{
	int key_line = l->key_line;
	char *key;
	size_t n;

	if (!may_span(l)) {
		key = xstrdup(l->key);
		end_value(l);
		fail(l, l->line, "indented more than line %d, so it continues '%s', but only "
		    "'query' and 'sinks' can span lines (lines may be of any length)",
		    key_line, key);
		free(key);
		return;
	}
	/* A key indented by mistake would silently become query text. */
	n = strcspn(s, " \t=");
	if (n == 5 && (strncmp(s, "query", 5) == 0 || strncmp(s, "sinks", 5) == 0) &&
	    s[n + strspn(s + n, " \t")] == '=') {
		end_value(l);
		fail(l, l->line, "'%.5s' is indented more than '%s' on line %d, so it would "
		    "continue it: indent both alike", s, l->key, key_line);
		return;
	}
	if (l->value.len > 0)
		buf_addc(&l->value, ' ');
	add_piece(l, l->value.len);
	buf_adds(&l->value, s);
}

static void
read_line(struct loader *l, char *s)
{
	size_t indent = strspn(s, " \t"), n;
	int after;

	s += indent;
	if (*s == '\0') {
		end_value(l);
		return;
	}
	if (*s == ';' || *s == '#')
		return;
	strip_comment(s);
	if (*s == '[') {
		end_value(l);
		n = strlen(s);
		if (s[n - 1] != ']') {
			fail(l, l->line, "syntax error: a [section] header ends with ']'");
			return;
		}
		s[n - 1] = '\0';
		s++;
		s += strspn(s, " \t");
		rtrim(s);
		new_section(l, s);
	} else if (l->pending && indent > l->key_indent) {
		continue_value(l, s);
	} else {
		after = l->pending && may_span(l) ? l->key_line : 0;
		end_value(l);
		if (l->err[0] == '\0')
			start_value(l, s, indent, after);
	}
}

/* text[len] must be writable (a NUL); lines are cut in place. */
static void
parse(struct loader *l, char *text, size_t len)
{
	char *p = text, *end = text + len, *nl;
	size_t n;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end && l->err[0] == '\0') {
		l->line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (check_text(l, p, n) == 0) {
			p[n] = '\0';
			read_line(l, p);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (l->err[0] == '\0')
		end_value(l);
}

static char *
read_config(struct loader *l, const char *path, size_t *len)
{
	struct buf b = {0};
	char chunk[65536];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fail(l, 0, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		fail(l, 0, "is a directory (-c names the configuration file)");
		goto fail;
	}
	for (;;) {
		if ((n = read(fd, chunk, sizeof chunk)) == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(l, 0, "%s", strerror(errno));
			goto fail;
		}
		if (b.len + (size_t)n > CONFIG_MAX_FILE) {
			fail(l, 0, "larger than %d MiB: not a configuration file?",
			    CONFIG_MAX_FILE / (1024 * 1024));
			goto fail;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	*len = b.len;
	return buf_steal(&b);
fail:
	close(fd);
	buf_free(&b);
	return NULL;
}

/* --- whole-file checks ------------------------------------------------- */

static void
check_daemon(struct loader *l)
{
	if (l->cfg->redis != NULL)
		return;
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
	struct cfg_sink *s;
	size_t i;

	for (i = 0; i < l->cfg->nsinks && l->err[0] == '\0'; i++) {
		s = &l->cfg->sinks[i];
		if ((int)s->type == -1)
			fail(l, s->line, "sink \"%s\": missing 'type' (webhook or console)", s->name);
		else if (s->type == SINK_WEBHOOK && s->url == NULL)
			fail(l, s->line, "sink \"%s\": a webhook needs 'url'", s->name);
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
	*lcol = columns(q + x->pieces[p].off, off - x->pieces[p].off) + 1;
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

static char *
resolve_path(const char *cfgpath, const char *p)
{
	const char *slash = strrchr(cfgpath, '/');

	if (p[0] == '/' || slash == NULL)
		return xstrdup(p);
	return xasprintf("%.*s/%s", (int)(slash - cfgpath), cfgpath, p);
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
	if ((text = read_config(&l, path, &len)) != NULL) {
		parse(&l, text, len);
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
	free(l.wlx);
	free(l.cur_section);
	free(l.key);
	free(l.pieces);
	buf_free(&l.value);
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
	size_t i;

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
		free(cfg->sinks[i].name);
		free(cfg->sinks[i].url);
	}
	free(cfg->feeds);
	free(cfg->watchlists);
	free(cfg->sinks);
	matcher_free(cfg->matcher);
	entity_set_free(cfg->ents);
	free(cfg->path);
	free(cfg->redis);
	free(cfg->prefix);
	free(cfg->entities);
	free(cfg->user_agent);
	free(cfg);
}
