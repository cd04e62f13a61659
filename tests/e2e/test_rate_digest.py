"""Issue 9: per-sink pacing and digests.  A flood of matching items to a
1 msg/s sink (Slack) goes out as digests within a minute, every alert in
some accepted message, at the documented pace; a 429 with Retry-After
pauses the sink and its alerts still arrive; an unpaced webhook next to
the flooded sink is not held up by it.

The receivers are chat_receivers' (they enforce each format), timed here:
each accepted message gets "t" (time.monotonic() when it was handled)."""
import re
import signal
import time

import chat_receivers
from harness import Daemon, check, run_daemon, scenario, wait_for
from test_hostile_redis import Env, rss, stop_daemon

ITEM = re.compile(r"flood-(\d{4})")


def timed(cls):
    """cls with accepted messages stamped and, on request number n in
    force_at, the service's 429 with Retry-After force_at[n] seconds."""
    class Timed(cls):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.nreq = 0
            self.force_at = {}
            self.forced_times = []

        def _serve(self, h):
            with self.lock:
                self.nreq += 1
                n = self.nreq
            if n in self.force_at:
                self.rate_limit(self.force_at[n])
                with self.lock:
                    self.forced_times.append(time.monotonic())
            super()._serve(h)

        def handle(self, req):
            status, body, headers, ctype, info = super().handle(req)
            info["t"] = time.monotonic()
            return status, body, headers, ctype, info
    return Timed


def flood_feed(n):
    now = time.time()
    return rss([("f%04d" % i, "sanctions flood-%04d" % i, now - i) for i in range(n)])


def items_of(msg):
    """Item numbers a message shows (Discord and Mattermost backslash-escape
    the '-': "flood\\-0001")."""
    return {int(x) for x in ITEM.findall((msg.get("text") or "").replace("\\", ""))}


def flood_once(ctx, e, sinks, daemon=None):
    """--once over the flood feed at /f to a watchlist on every sink in
    sinks ([(name, options)]); checks it exits 0 and returns its run."""
    d = {"startup-spread": "0"}
    d.update(daemon or {})
    conf = e.conf(daemon=d, feeds=[("f", e.http.url("/f"), {"interval": "1h"})],
                  watchlists=[("w", "sanctions", [name for name, _ in sinks])],
                  sinks=sinks)
    r = run_daemon(ctx, conf, timeout=120)
    check(r.rc == 0, "--once exit %s" % r.rc)
    return r


def check_every_item(rx, n, name):
    """rx refused nothing (but what it was told to) and its accepted
    messages hold every flood item 0..n-1."""
    refused = [x for x in rx.rejected if not x.get("forced")]
    check(not refused, "%s refused %d: %s" % (name, len(refused),
                                              [x.get("reason") for x in refused][:3]))
    got = set()
    for m in rx.messages:
        got |= items_of(m)
    missing = set(range(n)) - got
    check(not missing, "%d of %d alerts missing from %s's messages, e.g. %s"
          % (len(missing), n, name, sorted(missing)[:5]))


def check_paced(rx, min_gap=0.9):
    """Accepted messages at least min_gap s apart (1 msg/s, burst 1)."""
    times = sorted(m["t"] for m in rx.messages)
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(not gaps or min(gaps) >= min_gap,
          "two messages %.3fs apart (pace 1/s): gaps %s" %
          (min(gaps), ["%.2f" % g for g in gaps[:20]]))


@scenario("rate", "digest", "webhook")
def flood_to_slack_digests_webhook_not_starved(ctx):
    """500 matching items at once, each alerting to a Slack sink (1 msg/s)
    and to a webhook (no pace): every Slack alert arrives within a minute
    in a small number of accepted messages (digests), at most one a
    second; the webhook gets all its 500 alerts within seconds, long
    before the Slack backlog is through; rate limiting and digests are
    logged once each; --once waits for the queues to empty."""
    n = 500
    with Env(ctx) as e:
        e.http.routes["/f"] = flood_feed(n)
        with timed(chat_receivers.Slack)() as slack, \
                timed(chat_receivers.Webhook)() as hook:
            # Both receivers are on 127.0.0.1, which the fetcher sees as one
            # host with per-host-connections slots (real services are two
            # hosts): enough slots that the webhook's 500 POSTs do not queue
            # the Slack digests behind them there.
            r = flood_once(ctx, e, [("chat", {"type": "slack", "url": slack.url()}),
                                    ("hook", {"type": "webhook", "url": hook.url()})],
                           daemon={"per-host-connections": "16"})
            check_every_item(slack, n, "Slack")
            msgs = len(slack.messages)
            check(msgs <= 60, "%d Slack messages for %d alerts: not digested" % (msgs, n))
            check(max(len(items_of(m)) for m in slack.messages) > 10,
                  "no message holds more than 10 alerts: no digest")
            check(not any("not shown" in (m.get("text") or "") for m in slack.messages),
                  "a digest left alerts out")
            check_paced(slack)
            s_times = sorted(m["t"] for m in slack.messages)
            check(s_times[-1] - s_times[0] < 60, "Slack took %.1fs for the flood"
                  % (s_times[-1] - s_times[0]))

            check(not hook.rejected, "webhook refused %d" % len(hook.rejected))
            h_got = set()
            for m in hook.messages:
                h_got |= items_of(m)
            check(h_got == set(range(n)), "webhook got %d of %d alerts" % (len(h_got), n))
            # Held up by the Slack backlog, the webhook would get its alerts
            # at the pace Slack's digests free room (~49/s, ~10 s here);
            # on its own it takes the time 500 loopback POSTs take.
            h_times = sorted(m["t"] for m in hook.messages)
            t0 = min(h_times[0], s_times[0])
            check(h_times[-1] - t0 < (s_times[-1] - t0) / 3,
                  "the webhook's alerts took %.1fs, Slack's %.1fs: the webhook was "
                  "held up by the Slack backlog" % (h_times[-1] - t0, s_times[-1] - t0))
            ctx.log("slack: %d messages over %.1fs; webhook: %d messages over %.1fs" % (
                msgs, s_times[-1] - s_times[0], len(hook.messages),
                h_times[-1] - h_times[0]))
            limited = r.stderr.count('sink "chat": rate limit reached')
            digests = len(re.findall(r'sink "chat": \d+ alerts wait: they go out as '
                                     r'digests', r.stderr))
            check(limited == 1, "rate limiting logged %d times, want once" % limited)
            check(digests == 1, "digesting logged %d times, want once" % digests)
            check("hook" not in re.findall(r'sink "(\w+)": rate limit', r.stderr),
                  "the webhook was rate limited")


@scenario("rate", "digest")
def slack_429_retry_after_pauses_sink(ctx):
    """200 matching items to Slack, whose third request is answered 429
    with Retry-After: 3: nothing is sent for 3 s, the refused message's
    alerts are retried, and every alert arrives; --once waits for the
    retry and exits 0."""
    n, pause = 200, 3
    with Env(ctx) as e:
        e.http.routes["/f"] = flood_feed(n)
        with timed(chat_receivers.Slack)() as slack:
            slack.force_at[3] = pause
            r = flood_once(ctx, e, [("chat", {"type": "slack", "url": slack.url()})])
            check(len(slack.forced_times) == 1, "the 429 was not sent")
            check_every_item(slack, n, "Slack")
            t429 = slack.forced_times[0]
            after = [m["t"] - t429 for m in slack.messages if m["t"] > t429]
            check(after, "nothing was sent after the 429")
            check(min(after) >= pause - 0.2,
                  "a message %.2fs after the 429 (Retry-After: %d)" % (min(after), pause))
            check(len(slack.messages) <= 40, "%d messages for %d alerts" %
                  (len(slack.messages), n))
            check(re.search(r'sink "chat": the service answered 429 with a retry hint; '
                            r'nothing is sent to it for 3\.0s', r.stderr),
                  "the pause is not logged")
            check_paced(slack)


def all_items(rx):
    got = []
    for m in rx.messages:
        got += sorted(items_of(m))
    return got


@scenario("rate", "digest", "signal")
def sigterm_mid_backlog_then_next_run_delivers(ctx):
    """SIGTERM while 300 alerts wait for a 1 msg/s Slack sink: the daemon
    stops at once (waiting alerts are not waited for), and the next run
    delivers every one that had not gone out, none twice."""
    n = 300
    with Env(ctx) as e:
        e.http.routes["/f"] = flood_feed(n)
        with timed(chat_receivers.Slack)() as slack:
            conf = e.conf(daemon={"startup-spread": "0"},
                          feeds=[("f", e.http.url("/f"), {"interval": "1h"})],
                          watchlists=[("w", "sanctions", ["chat"])],
                          sinks=[("chat", {"type": "slack", "url": slack.url()})])
            d = Daemon(ctx, conf, args=()).start()
            try:
                check(wait_for(lambda: len(slack.messages) >= 3, 20),
                      "fewer than 3 Slack messages in 20s")
                t = time.monotonic()
                d.signal(signal.SIGTERM)
                r = d.wait(15)
                dt = time.monotonic() - t
            finally:
                d.kill()
            check(r.rc == 0, "exit status %s after SIGTERM" % r.rc)
            check(dt < 3, "SIGTERM took %.1fs with alerts waiting" % dt)
            check(re.search(r"alerts waiting for rate-limited sinks stay in the outbox",
                            r.stderr), "the stop does not say what stays in the outbox")
            first = len(set(all_items(slack)))
            check(first < n, "all %d alerts went out before the stop: the test proves "
                  "nothing" % n)
            r2 = run_daemon(ctx, conf, timeout=120)
            check(r2.rc == 0, "--once after the stop: exit %s" % r2.rc)
            got = all_items(slack)
            missing = set(range(n)) - set(got)
            check(not missing, "%d alerts lost over the stop (%d before it), e.g. %s" %
                  (len(missing), first, sorted(missing)[:5]))
            check(len(got) == len(set(got)), "%d alerts delivered twice" %
                  (len(got) - len(set(got))))
            check(not slack.rejected, "slack refused %d" % len(slack.rejected))


@scenario("rate", "digest", "redis")
def redis_restart_mid_backlog_loses_nothing(ctx):
    """Redis restarts (with its data) while 400 alerts wait for a 1 msg/s
    Slack sink, most of them parked as ids: after the reconnect every
    alert arrives, none twice."""
    n = 400
    with Env(ctx) as e:
        e.http.routes["/f"] = flood_feed(n)
        with timed(chat_receivers.Slack)() as slack:
            conf = e.conf(daemon={"startup-spread": "0"},
                          feeds=[("f", e.http.url("/f"), {"interval": "1h"})],
                          watchlists=[("w", "sanctions", ["chat"])],
                          sinks=[("chat", {"type": "slack", "url": slack.url()})])
            d = Daemon(ctx, conf, args=()).start()
            try:
                check(wait_for(lambda: len(slack.messages) >= 2, 20),
                      "fewer than 2 Slack messages in 20s")
                e.redis.stop_saving()
                time.sleep(1.5)
                e.redis.start()
                check(wait_for(lambda: set(all_items(slack)) >= set(range(n)), 60),
                      "%d of %d alerts arrived after the Redis restart" %
                      (len(set(all_items(slack))), n))
                time.sleep(2)
                got = all_items(slack)
                check(len(got) == len(set(got)), "%d alerts delivered twice" %
                      (len(got) - len(set(got))))
                check(not slack.rejected, "slack refused %d" % len(slack.rejected))
                check_paced(slack)
            finally:
                r = stop_daemon(d)
            check(r.rc == 0, "exit status %s" % r.rc)


@scenario("rate", "digest", "sinks")
def every_paced_format_digests_accepted(ctx):
    """150 matching items with long titles and snippets at once to each
    paced chat type (slack, discord, telegram, google-chat, teams): every
    digest is accepted by a receiver enforcing that service's limits,
    every alert is in one of them, none is left out as "not shown"."""
    n = 150
    now = time.time()
    filler = "lorem ipsum dolor " * 16
    items = [("f%04d" % i, "sanctions flood-%04d %s" % (i, filler), now - i,
              "sanctions " + "dolor sit amet &amp; co " * 30) for i in range(n)]
    kinds = ["slack", "discord", "telegram", "google-chat", "teams"]
    with Env(ctx) as e:
        e.http.routes["/f"] = rss(items)
        rxs = {}
        try:
            for k in kinds:
                rxs[k] = timed(chat_receivers.RECEIVERS[k])().__enter__()
            sinks = []
            for k, rx in rxs.items():
                opts = {"type": k, "url": rx.url()}
                if k == "telegram":
                    opts["chat-id"] = "123456789"   # a private chat: 1 a second
                sinks.append(("s-" + k, opts))
            flood_once(ctx, e, sinks, daemon={"per-host-connections": "16"})
            for k, rx in rxs.items():
                check_every_item(rx, n, k)
                check(not any("not shown" in (m.get("text") or "") for m in rx.messages),
                      "%s: a digest left alerts out" % k)
                check(len(rx.messages) < n / 3, "%s: %d messages for %d alerts" %
                      (k, len(rx.messages), n))
                ctx.log("%s: %d messages, at most %d alerts in one" % (
                    k, len(rx.messages), max(len(items_of(m)) for m in rx.messages)))
        finally:
            for rx in rxs.values():
                rx.__exit__()


@scenario("rate", "discord", "sinks")
def discord_rate_limit_headers_hold_the_sink(ctx):
    """Discord says on every answer, successes included, what is left of
    the webhook's bucket (X-RateLimit-Remaining, -Reset-After, -Reset).
    Two receivers enforce a bucket of 2 requests a second, tighter than
    the daemon's own Discord pace (5 per 2 s), and answer 429 to a
    request over it; one sends Reset-After and Reset, the other only
    Reset (the daemon then reads the Unix time).  10 alerts to each, one
    message an alert: all 10 arrive at both, and neither ever had to
    answer 429: after "Remaining: 0" the sink waits for the reset."""
    n = 10
    with Env(ctx) as e:
        e.http.routes["/f"] = flood_feed(n)
        with timed(chat_receivers.Discord)(bucket=(2, 1.0)) as both, \
                timed(chat_receivers.Discord)(bucket=(2, 1.0), reset_after=False) as reset:
            rxs = {"d-after": both, "d-reset": reset}
            sinks = [(name, {"type": "discord", "url": rx.url(), "digest-after": "0",
                             "retry-schedule": "0 1s 2s 5s"})
                     for name, rx in rxs.items()]
            r = flood_once(ctx, e, sinks, daemon={"per-host-connections": "16"})
            for name, rx in rxs.items():
                got = set()
                for m in rx.messages:
                    got |= items_of(m)
                check(got == set(range(n)), "%s: %d of %d alerts arrived" %
                      (name, len(got), n))
                check(len(rx.messages) == n, "%s: %d messages for %d alerts (one each "
                      "wanted, so that the bucket is used up several times)" %
                      (name, len(rx.messages), n))
                check(rx.too_many == 0, "%s: the receiver answered 429 %d times: the "
                      "daemon sent over the announced limit" % (name, rx.too_many))
                refused = [x.get("reason") for x in rx.rejected]
                check(not refused, "%s refused %d: %s" % (name, len(refused), refused[:3]))
                check(re.search(r'sink "%s": its service says the rate limit is used up' %
                                name, r.stderr), "%s: the hold is not logged" % name)
                times = sorted(m["t"] for m in rx.messages)
                ctx.log("%s: %d messages over %.2fs" % (name, len(times),
                                                       times[-1] - times[0]))
            check(" 429" not in r.stderr, "a 429 is logged")


@scenario("rate", "discord", "metrics")
def discord_rate_limit_holds_counted_in_metrics(ctx):
    """A running daemon, 10 alerts to a Discord sink whose webhook allows 2
    requests a second: /metrics counts the holds the headers caused as
    wirewatch_rate_limit_waits_total{reason="headers"} and no pause after
    a 429 (reason="service"); the receiver answered no 429."""
    from test_ops import free_port, scrape, value
    n, port = 10, free_port()
    with Env(ctx) as e:
        e.http.routes["/f"] = flood_feed(n)
        with timed(chat_receivers.Discord)(bucket=(2, 1.0)) as rx:
            conf = e.conf(daemon={"startup-spread": "0", "metrics": "127.0.0.1:%d" % port},
                          feeds=[("f", e.http.url("/f"), {"interval": "1h"})],
                          watchlists=[("w", "sanctions", ["chat"])],
                          sinks=[("chat", {"type": "discord", "url": rx.url(),
                                           "digest-after": "0"})])
            d = Daemon(ctx, conf, args=()).start()
            try:
                rx.wait(n, timeout=30)
                _, samples = scrape(port)
            finally:
                r = stop_daemon(d)
            check(r.rc == 0, "exit status %s" % r.rc)
            holds = value(samples, "wirewatch_rate_limit_waits_total", sink="chat",
                          reason="headers") or 0
            paused = value(samples, "wirewatch_rate_limit_waits_total", sink="chat",
                           reason="service") or 0
            # 10 messages, 2 a window: the bucket ran out after the 2nd, 4th, ... 8th
            # at least (the 10th's hold may still be counted or not).
            check(holds >= 4, "rate_limit_waits_total{reason=\"headers\"} = %s, want >= 4"
                  % holds)
            check(paused == 0, "rate_limit_waits_total{reason=\"service\"} = %s: a 429 "
                  "pause" % paused)
            check(rx.too_many == 0, "the receiver answered 429 %d times" % rx.too_many)
            ctx.log("holds counted: %d; pauses after a 429: %d" % (holds, paused))


@scenario("rate", "digest", "webhook")
def flood_to_mattermost_digests_webhook_one_per_alert(ctx):
    """200 matching items at once to a Mattermost sink (no rate limit of
    its own) and to a webhook, at the default per-host-connections (2):
    Mattermost's alerts pile up behind its two connections and go out as
    digests (every alert in some accepted message, far fewer messages than
    alerts, none leaving alerts out); the webhook still gets one request
    per alert ("type": "alert", its webhook-id the alert id), so that a
    receiver deduplicating by webhook-id sees a repeat as the same
    request."""
    n = 200
    with Env(ctx) as e:
        e.http.routes["/f"] = flood_feed(n)
        with chat_receivers.Mattermost() as mm, chat_receivers.Webhook() as hook:
            flood_once(ctx, e, [("chat", {"type": "mattermost", "url": mm.url()}),
                                ("hook", {"type": "webhook", "url": hook.url()})])
            check_every_item(mm, n, "Mattermost")
            msgs = len(mm.messages)
            check(msgs <= n // 4, "%d Mattermost messages for %d alerts: not digested"
                  % (msgs, n))
            check(not any("not shown" in (m.get("text") or "") for m in mm.messages),
                  "a digest left alerts out")
            check_every_item(hook, n, "the webhook")
            check(len(hook.messages) == n, "webhook got %d requests for %d alerts, want "
                  "one each" % (len(hook.messages), n))
            ctx.log("mattermost: %d messages for %d alerts; webhook: %d requests"
                    % (msgs, n, len(hook.messages)))


@scenario("rate", "digest", "webhook")
def webhook_paused_by_429_never_digests(ctx):
    """100 matching items to a webhook whose first request is answered 429
    with Retry-After: 2: the sink pauses while the other alerts pile up in
    its lane, and when it resumes they still go out one request per alert
    ("type": "alert", webhook-id = alert id), never as an alert.digest,
    every alert once."""
    n, pause = 100, 2
    with Env(ctx) as e:
        e.http.routes["/f"] = flood_feed(n)
        with timed(chat_receivers.Webhook)() as hook:
            hook.force_at[1] = pause
            flood_once(ctx, e, [("hook", {"type": "webhook", "url": hook.url()})])
            check(len(hook.forced_times) == 1, "the 429 was not sent")
            check_every_item(hook, n, "the webhook")
            kinds = [m["json"].get("type") for m in hook.messages]
            check(all(k == "alert" for k in kinds), "%d of %d requests were digests"
                  % (sum(k != "alert" for k in kinds), len(kinds)))
            ids = [m["webhook_id"] for m in hook.messages]
            check(ids == [m["alert_ids"][0] for m in hook.messages],
                  "a webhook-id is not its alert's id")
            check(len(ids) == len(set(ids)) == n, "%d requests, %d distinct alerts, want %d once"
                  % (len(ids), len(set(ids)), n))
            # (the request on the second connection may be on its way
            # when the 429 arrives)
            during = [m["t"] - hook.forced_times[0] for m in hook.messages
                      if 0.2 < m["t"] - hook.forced_times[0] < pause - 0.2]
            check(not during, "requests %s s after the 429 (Retry-After: %d)"
                  % (["%.2f" % t for t in during[:5]], pause))
