/*
 * scheduler.h - when each feed is due.
 *
 * Plain functions of a feed's timing state, kept free of the event loop so
 * they can be unit-tested: the first poll is spread over the interval, a
 * failing feed backs off exponentially with jitter up to a ceiling where
 * it keeps retrying for ever, Retry-After is honoured, and an adaptive
 * feed polls faster while it publishes and slower while it is quiet.
 */
#ifndef WIREWATCH_SCHEDULER_H
#define WIREWATCH_SCHEDULER_H

#define SCHED_BACKOFF_CEILING 3600L /* seconds; never give up, retry here */

struct sched_state {
	long interval;      /* configured, seconds */
	long current;       /* adaptive interval now, seconds */
	long min_interval;
	long max_interval;
	int adaptive;
	int failures;       /* consecutive */
};

void sched_init(struct sched_state *st, long interval, int adaptive,
    long min_interval, long max_interval);

/* Delay before the first poll: uniform in [0, min(interval, spread)). */
long sched_first_delay_ms(const struct sched_state *st, long spread, unsigned rnd);

/*
 * Records a poll's outcome and returns the delay before the next one.
 * new_items counts items never seen before; retry_after is the server's
 * Retry-After in seconds (0: none).  rnd is a random number for jitter.
 */
long sched_after_poll_ms(struct sched_state *st, int ok, long new_items,
    long retry_after, unsigned rnd);

#endif
