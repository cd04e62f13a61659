/*
 * config.c - wirewatch.conf into an immutable struct config.
 *
 * libinih does the INI syntax.  Debian builds it without handler line
 * numbers, so we feed it through our own fgets-style reader that counts
 * lines: inih asks for exactly one line before each handler call, so the
 * count is the line of the key being handled.  The same reader rejects
 * lines longer than inih's buffer instead of letting inih split them.
 *
 * Validation is complete before the daemon starts anything; the first
 * error wins and names FILE:LINE.  Cross references (watchlist -> sink)
 * are resolved after the whole file is read, so order does not matter.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "wirewatch/config.h"
#include "wirewatch/match.h"
#include "wirewatch/util.h"

enum section_kind { SEC_NONE, SEC_DAEMON, SEC_FEED, SEC_WATCHLIST, SEC_SINK };

struct wl_extra {
	char *sinks_raw;
	int sinks_line;
	int query_line;
};

struct loader {
	struct config *cfg;
	FILE *fp;
	int line;
	int header_line;         /* line of the last [section] header */
	int too_long;
	char err[WW_ERRLEN];
	char *cur_section;       /* inih section string last seen */
	enum section_kind kind;
	size_t cur;              /* index of the current feed/watchlist/sink */
	struct wl_extra *wlx;    /* parallel to cfg->watchlists */
	int entities_line;
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

static char *
config_reader(char *str, int num, void *stream)
{
	struct loader *l = stream;
	size_t n;
	int c;

	if (fgets(str, num, l->fp) == NULL)
		return NULL;
	l->line++;
	n = strlen(str);
	if (str[strspn(str, " \t")] == '[')
		l->header_line = l->line;
	if (n == (size_t)num - 1 && str[n - 1] != '\n') {
		if (!l->too_long)
			fail(l, l->line, "line too long (at most %d characters)", num - 2);
		l->too_long = 1;
		while ((c = fgetc(l->fp)) != EOF && c != '\n')
			;
		str[0] = '\0';
	}
	return str;
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

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
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

static int
name_taken(const struct config *cfg, enum section_kind kind, const char *name)
{
	size_t i;

	for (i = 0; kind == SEC_FEED && i < cfg->nfeeds; i++)
		if (strcmp(cfg->feeds[i].name, name) == 0)
			return 1;
	for (i = 0; kind == SEC_WATCHLIST && i < cfg->nwatchlists; i++)
		if (strcmp(cfg->watchlists[i].name, name) == 0)
			return 1;
	for (i = 0; kind == SEC_SINK && i < cfg->nsinks; i++)
		if (strcmp(cfg->sinks[i].name, name) == 0)
			return 1;
	return 0;
}

static void
new_section(struct loader *l, const char *sec)
{
	struct config *cfg = l->cfg;
	char *name;

	free(l->cur_section);
	l->cur_section = xstrdup(sec);
	l->kind = split_section(sec, &name);
	if (l->kind == SEC_NONE) {
		fail(l, l->header_line, "unknown section [%s] (expected [daemon], [feed \"NAME\"], "
		    "[watchlist \"NAME\"] or [sink \"NAME\"])", sec);
		return;
	}
	if (l->kind != SEC_DAEMON && name == NULL) {
		fail(l, l->header_line, "section [%s] needs a quoted name, like [%s \"name\"]",
		    sec, sec);
		return;
	}
	if (l->kind != SEC_DAEMON && name_taken(cfg, l->kind, name)) {
		fail(l, l->header_line, "duplicate section [%s]", sec);
		free(name);
		return;
	}
	switch (l->kind) {
	case SEC_FEED:
		cfg->feeds = xreallocarray(cfg->feeds, cfg->nfeeds + 1, sizeof *cfg->feeds);
		memset(&cfg->feeds[cfg->nfeeds], 0, sizeof *cfg->feeds);
		cfg->feeds[cfg->nfeeds].name = name;
		cfg->feeds[cfg->nfeeds].line = l->header_line;
		cfg->feeds[cfg->nfeeds].interval = 300;
		l->cur = cfg->nfeeds++;
		break;
	case SEC_WATCHLIST:
		cfg->watchlists = xreallocarray(cfg->watchlists, cfg->nwatchlists + 1,
		    sizeof *cfg->watchlists);
		l->wlx = xreallocarray(l->wlx, cfg->nwatchlists + 1, sizeof *l->wlx);
		memset(&cfg->watchlists[cfg->nwatchlists], 0, sizeof *cfg->watchlists);
		memset(&l->wlx[cfg->nwatchlists], 0, sizeof *l->wlx);
		cfg->watchlists[cfg->nwatchlists].name = name;
		cfg->watchlists[cfg->nwatchlists].line = l->header_line;
		l->cur = cfg->nwatchlists++;
		break;
	case SEC_SINK:
		cfg->sinks = xreallocarray(cfg->sinks, cfg->nsinks + 1, sizeof *cfg->sinks);
		memset(&cfg->sinks[cfg->nsinks], 0, sizeof *cfg->sinks);
		cfg->sinks[cfg->nsinks].name = name;
		cfg->sinks[cfg->nsinks].line = l->header_line;
		cfg->sinks[cfg->nsinks].type = -1;
		cfg->sinks[cfg->nsinks].timeout_ms = 10000;
		cfg->sinks[cfg->nsinks].retries = 3;
		cfg->sinks[cfg->nsinks].retry_base_ms = 1000;
		l->cur = cfg->nsinks++;
		break;
	default:
		break;
	}
}

/* --- keys ---------------------------------------------------------------- */

static void
unknown_key(struct loader *l, const char *name)
{
	fail(l, l->line, "unknown key '%s' in [%s]", name, l->cur_section);
}

static void
daemon_key(struct loader *l, const char *name, const char *v)
{
	struct config *cfg = l->cfg;
	long n;

	if (!strcmp(name, "redis")) {
		if (strncmp(v, "unix:/", 6) != 0 && strrchr(v, ':') == NULL)
			fail(l, l->line, "bad redis address '%s' (unix:/path or host:port)", v);
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
		cfg->max_redirects = (int)n;
	} else if (!strcmp(name, "per-host-connections")) {
		if (parse_int(v, 1, 1000, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'per-host-connections' (1 to 1000)", v);
		cfg->per_host = (int)n;
	} else if (!strcmp(name, "max-connections")) {
		if (parse_int(v, 1, 100000, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'max-connections' (1 to 100000)", v);
		cfg->max_concurrent = (int)n;
	} else {
		unknown_key(l, name);
	}
}

static void
feed_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_feed *f = &l->cfg->feeds[l->cur];

	if (!strcmp(name, "url")) {
		if (!url_ok(v, 1))
			fail(l, l->line, "feed \"%s\": url '%s' must be http://, https:// or file://",
			    f->name, v);
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
	} else {
		unknown_key(l, name);
	}
}

static void
watchlist_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_watchlist *w = &l->cfg->watchlists[l->cur];

	if (!strcmp(name, "query")) {
		set_str(&w->query, v);
		l->wlx[l->cur].query_line = l->line;
	} else if (!strcmp(name, "sinks")) {
		set_str(&l->wlx[l->cur].sinks_raw, v);
		l->wlx[l->cur].sinks_line = l->line;
	} else {
		unknown_key(l, name);
	}
}

static void
sink_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_sink *s = &l->cfg->sinks[l->cur];
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
		if (!url_ok(v, 0))
			fail(l, l->line, "sink \"%s\": url '%s' must be http:// or https://",
			    s->name, v);
		set_str(&s->url, v);
	} else if (!strcmp(name, "timeout")) {
		if (duration(l, name, v, 1, &n) == 0)
			s->timeout_ms = n * 1000;
	} else if (!strcmp(name, "retries")) {
		if (parse_int(v, 0, 100, &n) == -1)
			fail(l, l->line, "bad value '%s' for 'retries' (0 to 100)", v);
		s->retries = (int)n;
	} else if (!strcmp(name, "retry-delay")) {
		if (duration(l, name, v, 1, &n) == 0)
			s->retry_base_ms = n * 1000;
	} else {
		unknown_key(l, name);
	}
}

static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *l = user;

	if (l->err[0] != '\0')
		return 1;
	if (l->cur_section == NULL || strcmp(section, l->cur_section) != 0)
		new_section(l, section);
	if (l->err[0] != '\0')
		return 1;
	if (*section == '\0') {
		fail(l, l->line, "'%s' outside any section", name);
		return 1;
	}
	if (value == NULL || *value == '\0') {
		fail(l, l->line, "missing value for '%s'", name);
		return 1;
	}
	switch (l->kind) {
	case SEC_DAEMON: daemon_key(l, name, value); break;
	case SEC_FEED: feed_key(l, name, value); break;
	case SEC_WATCHLIST: watchlist_key(l, name, value); break;
	case SEC_SINK: sink_key(l, name, value); break;
	default: break;
	}
	return 1;
}

/* --- whole-file checks ------------------------------------------------- */

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
		for (j = 0; j < l->cfg->nsinks; j++)
			if (strcmp(l->cfg->sinks[j].name, tok) == 0)
				break;
		if (j == l->cfg->nsinks) {
			fail(l, l->wlx[wi].sinks_line, "watchlist \"%s\": unknown sink '%s'",
			    w->name, tok);
			break;
		}
		w->sinks = xreallocarray(w->sinks, w->nsinks + 1, sizeof *w->sinks);
		w->sinks[w->nsinks++] = j;
	}
	free(list);
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
	struct stat st;
	size_t i;
	int idx;

	dir = resolve_path(cfg->path, cfg->entities ? cfg->entities : WW_ENTITIES_DIR);
	free(cfg->entities);
	cfg->entities = dir;
	errno = 0;
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		fail(l, l->entities_line, "entities directory %s: %s", dir,
		    errno ? strerror(errno) : "not a directory");
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
			fail(l, l->wlx[i].query_line, "watchlist \"%s\": query: %s", w->name, err);
		w->index = idx;
	}
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	struct loader l;
	size_t i;
	int rc;

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
	if ((l.fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		config_free(cfg);
		return NULL;
	}
	rc = ini_parse_stream(config_reader, &l, config_handler, &l);
	fclose(l.fp);
	if (rc > 0)
		fail(&l, rc, "syntax error (expected [section] or key = value)");
	else if (rc < 0)
		fail(&l, 0, "cannot parse");
	if (l.err[0] == '\0')
		check_feeds(&l);
	if (l.err[0] == '\0')
		check_sinks(&l);
	if (l.err[0] == '\0')
		compile_watchlists(&l);
	for (i = 0; i < cfg->nwatchlists; i++)
		free(l.wlx[i].sinks_raw);
	free(l.wlx);
	free(l.cur_section);
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
