/*
 * ctl_remote.c - the wirewatchctl verbs that ask the running daemon, over
 * its control socket (docs/control.md): ping, status, feeds, watchlists,
 * sinks, reload, watchlist add|remove|show|export, feed add|remove.  The
 * table remote[] is the one list of them: wirewatchctl's usage and each
 * verb's --help come from it.
 *
 *   wirewatchctl [-s SOCKET] [--json] VERB [SUBVERB] [ARGS] [OPTIONS]
 *
 * One request line, one reply line.  People get a table (status: one
 * "name value" line each); --json prints the reply object as it came, for
 * scripts, also when it is an error.  Exit status: 0 ok; 1 the daemon
 * answered with an error or refused us (permission denied, also by the
 * socket file's mode); 2 usage; 3 no daemon there: no socket file,
 * connection refused, or no reply within CTL_TIMEOUT_S.
 *
 * Whatever the daemon reports comes from feeds and configs, so it is
 * printed with control characters replaced: a feed's error message must
 * not be able to drive the terminal.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "wirewatch/control.h"
#include "wirewatch/util.h"

#define CTL_TIMEOUT_S 30
#define CTL_REPLY_MAX (256 * 1024 * 1024)

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

/* --- talking to the daemon ---------------------------------------------- */

/*
 * Sends the request object on a new connection to path and reads one
 * reply line into *reply (malloc'd).  Returns 0, or an exit status with
 * the reason printed.
 */
static int ask_line(const char *path, const char *line, char **reply);

static int
ask(const char *path, const json_t *request, char **reply)
{
	char *body = json_dumps(request, JSON_COMPACT), *req;
	int rc;

	if (body == NULL) {
		fprintf(stderr, "wirewatchctl: cannot encode the request\n");
		return EXIT_USAGE;
	}
	req = xasprintf("%s\n", body);
	rc = ask_line(path, req, reply);
	free(req);
	free(body);
	return rc;
}

/* Sends the request line req ('\n'-terminated), as ask() does. */
static int
ask_line(const char *path, const char *req, char **reply)
{
	struct timeval tv = { CTL_TIMEOUT_S, 0 };
	struct sockaddr_un sun;
	struct buf in = {0};
	char chunk[65536], *nl = NULL;
	ssize_t n;
	int fd, rc = EXIT_UNREACHABLE;

	*reply = NULL;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "wirewatchctl: socket path too long: %s\n", path);
		return EXIT_USAGE;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "wirewatchctl: socket: %s\n", strerror(errno));
		return EXIT_UNREACHABLE;
	}
	/* connect(2) on a unix socket waits for a full backlog up to SO_SNDTIMEO. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == EACCES || errno == EPERM) {
			fprintf(stderr, "wirewatchctl: %s: permission denied (the socket "
			    "file's mode or group)\n", path);
			rc = EXIT_REFUSED;
		} else {
			fprintf(stderr, "wirewatchctl: cannot reach wirewatchd at %s: %s "
			    "(is it running? -s names another socket)\n", path,
			    errno == EAGAIN ? "timed out" : strerror(errno));
		}
		goto out;
	}
	/* A refused client is answered without being read: read the answer. */
	(void)send(fd, req, strlen(req), MSG_NOSIGNAL);
	while (nl == NULL) {
		n = recv(fd, chunk, sizeof chunk, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(stderr, "wirewatchctl: %s: no reply within %d s\n", path,
			    CTL_TIMEOUT_S);
			goto out;
		}
		if (n <= 0 && in.len == 0) {
			fprintf(stderr, "wirewatchctl: %s: the daemon closed the connection "
			    "without a reply%s%s\n", path, n == -1 ? ": " : "",
			    n == -1 ? strerror(errno) : "");
			goto out;
		}
		if (n <= 0)
			break;
		buf_add(&in, chunk, (size_t)n);
		nl = memchr(in.s + in.len - n, '\n', (size_t)n);
		if (in.len > CTL_REPLY_MAX) {
			fprintf(stderr, "wirewatchctl: %s: reply longer than %d bytes\n",
			    path, CTL_REPLY_MAX);
			rc = EXIT_REFUSED;
			goto out;
		}
	}
	if (nl != NULL)
		*nl = '\0';
	*reply = buf_steal(&in);
	rc = 0;
out:
	buf_free(&in);
	close(fd);
	return rc;
}

/* --- printing ---------------------------------------------------------------- */

/*
 * s as one printable line: runs of white space become one space, control
 * characters (C0, DEL, and C1, which some terminals obey as escapes) '?'.
 */
static char *
clean(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	struct buf b = {0};
	int space = 0;

	for (; u != NULL && *u != '\0'; u++) {
		if (*u == ' ' || *u == '\t' || *u == '\n' || *u == '\r') {
			space = b.len > 0;
			continue;
		}
		if (space)
			buf_addc(&b, ' ');
		space = 0;
		if (*u == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) {
			buf_addc(&b, '?');
			u++;
		} else {
			buf_addc(&b, *u < 0x20 || *u == 0x7f ? '?' : (char)*u);
		}
	}
	return buf_steal(&b);
}

/* Columns on a terminal: UTF-8 characters, not bytes. */
static size_t
width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

struct table {
	size_t ncols;
	char **cells;          /* rows x ncols, the first row the header */
	size_t nrows;
};

static void
table_row(struct table *t, ...)
{
	va_list ap;
	size_t i;

	t->cells = xreallocarray(t->cells, (t->nrows + 1) * t->ncols, sizeof *t->cells);
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = clean(va_arg(ap, const char *));
	va_end(ap);
	t->nrows++;
}

/* Prints and frees t: columns padded to their widest cell, the last not. */
static void
table_print(struct table *t)
{
	size_t *w = xcalloc(t->ncols, sizeof *w), r, i, k, last;
	char **row;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++)
			if (width(t->cells[r * t->ncols + i]) > w[i])
				w[i] = width(t->cells[r * t->ncols + i]);
	for (r = 0; r < t->nrows; r++) {
		row = &t->cells[r * t->ncols];
		for (last = t->ncols; last > 1 && row[last - 1][0] == '\0'; last--)
			;
		for (i = 0; i < last; i++) {
			fputs(row[i], stdout);
			if (i + 1 < last)
				for (k = width(row[i]); k < w[i] + 2; k++)
					putchar(' ');
		}
		putchar('\n');
	}
	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
	free(w);
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static long long
num(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* 90 -> "1m30s", 3600 -> "1h", 0 -> "0s". */
static void
duration(long long s, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	if (s >= 86400)
		n += (size_t)snprintf(out + n, len - n, "%lldd", s / 86400);
	if (s % 86400 >= 3600 && n < len)
		n += (size_t)snprintf(out + n, len - n, "%lldh", s % 86400 / 3600);
	if (s % 3600 >= 60 && n < len)
		n += (size_t)snprintf(out + n, len - n, "%lldm", s % 3600 / 60);
	if ((s % 60 != 0 || s == 0) && n < len)
		snprintf(out + n, len - n, "%llds", s % 60);
}

/* Several instances on one Redis: the live ones, from the last heartbeat. */
static void
print_cluster(const json_t *c)
{
	struct table t = { 5, NULL, 0 };
	char pid[32], feeds[32], beat[32];
	const json_t *m;
	size_t i;

	if (!json_is_object(c)) {
		printf("leases        off (every instance polls every feed)\n");
		return;
	}
	printf("leases        %lld held here (lease %llds), %zu live instance%s\n",
	    num(c, "leases_held"), num(c, "lease_s"),
	    json_array_size(json_object_get(c, "instances")),
	    json_array_size(json_object_get(c, "instances")) == 1 ? "" : "s");
	table_row(&t, "  INSTANCE", "HOST", "PID", "FEEDS", "HEARTBEAT");
	json_array_foreach(json_object_get(c, "instances"), i, m) {
		char name[80];

		snprintf(name, sizeof name, "  %s", str(m, "name"));
		snprintf(pid, sizeof pid, "%lld", num(m, "pid"));
		snprintf(feeds, sizeof feeds, "%lld", num(m, "feeds"));
		snprintf(beat, sizeof beat, "%.1fs ago", (double)num(m, "heartbeat_ms_ago") / 1000);
		table_row(&t, name, str(m, "host"), pid, feeds, beat);
	}
	table_print(&t);
}

static void
print_status(const json_t *r)
{
	char up[64], *v;

	duration(num(r, "uptime"), up, sizeof up);
	printf("version       %s (pid %lld)\n", v = clean(str(r, "version")),
	    num(r, "pid"));
	free(v);
	printf("instance      %s\n", v = clean(str(r, "instance")));
	free(v);
	printf("uptime        %s (since %s)\n", up, str(r, "started"));
	printf("config        %s (revision %lld)\n", v = clean(str(r, "config")),
	    num(r, "config_revision"));
	free(v);
	printf("redis         %s (%s)\n", str(r, "redis"), v = clean(str(r, "redis_address")));
	free(v);
	printf("feeds         %lld: %lld ok, %lld failing, %lld never polled\n",
	    num(r, "feeds"), num(r, "feeds_ok"), num(r, "feeds_failing"),
	    num(r, "feeds_never"));
	printf("watchlists    %lld\n", num(r, "watchlists"));
	printf("sinks         %lld\n", num(r, "sinks"));
	printf("outbox        %lld in flight", num(r, "outbox_in_flight"));
	if (json_is_integer(json_object_get(r, "outbox_depth")))
		printf(", %lld waiting (%lld queued, %lld being delivered, %lld for a "
		    "retry)", num(r, "outbox_depth"), num(r, "outbox_queued"),
		    num(r, "outbox_pending"), num(r, "outbox_retry"));
	printf("\n");
	printf("dead letters  %lld since start", num(r, "dead_letters"));
	if (json_is_integer(json_object_get(r, "dead_letters_total")))
		printf(", %lld kept in all", num(r, "dead_letters_total"));
	printf("\n");
	if (json_is_integer(json_object_get(r, "alerts_today")))
		printf("alerts today  %lld (UTC day, every instance)\n", num(r, "alerts_today"));
	if (json_is_integer(json_object_get(r, "recent_items"))) {
		duration(num(r, "keep_items"), up, sizeof up);
		printf("recent items  %lld kept (keep-items %s)\n", num(r, "recent_items"), up);
	}
	if (json_string_value(json_object_get(r, "redis_error")) != NULL) {
		v = clean(str(r, "redis_error"));
		printf("redis error   %s\n", v);
		free(v);
	}
	print_cluster(json_object_get(r, "cluster"));
	if (json_is_true(json_object_get(r, "stopping")))
		printf("state         stopping\n");
}

static void
print_feeds(const json_t *r)
{
	struct table t = { 8, NULL, 0 };
	char fails[32], items[32], every[64];
	const json_t *f;
	size_t i;

	table_row(&t, "NAME", "STATE", "LAST SUCCESS", "FAILS", "ITEMS", "INTERVAL",
	    "URL", "LAST ERROR");
	json_array_foreach(json_object_get(r, "feeds"), i, f) {
		snprintf(fails, sizeof fails, "%lld", num(f, "consecutive_failures"));
		snprintf(items, sizeof items, "%lld", num(f, "items_seen"));
		duration(num(f, "current_interval"), every, sizeof every);
		table_row(&t, str(f, "name"), str(f, "state"), str(f, "last_success"),
		    fails, items, every, str(f, "url"),
		    json_string_value(json_object_get(f, "last_error")));
	}
	table_print(&t);
}

static void
print_watchlists(const json_t *r)
{
	struct table t = { 4, NULL, 0 };
	struct buf sinks = {0};
	const json_t *w, *s;
	size_t i, j;

	table_row(&t, "NAME", "ORIGIN", "SINKS", "QUERY");
	json_array_foreach(json_object_get(r, "watchlists"), i, w) {
		buf_reset(&sinks);
		json_array_foreach(json_object_get(w, "sinks"), j, s) {
			if (j > 0)
				buf_addc(&sinks, ',');
			buf_adds(&sinks, json_string_value(s) ? json_string_value(s) : "?");
		}
		table_row(&t, str(w, "name"), str(w, "origin"), sinks.s ? sinks.s : "",
		    str(w, "query"));
	}
	buf_free(&sinks);
	table_print(&t);
}

static void
print_sinks(const json_t *r)
{
	struct table t = { 3, NULL, 0 };
	const json_t *s;
	size_t i;

	table_row(&t, "NAME", "TYPE", "URL");
	json_array_foreach(json_object_get(r, "sinks"), i, s)
		table_row(&t, str(s, "name"), str(s, "type"), str(s, "url"));
	table_print(&t);
}

/* "+2 -1 ~0 (added: a, b; removed: c; changed: -)" for one kind. */
static void
print_change(const char *kind, const json_t *d)
{
	static const char *const parts[] = { "added", "removed", "changed" };
	const json_t *a, *v;
	char *c;
	size_t i, j;

	printf("%-11s", kind);
	for (i = 0; i < 3; i++) {
		a = json_object_get(d, parts[i]);
		printf("  %s %zu", parts[i], json_array_size(a));
		json_array_foreach(a, j, v) {
			c = clean(json_string_value(v) ? json_string_value(v) : "?");
			printf("%s%s", j == 0 ? " (" : ", ", c);
			free(c);
		}
		if (json_array_size(a) > 0)
			putchar(')');
	}
	putchar('\n');
}

static void
print_reload(const json_t *r)
{
	const char *restart = json_string_value(json_object_get(r, "needs_restart"));

	printf("reloaded: configuration revision %lld\n", num(r, "revision"));
	print_change("feeds", json_object_get(r, "feeds"));
	print_change("watchlists", json_object_get(r, "watchlists"));
	print_change("sinks", json_object_get(r, "sinks"));
	if (restart != NULL)
		printf("not applied, needs a restart: [daemon] %s\n", restart);
}

/* 'watchlist "NAME" added (run-time revision N)' */
static void
print_changed(const json_t *r, const char *kind, const char *done)
{
	char *n = clean(str(r, "name"));

	printf("%s \"%s\" %s (run-time revision %lld)\n", kind, n, done,
	    num(r, "revision"));
	free(n);
}

static void
print_watchlist_add(const json_t *r)
{
	const json_t *b = json_object_get(r, "backfill");

	print_changed(r, "watchlist", "added");
	if (b != NULL)
		printf("backfill: %lld kept items, %lld matching, %lld alerted now "
		    "(%lld alerts), %lld had alerted before\n", num(b, "items"),
		    num(b, "matched"), num(b, "queued"), num(b, "alerts"),
		    num(b, "skipped"));
}

static void
print_watchlist_remove(const json_t *r)
{
	print_changed(r, "watchlist", "removed");
}

static void
print_feed_add(const json_t *r)
{
	print_changed(r, "feed", "added");
}

static void
print_feed_remove(const json_t *r)
{
	print_changed(r, "feed", "removed");
}

static void
print_watchlist_show(const json_t *r)
{
	const json_t *w = json_object_get(r, "watchlist"), *s;
	struct buf sinks = {0};
	char *v;
	size_t i;

	json_array_foreach(json_object_get(w, "sinks"), i, s) {
		if (i > 0)
			buf_addc(&sinks, ',');
		buf_adds(&sinks, json_string_value(s) ? json_string_value(s) : "?");
	}
	printf("name        %s\n", v = clean(str(w, "name")));
	free(v);
	printf("query       %s\n", v = clean(str(w, "query")));
	free(v);
	printf("sinks       %s\n", v = clean(sinks.s ? sinks.s : ""));
	free(v);
	printf("origin      %s\n", str(w, "origin"));
	if (json_object_get(w, "added") != NULL) {
		printf("added       %s by %s\n", str(w, "added"), v = clean(str(w, "added_by")));
		free(v);
	}
	printf("alerts      %lld since the daemon started\n", num(w, "alerts"));
	printf("last alert  %s\n", str(w, "last_alert"));
	buf_free(&sinks);
}

static void
print_watchlist_export(const json_t *r)
{
	fputs(str(r, "text"), stdout);
}

static void
print_ping(const json_t *r)
{
	char *v = clean(str(r, "version"));

	printf("pong from wirewatchd %s\n", v);
	free(v);
}

/*
 * The daemon's verbs: the words on the command line, the command sent,
 * the printer, the usage (also --help) and the positional arguments it
 * takes (names of request members, in order).  wirewatchctl.c's verb
 * list points here for its usage lines.
 */
static const struct remote {
	const char *verb;
	const char *sub;        /* second word, or NULL */
	const char *cmd;
	void (*print)(const json_t *);
	const char *usage;
	const char *args[3];
	const char *help;
} remote[] = {
	{ "ping", NULL, "ping", print_ping, "ping", { NULL },
	  "is the daemon there" },
	{ "status", NULL, "status", print_status, "status", { NULL },
	  "version, uptime, config revision, Redis, feed health, outbox" },
	{ "feeds", NULL, "feeds", print_feeds, "feeds", { NULL },
	  "every feed (config and run-time): state, last success, last error" },
	{ "watchlists", NULL, "watchlists", print_watchlists, "watchlists", { NULL },
	  "every watchlist: origin (config or runtime), sinks, query" },
	{ "sinks", NULL, "sinks", print_sinks, "sinks", { NULL },
	  "every sink: type and masked URL" },
	{ "reload", NULL, "reload", print_reload, "reload", { NULL },
	  "read the config file again and apply it; on any error the running "
	  "config stays and the error is printed (exit 1)" },
	{ "watchlist", "add", "watchlist.add", print_watchlist_add,
	  "watchlist add NAME QUERY --sinks SINK[,SINK...] [--replace] [--backfill D]",
	  { "name", "query", NULL },
	  "add a run-time watchlist: kept in Redis, applied by every daemon on "
	  "it, kept across restarts; an existing name needs --replace; "
	  "--backfill D also alerts on the recent items of the last D that "
	  "match (each item once per watchlist name, also when added again)" },
	{ "watchlist", "remove", "watchlist.remove", print_watchlist_remove,
	  "watchlist remove NAME", { "name", NULL },
	  "remove a run-time watchlist (config file entries: edit and reload)" },
	{ "watchlist", "show", "watchlist.show", print_watchlist_show,
	  "watchlist show NAME", { "name", NULL },
	  "one watchlist: query, sinks, origin, alerts sent, last alert" },
	{ "watchlist", "export", "watchlist.export", print_watchlist_export,
	  "watchlist export", { NULL },
	  "the run-time watchlists as config text, for version control" },
	/* Listed here for help; run by ctl_items.c (ctl_watchlist_main). */
	{ "watchlist", "test", NULL, NULL, "watchlist test QUERY [--since D]",
	  { "query", NULL },
	  "run a query over the recent items the daemon keeps: the hits, "
	  "explained; sends nothing" },
	{ "feed", "add", "feed.add", print_feed_add,
	  "feed add NAME URL [--interval D] [--replace]", { "name", "url", NULL },
	  "add a run-time feed (http or https; interval default 5m): kept in "
	  "Redis, polled by every daemon on it" },
	{ "feed", "remove", "feed.remove", print_feed_remove,
	  "feed remove NAME", { "name", NULL },
	  "remove a run-time feed (its poll in flight is cancelled)" },
};

#define NREMOTE (sizeof remote / sizeof remote[0])

void
ctl_remote_usage(FILE *f, const char *verb)
{
	size_t i;

	for (i = 0; i < NREMOTE; i++)
		if (verb == NULL || strcmp(remote[i].verb, verb) == 0)
			fprintf(f, "       wirewatchctl [-s SOCKET] [--json] %s\n",
			    remote[i].usage);
}

static void
verb_help(const char *verb)
{
	size_t i;

	for (i = 0; i < NREMOTE; i++)
		if (strcmp(remote[i].verb, verb) == 0)
			printf("usage: wirewatchctl [-s SOCKET] [--json] %s\n    %s\n",
			    remote[i].usage, remote[i].help);
	printf("\n  -s, --socket PATH  the control socket (default %s)\n"
	    "      --json         print the daemon's reply object as it came\n"
	    "exit: 0 ok, 1 the daemon refused or failed, 2 usage, 3 no daemon\n",
	    CONTROL_DEFAULT_PATH);
}

/* --- the verbs ------------------------------------------------------------------ */

int
ctl_remote_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "sinks", required_argument, NULL, 'S' },
		{ "replace", no_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "backfill", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = CONTROL_DEFAULT_PATH, *verb = argv[0], *sinks = NULL,
	    *interval = NULL, *backfill = NULL;
	const struct remote *rv = NULL;
	char *text, *msg;
	json_error_t jerr;
	json_t *r, *req;
	int ch, json = 0, rc, replace = 0, npos, k;
	size_t i;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'S': sinks = optarg; break;
		case 'r': replace = 1; break;
		case 'i': interval = optarg; break;
		case 'b': backfill = optarg; break;
		case 'h':
			verb_help(verb);
			return 0;
		default: goto usage;
		}
	}
	for (i = 0; i < NREMOTE && rv == NULL; i++) {
		if (strcmp(remote[i].verb, verb) != 0)
			continue;
		if (remote[i].cmd != NULL && (remote[i].sub == NULL ||
		    (optind < argc && strcmp(remote[i].sub, argv[optind]) == 0)))
			rv = &remote[i];
	}
	if (rv == NULL)
		goto usage;
	if (rv->sub != NULL)
		optind++;
	for (npos = 0; rv->args[npos] != NULL; npos++)
		;
	if (argc - optind != npos)
		goto usage;
	if ((sinks != NULL) != (strcmp(rv->cmd, "watchlist.add") == 0) ||
	    (backfill != NULL && strcmp(rv->cmd, "watchlist.add") != 0) ||
	    (interval != NULL && strcmp(rv->cmd, "feed.add") != 0) ||
	    (replace && strcmp(rv->cmd, "watchlist.add") != 0 &&
	    strcmp(rv->cmd, "feed.add") != 0))
		goto usage;
	req = json_object();
	json_object_set_new(req, "v", json_integer(CONTROL_VERSION));
	json_object_set_new(req, "cmd", json_string(rv->cmd));
	for (k = 0; k < npos; k++)
		json_object_set_new(req, rv->args[k], json_string(argv[optind + k]));
	if (sinks != NULL)
		json_object_set_new(req, "sinks", json_string(sinks));
	if (interval != NULL)
		json_object_set_new(req, "interval", json_string(interval));
	if (backfill != NULL)
		json_object_set_new(req, "backfill", json_string(backfill));
	if (replace)
		json_object_set_new(req, "replace", json_true());
	rc = ask(path, req, &text);
	json_decref(req);
	if (rc != 0)
		return rc;
	if ((r = json_loads(text, 0, &jerr)) == NULL || !json_is_object(r)) {
		fprintf(stderr, "wirewatchctl: %s: not a reply: %s\n", path,
		    r == NULL ? jerr.text : "not a JSON object");
		json_decref(r);
		free(text);
		return EXIT_REFUSED;
	}
	rc = json_is_true(json_object_get(r, "ok")) ? 0 : EXIT_REFUSED;
	if (json)
		printf("%s\n", text);
	else if (rc == 0)
		rv->print(r);
	if (rc != 0) {
		msg = clean(str(r, "error"));
		fprintf(stderr, "wirewatchctl: %s%s%s: %s\n", verb, rv->sub ? " " : "",
		    rv->sub ? rv->sub : "", msg);
		free(msg);
	}
	json_decref(r);
	free(text);
	return rc;
usage:
	fprintf(stderr, "usage:\n");
	ctl_remote_usage(stderr, verb);
	return EXIT_USAGE;
}

/* --- for the other remote verbs (ctl_items.c) ------------------------------ */

int
ctl_remote_ask(const char *path, json_t *req, json_t **reply, char **text)
{
	json_error_t jerr;
	char *line, *body;
	int rc;

	*reply = NULL;
	*text = NULL;
	json_object_set_new(req, "v", json_integer(CONTROL_VERSION));
	if ((body = json_dumps(req, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "wirewatchctl: cannot encode the request\n");
		return EXIT_USAGE;
	}
	line = xasprintf("%s\n", body);
	free(body);
	rc = ask_line(path, line, text);
	free(line);
	if (rc != 0)
		return rc;
	if ((*reply = json_loads(*text, 0, &jerr)) == NULL || !json_is_object(*reply)) {
		fprintf(stderr, "wirewatchctl: %s: not a reply: %s\n", path,
		    *reply == NULL ? jerr.text : "not a JSON object");
		json_decref(*reply);
		*reply = NULL;
		free(*text);
		*text = NULL;
		return EXIT_REFUSED;
	}
	return 0;
}

char *
ctl_clean(const char *s)
{
	return clean(s);
}
