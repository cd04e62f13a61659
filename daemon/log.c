/*
 * log.c - logging to stderr, journald-aware.
 *
 * systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connected to
 * stderr; when that matches we print "<N>message" so journald records the
 * priority, and leave timestamps to it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "wirewatch/log.h"

static enum log_level log_max = LOG_LVL_INFO;
static int log_journal;

void
log_init(enum log_level max)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_max = max;
	log_journal = 0;
	if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(fileno(stderr), &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		log_journal = 1;
}

static void
log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
	};
	char ts[32];
	struct tm tm;
	time_t now;

	if (lvl > log_max)
		return;
	if (log_journal) {
		fprintf(stderr, "<%d>", (int)lvl);
	} else {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(stderr, "%s wirewatchd[%s]: ", ts, names[lvl]);
	}
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	abort();
}
