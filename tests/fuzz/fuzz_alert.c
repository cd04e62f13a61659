/*
 * fuzz_alert.c - libFuzzer target: an item of arbitrary bytes (invalid
 * UTF-8 included, unrepaired: the alert module is the last line of
 * defence) matched by real watchlists, built into alerts and rendered by
 * sinkfmt for every sink type, alone and as a digest.  Every alert must
 * serialize; every rendering must succeed, be valid UTF-8 and, for the
 * JSON formats, parse back.
 *
 * Input: fields separated by NUL bytes, in the order title, summary,
 * content, link, id, author, category.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wirewatch/alert.h"
#include "wirewatch/config.h"
#include "wirewatch/feed.h"
#include "wirewatch/match.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct entity_set *ents;
static struct matcher *m;

static void
setup(void)
{
	static const char *queries[] = {
		"a OR e OR o OR i OR u", "\"the war\" OR kim NEAR/5 russia",
		"tr* AND NOT z", "/[a-z]+ing/ OR title:x OR category:y", NULL
	};
	char dir[] = "/tmp/ww-fuzz-alert-XXXXXX", err[WW_ERRLEN];
	int i;

	if (mkdtemp(dir) == NULL)
		abort();
	if ((ents = entity_set_load(dir, err, sizeof err)) == NULL) {
		fprintf(stderr, "fuzz_alert: %s\n", err);
		abort();
	}
	rmdir(dir);
	m = matcher_new(ents);
	for (i = 0; queries[i] != NULL; i++)
		if (matcher_add(m, "w", queries[i], err, sizeof err) < 0) {
			fprintf(stderr, "fuzz_alert: %s: %s\n", queries[i], err);
			abort();
		}
}

static void
check_body(const char *body, size_t len, int is_json)
{
	json_error_t jerr;
	json_t *back;

	if (body == NULL || !util_utf8_valid(body, len))
		abort();
	if (!is_json)
		return;
	if ((back = json_loadb(body, len, 0, &jerr)) == NULL)
		abort();
	json_decref(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *fields[7] = { NULL }, *copy, *p, *end, err[256], id[ALERT_IDLEN];
	struct match_result res = {0};
	struct feed_entry e;
	struct match_doc md;
	struct sinkfmt_request req;
	struct sinkfmt_opts opts;
	json_t *alerts[4];
	enum sinkfmt_type t;
	char *body, *rendered;
	size_t i, n;

	if (m == NULL)
		setup();
	copy = xmalloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	for (i = 0, p = copy, end = copy + len; i < 7 && p <= end; i++) {
		fields[i] = p;
		p += strlen(p) + 1;
	}
	memset(&e, 0, sizeof e);
	e.title = fields[0];
	e.summary = fields[1];
	e.content = fields[2];
	e.link = fields[3];
	e.id = fields[4];
	e.author = fields[5];
	e.published = len & 1 ? FEED_NO_TIME : (time_t)len * 86400;
	e.updated = FEED_NO_TIME;
	memset(&md, 0, sizeof md);
	md.title = e.title;
	md.summary = e.summary;
	md.content = e.content;
	md.author = e.author;
	md.category = fields[6];
	md.feed = "fuzz";
	matcher_run(m, &md, &res);
	opts.chat_id = "-1001234567890";
	for (i = 0; i < res.nhits && i < 4; i++) {
		alert_make_id(e.id ? e.id : "", res.hits[i].name, "s", id);
		alerts[i] = alert_new("fuzz", &e, "0123456789abcdef0123456789abcdef",
		    &res.hits[i], id);
		body = json_dumps(alerts[i], JSON_COMPACT);
		check_body(body, body ? strlen(body) : 0, 1);
		/*
		 * What the daemon stores: the same bytes, written directly
		 * (undated items say "now", which may tick between the two).
		 */
		rendered = alert_render("fuzz", &e, "0123456789abcdef0123456789abcdef",
		    &res.hits[i], id);
		if (body == NULL || (e.published != FEED_NO_TIME && strcmp(body, rendered) != 0)) {
			fprintf(stderr, "fuzz_alert: alert_render differs:\n%s\n%s\n",
			    body ? body : "(null)", rendered);
			abort();
		}
		free(rendered);
		free(body);
	}
	for (t = SINKFMT_CONSOLE; t <= SINKFMT_NTFY && i > 0; t++) {
		for (n = 1; n <= i; n += i > 1 ? i - 1 : 1) {
			memset(&req, 0, sizeof req);
			if (sinkfmt_render(t, &opts, (const json_t *const *)alerts, n,
			    &req, err, sizeof err) != 0) {
				fprintf(stderr, "fuzz_alert: %s: %s\n",
				    sinkfmt_type_name(t), err);
				abort();
			}
			check_body(req.body, req.len, t != SINKFMT_NTFY &&
			    !(t == SINKFMT_CONSOLE && n > 1));
			sinkfmt_request_free(&req);
		}
	}
	for (n = 0; n < i; n++)
		json_decref(alerts[n]);
	match_result_free(&res);
	free(copy);
	return 0;
}
