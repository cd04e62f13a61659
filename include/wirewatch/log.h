/*
 * log.h - the one logging API.
 *
 * When stderr is the journal (JOURNAL_STREAM matches stderr) lines carry a
 * "<N>" syslog priority prefix and no timestamp; otherwise they carry a UTC
 * timestamp and the level name.  Log a feed by its name and an alert by
 * watchlist and item id; log state changes, not every poll.
 */
#ifndef WIREWATCH_LOG_H
#define WIREWATCH_LOG_H

enum log_level { LOG_LVL_CRIT = 2, LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_init(enum log_level max);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_crit(...) log_msg(LOG_LVL_CRIT, __VA_ARGS__)
#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
