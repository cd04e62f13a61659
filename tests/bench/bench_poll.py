#!/usr/bin/env python3
"""bench_poll - one full poll cycle over many feeds on a local HTTP server.

    python3 tests/bench/bench_poll.py [--case a|b|both] [--feeds-b 50000] [--strict]

Goals (issue 11), each measured against curl in the same run, on the same server:
 (a) 5,000 feeds at the DEFAULT settings (max-connections 64, per-host 2) over
     51 hosts (50 x 80 feeds and one host with 1,000): the 304 cycle <= 2x curl
     at the same concurrency, and CPU <= 50 us per 304 poll;
 (b) 50,000 feeds on one host at 64/64: the 304 cycle <= 1.5x curl, peak RSS
     < 100 MB.
Starts a private redis-server (unix socket) and an asyncio HTTP/1.1 server in a
child process listening on 127.0.0.1 .. 127.0.0.51 (all of 127/8 is loopback
on Linux; each address is a "host" to libcurl) serving /feed/N.xml (small RSS,
ETag + Last-Modified, 304 on a matching If-None-Match / If-Modified-Since or
"If-None-Match: *").  Per case: curl cold and warm ("If-None-Match: *"), then
`wirewatchd --once` cold (empty Redis) and warm (validators in Redis -> 304s).
curl 7.88 has no per-host limit, so the curl baseline runs one
`curl --parallel --parallel-max PER_HOST` per host, at most
MAX_CONNECTIONS / PER_HOST at once, largest host first.  CPU is user + system
time of the reaped processes (getrusage); "peak MB" is the daemon's maximum
resident set as /usr/bin/time reports it (Debian package "time").
Set WIREWATCHD=path to measure another build.  Python standard library only.
"""
import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMON = os.environ.get("WIREWATCHD") or os.path.join(ROOT, "build", "wirewatchd")
LAST_MOD = "Mon, 14 Jul 2025 08:22:48 GMT"
NHOSTS = 51  # loopback addresses the server listens on


# ------------------------------------------------------------- server (child)

def feed_body(n):
    return ("""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>bench feed %d</title><link>http://bench.invalid/%d</link>
<description>bench</description>
<item><title>Bench item %d of the poll benchmark</title><link>http://bench.invalid/%d/1</link>
<guid isPermaLink="false">bench-%d-1</guid><pubDate>Mon, 14 Jul 2025 08:22:48 +0000</pubDate>
<description>Routine text about weather, markets and sports, number %d.</description></item>
</channel></rss>
""" % (n, n, n, n, n, n)).encode()


def big_body(n):
    """An RSS document of n small items (as the e2e big-feed scenario's)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>big</title>'
           '<link>http://bench.invalid/big</link><description>big</description>\n']
    for i in range(n):
        out.append('<item><title>big item %d</title><link>http://bench.invalid/big/%d</link>'
                   '<guid isPermaLink="false">b%d</guid><pubDate>Mon, 14 Jul 2025 08:22:48 +0000'
                   '</pubDate></item>\n' % (i, i, i))
    out.append("</channel></rss>\n")
    return "".join(out).encode()


def serve(port_file):
    stats = {"200": 0, "304": 0, "404": 0}
    cache = {}

    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                parts = line.decode("latin-1").split()
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                path = parts[1] if len(parts) > 1 else "/"
                close = headers.get("connection", "").lower() == "close"
                if path == "/stats":
                    body = json.dumps(stats).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
                elif path.startswith("/big/") and path.endswith(".xml") and path[5:-4].isdigit():
                    n = int(path[5:-4])
                    body = cache.get(-n) or cache.setdefault(-n, big_body(n))
                    stats["200"] += 1
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
                elif path.startswith("/feed/") and path.endswith(".xml") and path[6:-4].isdigit():
                    n = int(path[6:-4])
                    etag = '"f%d"' % n
                    inm = headers.get("if-none-match")
                    ims = headers.get("if-modified-since")
                    if (inm is not None and (inm == "*" or etag in inm)) or (inm is None and ims == LAST_MOD):
                        stats["304"] += 1
                        writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: %s\r\nLast-Modified: %s\r\n\r\n'
                                     % (etag.encode(), LAST_MOD.encode()))
                    else:
                        stats["200"] += 1
                        body = cache.get(n) or cache.setdefault(n, feed_body(n))
                        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                                     b"ETag: %s\r\nLast-Modified: %s\r\nContent-Length: %d\r\n\r\n"
                                     % (etag.encode(), LAST_MOD.encode(), len(body)) + body)
                else:
                    stats["404"] += 1
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main():
        # One port on every loopback address 127.0.0.1 .. 127.0.0.NHOSTS (all
        # of 127/8 is loopback on Linux): one "host" per address for libcurl.
        for _ in range(20):
            srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
            port = srv.sockets[0].getsockname()[1]
            more = []
            try:
                for i in range(2, NHOSTS + 1):
                    more.append(await asyncio.start_server(handle, "127.0.0.%d" % i, port,
                                                           backlog=4096))
                break
            except OSError:
                for m in more + [srv]:
                    m.close()
        with open(port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(port_file + ".tmp", port_file)
        async with srv:
            await srv.serve_forever()

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    asyncio.run(main())


# ------------------------------------------------------------- driver

def get_stats(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def timed(args, timeout, **kw):
    """Runs args; returns (rc, wall seconds, (maxrss kB, peak RSS kB), stderr, CPU seconds).

    The peak RSS is what /usr/bin/time reports for the program (the maximum
    resident set of a process forked from the small `time` binary, so exact
    even for a run of a few ms); without /usr/bin/time it is VmHWM sampled
    from /proc every 5 ms.  CPU counts the program (reaped by `time`)."""
    t0 = time.monotonic()
    rssfile = tempfile.mktemp(prefix="ww-bench-rss-")
    wrap = ["/usr/bin/time", "-o", rssfile, "-f", "%M"] if os.access("/usr/bin/time", os.X_OK) else []
    p = subprocess.Popen(wrap + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True, **kw)
    errbuf = []
    import threading
    th = threading.Thread(target=lambda: errbuf.append(p.stderr.read()), daemon=True)
    th.start()
    deadline = t0 + timeout
    hwm = 0
    while True:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:") and not wrap:
                        hwm = max(hwm, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        if time.monotonic() > deadline:
            os.killpg(p.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.005)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    th.join(5)
    err = (errbuf[0] if errbuf else b"").decode("utf-8", "replace")
    if wrap:
        try:
            with open(rssfile) as f:
                lines = f.read().split()
            hwm = int(lines[-1])
        except (OSError, ValueError, IndexError):
            hwm = 0
        try:
            os.unlink(rssfile)
        except OSError:
            pass
    return p.returncode, wall, (ru.ru_maxrss, hwm), err, ru.ru_utime + ru.ru_stime


def curl_cycle(port, hosts, per_host, total, extra, tmp, timeout):
    """curl --parallel over the same URLs at the same concurrency: curl 7.88
    has no per-host limit, so one curl per host with --parallel-max per_host,
    at most total // per_host of them at once (the largest host first).
    Returns (wall, CPU seconds of all the curls, worst rc)."""
    jobs = []
    for h, (addr, ns) in enumerate(sorted(hosts, key=lambda x: -len(x[1]))):
        cfg = os.path.join(tmp, "curl%d.cfg" % h)
        with open(cfg, "w") as f:
            for n in ns:
                f.write('url = "http://%s:%d/feed/%d.xml"\noutput = "/dev/null"\n' % (addr, port, n))
        jobs.append(cfg)
    slots = max(1, total // per_host)
    running, cpu, rc = {}, 0.0, 0
    t0 = time.monotonic()
    while jobs or running:
        while jobs and len(running) < slots:
            p = subprocess.Popen(["curl", "-sS", "--parallel", "--parallel-max", str(per_host),
                                  "--no-progress-meter", "-K", jobs.pop(0)] + extra,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            running[p.pid] = p
        pid, status, ru = os.wait4(-1, 0)
        if pid in running:
            del running[pid]
            cpu += ru.ru_utime + ru.ru_stime
            rc = max(rc, abs(os.waitstatus_to_exitcode(status)))
        if time.monotonic() - t0 > timeout:
            for p in running.values():
                p.kill()
    return time.monotonic() - t0, cpu, rc


def run_case(title, port, sock, tmp, hosts, conns, per_host, timeout):
    """One case: curl cold/warm, then wirewatchd --once cold/warm; prints a table."""
    nfeeds = sum(len(ns) for _, ns in hosts)
    rows = []
    for label, extra in [("curl cold (200)", []), ("curl warm (304)", ["-H", "If-None-Match: *"])]:
        before = get_stats(port)
        wall, cpu, rc = curl_cycle(port, hosts, min(per_host, conns), conns, extra, tmp, timeout)
        rows.append((label, rc, wall, (0, 0), get_stats(port), before, cpu))
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w") as f:
        f.write("[daemon]\nredis = unix:%s\nprefix = bench%d:\nseen-ttl = 1d\nentities = %s\n"
                % (sock, nfeeds, os.path.join(ROOT, "conf", "entities")))
        if (conns, per_host) != (DEFAULT_CONNS, DEFAULT_PER_HOST):
            f.write("max-connections = %d\nper-host-connections = %d\n" % (conns, per_host))
        f.write("\n")
        for addr, ns in hosts:
            for n in ns:
                f.write('[feed "f%d"]\nurl = http://%s:%d/feed/%d.xml\ninterval = 1h\n\n'
                        % (n, addr, port, n))
        f.write('[watchlist "never"]\nquery = zzqxyzzynevermatches\nsinks = out\n\n'
                '[sink "out"]\ntype = console\n')
    failed = False
    for label in ("wirewatchd cold (200)", "wirewatchd warm (304)"):
        before = get_stats(port)
        rc, wall, rss, err, cpu = timed([DAEMON, "-c", conf, "--once"], timeout)
        rows.append((label, rc, wall, rss, get_stats(port), before, cpu))
        if rc != 0:
            failed = True
            print("%s: exit %s; stderr tail:\n  %s" % (label, rc, "\n  ".join(err.splitlines()[-8:])))
    print("\n%s" % title)
    print("%-22s %4s %8s %7s %9s %6s %6s %9s %11s" % ("run", "rc", "wall s", "CPU s", "peak MB",
                                                     "200s", "304s", "req/s", "CPU us/poll"))
    res = {}
    for label, rc, wall, rss, after, before, cpu in rows:
        n200 = after["200"] - before["200"]
        n304 = after["304"] - before["304"]
        res[label] = (wall, cpu, rss[1], n200, n304, rc)
        print("%-22s %4s %8.2f %7.2f %9s %6d %6d %9.0f %11.1f" % (
            label, rc, wall, cpu, "%.1f" % (rss[1] / 1024) if rss[1] else "-", n200, n304,
            (n200 + n304) / wall if wall > 0 else 0, 1e6 * cpu / max(1, n200 + n304)))
    for d, c in [("wirewatchd cold (200)", "curl cold (200)"), ("wirewatchd warm (304)", "curl warm (304)")]:
        print("%s / %s wall: %.2fx" % (d, c, res[d][0] / res[c][0] if res[c][0] else 0))
    return res, failed


DEFAULT_CONNS, DEFAULT_PER_HOST = 64, 2
BIG_ITEMS = 100000


def daemon_peak(port, sock, tmp, path, timeout, extra=""):
    """Peak RSS (kB) of `wirewatchd --once` polling one feed at path."""
    conf = os.path.join(tmp, "mem.conf")
    with open(conf, "w") as f:
        f.write("[daemon]\nredis = unix:%s\nprefix = mem%s:\nentities = %s\n%s\n"
                '[feed "m"]\nurl = http://127.0.0.1:%d%s\n\n'
                '[watchlist "never"]\nquery = zzqxyzzynevermatches\nsinks = out\n\n'
                '[sink "out"]\ntype = console\n'
                % (sock, path.replace("/", "."), os.path.join(ROOT, "conf", "entities"), extra,
                   port, path))
    rc, wall, rss, err, cpu = timed([DAEMON, "-c", conf, "--once"], timeout)
    if rc != 0:
        print("memory run %s: exit %s:\n  %s" % (path, rc, "\n  ".join(err.splitlines()[-5:])))
    return rss[1], rc, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=["a", "b", "m", "both"], default="both",
                    help="a: 5,000 feeds at the defaults over 51 hosts; b: 50,000 feeds at 64/64 "
                    "; m: memory per item of a 100,000-item document; both: a, b and m")
    ap.add_argument("--feeds-b", type=int, default=50000, help="feeds of case b")
    ap.add_argument("--timeout", type=int, default=300, help="per run, seconds")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve)
        return 0
    if not os.access(DAEMON, os.X_OK):
        print("bench_poll: %s missing; run `make all`" % DAEMON, file=sys.stderr)
        return 2
    if not shutil.which("curl"):
        print("bench_poll: curl missing", file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="ww-bench-")
    sock = os.path.join(tmp, "redis.sock")
    port_file = os.path.join(tmp, "port")
    redis = server = None
    failed = False
    goals = []
    try:
        redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                                  "--appendonly", "no", "--daemonize", "no", "--dir", tmp],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", port_file])
        for _ in range(200):
            if os.path.exists(port_file) and os.path.exists(sock):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("bench_poll: redis or the HTTP server did not start")
        port = int(open(port_file).read())
        print("one asyncio HTTP server on 127.0.0.1-127.0.0.%d:%d, private Redis, %d CPUs; daemon %s"
              % (NHOSTS, port, os.cpu_count(), DAEMON))
        # Memory: the daemon's peak with one small feed (the base), with one
        # 100,000-item document, and (case b) with 50,000 feeds.
        base = daemon_peak(port, sock, tmp, "/feed/0.xml", a.timeout)[0]
        if a.case in ("m", "both"):
            big, rc, wall, cpu = daemon_peak(port, sock, tmp, "/big/%d.xml" % BIG_ITEMS, a.timeout,
                                             "max-body = 64M\n")
            size = len(big_body(BIG_ITEMS))
            print("\nmemory: base (one small feed) peak %.1f MB; one %d-item document (%.1f MB, "
                  "default max-items keeps the newest 10,000): peak %.1f MB, %.0f bytes per item "
                  "of the document (%.0f bytes of XML per item), %.2f s, rc %d"
                  % (base / 1024, BIG_ITEMS, size / 1048576, big / 1024,
                     (big - base) * 1024 / BIG_ITEMS, size / BIG_ITEMS, wall, rc))
        if a.case in ("a", "both"):
            # 4,000 feeds over 50 hosts (80 each) and one host with 1,000 feeds
            hosts = [("127.0.0.%d" % (h + 2), range(h * 80, h * 80 + 80)) for h in range(50)]
            hosts.append(("127.0.0.1", range(4000, 5000)))
            res, f = run_case("(a) 5,000 feeds, 50 hosts x 80 + one host x 1,000, default settings "
                              "(max-connections %d, per-host-connections %d; curl: one --parallel-max %d"
                              " per host, %d hosts at once)" % (DEFAULT_CONNS, DEFAULT_PER_HOST,
                                                                DEFAULT_PER_HOST,
                                                                DEFAULT_CONNS // DEFAULT_PER_HOST),
                              port, sock, tmp, hosts, DEFAULT_CONNS, DEFAULT_PER_HOST, a.timeout)
            failed |= f
            w, c = res["wirewatchd warm (304)"], res["curl warm (304)"]
            ratio, us = w[0] / c[0], 1e6 * w[1] / max(1, w[4])
            ok = ratio <= 2 and us <= 50 and w[4] == 5000 and w[5] == 0
            goals.append(ok)
            print("goal (a): 304 cycle <= 2x curl and CPU <= 50 us per 304 poll, all 5,000 answered "
                  "304: %s (%.2fx, %.1f us)" % ("met" if ok else "NOT met", ratio, us))
        if a.case in ("b", "both"):
            n = a.feeds_b
            hosts = [("127.0.0.1", range(10000, 10000 + n))]
            res, f = run_case("(b) %d feeds, one host, max-connections 64, per-host-connections 64 "
                              "(curl --parallel-max 64)" % n, port, sock, tmp, hosts, 64, 64, a.timeout)
            failed |= f
            w, c = res["wirewatchd warm (304)"], res["curl warm (304)"]
            ratio = w[0] / c[0]
            peak = max(res["wirewatchd cold (200)"][2], w[2]) / 1024
            ok = ratio <= 1.5 and peak < 100 and w[4] == n and w[5] == 0
            goals.append(ok)
            print("memory: %.0f bytes per feed at %d feeds ((peak - base) / feeds, cold cycle: "
                  "config, runtime state and a queued poll per feed)"
                  % ((res["wirewatchd cold (200)"][2] - base) * 1024 / n, n))
            print("goal (b): 304 cycle <= 1.5x curl, peak RSS < 100 MB, all answered 304: %s "
                  "(%.2fx, %.1f MB)" % ("met" if ok else "NOT met", ratio, peak))
    finally:
        for p in (server, redis):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        return 2
    return 1 if a.strict and not all(goals) else 0


if __name__ == "__main__":
    sys.exit(main())
