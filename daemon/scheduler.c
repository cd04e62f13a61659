/*
 * scheduler.c - feed timing; see scheduler.h.
 *
 * Jitter is +-10% of every delay so feeds configured alike drift apart
 * instead of polling in lockstep.
 */
#include "wirewatch/scheduler.h"

void
sched_init(struct sched_state *st, long interval, int adaptive,
    long min_interval, long max_interval)
{
	st->interval = interval > 0 ? interval : 300;
	st->current = st->interval;
	st->adaptive = adaptive;
	st->min_interval = min_interval > 0 ? min_interval : st->interval;
	st->max_interval = max_interval > 0 ? max_interval : st->interval;
	if (st->min_interval > st->interval)
		st->min_interval = st->interval;
	if (st->max_interval < st->interval)
		st->max_interval = st->interval;
	st->failures = 0;
}

long
sched_first_delay_ms(const struct sched_state *st, long spread, unsigned rnd)
{
	long window = st->interval < spread ? st->interval : spread;

	if (window <= 0)
		return 0;
	return (long)(rnd % (unsigned)(window * 1000));
}

static long
jitter(long ms, unsigned rnd)
{
	long span = ms / 10;

	if (span <= 0)
		return ms;
	return ms - span + (long)(rnd % (unsigned)(2 * span + 1));
}

long
sched_after_poll_ms(struct sched_state *st, int ok, long new_items,
    long retry_after, unsigned rnd)
{
	long delay, ceiling;
	int shift;

	if (!ok) {
		st->failures++;
		ceiling = st->interval > SCHED_BACKOFF_CEILING ? st->interval :
		    SCHED_BACKOFF_CEILING;
		shift = st->failures - 1 < 16 ? st->failures - 1 : 16;
		/* First retry after a tenth of the interval, then doubling. */
		delay = (st->current / 10 > 10 ? st->current / 10 : 10) << shift;
		if (delay > ceiling)
			delay = ceiling;
	} else {
		st->failures = 0;
		if (st->adaptive) {
			if (new_items > 0)
				st->current = st->current * 3 / 4;
			else
				st->current = st->current * 5 / 4;
			if (st->current < st->min_interval)
				st->current = st->min_interval;
			if (st->current > st->max_interval)
				st->current = st->max_interval;
		}
		delay = st->current;
	}
	if (retry_after > delay)
		delay = retry_after;
	return jitter(delay * 1000, rnd);
}
