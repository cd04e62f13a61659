"""Issue 9 (delivery): dead letters and replay, Redis restarts and a webhook
that is down for a while: count what is lost (goal 0)."""
import json
import os
import subprocess
import threading
import time

import harness
from harness import Daemon, Response, check, scenario, wait_for
from test_hostile_redis import Env, rss, stop_daemon

CTL = os.path.join(harness.ROOT, "build", "wirewatchctl")


def ctl(*args, timeout=30):
    p = subprocess.run([CTL] + list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def json_lines(text):
    return [json.loads(x) for x in text.splitlines() if x.strip()]


@scenario("outbox", "webhook")
def webhook_400_dead_letter_then_replay(ctx):
    """A receiver answering 400: the alert goes to the dead letters with the
    reason and the response body (also logged); `wirewatchctl deliveries
    --failed` lists it; `wirewatchctl replay --failed` delivers it."""
    now = time.time()
    with Env(ctx, webhook=True) as e:
        e.http.routes["/f"] = rss([("d1", "sanctions one", now)])
        e.hook.statuses["/h"] = [400]
        conf = e.conf(daemon={"startup-spread": "0"},
                      feeds=[("f", e.http.url("/f"), {"interval": "1h"})],
                      watchlists=[("w", "sanctions", ["hook"])],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url("/h")})])
        d = Daemon(ctx, conf, args=()).start()
        try:
            check(wait_for(lambda: e.redis.cmd("XLEN", "ww:dead") == 1, 15),
                  "no dead letter after a 400")
            check(len(e.hook.posts) == 1, "a 400 was retried: %d POSTs" % len(e.hook.posts))
            check('{"ok":false}' in d.read_stderr(), "the log does not show the response body")
            rc, out, err = ctl("-c", conf, "deliveries", "--failed", "--json")
            check(rc == 0, "deliveries --failed: exit %s: %s" % (rc, err))
            rows = json_lines(out)
            check(len(rows) == 1 and rows[0]["state"] == "failed" and rows[0]["sink"] == "hook",
                  "deliveries --failed lists %r" % rows)
            check("HTTP 400" in rows[0]["last_error"] and '{"ok":false}' in rows[0]["last_error"],
                  "the dead letter lacks the reason or the body: %r" % rows[0]["last_error"])
            rc, out, err = ctl("-c", conf, "deliveries")
            check(rc == 0 and "d1" not in out, "the failed alert is listed as pending: %s" % out)
            rc, out, err = ctl("-c", conf, "replay", "--failed")
            check(rc == 0 and "1 alert requeued" in out, "replay: %s %s" % (out, err))
            check(wait_for(lambda: len(e.hook.accepted("/h")) == 1, 10),
                  "the replayed alert was not delivered")
            check(e.redis.cmd("XLEN", "ww:dead") == 0, "the dead letter is still there")
            a = e.hook.accepted("/h")[0]
            check(a["alert_id"] == rows[0]["id"], "the replay carries another alert id")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("outbox", "redis", "webhook")
def redis_restart_and_webhook_down_lose_nothing(ctx):
    """10 matching items; the webhook answers 503 for 4 s, and Redis restarts
    (with its data) in the middle: every alert id reaches the receiver."""
    now = time.time()
    with Env(ctx, webhook=True) as e:
        e.http.routes["/f"] = rss([("r%d" % i, "sanctions %d" % i, now - i) for i in range(10)])
        t_up = [time.monotonic() + 4]
        orig = e.hook.httpd.RequestHandlerClass.do_POST

        def do_post(h):
            if time.monotonic() < t_up[0]:
                with e.hook.lock:
                    e.hook.statuses.setdefault(h.path, []).insert(0, 503)
            orig(h)

        e.hook.httpd.RequestHandlerClass.do_POST = do_post
        conf = e.conf(daemon={"startup-spread": "0"},
                      feeds=[("f", e.http.url("/f"), {"interval": "1h"})],
                      watchlists=[("w", "sanctions", ["hook"])],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url("/h"),
                                       "retries": "8", "retry-delay": "1s"})])
        d = Daemon(ctx, conf, args=()).start()
        try:
            check(wait_for(lambda: len(e.hook.posts) >= 10, 15), "no delivery attempts")
            e.redis.stop_saving()
            time.sleep(1)
            e.redis.start()
            check(wait_for(lambda: len({a["alert_id"] for a in e.hook.accepted("/h")}) == 10, 60),
                  "%d of 10 alerts arrived" % len({a["alert_id"] for a in e.hook.accepted("/h")}))
            failed = [p for p in e.hook.posts if p["status"] == 503]
            check(failed, "the webhook never failed: the test proves nothing")
            check(e.redis.cmd("XLEN", "ww:dead") == 0, "alerts were dead-lettered")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("outbox", "webhook")
def webhook_hangs_then_answers_lose_nothing(ctx):
    """A receiver that hangs past the sink's timeout on the first POST of
    each alert: the attempt times out, the retry delivers; lost = 0."""
    now = time.time()
    with Env(ctx, webhook=True) as e:
        e.http.routes["/f"] = rss([("h%d" % i, "sanctions %d" % i, now - i) for i in range(3)])
        seen = set()
        lock = threading.Lock()
        orig = e.hook.httpd.RequestHandlerClass.do_POST

        def do_post(h):
            with lock:
                first = h.headers.get("webhook-id") not in seen
                seen.add(h.headers.get("webhook-id"))
            if first:
                # Hang longer than the sink's 1 s timeout, then close
                # without an answer: this attempt is not recorded.
                time.sleep(3)
                h.close_connection = True
                return
            orig(h)

        e.hook.httpd.RequestHandlerClass.do_POST = do_post
        conf = e.conf(daemon={"startup-spread": "0"},
                      feeds=[("f", e.http.url("/f"), {"interval": "1h"})],
                      watchlists=[("w", "sanctions", ["hook"])],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url("/h"),
                                       "timeout": "1s", "retry-schedule": "0 1s 1s"})])
        r = harness.run_daemon(ctx, conf, timeout=60)
        check(r.rc == 0, "--once exit %s" % r.rc)
        got = {a["item_id"] for a in e.hook.accepted("/h") if a}
        check(got == {"h0", "h1", "h2"}, "delivered: %r (lost %d)" % (sorted(got), 3 - len(got)))
        check(r.stderr.count("attempt 1 failed: timeout") == 3,
              "no attempt timed out: the receiver did not hang long enough")
