"""Helpers for the wirewatch end-to-end tests (Python 3 standard library only).

Everything binds to 127.0.0.1 or a unix socket inside a tempfile directory,
every subprocess has a timeout, every server is stopped by its context manager.
"""
import contextlib
import http.server
import json
from email.utils import formatdate
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMON = os.environ.get("WIREWATCHD") or os.path.join(ROOT, "build", "wirewatchd")
SEEDS = os.path.join(ROOT, "tests", "data", "seeds")
ENTITIES = os.path.join(ROOT, "conf", "entities")

QNA_ID = ("https://www.qna.org.qa/en/News-Area/News/2025-07/13/"
          "0032-n-korean-leader-reaffirms-unconditional-support-for-russia-in-ukraine-war")
DD_ID = ("https://www.devdiscourse.com/article/headlines/"
         "3483517-kim-jong-un-backs-russias-stand-on-ukraine")
QNA_TITLE = "N. Korean leader reaffirms unconditionalsupport for Russia in Ukraine war"
DD_TITLE = "Kim Jong Un Backs Russia's Stand on Ukraine"
QNA_PUBLISHED = "2025-07-13T06:41:00Z"   # Sun, 13 Jul 2025 09:41:00 +0300
DD_PUBLISHED = "2025-07-12T21:27:00Z"    # 13-07-2025 02:57 IST (+05:30)

Q_TREATY = "@DPRK AND @Russia AND treaty"
Q_UKRAINE = "@DPRK AND @Russia AND Ukraine"


def seed(name):
    with open(os.path.join(SEEDS, name), "rb") as f:
        return f.read()


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    """The machine cannot run this scenario (a missing kernel permission,
    not a daemon fault): reported as SKIP with the reason, never as PASS."""


def need_mount_namespace():
    """Scenarios that rebuild the unit's sandbox need root and unshare -m
    (CAP_SYS_ADMIN); a container without it skips them, loudly."""
    if os.geteuid() != 0:
        raise Skip("needs root (unshare -m, setpriv --reuid)")
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip("unshare -m is refused here (%s): no CAP_SYS_ADMIN"
                   % (r.stderr.strip() or "exit %d" % r.returncode))


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


# --------------------------------------------------------------- registry

TESTS = []


def scenario(*tags):
    """Registers a scenario function; tags are matched by `run.py -k`."""
    def deco(fn):
        TESTS.append((fn.__name__, tags, fn))
        return fn
    return deco


class Context:
    """Per-scenario state: temp dir, the last daemon runs (for failure dumps)."""

    def __init__(self, verbose=False):
        self.verbose = verbose
        self.tmp = tempfile.mkdtemp(prefix="ww-e2e-")
        self.runs = []

    def log(self, *a):
        if self.verbose:
            print("   ", *a, flush=True)

    def path(self, *p):
        return os.path.join(self.tmp, *p)


# --------------------------------------------------------------- redis

class Redis:
    """A private redis-server on a unix socket, with a tiny RESP client."""

    def __init__(self, sock_path):
        self.sock = sock_path
        self.proc = None

    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock,
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", os.path.dirname(self.sock),
             "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("redis-server exited with %s" % self.proc.returncode)
            try:
                if self.cmd("PING") == "PONG":
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise TestFailure("redis-server did not answer PING within %ss" % timeout)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        with contextlib.suppress(OSError):
            os.unlink(self.sock)

    def stop_saving(self):
        """A restart "with its data": SHUTDOWN SAVE writes the snapshot and
        exits in one step, so no write (an XACK, say) falls between a SAVE
        and the stop and is lost (that would be a real Redis losing its
        last second, a different scenario)."""
        with contextlib.suppress(OSError):
            self.cmd("SHUTDOWN", "SAVE")
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                raise TestFailure("redis-server did not exit after SHUTDOWN SAVE")
        self.stop()

    @property
    def url(self):
        return "unix:" + self.sock

    def cmd(self, *args):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.sock)
            req = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                req += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(req)
            f = s.makefile("rb")
            return _resp(f)
        finally:
            s.close()

    def keys(self, pattern="*"):
        return self.cmd("KEYS", pattern)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _resp(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise OSError("redis error: " + rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_resp(f) for _ in range(n)]
    raise OSError("bad RESP reply %r" % line)


# --------------------------------------------------------------- HTTP servers

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass   # a client (the daemon) closing a connection early is expected here


class Response:
    def __init__(self, status=200, body=b"", headers=None, trickle=None,
                 truncate_at=None, no_length=False):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode()
        self.headers = dict(headers or {})
        self.trickle = trickle          # (bytes per step, seconds per step)
        self.truncate_at = truncate_at  # send Content-Length of the full body, then close
        self.no_length = no_length      # no Content-Length: body ends when the connection closes


class FeedServer:
    """Serves feeds from `routes` (path -> bytes | Response | callable(req) -> Response)
    and records every request (method, path, headers)."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with outer.lock:
                    outer.requests.append(
                        {"method": "GET", "path": self.path,
                         "headers": {k.lower(): v for k, v in self.headers.items()}})
                    route = outer.routes.get(self.path.split("?")[0])
                if callable(route):
                    route = route(self)
                if route is None:
                    route = Response(404, b"not found\n", {"Content-Type": "text/plain"})
                elif isinstance(route, bytes):
                    route = Response(200, route, {"Content-Type": "application/xml"})
                outer._send(self, route)

        self.httpd = _Server(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    def _send(self, h, r):
        body = r.body
        h.send_response(r.status)
        hdrs = dict(r.headers)
        if r.status not in (204, 304) and not r.no_length:
            hdrs.setdefault("Content-Length", str(len(body)))
        if r.truncate_at is not None or r.no_length:
            hdrs["Connection"] = "close"
        for k, v in hdrs.items():
            h.send_header(k, v)
        h.end_headers()
        if r.status in (204, 304) or h.command == "HEAD":
            return
        try:
            if r.truncate_at is not None:
                h.wfile.write(body[:r.truncate_at])
                h.wfile.flush()
                h.close_connection = True
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)
            elif r.trickle:
                step, delay = r.trickle
                for i in range(0, len(body), step):
                    if self.stopping.wait(delay):
                        break
                    h.wfile.write(body[i:i + step])
                    h.wfile.flush()
                h.close_connection = True
            else:
                h.wfile.write(body)
                if r.no_length:
                    h.wfile.flush()
                    h.close_connection = True
        except OSError:
            h.close_connection = True

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def hits(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"].split("?")[0] == path]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def alert_of(post):
    """The alert a webhook POST carries (inside its envelope), or None."""
    j = post.get("json")
    if isinstance(j, dict) and j.get("type") == "alert" and isinstance(j.get("data"), dict):
        return j["data"]
    return None


class Webhook:
    """Records POSTs; answers from a per-path status list (then 200)."""

    def __init__(self):
        self.statuses = {}
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.lock:
                    seq = outer.statuses.get(self.path)
                    status = seq.pop(0) if seq else 200
                    rec = {"path": self.path, "status": status, "body": body,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}
                    try:
                        rec["json"] = json.loads(body.decode("utf-8"))
                    except ValueError:
                        rec["json"] = None
                    outer.posts.append(rec)
                reply = b'{"ok":true}' if status < 300 else b'{"ok":false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = _Server(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def accepted(self, path=None):
        """Alerts of the POSTs answered with 2xx: the "data" of a Standard
        Webhooks envelope ({"type": "alert", "timestamp", "data"})."""
        with self.lock:
            return [alert_of(p) for p in self.posts
                    if 200 <= p["status"] < 300 and (path is None or p["path"] == path)]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# --------------------------------------------------------------- config

def config(redis=None, daemon=None, feeds=(), watchlists=(), sinks=(), extra=""):
    """Builds a wirewatch.conf.  feeds: (name, url[, {key: value}]);
    watchlists: (name, query, [sinks][, {key: value}]), group = item unless
    the keys say otherwise; sinks: (name, {key: value})."""
    out = ["[daemon]"]
    # backfill = all: the seed story is from 2025, and most scenarios want
    # a first poll to alert like any other (backfill has its own tests).
    # local-entities off: a host's /etc/wirewatch/entities.d stays out.
    d = {"entities": ENTITIES, "local-entities": "", "prefix": "ww:", "seen-ttl": "1d",
         "backfill": "all", "fetch-timeout": "10s", "connect-timeout": "5s"}
    if redis is not None:
        d["redis"] = redis
    d.update(daemon or {})
    out += ["%s = %s" % kv for kv in d.items() if kv[1] is not None]
    for f in feeds:
        name, url = f[0], f[1]
        out += ["", '[feed "%s"]' % name, "url = %s" % url]
        out += ["%s = %s" % kv for kv in (f[2] if len(f) > 2 else {"interval": "1h"}).items()]
    for w in watchlists:
        name, query, snks = w[0], w[1], w[2]
        out += ["", '[watchlist "%s"]' % name, "query = %s" % query,
                "sinks = %s" % ", ".join(snks)]
        # Scenarios about other things count one alert per item: story
        # grouping (issue 13, tests in test_stories.py) is asked for with
        # {"group": "story"} as a fourth element.
        out += ["%s = %s" % kv for kv in dict({"group": "item"}, **(w[3] if len(w) > 3 else {})).items()]
    for name, opts in sinks:
        out += ["", '[sink "%s"]' % name]
        out += ["%s = %s" % kv for kv in opts.items()]
    return "\n".join(out) + "\n" + extra


def write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)
    return path


# --------------------------------------------------------------- daemon

class Run:
    def __init__(self, args, rc, stdout, stderr, elapsed, maxrss_kb, timed_out):
        self.args, self.rc, self.stdout, self.stderr = args, rc, stdout, stderr
        self.elapsed, self.maxrss_kb, self.timed_out = elapsed, maxrss_kb, timed_out

    def alerts(self):
        """Console-sink alerts: every stdout line must be a JSON object."""
        out = []
        for line in self.stdout.splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise TestFailure("stdout line is not JSON: %r" % line[:200])
            if not isinstance(obj, dict):
                raise TestFailure("stdout line is not a JSON object: %r" % line[:200])
            out.append(obj)
        return out

    def tail(self, n=25):
        lines = self.stderr.splitlines()
        return "\n".join(lines[-n:])


class Daemon:
    """Starts build/wirewatchd with stdout/stderr in files; reaps it with
    os.wait4 so that its own peak RSS is known (not just RUSAGE_CHILDREN)."""

    def __init__(self, ctx, conf_path, args=("--once",)):
        self.ctx = ctx
        self.args = [DAEMON, "-c", conf_path] + list(args)
        n = len(ctx.runs)
        self.out_path = ctx.path("daemon-%d.out" % n)
        self.err_path = ctx.path("daemon-%d.err" % n)
        self.proc = None
        self.t0 = None
        self.result = None
        self.peak_hwm_kb = 0

    def start(self):
        if not os.access(DAEMON, os.X_OK):
            raise TestFailure("%s not built (run `make all`)" % DAEMON)
        self.t0 = time.monotonic()
        with open(self.out_path, "wb") as o, open(self.err_path, "wb") as e:
            self.proc = subprocess.Popen(self.args, stdout=o, stderr=e,
                                         stdin=subprocess.DEVNULL, cwd=self.ctx.tmp)
        return self

    def read_stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def read_stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def sample_hwm(self):
        with contextlib.suppress(OSError):
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.peak_hwm_kb = max(self.peak_hwm_kb, int(line.split()[1]))

    def signal(self, sig):
        if self.proc is not None and self.result is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Waits at most `timeout` s; on timeout kills it (SIGKILL) and marks timed_out."""
        deadline = time.monotonic() + timeout
        timed_out = False
        status, ru = None, None
        while True:
            pid, st, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid == self.proc.pid:
                status = st
                break
            if time.monotonic() > deadline:
                timed_out = True
                os.kill(self.proc.pid, signal.SIGKILL)
                _, status, ru = os.wait4(self.proc.pid, 0)
                break
            self.sample_hwm()
            time.sleep(0.02)
        elapsed = time.monotonic() - self.t0
        rc = os.waitstatus_to_exitcode(status)
        self.proc.returncode = rc
        # ru_maxrss of a child started with vfork counts this (Python)
        # process's pages too, and grows with every scenario run before;
        # the daemon's own VmHWM, sampled every 20 ms, is what counts.
        maxrss = self.peak_hwm_kb or (ru.ru_maxrss if ru else 0)
        self.result = Run(self.args, rc, self.read_stdout(), self.read_stderr(),
                          elapsed, maxrss, timed_out)
        self.ctx.runs.append(self.result)
        self.ctx.log("ran %s -> rc=%s in %.2fs maxrss=%dkB" %
                     (" ".join(self.args[1:]), rc, elapsed, maxrss))
        return self.result

    def kill(self):
        if self.proc is not None and self.result is None:
            self.signal(signal.SIGKILL)
            self.wait(5)


def run_daemon(ctx, conf_path, args=("--once",), timeout=60):
    d = Daemon(ctx, conf_path, args).start()
    try:
        return d.wait(timeout)
    finally:
        d.kill()


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def by_watchlist(alerts):
    out = {}
    for a in alerts:
        out.setdefault(a.get("watchlist"), []).append(a)
    return out


def gzip_bomb(size_mb=512):
    """A gzip body of about 0.5 MB that inflates to `size_mb` MiB of XML whitespace."""
    import zlib
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [co.compress(b'<?xml version="1.0"?><rss version="2.0"><channel><title>bomb</title><!--')]
    chunk = b" " * (1 << 20)
    for _ in range(size_mb):
        parts.append(co.compress(chunk))
    parts.append(co.compress(b"--></channel></rss>"))
    parts.append(co.flush())
    return b"".join(parts)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>lolz</title>
<item><title>&lol9;</title><guid>urn:lolz:1</guid><description>&lol9; DPRK Russia Ukraine</description></item>
</channel></rss>
"""


# --------------------------------------------------------------- scenario kit

class Env:
    """redis + feed server (+ webhook) for one scenario; the seed feeds are
    served at /seeds.rss and /seeds.atom."""

    def __init__(self, ctx, webhook=False):
        self.ctx = ctx
        self.redis = Redis(ctx.path("redis.sock"))
        self.http = FeedServer()
        self.hook = Webhook() if webhook else None

    def __enter__(self):
        try:
            self.redis.start()
            self.http.__enter__()
            if self.hook:
                self.hook.__enter__()
        except BaseException:
            self.__exit__()
            raise
        self.http.routes["/seeds.rss"] = seed("seeds.rss")
        self.http.routes["/seeds.atom"] = seed("seeds.atom")
        return self

    def __exit__(self, *exc):
        try:
            if self.hook and self.hook.thread.is_alive():
                self.hook.__exit__()
            if self.http.thread.is_alive():
                self.http.__exit__()
        finally:
            self.redis.stop()

    def conf(self, name="wirewatch.conf", **kw):
        kw.setdefault("redis", self.redis.url)
        return write(self.ctx.path(name), config(**kw))


def rss(items, title="feed"):
    """items: (guid, title, unix time or None[, description])."""
    out = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>%s</title>'
           % title]
    for it in items:
        guid, t, when = it[0], it[1], it[2]
        desc = it[3] if len(it) > 3 else ""
        out.append("<item><guid isPermaLink=\"false\">%s</guid><title>%s</title>%s%s</item>" % (
            guid, t, "<pubDate>%s</pubDate>" % formatdate(when, usegmt=True) if when else "",
            "<description>%s</description>" % desc if desc else ""))
    out.append("</channel></rss>")
    return "".join(out).encode()


CONSOLE = [("out", {"type": "console"})]


def console_alerts(d):
    """Alerts printed so far by a running Daemon (complete lines only)."""
    out = []
    text = d.read_stdout()
    for line in text.split("\n")[:-1]:
        if line.strip():
            out.append(json.loads(line))
    return out


def stop_daemon(d, timeout=15):
    """SIGTERM, then the Run; fails the scenario if it does not stop in time."""
    d.signal(signal.SIGTERM)
    r = d.wait(timeout)
    check(not r.timed_out, "daemon did not stop within %ss of SIGTERM" % timeout)
    return r


