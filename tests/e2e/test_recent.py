"""Issue 10 items 5 and 3 (parts): recent items kept in Redis, `watchlist
test`, backfill, and deliveries/replay/status through the control socket.

A real daemon on a real redis-server with loopback feeds and receivers;
wirewatchctl talks to it over [daemon] control = <tmp>/run/ctl.sock.
"""
import json
import os
import signal
import time

import harness
from harness import Daemon, Response, check, scenario, wait_for
from test_control import ctl, run_dir, start
from test_hostile_redis import Env, rss, stop_daemon


def recent(e):
    """The kept items: [(stream id, {field: value})], oldest first."""
    out = []
    for sid, flat in e.redis.cmd("XRANGE", "ww:recent", "-", "+") or []:
        out.append((sid, dict(zip(flat[::2], flat[1::2]))))
    return out


def ctl_reply(sock, *args):
    rc, out, err = ctl("-s", sock, "--json", *args)
    lines = out.splitlines()
    check(len(lines) == 1, "wirewatchctl --json %s: %d lines (rc %s, %s)"
          % (" ".join(args), len(lines), rc, err.strip()))
    return rc, json.loads(lines[0])


# ------------------------------------------------------------------ watchlist test

@scenario("recent", "control", "issue10")
def watchlist_test_seeds_sends_nothing(ctx):
    """The seed items are kept; `watchlist test '@DPRK AND @Russia AND
    treaty'` finds the QNA item (not the Devdiscourse one), explained,
    and the webhook receiver gets nothing; a bad query gets its column."""
    with Env(ctx, webhook=True) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, conf = start(ctx, e, sock,
                        feeds=[("rss", e.http.url("/seeds.rss"), {"interval": "1h"}),
                               ("atom", e.http.url("/seeds.atom"), {"interval": "1h"})],
                        watchlists=[("quiet", "zanzibar AND tapioca", ["hook"])],
                        sinks=[("hook", {"type": "webhook", "url": e.hook.url("/h")})])
        try:
            check(wait_for(lambda: len(recent(e)) == 2, 15),
                  "the two seed items were not kept: %r" % recent(e))
            kept = {f["title"]: f for _, f in recent(e)}
            q = kept[harness.QNA_TITLE]
            check(q["link"] == harness.QNA_ID and q["feed"] in ("rss", "atom") and
                  "mutual defense treaty" in q["content"] and "<" not in q["content"],
                  "the QNA item kept: %r" % q)
            check(all(len(f["title"]) + len(f["summary"]) + len(f["content"]) +
                      len(f["author"]) + len(f["category"]) <= 4096 for f in kept.values()),
                  "a kept item's text is over 4 KB")

            rc, r = ctl_reply(sock, "watchlist", "test", harness.Q_TREATY)
            check(rc == 0 and r["ok"] and r["items"] == 2, "test: rc %s %r" % (rc, r))
            check([h["title"] for h in r["hits"]] == [harness.QNA_TITLE],
                  "test hits: %r" % [h["title"] for h in r["hits"]])
            h = r["hits"][0]
            check(h["link"] == harness.QNA_ID and h["published"] == harness.QNA_PUBLISHED,
                  "hit: %r" % {k: h[k] for k in ("link", "published")})
            clauses = [(c["clause"], c["matched"]) for c in h["explain"]["clauses"]]
            check(clauses == [("@DPRK", True), ("@Russia", True), ("treaty", True)],
                  "explanation: %r" % clauses)
            check("treaty" in h["terms"] and "[[" in h["snippet"], "terms/snippet: %r" % h)

            rc, out, err = ctl("-s", sock, "watchlist", "test", harness.Q_TREATY, "--since", "1h")
            check(rc == 0 and harness.QNA_TITLE in out and harness.DD_TITLE not in out and
                  "treaty (hit)" in out and "1 hit in 2 kept items" in out,
                  "test table (rc %s):\n%s%s" % (rc, out, err))
            rc, out, err = ctl("-s", sock, "watchlist", "test", harness.Q_UKRAINE)
            check(rc == 0 and "2 hits in 2 kept items" in out, "ukraine:\n%s%s" % (out, err))

            rc, out, err = ctl("-s", sock, "watchlist", "test", "@DPRK AND (treaty")
            check(rc == 1 and "column" in err and "query:" in err,
                  "a bad query: rc %s, %r" % (rc, err))
            rc, out, err = ctl("-s", sock, "watchlist", "test", "@Nowhereland AND treaty")
            check(rc == 1 and "Nowhereland" in err, "an unknown entity: rc %s, %r" % (rc, err))
            rc, out, err = ctl("-s", sock, "watchlist", "test", "zanzibar")
            check(rc == 1 and "0 hits in 2 kept items" in out, "no hit: rc %s %r" % (rc, out))

            time.sleep(1.0)
            check(e.hook.posts == [], "the receiver got %d POSTs" % len(e.hook.posts))
            check(e.redis.cmd("XLEN", "ww:outbox") == 0, "the test queued alerts")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


# ------------------------------------------------------------------ trimming

def redis_ms(e):
    sec, usec = e.redis.cmd("TIME")
    return int(sec) * 1000 + int(usec) // 1000


@scenario("recent", "issue10")
def recent_items_trimmed_by_minid(ctx):
    """keep-items = 5s: the stream expires 5 s after its last write; an
    item kept more than 5 s ago is trimmed (exact MINID) by the next write
    while a younger one stays, and `watchlist test` sees what is left."""
    now = time.time()
    titles = lambda: [f["title"] for _, f in recent(e)]  # noqa: E731
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        e.http.routes["/f"] = rss([("a1", "alpha sanctions", now)])
        d, conf = start(ctx, e, sock, daemon={"keep-items": "5s"},
                        feeds=[("f", e.http.url("/f"), {"interval": "1s"})],
                        watchlists=[("w", "sanctions", ["out"])])
        try:
            check(wait_for(lambda: len(recent(e)) == 1, 10), "alpha was not kept")
            ttl = e.redis.cmd("PTTL", "ww:recent")
            check(0 < ttl <= 5000, "the stream's TTL is %s ms, want keep-items" % ttl)
            rc, r = ctl_reply(sock, "watchlist", "test", "alpha")
            check(rc == 0 and len(r["hits"]) == 1, "alpha not found: %r" % r)
            # No write for keep-items: the stream expired, alpha is gone.
            check(wait_for(lambda: e.redis.cmd("EXISTS", "ww:recent") == 0, 8),
                  "the quiet stream did not expire")
            rc, r = ctl_reply(sock, "watchlist", "test", "alpha")
            check(rc == 1 and r["ok"] and r["hits"] == [], "alpha past keep-items: %r" % r)

            e.http.routes["/f"] = rss([("a1", "alpha sanctions", now),
                                       ("c1", "charlie sanctions", now)])
            check(wait_for(lambda: titles() == ["charlie sanctions"], 10), "charlie was not kept")
            charlie = int(recent(e)[0][0].split("-")[0])
            time.sleep(2.5)
            e.http.routes["/f"] = rss([("a1", "alpha sanctions", now),
                                       ("c1", "charlie sanctions", now),
                                       ("b1", "bravo sanctions", now)])
            check(wait_for(lambda: len(recent(e)) == 2, 10), "bravo was not kept")
            check(titles() == ["charlie sanctions", "bravo sanctions"],
                  "charlie trimmed too early: %r" % titles())
            check(wait_for(lambda: redis_ms(e) - charlie > 5100, 10), "Redis's clock stands")
            e.http.routes["/f"] = rss([("a1", "alpha sanctions", now),
                                       ("c1", "charlie sanctions", now),
                                       ("b1", "bravo sanctions", now),
                                       ("d1", "delta sanctions", now)])
            check(wait_for(lambda: titles() == ["bravo sanctions", "delta sanctions"], 10),
                  "after delta (charlie past keep-items, bravo not): %r" % titles())
            rc, r = ctl_reply(sock, "watchlist", "test", "sanctions")
            check(rc == 0 and [h["title"] for h in r["hits"]] ==
                  ["bravo sanctions", "delta sanctions"], "after the trim: %r" % r)
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


# ------------------------------------------------------------------ crash safety

@scenario("recent", "kill", "issue10")
def kill9_mid_poll_seen_implies_kept(ctx):
    """kill -9 in the middle of a 6,000-item poll, three times: every item
    marked seen is kept (same Redis function call), none is kept twice,
    and after a clean run every item is both."""
    now = int(time.time())
    n = 6000
    items = [("k%d" % i, "item %d budget" % i, now - i,
              "text of item %d &lt;b&gt;bold&lt;/b&gt; " % i + "word " * 40) for i in range(n)]
    with Env(ctx) as e:
        e.http.routes["/big"] = rss(items)
        conf = e.conf(daemon={"startup-spread": "0", "max-items": "10000"},
                      feeds=[("big", e.http.url("/big"), {"interval": "1h"})],
                      watchlists=[("w", "nothingmatcheszz", ["out"])],
                      sinks=[("out", {"type": "console"})])
        mid = 0
        for attempt in range(6):
            before = len(e.redis.cmd("KEYS", "ww:seen:*"))
            d = Daemon(ctx, conf, args=()).start()
            seen = before
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                seen = len(e.redis.cmd("KEYS", "ww:seen:*"))
                if seen > before:
                    break
                time.sleep(0.005)
            d.signal(signal.SIGKILL)
            d.wait(5)
            seen_keys = {k[len("ww:seen:"):] for k in e.redis.cmd("KEYS", "ww:seen:*")}
            kept = [f["key"] for _, f in recent(e)]
            ctx.log("attempt %d: %d seen when killed, %d seen, %d kept"
                    % (attempt, seen, len(seen_keys), len(kept)))
            check(len(kept) == len(set(kept)), "an item was kept twice")
            check(seen_keys == set(kept), "seen but not kept: %d, kept but not seen: %d"
                  % (len(seen_keys - set(kept)), len(set(kept) - seen_keys)))
            if before < len(seen_keys) < n:
                mid += 1
                if mid == 3:
                    break
        check(mid >= 1, "no kill landed in the middle of the poll")
        r = harness.run_daemon(ctx, conf, timeout=60)
        check(r.rc == 0, "the clean run: rc %s\n%s" % (r.rc, r.tail()))
        kept = [f["key"] for _, f in recent(e)]
        check(len(kept) == n and len(set(kept)) == n and
              len(e.redis.cmd("KEYS", "ww:seen:*")) == n,
              "after a clean run: %d kept, %d distinct, %d seen"
              % (len(kept), len(set(kept)), len(e.redis.cmd("KEYS", "ww:seen:*"))))


# ------------------------------------------------------------------ backfill

@scenario("recent", "backfill", "issue10")
def watchlist_backfill_once(ctx):
    """A watchlist added to the config with backfill = 1h alerts, through
    the outbox, on the kept items that match (the QNA seed), once: not
    again at the next start; an item that alerted for a watchlist when
    it was recorded is not backfilled for it."""
    with Env(ctx, webhook=True) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        feeds = [("rss", e.http.url("/seeds.rss"), {"interval": "1h"})]
        hook = [("out", {"type": "console"}),
                ("hook", {"type": "webhook", "url": e.hook.url("/h")})]
        d, conf = start(ctx, e, sock, feeds=feeds, sinks=hook,
                        watchlists=[("ukr", harness.Q_UKRAINE, ["out"])])
        try:
            check(wait_for(lambda: len(recent(e)) == 2, 15), "the seeds were not kept")
        finally:
            stop_daemon(d)
        check(e.hook.posts == [], "alerts before the backfill")

        extra = ('\n[watchlist "treaty"]\nquery = %s\nsinks = hook\nbackfill = 1h\n'
                 '\n[watchlist "ukr"]\nquery = %s\nsinks = out, hook\nbackfill = 1h\n'
                 % (harness.Q_TREATY, harness.Q_UKRAINE))
        conf = e.conf(daemon={"control": sock, "startup-spread": "0"}, feeds=feeds,
                      sinks=hook, extra=extra)
        for run in (1, 2):
            d = Daemon(ctx, conf, args=()).start()
            try:
                check(wait_for(lambda: d.read_stderr().count("backfill:") >= 2, 15),
                      "run %d: no backfill logged:\n%s" % (run, d.read_stderr()[-2000:]))
                time.sleep(1.5)
                got = [(a["watchlist"], a["title"]) for a in e.hook.accepted("/h")]
                check(got == [("treaty", harness.QNA_TITLE)],
                      "run %d: the receiver got %r" % (run, got))
                log = d.read_stderr()
                want = ('watchlist "treaty": backfill: 2 kept items, 1 matching, %d alerted '
                        'now, %d had alerted before' % ((1, 0) if run == 1 else (0, 1)))
                check(want in log, "run %d: log lacks %r:\n%s" % (run, want, log[-1500:]))
                check('watchlist "ukr": backfill: 2 kept items, 2 matching, 0 alerted now, '
                      '2 had alerted before' in log, "ukr was backfilled:\n%s" % log[-1500:])
                if run == 1:
                    rc, st = ctl_reply(sock, "status")
                    check(st["alerts_today"] == 3, "alerts today: %r" % st.get("alerts_today"))
            finally:
                r = stop_daemon(d)
            check(r.rc == 0, "run %d: exit status %s" % (run, r.rc))
        a = e.hook.accepted("/h")[0]
        check(a["link"] == harness.QNA_ID and a["published"] == harness.QNA_PUBLISHED and
              "treaty" in a["terms"], "the backfilled alert: %r" % a)


# ------------------------------------------------------------------ deliveries, replay

@scenario("recent", "control", "outbox", "webhook", "issue10")
def deliveries_replay_over_socket(ctx):
    """Through the daemon: a receiver answering 400 dead-letters the alert;
    `deliveries --failed` lists it, `deliveries` does not; `status` counts
    it; `replay ID` redelivers it once the receiver answers 200; a second
    replay of it finds nothing."""
    now = time.time()
    with Env(ctx, webhook=True) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        e.http.routes["/f"] = rss([("d1", "sanctions one", now)])
        e.hook.statuses["/h"] = [400]
        d, conf = start(ctx, e, sock, feeds=[("f", e.http.url("/f"), {"interval": "1h"})],
                        watchlists=[("w", "sanctions", ["hook"])],
                        sinks=[("hook", {"type": "webhook", "url": e.hook.url("/h")})])
        try:
            check(wait_for(lambda: e.redis.cmd("XLEN", "ww:dead") == 1, 15),
                  "no dead letter after a 400")
            rc, r = ctl_reply(sock, "deliveries", "--failed")
            rows = r.get("deliveries")
            check(rc == 0 and r["ok"] and len(rows) == 1 and rows[0]["state"] == "failed" and
                  rows[0]["sink"] == "hook" and rows[0]["watchlist"] == "w" and
                  "HTTP 400" in rows[0]["last_error"], "deliveries --failed: %r" % r)
            aid = rows[0]["id"]
            rc, out, err = ctl("-s", sock, "deliveries", "--failed")
            check(rc == 0 and aid in out and "HTTP 400" in out and out.startswith("STATE"),
                  "the table: %s%s" % (out, err))
            rc, r = ctl_reply(sock, "deliveries")
            check(rc == 0 and r["deliveries"] == [], "pending lists the dead letter: %r" % r)
            rc, st = ctl_reply(sock, "status")
            check(st["dead_letters"] == 1 and st["dead_letters_total"] == 1 and
                  st["alerts_today"] == 1 and st["outbox_depth"] == 0 and
                  st["recent_items"] == 1, "status: %r" % st)
            rc, out, err = ctl("-s", sock, "status")
            check("dead letters  1 since start, 1 kept in all" in out and
                  "alerts today  1" in out, "status table:\n%s" % out)

            rc, out, err = ctl("-s", sock, "replay", aid)
            check(rc == 0 and "requeued %s (sink hook)" % aid in out, "replay: %s %s" % (out, err))
            check(wait_for(lambda: len(e.hook.accepted("/h")) == 1, 10),
                  "the replayed alert was not delivered")
            check(e.hook.accepted("/h")[0]["alert_id"] == aid, "another alert id")
            check(e.redis.cmd("XLEN", "ww:dead") == 0, "the dead letter is still there")
            rc, out, err = ctl("-s", sock, "replay", aid)
            check(rc == 1 and "no such dead letter" in err, "second replay: rc %s %r" % (rc, err))
            rc, out, err = ctl("-s", sock, "replay", "--sink", "hook")
            check(rc == 2, "--sink without --failed: rc %s" % rc)
            time.sleep(1.0)
            check(len(e.hook.posts) == 2, "POSTs: %d, want the 400 and the replay"
                  % len(e.hook.posts))
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


# ------------------------------------------------------------------ replies given later

@scenario("recent", "control", "redis", "issue10")
def control_later_replies_in_order(ctx):
    """Commands that go to Redis answer later, still in request order on a
    pipelined connection; a client that leaves before its reply does not
    hurt the daemon; with Redis down, status answers at once with its Redis
    members null, watchlist.test and deliveries with an error."""
    from test_control import Client, ping
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, conf = start(ctx, e, sock,
                        feeds=[("rss", e.http.url("/seeds.rss"), {"interval": "1h"})],
                        watchlists=[("ukr", harness.Q_UKRAINE, ["out"])])
        try:
            check(wait_for(lambda: len(recent(e)) == 2, 15), "the seeds were not kept")
            c = Client(sock)
            try:
                c.send({"v": 1, "cmd": "watchlist.test", "query": harness.Q_TREATY, "id": 1},
                       {"v": 1, "cmd": "ping", "id": 2},
                       {"v": 1, "cmd": "deliveries", "id": 3},
                       {"v": 1, "cmd": "status", "id": 4},
                       {"v": 1, "cmd": "watchlist.test", "query": "(", "id": 5},
                       {"v": 1, "cmd": "watchlist.test", "query": "x", "since": "soon", "id": 6},
                       {"v": 1, "cmd": "replay", "ids": [], "id": 7})
                got = [c.line() for _ in range(7)]
            finally:
                c.close()
            check([g.get("id") for g in got] == [1, 2, 3, 4, 5, 6, 7],
                  "replies out of order: %r" % [g.get("id") for g in got])
            check(got[0]["ok"] and len(got[0]["hits"]) == 1, "test: %r" % got[0])
            check(got[1]["ok"] and got[2]["ok"] and got[2]["deliveries"] == [] and
                  got[3]["ok"] and got[3]["recent_items"] == 2 and got[3]["alerts_today"] == 2,
                  "ping/deliveries/status: %r" % got[1:4])
            check(not got[4]["ok"] and "column" in got[4]["error"], "bad query: %r" % got[4])
            check(not got[5]["ok"] and "since" in got[5]["error"], "bad since: %r" % got[5])
            check(not got[6]["ok"] and "ids" in got[6]["error"], "empty ids: %r" % got[6])

            for _ in range(20):  # leave before the reply
                c = Client(sock)
                c.send({"v": 1, "cmd": "watchlist.test", "query": harness.Q_UKRAINE})
                c.close()
            check(ping(sock), "the daemon does not answer after clients left early")

            e.redis.stop()
            check(wait_for(lambda: ctl_reply(sock, "status")[1].get("redis") == "down", 10),
                  "status does not see Redis down")
            rc, st = ctl_reply(sock, "status")
            check(rc == 0 and st["outbox_depth"] is None and st["alerts_today"] is None and
                  st.get("redis_error"), "status with Redis down: %r" % st)
            rc, r = ctl_reply(sock, "watchlist", "test", harness.Q_TREATY)
            check(rc == 1 and not r["ok"] and "not connected" in r["error"],
                  "test with Redis down: %r" % r)
            rc, r = ctl_reply(sock, "deliveries")
            check(rc == 1 and not r["ok"], "deliveries with Redis down: %r" % r)
            check(ping(sock), "the daemon does not answer with Redis down")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("recent", "outbox", "issue10")
def offline_deliveries_fresh_redis(ctx):
    """wirewatchctl -c CONF deliveries/replay on a Redis no daemon ever
    used: the function library is loaded first, the outbox is empty, an
    unknown id is reported (exit 1), no daemon needed; without -c and
    without a daemon: exit 3."""
    with Env(ctx) as e:
        conf = e.conf(sinks=harness.CONSOLE)
        check(e.redis.cmd("FUNCTION", "LIST") == [], "the fresh Redis has functions")
        rc, out, err = ctl("-c", conf, "deliveries")
        check(rc == 0 and out.startswith("STATE") and len(out.splitlines()) == 1,
              "deliveries: rc %s %r %r" % (rc, out, err))
        rc, out, err = ctl("-c", conf, "deliveries", "--failed", "--json")
        check(rc == 0 and out == "", "deliveries --failed --json: rc %s %r %r" % (rc, out, err))
        rc, out, err = ctl("-c", conf, "replay", "--failed")
        check(rc == 0 and "0 alerts requeued" in out, "replay --failed: %r %r" % (out, err))
        rc, out, err = ctl("-c", conf, "replay", "al_0000")
        check(rc == 1 and "al_0000: no such dead letter" in err, "replay ID: %r" % err)
        check(e.redis.cmd("FUNCTION", "LIST") != [], "the library was not loaded")
        rc, out, err = ctl("-s", ctx.path("nosuch.sock"), "deliveries")
        check(rc == 3 and "cannot reach wirewatchd" in err, "no daemon: rc %s %r" % (rc, err))


@scenario("recent", "control", "issue10")
def watchlist_test_since(ctx):
    """--since D takes only the items recorded in the last D: an item
    recorded 2 s before another is left out by --since 1s, found without."""
    now = time.time()
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        e.http.routes["/f"] = rss([("a1", "alpha sanctions", now)])
        d, conf = start(ctx, e, sock, feeds=[("f", e.http.url("/f"), {"interval": "1s"})],
                        watchlists=[("w", "zzznothing", ["out"])])
        try:
            check(wait_for(lambda: len(recent(e)) == 1, 10), "alpha was not kept")
            time.sleep(2.0)
            e.http.routes["/f"] = rss([("a1", "alpha sanctions", now),
                                       ("b1", "bravo sanctions", now)])
            check(wait_for(lambda: len(recent(e)) == 2, 10), "bravo was not kept")
            rc, r = ctl_reply(sock, "watchlist", "test", "sanctions", "--since", "1s")
            check(rc == 0 and [h["title"] for h in r["hits"]] == ["bravo sanctions"] and
                  r["items"] == 1, "--since 1s: %r" % r)
            rc, r = ctl_reply(sock, "watchlist", "test", "sanctions")
            check(rc == 0 and [h["title"] for h in r["hits"]] ==
                  ["alpha sanctions", "bravo sanctions"], "all kept: %r" % r)
            rc, out, err = ctl("-s", sock, "watchlist", "test", "sanctions", "--since", "soon")
            check(rc == 2 and "--since" in err, "bad --since: rc %s %r" % (rc, err))
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)
