/*
 * config_sink.c - the [sink "NAME"] sections of wirewatch.conf.
 *
 * config.c reads the file and calls config_sink_key() for each key of a
 * [sink] section, then config_check_sinks() once the whole file is read:
 * only then is a sink's type certain, so the rules that depend on it
 * (what a console, Teams, ntfy or Telegram sink takes and needs) and the
 * retry schedule are settled there.  Errors go through config_fail(), the
 * first one winning, as everywhere in the loader.
 *
 * Credentials: chat services put their tokens in the webhook URL, so a
 * sink's URL is masked after its host in every message, and a secret or
 * a header value is never printed.  url-file and secret-file read them
 * from files of their own, looked up in $CREDENTIALS_DIRECTORY (systemd's
 * LoadCredential=) when that is set; such a file must not be readable or
 * writable by every user, or keeping the credential out of wirewatch.conf
 * would protect nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config_internal.h"
#include "wirewatch/config.h"
#include "wirewatch/sign.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

/* A credential file is a line or two; more is the wrong file. */
#define CRED_MAX (64 * 1024)
/* The current secret and, during a rotation, the next (sign.h). */
#define SECRETS_MAX 2
/* A first attempt and 100 retries: what 'retries' has always allowed. */
#define SCHEDULE_MAX 101
#define SCHEDULE_STEP_MAX (7 * 86400 * 1000L)

/* --- keys ---------------------------------------------------------------- */

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
 * config_fail().  A relative path is looked up in $CREDENTIALS_DIRECTORY
 * when it is set (systemd's LoadCredential= puts the files there), else
 * next to the configuration file.  Only a regular file (not a FIFO that would
 * block the load), of at most CRED_MAX bytes of UTF-8, that other users
 * can neither read nor write.  what names the owner in messages
 * ("sink \"x\""), or is "".
 */
char *
config_read_credential(struct loader *l, const char *what, const char *key,
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
		*where = config_resolve_path(l->cfg->path, v);
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
		config_fail(l, l->line, "%s%s%s %s: %s", what, what[0] ? ": " : "", key,
		    *where, why);
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static char *
read_credential(struct loader *l, const struct cfg_sink *s, const char *key,
    const char *v, char **where)
{
	char *what = xasprintf("sink \"%s\"", s->name), *text;

	text = config_read_credential(l, what, key, v, where);
	free(what);
	return text;
}

/* A URL libcurl will take; from: the url-file it came from, or NULL. */
static void
check_sink_url(struct loader *l, const struct cfg_sink *s, const char *url,
    const char *from)
{
	char *shown, *in = from != NULL ? xasprintf(" (from %s)", from) : xstrdup("");
	CURLUcode rc = CURLUE_OK;
	CURLU *u;

	if (config_url_ok(url, 0)) {
		u = curl_url();
		rc = curl_url_set(u, CURLUPART_URL, url, 0);
		curl_url_cleanup(u);
	}
	shown = config_masked_url(url, 1);
	if (!config_url_ok(url, 0))
		config_fail(l, l->line, "sink \"%s\": url '%s'%s must be http:// or https://",
		    s->name, shown, in);
	else if (rc != CURLUE_OK)
		config_fail(l, l->line, "sink \"%s\": url '%s'%s is not a valid URL (%s)",
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
		config_fail(l, l->line, "sink \"%s\": '%s' and '%s' (line %d) "
		    "both given: use one", s->name, key, x->url_key, x->url_line);
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
			config_fail(l, l->line, "sink \"%s\": url-file %s: the first line, which "
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
		config_fail(l, l->line, "sink \"%s\": %s: %s", s->name, what, why);
		return;
	}
	for (i = 0; i < s->nsecrets; i++) {
		if (strcmp(s->secrets[i], secret) == 0) {
			config_fail(l, l->line, "sink \"%s\": %s: the same secret twice", s->name,
			    what);
			return;
		}
	}
	if (s->nsecrets == SECRETS_MAX) {
		config_fail(l, l->line, "sink \"%s\": %s: more than %d secrets (the current "
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
		config_fail(l, l->line, "sink \"%s\": secret-file %s: no secret in it", s->name,
		    where);
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
		config_fail(l, l->line, "sink \"%s\": a header is 'Name: value' (no ':' here)",
		    s->name);
		return;
	}
	raw = xstrndup(v, (size_t)(colon - v));
	name = xstrdup_trimmed(raw);
	free(raw);
	value = xstrdup_trimmed(colon + 1);
	if (name[0] == '\0')
		config_fail(l, l->line, "sink \"%s\": a header without a name before ':'",
		    s->name);
	else if (strspn(name, tchar) != strlen(name))
		config_fail(l, l->line, "sink \"%s\": header name '%s' is not an HTTP token "
		    "(letters, digits and !#$%%&'*+-.^_`|~)", s->name, name);
	else if (header_in(name, reserved) || strncasecmp(name, "webhook-", 8) == 0)
		config_fail(l, l->line, "sink \"%s\": header '%s' is set by wirewatch "
		    "(Content-Type, Content-Length, Transfer-Encoding, Host and the "
		    "webhook-* signature headers cannot be configured)", s->name, name);
	else if (value[0] == '\0')
		config_fail(l, l->line, "sink \"%s\": header '%s' has no value", s->name, name);
	else if (strpbrk(value, "\r\n") != NULL)
		config_fail(l, l->line, "sink \"%s\": header '%s': CR or LF in its value",
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
			config_fail(l, l->line, "sink \"%s\": bad duration '%s' in 'retry-schedule' "
			    "(a number with ms, s, m, h or d)", s->name, tok);
		else if (d > SCHEDULE_STEP_MAX)
			config_fail(l, l->line, "sink \"%s\": '%s' in 'retry-schedule' is longer "
			    "than 7d", s->name, tok);
		else if (n == 0 && d != 0)
			config_fail(l, l->line, "sink \"%s\": 'retry-schedule' starts with '%s', but "
			    "its first entry is the first attempt, made at once: 0", s->name, tok);
		else if (n == SCHEDULE_MAX)
			config_fail(l, l->line, "sink \"%s\": more than %d attempts in "
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

void
config_sink_key(struct loader *l, const char *name, const char *v)
{
	struct cfg_sink *s = &l->cfg->sinks[l->cur];
	struct sink_extra *x = &l->snx[l->cur];
	char *types;
	long n;
	int t;

	if (!strcmp(name, "type")) {
		if ((t = sinkfmt_type_by_name(v)) == -1) {
			types = type_names();
			config_fail(l, l->line, "sink \"%s\": unknown type '%s' (%s)", s->name, v,
			    types);
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
			config_fail(l, l->line, "sink \"%s\": bad chat-id '%s' (a chat "
			    "number such as -1001234567890, or @channelname)", s->name, v);
		config_set_str(&s->chat_id, v);
		x->chat_id_line = l->line;
	} else if (!strcmp(name, "retry-schedule")) {
		sink_schedule(l, s, x, v);
	} else if (!strcmp(name, "digest-after")) {
		if (config_parse_int(v, 0, 1000000, &n) == -1)
			config_fail(l, l->line, "bad value '%s' for 'digest-after' (0 to 1000000; "
			    "0: no digests)", v);
		else
			s->digest_after = n;
	} else if (!strcmp(name, "timeout")) {
		if (config_duration(l, name, v, 1, &n) == 0)
			s->timeout_ms = n * 1000;
	} else if (!strcmp(name, "retries")) {
		if (config_parse_int(v, 0, 100, &n) == -1)
			config_fail(l, l->line, "bad value '%s' for 'retries' (0 to 100)", v);
		else
			s->retries = (int)n;
		legacy_key(l, x, "retries");
	} else if (!strcmp(name, "retry-delay")) {
		if (config_duration(l, name, v, 1, &n) == 0)
			s->retry_base_ms = n * 1000;
		legacy_key(l, x, "retry-delay");
	} else {
		config_unknown_key(l, name);
	}
}

/* --- checks -------------------------------------------------------------- */

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
			config_fail(l, x->legacy_line, "sink \"%s\": '%s' and 'retry-schedule' (line "
			    "%d) both given: retry-schedule replaces retries and retry-delay",
			    s->name, x->legacy_key, x->schedule_line);
		else
			config_fail(l, x->schedule_line, "sink \"%s\": 'retry-schedule' "
			    "and '%s' (line %d) both given: retry-schedule replaces retries "
			    "and retry-delay", s->name, x->legacy_key, x->legacy_line);
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
		config_fail(l, s->line, "sink \"%s\": missing 'type' (%s)", s->name, types);
		free(types);
	} else if (s->type == SINK_CONSOLE && x->url_key != NULL) {
		config_fail(l, x->url_line, "sink \"%s\": a console sink takes no '%s'", s->name,
		    x->url_key);
	} else if (s->type == SINK_WEBHOOK && s->url == NULL) {
		config_fail(l, s->line, "sink \"%s\": type %s needs 'url' or 'url-file'", s->name,
		    type_name(s));
	} else if (s->format == SINKFMT_TEAMS && teams_connector(s->url)) {
		shown = config_masked_url(s->url, 1);
		config_fail(l, x->url_line, "sink \"%s\": '%s' is an Office 365 "
		    "connector URL, and Microsoft has retired those: in Teams, create a "
		    "Workflows webhook (\"Post to a channel when a webhook request is "
		    "received\") and use its URL", s->name, shown);
		free(shown);
	} else if (s->nsecrets > 0 && s->format != SINKFMT_WEBHOOK) {
		config_fail(l, x->secret_line, "sink \"%s\": type %s is not signed: 'secret' and "
		    "'secret-file' are for type webhook", s->name, type_name(s));
	} else if (s->nheaders > 0 && s->format != SINKFMT_WEBHOOK &&
	    s->format != SINKFMT_NTFY) {
		config_fail(l, x->header_lines[0], "sink \"%s\": type %s takes no 'header' (only "
		    "webhook and ntfy do)", s->name, type_name(s));
	} else if (s->chat_id != NULL && s->format != SINKFMT_TELEGRAM) {
		config_fail(l, x->chat_id_line, "sink \"%s\": 'chat-id' is for type telegram",
		    s->name);
	} else if (s->chat_id == NULL && s->format == SINKFMT_TELEGRAM) {
		config_fail(l, s->line, "sink \"%s\": type telegram needs 'chat-id' (a chat "
		    "number such as -1001234567890, or @channelname)", s->name);
	}
	for (i = 0; i < s->nheaders && s->format == SINKFMT_NTFY && !l->err[0]; i++) {
		name = xstrndup(s->headers[i], strcspn(s->headers[i], ":"));
		if (header_in(name, ntfy_set))
			config_fail(l, x->header_lines[i], "sink \"%s\": header '%s' is set by the "
			    "ntfy format for each alert", s->name, name);
		free(name);
	}
	if (l->err[0] == '\0')
		resolve_schedule(l, s, x);
}

void
config_check_sinks(struct loader *l)
{
	size_t i;

	for (i = 0; i < l->cfg->nsinks && l->err[0] == '\0'; i++)
		check_sink(l, &l->cfg->sinks[i], &l->snx[i]);
}
