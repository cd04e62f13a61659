/*
 * main.c - wirewatchd: arguments, lifecycle, signals, sd_notify.
 *
 * The configuration is validated completely before anything starts; a bad
 * line stops the daemon with "FILE:LINE: message" and exit status 1.
 * SIGTERM/SIGINT stop scheduling polls and give in-flight work a grace
 * period; what is still undelivered then is logged as not sent.  SIGHUP
 * reloads the config file (reload.c): all of it valid, or nothing
 * changes.  The config loaded at start stays referenced here until exit
 * (the control server reads its [daemon] socket settings, which a reload
 * does not change).
 *
 * The control socket (control.c) is served on the same loop from start
 * to exit, also while stopping; --once runs without one, as a single pass
 * has nothing to control.  It is freed before the pipeline it reads.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "wirewatch/config.h"
#include "wirewatch/control.h"
#include "wirewatch/log.h"
#include "wirewatch/metrics.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/reload.h"
#include "wirewatch/stats.h"
#include "wirewatch/util.h"
#include "wirewatch/watchdog.h"

#define STOP_GRACE_MS 10000

static struct pipeline *the_pipeline;
static struct control *the_control;
static struct metrics *the_metrics;
static struct watchdog *the_watchdog;
static int the_once;

static void
usage(FILE *f)
{
	fprintf(f, "usage: wirewatchd -c FILE [-t] [--once] [-v]\n"
	    "       wirewatchd -h | -V\n"
	    "  -c, --config FILE  configuration file\n"
	    "  -t, --test         check the configuration and exit\n"
	    "      --once         poll every feed once, deliver alerts, exit\n"
	    "  -v, --verbose      debug logging\n"
	    "  -V, --version      print the version\n"
	    "  -h, --help         this help\n"
	    "Exit status: 0 ok, 1 a bad configuration or a failed start (--once:\n"
	    "a failed feed or delivery), 2 bad arguments.  See wirewatchd(8).\n");
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGUSR1) {
		pipeline_log_health(the_pipeline);
		return;
	}
	if (sig == SIGHUP) {
		char err[WW_ERRLEN];
		json_t *summary;

		if (the_once) {
			/* One pass counts its feeds at start: nothing to reload. */
			log_notice("SIGHUP: ignored with --once");
			return;
		}
		if ((summary = reload_run(the_pipeline, err, sizeof err)) != NULL)
			json_decref(summary);
		return;
	}
	log_notice("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	sd_notify(0, "STOPPING=1");
	pipeline_stop(the_pipeline, STOP_GRACE_MS);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "once", no_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL;
	int ch, test = 0, once = 0, verbose = 0, rc = 1;
	struct event *sigs[4] = { NULL, NULL, NULL, NULL };
	struct event_base *base = NULL;
	struct config *cfg = NULL;
	char err[WW_ERRLEN];
	size_t i;

	while ((ch = getopt_long(argc, argv, "c:tvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 't': test = 1; break;
		case 'o': once = 1; break;
		case 'v': verbose = 1; break;
		case 'V': printf("wirewatchd %s\n", WW_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init(verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if ((cfg = config_load(path, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (cfg->redis == NULL) {
		fprintf(stderr, "%s: [daemon] redis is not set (unix:/path or host:port)\n", path);
		goto out;
	}
	if (test) {
		printf("%s: ok (%zu feeds, %zu watchlists, %zu sinks)\n", path,
		    cfg->nfeeds, cfg->nwatchlists, cfg->nsinks);
		rc = 0;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (base == NULL)
		fatal("event_base_new failed");
	the_once = once;
	the_pipeline = pipeline_new(base, cfg, once, err, sizeof err);
	if (the_pipeline == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		goto out;
	}
	if (!once && (the_metrics = metrics_new(base, cfg, the_pipeline, err,
	    sizeof err)) == NULL && err[0] != '\0') {
		fprintf(stderr, "%s: %s\n", path, err);
		pipeline_free(the_pipeline);
		goto out;
	}
	if (!once && (the_control = control_new(base, cfg, the_pipeline, err,
	    sizeof err)) == NULL && err[0] != '\0') {
		fprintf(stderr, "%s: %s\n", path, err);
		metrics_free(the_metrics);
		pipeline_free(the_pipeline);
		goto out;
	}
	stats_config_loaded();
	the_watchdog = watchdog_new(base);
	sigs[0] = evsignal_new(base, SIGTERM, main_signal_cb, NULL);
	sigs[1] = evsignal_new(base, SIGINT, main_signal_cb, NULL);
	sigs[2] = evsignal_new(base, SIGHUP, main_signal_cb, NULL);
	sigs[3] = evsignal_new(base, SIGUSR1, main_signal_cb, NULL);
	for (i = 0; i < 4; i++)
		event_add(sigs[i], NULL);
	log_notice("wirewatchd %s: %zu feeds, %zu watchlists, %zu sinks, redis %s%s",
	    WW_VERSION, cfg->nfeeds, cfg->nwatchlists, cfg->nsinks, cfg->redis,
	    once ? ", polling once" : "");
	sd_notify(0, "READY=1");
	event_base_dispatch(base);
	rc = once && pipeline_failed(the_pipeline) ? 1 : 0;
	control_free(the_control);
	metrics_free(the_metrics);
	watchdog_free(the_watchdog);
	pipeline_free(the_pipeline);
	stats_reset();
	if (once)
		log_notice("--once: done, %s", rc ? "with failures" : "all feeds ok");
	else
		log_notice("stopped");
out:
	for (i = 0; i < 4; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	if (base != NULL)
		event_base_free(base);
	config_free(cfg);
	return rc;
}
