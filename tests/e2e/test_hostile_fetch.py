"""Hostile fetch scenarios (tags hostile, fetch): file:// naming a FIFO, a
device or a directory (issue 8, finding 6); redirect hops logged without
credentials (issue 8, finding 7); 200 feeds of ~90 KB at 64 connections per
host against a server with Python's default accept backlog, and a webhook
POST that must not queue behind feed polls (issue 11)."""
import http.server
import json
import os
import re
import signal
import threading
import time

from harness import (Daemon, Redis, Response, TestFailure, check, config, run_daemon,
                     scenario, seed, wait_for, write)
from test_core import CONSOLE, WATCH_CONSOLE, Env, expect_seed_alerts


def _stop(d, timeout=5):
    """SIGTERM; returns (Run, seconds until the process was gone)."""
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    r = d.wait(timeout)
    return r, time.monotonic() - t0


def _lines(stderr, feed):
    return [l for l in stderr.splitlines() if 'feed "%s"' % feed in l]


# ------------------------------------------------------------------ finding 6

@scenario("hostile", "fetch")
def file_fifo_refused_once(ctx):
    """A file:// feed naming a FIFO (no writer) next to a normal feed:
    --once exits within seconds, logs an error naming the FIFO feed and its
    path, and the normal feed still alerts."""
    fifo = ctx.path("fifo")
    os.mkfifo(fifo)
    with Env(ctx) as e:
        conf = e.conf(feeds=[("fifo", "file://" + fifo), ("atom", e.http.url("/seeds.atom"))],
                      watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf, timeout=15)
        check(not r.timed_out, "--once still running after 15 s (blocked opening the FIFO?)")
        check(r.elapsed < 5, "--once took %.1fs with a FIFO feed" % r.elapsed)
        lines = _lines(r.stderr, "fifo")
        check(any(fifo in l and "not a regular file" in l for l in lines),
              "no error naming the FIFO feed, its path and 'not a regular file': %s" % lines)
        expect_seed_alerts(r.alerts(), "normal feed next to a FIFO")
        check(r.rc != 0, "--once exited 0 although the FIFO feed failed")


@scenario("hostile", "fetch", "signal")
def file_fifo_sigterm_prompt(ctx):
    """A running daemon with a FIFO feed keeps its loop: the normal feed
    alerts and SIGTERM ends the process within 1 s."""
    fifo = ctx.path("fifo")
    os.mkfifo(fifo)
    with Env(ctx) as e:
        conf = e.conf(daemon={"startup-spread": "0"},
                      feeds=[("fifo", "file://" + fifo, {"interval": "1h"}),
                             ("atom", e.http.url("/seeds.atom"), {"interval": "1h"})],
                      watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        d = Daemon(ctx, conf, args=()).start()
        try:
            wait_for(lambda: _lines(d.read_stderr(), "fifo") and
                     len(d.read_stdout().splitlines()) >= 3, 5)
            r, dt = _stop(d)
        finally:
            d.kill()
        check(not r.timed_out and dt < 1.0,
              "SIGTERM honoured after %.2fs%s (goal < 1 s)" % (dt, " (killed)" if r.timed_out else ""))
        check(r.rc == 0, "exit status %s after SIGTERM" % r.rc)
        check(any(fifo in l for l in _lines(r.stderr, "fifo")), "the FIFO feed's error was not logged")
        expect_seed_alerts(r.alerts(), "normal feed next to a FIFO, running daemon")


@scenario("hostile", "fetch")
def file_device_directory_refused(ctx):
    """file:///dev/zero and a directory are refused as not regular files (not
    read until max-body); a file over max-body is refused by its size; a
    regular file:// feed is read and alerts."""
    os.mkdir(ctx.path("dir"))
    big = ctx.path("big.xml")
    with open(big, "wb") as f:
        f.truncate(2 * 1024 * 1024)   # sparse, over max-body
    rss = write(ctx.path("seeds.rss"), seed("seeds.rss"))
    with Env(ctx) as e:
        conf = e.conf(daemon={"max-body": "1M"},
                      feeds=[("zero", "file:///dev/zero"), ("dir", "file://" + ctx.path("dir")),
                             ("big", "file://" + big), ("rss", "file://" + rss),
                             ("atom", e.http.url("/seeds.atom"))],
                      watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf, timeout=15)
        check(not r.timed_out and r.elapsed < 5, "--once took %.1fs" % r.elapsed)
        for name, path, want in [("zero", "/dev/zero", "not a regular file (a character device)"),
                                 ("dir", ctx.path("dir"), "not a regular file (a directory)"),
                                 ("big", big, "exceeds max-body")]:
            lines = _lines(r.stderr, name)
            check(any(path in l and want in l for l in lines),
                  'feed "%s": no error naming %s and saying %r: %s' % (name, path, want, lines))
        check(not any(re.search(r"error|fail", l, re.I) for l in _lines(r.stderr, "rss")),
              "the regular file:// feed failed: %s" % _lines(r.stderr, "rss"))
        expect_seed_alerts(r.alerts(), "regular file:// feed")


# ------------------------------------------------------------------ finding 7

@scenario("hostile", "fetch", "secrets")
def redirect_hops_logged_masked(ctx):
    """A feed URL with user:password and ?token= redirected (302) to another
    URL with a token: the hop is logged (-v) with both URLs masked, and no
    secret appears anywhere in the log."""
    with Env(ctx) as e:
        port = e.http.port
        e.http.routes["/old"] = Response(302, b"", {
            "Location": "http://127.0.0.1:%d/new?token=NEWt0kenSECRET" % port})
        e.http.routes["/new"] = seed("seeds.atom")
        url = "http://alice:hunter2secret@127.0.0.1:%d/old?token=OLDt0kenSECRET" % port
        conf = e.conf(feeds=[("moved", url)], watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf, args=("--once", "-v"), timeout=15)
        check(not r.timed_out, "--once did not finish")
        for secret in ("hunter2secret", "OLDt0kenSECRET", "NEWt0kenSECRET", "alice"):
            check(secret not in r.stderr, "the log shows %r" % secret)
        hops = [l for l in r.stderr.splitlines() if "redirect to" in l]
        check(any("/old" in l and "/new" in l and "***" in l for l in hops),
              "no masked log line for the 302 hop: %s" % hops)
        expect_seed_alerts(r.alerts(), "after a 302")


# ------------------------------------------------------------------ issue 11

WORDS = ("treaty summit minister election parliament sanctions budget inflation storm "
         "court ruling border trade tariff embassy protest union merger shares oil").split()


def _big_feed(i, nitems=40):
    """~90 KB of RSS; only the first item says 'hangprobe'."""
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
           '<title>Wire %d</title><link>http://wire%d.invalid/</link><description>d</description>\n' % (i, i)]
    for j in range(nitems):
        text = " ".join(WORDS[(i * 7 + j * 3 + k) % len(WORDS)] for k in range(300))
        out.append('<item><title>%s %d-%d</title><link>http://wire%d.invalid/%d</link>'
                   '<guid isPermaLink="false">urn:wire:%d:%d</guid>'
                   '<pubDate>Mon, 14 Jul 2025 08:%02d:00 +0000</pubDate>'
                   '<description>%s</description></item>\n'
                   % ("hangprobe story" if j == 0 else "Story", i, j, i, j, i, j, j % 60, text))
    out.append("</channel></rss>\n")
    return "".join(out).encode()


class SmallBacklogServer:
    """What `python3 -m http.server` is: ThreadingHTTPServer, HTTP/1.0 (one
    request per connection) and socketserver's default accept backlog of 5."""

    def __init__(self, bodies):
        outer = self
        self.bodies = bodies
        self.hits = 0
        self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = outer.bodies.get(self.path)
                with outer.lock:
                    outer.hits += 1
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = S(("127.0.0.1", 0), H)
        check(self.httpd.request_queue_size == 5, "socketserver's default backlog is no longer 5")
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@scenario("hostile", "fetch", "bigfeed")
def many_big_feeds_64_per_host(ctx):
    """200 feeds of ~90 KB on one host at per-host-connections = 64 and
    max-connections = 64, served like `python3 -m http.server`: every feed
    completes (its one matching item alerts), none times out, and the run
    ends well within the fetch timeout."""
    n = 200
    bodies = {"/f%d.xml" % i: _big_feed(i) for i in range(n)}
    size = sum(len(b) for b in bodies.values()) / n
    check(80000 < size < 100000, "feeds average %d bytes, want ~90 KB" % size)
    with Redis(ctx.path("redis.sock")) as redis, SmallBacklogServer(bodies) as srv:
        conf = write(ctx.path("wirewatch.conf"), config(
            redis=redis.url,
            daemon={"per-host-connections": "64", "max-connections": "64",
                    "fetch-timeout": "10s"},
            feeds=[("f%d" % i, "http://127.0.0.1:%d/f%d.xml" % (srv.port, i)) for i in range(n)],
            watchlists=[("probe", "hangprobe", ["out"])], sinks=CONSOLE))
        r = run_daemon(ctx, conf, timeout=60)
    timeouts = [l for l in r.stderr.splitlines() if re.search(r"time(d)? ?out", l, re.I)]
    check(not timeouts, "%d feed(s) timed out, e.g. %s" % (len(timeouts), timeouts[:3]))
    check(not r.timed_out, "--once still running after 60 s")
    got = {a.get("feed") for a in r.alerts()}
    missing = sorted(set("f%d" % i for i in range(n)) - got, key=lambda s: int(s[1:]))
    check(not missing, "%d feed(s) never alerted: %s" % (len(missing), missing[:10]))
    check(len(r.alerts()) == n, "%d alerts, want %d" % (len(r.alerts()), n))
    check(r.rc == 0, "--once exit status %s" % r.rc)
    check(r.elapsed < 10, "200 feeds took %.1fs (fetch-timeout is 10 s)" % r.elapsed)


def _rss(items):
    """items: (guid, title)."""
    out = ['<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
           '<link>http://x.invalid/</link><description>d</description>']
    for guid, title in items:
        out.append('<item><title>%s</title><link>http://x.invalid/%s</link><guid>%s</guid>'
                   '<pubDate>Mon, 14 Jul 2025 08:22:48 +0000</pubDate>'
                   '<description>%s</description></item>' % (title, guid, guid, title))
    out.append("</channel></rss>")
    return "".join(out).encode()


class TimedHook:
    """A webhook receiver that notes when each POST arrived."""

    def __init__(self):
        outer = self
        self.posts = []   # (monotonic time, JSON or None)
        self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc = json.loads(body.decode("utf-8"))
                except ValueError:
                    doc = None
                with outer.lock:
                    outer.posts.append((time.monotonic(), doc))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self.httpd = S(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    def first_post(self, needle):
        with self.lock:
            for t, doc in self.posts:
                if needle in json.dumps(doc):
                    return t
        return None

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@scenario("hostile", "fetch", "webhook")
def delivery_not_behind_polls(ctx):
    """max-connections = 1 and 30 slow feeds (0.3 s each) queued: an alert
    from a feed fetched early reaches the webhook within a second of that
    fetch instead of waiting for every queued poll (deliveries have their
    own lane)."""
    slow = 30
    fetched = {}
    with Env(ctx) as e, TimedHook() as hook:
        def hit(name):
            def route(req):
                fetched.setdefault(name, time.monotonic())
                return Response(200, _rss([("urn:%s" % name, "lanecheck item from %s" % name)]),
                                {"Content-Type": "application/rss+xml"})
            return route

        def slow_route(req):
            time.sleep(0.3)
            return Response(200, _rss([("urn:slow", "nothing to see")]),
                            {"Content-Type": "application/rss+xml"})

        e.http.routes["/hitA"] = hit("hitA")
        e.http.routes["/hitB"] = hit("hitB")
        for i in range(slow):
            e.http.routes["/slow%d" % i] = slow_route
        # Hit feeds first and last: one of them is early in the queue
        # whichever order the polls are queued in.
        feeds = ([("hitA", e.http.url("/hitA"), {"interval": "1h"})] +
                 [("slow%d" % i, e.http.url("/slow%d" % i), {"interval": "1h"}) for i in range(slow)] +
                 [("hitB", e.http.url("/hitB"), {"interval": "1h"})])
        conf = e.conf(daemon={"startup-spread": "0", "max-connections": "1",
                              "per-host-connections": "1", "fetch-timeout": "10s"},
                      feeds=feeds, watchlists=[("w", "lanecheck", ["hook"])],
                      sinks=[("hook", {"type": "webhook",
                                       "url": "http://127.0.0.1:%d/hook" % hook.port})])
        d = Daemon(ctx, conf, args=()).start()
        try:
            wait_for(lambda: hook.first_post("hitA") and hook.first_post("hitB"), 25)
            r, _ = _stop(d)
        finally:
            d.kill()
        for name in ("hitA", "hitB"):
            check(name in fetched, "feed %s was never fetched" % name)
            t = hook.first_post(name)
            check(t is not None, "no webhook POST for %s's alert" % name)
            check(t - fetched[name] < 1.5,
                  "%s's alert reached the webhook %.1fs after its fetch (queued behind polls?)"
                  % (name, t - fetched[name]))
