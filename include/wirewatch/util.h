/*
 * util.h - allocation wrappers, a growable byte buffer and small helpers
 * shared by every module.
 *
 * Out-of-memory is the only fatal error in wirewatch: the x-prefixed
 * allocators never return NULL, they log and abort instead.  Everything
 * else is an ordinary error reported through an error buffer.
 */
#ifndef WIREWATCH_UTIL_H
#define WIREWATCH_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define WW_VERSION "0.1.0"
#define WW_ERRLEN 512

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A copy of s without leading and trailing white space; NULL for NULL. */
char *xstrdup_trimmed(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable, always NUL-terminated byte buffer. Zero-initialise to use. */
struct buf {
	char *s;
	size_t len;
	size_t cap;
};
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Hands the string to the caller (never NULL) and empties the buffer. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

/*
 * Reads a whole file.  Returns a malloc'd, NUL-terminated copy (the NUL is
 * not counted in *len) or NULL with "PATH: reason" in err.
 */
char *util_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* "30", "30s", "5m", "2h", "30d" -> seconds. Returns -1 on a bad value. */
long long util_parse_duration(const char *s);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void util_format_time(time_t t, char *out, size_t outlen);

/* 1 when s starts with http:// or https:// (any case). */
int util_is_http_url(const char *s);

/* Monotonic milliseconds, for durations and timers. */
uint64_t util_now_ms(void);

/* 64-bit FNV-1a, for hashing identities; not cryptographic. */
uint64_t util_hash64(const void *p, size_t n, uint64_t seed);

/* splitmix64's finalizer: every input bit moves every output bit (MinHash
   permutations in story.c, rendezvous weights in cluster.c). */
static inline uint64_t
util_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/*
 * 1 when s[0..len) is valid UTF-8 without NUL bytes.  Invalid means:
 * overlong forms, surrogates, code points above U+10FFFF, 5/6-byte forms,
 * bytes F5-FF, truncated sequences and lone continuation bytes.
 */
int util_utf8_valid(const char *s, size_t len);
/*
 * A malloc'd copy of s[0..len) in which every byte that is not part of a
 * valid UTF-8 sequence (and every NUL) is replaced by U+FFFD.  *outlen
 * (when not NULL) gets the new length.  Valid input comes back unchanged.
 */
char *util_utf8_repair(const char *s, size_t len, size_t *outlen);
/* util_utf8_repair of a C string; NULL for NULL. */
char *util_utf8_repaired(const char *s);

/*
 * A malloc'd copy of url fit for logs: userinfo becomes "***@", every query
 * value "***", and path segments that look like tokens (16+ characters
 * mixing letters and digits) "***".  With whole_path, everything after the
 * host (and port) is replaced by "/" and three stars: for webhook URLs, whose paths are secrets.
 * Non-HTTP URLs (file://) come back unchanged.
 */
char *util_url_mask(const char *url, int whole_path);

#endif
