/*
 * util.c - allocation wrappers, struct buf and small shared helpers.
 *
 * The allocators abort on failure: a daemon that cannot allocate a few
 * bytes cannot make useful progress, and checking every call site would
 * bury the real error handling.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <utf8proc.h>

#include "wirewatch/log.h"
#include "wirewatch/util.h"

static void
oom(size_t n)
{
	fatal("out of memory allocating %zu bytes", n);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

void *
xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(p, nmemb * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xstrdup_trimmed(const char *s)
{
	size_t n;

	if (s == NULL)
		return NULL;
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom(strlen(fmt));
	va_end(ap);
	return s;
}

static void
buf_grow(struct buf *b, size_t need)
{
	size_t cap;

	if (b->len + need + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < b->len + need + 1)
		cap *= 2;
	b->s = xrealloc(b->s, cap);
	b->cap = cap;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

char *
buf_steal(struct buf *b)
{
	char *s = b->s ? b->s : xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void
buf_free(struct buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

char *
util_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	struct buf b = {0};
	char chunk[65536];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			buf_free(&b);
			return NULL;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	*len = b.len;
	return buf_steal(&b);
}

long long
util_parse_duration(const char *s)
{
	char *end;
	long long v, mul = 1;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0)
		return -1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > (long long)1e12 / mul)
		return -1;
	return v * mul;
}

void
util_format_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	/* Not strftime: %Y does not pad years before 1000. */
	if (gmtime_r(&t, &tm) == NULL)
		snprintf(out, outlen, "1970-01-01T00:00:00Z");
	else
		snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
}

int
util_is_http_url(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

uint64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_hash64(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL ^ seed;

	while (n--) {
		h ^= *s++;
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * UTF-8 validity as utf8proc defines it: overlong forms, surrogates, code
 * points above U+10FFFF, 5- and 6-byte forms, bytes F5-FF, truncated
 * sequences and lone continuation bytes are all errors.
 */
int
util_utf8_valid(const char *s, size_t len)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t cp;
	utf8proc_ssize_t n;
	size_t i = 0;

	while (i < len) {
		if (p[i] < 0x80) {
			if (p[i] == 0)
				return 0;
			i++;
			continue;
		}
		n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
		if (n <= 0)
			return 0;
		i += (size_t)n;
	}
	return 1;
}

char *
util_utf8_repair(const char *s, size_t len, size_t *outlen)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	struct buf b = {0};
	utf8proc_int32_t cp;
	utf8proc_ssize_t n;
	size_t i = 0, run = 0;

	while (i < len) {
		if (p[i] != 0 && p[i] < 0x80) {
			i++;
			continue;
		}
		n = p[i] == 0 ? -1 : utf8proc_iterate(p + i,
		    (utf8proc_ssize_t)(len - i), &cp);
		if (n > 0) {
			i += (size_t)n;
			continue;
		}
		/* One U+FFFD per bad byte; the valid run before it is copied. */
		buf_add(&b, s + run, i - run);
		buf_add(&b, "\xef\xbf\xbd", 3);
		i++;
		run = i;
	}
	buf_add(&b, s + run, len - run);
	if (outlen != NULL)
		*outlen = b.len;
	return buf_steal(&b);
}

char *
util_utf8_repaired(const char *s)
{
	if (s == NULL)
		return NULL;
	return util_utf8_repair(s, strlen(s), NULL);
}

/* A path segment that looks like a credential: long and not a word. */
static int
secret_segment(const char *seg, size_t len)
{
	size_t i, digits = 0, alpha = 0, other = 0;

	if (len < 16)
		return 0;
	for (i = 0; i < len; i++) {
		if (isdigit((unsigned char)seg[i]))
			digits++;
		else if (isalpha((unsigned char)seg[i]))
			alpha++;
		else if (seg[i] != '-' && seg[i] != '_' && seg[i] != '.')
			other++;
	}
	if (other > 0)
		return 0;
	/* Slugs are words joined by dashes; tokens mix digits and letters. */
	return digits >= 4 && alpha >= 4 && memchr(seg, '.', len) == NULL;
}

char *
util_url_mask(const char *url, int whole_path)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	char *query = NULL, *user = NULL;
	struct buf out = {0};
	const char *p, *seg, *amp, *eq;
	size_t len;
	CURLU *u;

	if (url == NULL)
		return xstrdup("");
	if (!util_is_http_url(url))
		return xstrdup(url);
	u = curl_url();
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		/* Unparseable: keep only what precedes any credential. */
		p = strpbrk(url + 8, "/?#@");
		buf_add(&out, url, p ? (size_t)(p - url) : strlen(url));
		if (p != NULL)
			buf_adds(&out, "/***");
		return buf_steal(&out);
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	buf_addf(&out, "%s://%s%s%s", scheme, user ? "***@" : "", host,
	    port ? ":" : "");
	if (port)
		buf_adds(&out, port);
	if (whole_path) {
		if ((path && strcmp(path, "/") != 0) || query)
			buf_adds(&out, "/***");
		goto done;
	}
	for (p = path ? path : "/"; *p != '\0'; p = seg + len) {
		seg = p[0] == '/' ? p + 1 : p;
		buf_add(&out, p, (size_t)(seg - p));
		len = strcspn(seg, "/");
		if (secret_segment(seg, len))
			buf_adds(&out, "***");
		else
			buf_add(&out, seg, len);
	}
	for (p = query; p != NULL && *p != '\0'; p = amp ? amp + 1 : p + len) {
		amp = strchr(p, '&');
		len = amp ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', len);
		buf_addc(&out, p == query ? '?' : '&');
		buf_add(&out, p, eq ? (size_t)(eq - p) : len);
		if (eq != NULL)
			buf_adds(&out, "=***");
	}
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return buf_steal(&out);
}
