"""Issue 13: one story, one alert.  The two seed articles (QNA and
Devdiscourse, one event) as two feeds, both polled by the real daemon: a
watchlist both match sends one message, and the second outlet arrives as
the story's update, as each sink's story-updates says."""
import json
import os

import chat_receivers
import harness
from harness import DD_ID, QNA_ID, Q_UKRAINE, Env, check, run_daemon, scenario

STORY = {"group": "story"}  # the default, said explicitly (the harness defaults to item)
STORIES = os.path.join(harness.ROOT, "tests", "data", "stories")


def data(name):
    with open(os.path.join(STORIES, name), "rb") as f:
        return f.read()


def seed_feeds(e):
    e.http.routes["/qna.rss"] = data("seed-qna.rss")
    e.http.routes["/dd.rss"] = data("seed-devdiscourse.rss")
    return [("qna", e.http.url("/qna.rss")), ("devdiscourse", e.http.url("/dd.rss"))]


def both_polled(e):
    check(e.http.hits("/qna.rss") and e.http.hits("/dd.rss"), "not both seed feeds were fetched")


def seeds_once(ctx, e, conf, rx, name):
    """--once over the seed feeds: exit 0, both fetched, nothing refused by
    rx (a receiver named name); returns the messages rx accepted."""
    r = run_daemon(ctx, conf)
    check(r.rc == 0, "--once exit %s: %s" % (r.rc, r.tail()))
    both_polled(e)
    check(not rx.rejected, "%s refused: %s" % (name, [x.get("reason") for x in rx.rejected]))
    return rx.messages


@scenario("stories", "webhook")
def seeds_one_alert_and_an_update_webhook(ctx):
    """Webhook: one "alert" for the story, one "alert.update" with the same
    story id naming both outlets; the treaty watchlist (QNA only) is its
    own first alert."""
    with Env(ctx, webhook=True) as e:
        conf = e.conf(feeds=seed_feeds(e),
                      watchlists=[("ukraine", Q_UKRAINE, ["hook"], STORY),
                                  ("treaty", harness.Q_TREATY, ["hook"], STORY)],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url("/hook")})])
        r = run_daemon(ctx, conf)
        check(r.rc == 0, "--once exit %s: %s" % (r.rc, r.tail()))
        both_polled(e)
        posts = [p["json"] for p in e.hook.posts if 200 <= p["status"] < 300]
        kinds = sorted((p["type"], p["data"]["watchlist"]) for p in posts)
        check(kinds == [("alert", "treaty"), ("alert", "ukraine"), ("alert.update", "ukraine")],
              "want alert treaty, alert ukraine, alert.update ukraine; got %s" % kinds)
        first = [p["data"] for p in posts if p["type"] == "alert" and p["data"]["watchlist"] == "ukraine"][0]
        upd = [p["data"] for p in posts if p["type"] == "alert.update"][0]
        treaty = [p["data"] for p in posts if p["data"]["watchlist"] == "treaty"][0]
        for a in (first, upd, treaty):
            check(isinstance(a.get("story"), dict) and len(a["story"].get("id", "")) == 16,
                  "alert without a story id: %r" % a.get("story"))
        check(first["story"]["id"] == upd["story"]["id"] == treaty["story"]["id"],
              "the seeds got different story ids: %s %s %s" % (
                  first["story"]["id"], upd["story"]["id"], treaty["story"]["id"]))
        check(upd.get("update") is True, "the update lacks update: true")
        check(first["link"] != upd["link"] and {first["link"], upd["link"]} == {QNA_ID, DD_ID},
              "first alert and update should be the two seed articles: %s / %s" % (first["link"], upd["link"]))
        srcs = upd["story"]["sources"]
        check(sorted(s["feed"] for s in srcs) == ["devdiscourse", "qna"],
              "the update's sources should name both outlets: %r" % srcs)
        check(all(set(s) >= {"feed", "title", "link", "published"} for s in srcs),
              "a source lacks feed/title/link/published: %r" % srcs)
        check([s["link"] for s in first["story"]["sources"]] == [first["link"]],
              "the first alert's sources should be itself: %r" % first["story"]["sources"])
        check(upd["title"].startswith("Also reported by "), "update title %r" % upd["title"])
        # Redis: day-bucketed signature hashes and the story record, all with a TTL
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in e.redis.keys("ww:story:*"))
        check(any(k.startswith("ww:story:b:") for k in keys) and any(k.startswith("ww:story:s:") for k in keys)
              and "ww:story:r:" + first["story"]["id"] in keys, "story keys in Redis: %s" % keys)
        for k in keys:
            ttl = e.redis.cmd("TTL", k)
            check(isinstance(ttl, int) and 0 < ttl <= 3 * 86400, "%s has TTL %r, want (0, 3d]" % (k, ttl))
        ctx.log("story record (2 sources, 2 watchlists): %s bytes" %
                e.redis.cmd("MEMORY", "USAGE", "ww:story:r:" + first["story"]["id"]))
        # a second run over the same feeds: nothing new, nothing sent
        n = len(e.hook.posts)
        r = run_daemon(ctx, conf)
        check(r.rc == 0 and len(e.hook.posts) == n, "second run sent %d more POSTs" % (len(e.hook.posts) - n))


@scenario("stories", "sinks")
def seeds_one_chat_message_in_a_thread_google_chat(ctx):
    """Google Chat: one message opens the story's thread (threadKey = story
    id), the second outlet is a reply in that thread, not a new alert."""
    with Env(ctx) as e:
        with chat_receivers.RECEIVERS["google-chat"](allowed_links={QNA_ID, DD_ID}) as rx:
            conf = e.conf(feeds=seed_feeds(e), watchlists=[("ukraine", Q_UKRAINE, ["gchat"], STORY)],
                          sinks=[("gchat", {"type": "google-chat", "url": rx.url()})])
            msgs = seeds_once(ctx, e, conf, rx, "google-chat")
            check(len(msgs) == 2, "want 2 messages (the alert and its thread reply), got %d" % len(msgs))
            keys = [m["query"].get("threadKey") for m in msgs]
            keys = [k[0] if isinstance(k, list) else k for k in keys]
            check(keys[0] and keys[0] == keys[1] and len(keys[0]) == 16,
                  "both messages should carry the story id as threadKey: %r" % keys)
            texts = [m["text"] for m in msgs]
            check(sum("Also reported by" in t for t in texts) == 1,
                  "exactly one message should be the 'also reported by' reply: %r" % texts)


@scenario("stories", "sinks")
def seeds_reply_thread_telegram(ctx):
    """Telegram with story-updates = thread: the first outlet's alert is a
    message, the second outlet's update a reply to it (reply_parameters
    with the message_id Telegram answered, kept on the story record as
    tg:<sink> with the record's TTL)."""
    with Env(ctx) as e:
        with chat_receivers.RECEIVERS["telegram"](allowed_links={QNA_ID, DD_ID}) as rx:
            conf = e.conf(feeds=seed_feeds(e), watchlists=[("ukraine", Q_UKRAINE, ["tg"], STORY)],
                          sinks=[("tg", {"type": "telegram", "url": rx.url(), "chat-id": "-100123",
                                         "story-updates": "thread"})])
            msgs = seeds_once(ctx, e, conf, rx, "telegram")
            check(len(msgs) == 2, "want 2 messages (the alert and its reply), got %d" % len(msgs))
            first, upd = msgs
            check("Also reported by" not in first["text"] and "Also reported by" in upd["text"],
                  "want the alert, then the 'also reported by' update: %r" % [m["text"] for m in msgs])
            check("reply_parameters" not in first["json"], "the first alert is a reply: %r" % first["json"])
            rp = upd["json"].get("reply_parameters")
            check(rp == {"message_id": first["message_id"], "allow_sending_without_reply": True},
                  "the update should reply to message %s: reply_parameters %r" % (first["message_id"], rp))
            check(upd["reply_to"] == first["message_id"], "the receiver saw no reply: %r" % upd["reply_to"])
            keys = [k.decode() if isinstance(k, bytes) else k for k in e.redis.keys("ww:story:r:*")]
            check(len(keys) == 1, "want one story record: %s" % keys)
            mid = e.redis.cmd("HGET", keys[0], "tg:tg")
            mid = mid.decode() if isinstance(mid, bytes) else mid
            check(mid == str(first["message_id"]), "tg:tg on the record is %r, want %s" % (mid, first["message_id"]))
            ttl = e.redis.cmd("TTL", keys[0])
            check(isinstance(ttl, int) and 0 < ttl <= 3 * 86400, "the record's TTL is %r" % ttl)


@scenario("stories", "sinks")
def seeds_update_plain_when_first_failed_telegram(ctx):
    """Telegram, story-updates = thread, the first alert refused (403,
    gone): no message id is known, so the update is a plain message, not
    held and not a reply to an id Telegram never gave."""
    with Env(ctx) as e:
        with chat_receivers.RECEIVERS["telegram"](allowed_links={QNA_ID, DD_ID}) as rx:
            rx.force(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
            conf = e.conf(feeds=seed_feeds(e), watchlists=[("ukraine", Q_UKRAINE, ["tg"], STORY)],
                          sinks=[("tg", {"type": "telegram", "url": rx.url(), "chat-id": "-100123",
                                         "story-updates": "thread"})])
            r = run_daemon(ctx, conf)
            check(r.rc == 1, "--once exit %s, want 1 (a dead letter): %s" % (r.rc, r.tail()))
            both_polled(e)
            msgs = rx.messages
            check(len(msgs) == 1 and "Also reported by" in msgs[0]["text"],
                  "want only the update delivered: %r" % [m["text"] for m in msgs])
            check("reply_parameters" not in msgs[0]["json"],
                  "the update replies to an unknown message: %r" % msgs[0]["json"].get("reply_parameters"))
            check(e.redis.cmd("XLEN", "ww:dead") == 1, "the refused first alert is not a dead letter")


@scenario("stories", "sinks")
def seeds_digest_update_once_slack(ctx):
    """Slack (story-updates = digest by default): the alert, then one
    'also reported by' message; a third copy of the story within
    story-update-interval sends nothing more."""
    with Env(ctx) as e:
        feeds = seed_feeds(e)
        # a wire copy of the Devdiscourse item under another guid and link
        e.http.routes["/copy.rss"] = data("seed-devdiscourse.rss").replace(
            b"https://www.devdiscourse.com/article/headlines/3483517-kim-jong-un-backs-russias-stand-on-ukraine",
            b"https://copy.example/kim-backs-russia")
        feeds.append(("copy", e.http.url("/copy.rss")))
        links = {QNA_ID, DD_ID, "https://copy.example/kim-backs-russia"}
        with chat_receivers.RECEIVERS["slack"](allowed_links=links) as rx:
            conf = e.conf(feeds=feeds, watchlists=[("ukraine", Q_UKRAINE, ["slack"], STORY)],
                          sinks=[("slack", {"type": "slack", "url": rx.url()})])
            r = run_daemon(ctx, conf)
            check(r.rc == 0, "--once exit %s: %s" % (r.rc, r.tail()))
            check(e.http.hits("/copy.rss"), "the copy feed was not fetched")
            check(not rx.rejected, "slack refused: %s" % [x.get("reason") for x in rx.rejected])
            texts = rx.texts()
            check(len(texts) == 2, "want 2 messages (alert + one update), got %d: %r" % (len(texts), texts))
            check(sum("Also reported by" in t for t in texts) == 1,
                  "exactly one 'also reported by' message: %r" % texts)


@scenario("stories", "webhook")
def group_item_opts_out(ctx):
    """group = item: both seed articles alert as before, no update."""
    with Env(ctx, webhook=True) as e:
        conf = e.conf(feeds=seed_feeds(e),
                      watchlists=[("ukraine", Q_UKRAINE, ["hook"], {"group": "item"})],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url("/hook")})])
        with open(conf) as f:
            check("group = item" in f.read(), "the configuration does not say group = item")
        r = run_daemon(ctx, conf)
        check(r.rc == 0, "--once exit %s: %s" % (r.rc, r.tail()))
        types = sorted(p["json"]["type"] for p in e.hook.posts)
        check(types == ["alert", "alert"], "group = item: want two alerts, got %s" % types)
        check(all("story" not in p["json"]["data"] for p in e.hook.posts),
              "group = item alerts should carry no story")


@scenario("stories", "hostile", "redis")
def redis_stall_mid_stories_one_alert_per_story(ctx):
    """300 stories, each from two feeds, through the story path of a running
    daemon; Redis stalls 6 s (DEBUG SLEEP) while they are being decided and
    recorded: commands time out with their outcome unknown, the items are
    retried on the next poll, and in the end every story has exactly one
    alert and one 'also reported by' update, none lost, none twice."""
    import re
    import time
    from harness import Daemon, console_alerts, rss, stop_daemon, wait_for
    from test_hostile_redis import redis_raw
    n = 300
    now = time.time()

    def words(i):
        return ["w%dx%d" % (i, k) for k in range(10)]

    a = [("a%d" % i, "Sanctions " + " ".join(words(i)), now - i, " ".join(words(i)))
         for i in range(n)]
    b = [("b%d" % i, "Sanctions " + " ".join(reversed(words(i))), now - i,
          " ".join(words(i)[3:] + words(i)[:3])) for i in range(n)]
    with Env(ctx) as e:
        e.http.routes["/a"] = rss(a, "A")
        e.http.routes["/b"] = rss(b, "B")
        conf = e.conf(daemon={"startup-spread": "0"},
                      feeds=[("fa", e.http.url("/a"), {"interval": "2s"}),
                             ("fb", e.http.url("/b"), {"interval": "2s"})],
                      watchlists=[("w", "sanctions", ["out"], STORY)],
                      sinks=[("out", {"type": "console"})])
        d = Daemon(ctx, conf, args=()).start()
        try:
            check(wait_for(lambda: "alert queued" in d.read_stderr(), 30, step=0.005),
                  "no item was recorded")
            redis_raw(e.redis.sock, "DEBUG", "SLEEP", "6", timeout=30)

            def done():
                al = console_alerts(d)
                return (len({x["story"]["id"] for x in al if not x.get("update")}) >= n and
                        sum(1 for x in al if x.get("update")) >= n)
            wait_for(done, 90)
            time.sleep(1)
            al = console_alerts(d)
            firsts = [x for x in al if not x.get("update")]
            updates = [x for x in al if x.get("update")]
            ids = [x["story"]["id"] for x in firsts]
            check(len(set(ids)) == n, "%d stories alerted, want %d" % (len(set(ids)), n))
            check(len(ids) == n, "%d first alerts for %d stories: some story alerted twice" % (len(ids), n))
            uids = [x["story"]["id"] for x in updates]
            check(sorted(uids) == sorted(ids), "want one update per story: %d updates, %d stories without, "
                  "%d repeated" % (len(uids), len(set(ids) - set(uids)), len(uids) - len(set(uids))))
            for x in updates:
                feeds = sorted(s["feed"] for s in x["story"]["sources"])
                check(feeds == ["fa", "fb"], "an update's sources are %s, want both feeds" % feeds)
            err = d.read_stderr()
            check(re.search(r"timed out", err), "no command timed out: the stall missed the stories")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("stories", "hostile")
def sigterm_mid_stories_then_next_run_completes(ctx):
    """SIGTERM while 2,000 two-outlet stories wait for their turn: the
    daemon stops promptly (the waiting items are not recorded), and the
    next run alerts every story exactly once, each with its update."""
    import time
    from harness import Daemon, console_alerts, rss, stop_daemon, wait_for
    n = 2000
    now = time.time()

    def words(i):
        return ["w%dx%d" % (i, k) for k in range(10)]

    a = [("a%d" % i, "Sanctions " + " ".join(words(i)), now - i, " ".join(words(i))) for i in range(n)]
    b = [("b%d" % i, "Sanctions " + " ".join(reversed(words(i))), now - i,
          " ".join(words(i)[3:] + words(i)[:3])) for i in range(n)]
    with Env(ctx) as e:
        e.http.routes["/a"] = rss(a, "A")
        e.http.routes["/b"] = rss(b, "B")
        conf = e.conf(daemon={"startup-spread": "0"},
                      feeds=[("fa", e.http.url("/a")), ("fb", e.http.url("/b"))],
                      watchlists=[("w", "sanctions", ["out"], STORY)],
                      sinks=[("out", {"type": "console"})])
        d = Daemon(ctx, conf, args=()).start()
        check(wait_for(lambda: "alert queued" in d.read_stderr(), 30, step=0.005),
              "no item was recorded")
        t0 = time.time()
        r = stop_daemon(d)
        took = time.time() - t0
        check(r.rc == 0, "exit status %s after SIGTERM" % r.rc)
        first_run = console_alerts(d)
        check(len(first_run) < 2 * n, "everything was recorded before SIGTERM: the test missed")
        r2 = run_daemon(ctx, conf, timeout=120)
        check(r2.rc == 0, "second run exit %s: %s" % (r2.rc, r2.tail()))
        al = first_run + r2.alerts()
        firsts = [x["story"]["id"] for x in al if not x.get("update")]
        updates = [x["story"]["id"] for x in al if x.get("update")]
        check(len(firsts) == n and len(set(firsts)) == n,
              "%d first alerts for %d distinct stories, want %d each" % (len(firsts), len(set(firsts)), n))
        check(sorted(updates) == sorted(firsts), "%d updates, want one per story" % len(updates))
        ctx.log("SIGTERM honoured in %.2fs; %d of %d messages before it" % (took, len(first_run), 2 * n))


def _str(v):
    return v.decode() if isinstance(v, bytes) else v


@scenario("stories", "recent", "control", "reload")
def story_items_kept_counted_and_reloaded(ctx):
    """The story path keeps every item (ww:recent) and counts what it
    queues on the day's counter (status alerts_today), like the plain
    path; a reload's story-window and story-updates apply to the next
    items: with story-updates = none the second outlet sends nothing,
    after a reload to thread and story-window = 5d a third outlet sends
    its update and the story's record lives 6 days.  wirewatch_alerts_total
    counts what was queued, not the update held back."""
    import time
    from harness import console_alerts, stop_daemon, wait_for
    from test_control import ctl, ctl_json, run_dir, start
    from test_ops import free_port, scrape, value
    port = free_port()

    def alerts_total():
        return value(scrape(port)[1], "wirewatch_alerts_total", watchlist="ukraine", sink="out")
    with Env(ctx) as e:
        feeds = seed_feeds(e)
        e.http.routes["/copy.rss"] = data("seed-devdiscourse.rss").replace(
            b"https://www.devdiscourse.com/article/headlines/3483517-kim-jong-un-backs-russias-stand-on-ukraine",
            b"https://copy.example/kim-backs-russia").replace(b"3483517", b"9999999")
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        wl = [("ukraine", Q_UKRAINE, ["out"], STORY)]
        d, conf = start(ctx, e, sock, daemon={"metrics": "127.0.0.1:%d" % port},
                        feeds=feeds, watchlists=wl,
                        sinks=[("out", {"type": "console", "story-updates": "none"})])
        try:
            def recent_keys():
                return [_str(dict(zip(f[::2], f[1::2]))[b"key" if isinstance(f[0], bytes) else "key"])
                        for _, f in e.redis.cmd("XRANGE", "ww:recent", "-", "+") or []]
            check(wait_for(lambda: len(recent_keys()) == 2, 15),
                  "the two seed items were not both kept: %r" % recent_keys())
            seen = sorted(_str(k)[len("ww:seen:"):] for k in e.redis.cmd("KEYS", "ww:seen:*"))
            check(sorted(recent_keys()) == seen, "seen %r, kept %r" % (seen, recent_keys()))
            time.sleep(1)
            al = console_alerts(d)
            check(len(al) == 1 and not al[0].get("update"),
                  "story-updates = none: want the story's one alert, got %r"
                  % [(a.get("title"), a.get("update")) for a in al])
            st = ctl_json(sock, "status")
            check(st.get("alerts_today") == 1, "status alerts_today %r, want 1 (queued: 1)"
                  % st.get("alerts_today"))
            check(alerts_total() == 1, "alerts_total{ukraine,out} = %r, want 1" % alerts_total())
            sid = al[0]["story"]["id"]
            ttl = e.redis.cmd("TTL", "ww:story:r:" + sid)
            check(0 < ttl <= 3 * 86400, "story record TTL %r with the default window" % ttl)
            # reload: a third outlet, story-window 5d, story-updates thread
            e.conf(daemon={"control": sock, "startup-spread": "0", "instance": "ctl-test",
                           "story-window": "5d", "metrics": "127.0.0.1:%d" % port},
                   feeds=feeds + [("copy", e.http.url("/copy.rss"), {"interval": "1h"})],
                   watchlists=wl, sinks=[("out", {"type": "console", "story-updates": "thread"})])
            rc, out, err = ctl("-s", sock, "--json", "reload")
            check(rc == 0, "reload: rc %s %s" % (rc, err))
            r = json.loads(out)
            check(r["sinks"]["changed"] == ["out"] and r["needs_restart"] is None,
                  "reload summary %r" % r)
            check(wait_for(lambda: len(console_alerts(d)) >= 2, 15),
                  "the third outlet sent no update after the reload: %s" % d.read_stderr()[-800:])
            time.sleep(0.5)
            al = console_alerts(d)
            check(len(al) == 2 and al[1].get("update") is True and al[1]["story"]["id"] == sid,
                  "want the story's update after the reload, got %r"
                  % [(a.get("title"), a.get("update")) for a in al])
            check(sorted(s["feed"] for s in al[1]["story"]["sources"]) == ["copy", "devdiscourse", "qna"],
                  "sources %r" % al[1]["story"]["sources"])
            ttl = e.redis.cmd("TTL", "ww:story:r:" + sid)
            check(5 * 86400 < ttl <= 6 * 86400, "story record TTL %r after story-window = 5d" % ttl)
            check(len(recent_keys()) == 3, "kept after the reload: %d, want 3" % len(recent_keys()))
            st = ctl_json(sock, "status")
            check(st.get("alerts_today") == 2, "status alerts_today %r, want 2" % st.get("alerts_today"))
            check(alerts_total() == 2, "alerts_total{ukraine,out} = %r, want 2" % alerts_total())
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("stories", "recent", "kill")
def kill9_mid_story_poll_seen_implies_kept(ctx):
    """kill -9 while 3,000 matching items go through the story path: every
    item marked seen is kept (ww_story_record does both), none twice; after
    a clean run every item is seen and kept, and the day's counter equals
    the alerts queued."""
    import signal
    import time
    from harness import Daemon, rss
    now = int(time.time())
    n = 3000
    items = [("k%d" % i, "budget item %d w%dx" % (i, i), now - i,
              "text of item %d " % i + " ".join("w%dx%d" % (i, k) for k in range(30)))
             for i in range(n)]

    def kept_keys():
        out = []
        for _, f in e.redis.cmd("XRANGE", "ww:recent", "-", "+") or []:
            m = dict(zip((_str(x) for x in f[::2]), f[1::2]))
            out.append(_str(m["key"]))
        return out

    with Env(ctx) as e:
        e.http.routes["/big"] = rss(items)
        conf = e.conf(daemon={"startup-spread": "0", "max-items": "10000"},
                      feeds=[("big", e.http.url("/big"), {"interval": "1h"})],
                      watchlists=[("w", "budget", ["out"], STORY)],
                      sinks=[("out", {"type": "console"})])
        mid = 0
        for attempt in range(6):
            before = len(e.redis.cmd("KEYS", "ww:seen:*"))
            d = Daemon(ctx, conf, args=()).start()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if len(e.redis.cmd("KEYS", "ww:seen:*")) > before + 50:
                    break
                time.sleep(0.005)
            d.signal(signal.SIGKILL)
            d.wait(5)
            seen = {_str(k)[len("ww:seen:"):] for k in e.redis.cmd("KEYS", "ww:seen:*")}
            kept = kept_keys()
            ctx.log("attempt %d: %d seen, %d kept" % (attempt, len(seen), len(kept)))
            check(len(kept) == len(set(kept)), "an item was kept twice")
            check(seen == set(kept), "seen but not kept: %d, kept but not seen: %d"
                  % (len(seen - set(kept)), len(set(kept) - seen)))
            if before < len(seen) < n:
                mid += 1
                if mid == 2:
                    break
        check(mid >= 1, "no kill landed in the middle of the poll")
        r = run_daemon(ctx, conf, timeout=120)
        check(r.rc == 0, "the clean run: rc %s\n%s" % (r.rc, r.tail()))
        kept = kept_keys()
        check(len(kept) == n and len(set(kept)) == n and len(e.redis.cmd("KEYS", "ww:seen:*")) == n,
              "after a clean run: %d kept, %d distinct, %d seen"
              % (len(kept), len(set(kept)), len(e.redis.cmd("KEYS", "ww:seen:*"))))
        day = time.strftime("ww:alerts:%Y-%m-%d", time.gmtime())
        info = e.redis.cmd("XINFO", "STREAM", "ww:outbox")
        info = dict(zip((_str(x) for x in info[::2]), info[1::2]))
        queued = info["entries-added"]  # trimming does not lower it
        check(int(e.redis.cmd("GET", day) or 0) == queued and queued >= n,
              "day counter %r, outbox entries %r (every item its own story: >= %d)"
              % (e.redis.cmd("GET", day), queued, n))
