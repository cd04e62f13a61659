/*
 * outbox_thread.c - story threads on Telegram: a story's updates go to a
 * telegram sink as replies to the message of its first alert there
 * (reply_parameters).  After that first alert is delivered, its
 * message_id goes on the story record as field tg:<sink> (ww_story_msg);
 * before an update goes out, the lane looks it up (HGET) and waits for
 * the answer, or for the attempt in flight that may be the first alert.
 * An id that is not known makes a plain message, never a longer wait.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <jansson.h>

#include "wirewatch/config.h"
#include "wirewatch/keys.h"
#include "wirewatch/log.h"
#include "wirewatch/sink.h"
#include "wirewatch/sinkfmt.h"
#include "wirewatch/store.h"
#include "wirewatch/util.h"

#include "outbox_internal.h"

/* --- story threads on telegram ------------------------------------------ */

/*
 * The story id of alert json when it goes to a telegram sink, or NULL;
 * *update: it is a later item's update (else the story's first alert).
 */
static char *
tg_story(const struct cfg_sink *sink, const char *json, int *update)
{
	json_t *a, *id;
	char *out = NULL;

	if (sink == NULL || sink->format != SINKFMT_TELEGRAM ||
	    (a = json_loads(json, 0, NULL)) == NULL)
		return NULL;
	id = json_object_get(json_object_get(a, "story"), "id");
	if (json_is_string(id)) {
		out = xstrdup(json_string_value(id));
		*update = json_is_true(json_object_get(a, "update"));
	}
	json_decref(a);
	return out;
}

static void
outbox_tg_noted_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct outbox *ob = arg;

	(void)reply;
	ob->acks--;
	if (error != NULL)
		log_info("outbox: a telegram message id was not recorded (%s); "
		    "the story's updates go out as plain messages", error);
	outbox_check_idle(ob);
}

/*
 * A story's first alert went out to a telegram sink: its message_id goes
 * on the story record (field tg:<sink>, ww_story_msg) for the updates to
 * reply to.
 */
void
outbox_tg_note(struct outbox *ob, const struct cfg_sink *sink,
    const struct entry *e, const struct sink_result *r)
{
	const char *argv[7];
	char *story, *key, *fld, mid[32];
	long long n;
	int update = 0;

	if ((story = tg_story(sink, e->json, &update)) == NULL)
		return;
	if (!update && (n = sinkfmt_telegram_message_id(r->resp,
	    r->resp_len)) > 0) {
		key = keys_name(ob->cfg->prefix, KEY_STORY, story, NULL);
		fld = xasprintf("tg:%s", e->sink_name);
		snprintf(mid, sizeof mid, "%lld", n);
		argv[0] = "FCALL";
		argv[1] = "ww_story_msg";
		argv[2] = "1";
		argv[3] = key;
		argv[4] = fld;
		argv[5] = mid;
		ob->acks++;
		store_command(ob->store, outbox_tg_noted_cb, ob, 6, argv);
		free(key);
		free(fld);
	}
	free(story);
}

struct tg_req {
	struct lane *lane;
	char sid[SID_MAX];
};

static void
outbox_tg_looked_up_cb(const struct store_reply *reply, const char *error, void *arg)
{
	struct tg_req *q = arg;
	struct lane *l = q->lane;
	struct outbox *ob = l->ob;
	struct entry *e = TAILQ_FIRST(&l->queue);

	ob->acks--;
	l->sending--;
	l->resolving = 0;
	if (e != NULL && strcmp(e->sid, q->sid) == 0) {
		if (error == NULL && store_reply_type(reply) == STORE_STRING)
			e->reply_to = strtoll(store_reply_str(reply, NULL), NULL,
			    10);
		if (e->reply_to <= 0) {
			e->reply_to = 0;
			log_debug("outbox: %s: the story's first message is not "
			    "known%s%s; sent as a plain message", e->label,
			    error != NULL ? ": " : "", error != NULL ? error : "");
		}
	}
	free(q);
	if (l->pumping)
		/* answered at once (Redis is away): outbox_lane_pump goes on */
		return;
	if (l->retired) {
		outbox_lane_retire_done(l);
		outbox_check_idle(ob);
		return;
	}
	outbox_lane_pump(l);
	outbox_lane_settle(l);
	outbox_check_idle(ob);
}

/*
 * Before a story update goes to a telegram sink: the message id of the
 * story's first alert there (HGET of tg:<sink> on the story record), so
 * that the update is a reply to it.  Returns 1 when the lane must wait:
 * for the lookup, or for the attempt in flight (which may be that first
 * alert); never longer, an unknown id makes a plain message.
 */
int
outbox_tg_lookup(struct lane *l, struct entry *e)
{
	struct outbox *ob = l->ob;
	const char *argv[3];
	struct tg_req *q;
	char *story, *key, *fld;
	int update = 0;

	if (e->reply_checked)
		return 0;
	if ((story = tg_story(l->sink, e->json, &update)) == NULL || !update) {
		e->reply_checked = 1;
		free(story);
		return 0;
	}
	if (l->sending > 0) {
		free(story);
		return 1;
	}
	e->reply_checked = 1;
	key = keys_name(ob->cfg->prefix, KEY_STORY, story, NULL);
	fld = xasprintf("tg:%s", l->sink->name);
	argv[0] = "HGET";
	argv[1] = key;
	argv[2] = fld;
	q = xmalloc(sizeof *q);
	q->lane = l;
	snprintf(q->sid, sizeof q->sid, "%s", e->sid);
	l->resolving = 1;
	l->sending++;
	ob->acks++;
	store_command(ob->store, outbox_tg_looked_up_cb, q, 3, argv);
	free(key);
	free(fld);
	free(story);
	return l->resolving; /* 0: answered already */
}
