/*
 * watchdog.h - the loop's heartbeat: a timer that proves the event loop
 * turns, for systemd's watchdog and for /healthz.
 *
 * Every tick records the time (stats_loop_turned) and, when the service
 * manager asked for it (WatchdogSec=, i.e. WATCHDOG_USEC for this pid:
 * sd_watchdog_enabled), sends WATCHDOG=1.  Ticks come every second, or
 * every half of the watchdog period when that is shorter.  A loop stuck
 * in one callback sends nothing, and systemd restarts the service after
 * WatchdogSec.
 */
#ifndef WIREWATCH_WATCHDOG_H
#define WIREWATCH_WATCHDOG_H

struct event_base;
struct watchdog;

struct watchdog *watchdog_new(struct event_base *base);
void watchdog_free(struct watchdog *w);

#endif
