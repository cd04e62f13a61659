/*
 * ini.c - the line reader of wirewatch.conf (see ini.h for the syntax).
 *
 * The INI syntax is read here, not by libinih.  Debian builds inih with a
 * 200-byte line buffer, so a watchlist query or URL of ordinary length was
 * refused; it also cuts section and key names at 50 bytes, turns every
 * indented line into a value that replaces the one before (which breaks
 * git-config style indented keys), skips sections without keys, and gives
 * the handler no line numbers.  None of that can be changed from outside
 * the library.
 *
 * Continuation follows Python's configparser: a line indented deeper than
 * the key line above it belongs to that key's value.  A key is handed to
 * the caller only once the next line shows that it does not continue it,
 * so the caller always sees a whole value and the line of its key.  The
 * first error stops the reader; nothing after it is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wirewatch/ini.h"
#include "wirewatch/util.h"

struct reader {
	const char *path;
	const struct ini_handler *h;
	void *arg;
	char *err;
	size_t errlen;
	int stop;                /* a callback or an error ended the reading */
	int line;                /* line being read */

	/* The key = value being read; handed over once a line does not continue it. */
	int pending;
	char *key;
	int key_line;
	size_t key_indent;
	struct buf value;
	struct ini_piece *pieces;
	size_t npieces, pieces_cap;
};

static void
syntax(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
syntax(struct reader *r, const char *fmt, ...)
{
	char msg[WW_ERRLEN];
	va_list ap;

	r->stop = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errlen, "%s:%d: %s", r->path, r->line, msg);
}

size_t
ini_columns(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

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
check_text(struct reader *r, const char *s, size_t n)
{
	const char *nul = memchr(s, '\0', n);
	size_t i;

	if (nul != NULL) {
		syntax(r, "NUL byte at column %zu (a binary file?)",
		    ini_columns(s, (size_t)(nul - s)) + 1);
		return -1;
	}
	if (!util_utf8_valid(s, n)) {
		syntax(r, "not UTF-8 text (a binary file, or another encoding: "
		    "save it as UTF-8)");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			syntax(r, "control character 0x%02x at column %zu",
			    (unsigned char)s[i], ini_columns(s, i) + 1);
			return -1;
		}
	}
	return 0;
}

static int
may_span(const struct reader *r, const char *key)
{
	return r->h->may_span != NULL && r->h->may_span(r->arg, key);
}

static void
add_piece(struct reader *r, size_t off)
{
	if (r->npieces == r->pieces_cap) {
		r->pieces_cap = r->pieces_cap ? 2 * r->pieces_cap : 16;
		r->pieces = xreallocarray(r->pieces, r->pieces_cap, sizeof *r->pieces);
	}
	r->pieces[r->npieces].off = off;
	r->pieces[r->npieces++].line = r->line;
}

/* Hands the pending key to the caller. */
static void
end_value(struct reader *r)
{
	if (!r->pending || r->stop)
		return;
	r->pending = 0;
	if (r->h->key(r->arg, r->key_line, r->key, r->value.s != NULL ? r->value.s : "",
	    r->pieces, r->npieces) == -1)
		r->stop = 1;
}

/* after: the line of a value that may span lines, just ended, or 0. */
static void
start_value(struct reader *r, char *s, size_t indent, int after)
{
	char *sep = s + strcspn(s, "=:"), *v;

	if (*sep == '\0' && after > 0) {
		syntax(r, "syntax error (expected [section] or key = value; a line "
		    "continuing the value on line %d must be indented more than it)", after);
		return;
	}
	if (*sep == '\0') {
		syntax(r, "syntax error (expected [section] or key = value)");
		return;
	}
	if (sep == s) {
		syntax(r, "syntax error: no key before '%c'", *sep);
		return;
	}
	*sep = '\0';
	rtrim(s);
	v = sep + 1 + strspn(sep + 1, " \t");
	free(r->key);
	r->key = xstrdup(s);
	r->key_line = r->line;
	r->key_indent = indent;
	r->pending = 1;
	buf_reset(&r->value);
	buf_adds(&r->value, v);
	r->npieces = 0;
	add_piece(r, 0);
}

static void
continue_value(struct reader *r, const char *s)
{
	size_t n = strcspn(s, " \t=:");
	char *key;

	if (!may_span(r, r->key)) {
		key = xstrdup(r->key);
		end_value(r);
		if (!r->stop)
			syntax(r, "indented more than line %d, so it continues '%s', but "
			    "%s can span lines (lines may be of any length)", r->key_line,
			    key, r->h->span_keys != NULL ? r->h->span_keys : "no key");
		free(key);
		return;
	}
	/* A key indented by mistake would silently become part of the value. */
	key = xstrndup(s, n);
	if (s[n + strspn(s + n, " \t")] == '=' && may_span(r, key)) {
		end_value(r);
		if (!r->stop)
			syntax(r, "'%s' is indented more than '%s' on line %d, so it "
			    "would continue it: indent both alike", key, r->key, r->key_line);
		free(key);
		return;
	}
	free(key);
	if (r->value.len > 0)
		buf_addc(&r->value, ' ');
	add_piece(r, r->value.len);
	buf_adds(&r->value, s);
}

static void
read_line(struct reader *r, char *s)
{
	size_t indent = strspn(s, " \t"), n;
	int after;

	s += indent;
	if (*s == '\0') {
		end_value(r);
		return;
	}
	if (*s == ';' || *s == '#')
		return;
	strip_comment(s);
	if (*s == '[') {
		end_value(r);
		if (r->stop)
			return;
		n = strlen(s);
		if (s[n - 1] != ']') {
			syntax(r, "syntax error: a [section] header ends with ']'");
			return;
		}
		s[n - 1] = '\0';
		s++;
		s += strspn(s, " \t");
		rtrim(s);
		if (r->h->section(r->arg, r->line, s) == -1)
			r->stop = 1;
	} else if (r->pending && indent > r->key_indent) {
		continue_value(r, s);
	} else {
		after = r->pending && may_span(r, r->key) ? r->key_line : 0;
		end_value(r);
		if (!r->stop)
			start_value(r, s, indent, after);
	}
}

int
ini_parse(const char *path, char *text, size_t len, const struct ini_handler *h,
    void *arg, char *err, size_t errlen)
{
	char *p = text, *end = text + len, *nl;
	struct reader r;
	size_t n;

	memset(&r, 0, sizeof r);
	r.path = path;
	r.h = h;
	r.arg = arg;
	r.err = err;
	r.errlen = errlen;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end && !r.stop) {
		r.line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (check_text(&r, p, n) == 0) {
			p[n] = '\0';
			read_line(&r, p);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	end_value(&r);
	free(r.key);
	free(r.pieces);
	buf_free(&r.value);
	return r.stop ? -1 : 0;
}

char *
ini_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	struct buf b = {0};
	char chunk[65536];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a configuration file", path);
		goto fail;
	}
	for (;;) {
		if ((n = read(fd, chunk, sizeof chunk)) == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (b.len + (size_t)n > INI_MAX_FILE) {
			snprintf(err, errlen, "%s: larger than %d MiB: not a configuration "
			    "file?", path, INI_MAX_FILE / (1024 * 1024));
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
