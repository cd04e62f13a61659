"""Issue 12: operating wirewatchd like a Debian service.

/metrics scraped live and checked by promtool (Debian's prometheus package,
fetched by `make promtool`), counters that move as an operator would check
them, /healthz following Redis, systemd watchdog pings from the loop, Redis
AUTH/ACL users and SELECT, and the daemon under the unit's restrictions
(no new privileges, an unprivileged uid, a read-only root).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import harness
from harness import (CONSOLE, Daemon, Env, Redis, check, console_alerts,  # noqa: F401
                     rss, run_daemon, scenario, stop_daemon, wait_for, write)


def promtool():
    for p in (os.environ.get("WW_PROMTOOL"),
              os.path.join(harness.ROOT, "build", "tools", "promtool"),
              shutil.which("promtool")):
        if p and os.access(p, os.X_OK):
            return p
    raise harness.TestFailure("promtool not found: run `make promtool` (Debian's "
                              "prometheus package, unpacked into build/tools)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=5):
    """(status, body) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)  # not listening (yet)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse(text):
    """{(name, frozenset of label pairs): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        check(m, "not a sample line: %r" % line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def scrape(port):
    status, text = get("http://127.0.0.1:%d/metrics" % port)
    check(status == 200, "/metrics answered %s" % status)
    return text, parse(text)


def promtool_ok(text, ctx):
    path = write(ctx.path("scrape.txt"), text)
    with open(path, "rb") as f:
        r = subprocess.run([promtool(), "check", "metrics"], stdin=f,
                           capture_output=True, timeout=30)
    out = (r.stdout + r.stderr).decode()
    check(r.returncode == 0, "promtool check metrics failed (%d): %s" % (r.returncode, out))
    return out


@scenario("ops", "metrics")
def metrics_scrape_counts_polls_alerts_and_deliveries(ctx):
    """A live scrape passes `promtool check metrics`; one ok poll and one
    failed poll show as polls_total by outcome; the seed story's alert shows
    as alerts_total{watchlist,sink} and, once the receiver took it, as
    deliveries_total{sink_type="webhook",outcome="delivered"}; labels carry
    names, never the feed URLs or item titles."""
    port = free_port()
    with Env(ctx, webhook=True) as e:
        e.http.routes["/broken"] = harness.Response(500, b"no")
        conf = e.conf(daemon={"metrics": "127.0.0.1:%d" % port, "startup-spread": "0"},
                      feeds=[("seeds", e.http.url("/seeds.rss")),
                             ("broken", e.http.url("/broken"))],
                      watchlists=[("treaty", harness.Q_TREATY, ["hook"])],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url()})])
        d = Daemon(ctx, conf, args=()).start()
        try:
            check(wait_for(lambda: len(e.hook.accepted()) >= 1, 20), "no alert delivered")
            ok = lambda: value(scrape(port)[1], "wirewatch_polls_total", outcome="ok") == 1 and \
                value(scrape(port)[1], "wirewatch_polls_total", outcome="failed") == 1
            check(wait_for(ok, 10), "polls_total by outcome did not reach ok=1 failed=1")
            check(wait_for(lambda: value(scrape(port)[1], "wirewatch_deliveries_total",
                                         sink_type="webhook", outcome="delivered") == 1, 10),
                  "deliveries_total{webhook,delivered} is not 1")
            text, s = scrape(port)
            promtool_ok(text, ctx)
            check(value(s, "wirewatch_alerts_total", watchlist="treaty", sink="hook") == 1,
                  "alerts_total{treaty,hook} = %r" %
                  value(s, "wirewatch_alerts_total", watchlist="treaty", sink="hook"))
            check(value(s, "wirewatch_items_new_total") == 2, "items_new_total = %r" %
                  value(s, "wirewatch_items_new_total"))
            check(value(s, "wirewatch_redis_up") == 1, "redis_up is not 1")
            check(value(s, "wirewatch_feeds", state="ok") == 1 and
                  value(s, "wirewatch_feeds", state="failing") == 1, "feeds by state wrong")
            last = value(s, "wirewatch_feed_last_success_timestamp_seconds", feed="seeds")
            check(last is not None and abs(last - time.time()) < 60,
                  "last success of feed seeds: %r" % last)
            check(value(s, "wirewatch_fetch_duration_seconds_count", lane="poll") == 2,
                  "fetch duration histogram did not count the two polls")
            check(value(s, "wirewatch_fetched_bytes_total", lane="poll") >=
                  len(harness.seed("seeds.rss")), "fetched bytes below the feed's size")
            check(value(s, "wirewatch_build_info", version=re.search(
                r'version="([^"]+)"', text).group(1)) == 1, "no build_info")
            check("127.0.0.1:%d" % e.http.port not in text and "http://" not in text,
                  "a URL leaked into /metrics")
            check(harness.QNA_TITLE not in text, "an item title leaked into /metrics")
            # The outbox depth comes from Redis every few seconds.
            check(wait_for(lambda: value(scrape(port)[1], "wirewatch_outbox_depth") == 0, 12),
                  "outbox_depth not reported as 0 after the delivery")
            status, body = get("http://127.0.0.1:%d/nope" % port)
            check(status == 404, "/nope answered %s" % status)
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("ops", "metrics", "redis")
def healthz_follows_redis(ctx):
    """/healthz is 200 while Redis is up; Redis stopped: 503 naming Redis
    and why, and redis_up 0 on /metrics; Redis back: 200 again."""
    port = free_port()
    with Env(ctx) as e:
        conf = e.conf(daemon={"metrics": "127.0.0.1:%d" % port},
                      feeds=[("seeds", e.http.url("/seeds.rss"))],
                      watchlists=[("w", harness.Q_UKRAINE, ["out"])], sinks=CONSOLE)
        url = "http://127.0.0.1:%d/healthz" % port
        d = Daemon(ctx, conf, args=()).start()
        try:
            check(wait_for(lambda: get(url) == (200, "ok\n"), 10),
                  "healthz not 200 ok with Redis up: %r" % (get(url),))
            e.redis.stop()
            check(wait_for(lambda: get(url)[0] == 503, 10), "healthz still %r with Redis "
                  "stopped" % (get(url),))
            status, body = get(url)
            check(re.match(r"redis unix:%s: \S" % re.escape(e.redis.sock), body),
                  "503 body does not say which Redis and why: %r" % body)
            check(value(scrape(port)[1], "wirewatch_redis_up") == 0, "redis_up not 0")
            check(value(scrape(port)[1], "wirewatch_redis_disconnects_total") == 1,
                  "redis_disconnects_total is not 1")
            e.redis.start()
            check(wait_for(lambda: get(url) == (200, "ok\n"), 15),
                  "healthz not back to 200 after Redis restarted: %r" % (get(url),))
            check(value(scrape(port)[1], "wirewatch_redis_up") == 1, "redis_up not 1 again")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


@scenario("ops", "metrics", "config")
def metrics_address_checked_by_t(ctx):
    """-t refuses a metrics address the daemon could not listen on, and one
    in use stops the start with a clear error; metrics off by default."""
    for bad, why in (("9464", "host:port"), ("http://127.0.0.1:9464", "host:port"),
                     ("127.0.0.1:99999", "1 to 65535"), ("127.0.0.1:", "1 to 65535")):
        conf = write(ctx.path("bad.conf"), harness.config(
            redis="127.0.0.1:6379", daemon={"metrics": bad}))
        r = run_daemon(ctx, conf, args=("-t",))
        check(r.rc == 1 and re.search(r"bad\.conf:\d+: bad value '%s' for 'metrics'" %
                                      re.escape(bad), r.stderr) and why in r.stderr,
              "-t with metrics = %s: rc %s, %r" % (bad, r.rc, r.stderr))
    # A section name without quotes: the hint is the fixed header.
    conf = write(ctx.path("sec.conf"), harness.config(redis="127.0.0.1:6379") +
                 "\n[feed example]\nurl = http://127.0.0.1:1/\n")
    r = run_daemon(ctx, conf, args=("-t",))
    check(r.rc == 1 and r.stderr.strip().endswith(
        "needs a quoted name: [feed \"example\"]"), "[feed example]: %r" % r.stderr)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        with Env(ctx) as e:
            conf = e.conf(daemon={"metrics": "127.0.0.1:%d" % busy.getsockname()[1]})
            r = run_daemon(ctx, conf, args=(), timeout=10)
            check(r.rc == 1 and "cannot listen" in r.stderr,
                  "metrics on a busy port: rc %s, %r" % (r.rc, r.tail()))
    finally:
        busy.close()


@scenario("ops", "systemd")
def watchdog_pings_come_from_the_loop(ctx):
    """With WATCHDOG_USEC set (WatchdogSec=), READY=1 then WATCHDOG=1 at
    least every half period arrive on NOTIFY_SOCKET; a stopped loop
    (SIGSTOP) sends none, and they resume with SIGCONT."""
    sock_path = ctx.path("notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(sock_path)
    ns.settimeout(0.2)

    def drain(seconds):
        msgs, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msgs.append((time.monotonic(), ns.recv(4096).decode()))
            except socket.timeout:
                pass
        return msgs

    try:
        with Env(ctx) as e:
            conf = e.conf(feeds=[("seeds", e.http.url("/seeds.rss"))],
                          watchlists=[("w", harness.Q_UKRAINE, ["out"])], sinks=CONSOLE)
            env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000")
            d = Daemon(ctx, conf, args=())
            d.t0 = time.monotonic()
            with open(d.out_path, "wb") as o, open(d.err_path, "wb") as er:
                d.proc = subprocess.Popen(d.args, stdout=o, stderr=er, env=env,
                                          stdin=subprocess.DEVNULL, cwd=ctx.tmp)
            try:
                msgs = drain(3)
                texts = [m for _, m in msgs]
                check(any("READY=1" in t for t in texts), "no READY=1: %r" % texts[:5])
                pings = [t for t, m in msgs if "WATCHDOG=1" in m]
                check(len(pings) >= 5, "%d WATCHDOG=1 in 3 s at WatchdogSec=1s" % len(pings))
                gaps = [b - a for a, b in zip(pings, pings[1:])]
                check(max(gaps) < 0.8, "a gap of %.2fs between pings" % max(gaps))
                d.signal(signal.SIGSTOP)
                drain(0.3)
                stopped = [m for _, m in drain(1.5) if "WATCHDOG=1" in m]
                check(not stopped, "pings while the process was stopped: %r" % stopped)
                d.signal(signal.SIGCONT)
                resumed = [m for _, m in drain(1.5) if "WATCHDOG=1" in m]
                check(len(resumed) >= 2, "pings did not resume after SIGCONT")
            finally:
                d.signal(signal.SIGCONT)
                r = stop_daemon(d)
            check(r.rc == 0, "exit status %s" % r.rc)
            check(re.search(r"systemd watchdog: every 0\.5s", r.stderr), "watchdog not logged")
    finally:
        ns.close()


def redis_raw(sock_path, *cmds):
    """Several commands on one connection; the replies (errors as strings)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    out = []
    try:
        s.connect(sock_path)
        f = s.makefile("rb")
        for args in cmds:
            req = b"*%d\r\n" % len(args)
            for a in args:
                a = str(a).encode()
                req += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(req)
            try:
                out.append(harness._resp(f))
            except OSError as e:
                out.append(str(e))
        return out
    finally:
        s.close()


@scenario("ops", "redis", "config")
def redis_acl_user_password_file_and_db(ctx):
    """A Redis with an ACL user and requirepass: the daemon with redis-user
    and redis-password-file delivers, its keys land in redis-db 3 (and not
    in 0); a wrong password fails --once naming WRONGPASS and the keys to
    check; no password at all names NOAUTH; the password never appears in
    the logs."""
    with Env(ctx) as e:
        sock = e.redis.sock
        r = redis_raw(sock, ("ACL", "SETUSER", "ww", "on", ">s3cret-pass", "~*", "&*", "+@all"),
                      ("CONFIG", "SET", "requirepass", "default-pw"))
        check(r == ["OK", "OK"], "redis setup: %r" % r)
        write(ctx.path("redis.pw"), "s3cret-pass\n")
        os.chmod(ctx.path("redis.pw"), 0o600)
        base = dict(feeds=[("seeds", e.http.url("/seeds.rss"))],
                    watchlists=[("w", harness.Q_UKRAINE, ["out"])], sinks=CONSOLE)
        conf = e.conf(daemon={"redis-user": "ww", "redis-password-file": "redis.pw",
                              "redis-db": "3"}, **base)
        good = run_daemon(ctx, conf)
        check(good.rc == 0 and len(good.alerts()) == 2, "with the ACL user: rc %s, %d alerts: %s"
              % (good.rc, len(good.alerts()), good.tail()))
        keys3, keys0 = redis_raw(sock, ("AUTH", "ww", "s3cret-pass"), ("SELECT", "3"),
                                 ("KEYS", "ww:*"), ("SELECT", "0"), ("KEYS", "ww:*"))[2::2]
        check(any(k.startswith("ww:seen:") for k in keys3), "no seen keys in db 3: %r" % keys3)
        check(keys0 == [], "keys in db 0: %r" % keys0[:5])
        # wirewatchctl -c goes to the same Redis as the daemon: user, password, db.
        ctl = os.path.join(harness.ROOT, "build", "wirewatchctl")
        p = subprocess.run([ctl, "-c", conf, "deliveries", "--json"], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0 and p.stderr == "", "wirewatchctl -c deliveries with the ACL "
              "user: rc %s, %r" % (p.returncode, p.stderr))
        conf = e.conf(name="wrong.conf", daemon={"redis-user": "ww",
                                                 "redis-password": "wrong-pass"}, **base)
        p = subprocess.run([ctl, "-c", conf, "deliveries"], capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 3 and "WRONGPASS" in p.stderr and "wrong-pass" not in p.stderr,
              "wirewatchctl -c deliveries, wrong password: rc %s, %r" % (p.returncode, p.stderr))
        bad = run_daemon(ctx, conf, timeout=20)
        check(bad.rc == 1 and "WRONGPASS" in bad.stderr and "redis-password" in bad.stderr,
              "wrong password: rc %s, %s" % (bad.rc, bad.tail()))
        check("wrong-pass" not in bad.stderr, "the password is in the log")
        conf = e.conf(name="none.conf", **base)
        none = run_daemon(ctx, conf, timeout=20)
        check(none.rc == 1 and "NOAUTH" in none.stderr, "no password: rc %s, %s" %
              (none.rc, none.tail()))
        check("s3cret-pass" not in good.stderr + bad.stderr, "a password is in the log")
        # -t: the password file must be private, exist, and a db number be one.
        os.chmod(ctx.path("redis.pw"), 0o644)
        t = run_daemon(ctx, e.conf(name="t.conf", daemon={"redis-password-file": "redis.pw"}),
                       args=("-t",))
        check(t.rc == 1 and "readable by every user" in t.stderr, "a world-readable "
              "password file: rc %s, %r" % (t.rc, t.stderr))
        for kv, msg in (({"redis-password-file": "missing.pw"}, "redis-password-file"),
                        ({"redis-db": "-1"}, "'redis-db'"),
                        ({"redis-db": "x"}, "'redis-db'")):
            conf = e.conf(name="t.conf", daemon=kv)
            t = run_daemon(ctx, conf, args=("-t",))
            check(t.rc == 1 and re.search(r"t\.conf:\d+: .*%s" % re.escape(msg), t.stderr),
                  "-t with %r: rc %s, %r" % (kv, t.rc, t.stderr))


@scenario("ops", "systemd", "hardening")
def daemon_works_under_the_units_restrictions(ctx):
    """What the unit's sandbox can be reproduced without systemd as PID 1:
    the daemon as an unprivileged uid (like User=wirewatch), with
    no_new_privs (NoNewPrivileges=), no capabilities (CapabilityBoundingSet=),
    a read-only root (ProtectSystem=strict) and only its runtime directory
    writable (RuntimeDirectory=), an empty private /tmp (PrivateTmp=), empty
    /home and /root (ProtectHome=), a /dev with only null, zero, full,
    random and urandom (PrivateDevices=), a /proc of processes only, others
    hidden (ProcSubset=pid, ProtectProc=invisible): it polls, alerts to a webhook,
    serves /metrics and its control socket, and stops cleanly."""
    harness.need_mount_namespace()
    port = free_port()
    with Env(ctx, webhook=True) as e:
        rport = free_port()
        tcp = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", ctx.tmp],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run = ctx.path("run")
            os.mkdir(run)
            os.chown(run, 65534, 65534)
            os.chmod(ctx.tmp, 0o755)
            # Inside, the scenario's directory is /srv (/tmp is private).
            shutil.copy(harness.DAEMON, ctx.path("wirewatchd"))
            conf = e.conf(redis="127.0.0.1:%d" % rport,
                          daemon={"metrics": "127.0.0.1:%d" % port,
                                  "control": "/srv/run/control.sock",
                                  "startup-spread": "0"},
                          feeds=[("seeds", e.http.url("/seeds.rss"))],
                          watchlists=[("treaty", harness.Q_TREATY, ["hook"])],
                          sinks=[("hook", {"type": "webhook", "url": e.hook.url()})])
            os.chmod(conf, 0o644)
            check(wait_for(lambda: subprocess.run(["redis-cli", "-p", str(rport), "ping"],
                                                  capture_output=True).stdout.strip() == b"PONG",
                           10), "TCP redis did not start")
            devs = "null zero full random urandom"
            inner = ("set -e; mount --make-rprivate /; mount --bind %s /srv; "
                     "mount --bind /srv/run /srv/run; "
                     "mount -t tmpfs -o mode=1777 tmpfs /tmp; "
                     "mkdir /tmp/host-dev; mount --rbind /dev /tmp/host-dev; "
                     "mount -t tmpfs -o mode=755 tmpfs /dev; "
                     "for n in %s; do touch /dev/$n; mount --bind /tmp/host-dev/$n /dev/$n; "
                     "done; umount -l /tmp/host-dev; rmdir /tmp/host-dev; "
                     "mount -t tmpfs -o mode=755 tmpfs /home; "
                     "mount -t tmpfs -o mode=700 tmpfs /root; "
                     "mount -t proc -o subset=pid,hidepid=invisible proc /proc; "
                     "mount -o remount,bind,ro /; "
                     "exec setpriv --reuid=65534 --regid=65534 --clear-groups "
                     "--no-new-privs --inh-caps=-all --bounding-set=-all "
                     "/srv/wirewatchd -c /srv/%s"
                     % (ctx.tmp, devs, os.path.basename(conf)))
            d = Daemon(ctx, conf, args=())
            d.args = ["unshare", "-m", "sh", "-c", inner]
            d.start()
            try:
                check(wait_for(lambda: len(e.hook.accepted()) == 1, 20),
                      "no alert delivered under the restrictions: %s" % d.read_stderr()[-800:])
                status, text = get("http://127.0.0.1:%d/metrics" % port)
                check(status == 200 and "wirewatch_polls_total" in text, "/metrics: %s" % status)
                check(get("http://127.0.0.1:%d/healthz" % port)[0] == 200, "healthz not 200")
                check(os.path.exists(os.path.join(run, "control.sock")),
                      "no control socket in the runtime directory")
                with open("/proc/%d/status" % d.proc.pid) as f:
                    st = f.read()  # sh and setpriv exec'd the daemon: same pid
                check(re.search(r"^Uid:\s+65534\b", st, re.M), "not running as uid 65534")
                check(re.search(r"^NoNewPrivs:\s+1", st, re.M), "no_new_privs not set")
                check(re.search(r"^CapBnd:\s+0+$", st, re.M), "capabilities left in the "
                      "bounding set")
                # The daemon's own view of the file system.
                root = "/proc/%d/root" % d.proc.pid
                check(os.listdir(root + "/tmp") == [], "its /tmp is not private and empty")
                check(sorted(os.listdir(root + "/dev")) == sorted(devs.split()),
                      "its /dev: %r" % sorted(os.listdir(root + "/dev")))
                check(os.listdir(root + "/root") == [] and os.listdir(root + "/home") == [],
                      "/root or /home visible")
                check(not os.path.exists(root + "/proc/sys") and
                      "process_resident_memory_bytes" in text and "process_open_fds" in text,
                      "/proc is not pids only, or the process figures are missing")
            finally:
                r = stop_daemon(d)
            check(r.rc == 0, "exit status %s under the restrictions: %s" % (r.rc, r.tail()))
            check("Read-only file system" not in r.stderr, "the daemon tried to write: %s" %
                  r.tail())
        finally:
            tcp.terminate()
            tcp.wait(5)


@scenario("ops", "config", "entities")
def local_entities_extend_and_replace_shipped_ones(ctx):
    """entities.d is read after the shipped entities: a new entity there
    works in queries, one that names a shipped entity again adds aliases
    (the shipped ones still match), `replace = yes` drops the shipped
    aliases, and a second local definition is an error naming both places."""
    local = ctx.path("entities.d")
    os.mkdir(local)
    write(os.path.join(local, "10-dprk.conf"),
          '[entity "DPRK"]\nalias = Hermit Kingdom\n\n[entity "Lavrovia"]\nalias = Lavrov\n')
    with Env(ctx) as e:
        e.http.routes["/f.rss"] = rss([
            ("g1", "Hermit Kingdom signs treaty with Russia", time.time()),
            ("g2", "North Korea signs treaty with Russia", time.time()),
            ("g3", "Lavrov visits", time.time())])
        base = dict(feeds=[("f", e.http.url("/f.rss"))],
                    watchlists=[("dprk", "@DPRK AND treaty", ["out"]),
                                ("lav", "@Lavrovia", ["out"])], sinks=CONSOLE)
        conf = e.conf(daemon={"local-entities": local}, **base)
        r = run_daemon(ctx, conf)
        got = sorted((a["watchlist"], a["title"]) for a in r.alerts())
        check(r.rc == 0, "rc %s: %s" % (r.rc, r.tail()))
        titles = {a["watchlist"]: set() for a in r.alerts()}
        for a in r.alerts():
            titles[a["watchlist"]].add(a["title"])
        check(titles.get("dprk") == {"Hermit Kingdom signs treaty with Russia",
                                     "North Korea signs treaty with Russia"},
              "extended DPRK matched %r" % got)
        check(titles.get("lav") == {"Lavrov visits"}, "new local entity matched %r" % got)
        # replace = yes: only the local alias is left.
        write(os.path.join(local, "10-dprk.conf"),
              '[entity "DPRK"]\nreplace = yes\nalias = Hermit Kingdom\n')
        e.redis.cmd("FLUSHALL")
        conf = e.conf(name="r.conf", daemon={"local-entities": local},
                      feeds=base["feeds"], watchlists=[("dprk", "@DPRK AND treaty", ["out"])],
                      sinks=CONSOLE)
        r = run_daemon(ctx, conf)
        check({a["title"] for a in r.alerts()} == {"Hermit Kingdom signs treaty with Russia"},
              "replaced DPRK matched %r" % [a["title"] for a in r.alerts()])
        write(os.path.join(local, "20-again.conf"), '[entity "DPRK"]\nalias = Pyongyang\n')
        t = run_daemon(ctx, conf, args=("-t",))
        check(t.rc == 1 and re.search(r"20-again\.conf:1: entity \"DPRK\" is defined twice "
                                      r"\(first at .*10-dprk\.conf:1\)", t.stderr),
              "a second local DPRK: rc %s, %r" % (t.rc, t.stderr))


def journal_fields(datagram):
    """The fields of one journal native-protocol datagram."""
    out, data = {}, datagram
    while data:
        nl = data.find(b"\n")
        line = data[:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            out[k.decode()] = v.decode("utf-8", "replace")
            data = data[nl + 1:]
        else:  # KEY\n<u64 le length><value>\n
            n = int.from_bytes(data[nl + 1:nl + 9], "little")
            out[line.decode()] = data[nl + 9:nl + 9 + n].decode("utf-8", "replace")
            data = data[nl + 9 + n + 1:]
    return out


@scenario("ops", "logs")
def journal_gets_feed_sink_watchlist_and_alert_fields(ctx):
    """Under systemd (JOURNAL_STREAM names stderr) every line goes to the
    journal with its PRIORITY, and FEED=, SINK=, WATCHLIST=, ALERT_ID= when
    it is about one: a failing feed, a queued alert, a delivery attempt that
    failed (with the status and the start of the answer).  The daemon runs in a mount namespace whose /run holds a
    datagram socket standing in for journald's."""
    harness.need_mount_namespace()
    jroot = ctx.path("jrun")
    os.makedirs(os.path.join(jroot, "systemd", "journal"))
    js = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    js.bind(os.path.join(jroot, "systemd", "journal", "socket"))
    js.settimeout(0.2)
    entries = []

    def drain(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                entries.append(journal_fields(js.recv(65536)))
            except socket.timeout:
                pass

    try:
        with Env(ctx, webhook=True) as e:
            e.http.routes["/broken"] = harness.Response(500, b"no")
            e.hook.statuses["/hook"] = [500]
            conf = e.conf(daemon={"startup-spread": "0", "control": ""},
                          feeds=[("seeds", e.http.url("/seeds.rss")),
                                 ("broken", e.http.url("/broken"))],
                          watchlists=[("treaty", harness.Q_TREATY, ["hook"])],
                          sinks=[("hook", {"type": "webhook", "url": e.hook.url(),
                                           "retry-schedule": "0 200ms"})])
            d = Daemon(ctx, conf, args=())
            d.args = ["unshare", "-m", "sh", "-c",
                      "mount --make-rprivate / && mount --bind %s /run && exec %s -c %s"
                      % (jroot, harness.DAEMON, conf)]
            d.t0 = time.monotonic()
            with open(d.out_path, "wb") as o, open(d.err_path, "wb") as er:
                st = os.fstat(er.fileno())
                env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
                d.proc = subprocess.Popen(d.args, stdout=o, stderr=er, env=env,
                                          stdin=subprocess.DEVNULL, cwd=ctx.tmp)
            try:
                check(wait_for(lambda: len(e.hook.accepted()) == 1, 20),
                      "the retry was not delivered")
                drain(1)
            finally:
                r = stop_daemon(d)
            drain(0.5)
            check(r.rc == 0, "exit status %s" % r.rc)
            msgs = [x.get("MESSAGE", "") for x in entries]
            check(any("wirewatchd 0" in m for m in msgs), "no start line in the journal: %r"
                  % msgs[:3])
            check(all(x.get("SYSLOG_IDENTIFIER") == "wirewatchd" and x.get("PRIORITY") in
                      "01234567" for x in entries), "an entry without identifier or priority")
            broken = [x for x in entries if x.get("FEED") == "broken"]
            check(broken and broken[0]["PRIORITY"] == "3" and "HTTP 500" in broken[0]["MESSAGE"],
                  "no FEED=broken error: %r" % broken)
            queued = [x for x in entries if x.get("FEED") == "seeds" and "queued" in x["MESSAGE"]]
            check(queued, "no FEED=seeds line for the queued alert")
            failed = [x for x in entries if "attempt 1 failed" in x.get("MESSAGE", "")]
            check(failed and failed[0].get("SINK") == "hook" and
                  failed[0].get("WATCHLIST") == "treaty" and
                  failed[0].get("ALERT_ID", "").startswith("al_") and
                  failed[0]["ALERT_ID"] in failed[0]["MESSAGE"],
                  "the failed attempt's fields: %r" % failed[:1])
            check("failed: HTTP 500; response: {\"ok\":false}" in failed[0]["MESSAGE"],
                  "the failed attempt does not show the status and the answer: %r"
                  % failed[0]["MESSAGE"])
            check(failed[0]["ALERT_ID"] == e.hook.accepted()[0]["alert_id"],
                  "ALERT_ID is not the delivered alert's id")
            check(r.stderr.strip() == "", "lines went to stderr too: %r" % r.stderr[:300])
    finally:
        js.close()


def unit_syscalls():
    """The syscalls the unit allows: its SystemCallFilter= lines expanded by
    systemd-analyze syscall-filter (groups within groups), the ~ line taken
    away, as systemd combines them."""
    unit = open(os.path.join(harness.ROOT, "systemd", "wirewatchd.service.in")).read()
    lines = re.findall(r"^SystemCallFilter=(.*)$", unit, re.M)
    cache = {}

    def expand(name):
        if not name.startswith("@"):
            return {name}
        if name not in cache:
            out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                                 capture_output=True, text=True, check=True).stdout
            cache[name] = set()
            for ln in out.splitlines()[1:]:
                ln = ln.strip()
                if ln and not ln.startswith("#"):
                    cache[name] |= expand(ln)
        return cache[name]

    allow = set()
    for ln in lines:
        deny = ln.startswith("~")
        names = set().union(*(expand(n) for n in ln.lstrip("~").split()))
        allow = allow - names if deny else allow | names
    check("execve" in allow and "setrlimit" not in allow and "mount" not in allow,
          "unexpected syscall set from the unit (%d names)" % len(allow))
    return allow


@scenario("ops", "systemd", "hardening")
def daemon_works_under_the_units_syscall_filter(ctx):
    """The unit's SystemCallFilter= (@system-service without @privileged and
    @resources, EPERM for the rest) and RestrictAddressFamilies= (unix,
    inet, inet6), applied with libseccomp before exec: the daemon resolves,
    fetches, matches (PCRE2 JIT), records in Redis, delivers to a webhook,
    serves /metrics, /healthz and its control socket, and stops cleanly."""
    helper = "/usr/bin/python3"
    if subprocess.run([helper, "-c", "import seccomp"], capture_output=True).returncode:
        raise harness.TestFailure("Debian's python3-seccomp is missing (make deps)")
    allow = write(ctx.path("allow.txt"), "\n".join(sorted(unit_syscalls())) + "\n")
    port = free_port()
    with Env(ctx, webhook=True) as e:
        conf = e.conf(daemon={"metrics": "localhost:%d" % port, "startup-spread": "0",
                              "control": ctx.path("ctl.sock")},
                      feeds=[("seeds", e.http.url("/seeds.rss").replace("127.0.0.1",
                                                                          "localhost"))],
                      watchlists=[("treaty", harness.Q_TREATY + ' OR /trea+ty/', ["hook"])],
                      sinks=[("hook", {"type": "webhook", "url": e.hook.url()})])
        d = Daemon(ctx, conf, args=())
        d.args = [helper, os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_exec.py"), allow, "--",
                  harness.DAEMON, "-c", conf]
        d.start()
        try:
            check(wait_for(lambda: len(e.hook.accepted()) == 1, 20),
                  "no alert delivered under the filter: %s" % d.read_stderr()[-800:])
            text, s = scrape(port)
            check(value(s, "wirewatch_polls_total", outcome="ok") == 1, "no ok poll")
            check(get("http://127.0.0.1:%d/healthz" % port)[0] == 200, "healthz not 200")
            ctl = subprocess.run([os.environ.get("WIREWATCHCTL") or os.path.join(
                harness.ROOT, "build", "wirewatchctl"), "-s", ctx.path("ctl.sock"), "status"],
                capture_output=True, text=True, timeout=10)
            check(ctl.returncode == 0, "control socket: %s" % ctl.stderr)
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s under the filter: %s" % (r.rc, r.tail()))
        check("not permitted" not in r.stderr.lower(), "a call was refused: %s" % r.tail())
