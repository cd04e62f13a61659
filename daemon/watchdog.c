/*
 * watchdog.c - the loop's heartbeat; see watchdog.h.
 *
 * The ping comes from a timer on the same loop as everything else, not
 * from a thread: what it proves is that timers still fire, which is what
 * every poll, retry and reconnect depends on.
 */
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "wirewatch/log.h"
#include "wirewatch/stats.h"
#include "wirewatch/util.h"
#include "wirewatch/watchdog.h"

struct watchdog {
	struct event *timer;
	int notify;           /* the service manager wants WATCHDOG=1 */
};

static void
watchdog_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watchdog *w = arg;

	(void)fd;
	(void)what;
	stats_loop_turned(util_now_ms());
	if (w->notify)
		sd_notify(0, "WATCHDOG=1");
}

struct watchdog *
watchdog_new(struct event_base *base)
{
	struct watchdog *w = xcalloc(1, sizeof *w);
	uint64_t usec = 0, tick = 1000000;
	struct timeval tv;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		w->notify = 1;
		if (usec / 2 < tick)
			tick = usec / 2;
		log_info("systemd watchdog: every %.1fs (WatchdogSec=%.1fs)",
		    (double)tick / 1e6, (double)usec / 1e6);
	}
	tv.tv_sec = (time_t)(tick / 1000000);
	tv.tv_usec = (suseconds_t)(tick % 1000000);
	w->timer = event_new(base, -1, EV_PERSIST, watchdog_tick_cb, w);
	if (w->timer == NULL)
		fatal("watchdog: event_new failed");
	event_add(w->timer, &tv);
	watchdog_tick_cb(-1, 0, w);
	return w;
}

void
watchdog_free(struct watchdog *w)
{
	if (w == NULL)
		return;
	event_free(w->timer);
	free(w);
}
