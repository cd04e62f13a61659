"""Issue 10, first part: the control socket and wirewatchctl's daemon verbs.

A real daemon on a real redis-server with loopback feeds serves
[daemon] control = <tmp>/run/ctl.sock; wirewatchctl and raw sockets talk
to it.  Other uids are real: setpriv runs clients as nobody (the tests run
as root).
"""
import json
import os
import socket
import stat
import subprocess
import threading
import time

import harness
from harness import Daemon, Response, check, scenario, wait_for, write
from test_hostile_redis import CONSOLE, Env, rss, stop_daemon

CTL = os.path.join(harness.ROOT, "build", "wirewatchctl")
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
NOBODY_UID = 65534


def ctl(*args, user=(), timeout=60):
    """Runs wirewatchctl; returns (rc, stdout, stderr)."""
    p = subprocess.run(list(user) + [CTL] + list(args), capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def ctl_json(sock, verb):
    rc, out, err = ctl("-s", sock, "--json", verb)
    check(rc == 0, "wirewatchctl --json %s: rc %s: %s" % (verb, rc, err.strip()))
    lines = out.splitlines()
    check(len(lines) == 1, "wirewatchctl --json %s: %d lines, want one reply object"
          % (verb, len(lines)))
    return json.loads(lines[0])


class Client:
    """A raw connection to the control socket, reading reply lines."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, *reqs):
        self.s.sendall(b"".join((r if isinstance(r, bytes) else
                                 json.dumps(r).encode()) + b"\n" for r in reqs))

    def line(self):
        while b"\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("connection closed, %d bytes unterminated" % len(self.buf))
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def rest(self):
        """Everything until the daemon's end of file (a reset raises)."""
        while True:
            data = self.s.recv(65536)
            if not data:
                out, self.buf = self.buf, b""
                return out
            self.buf += data

    def close(self):
        self.s.close()


def ping(sock, timeout=10):
    try:
        c = Client(sock, timeout)
        try:
            c.send({"v": 1, "cmd": "ping"})
            return c.line().get("ok") is True
        finally:
            c.close()
    except (OSError, EOFError, ValueError):
        return False


def run_dir(ctx):
    """<tmp>/run, reachable by other uids (mkdtemp makes <tmp> 0700)."""
    os.chmod(ctx.tmp, 0o711)
    d = ctx.path("run")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    return d


def start(ctx, e, sock, name="wirewatch.conf", daemon=None, **kw):
    d_opts = {"control": sock, "startup-spread": "0", "instance": "ctl-test"}
    d_opts.update(daemon or {})
    kw.setdefault("sinks", CONSOLE)
    conf = e.conf(name=name, daemon=d_opts, **kw)
    d = Daemon(ctx, conf, args=()).start()
    if not wait_for(lambda: ping(sock, 1) or d.proc.poll() is not None, 15):
        d.kill()
        raise harness.TestFailure("the control socket did not answer within 15 s")
    check(d.proc.poll() is None, "the daemon exited: %s" % d.read_stderr()[-500:])
    return d, conf


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------ read verbs

@scenario("control", "issue10")
def control_read_verbs(ctx):
    """status, feeds, watchlists and sinks through wirewatchctl (tables and
    --json) and several requests on one raw connection, answered in order;
    URLs masked; a feed that fails shows as failing with its error."""
    with Env(ctx) as e:
        e.http.routes["/wire"] = Response(200, harness.seed("seeds.rss"),
                                          {"Content-Type": "application/rss+xml"})
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        secret_path = "/services/T0000/B0000/Zq8sVb3kLm2Np4Rt6Xw9Yz1A"
        d, conf = start(ctx, e, sock,
                        feeds=[("wire", e.http.url("/wire?token=s3cr3tvalue"), {"interval": "1h"}),
                               ("broken", e.http.url("/missing"), {"interval": "1h"})],
                        watchlists=[("treaty", harness.Q_TREATY, ["out", "chat"]),
                                    ("ukraine", harness.Q_UKRAINE, ["out"])],
                        sinks=[("out", {"type": "console"}),
                               ("chat", {"type": "slack",
                                         "url": "http://127.0.0.1:9" + secret_path})])
        try:
            def polled():
                fs = {f["name"]: f for f in ctl_json(sock, "feeds")["feeds"]}
                return fs["wire"]["state"] == "ok" and fs["broken"]["state"] == "failing"
            check(wait_for(polled, 20), "the feeds were not polled: %s" %
                  ctl("-s", sock, "feeds")[1])

            st = ctl_json(sock, "status")
            want = {"ok": True, "version": "0.1.0", "instance": "ctl-test", "config": conf,
                    "redis": "up", "feeds": 2, "feeds_ok": 1, "feeds_failing": 1,
                    "feeds_never": 0, "watchlists": 2, "sinks": 2, "dead_letters": 0,
                    "pid": d.proc.pid}
            for k, v in want.items():
                check(st.get(k) == v, "status %s = %r, want %r" % (k, st.get(k), v))
            for k in ("uptime", "outbox_in_flight"):
                check(isinstance(st.get(k), int), "status has no integer %s: %r" % (k, st))
            rc, out, err = ctl("-s", sock, "status")
            check(rc == 0, "status rc %s: %s" % (rc, err))
            for frag in ("version       0.1.0", "redis         up", "instance      ctl-test",
                         "feeds         2: 1 ok, 1 failing, 0 never polled",
                         "dead letters  0 since start"):
                check(frag in out, "status table lacks %r:\n%s" % (frag, out))

            fs = {f["name"]: f for f in ctl_json(sock, "feeds")["feeds"]}
            w, b = fs["wire"], fs["broken"]
            check(w["items_seen"] == 2 and w["last_success"] and w["consecutive_failures"] == 0
                  and w["last_error"] is None and w["interval"] == 3600,
                  "feed wire: %r" % w)
            check("s3cr3tvalue" not in w["url"] and w["url"].startswith("http://127.0.0.1:"),
                  "feed URL not masked: %r" % w["url"])
            check(b["consecutive_failures"] >= 1 and "404" in (b["last_error"] or "") and
                  b["last_success"] is None, "feed broken: %r" % b)
            rc, out, err = ctl("feeds", "-s", sock)
            rows = out.splitlines()
            check(rc == 0 and rows[0].split()[:3] == ["NAME", "STATE", "LAST"],
                  "feeds table header: %r (rc %s)" % (rows[:1], rc))
            check(any(r.split()[:2] == ["wire", "ok"] for r in rows) and
                  any(r.split()[:2] == ["broken", "failing"] and "HTTP 404" in r for r in rows),
                  "feeds table:\n%s" % out)
            check("s3cr3tvalue" not in out, "the feeds table shows a URL token")

            wl = ctl_json(sock, "watchlists")["watchlists"]
            check([(x["name"], x["query"], x["sinks"]) for x in wl] ==
                  [("treaty", harness.Q_TREATY, ["out", "chat"]),
                   ("ukraine", harness.Q_UKRAINE, ["out"])], "watchlists: %r" % wl)
            rc, out, _ = ctl("-s", sock, "watchlists")
            check(rc == 0 and any(r.split()[:3] == ["treaty", "config", "out,chat"] and
                                  r.endswith(harness.Q_TREATY) for r in out.splitlines()),
                  "watchlists table:\n%s" % out)

            sk = ctl_json(sock, "sinks")["sinks"]
            check([(x["name"], x["type"]) for x in sk] == [("out", "console"), ("chat", "slack")],
                  "sinks: %r" % sk)
            check(sk[0]["url"] is None and "Zq8sVb3k" not in sk[1]["url"] and
                  "services" not in sk[1]["url"], "sink URL not masked: %r" % sk[1]["url"])
            rc, out, _ = ctl("--json", "sinks", "-s", sock)
            check(rc == 0 and "Zq8sVb3k" not in out, "sinks --json shows the secret path")

            # Several requests on one connection, written at once, answered in order.
            c = Client(sock)
            try:
                c.send({"v": 1, "cmd": "ping", "id": 1}, {"v": 1, "cmd": "status", "id": 2},
                       b"this is not json", {"v": 1, "cmd": "feeds", "id": "three"},
                       {"v": 1, "cmd": "nosuch", "id": 4}, {"v": 2, "cmd": "ping"},
                       {"v": 1, "cmd": "sinks", "extra": 1}, {"v": 1, "cmd": "watchlists", "id": 5})
                got = [c.line() for _ in range(8)]
                check([g.get("id") for g in got] == [1, 2, None, "three", 4, None, None, 5],
                      "replies out of order: %r" % [g.get("id") for g in got])
                check([g["ok"] for g in got] == [True, True, False, True, False, False, False, True],
                      "ok flags: %r" % [(g["ok"], g.get("error")) for g in got])
                check(got[1]["feeds"] == 2 and len(got[3]["feeds"]) == 2 and
                      len(got[7]["watchlists"]) == 2, "reply bodies: %r" % got)
                check("bad JSON" in got[2]["error"], "garbage: %r" % got[2])
                check("unknown command 'nosuch'" in got[4]["error"], "unknown: %r" % got[4])
                check("unsupported protocol version 2" in got[5]["error"], "v2: %r" % got[5])
                check("takes no argument 'extra'" in got[6]["error"], "args: %r" % got[6])
                # Still usable after errors.
                c.send({"v": 1, "cmd": "ping"})
                check(c.line()["ok"] is True, "the connection is not usable after errors")
                # A request without '\n' before the end of input is answered too.
                c.s.sendall(b'{"v":1,"cmd":"ping","id":"last"}')
                c.s.shutdown(socket.SHUT_WR)
                check(c.line().get("id") == "last", "the last unterminated request was not answered")
                check(c.rest() == b"", "data after the last reply")
            finally:
                c.close()
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)
        check(not os.path.exists(sock), "the socket file is still there after exit")


# ------------------------------------------------------------------ long lines

@scenario("control", "issue10", "hostile")
def control_long_line(ctx):
    """A 2 MiB request line: an error reply, then a clean end of file (no
    reset), while another client keeps being answered; a line of exactly
    1 MiB is still a request."""
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, _ = start(ctx, e, sock)
        try:
            other = Client(sock)
            other.send({"v": 1, "cmd": "ping"})
            check(other.line()["ok"], "ping failed")

            edge = json.dumps({"v": 1, "cmd": "ping", "id": "edge"}).encode()
            edge += b" " * ((1 << 20) - len(edge))
            c = Client(sock)
            c.send(edge)
            r = c.line()
            check(r.get("ok") is True and r.get("id") == "edge",
                  "a 1 MiB line was refused: %r" % r)
            c.send({"v": 1, "cmd": "ping", "id": "after"})
            check(c.line().get("id") == "after", "not usable after a 1 MiB line")
            c.close()

            big = Client(sock, timeout=20)
            t0 = time.monotonic()
            big.send(b'{"v":1,"cmd":"status","pad":"' + b"x" * (2 << 20) + b'"}')
            r = big.line()
            check(r.get("ok") is False and "too long" in r.get("error", ""),
                  "2 MiB line: %r" % r)
            try:
                rest = big.rest()
            except ConnectionResetError:
                raise harness.TestFailure("the connection was reset, not closed cleanly")
            check(rest == b"", "more after the error: %r" % rest[:100])
            check(time.monotonic() - t0 < 10, "the close took %.1fs" % (time.monotonic() - t0))
            big.close()

            other.send({"v": 1, "cmd": "status"})
            check(other.line()["ok"], "the other client is no longer answered")
            check(ctl("-s", sock, "ping")[0] == 0, "a new client is not answered")
            check("over 1048576 bytes" in d.read_stderr(), "the long line is not logged")
            other.close()
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


# ------------------------------------------------------------------ client limit

@scenario("control", "issue10", "hostile")
def control_client_limit(ctx):
    """500 clients at once: 64 are served, the 436 others get an error reply
    and an end of file; wirewatchctl then exits 1; the served ones are
    still answered; once clients leave, new ones are served again."""
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, _ = start(ctx, e, sock)
        clients = []
        try:
            # The first of 500, once earlier clients (start's pings) are gone.
            clients.append(Client(sock))

            def alone():
                clients[0].send({"v": 1, "cmd": "status"})
                return clients[0].line()["control_clients"] == 1
            check(wait_for(alone, 5), "earlier clients still connected")
            for _ in range(499):
                clients.append(Client(sock))
            oks, refused = [], []
            for i, c in enumerate(clients):
                try:
                    c.send({"v": 1, "cmd": "ping", "id": i})
                except BrokenPipeError:
                    pass  # a refused client is answered and closed at once
                r = c.line()
                if r.get("ok"):
                    oks.append(i)
                else:
                    refused.append(i)
                    check("too many clients" in r.get("error", ""), "refusal: %r" % r)
                    try:
                        check(c.rest() == b"", "more after the refusal")
                    except ConnectionResetError:
                        pass  # it wrote a request the daemon never read: fine
            check(oks == list(range(64)) and refused == list(range(64, 500)),
                  "served %d (%s...), refused %r" % (len(oks), oks[:3], refused))
            rc, _, err = ctl("-s", sock, "status")
            check(rc == 1 and "too many clients" in err,
                  "wirewatchctl with 64 clients connected: rc %s %s" % (rc, err.strip()))
            check("clients connected already" in d.read_stderr(), "refusals not logged")
            # The served ones are still served.
            clients[10].send({"v": 1, "cmd": "status"})
            check(clients[10].line()["ok"], "a served client stopped being answered")
            for c in clients[:5]:
                c.close()
            check(wait_for(lambda: ctl("-s", sock, "ping")[0] == 0, 5),
                  "no client is served after 5 left")
        finally:
            for c in clients:
                c.close()
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


# ------------------------------------------------------------------ non-reader

@scenario("control", "issue10", "hostile")
def control_client_never_reads(ctx):
    """A client sends 10,000 `watchlists` requests (about 40 KB of reply
    each) and never reads: the daemon keeps polling a 1 s feed, answers
    another client within 2 s, does not buffer the 400 MB of replies,
    and drops the client after it read nothing for 30 s."""
    now = time.time()
    wls = [("w%03d" % i, "(alpha%d AND bravo) OR (charlie NEAR/5 delta%d) OR "
            "\"echo foxtrot golf\" OR hotel%d OR india OR juliet%d" % (i, i, i, i), ["out"])
           for i in range(200)]
    with Env(ctx) as e:
        e.http.routes["/tick"] = rss([("t1", "tick", now)])
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, _ = start(ctx, e, sock, feeds=[("tick", e.http.url("/tick"), {"interval": "1s"})],
                     watchlists=wls)
        pest = None
        try:
            reply = len(json.dumps(ctl_json(sock, "watchlists")))
            check(reply > 30000, "a watchlists reply is only %d bytes" % reply)
            base_rss = rss_kb(d.proc.pid)

            pest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            pest.connect(sock)
            pest.settimeout(90)
            sent = {"n": 0, "error": None}

            def flood():
                req = b'{"v":1,"cmd":"watchlists"}\n'
                try:
                    for _ in range(100):
                        pest.sendall(req * 100)
                        sent["n"] += 100
                except OSError as ex:
                    sent["error"] = ex
            t = threading.Thread(target=flood, daemon=True)
            t.start()
            time.sleep(1)

            hits0, worst, t0 = len(e.http.hits("/tick")), 0.0, time.monotonic()
            while time.monotonic() - t0 < 5:
                t1 = time.monotonic()
                rc = ctl("-s", sock, "ping")[0]
                worst = max(worst, time.monotonic() - t1)
                check(rc == 0, "ping refused while a client does not read (rc %s)" % rc)
                time.sleep(0.3)
            polls = len(e.http.hits("/tick")) - hits0
            check(polls >= 3, "the 1 s feed was polled %d times in 5 s" % polls)
            check(worst < 2.0, "a ping took %.2fs while a client does not read" % worst)
            grown = rss_kb(d.proc.pid) - base_rss
            check(grown < 50 * 1024, "the daemon grew by %d MB buffering replies" %
                  (grown // 1024))
            check(wait_for(lambda: "has read none of its replies" in d.read_stderr(), 45),
                  "the client that does not read was not dropped")
            t.join(10)
            check(sent["n"] < 10000 or sent["error"] is not None,
                  "all 10,000 requests were taken: nothing held the client back")
            check(ping(sock), "not answering after dropping the client")
            check(rss_kb(d.proc.pid) - base_rss < 50 * 1024, "memory not bounded")
        finally:
            if pest is not None:
                pest.close()
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


# ------------------------------------------------------------------ permissions

def as_nobody_raw(sock, groups=None):
    """A raw request from a process running as nobody; returns (its pid,
    the reply line, what followed it)."""
    code = ("import os,socket,sys\n"
            "s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
            "try:\n"
            "    s.sendall(b'{\"v\":1,\"cmd\":\"status\"}\\n'); s.shutdown(socket.SHUT_WR)\n"
            "except BrokenPipeError: pass\n"
            "d=b''\n"
            "while True:\n"
            "    try: c=s.recv(65536)\n"
            "    except ConnectionResetError: d+=b'<RESET>'; break\n"
            "    if not c: break\n"
            "    d+=c\n"
            "sys.stdout.write(str(os.getpid())+'\\n'+d.decode())\n")
    user = NOBODY if groups is None else NOBODY[:-1] + ["--groups=" + groups]
    p = subprocess.run(user + ["python3", "-c", code, sock], capture_output=True, timeout=30)
    check(p.returncode == 0, "raw client as nobody failed: %s" % p.stderr.decode()[-300:])
    pid, _, rest = p.stdout.decode().partition("\n")
    line, _, after = rest.partition("\n")
    return int(pid), line, after


@scenario("control", "issue10", "security")
def control_peer_credentials(ctx):
    """The socket is 0660; a process of another uid is refused by its
    credentials (SO_PEERCRED) even when the file lets it connect, and the
    refusal is logged with its uid and pid; control-read-group and
    control-group (as a supplementary group) let nobody in."""
    check(os.geteuid() == 0, "this scenario runs clients as nobody: run it as root")
    with Env(ctx) as e:
        sock = os.path.join(run_dir(ctx), "ctl.sock")
        d, _ = start(ctx, e, sock)
        try:
            st = os.stat(sock)
            check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660,
                  "socket mode %o" % st.st_mode)
            rc, _, err = ctl("-s", sock, "status", user=NOBODY)
            check(rc == 1 and "permission denied" in err,
                  "nobody through a 0660 root socket: rc %s %s" % (rc, err.strip()))
            # Open the file to everyone: the credentials check still refuses.
            os.chmod(sock, 0o666)
            rc, out, err = ctl("-s", sock, "status", user=NOBODY)
            check(rc == 1 and "permission denied" in err and out == "",
                  "nobody through a 0666 socket: rc %s %r %r" % (rc, out, err))
            pid, line, after = as_nobody_raw(sock)
            check(json.loads(line) == {"ok": False, "error": "permission denied"},
                  "reply to nobody: %r" % line)
            check(after == "", "after the refusal: %r" % after)
            check(wait_for(lambda: "refused uid %d pid %d" % (NOBODY_UID, pid)
                           in d.read_stderr(), 3),
                  "the refusal of uid %d pid %d is not logged:\n%s" %
                  (NOBODY_UID, pid, d.read_stderr()[-600:]))
            check(ctl("-s", sock, "status")[0] == 0, "root is refused")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)

        # control-read-group: the socket file is in that group; its members read.
        d, _ = start(ctx, e, sock, name="read.conf", daemon={"control-read-group": "nogroup"})
        try:
            st = os.stat(sock)
            check(st.st_gid == 65534 and stat.S_IMODE(st.st_mode) == 0o660,
                  "socket gid %d mode %o" % (st.st_gid, st.st_mode))
            for verb in ("status", "feeds", "watchlists", "sinks"):
                rc, out, err = ctl("-s", sock, verb, user=NOBODY)
                check(rc == 0, "nobody in control-read-group: %s rc %s %s" % (verb, rc, err))
            pid, line, _ = as_nobody_raw(sock)
            check(json.loads(line).get("ok") is True, "raw read as nobody: %r" % line)
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)

        # control-group, held as a supplementary group only (SO_PEERGROUPS).
        d, _ = start(ctx, e, sock, name="admin.conf", daemon={"control-group": "users"})
        try:
            check(os.stat(sock).st_gid == 100, "socket gid %d" % os.stat(sock).st_gid)
            rc, out, err = ctl("-s", sock, "status", user=NOBODY[:-1] + ["--groups=100"])
            check(rc == 0, "nobody with supplementary group users: rc %s %s" % (rc, err))
            many = ",".join(str(g) for g in range(1000, 1100)) + ",100"
            rc, out, err = ctl("-s", sock, "status", user=NOBODY[:-1] + ["--groups=" + many])
            check(rc == 0, "nobody with users among 101 groups: rc %s %s" % (rc, err))
            os.chmod(sock, 0o666)
            pid, line, _ = as_nobody_raw(sock)
            check(json.loads(line) == {"ok": False, "error": "permission denied"},
                  "nobody without the group: %r" % line)
            check(wait_for(lambda: "refused uid %d pid %d" % (NOBODY_UID, pid)
                           in d.read_stderr(), 3), "refusal not logged")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)


# ------------------------------------------------------------------ lifecycle, exit codes

@scenario("control", "issue10")
def control_socket_lifecycle(ctx):
    """wirewatchctl exits 2 on bad usage and 3 with no daemon (no socket,
    a stale socket); the daemon replaces a stale socket file, refuses to
    take a live one or a file that is not a socket, names a missing
    directory, removes its socket on exit; control = (empty) is off."""
    with Env(ctx) as e:
        rundir = run_dir(ctx)
        sock = os.path.join(rundir, "ctl.sock")
        for args in ([], ["status", "extra"], ["status", "--bogus"], ["-s"],
                     ["nosuchverb"], ["-s", sock]):
            rc, _, err = ctl(*args)
            check(rc == 2, "wirewatchctl %s: rc %s, want 2 (%s)" % (" ".join(args), rc,
                                                                     err.strip()[:200]))
        rc, _, err = ctl("-s", sock, "status")
        check(rc == 3 and "cannot reach" in err, "no socket: rc %s %s" % (rc, err))
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(sock)
        stale.close()
        check(os.path.exists(sock), "no stale socket made")
        rc, _, err = ctl("-s", sock, "--json", "ping")
        check(rc == 3 and "refused" in err.lower(), "stale socket: rc %s %s" % (rc, err))

        d, conf = start(ctx, e, sock)
        try:
            check("replaced a stale socket file" in d.read_stderr(), "stale file not logged")
            rc, out, _ = ctl("-s", sock, "ping")
            check(rc == 0 and "pong" in out, "ping: rc %s %r" % (rc, out))
            rc, out, _ = ctl("-s", sock, "--json", "ping")
            check(rc == 0 and json.loads(out)["ok"] is True, "ping --json: %r" % out)
            # A second daemon must not steal a live socket.
            r2 = harness.run_daemon(ctx, conf, args=(), timeout=15)
            check(r2.rc == 1 and "in use" in r2.stderr, "second daemon on the same socket: "
                  "rc %s %s" % (r2.rc, r2.tail(3)))
            check(ping(sock), "the first daemon lost its socket to the second")
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)
        check(not os.path.exists(sock), "socket file left after exit")
        rc, _, _ = ctl("-s", sock, "status")
        check(rc == 3, "stopped daemon: rc %s, want 3" % rc)

        nodir = os.path.join(rundir, "nodir", "ctl.sock")
        r = harness.run_daemon(ctx, e.conf(name="nodir.conf", daemon={"control": nodir}),
                               args=(), timeout=15)
        check(r.rc == 1 and "directory does not exist" in r.stderr,
              "missing directory: rc %s %s" % (r.rc, r.tail(3)))
        plain = write(os.path.join(rundir, "plain"), "keep me\n")
        r = harness.run_daemon(ctx, e.conf(name="plain.conf", daemon={"control": plain}),
                               args=(), timeout=15)
        check(r.rc == 1 and "not a socket" in r.stderr, "regular file: rc %s %s" %
              (r.rc, r.tail(3)))
        check(open(plain).read() == "keep me\n", "the regular file was touched")
        r = harness.run_daemon(ctx, e.conf(name="rel.conf", daemon={"control": "rel/ctl.sock"}),
                               args=("-t",), timeout=15)
        check(r.rc == 1 and "rel.conf:" in r.stderr and "absolute path" in r.stderr,
              "relative control path: rc %s %s" % (r.rc, r.stderr.strip()))
        r = harness.run_daemon(ctx, e.conf(name="grp.conf",
                                           daemon={"control-group": "no-such-group-ww"}),
                               args=("-t",), timeout=15)
        check(r.rc == 1 and "no such group" in r.stderr, "unknown group: %s" % r.stderr.strip())

        # control = (empty): no socket at all.
        conf = e.conf(name="off.conf", daemon={"control": "", "startup-spread": "0"})
        d = Daemon(ctx, conf, args=()).start()
        try:
            check(wait_for(lambda: "control socket: off" in d.read_stderr(), 10),
                  "control = (empty) not reported: %s" % d.read_stderr()[-300:])
            check(d.proc.poll() is None, "the daemon exited")
            check(os.listdir(rundir) == ["plain"], "files made: %r" % os.listdir(rundir))
        finally:
            r = stop_daemon(d)
        check(r.rc == 0, "exit status %s" % r.rc)
