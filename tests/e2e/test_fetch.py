"""Issue 3 scenarios (tag issue3): conditional GET, redirects, 429/Retry-After,
slow servers, size limits, gzip bomb, billion laughs."""
import re
import time

from harness import (BILLION_LAUGHS, Daemon, Response, check, gzip_bomb, run_daemon,
                     scenario, seed, wait_for)
from test_core import CONSOLE, WATCH_CONSOLE, Env, expect_seed_alerts, links

ETAG = '"seeds-v1"'
LAST_MOD = "Mon, 14 Jul 2025 08:22:48 GMT"


def conditional(e, path, body):
    """Route that answers 304 when the request carries our ETag or Last-Modified."""
    e.cond_304 = 0

    def route(req):
        inm = req.headers.get("If-None-Match")
        ims = req.headers.get("If-Modified-Since")
        if (inm and ETAG in inm) or (ims and ims == LAST_MOD):
            e.cond_304 += 1
            return Response(304, b"", {"ETag": ETAG, "Last-Modified": LAST_MOD})
        return Response(200, body, {"Content-Type": "application/rss+xml", "ETag": ETAG,
                                    "Last-Modified": LAST_MOD})
    e.http.routes[path] = route


def _is_conditional(req):
    h = req["headers"]
    return h.get("if-none-match") == ETAG or h.get("if-modified-since") == LAST_MOD


@scenario("issue3", "conditional")
def conditional_get_across_restart(ctx):
    """Second --once run (new process): sends If-None-Match/If-Modified-Since
    (validators kept in Redis), gets 304, alerts nothing, exits 0."""
    with Env(ctx) as e:
        conditional(e, "/cond.xml", seed("seeds.rss"))
        conf = e.conf(feeds=[("cond", e.http.url("/cond.xml"))], watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r1 = run_daemon(ctx, conf)
        check(r1.rc == 0, "first run exit %s" % r1.rc)
        expect_seed_alerts(r1.alerts(), "first run")
        check(not _is_conditional(e.http.hits("/cond.xml")[0]), "first request was already conditional")
        r2 = run_daemon(ctx, conf)
        hits = e.http.hits("/cond.xml")
        check(len(hits) == 2, "want 2 requests in 2 runs, got %d" % len(hits))
        check(_is_conditional(hits[1]),
              "second run (after restart) sent no If-None-Match %s / If-Modified-Since: %s"
              % (ETAG, {k: v for k, v in hits[1]["headers"].items() if k.startswith("if-")}))
        check(e.cond_304 == 1, "server answered 304 %d times, want 1" % e.cond_304)
        check(r2.alerts() == [], "alerted on a 304: %s" % links(r2.alerts()))
        check(r2.rc == 0, "a 304 made --once exit %s" % r2.rc)


@scenario("issue3", "conditional")
def conditional_get_in_process(ctx):
    """Running daemon with interval = 2s: the second poll is conditional, gets 304, no alert."""
    with Env(ctx) as e:
        conditional(e, "/cond.xml", seed("seeds.rss"))
        conf = e.conf(daemon={"startup-spread": "0"},
                      feeds=[("cond", e.http.url("/cond.xml"), {"interval": "2s"})],
                      watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        d = Daemon(ctx, conf, []).start()
        try:
            got = wait_for(lambda: len(e.http.hits("/cond.xml")) >= 2, 20)
            time.sleep(0.5)
            d.signal(15)
            r = d.wait(15)
        finally:
            d.kill()
        hits = e.http.hits("/cond.xml")
        check(got, "feed with interval = 2s polled %d time(s) in 20s" % len(hits))
        check(_is_conditional(hits[1]), "second poll was not conditional: %s" % hits[1]["headers"])
        check(e.cond_304 >= 1, "no 304 served")
        expect_seed_alerts(r.alerts(), "two polls, second 304")


@scenario("issue3", "redirect")
def redirect_301_moves_feed(ctx):
    with Env(ctx) as e:
        new = e.http.url("/new/seeds.rss")
        e.http.routes["/new/seeds.rss"] = seed("seeds.rss")
        e.http.routes["/old.rss"] = Response(301, b"moved\n", {"Location": new})
        conf = e.conf(feeds=[("moved", e.http.url("/old.rss"))], watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf)
        check(e.http.hits("/new/seeds.rss"), "redirect not followed")
        expect_seed_alerts(r.alerts(), "301-moved feed")
        check(r.rc == 0, "exit %s after a followed 301" % r.rc)
        check(any('feed "moved"' in l and new in l for l in r.stderr.splitlines()),
              "stderr has no line naming feed \"moved\" and its new URL %s" % new)


@scenario("issue3", "errors")
def too_many_requests_429_retry_after(ctx):
    with Env(ctx) as e:
        e.http.routes["/busy.xml"] = Response(429, b"slow down\n", {"Retry-After": "120",
                                                                   "Content-Type": "text/plain"})
        conf = e.conf(feeds=[("busy", e.http.url("/busy.xml")), ("good", e.http.url("/seeds.atom"))],
                      watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf)
        lines = [l for l in r.stderr.splitlines() if 'feed "busy"' in l]
        check(lines, 'no stderr line names feed "busy"')
        check(any(re.search(r"429|retry-after", l, re.I) for l in lines),
              "feed \"busy\" error mentions neither 429 nor Retry-After: %s" % lines)
        check(len(e.http.hits("/busy.xml")) == 1, "429 feed requested %d times in one --once run"
              % len(e.http.hits("/busy.xml")))
        expect_seed_alerts(r.alerts(), "good feed next to a 429")
        check(r.rc != 0, "--once exit 0 although a feed answered 429")


@scenario("issue3", "limits")
def slow_server_times_out(ctx):
    with Env(ctx) as e:
        e.http.routes["/slow.xml"] = Response(200, seed("seeds.rss"), {"Content-Type": "application/xml"},
                                              trickle=(16, 0.3))
        conf = e.conf(daemon={"fetch-timeout": "2s"},
                      feeds=[("slow", e.http.url("/slow.xml")), ("good", e.http.url("/seeds.atom"))],
                      watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf, timeout=60)
        check(not r.timed_out, "--once hung on a trickling server")
        check(r.elapsed < 15, "--once took %.1fs with fetch-timeout = 2s" % r.elapsed)
        lines = [l for l in r.stderr.splitlines() if 'feed "slow"' in l]
        check(any(re.search(r"time(d)? ?out", l, re.I) for l in lines),
              'no "timeout" error for feed "slow": %s' % lines)
        expect_seed_alerts(r.alerts(), "good feed next to a slow one")
        check(r.rc != 0, "--once exit 0 although a feed timed out")


def _limit_case(ctx, routes, names, max_body, want=r"max-body", rss_bound_mb=200):
    with Env(ctx) as e:
        e.http.routes.update(routes)
        feeds = [(n, e.http.url(p)) for n, p in names] + [("good", e.http.url("/seeds.atom"))]
        conf = e.conf(daemon={"max-body": max_body}, feeds=feeds, watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf, timeout=60)
        check(not r.timed_out, "--once did not finish in 60s")
        for n, _ in names:
            lines = [l for l in r.stderr.splitlines() if 'feed "%s"' % n in l]
            check(any(re.search(want, l, re.I) for l in lines),
                  'feed "%s": no error matching /%s/: %s' % (n, want, lines))
        check(r.maxrss_kb < rss_bound_mb * 1024, "daemon peak RSS %d MB >= %d MB"
              % (r.maxrss_kb // 1024, rss_bound_mb))
        expect_seed_alerts(r.alerts(), "good feed next to oversized ones")
        check(r.rc != 0, "--once exit 0 although feeds exceeded max-body")
        return r


@scenario("issue3", "limits")
def body_over_max_body(ctx):
    pad = b"<!--" + b"x" * (2 << 20) + b"-->"
    big = seed("seeds.rss").replace(b"<channel>", b"<channel>" + pad, 1)
    routes = {"/big.xml": Response(200, big, {"Content-Type": "application/xml"}),
              "/bigstream.xml": Response(200, big, {"Content-Type": "application/xml"}, no_length=True)}
    _limit_case(ctx, routes, [("big", "/big.xml"), ("bigstream", "/bigstream.xml")], "64k",
                rss_bound_mb=100)


@scenario("issue3", "limits")
def gzip_bomb_bounded(ctx):
    bomb = gzip_bomb(512)   # ~0.5 MB on the wire, 512 MiB inflated
    routes = {"/bomb.xml": Response(200, bomb, {"Content-Type": "application/xml",
                                                 "Content-Encoding": "gzip"})}
    r = _limit_case(ctx, routes, [("bomb", "/bomb.xml")], "256k", rss_bound_mb=200)
    ctx.log("gzip bomb: peak RSS %d kB, %.1fs" % (r.maxrss_kb, r.elapsed))


@scenario("issue3", "limits", "parse")
def billion_laughs_bounded(ctx):
    with Env(ctx) as e:
        e.http.routes["/lol.xml"] = BILLION_LAUGHS
        conf = e.conf(feeds=[("lol", e.http.url("/lol.xml")), ("good", e.http.url("/seeds.atom"))],
                      watchlists=WATCH_CONSOLE, sinks=CONSOLE)
        r = run_daemon(ctx, conf, timeout=60)
        check(not r.timed_out, "--once hung on billion laughs")
        check(r.elapsed < 20, "billion laughs took %.1fs" % r.elapsed)
        check(r.maxrss_kb < 200 * 1024, "peak RSS %d MB on billion laughs" % (r.maxrss_kb // 1024))
        alerts = r.alerts()
        check(not any("lollollol" in (str(a.get("title")) + str(a.get("snippet"))) for a in alerts),
              "entities were expanded into an alert")
        expect_seed_alerts([a for a in alerts if a.get("link") != "urn:lolz:1"
                            and a.get("id") != "urn:lolz:1"], "good feed next to billion laughs")
