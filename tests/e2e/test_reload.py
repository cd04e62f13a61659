"""Issue 10: reload (SIGHUP and `wirewatchctl reload`).

A real daemon on a real redis-server polls loopback feeds; the test
rewrites its config file and reloads: feeds added, removed and retimed,
a watchlist changed, a broken file refused while the old config keeps
running, and a hundred reloads under polling load without a lost or
doubled alert.
"""
import json
import os
import re
import signal
import time

import harness
from harness import CONSOLE, Env, Response, check, console_alerts, rss, scenario, stop_daemon, \
    wait_for, write
from test_control import ctl, ctl_json, run_dir, start


def rss_route(state, key):
    return lambda req: Response(200, rss(state[key]), {"Content-Type": "application/rss+xml"})


def status(sock):
    return ctl_json(sock, "status")


def alerted(d):
    """{(watchlist, title)} of the console alerts so far, and their count."""
    out = {}
    for a in console_alerts(d):
        k = (a.get("watchlist"), a.get("title"))
        out[k] = out.get(k, 0) + 1
    return out


@scenario("control", "issue10", "reload")
def reload_applies_diff(ctx):
    """Feed b removed (no more polls), feed c added (polled, alerts), feed
    a's interval 1h -> 1s (polled again at once), watchlist w's query
    changed (the new query alerts, the old one no longer); the reply and
    `status` show revision 2.  A broken file is refused with FILE:LINE,
    exit 1, the old config keeps running (revision 2, still polling).
    SIGHUP applies a fixed file: revision 3."""
    now = time.time()
    st = {"a": [("a1", "sanctions a1", now - 60)],
          "b": [("b1", "sanctions b1", now - 60)],
          "c": [("c1", "embargo c1", now - 60)]}
    with Env(ctx) as e:
        for k in st:
            e.http.routes["/" + k] = rss_route(st, k)
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        feeds = [("a", e.http.url("/a"), {"interval": "1h"}),
                 ("b", e.http.url("/b"), {"interval": "2s"})]
        wl = [("w", "sanctions", ["out"])]
        d, conf = start(ctx, e, sock, feeds=feeds, watchlists=wl)
        try:
            check(wait_for(lambda: len(console_alerts(d)) == 2, 15),
                  "a1 and b1 never alerted: %s" % d.read_stderr()[-800:])
            check(status(sock)["config_revision"] == 1, "revision at start is not 1")
            st["a"].insert(0, ("a2", "embargo a2", now))
            st["a"].insert(0, ("a3", "sanctions a3", now))
            hits_a = len(e.http.hits("/a"))
            e.conf(daemon={"control": sock, "startup-spread": "0", "instance": "ctl-test"},
                   feeds=[("a", e.http.url("/a"), {"interval": "1s"}),
                          ("c", e.http.url("/c"), {"interval": "1h"})],
                   watchlists=[("w", "embargo", ["out"])], sinks=CONSOLE)
            rc, out, err = ctl("-s", sock, "--json", "reload")
            check(rc == 0, "reload: rc %s %s" % (rc, err))
            r = json.loads(out)
            check(r["revision"] == 2, "reply revision %r" % r.get("revision"))
            check(r["feeds"] == {"added": ["c"], "removed": ["b"], "changed": ["a"]},
                  "feeds diff %r" % r["feeds"])
            check(r["watchlists"] == {"added": [], "removed": [], "changed": ["w"]},
                  "watchlists diff %r" % r["watchlists"])
            check(r["needs_restart"] is None, "needs_restart %r" % r["needs_restart"])
            hits_b = len(e.http.hits("/b"))
            check(wait_for(lambda: ("w", "embargo c1") in alerted(d), 15),
                  "added feed c never alerted")
            check(wait_for(lambda: ("w", "embargo a2") in alerted(d), 15),
                  "a (now 1s) was not polled again with the new query")
            check(wait_for(lambda: len(e.http.hits("/a")) >= hits_a + 3, 10),
                  "a's new interval (1s) did not take effect")
            time.sleep(3)
            check(len(e.http.hits("/b")) <= hits_b + 1,
                  "removed feed b still polled: %d -> %d" % (hits_b, len(e.http.hits("/b"))))
            got = alerted(d)
            check(("w", "sanctions a3") not in got,
                  "the old query still alerted after the reload: %r" % got)
            check(all(n == 1 for n in got.values()), "an alert doubled: %r" % got)
            check(status(sock)["config_revision"] == 2, "status revision is not 2")
            feeds_now = [f["name"] for f in ctl_json(sock, "feeds")["feeds"]]
            check(feeds_now == ["a", "c"], "feeds after reload %r" % feeds_now)

            # A broken file: refused with FILE:LINE, the old config keeps running.
            good = open(conf).read()
            write(conf, good + '\n[watchlist "bad"]\nquery = (embargo AND\nsinks = out\n')
            bad_line = len(good.splitlines()) + 3
            rc, out, err = ctl("-s", sock, "reload")
            check(rc == 1, "broken reload: rc %s (want 1)" % rc)
            check("%s:%d:" % (conf, bad_line) in err and "query" in err,
                  "the error does not say FILE:LINE: %r" % err)
            check(wait_for(lambda: "reload: %s:%d:" % (conf, bad_line) in d.read_stderr(), 5),
                  "the refused reload is not logged with FILE:LINE")
            check(status(sock)["config_revision"] == 2, "a refused reload moved the revision")
            au = [dict(zip(*[iter([x.decode() if isinstance(x, bytes) else x
                                   for x in f])] * 2))
                  for _id, f in e.redis.cmd("XRANGE", "ww:audit", "-", "+")]
            check([x["cmd"] for x in au] == ["reload", "reload"] and au[0]["result"] == "ok" and
                  "%s:%d:" % (conf, bad_line) in au[1]["result"],
                  "reloads not audited: %r" % au)
            hits = len(e.http.hits("/a"))
            check(wait_for(lambda: len(e.http.hits("/a")) >= hits + 2, 10),
                  "the old config stopped polling after a refused reload")
            write(conf, good + '\n[watchlist "more"]\nquery = sanctions\nsinks = out\n')
            d.signal(signal.SIGHUP)
            check(wait_for(lambda: status(sock)["config_revision"] == 3, 10),
                  "SIGHUP did not reload (revision %r)" % status(sock)["config_revision"])
            names = [w["name"] for w in ctl_json(sock, "watchlists")["watchlists"]]
            check(names == ["w", "more"], "watchlists after SIGHUP %r" % names)
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("control", "issue10", "reload")
def reload_restart_keys(ctx):
    """A [daemon] key that needs a restart (prefix) is kept at its running
    value and named in the reply; the rest of the file applies."""
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, conf = start(ctx, e, sock, feeds=[("s", e.http.url("/seeds.rss"))],
                        watchlists=[("treaty", harness.Q_TREATY, ["out"])])
        try:
            e.conf(daemon={"control": sock, "startup-spread": "0", "instance": "ctl-test",
                           "prefix": "other:"},
                   feeds=[("s", e.http.url("/seeds.rss"))],
                   watchlists=[("treaty", harness.Q_TREATY, ["out"]),
                               ("ukraine", harness.Q_UKRAINE, ["out"])], sinks=CONSOLE)
            rc, out, err = ctl("-s", sock, "reload")
            check(rc == 0, "reload rc %s %s" % (rc, err))
            check("needs a restart: [daemon] prefix" in out, "reply does not name prefix: %r" % out)
            check("watchlists   added 1 (ukraine)" in out, "table: %r" % out)
            check(wait_for(lambda: "prefix changed: that takes a restart" in d.read_stderr(), 5),
                  "the kept key is not logged")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)
        check(e.redis.keys("other:*") == [], "the new prefix was used without a restart")


@scenario("control", "issue10", "reload", "slow")
def reload_100_under_load(ctx):
    """Four feeds polled every second, each poll bringing a new matching
    item, while the config is reloaded 100 times (alternately adding and
    removing a watchlist and a fifth feed, and changing an interval): every
    item of the four feeds alerts exactly once.  Run with
    WIREWATCHD=<ASan build> to check for leaks and use-after-free."""
    now = time.time()
    st = {"f%d" % i: [] for i in range(4)}
    st["x"] = [("x0", "sanctions x0", now)]
    counter = {"n": 0}

    def route(k):
        def r(req):
            if k != "x":
                counter["n"] += 1
                st[k].insert(0, ("%s-%d" % (k, counter["n"]),
                                 "sanctions %s %d" % (k, counter["n"]), time.time()))
                del st[k][50:]
            return Response(200, rss(st[k]), {"Content-Type": "application/rss+xml"})
        return r

    with Env(ctx) as e:
        for k in st:
            e.http.routes["/" + k] = route(k)
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        base = [("f%d" % i, e.http.url("/f%d" % i), {"interval": "1s"}) for i in range(4)]
        d, conf = start(ctx, e, sock, feeds=base, watchlists=[("w", "sanctions", ["out"])])

        def conf_n(n):
            feeds = list(base)
            feeds[0] = ("f0", e.http.url("/f0"), {"interval": "1s" if n % 3 else "2s"})
            wls = [("w", "sanctions", ["out"])]
            if n % 2:
                feeds.append(("x", e.http.url("/x"), {"interval": "1s"}))
                wls.append(("extra", "embargo", ["out"]))
            e.conf(daemon={"control": sock, "startup-spread": "0", "instance": "ctl-test"},
                   feeds=feeds, watchlists=wls, sinks=CONSOLE)

        try:
            check(wait_for(lambda: len(console_alerts(d)) >= 4, 15), "no alerts at start")
            for n in range(1, 101):
                conf_n(n)
                if n % 2:
                    d.signal(signal.SIGHUP)
                    check(wait_for(lambda: status(sock)["config_revision"] == n + 1, 10),
                          "SIGHUP %d not applied" % n)
                else:
                    rc, _, err = ctl("-s", sock, "reload")
                    check(rc == 0, "reload %d: rc %s %s" % (n, rc, err))
                time.sleep(0.1)
            time.sleep(2)
            check(status(sock)["config_revision"] == 101, "revision is not 101")
        finally:
            r = stop_daemon(d, timeout=30)
        check(r.rc == 0, "exit status %s: %s" % (r.rc, r.tail()))
        check("ERROR: AddressSanitizer" not in r.stderr and "LeakSanitizer" not in r.stderr,
              "sanitizer report:\n%s" % r.tail(60))
        alerts = r.alerts()
        ids = {}
        for a in alerts:
            if a.get("watchlist") == "w" and not a.get("title", "").startswith("sanctions x"):
                ids[a.get("title")] = ids.get(a.get("title"), 0) + 1
        doubled = {k: v for k, v in ids.items() if v > 1}
        check(not doubled, "alerts doubled: %r" % doubled)
        # Every item recorded as seen alerted: the seen keys of f0..f3 items
        # equal the alerted titles.
        check(len(ids) >= 40, "only %d items alerted while %d were served"
              % (len(ids), counter["n"]))
        seen = len([k for k in e.redis.keys("ww:seen:*")])
        xs = 1 if any(a.get("title") == "sanctions x0" for a in alerts) else 0
        check(seen == len(ids) + xs,
              "%d items marked seen but %d alerted (+%d x): an alert was lost" % (seen, len(ids), xs))


@scenario("control", "issue10", "reload")
def reload_removed_sink_dead_letters(ctx):
    """A paced sink (slack, one message a second, no digests) with 20
    alerts waiting is removed by a reload: the ones still waiting go to the
    dead letters with the reason, the one in flight finishes, the other
    sink keeps delivering, and every alert is either delivered or
    dead-lettered: none lost, none twice."""
    now = time.time()
    items = [("i%d" % i, "sanctions %d" % i, now - i) for i in range(20)]
    with Env(ctx, webhook=True) as e:
        e.http.routes["/f"] = rss(items)
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        sinks = [("out", {"type": "console"}),
                 ("chat", {"type": "slack", "url": e.hook.url("/slack"), "digest-after": "0"})]
        feeds = [("f", e.http.url("/f"), {"interval": "1h"})]
        d, conf = start(ctx, e, sock, feeds=feeds, sinks=sinks,
                        watchlists=[("w", "sanctions", ["out", "chat"])])
        try:
            check(wait_for(lambda: len(console_alerts(d)) == 20, 15), "console alerts missing")
            check(wait_for(lambda: len(e.hook.posts) >= 2, 10), "slack sink never delivered")
            e.conf(daemon={"control": sock, "startup-spread": "0", "instance": "ctl-test"},
                   feeds=feeds, sinks=[("out", {"type": "console"})],
                   watchlists=[("w", "sanctions", ["out"])])
            rc, out, err = ctl("-s", sock, "--json", "reload")
            check(rc == 0, "reload: %s %r" % (rc, err))
            check(json.loads(out)["sinks"]["removed"] == ["chat"], "reply: %s" % out)
            posted = len(e.hook.posts)

            def dead():
                def text(x):
                    return x.decode() if isinstance(x, bytes) else x
                return [dict(zip([text(x) for x in f[0::2]], [text(x) for x in f[1::2]]))
                        for _id, f in e.redis.cmd("XRANGE", "ww:dead", "-", "+")]
            check(wait_for(lambda: len(dead()) + posted >= 20, 10),
                  "waiting alerts not dead-lettered: %d dead, %d posted" % (len(dead()), posted))
            time.sleep(1.5)
            dl = dead()
            check(all("removed from the configuration" in x["reason"] for x in dl),
                  "dead-letter reasons: %r" % [x["reason"] for x in dl][:3])
            # One Slack message per alert (digest-after = 0).
            delivered = [p for p in e.hook.posts if p["status"] == 200]
            check(len(delivered) + len(dl) == 20,
                  "%d delivered + %d dead-lettered != 20" % (len(delivered), len(dl)))
            check(len({x["id"] for x in dl}) == len(dl), "an alert dead-lettered twice")
            sent = " ".join(p["body"].decode("utf-8", "replace") for p in delivered)
            dead_titles = [json.loads(x["alert"])["title"] for x in dl]
            check(all(re.search(re.escape(t) + r"(?!\d)", sent) is None for t in
                      [json.loads(x["alert"])["title"] for x in dl]) and
                  all(re.search(re.escape("sanctions %d" % i) + r"(?!\d)", sent) or
                      "sanctions %d" % i in dead_titles for i in range(20)),
                  "delivered and dead-lettered titles do not partition the 20 items")
            check(len(e.hook.posts) <= posted + 1, "the removed sink kept receiving")
            check(e.redis.cmd("XPENDING", "ww:outbox", "dispatch")[0] == 0,
                  "alerts still pending in the outbox")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("control", "issue10", "reload")
def reload_removes_feed_mid_download(ctx):
    """A feed whose download is in flight (the server trickles it over
    ~6 s) is removed by a reload: the download is cancelled, none of its
    items is recorded or alerted, the daemon keeps polling the others and
    stops cleanly."""
    now = time.time()
    slow = rss([("s%d" % i, "sanctions slow %d" % i, now - i) for i in range(5)])
    with Env(ctx) as e:
        e.http.routes["/slow"] = Response(200, slow, {"Content-Type": "application/rss+xml"},
                                          trickle=(max(1, len(slow) // 20), 0.3))
        e.http.routes["/quick"] = rss([("q1", "sanctions quick", now)])
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        quick = ("quick", e.http.url("/quick"), {"interval": "1s"})
        d, conf = start(ctx, e, sock, feeds=[("slow", e.http.url("/slow"), {"interval": "1h"}),
                                             quick],
                        watchlists=[("w", "sanctions", ["out"])])
        try:
            check(wait_for(lambda: len(e.http.hits("/slow")) == 1, 5), "slow feed not requested")
            check(wait_for(lambda: ctl_json(sock, "feeds")["feeds"][0]["polling"], 5),
                  "the slow poll is not in progress")
            e.conf(daemon={"control": sock, "startup-spread": "0", "instance": "ctl-test"},
                   feeds=[quick], watchlists=[("w", "sanctions", ["out"])], sinks=CONSOLE)
            rc, out, err = ctl("-s", sock, "--json", "reload")
            check(rc == 0 and json.loads(out)["feeds"]["removed"] == ["slow"],
                  "reload: %s %r %r" % (rc, out, err))
            hits = len(e.http.hits("/quick"))
            time.sleep(7)   # past the end of the trickled body
            check(len(e.http.hits("/quick")) >= hits + 3, "the other feed stopped polling")
            got = [a.get("title") for a in console_alerts(d)]
            check(got == ["sanctions quick"], "alerts: %r" % got)
            check(status(sock)["polls_running"] <= 1, "a poll is left running")
            check(e.redis.cmd("EXISTS", "ww:feed:slow") == 0,
                  "the removed feed's poll saved state")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("control", "issue10", "reload")
def reload_changes_sink(ctx):
    """A webhook sink's URL changed by a reload: the next alert goes to the
    new URL, none to the old one; a sink added by the same reload and named
    by a changed watchlist gets its alerts too."""
    now = time.time()
    st = {"items": [("a1", "sanctions one", now - 10)]}
    with Env(ctx, webhook=True) as e:
        e.http.routes["/f"] = lambda req: Response(200, rss(st["items"]),
                                                   {"Content-Type": "application/rss+xml"})
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        feeds = [("f", e.http.url("/f"), {"interval": "1s"})]
        d, conf = start(ctx, e, sock, feeds=feeds,
                        sinks=[("hook", {"type": "webhook", "url": e.hook.url("/old")})],
                        watchlists=[("w", "sanctions", ["hook"])])
        try:
            check(wait_for(lambda: len(e.hook.accepted("/old")) == 1, 10), "first alert missing")
            e.conf(daemon={"control": sock, "startup-spread": "0", "instance": "ctl-test"},
                   feeds=feeds,
                   sinks=[("hook", {"type": "webhook", "url": e.hook.url("/new")}),
                          ("more", {"type": "webhook", "url": e.hook.url("/more")})],
                   watchlists=[("w", "sanctions", ["hook", "more"])])
            rc, out, err = ctl("-s", sock, "--json", "reload")
            r = json.loads(out) if rc == 0 else {}
            check(rc == 0 and r["sinks"] == {"added": ["more"], "removed": [], "changed": ["hook"]}
                  and r["watchlists"]["changed"] == ["w"], "reload: %s %r %r" % (rc, out, err))
            st["items"].insert(0, ("a2", "sanctions two", time.time()))
            check(wait_for(lambda: len(e.hook.accepted("/new")) == 1 and
                           len(e.hook.accepted("/more")) == 1, 10),
                  "the changed/added sinks got no alert: new %d more %d" %
                  (len(e.hook.accepted("/new")), len(e.hook.accepted("/more"))))
            time.sleep(1)
            check(len(e.hook.accepted("/old")) == 1, "the old URL still receives alerts")
            check([a["title"] for a in e.hook.accepted("/new")] == ["sanctions two"],
                  "new URL got %r" % e.hook.accepted("/new"))
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)
