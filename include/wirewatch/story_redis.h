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
 * signatures whatever the number of stories.  Filing is one FCALL of
 * ww_story_add, or, in the daemon, part of ww_story_record (stories.h).
 * They live in the function library "wirewatch_story".
 */
#ifndef WIREWATCH_STORY_REDIS_H
#define WIREWATCH_STORY_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "wirewatch/story.h"

struct redisReply;

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
int story_redis_parse_cands(const struct redisReply *r, int64_t since,
    struct story_sig **out, size_t *n, size_t *cap);
/* The packed signature as hex, malloc'd. */
char *story_redis_sig_hex(const struct story_sig *sig);
/* "<prefix>story:<kind>:<day of t>", malloc'd (kind 'b' or 's'). */
char *story_redis_day_key(const char *prefix, char kind, int64_t t);
/* FCALL ww_story_add filing sig under ref (16 hex) in its day. */
void story_redis_add_cmd(const char *prefix, long long window, const char *ref,
    const uint64_t bands[STORY_BANDS], const struct story_sig *sig, struct story_cmd *out);

#endif
