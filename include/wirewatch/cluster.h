/*
 * cluster.h - several daemons on one Redis: membership, feed leases with
 * fencing tokens, rendezvous placement.
 *
 * Every tick (a third of [daemon] lease) an instance sends one
 * heartbeat (ww_beat: its entry in <prefix>members, which lists the live
 * instances) and then, in calls of at most CLUSTER_BATCH feeds each, one
 * ww_lease call that acquires, renews or releases the leases of the feeds
 * it wants (rendezvous hashing over the live instances picks one owner
 * per feed) or holds.  A lease is the hash <prefix>lease:<feed>: owner,
 * until (server time, ms), token (incremented on every acquisition: the
 * fencing token) and polled (when its holder last started a poll).
 *
 * A feed is polled only while this instance holds its lease (and, by its
 * own clock, the lease has not run out).  Every write a poll makes (seen
 * marks and alerts through ww_record_item, validators through ww_fenced) names
 * the lease and the token it was given: Redis refuses it when the token
 * changed, so an instance that was paused past its lease, and whose feed
 * another took over, cannot write stale state.
 *
 * A new holder waits until the previous poll (polled) is an interval old,
 * so handing a feed over does not poll it twice; the only exception is a
 * holder that died before its next tick reported its last poll.
 */
#ifndef WIREWATCH_CLUSTER_H
#define WIREWATCH_CLUSTER_H

#include <stddef.h>

#include <jansson.h>

struct config;
struct event_base;
struct store;
struct store_reply;
struct cluster;
struct cluster_feed;

#define CLUSTER_BATCH 1000 /* feeds per ww_lease call */

/*
 * The fencing check of a Redis function that records a poll's results
 * (ww_record_item, ww_story_record): Lua text to put first in its body.
 * When the function was given the feed's lease as KEYS[n] (n a Lua
 * literal), its last ARGV is the token it was acquired with: taken off
 * args, and the call refused ("FENCED: ...") when the lease holds another.
 */
#define CLUSTER_LUA_FENCE(n) \
"  if keys[" n "] then\n" \
"    local token = table.remove(args)\n" \
"    if redis.call('HGET', keys[" n "], 'token') ~= token then\n" \
"      return redis.error_reply('FENCED: the lease moved on (token ' ..\n" \
"        token .. ' is stale)')\n" \
"    end\n" \
"  end\n"

/*
 * A feed became pollable here (acquired, or renewed after its lease ran
 * out locally); feed_arg is what cluster_feed_add was given.  since_ms:
 * how long ago its last poll started anywhere (-1: never, or the last one
 * was ours before a restart: poll as on startup).  The pipeline (re)arms
 * its timer.
 */
typedef void (*cluster_acquired_cb)(void *feed_arg, long long since_ms,
    void *arg);
/* As store_reply_cb (store.h). */
typedef void (*cluster_reply_cb)(const struct store_reply *reply,
    const char *error, void *arg);

/* NULL when leases are off ([daemon] lease = 0).  Takes copies of cfg's
 * prefix, instance and lease (keys a reload does not change). */
struct cluster *cluster_new(struct event_base *base, const struct config *cfg,
    struct store *store, cluster_acquired_cb cb, void *arg);
void cluster_free(struct cluster *c);

/*
 * A feed (by name: the lease is <prefix>lease:<name>) joins the feeds this
 * instance may poll; NULL when c is NULL.  Removing one (a reload dropped
 * it) releases its lease at the next tick; cb is not called for it again.
 */
struct cluster_feed *cluster_feed_add(struct cluster *c, const char *name,
    void *feed_arg);
void cluster_feed_remove(struct cluster *c, struct cluster_feed *f);

/* Every new connection: loads the function library (before other use). */
void cluster_setup(struct cluster *c);
/* The connection is up: heartbeat and leases now, then every tick. */
void cluster_start(struct cluster *c);
typedef void (*cluster_done_cb)(void *arg);
/*
 * Shutdown: leaves the member list and releases every lease, so that the
 * others take over at their next tick.  Returns 1 when it sent that, and
 * calls cb once Redis answered it (or the commands failed); 0 when there
 * was nothing to send (NULL, Redis down) and cb is not called.
 */
int cluster_stop(struct cluster *c, cluster_done_cb cb, void *arg);

/*
 * 1 when this instance may start a poll of feed now: the poll's start is
 * then reported with the next renewal (a new holder waits an interval
 * from it).  0 when not: the feed waits for cluster_acquired_cb.
 */
int cluster_may_poll(struct cluster *c, struct cluster_feed *f);
/* The poll started by cluster_may_poll ended (its lease may move now). */
void cluster_poll_done(struct cluster_feed *f);
/* The lease key and the token to fence the feed's writes with ("0" when
 * not held, "" and "0" for a feed removed by a reload (NULL): such a write
 * is refused). */
const char *cluster_lease_key(const struct cluster_feed *f);
const char *cluster_token(const struct cluster_feed *f);

/*
 * argv is a whole "HSET key field value ..." command: it is run by the
 * function ww_fenced only while feed's lease still has its token.
 */
void cluster_fenced_hset(struct cluster *c, struct cluster_feed *f, int argc,
    const char **argv, cluster_reply_cb cb, void *arg);

/* Status: live instances (name, host, pid, feeds, last heartbeat) and
 * this instance's held leases. */
json_t *cluster_status_json(const struct cluster *c);

#endif
