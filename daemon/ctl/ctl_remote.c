/*
 * ctl_remote.c - the wirewatchctl verbs that ask the running daemon, over
 * its control socket (docs/control.md): ping, status, feeds, watchlists,
 * sinks.
 *
 *   wirewatchctl [-s SOCKET] [--json] VERB
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
 * Sends {"v":1,"cmd":verb} on a new connection to path and reads one
 * reply line into *reply (malloc'd).  Returns 0, or an exit status with
 * the reason printed.
 */
static int
ask(const char *path, const char *verb, char **reply)
{
	struct timeval tv = { CTL_TIMEOUT_S, 0 };
	struct sockaddr_un sun;
	struct buf in = {0};
	char *req, chunk[65536], *nl = NULL;
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
	req = xasprintf("{\"v\":%d,\"cmd\":\"%s\"}\n", CONTROL_VERSION, verb);
	/* A refused client is answered without being read: read the answer. */
	(void)send(fd, req, strlen(req), MSG_NOSIGNAL);
	free(req);
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
	printf("config        %s\n", v = clean(str(r, "config")));
	free(v);
	printf("redis         %s (%s)\n", str(r, "redis"), v = clean(str(r, "redis_address")));
	free(v);
	printf("feeds         %lld: %lld ok, %lld failing, %lld never polled\n",
	    num(r, "feeds"), num(r, "feeds_ok"), num(r, "feeds_failing"),
	    num(r, "feeds_never"));
	printf("watchlists    %lld\n", num(r, "watchlists"));
	printf("sinks         %lld\n", num(r, "sinks"));
	printf("outbox        %lld in flight\n", num(r, "outbox_in_flight"));
	printf("dead letters  %lld since start\n", num(r, "dead_letters"));
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
	struct table t = { 3, NULL, 0 };
	struct buf sinks = {0};
	const json_t *w, *s;
	size_t i, j;

	table_row(&t, "NAME", "SINKS", "QUERY");
	json_array_foreach(json_object_get(r, "watchlists"), i, w) {
		buf_reset(&sinks);
		json_array_foreach(json_object_get(w, "sinks"), j, s) {
			if (j > 0)
				buf_addc(&sinks, ',');
			buf_adds(&sinks, json_string_value(s) ? json_string_value(s) : "?");
		}
		table_row(&t, str(w, "name"), sinks.s ? sinks.s : "", str(w, "query"));
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

static void
print_ping(const json_t *r)
{
	char *v = clean(str(r, "version"));

	printf("pong from wirewatchd %s\n", v);
	free(v);
}

static const struct {
	const char *verb;
	void (*print)(const json_t *);
} remote[] = {
	{ "ping", print_ping },
	{ "status", print_status },
	{ "feeds", print_feeds },
	{ "watchlists", print_watchlists },
	{ "sinks", print_sinks },
};

/* --- the verbs ------------------------------------------------------------------ */

int
ctl_remote_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = CONTROL_DEFAULT_PATH, *verb = argv[0];
	void (*print)(const json_t *) = NULL;
	char *text, *msg;
	json_error_t jerr;
	json_t *r;
	int ch, json = 0, rc;
	size_t i;

	for (i = 0; i < sizeof remote / sizeof remote[0]; i++)
		if (strcmp(remote[i].verb, verb) == 0)
			print = remote[i].print;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			printf("usage: wirewatchctl [-s SOCKET] [--json] %s\n", verb);
			return 0;
		default: goto usage;
		}
	}
	if (print == NULL || optind != argc)
		goto usage;
	if ((rc = ask(path, verb, &text)) != 0)
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
		print(r);
	if (rc != 0) {
		msg = clean(str(r, "error"));
		fprintf(stderr, "wirewatchctl: %s: %s\n", verb, msg);
		free(msg);
	}
	json_decref(r);
	free(text);
	return rc;
usage:
	fprintf(stderr, "usage: wirewatchctl [-s SOCKET] [--json] %s\n", verb);
	return EXIT_USAGE;
}
