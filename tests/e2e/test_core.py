"""Issue 2 scenarios: seed articles, dedup across runs/feeds, broken feeds,
webhook retries, Redis down, config errors, signals."""
import os
import re
import subprocess
import signal
import time

import harness
from harness import (DD_ID, DD_PUBLISHED, DD_TITLE, QNA_ID, QNA_PUBLISHED, QNA_TITLE,
                     Q_TREATY, Q_UKRAINE, Daemon, Env, FeedServer, Redis, Response, Webhook,
                     by_watchlist, check, config, run_daemon, scenario, seed, wait_for,
                     write)

CONSOLE = [("out", {"type": "console"})]
WATCH_CONSOLE = [("treaty", Q_TREATY, ["out"]), ("ukraine", Q_UKRAINE, ["out"])]


def links(alerts):
    return sorted(a.get("link") for a in alerts)


def expect_seed_alerts(alerts, what):
    """treaty: QNA only; ukraine: QNA and Devdiscourse, once each."""
    w = by_watchlist(alerts)
    check(set(w) <= {"treaty", "ukraine"}, "%s: alerts for unexpected watchlists %s" % (what, sorted(w, key=str)))
    t, u = w.get("treaty", []), w.get("ukraine", [])
    check(links(t) == [QNA_ID],
          "%s: watchlist treaty (%s) should alert once on the QNA article, got %d alert(s): %s"
          % (what, Q_TREATY, len(t), links(t)))
    check(links(u) == sorted([QNA_ID, DD_ID]),
          "%s: watchlist ukraine (%s) should alert once on each seed article, got %d alert(s): %s"
          % (what, Q_UKRAINE, len(u), links(u)))
    check(len(alerts) == 3, "%s: expected 3 alerts in all, got %d" % (what, len(alerts)))


def check_payload(a, feeds):
    for k in ("watchlist", "title", "link", "published", "feed", "terms", "snippet", "id"):
        check(k in a, "alert lacks member %r: %s" % (k, sorted(a)))
    check(a["feed"] in feeds, "alert feed %r is not one of %s" % (a["feed"], feeds))
    check(isinstance(a["terms"], list) and a["terms"] and all(isinstance(x, str) for x in a["terms"]),
          "alert terms should be a non-empty array of strings: %r" % (a["terms"],))
    check(isinstance(a["snippet"], str) and a["snippet"].strip(), "alert snippet empty: %r" % (a["snippet"],))
    check(not re.search(r"<\s*/?\s*(p|ul|li)\b|&(lt|gt|amp|#\d+);", a["snippet"]),
          "snippet still contains HTML markup or entities: %r" % a["snippet"][:200])
    check(isinstance(a["id"], str) and a["id"], "alert id empty: %r" % (a["id"],))
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(a["published"])),
          "published is not RFC 3339 UTC YYYY-MM-DDTHH:MM:SSZ: %r" % (a["published"],))
    if a["link"] == QNA_ID:
        check(a["title"] == QNA_TITLE, "QNA title mangled: %r" % a["title"])
        check(a["published"] == QNA_PUBLISHED, "QNA published %r, want %s" % (a["published"], QNA_PUBLISHED))
    elif a["link"] == DD_ID:
        check(a["title"] == DD_TITLE, "Devdiscourse title mangled: %r" % a["title"])
        check(a["published"] == DD_PUBLISHED,
              "Devdiscourse published %r, want %s (from %s)" % (
                  a["published"], DD_PUBLISHED,
                  "pubDate '13-07-2025 02:57 IST'" if a["feed"] == "rss" else "2025-07-13T02:57:00+05:30"))
    if a["watchlist"] == "treaty":
        check(any("treaty" in t.lower() for t in a["terms"]),
              "treaty alert terms do not name 'treaty': %r" % (a["terms"],))


SEED_FEEDS = lambda e: [("rss", e.http.url("/seeds.rss")), ("atom", e.http.url("/seeds.atom"))]


# ------------------------------------------------------------------ 1

@scenario("core", "webhook")
def seeds_rss_and_atom_webhook(ctx):
    """Both seed feeds (same ids): treaty alerts once on QNA, ukraine once on each."""
    with Env(ctx, webhook=True) as e:
        conf = e.conf(daemon={"user-agent": "wirewatch-e2e/1.0"}, feeds=SEED_FEEDS(e),
                      watchlists=[("treaty", Q_TREATY, ["hook-treaty"]),
                                  ("ukraine", Q_UKRAINE, ["hook-ukraine"])],
                      sinks=[("hook-treaty", {"type": "webhook", "url": e.hook.url("/treaty")}),
                             ("hook-ukraine", {"type": "webhook", "url": e.hook.url("/ukraine")})])
        r = run_daemon(ctx, conf)
        check(not r.timed_out, "--once did not finish in 60s")
        check(e.http.requests, "the daemon fetched nothing (exit %s)" % r.rc)
        check(e.http.hits("/seeds.rss") and e.http.hits("/seeds.atom"), "not both feeds were fetched")
        check(r.rc == 0, "--once exit status %s, want 0" % r.rc)
        posts = e.hook.posts
        for p in posts:
            check(p["headers"].get("content-type", "").split(";")[0].strip() == "application/json",
                  "webhook Content-Type %r" % p["headers"].get("content-type"))
            check(isinstance(p["json"], dict), "webhook body is not a JSON object: %r" % p["body"][:200])
        alerts = e.hook.accepted()
        for a, path in [(harness.alert_of(p), p["path"]) for p in posts]:
            check(a.get("watchlist") == path.strip("/"),
                  "alert for watchlist %r went to sink %s" % (a.get("watchlist"), path))
        expect_seed_alerts(alerts, "webhook")
        check(len(posts) == 3, "webhook received %d POSTs, want 3" % len(posts))
        check(r.stdout.strip() == "", "stdout not empty without a console sink: %r" % r.stdout[:200])
        uas = {h["headers"].get("user-agent") for h in e.http.requests}
        check(uas == {"wirewatch-e2e/1.0"}, "feed requests sent User-Agent %s, want the configured one" % uas)


@scenario("core", "parse")
def rss_alone_console(ctx):
    """RSS feed alone: all payload members, RFC 3339 dates (incl. '13-07-2025 02:57 IST')."""
    _alone(ctx, "rss", "/seeds.rss")


@scenario("core", "parse")
def atom_alone_console(ctx):
    """Atom feed alone: same alerts and payloads as RSS."""
    _alone(ctx, "atom", "/seeds.atom")


def _alone(ctx, name, path):
    with Env(ctx) as e:
        conf = e.conf(feeds=[(name, e.http.url(path))], watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf)
        check(r.rc == 0, "--once exit status %s, want 0" % r.rc)
        alerts = r.alerts()   # every stdout line must be a JSON object
        expect_seed_alerts(alerts, "console")
        for a in alerts:
            check_payload(a, [name])


# ------------------------------------------------------------------ 2

@scenario("core", "redis", "dedup")
def second_run_silent_flushall_alerts_again(ctx):
    with Env(ctx) as e:
        conf = e.conf(feeds=SEED_FEEDS(e), watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r1 = run_daemon(ctx, conf)
        check(r1.rc == 0, "first run exit status %s" % r1.rc)
        expect_seed_alerts(r1.alerts(), "first run")
        seen = e.redis.keys("ww:seen:*")
        check(len(seen) == 2, "want 2 ww:seen:* keys (one per item, shared by both feeds), got %d: %s"
              % (len(seen), seen[:5]))
        ttl = e.redis.cmd("TTL", seen[0])
        check(0 < ttl <= 86400, "seen key TTL %s, want (0, 86400] for seen-ttl = 1d" % ttl)
        r2 = run_daemon(ctx, conf)
        check(r2.rc == 0, "second run exit status %s" % r2.rc)
        check(r2.alerts() == [], "second run alerted again: %s" % links(r2.alerts()))
        check(len(e.http.hits("/seeds.rss")) >= 2, "second run did not poll the feed again")
        check(e.redis.cmd("FLUSHALL") == "OK", "FLUSHALL failed")
        r3 = run_daemon(ctx, conf)
        check(r3.rc == 0, "run after FLUSHALL exit status %s" % r3.rc)
        expect_seed_alerts(r3.alerts(), "after FLUSHALL")


# ------------------------------------------------------------------ 3

@scenario("core", "errors")
def broken_feeds_logged_good_feed_alerts(ctx):
    with Env(ctx) as e:
        rss = seed("seeds.rss")
        cut = rss.index(b"</content:encoded>")   # inside the first <item>
        e.http.routes["/missing.xml"] = Response(404, b"<html>gone</html>", {"Content-Type": "text/html"})
        e.http.routes["/notxml"] = Response(200, b"Hello, this is plain text, not a feed.\n" * 20,
                                            {"Content-Type": "application/rss+xml"})
        e.http.routes["/truncated.xml"] = rss[:cut]
        e.http.routes["/shortread.xml"] = Response(200, rss, {"Content-Type": "application/xml"},
                                                   truncate_at=cut)
        feeds = [("missing", e.http.url("/missing.xml")), ("notxml", e.http.url("/notxml")),
                 ("truncated", e.http.url("/truncated.xml")),
                 ("shortread", e.http.url("/shortread.xml")),
                 ("good", e.http.url("/seeds.atom"))]
        conf = e.conf(feeds=feeds, watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf)
        check(not r.timed_out, "--once did not finish")
        errs = r.stderr.splitlines()
        for name, want in [("missing", "404"), ("notxml", None), ("truncated", None), ("shortread", None)]:
            lines = [l for l in errs if 'feed "%s"' % name in l]
            check(lines, 'no stderr line names feed "%s"' % name)
            if want:
                check(any(want in l for l in lines), 'feed "%s" error does not say %s: %s' % (name, want, lines))
        check(not any('feed "good"' in l and re.search(r"error|fail", l, re.I) for l in errs),
              "the good feed was reported as failing")
        expect_seed_alerts(r.alerts(), "good feed next to broken ones")
        check(r.rc != 0, "--once exited 0 although 4 feeds failed")


# ------------------------------------------------------------------ 4

@scenario("core", "webhook")
def webhook_500_500_200_delivers_once(ctx):
    with Env(ctx, webhook=True) as e:
        e.hook.statuses["/hook"] = [500, 500, 200]
        conf = e.conf(feeds=[("rss", e.http.url("/seeds.rss"))],
                      watchlists=[("treaty", Q_TREATY, ["hook"])],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url("/hook"),
                                       "retries": "3", "retry-delay": "1s", "timeout": "5s"})])
        r = run_daemon(ctx, conf, timeout=90)
        check(not r.timed_out, "--once did not finish in 90s")
        statuses = [p["status"] for p in e.hook.posts]
        check(statuses == [500, 500, 200], "webhook saw statuses %s, want [500, 500, 200]" % statuses)
        ok = e.hook.accepted()
        check(len(ok) == 1 and ok[0].get("link") == QNA_ID, "accepted alerts: %s" % links(ok))
        check(len({p["body"] for p in e.hook.posts}) == 1, "retries did not resend the same payload")
        check(r.elapsed >= 1.0, "3 attempts in %.2fs: no backoff between retries" % r.elapsed)
        check(r.rc == 0, "exit status %s although the alert was finally delivered" % r.rc)


@scenario("core", "webhook")
def webhook_always_failing_exits_1(ctx):
    with Env(ctx, webhook=True) as e:
        e.hook.statuses["/hook"] = [503] * 10
        conf = e.conf(feeds=[("rss", e.http.url("/seeds.rss"))],
                      watchlists=[("treaty", Q_TREATY, ["hook"])],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url("/hook"),
                                       "retries": "1", "retry-delay": "1s", "timeout": "5s"})])
        r = run_daemon(ctx, conf, timeout=60)
        check(len(e.hook.posts) == 2, "retries = 1: want 2 POSTs, got %d" % len(e.hook.posts))
        check("hook" in r.stderr, "stderr does not name the failing sink 'hook'")
        check(r.rc == 1, "exit status %s, want 1 (an alert could not be delivered)" % r.rc)


# ------------------------------------------------------------------ 5

@scenario("core", "redis")
def redis_down_fails_then_up_alerts(ctx):
    with Env(ctx) as e:
        e.redis.stop()   # the socket path now has no server
        conf = e.conf(feeds=SEED_FEEDS(e), watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf, timeout=60)
        check(not r.timed_out, "--once with redis down did not finish in 60s")
        check(r.rc == 1, "--once with redis down: exit status %s, want 1" % r.rc)
        check(re.search("redis", r.stderr, re.I), "stderr does not mention redis")
        check(e.redis.sock in r.stderr, "stderr does not name the redis address %s" % e.redis.sock)
        e.redis.start()
        r2 = run_daemon(ctx, conf)
        check(r2.rc == 0, "run with redis up: exit status %s" % r2.rc)
        expect_seed_alerts(r2.alerts(), "after redis came up")


# ------------------------------------------------------------------ 6

def _bad_config(ctx, e, mutate):
    good = config(redis=e.redis.url, feeds=[("rss", e.http.url("/seeds.rss"))],
                  watchlists=WATCH_CONSOLE, sinks=CONSOLE)
    text, want_lines = mutate(good)
    path = write(ctx.path("bad.conf"), text)
    lines = text.splitlines()
    r = run_daemon(ctx, path, ["-t"], timeout=20)
    check(r.rc != 0, "-t exited 0 on a bad config")
    locs = ["%s:%d:" % (path, n) for n in want_lines]
    check(any(loc in r.stderr for loc in locs),
          "-t stderr lacks %s (line: %r); stderr: %r" % (" or ".join(locs), lines[want_lines[0] - 1],
                                                           r.stderr[-300:]))
    r2 = run_daemon(ctx, path, [], timeout=10)   # a real start, not --once
    check(not r2.timed_out, "daemon started and kept running with a bad config")
    check(r2.rc != 0, "daemon exited 0 on a bad config")
    check(any(loc in r2.stderr for loc in locs), "daemon start: stderr lacks FILE:LINE")
    check(r2.stdout.strip() == "", "daemon with a bad config printed alerts")
    check(not e.http.requests, "daemon with a bad config fetched feeds")


def _line_of(text, needle):
    for i, l in enumerate(text.splitlines(), 1):
        if l.strip().startswith(needle):
            return i
    raise AssertionError(needle)


def _replaced(text, old, new):
    """text with its first old replaced by new, and the lines an error about
    it may name: the new line, or the [section] header above it."""
    text = text.replace(old, new, 1)
    n = _line_of(text, new)
    return text, [n, _header_before(text, n)]


def _header_before(text, lineno):
    lines = text.splitlines()
    for i in range(lineno, 0, -1):
        if lines[i - 1].startswith("["):
            return i
    return lineno


@scenario("core", "config")
def config_valid_t_ok(ctx):
    with Env(ctx) as e:
        conf = e.conf(feeds=SEED_FEEDS(e), watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf, ["-t"], timeout=20)
        check(r.rc == 0, "-t on a valid config: exit %s: %s" % (r.rc, r.stderr[-300:]))
        check(not e.http.requests, "-t fetched feeds")


@scenario("core", "config")
def config_unknown_key(ctx):
    def m(t):
        t = t.replace('[feed "rss"]\n', '[feed "rss"]\ncolour = blue\n')
        return t, [_line_of(t, "colour")]
    with Env(ctx) as e:
        _bad_config(ctx, e, m)


@scenario("core", "config")
def config_unknown_sink(ctx):
    def m(t):
        return _replaced(t, "sinks = out", "sinks = out, nosuch")
    with Env(ctx) as e:
        _bad_config(ctx, e, m)


@scenario("core", "config")
def config_bad_query(ctx):
    def m(t):
        return _replaced(t, "query = " + Q_TREATY, "query = @DPRK AND (treaty OR")
    with Env(ctx) as e:
        _bad_config(ctx, e, m)


@scenario("core", "config")
def config_unknown_entity(ctx):
    def m(t):
        return _replaced(t, "query = " + Q_UKRAINE, "query = @Narnia AND Ukraine")
    with Env(ctx) as e:
        _bad_config(ctx, e, m)


# ------------------------------------------------------------------ 7

def _stop_with(ctx, sig):
    with Env(ctx) as e:
        conf = e.conf(daemon={"startup-spread": "0"},
                      feeds=[("rss", e.http.url("/seeds.rss"), {"interval": "1h"})],
                      watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        d = Daemon(ctx, conf, []).start()
        try:
            got = wait_for(lambda: d.read_stdout().count("\n") >= 3, 20)
            check(d.proc.poll() is None, "daemon without --once exited early (rc %s)" % d.proc.returncode)
            check(got, "no 3 console alerts within 20s of start (startup-spread = 0); stdout %r"
                  % d.read_stdout()[-300:])
            d.signal(sig)
            t0 = time.monotonic()
            r = d.wait(15)
            stop_dt = time.monotonic() - t0
        finally:
            d.kill()
        check(not r.timed_out, "did not exit within 15s of %s" % sig.name)
        check(stop_dt < 5, "took %.1fs to stop after %s" % (stop_dt, sig.name))
        check(r.rc == 0, "exit status %s after %s, want 0" % (r.rc, sig.name))
        expect_seed_alerts(r.alerts(), "before %s" % sig.name)


@scenario("core", "signal")
def sigterm_exits_0(ctx):
    _stop_with(ctx, signal.SIGTERM)


@scenario("core", "signal")
def sigint_exits_0(ctx):
    _stop_with(ctx, signal.SIGINT)



# ------------------------------------------------------------------ identity

NOGUID = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>no guids</title><link>http://wire.invalid/</link><description>x</description>
<item><title>Pyongyang and Moscow talk Ukraine (link only)</title>
<link>http://wire.invalid/a/link-only</link>
<pubDate>Sun, 13 Jul 2025 10:00:00 +0000</pubDate>
<description>North Korea and Russia discussed Ukraine.</description></item>
<item><title>DPRK, Russia and Ukraine (title and date only)</title>
<pubDate>Sun, 13 Jul 2025 11:00:00 +0000</pubDate>
<description>North Korea backs Russia on Ukraine.</description></item>
%s
</channel></rss>
"""
OTHER_ITEM = """<item><title>Another outlet: Pyongyang backs Moscow on Ukraine</title>
<link>http://wire.invalid/a/other</link><pubDate>Sun, 13 Jul 2025 12:00:00 +0000</pubDate>
<description>North Korea, Russia, Ukraine.</description></item>"""


@scenario("core", "dedup")
def identity_without_guid(ctx):
    """Items without guid are identified by link, else title+date; stable across
    runs and across feeds carrying the same item."""
    with Env(ctx) as e:
        e.http.routes["/a.xml"] = (NOGUID % "").encode()
        conf_a = e.conf("a.conf", feeds=[("a", e.http.url("/a.xml"))],
                        watchlists=[("ukraine", Q_UKRAINE, ["out"])], sinks=CONSOLE)
        r1 = run_daemon(ctx, conf_a)
        check(r1.rc == 0, "exit %s" % r1.rc)
        titles = sorted(a.get("title") for a in r1.alerts())
        check(len(titles) == 2, "want 2 alerts (link-only and title+date items), got %s" % titles)
        r2 = run_daemon(ctx, conf_a)
        check(r2.alerts() == [], "items without guid alerted again: %s" % [a.get("title") for a in r2.alerts()])
        # feed b carries the same two items (same link / same title+date) plus a new one
        e.http.routes["/b.xml"] = (NOGUID % OTHER_ITEM).encode().replace(b"no guids", b"mirror")
        conf_b = e.conf("b.conf", feeds=[("b", e.http.url("/b.xml"))],
                        watchlists=[("ukraine", Q_UKRAINE, ["out"])], sinks=CONSOLE)
        r3 = run_daemon(ctx, conf_b)
        got = [a.get("link") for a in r3.alerts()]
        check(got == ["http://wire.invalid/a/other"],
              "second feed with the same items: want only the new item, got %s" % got)


@scenario("core", "demo")
def demo_make_run_prints_the_seed_alerts(ctx):
    """`make run`'s script (conf/demo/run.sh: private redis-server, the
    two seed feeds over file://, console sink) prints what README says:
    the QNA article for the treaty watchlist, and for the broader one the
    story's alert plus an "Also reported by" update; its control socket
    answers; SIGTERM stops it (and its redis) cleanly."""
    import json as _json
    script = os.path.join(harness.ROOT, "conf", "demo", "run.sh")
    sock = os.path.join(harness.ROOT, "run", "demo", "control.sock")
    env = dict(os.environ, WIREWATCHD=harness.DAEMON)
    p = subprocess.Popen(["sh", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        alerts = []
        os.set_blocking(p.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline and len(alerts) < 3:
            chunk = p.stdout.read() or b""
            buf += chunk
            *lines, buf = buf.split(b"\n")
            alerts += [_json.loads(l) for l in lines if l.startswith(b"{")]
            time.sleep(0.1)
        check(len(alerts) == 3, "demo printed %d alerts in 15s: %r" % (len(alerts), alerts))
        kinds = sorted((a["watchlist"], bool(a.get("update"))) for a in alerts)
        check(kinds == [("dprk-russia", False), ("dprk-russia", True),
                        ("dprk-russia-treaty", False)], "demo alerts: %r" % kinds)
        r = subprocess.run([os.path.join(harness.ROOT, "build", "wirewatchctl"), "-s", sock,
                            "status"], capture_output=True, text=True, timeout=10)
        check(r.returncode == 0 and "2 ok" in r.stdout, "demo status: %s %s" % (r.returncode, r.stdout))
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
    check(p.returncode == 143, "run.sh exit %s after SIGTERM: %s" % (p.returncode, p.stderr.read()[-500:]))
