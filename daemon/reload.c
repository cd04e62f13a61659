/*
 * reload.c - a configuration reload, from SIGHUP (main.c) or the control
 * socket's "reload" (control.c); see reload.h.
 *
 * The file is loaded and validated completely, as at start, before
 * anything changes: a reload is all or nothing.  What it changes is the
 * pipeline's business (pipeline_reload, by config_diff).
 */
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "wirewatch/config.h"
#include "wirewatch/log.h"
#include "wirewatch/pipeline.h"
#include "wirewatch/reload.h"
#include "wirewatch/util.h"

static unsigned long long
monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
}

json_t *
reload_run(struct pipeline *p, char *err, size_t errlen)
{
	struct config *cfg;
	json_t *summary;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
	    monotonic_usec(), pipeline_config_path(p));
	log_notice("reload: reading %s", pipeline_config_path(p));
	if ((cfg = config_load(pipeline_config_path(p), err, errlen)) == NULL) {
		log_err("reload: %s; the running configuration (revision %lu) stays",
		    err, pipeline_revision(p));
		sd_notifyf(0, "READY=1\nSTATUS=reload failed: %s", err);
		return NULL;
	}
	summary = pipeline_reload(p, cfg);
	sd_notifyf(0, "READY=1\nSTATUS=configuration revision %lu",
	    pipeline_revision(p));
	return summary;
}
