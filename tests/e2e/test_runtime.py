"""Issue 10: run-time watchlists and feeds over the control socket.

Real daemons on one real redis-server: a watchlist added with
`wirewatchctl watchlist add` alerts on the next matching item, survives a
restart, is picked up by a second daemon on the same Redis without a
restart, and stops alerting when removed; errors say what is wrong; every
mutating command is audited; read-only peers cannot change anything.
"""
import os
import subprocess
import time

import harness
from harness import CONSOLE, Daemon, Env, Response, check, console_alerts, rss, scenario, \
    stop_daemon, wait_for
from test_control import NOBODY, ctl, ctl_json, ping, run_dir, start


def titles(d, watchlist):
    return [a.get("title") for a in console_alerts(d) if a.get("watchlist") == watchlist]


def audit(e):
    """The audit stream as a list of dicts."""
    out = []
    for _id, fields in e.redis.cmd("XRANGE", "ww:audit", "-", "+"):
        f = [x.decode() if isinstance(x, bytes) else x for x in fields]
        out.append(dict(zip(f[0::2], f[1::2])))
    return out


def wl_names(sock):
    return {w["name"]: w for w in ctl_json(sock, "watchlists")["watchlists"]}


@scenario("control", "issue10", "runtime")
def runtime_watchlist_lifecycle(ctx):
    """watchlist add -> a new matching item alerts; `watchlists` and
    `watchlist show` show it (origin runtime, alerts 1); errors for an
    existing name, a bad query (the config check's column-precise
    message), a config watchlist's name, an unknown sink, a missing name;
    --replace changes it; restart -> still there and alerting; a second
    daemon on the same Redis picks up a new watchlist without restart and
    alerts alone; remove -> no more alerts; every command audited."""
    now = time.time()
    st = {"items": [("old", "embargo old", now - 30)]}
    with Env(ctx) as e:
        e.http.routes["/f"] = lambda req: Response(200, rss(st["items"]),
                                                   {"Content-Type": "application/rss+xml"})
        run = run_dir(ctx)
        sa, sb = os.path.join(run, "a.sock"), os.path.join(run, "b.sock")
        feeds = [("f", e.http.url("/f"), {"interval": "1s"})]
        wls = [("cfgwl", "zzznothing", ["out"])]
        a, conf_a = start(ctx, e, sa, name="a.conf", feeds=feeds, watchlists=wls,
                          daemon={"instance": "a"})
        b = None
        try:
            check(wait_for(lambda: e.redis.cmd("EXISTS", "ww:feed:f") == 1, 10),
                  "feed f never polled")
            rc, out, err = ctl("-s", sa, "watchlist", "add", "rtw", "embargo", "--sinks", "out")
            check(rc == 0 and 'watchlist "rtw" added' in out, "add: rc %s %r %r" % (rc, out, err))
            w = wl_names(sa)
            check(w["rtw"]["origin"] == "runtime" and w["cfgwl"]["origin"] == "config" and
                  w["rtw"]["sinks"] == ["out"] and w["rtw"]["query"] == "embargo",
                  "watchlists: %r" % w)
            st["items"].insert(0, ("n1", "embargo one", time.time()))
            check(wait_for(lambda: titles(a, "rtw") == ["embargo one"], 10),
                  "the new item did not alert for the run-time watchlist: %r" % console_alerts(a))
            check("embargo old" not in titles(a, "rtw"), "an item seen before the add alerted")
            rc, out, err = ctl("-s", sa, "watchlist", "show", "rtw")
            check(rc == 0 and "origin      runtime" in out and "alerts      1 " in out,
                  "show: rc %s %r %r" % (rc, out, err))
            # Errors.
            rc, _, err = ctl("-s", sa, "watchlist", "add", "rtw", "x", "--sinks", "out")
            check(rc == 1 and "exists" in err and "--replace" in err, "re-add: %s %r" % (rc, err))
            rc, _, err = ctl("-s", sa, "watchlist", "add", "bad", "(embargo AND", "--sinks", "out")
            want = subprocess.run([os.path.join(harness.ROOT, "build", "wirewatchctl"), "check",
                                   "-c", e.conf(name="bad.conf", feeds=feeds, sinks=CONSOLE,
                                                watchlists=[("bad", "(embargo AND", ["out"])])],
                                  capture_output=True, text=True).stderr.strip()
            check("column" in want, "config check message: %r" % want)
            check(rc == 1 and want.split(": ", 1)[1] in err,
                  "bad query: %r, the config check says %r" % (err, want))
            rc, _, err = ctl("-s", sa, "watchlist", "add", "cfgwl", "x", "--sinks", "out")
            check(rc == 1 and "origin: config" in err, "config name: %r" % err)
            rc, _, err = ctl("-s", sa, "watchlist", "add", "s", "x", "--sinks", "nosuch")
            check(rc == 1 and "unknown sink 'nosuch'" in err, "unknown sink: %r" % err)
            rc, _, err = ctl("-s", sa, "watchlist", "remove", "nosuch")
            check(rc == 1 and 'no run-time watchlist "nosuch"' in err, "remove missing: %r" % err)
            rc, _, err = ctl("-s", sa, "watchlist", "remove", "cfgwl")
            check(rc == 1 and "origin: config" in err, "remove config: %r" % err)
            rc, _, err = ctl("-s", sa, "watchlist", "add", "x")
            check(rc == 2, "usage error exit %s" % rc)
            # --replace.
            rc, out, err = ctl("-s", sa, "watchlist", "add", "rtw", "embargo OR blockade",
                               "--sinks", "out", "--replace")
            check(rc == 0, "replace: %s %r" % (rc, err))
            check(wl_names(sa)["rtw"]["query"] == "embargo OR blockade", "replace not applied")

            # Restart: still there, still alerting.
            r = stop_daemon(a)
            check(r.rc == 0, "exit %s" % r.rc)
            a, _ = start(ctx, e, sa, name="a.conf", feeds=feeds, watchlists=wls,
                         daemon={"instance": "a"})
            check(wl_names(sa)["rtw"]["query"] == "embargo OR blockade",
                  "the run-time watchlist did not survive the restart")
            st["items"].insert(0, ("n2", "blockade two", time.time()))
            check(wait_for(lambda: titles(a, "rtw") == ["blockade two"], 10),
                  "no alert after the restart: %r" % console_alerts(a))

            # A second daemon on the same Redis, added while both run.
            b, _ = start(ctx, e, sb, name="b.conf", feeds=feeds, watchlists=wls,
                         daemon={"instance": "b"})
            check("rtw" in wl_names(sb), "daemon b does not have rtw at start")
            rc, _, err = ctl("-s", sa, "watchlist", "add", "rt2", "sanctions", "--sinks", "out")
            check(rc == 0, "add rt2: %r" % err)
            check(wait_for(lambda: "rt2" in wl_names(sb), 5),
                  "daemon b did not pick up rt2 without a restart")
            r = stop_daemon(a)
            a = None
            check(r.rc == 0, "daemon a: exit status %s" % r.rc)
            st["items"].insert(0, ("n3", "sanctions three", time.time()))
            check(wait_for(lambda: titles(b, "rt2") == ["sanctions three"], 10),
                  "daemon b does not alert for rt2: %r" % console_alerts(b))

            # Remove (through b): no more alerts.
            rc, out, err = ctl("-s", sb, "watchlist", "remove", "rtw")
            check(rc == 0 and 'watchlist "rtw" removed' in out, "remove: %s %r %r" % (rc, out, err))
            check("rtw" not in wl_names(sb), "rtw still listed")
            st["items"].insert(0, ("n4", "embargo four", time.time()))
            st["items"].insert(0, ("n5", "sanctions five", time.time()))
            check(wait_for(lambda: "sanctions five" in titles(b, "rt2"), 10), "b stopped polling")
            time.sleep(1.5)
            check(titles(b, "rtw") == [], "a removed watchlist alerted: %r" % titles(b, "rtw"))
            rc, out, _ = ctl("-s", sb, "watchlist", "export")
            check(rc == 0 and '[watchlist "rt2"]' in out and "query = sanctions" in out and
                  "sinks = out" in out and "rtw" not in out, "export: %r" % out)
        finally:
            rcs = [stop_daemon(d).rc for d in (a, b) if d is not None]
        check(rcs == [0] * len(rcs), "exit status %r" % rcs)
        au = audit(e)
        cmds = [(x["cmd"], x["result"] == "ok") for x in au]
        check(("watchlist.add", True) in cmds and ("watchlist.add", False) in cmds and
              ("watchlist.remove", True) in cmds and ("watchlist.remove", False) in cmds,
              "audit stream: %r" % cmds)
        check(all(x["uid"] == str(os.geteuid()) and int(x["pid"]) > 0 and x["time"]
                  for x in au), "audit entries lack uid/pid/time: %r" % au[:2])


@scenario("control", "issue10", "runtime")
def runtime_feed_lifecycle(ctx):
    """feed add -> polled (origin runtime) and its items alert; a bad URL
    and a config feed's name are refused; the URL's secret is masked in the
    audit; restart keeps it; feed remove -> no more polls."""
    now = time.time()
    with Env(ctx) as e:
        e.http.routes["/rf"] = rss([("r1", "sanctions r1", now)])
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, _ = start(ctx, e, sock, feeds=[("s", e.http.url("/seeds.rss"))],
                     watchlists=[("w", "sanctions", ["out"])])
        try:
            url = e.http.url("/rf?token=hushhush")
            rc, out, err = ctl("-s", sock, "feed", "add", "rf", url, "--interval", "1s")
            check(rc == 0 and 'feed "rf" added' in out, "feed add: %s %r %r" % (rc, out, err))
            check(wait_for(lambda: "sanctions r1" in titles(d, "w"), 10),
                  "the run-time feed's item did not alert")
            f = {x["name"]: x for x in ctl_json(sock, "feeds")["feeds"]}
            check(f["rf"]["origin"] == "runtime" and f["s"]["origin"] == "config" and
                  f["rf"]["interval"] == 1 and "hushhush" not in f["rf"]["url"], "feeds: %r" % f)
            rc, _, err = ctl("-s", sock, "feed", "add", "x", "ftp://example.org/f")
            check(rc == 1 and "http" in err, "bad url: %r" % err)
            rc, _, err = ctl("-s", sock, "feed", "add", "s", e.http.url("/x"))
            check(rc == 1 and "origin: config" in err, "config name: %r" % err)
            r = stop_daemon(d)
            check(r.rc == 0, "exit status %s" % r.rc)
            d, _ = start(ctx, e, sock, feeds=[("s", e.http.url("/seeds.rss"))],
                         watchlists=[("w", "sanctions", ["out"])])
            check(wait_for(lambda: "rf" in [x["name"] for x in
                                            ctl_json(sock, "feeds")["feeds"]], 5),
                  "the run-time feed did not survive the restart")
            rc, out, err = ctl("-s", sock, "feed", "remove", "rf")
            check(rc == 0 and 'feed "rf" removed' in out, "feed remove: %r %r" % (out, err))
            n = len(e.http.hits("/rf"))
            time.sleep(2.5)
            check(len(e.http.hits("/rf")) <= n + 1, "a removed feed is still polled")
            check([x["name"] for x in ctl_json(sock, "feeds")["feeds"]] == ["s"], "feeds list")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit %s" % r.rc)
        au = audit(e)
        check(any(x["cmd"] == "feed.add" and "***" in x["args"] for x in au),
              "feed.add audit: %r" % au)
        check(not any("hushhush" in x["args"] for x in au), "the secret is in the audit")


@scenario("control", "issue10", "runtime", "security")
def runtime_read_group_refused_writes(ctx):
    """A member of control-read-group reads (watchlist show/export) but
    every mutating verb is refused: permission denied, exit 1, logged, and
    nothing changes in Redis."""
    check(os.geteuid() == 0, "this scenario runs clients as nobody: run it as root")
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, _ = start(ctx, e, sock, daemon={"control-read-group": "nogroup"},
                     feeds=[("s", e.http.url("/seeds.rss"))],
                     watchlists=[("treaty", harness.Q_TREATY, ["out"])])
        try:
            for args in (["watchlist", "add", "x", "sanctions", "--sinks", "out"],
                         ["watchlist", "remove", "treaty"],
                         ["feed", "add", "y", e.http.url("/y")],
                         ["feed", "remove", "s"], ["reload"]):
                rc, out, err = ctl("-s", sock, *args, user=NOBODY)
                check(rc == 1 and "permission denied" in err,
                      "nobody (read group) %s: rc %s %r" % (args, rc, err))
            rc, out, err = ctl("-s", sock, "watchlist", "show", "treaty", user=NOBODY)
            check(rc == 0 and "origin      config" in out, "read verb refused: %r" % err)
            check("'watchlist.add' refused: read-only access" in d.read_stderr(),
                  "refused write not logged")
            check(e.redis.cmd("HLEN", "ww:rt:watchlists") == 0 and
                  e.redis.cmd("HLEN", "ww:rt:feeds") == 0, "a refused write changed Redis")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit %s" % r.rc)


@scenario("control", "issue10", "runtime", "backfill")
def runtime_watchlist_backfill(ctx):
    """watchlist add ... --backfill 1h alerts on the matching items polled
    before the add (kept items), once each; removed and added again with
    --backfill, nothing repeats; an item that alerts later still does."""
    now = time.time()
    st = {"items": [("b1", "embargo one", now - 60), ("b2", "embargo two", now - 50),
                    ("b3", "tariffs three", now - 40)]}
    with Env(ctx) as e:
        e.http.routes["/f"] = lambda req: Response(200, rss(st["items"]),
                                                   {"Content-Type": "application/rss+xml"})
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, _ = start(ctx, e, sock, feeds=[("f", e.http.url("/f"), {"interval": "1s"})],
                     watchlists=[("other", "zzznothing", ["out"])])
        try:
            check(wait_for(lambda: e.redis.cmd("EXISTS", "ww:feed:f") == 1, 10), "never polled")
            rc, out, err = ctl("-s", sock, "watchlist", "add", "bw", "embargo", "--sinks", "out",
                               "--backfill", "1h")
            check(rc == 0 and "backfill: 3 kept items, 2 matching, 2 alerted now" in out,
                  "add --backfill: rc %s %r %r" % (rc, out, err))
            check(wait_for(lambda: sorted(titles(d, "bw")) == ["embargo one", "embargo two"], 10),
                  "backfilled alerts: %r" % titles(d, "bw"))
            rc, out, err = ctl("-s", sock, "watchlist", "remove", "bw")
            check(rc == 0, "remove: %r" % err)
            rc, out, err = ctl("-s", sock, "--json", "watchlist", "add", "bw", "embargo",
                               "--sinks", "out", "--backfill", "1h")
            check(rc == 0, "re-add: %r" % err)
            r = __import__("json").loads(out)
            check(r["backfill"]["queued"] == 0 and r["backfill"]["skipped"] == 2,
                  "re-add backfill repeated: %r" % r["backfill"])
            st["items"].insert(0, ("b4", "embargo four", time.time()))
            check(wait_for(lambda: "embargo four" in titles(d, "bw"), 10), "a new item did not alert")
            time.sleep(1)
            check(sorted(titles(d, "bw")) == ["embargo four", "embargo one", "embargo two"],
                  "alerts: %r" % titles(d, "bw"))
            rc, _, err = ctl("-s", sock, "watchlist", "add", "x", "embargo", "--sinks", "out",
                             "--backfill", "soon")
            check(rc == 1 and "backfill" in err, "bad --backfill: %s %r" % (rc, err))
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit %s" % r.rc)


@scenario("control", "issue10", "runtime", "slow")
def runtime_lost_announcement(ctx):
    """A change whose pub/sub announcement never came (written to Redis by
    hand, no PUBLISH): the periodic revision check picks it up within
    about 15 s."""
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, _ = start(ctx, e, sock, feeds=[("s", e.http.url("/seeds.rss"))],
                     watchlists=[("treaty", harness.Q_TREATY, ["out"])])
        try:
            check(wait_for(lambda: "subscribed to ww:rt:changed" in d.read_stderr(), 10),
                  "never subscribed")
            e.redis.cmd("HSET", "ww:rt:watchlists", "quiet",
                        '{"query":"sanctions","sinks":["out"]}')
            e.redis.cmd("INCR", "ww:rt:rev")
            time.sleep(1)
            check("quiet" not in wl_names(sock), "picked up at once: not a lost announcement")
            check(wait_for(lambda: "quiet" in wl_names(sock), 20),
                  "a change without its announcement was never picked up")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit %s" % r.rc)
