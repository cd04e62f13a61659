/*
 * outbox_internal.h - shared between the outbox files: outbox.c (the
 * stream: reads, acknowledgements, retries, dead letters, maintenance),
 * outbox_lane.c (per-sink lanes: pace, pauses, holds, digests, parked
 * ids, reload), outbox_thread.c (story updates as replies in Telegram)
 * and outbox_lua.c (the Redis function library).  Not a public API.
 */
#ifndef WIREWATCH_OUTBOX_INTERNAL_H
#define WIREWATCH_OUTBOX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <jansson.h>

#include "wirewatch/config.h"
#include "wirewatch/outbox.h"
#include "wirewatch/sink.h"

#define GROUP "dispatch"
#define ONCE_RETRY_WAIT_MS 60000
#define UNACKED_MAX 1024
#define RETRY_AFTER_MAX_MS (24L * 3600 * 1000)
#define SID_MAX 48              /* a stream id, "ms-seq", with room */
#define LANE_HOLD 100           /* waiting alerts a lane holds in memory */

struct outbox;
struct lane;

struct entry {
	struct outbox *ob;
	char sid[SID_MAX];     /* stream entry id */
	char *alert_id;
	char *sink_name;
	char *watchlist;
	char *item;
	char *json;
	json_t *alert;         /* json parsed by take_entry, for rendering */
	char *label;
	int attempt;           /* attempts made before this one */
	int reply_checked;     /* telegram thread: outbox_tg_lookup() done */
	long long reply_to;    /* ... the message it replies to; 0: none */
	LIST_ENTRY(entry) link;       /* ob->held */
	TAILQ_ENTRY(entry) wait;      /* its lane's queue, while waiting */
};

/*
 * One sink's dispatch state.  Entries wait in `queue` (oldest first),
 * at most LANE_HOLD of them; the ids of later ones are parked in
 * parked[phead..ptail) and fetched back in that order.  While anything
 * is parked or being fetched, new entries are parked too, so the lane
 * stays in stream order.
 */
struct lane {
	struct outbox *ob;
	const struct cfg_sink *sink;
	size_t index;           /* in cfg->sinks */
	double per_s;           /* tokens a second; 0: no bucket */
	double burst;
	double tokens;
	uint64_t refilled;      /* util_now_ms() of the last refill */
	uint64_t paused_until;  /* nothing is sent before this */
	TAILQ_HEAD(, entry) queue;
	size_t nqueue;
	size_t sending;         /* attempts in flight */
	char (*parked)[SID_MAX];
	size_t phead, ptail, pcap;
	int fetching;           /* an XCLAIM of parked ids is outstanding */
	char *k_pace;           /* shared bucket (leases on): <prefix>pace:<sink> */
	int asking;             /* ww_take outstanding */
	int granted;            /* ww_take gave a token not used yet */
	int pumping;            /* outbox_lane_pump() is on the stack */
	int resolving;          /* an outbox_tg_lookup() is outstanding */
	struct event *timer;    /* next token, end of a pause, quiet check */
	int limited;            /* this backlog was logged: waited for tokens */
	int digesting;          /* ... sent digests */
	uint64_t idle_since;    /* empty since then (0: busy) */
	unsigned long ep_alerts, ep_msgs;   /* sent in this backlog */
	int disabled;           /* its destination is gone (410), until reload */
	int retired;            /* its sink was removed by a reload */
	LIST_ENTRY(lane) retired_link; /* ob->retired, while retired */
};

/* One attempt: an alert (n == 1) or a digest of n alerts. */
struct send {
	struct lane *lane;
	struct config *owner;   /* holds the config lane->sink was in */
	size_t n;
	struct entry *v[];
};

struct outbox {
	struct event_base *base;
	const struct config *cfg;
	struct store *store;
	struct sinks *sinks;
	char *consumer;
	char *k_outbox, *k_dead, *k_epoch, *k_retry;
	struct lane **lanes;    /* per sink index of cfg */
	size_t nlanes;
	LIST_HEAD(, lane) retired; /* lanes of removed sinks, until idle */
	long retries_left;      /* in the retry set, at the last look */
	long next_retry_ms;     /* until the first of those is due, or -1 */
	int due_checked;        /* --once: the retry set was looked at */
	int checking_due;
	int unfinished;         /* --once ended with retries still waiting */
	char unacked[UNACKED_MAX][SID_MAX]; /* delivered, XACK lost: ring */
	size_t nunacked;
	LIST_HEAD(, entry) held; /* every entry in memory */
	size_t nheld;
	size_t nsending;        /* entries in delivery attempts */
	size_t nparked;         /* parked ids, all lanes */
	int parked_full;        /* reads stopped at PARKED_MAX (logged) */
	unsigned gen;           /* connection generation (outbox_setup) */
	long claim_idle_ms;     /* another consumer's entry idle this long is ours */
	long maint_ms;          /* keep-alive, claim and trim period */
	size_t acks;            /* XACK / dead-letter moves in flight */
	int reading;            /* an XREADGROUP is outstanding */
	int again;              /* a kick came during that read */
	size_t read_count;      /* COUNT of that read */
	int own_pending;        /* next read is of our own pending entries */
	char pel_cursor[SID_MAX]; /* ... after this id */
	int started;
	int stopping;
	int last_read_empty;
	unsigned long dead;
	struct event *poll_timer;
	struct event *maint_timer;
	outbox_epoch_cb epoch_cb;
	void *epoch_arg;
	outbox_idle_cb idle_cb;
	void *idle_arg;
	outbox_idle_cb quiet_cb;  /* stopping: nothing in flight any more */
	void *quiet_arg;
};

struct store_reply;

/* outbox.c */

/* Forgets e (which is on no lane queue); it stays whatever Redis says. */
void outbox_entry_release(struct entry *e);
/* Calls the stop's or the drain's callback once nothing is left to do. */
void outbox_check_idle(struct outbox *ob);
/* Asks for more of the stream when deliveries have room. */
void outbox_read_more(struct outbox *ob);
/*
 * What happens to one entry after an attempt (quiet: it was part of a
 * digest): XACK, a retry of its own, or the dead letters.  Frees e.
 */
void outbox_finish(struct outbox *ob, struct entry *e,
    const struct sink_result *r, int quiet);
/* Dead-letters e at once (no attempt was made): reason says why. */
void outbox_refuse(struct outbox *ob, struct entry *e, const char *reason);
/* One stream entry into its sink's lane (fetched: a lane's own fetch). */
void outbox_take_entry(struct outbox *ob, const struct store_reply *r,
    int fetched);

/* outbox_lane.c */

struct lane *outbox_lane_new(struct outbox *ob, const struct cfg_sink *sink,
    size_t index);
void outbox_lane_free(struct lane *l);
/* Ids parked in l (waiting in Redis only). */
size_t outbox_lane_nparked(const struct lane *l);
void outbox_lane_forget_parked(struct lane *l);
/* Lets go of everything waiting in l; attempts in flight are not touched. */
void outbox_lane_drop(struct lane *l);
/* --once: 1 while alerts wait in lanes and it is worth waiting for them. */
int outbox_lanes_keep_waiting(struct outbox *ob);
void outbox_lane_push(struct lane *l, struct entry *e);
void outbox_lane_park(struct lane *l, const char *sid);
/* Sends what the lane's pace allows. */
void outbox_lane_pump(struct lane *l);
/* Logs the end of a backlog once the lane was idle long enough. */
void outbox_lane_settle(struct lane *l);
/* Frees a retired lane once nothing of it is in flight or parked. */
void outbox_lane_retire_done(struct lane *l);
/* Every lane's parked ids, retired lanes' included. */
void outbox_lanes_fetch(struct outbox *ob);

/* outbox_thread.c */

/* After a story's first alert went to a telegram sink: note its id. */
void outbox_tg_note(struct outbox *ob, const struct cfg_sink *sink,
    const struct entry *e, const struct sink_result *r);
/* Before a story update goes to a telegram sink; 1: the lane waits. */
int outbox_tg_lookup(struct lane *l, struct entry *e);

#endif
