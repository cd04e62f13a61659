/*
 * story_redis.h - the Redis layout of story signatures (the daemon's
 * store; story.h has the decision).
 *
 * Day-bucketed hashes, each with a TTL of story-window + 1 day (Redis 7.0
 * has no per-field expiry), day = item time / 86400:
 *
 *   <prefix>story:b:<day>  HASH  band key (16 hex) -> the refs filed under
 *                                it that day, 16 hex digits each, the newest
 *                                STORY_BUCKET_MAX kept
 *   <prefix>story:s:<day>  HASH  ref -> the packed signature, hex
 *
 * A lookup reads the days the window covers (3 for 48h): one FCALL of
 * ww_story_cands, at most days x STORY_BANDS x STORY_BUCKET_MAX
 * refs and STORY_CANDS_MAX signatures whatever the number of stories.
 * The daemon runs the same lookup as plain HMGETs (story_refs_*, below):
 * Lua's redis.call cost Redis several times the commands' own work.  Filing is one FCALL of
 * ww_story_add, or, in the daemon, part of ww_story_record (stories.h).
 * They live in the function library "wirewatch_story".
 */
#ifndef WIREWATCH_STORY_REDIS_H
#define WIREWATCH_STORY_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "wirewatch/story.h"

struct store_reply;

/* The Lua library, for FUNCTION LOAD REPLACE. */
extern const char story_redis_library[];

/* A command as NUL-terminated strings (hex keeps the signatures NUL-free). */
struct story_cmd {
	int argc;
	char **argv;
};
void story_cmd_free(struct story_cmd *c);

/* FCALL ww_story_cands for the days from since to t. */
void story_redis_lookup_cmd(const char *prefix, const uint64_t bands[STORY_BANDS],
    int64_t since, int64_t t, struct story_cmd *out);
/*
 * Appends the signatures of a ww_story_cands reply that are no older than
 * since to *out (as story_store_ops.lookup).  -1 for a reply of the wrong
 * shape (a bad signature is skipped).
 */
int story_redis_parse_cands(const struct store_reply *r, int64_t since,
    struct story_sig **out, size_t *n, size_t *cap);
/*
 * A signature the caller already has, as Redis holds it (hex, len
 * characters): story_redis_parse_sig() takes sig for a signature equal to
 * hex, without decoding it, and sets used.
 */
struct story_known {
	const char *hex;
	size_t len;
	const struct story_sig *sig;
	int used;
};
/*
 * Appends one signature (hex, len characters) to *out as
 * story_redis_parse_cands() does, unless older than since or not a
 * signature; when it equals one of known[0..nknown) (may be NULL), that
 * one's sig, not decoded.
 */
void story_redis_parse_sig(const char *hex, size_t len, int64_t since,
    struct story_known *known, size_t nknown, struct story_sig **out, size_t *n,
    size_t *cap);
/* The most characters of a signature as hex, with its NUL. */
#define STORY_SIG_HEXMAX (2 * (STORY_SIG_HEADER + 4 * STORY_TERMS) + 1)
/*
 * The lookup of ww_story_cands done by the caller with plain commands
 * (Lua's redis.call costs Redis several times the command's own work):
 * HMGET of the bands in each day's band hash, days d0 .. d0 + nd - 1
 * (story_redis_days); each reply's values, in order, to story_refs_add;
 * story_refs_pick gives the refs ww_story_cands would pick, with their
 * days, by day; then HMGET of those refs in each day's signature hash,
 * days in order.  The same candidates as ww_story_cands, in the same
 * order within a day.
 */
void story_redis_days(int64_t since, int64_t t, int64_t *d0, int *nd);
struct story_ref_ent;
struct story_refs {
	struct story_ref_ent *v;
	size_t n, cap;
	uint32_t *table;
	size_t tcap;
};
/* Counts the refs of one band's value (16 hex digits each) of day index day. */
void story_refs_add(struct story_refs *rs, int day, const char *v, size_t len);
/* At most max refs (16 hex digits and a NUL) and their day indexes; returns how many. */
size_t story_refs_pick(struct story_refs *rs, size_t max, char (*refs)[STORY_IDLEN],
    int *days);
void story_refs_free(struct story_refs *rs);
/* The packed signature as hex into out; returns its length. */
size_t story_redis_sig_hex_to(const struct story_sig *sig, char out[STORY_SIG_HEXMAX]);
/* The same, malloc'd. */
char *story_redis_sig_hex(const struct story_sig *sig);
/*
 * The key of t's day: keys_name(prefix, name, "<day of t>"), malloc'd;
 * name is KEY_STORY_BANDS or KEY_STORY_SIGS (keys.h).
 */
char *story_redis_day_key(const char *prefix, const char *name, int64_t t);
/* FCALL ww_story_add filing sig under ref (16 hex) in its day. */
void story_redis_add_cmd(const char *prefix, long long window, const char *ref,
    const uint64_t bands[STORY_BANDS], const struct story_sig *sig, struct story_cmd *out);

#endif
