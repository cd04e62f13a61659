"""Issue 14: several daemons on one Redis (daemon/cluster.c).

Real redis-server, real build/wirewatchd processes (each with its own
[daemon] instance and user-agent, so the feed server knows who fetched),
loopback feed servers that count requests, a loopback webhook receiver.
Leases and intervals are short (lease 2s, interval 8-10s) so that each
scenario is bounded to about a minute.
"""
import contextlib
import http.server
import json
import os
import signal
import threading
import time

import harness
from harness import Daemon, Env, Response, check, rss, scenario, stop_daemon, wait_for

CTL = os.path.join(harness.ROOT, "build", "wirewatchctl")
LEASE = 2
MATCH = "North Korea and Russia sign a defence treaty"


class Fetches:
    """Feed routes that log (path, user-agent, monotonic time) per request."""

    def __init__(self, http):
        self.http = http
        self.log = []
        self.lock = threading.Lock()

    def route(self, path, body, before=None):
        def serve(h):
            ua = h.headers.get("User-Agent", "")
            with self.lock:
                self.log.append((path, ua, time.monotonic()))
            if before is not None:
                return before(h, ua)
            return Response(200, body, {"Content-Type": "application/xml"})
        self.http.routes[path] = serve

    def of(self, path=None, ua=None, since=0.0):
        with self.lock:
            return [x for x in self.log if (path is None or x[0] == path) and
                    (ua is None or x[1] == ua) and x[2] >= since]


class Receiver:
    """Webhook receiver: /hook answers 200 and records the alert; /hang
    holds the request (at most `hang` seconds) and then answers 500."""

    def __init__(self, hang=40):
        self.accepted = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status = 200
                if self.path == "/hang":
                    outer.stopping.wait(hang)
                    status = 500
                else:
                    j = json.loads(body)
                    with outer.lock:
                        outer.accepted.append(harness.alert_of({"json": j}))
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self.httpd = harness._Server(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)

    def ids(self):
        with self.lock:
            return [a["alert_id"] for a in self.accepted]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def feeds_for(fetches, n, interval, match_every):
    """n feeds /f/0.. each with one item; every match_every-th matches."""
    out, now = [], int(time.time())
    for i in range(n):
        title = MATCH if i % match_every == 0 else "Weather report %d" % i
        fetches.route("/f/%d" % i, rss([("g-%d" % i, title, now - 60)]))
        out.append(("f%d" % i, fetches.http.url("/f/%d" % i), {"interval": "%ds" % interval}))
    return out


def start(ctx, conf, name):
    """A running daemon with its own stdout/stderr files (harness.Daemon
    names them by runs finished, which concurrent daemons share)."""
    d = Daemon(ctx, conf, args=())
    d.out_path = ctx.path("daemon-%s.out" % name)
    d.err_path = ctx.path("daemon-%s.err" % name)
    return d.start()


def conf_of(e, ctx, name, feeds, hook_url, extra=None, group="item"):
    d = {"instance": name, "user-agent": "ww-" + name, "lease": "%ds" % LEASE,
         "control": ctx.path("ctl-%s.sock" % name)}
    d.update(extra or {})
    return e.conf(name="%s.conf" % name, daemon=d, feeds=feeds,
                  watchlists=[("treaty", '"defence treaty"', ["hook"], {"group": group})],
                  sinks=[("hook", {"type": "webhook", "url": hook_url, "timeout": "60s"})])


def owners(redis, n):
    """feed index -> owner of a live lease (server time), else None."""
    now_s, now_us = redis.cmd("TIME")
    now = int(now_s) * 1000 + int(now_us) // 1000
    out = {}
    for i in range(n):
        h = redis.cmd("HMGET", "ww:lease:f%d" % i, "owner", "until")
        live = h[0] is not None and int(h[1] or 0) > now
        out[i] = h[0] if live else None
    return out


def gaps(times):
    times = sorted(times)
    return [b - a for a, b in zip(times, times[1:])]


def fcall_calls(redis):
    """Total commands Redis ran, by name (INFO commandstats)."""
    info = redis.cmd("INFO", "commandstats")
    out = {}
    for line in info.splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[8:].split(":", 1)
            out[name] = int(rest.split("calls=")[1].split(",")[0])
    return out


@scenario("cluster", "issue14")
def cluster_share_and_rebalance(ctx):
    """3 daemons, 1 Redis, 600 feeds: each feed fetched once per interval,
    by one instance, each matching item alerted once by alert id; a fourth
    daemon gets its share within two lease periods, still no feed fetched
    twice in an interval; wirewatchctl status lists the live instances."""
    n, interval = 600, 10
    with Env(ctx) as e, Receiver() as rcv:
        fx = Fetches(e.http)
        feeds = feeds_for(fx, n, interval, 10)
        names = ["A", "B", "C"]
        ds = {}
        try:
            t0 = time.monotonic()
            for name in names:
                ds[name] = start(ctx, conf_of(e, ctx, name, feeds, rcv.url("/hook")), name)
            # Every feed fetched once within an interval (startup spread) + slack.
            ok = wait_for(lambda: len({p for p, _, _ in fx.of()}) == n, interval + 8)
            check(ok, "only %d of %d feeds fetched within %ds of start"
                  % (len({p for p, _, _ in fx.of()}), n, interval + 8))
            # Steady state: Redis commands over one interval, per feed.
            time.sleep(interval)
            c0 = fcall_calls(e.redis)
            f0 = len(fx.of())
            time.sleep(interval)
            c1 = fcall_calls(e.redis)
            f1 = len(fx.of())
            calls = sum(c1.values()) - sum(c0.values())
            fcalls = c1.get("fcall", 0) - c0.get("fcall", 0)
            top = sorted(((c1[k] - c0.get(k, 0), k) for k in c1), reverse=True)[:8]
            print("    figures: %d feeds, 3 instances, interval %ds, lease %ds, over one "
                  "interval: %d fetches, %d FCALL (%.2f per feed), %d commands run by "
                  "Redis counting those inside functions (%.1f per feed); by command: %s"
                  % (n, interval, LEASE, f1 - f0, fcalls, fcalls / n, calls, calls / n,
                     ", ".join("%s %d" % (k, v) for v, k in top)))
            by_ua = {name: len({p for p, ua, _ in fx.of(ua="ww-" + name)}) for name in names}
            for name in names:
                check(by_ua[name] >= n // 3 // 2, "instance %s polled only %d distinct feeds "
                      "(%r): feeds are not spread" % (name, by_ua[name], by_ua))
            rc, out, err = harness_ctl("-s", ctx.path("ctl-A.sock"), "status")
            check(rc == 0, "wirewatchctl status: rc %d: %s" % (rc, err))
            listed = [ln.split()[0] for ln in out.splitlines()[
                out.splitlines().index(next(x for x in out.splitlines()
                                            if x.strip().startswith("INSTANCE"))) + 1:]
                if ln.strip()]
            check(sorted(listed) == names, "status lists instances %r, want %r:\n%s"
                  % (listed, names, out))
            rc, out, err = harness_ctl("-s", ctx.path("ctl-A.sock"), "--json", "status")
            st = json.loads(out)
            insts = {m["name"]: m for m in st["cluster"]["instances"]}
            check(set(insts) == set(names), "status instances %r" % sorted(insts))
            check(sum(m["feeds"] for m in insts.values()) in range(n - 5, n + 1),
                  "instances' feed counts %r do not add up to %d"
                  % ({k: m["feeds"] for k, m in insts.items()}, n))
            check(all(0 <= m["heartbeat_ms_ago"] < LEASE * 1000 * 2 for m in insts.values()),
                  "heartbeats %r" % {k: m["heartbeat_ms_ago"] for k, m in insts.items()})

            # A fourth instance: its share within two lease periods.
            ds["D"] = start(ctx, conf_of(e, ctx, "D", feeds, rcv.url("/hook")), "D")
            td = time.monotonic()
            share = lambda: sum(1 for o in owners(e.redis, n).values() if o == "D")
            ok = wait_for(lambda: share() >= n // 4 * 6 // 10, 2 * LEASE + 1, step=0.2)
            check(ok, "D holds %d leases %.1fs after it started (want >= %d within two "
                  "leases)" % (share(), time.monotonic() - td, n // 4 * 6 // 10))
            print("    rebalance: D holds %d of %d leases %.1fs after start"
                  % (share(), n, time.monotonic() - td))
            time.sleep(interval * 1.5)
            count = {}
            for o in owners(e.redis, n).values():
                count[o] = count.get(o, 0) + 1
            check(set(count) == {"A", "B", "C", "D"} and
                  all(90 <= v <= 230 for v in count.values()),
                  "leases per instance after the fourth joined: %r" % count)
        finally:
            for d in ds.values():
                stop_daemon(d)
        t_end = time.monotonic()
        check_exits(ds)
        # Never twice per interval (jitter is +-10%; a handover waits the interval).
        short = {}
        for i in range(n):
            g = gaps([t for _, _, t in fx.of("/f/%d" % i)])
            bad = [x for x in g if x < interval * 0.85]
            if bad:
                short["f%d" % i] = ["%.1f" % x for x in bad]
            check(g and max(g) < interval * 1.1 + LEASE + 3 or (t_end - t0) < 2 * interval,
                  "feed f%d waited %.1fs between fetches (interval %ds)"
                  % (i, max(g) if g else -1, interval))
        check(not short, "%d feeds fetched twice within 0.85 interval: %r"
              % (len(short), dict(list(short.items())[:8])))
        # Each matching item alerted exactly once.
        want = n // 10
        ok = wait_for(lambda: len(set(rcv.ids())) >= want, 10)
        ids = rcv.ids()
        check(len(set(ids)) == want, "%d distinct alerts at the receiver, want %d"
              % (len(set(ids)), want))
        check(len(ids) == len(set(ids)), "%d alerts delivered twice"
              % (len(ids) - len(set(ids))))


def check_exits(ds):
    """Every daemon stopped by SIGTERM exited 0 (an ASAN build: no leak)."""
    bad = {k: d.result.rc for k, d in ds.items() if d.result.rc != 0}
    check(not bad, "exit status %r" % bad)


def harness_ctl(*args):
    import subprocess
    p = subprocess.run([CTL] + list(args), capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def pending_of(redis):
    """consumer -> pending entries in the outbox's group."""
    try:
        r = redis.cmd("XPENDING", "ww:outbox", "dispatch")
    except OSError:
        return {}  # no group yet: no daemon connected so far
    return {c: int(k) for c, k in (r[3] or [])}


@scenario("cluster", "issue14", "signal")
def cluster_kill_one(ctx):
    """kill -9 one of three daemons: its feeds are fetched by the others
    within one lease plus one interval; the alerts it had taken (pending,
    its receiver hung) are delivered by the others: none lost, none twice."""
    n, interval = 300, 8
    with Env(ctx) as e, Receiver() as rcv:
        fx = Fetches(e.http)
        feeds = feeds_for(fx, n, interval, 3)
        ds = {}
        try:
            for name in ["A", "B", "C"]:
                url = rcv.url("/hang" if name == "A" else "/hook")
                ds[name] = start(ctx, conf_of(e, ctx, name, feeds, url), name)
            want = len(range(0, n, 3))
            ok = wait_for(lambda: pending_of(e.redis).get("A", 0) > 0 and
                          len({p for p, _, _ in fx.of()}) == n, interval + 10, step=0.2)
            check(ok, "A took no alerts (pending %r) or not every feed was fetched"
                  % pending_of(e.redis))
            time.sleep(1)  # let the first round's records land
            mine = [i for i, o in owners(e.redis, n).items() if o == "A"]
            pend = pending_of(e.redis).get("A", 0)
            check(len(mine) > 30, "A holds only %d leases" % len(mine))
            ds["A"].signal(signal.SIGKILL)
            tk = time.monotonic()
            ds["A"].wait(5)
            limit = LEASE + interval * 1.1 + 2

            def taken_over():
                return all(fx.of("/f/%d" % i, since=tk) for i in mine)
            ok = wait_for(taken_over, limit + 5, step=0.2)
            late = []
            for i in mine:
                after = fx.of("/f/%d" % i, since=tk)
                if not after or after[0][2] - tk > limit:
                    late.append((i, round(after[0][2] - tk, 1) if after else None))
                elif after[0][1] not in ("ww-B", "ww-C"):
                    late.append((i, after[0][1]))
            check(not late, "%d of A's %d feeds not fetched by B or C within %.1fs of "
                  "the kill: %r" % (len(late), len(mine), limit, late[:8]))
            worst = max(fx.of("/f/%d" % i, since=tk)[0][2] - tk for i in mine)
            print("    failover: A held %d feeds and %d pending alerts; all its feeds "
                  "fetched again by B/C within %.1fs (lease %ds, interval %ds)"
                  % (len(mine), pend, worst, LEASE, interval))
            ok = wait_for(lambda: len(set(rcv.ids())) >= want, 4 * LEASE + 15, step=0.2)
            print("    failover: every alert delivered %.1fs after the kill (claim after "
                  "two leases, %ds)" % (time.monotonic() - tk, 2 * LEASE))
            ids = rcv.ids()
            check(ok, "%d of %d alerts delivered after the kill (A had %d pending; "
                  "pending now %r)" % (len(set(ids)), want, pend, pending_of(e.redis)))
            time.sleep(2)
            ids = rcv.ids()
            check(len(ids) == len(set(ids)) == want, "%d deliveries of %d distinct alerts, "
                  "want %d once each" % (len(ids), len(set(ids)), want))
            check(pending_of(e.redis).get("A", 0) == 0, "A still has pending entries: %r"
                  % pending_of(e.redis))
        finally:
            for d in ds.values():
                if d.result is None:
                    stop_daemon(d)
        check_exits({k: d for k, d in ds.items() if k != "A"})


@scenario("cluster", "issue14", "signal")
def cluster_paused_is_fenced(ctx):
    """SIGSTOP a daemon in the middle of its polls, past its lease; another
    takes the feeds over and polls them; SIGCONT: the paused one's stale
    seen mark, alert and validators are refused by the fencing token."""
    paused_is_fenced(ctx, "item")


@scenario("cluster", "issue14", "signal", "stories")
def cluster_paused_is_fenced_story_path(ctx):
    """The same with story grouping on (group = story): the stale item goes
    through ww_story_record, which checks the same fencing token."""
    paused_is_fenced(ctx, "story")


def paused_is_fenced(ctx, group):
    interval = 6
    with Env(ctx) as e, Receiver() as rcv:
        fx = Fetches(e.http)
        now = int(time.time())
        feeds = []
        for i in range(8):
            fx.route("/f/%d" % i, rss([("g-%d" % i, "Weather %d" % i, now - 60)]))
            feeds.append(("f%d" % i, e.http.url("/f/%d" % i), {"interval": "%ds" % interval}))
        fresh = rss([("fresh", MATCH + " (fresh)", now - 60)])
        stale = rss([("stale", MATCH + " (stale)", now - 60)])

        def slow(body_a, body_b):
            def before(h, ua):
                if ua == "ww-A":
                    time.sleep(1.5)  # A is stopped meanwhile; the reply waits in its socket
                    return Response(200, body_a, {"Content-Type": "application/xml",
                                                  "ETag": '"A-etag"'})
                return Response(200, body_b, {"Content-Type": "application/xml",
                                              "ETag": '"B-etag"'})
            return before
        # s1: A would record a new item; s2: A's items are seen, it would save validators.
        fx.route("/s1", None, slow(stale, fresh))
        fx.route("/s2", None, slow(fresh, fresh))
        feeds += [("s1", e.http.url("/s1"), {"interval": "%ds" % interval}),
                  ("s2", e.http.url("/s2"), {"interval": "%ds" % interval})]
        ds = {}
        try:
            extra = {"startup-spread": "0"}
            ds["A"] = start(ctx, conf_of(e, ctx, "A", feeds, rcv.url("/hook"), extra, group), "A")
            ok = wait_for(lambda: fx.of("/s1", "ww-A") and fx.of("/s2", "ww-A"), 10, step=0.01)
            check(ok, "A did not fetch s1 and s2")
            ds["A"].signal(signal.SIGSTOP)
            tstop = time.monotonic()
            ds["B"] = start(ctx, conf_of(e, ctx, "B", feeds, rcv.url("/hook"), extra, group), "B")

            def b_done():
                return all(e.redis.cmd("HGET", "ww:feed:" + f, "etag") == '"B-etag"'
                           for f in ("s1", "s2"))
            ok = wait_for(b_done, 3 * LEASE + 5, step=0.1)
            check(ok, "B did not take over s1 and s2 (leases %r, state %r)"
                  % ([e.redis.cmd("HGETALL", "ww:lease:" + f) for f in ("s1", "s2")],
                     [e.redis.cmd("HGETALL", "ww:feed:" + f) for f in ("s1", "s2")]))
            check(time.monotonic() - tstop > LEASE, "took over within the lease?")
            # B polls the other 8 feeds too: 8 items + the fresh one.
            wait_for(lambda: len(e.redis.keys("ww:seen:*")) >= 9, 5, step=0.1)
            seen_before = len(e.redis.keys("ww:seen:*"))
            ds["A"].signal(signal.SIGCONT)
            ok = wait_for(lambda: "FENCED" in ds["A"].read_stderr(), 8, step=0.1)
            check(ok, "A logged no refused (FENCED) write after SIGCONT:\n%s"
                  % ds["A"].read_stderr()[-3000:])
            time.sleep(2)
            for f in ("s1", "s2"):
                etag = e.redis.cmd("HGET", "ww:feed:" + f, "etag")
                check(etag == '"B-etag"', "feed %s: validators %r written after the "
                      "takeover" % (f, etag))
            seen_after = len(e.redis.keys("ww:seen:*"))
            check(seen_after == seen_before == 9, "seen marks %d before SIGCONT, %d after "
                  "(want 9: 8 feeds + the fresh item; the stale one refused)"
                  % (seen_before, seen_after))
            titles = [a.get("title", "") for a in rcv.accepted]
            check(not any("stale" in t for t in titles), "the stale item alerted: %r" % titles)
        finally:
            for d in ds.values():
                d.signal(signal.SIGCONT)
                stop_daemon(d)
        check_exits(ds)
        titles = [a.get("title", "") for a in rcv.accepted]
        check(sum("fresh" in t for t in titles) == 1, "fresh alerted %r" % titles)


@scenario("cluster", "issue14", "signal")
def cluster_graceful_leave(ctx):
    """SIGTERM one of two daemons: it releases its leases and leaves the
    member list, so the other holds every lease within a lease (not after
    the lease runs out), and polls the feeds an interval after their last
    poll, not at once."""
    n, interval = 60, 6
    with Env(ctx) as e, Receiver() as rcv:
        fx = Fetches(e.http)
        feeds = feeds_for(fx, n, interval, 1000)
        ds = {}
        try:
            for name in ("A", "B"):
                ds[name] = start(ctx, conf_of(e, ctx, name, feeds, rcv.url("/hook"),
                                              {"lease": "10s"}), name)
            ok = wait_for(lambda: len({p for p, _, _ in fx.of()}) == n, interval + 5)
            check(ok, "not every feed was fetched")
            time.sleep(1)
            mine = [i for i, o in owners(e.redis, n).items() if o == "A"]
            check(len(mine) > 5, "A holds only %d leases" % len(mine))
            r = stop_daemon(ds["A"])
            check(r.rc == 0, "A exited %s" % r.rc)
            ts = time.monotonic()
            # The lease is 10s here: a takeover within 5s is the release's doing.
            ok = wait_for(lambda: all(o == "B" for o in owners(e.redis, n).values()), 5,
                          step=0.1)
            check(ok, "B does not hold every lease %.1fs after A stopped (lease 10s): %r"
                  % (time.monotonic() - ts, owners(e.redis, n)))
            print("    leave: B holds all %d leases %.1fs after A's SIGTERM (lease 10s)"
                  % (n, time.monotonic() - ts))
            rc, out, err = harness_ctl("-s", ctx.path("ctl-B.sock"), "--json", "status")
            st = json.loads(out)
            check([m["name"] for m in st["cluster"]["instances"]] == ["B"],
                  "B's status still lists %r" % st["cluster"]["instances"])
            time.sleep(interval * 1.1 + 2)
        finally:
            for d in ds.values():
                if d.result is None:
                    stop_daemon(d)
        for i in mine:
            ts_ = [t for _, _, t in fx.of("/f/%d" % i)]
            check(len(ts_) >= 2, "feed f%d not polled again after A left" % i)
            check(min(gaps(ts_)) >= interval * 0.85, "feed f%d polled twice within %.1fs "
                  "across the handover" % (i, min(gaps(ts_))))


@scenario("cluster", "issue14", "rate")
def cluster_shared_rate_limit(ctx):
    """Two daemons deliver to one Slack webhook (1 message a second): the
    token bucket is shared through Redis, so together they stay at one a
    second (each alone would send one a second, two together); every alert
    arrives once."""
    import chat_receivers
    from test_rate_digest import check_paced, timed
    n = 16
    with Env(ctx) as e, timed(chat_receivers.Slack)() as slack:
        fx = Fetches(e.http)
        now = int(time.time())
        feeds = []
        for i in range(n):
            fx.route("/f/%d" % i, rss([("g-%d" % i, "%s %d" % (MATCH, i), now - 60)]))
            feeds.append(("f%d" % i, e.http.url("/f/%d" % i), {"interval": "1h"}))
        ds = {}
        try:
            for name in ("A", "B"):
                c = e.conf(name="%s.conf" % name,
                           daemon={"instance": name, "user-agent": "ww-" + name,
                                   "lease": "%ds" % LEASE, "startup-spread": "0",
                                   "control": ""},
                           feeds=feeds, watchlists=[("treaty", '"defence treaty"', ["chat"])],
                           sinks=[("chat", {"type": "slack", "url": slack.url(),
                                            "digest-after": "0"})])
                ds[name] = start(ctx, c, name)
            ok = wait_for(lambda: len(slack.messages) >= n, n * 1.5 + 10, step=0.2)
            check(ok, "%d of %d Slack messages" % (len(slack.messages), n))
            time.sleep(1.5)
        finally:
            for d in ds.values():
                stop_daemon(d)
        check_exits(ds)
        polled = {ua for _, ua, _ in fx.of()}
        check(polled == {"ww-A", "ww-B"}, "feeds polled by %r, want both" % polled)
        check(len(slack.messages) == n, "%d messages for %d alerts" % (len(slack.messages), n))
        check(not slack.rejected, "slack refused %d" % len(slack.rejected))
        check_paced(slack)
        limited = [name for name, d in ds.items() if "rate limit reached" in d.result.stderr]
        check(len(limited) == 2, "only %r waited for the shared bucket" % limited)


@scenario("cluster", "issue14", "reload")
def cluster_reload_moves_leases(ctx):
    """A reload that removes one feed and adds another, on two daemons:
    the removed feed's lease is released and it is polled no more; the new
    one gets a lease and is polled by exactly one of them."""
    interval = 4
    with Env(ctx) as e, Receiver() as rcv:
        fx = Fetches(e.http)
        now = int(time.time())
        for name in ("keep", "gone", "new"):
            fx.route("/" + name, rss([("g-" + name, "Weather " + name, now - 60)]))
        before = [(n, e.http.url("/" + n), {"interval": "%ds" % interval})
                  for n in ("keep", "gone")]
        after = [(n, e.http.url("/" + n), {"interval": "%ds" % interval})
                 for n in ("keep", "new")]
        ds = {}
        try:
            for name in ("A", "B"):
                ds[name] = start(ctx, conf_of(e, ctx, name, before, rcv.url("/hook"),
                                              {"startup-spread": "0"}), name)
            ok = wait_for(lambda: fx.of("/keep") and fx.of("/gone"), 10)
            check(ok, "keep and gone not polled")
            for name in ("A", "B"):
                conf_of(e, ctx, name, after, rcv.url("/hook"), {"startup-spread": "0"})
                ds[name].signal(signal.SIGHUP)
            tr = time.monotonic()
            ok = wait_for(lambda: fx.of("/new"), 2 * LEASE + 3, step=0.1)
            check(ok, "the added feed was not polled within %ds of the reload" % (2 * LEASE + 3))
            ok = wait_for(lambda: e.redis.cmd("HGET", "ww:lease:gone", "until") == "0",
                          2 * LEASE + 2, step=0.1)
            check(ok, "the removed feed's lease was not released: %r"
                  % e.redis.cmd("HGETALL", "ww:lease:gone"))
            time.sleep(interval * 2)
            check(not fx.of("/gone", since=tr + 1), "the removed feed was polled after the "
                  "reload: %r" % fx.of("/gone", since=tr + 1))
            polls = fx.of("/new")
            check(len({ua for _, ua, _ in polls}) == 1, "the new feed was polled by %r"
                  % {ua for _, ua, _ in polls})
            check(min(gaps([t for _, _, t in polls]) or [interval]) >= interval * 0.85,
                  "the new feed was polled twice within its interval")
        finally:
            for d in ds.values():
                stop_daemon(d)
        check_exits(ds)
