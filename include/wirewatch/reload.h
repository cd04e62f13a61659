/*
 * reload.h - SIGHUP and the control socket's "reload": read the config
 * file again and apply it, or keep the running one.
 */
#ifndef WIREWATCH_RELOAD_H
#define WIREWATCH_RELOAD_H

#include <stddef.h>

#include <jansson.h>

struct pipeline;

/*
 * Loads and validates the running config's file in full.  On any error
 * the running config stays, "reload: FILE:LINE: message" is logged and
 * NULL returned with "FILE:LINE: message" in err.  Otherwise the new
 * config is applied (pipeline_reload) and its summary returned (the
 * caller owns it).  Tells systemd RELOADING=1 (with MONOTONIC_USEC, as
 * Type=notify-reload wants) before and READY=1 after, either way.
 */
json_t *reload_run(struct pipeline *p, char *err, size_t errlen);

#endif
