#!/usr/bin/env python3
"""bench_poll - one full poll cycle over many feeds on a local HTTP server.

    python3 tests/bench/bench_poll.py [--feeds 5000] [--conns 64] [--per-host 64]
                                      [--curl-parallel N]

Goal (issue): 5,000 feeds, the 304 cycle under 10 s on 2 cores and under
100 MB RSS.  Starts a private redis-server (unix socket) and an asyncio HTTP/1.1
server in a child process on 127.0.0.1 serving /feed/N.xml (small RSS, ETag +
Last-Modified, 304 on a matching If-None-Match / If-Modified-Since or
"If-None-Match: *"), then runs `wirewatchd --once` twice: cold (empty redis,
no validators) and warm (validators kept in redis -> 304s).  The server's own
capacity is measured with `curl --parallel` over the same URLs (cold and with
"If-None-Match: *") so the daemon's numbers can be read against it.
All feeds share one host, so per-host-connections is raised (--per-host);
with --per-host 2 (the daemon's default) the daemon runs at most 2 transfers,
and curl is held to the same concurrency (--curl-parallel defaults to the
smaller of --conns and --per-host).  CPU is user + system time of the
measured process (getrusage of the reaped child).
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
        srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
        with open(port_file + ".tmp", "w") as f:
            f.write(str(srv.sockets[0].getsockname()[1]))
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
    """Runs args; returns (rc, wall seconds, (maxrss kB, VmHWM kB), stderr, CPU seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    errbuf = []
    import threading
    th = threading.Thread(target=lambda: errbuf.append(p.stderr.read()), daemon=True)
    th.start()
    deadline = t0 + timeout
    hwm = 0
    while True:
        try:   # VmHWM of the exec'd program (ru_maxrss also counts the forked Python before exec)
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        if time.monotonic() > deadline:
            os.kill(p.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.005)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    th.join(5)
    err = (errbuf[0] if errbuf else b"").decode("utf-8", "replace")
    # ru_maxrss is an upper bound (floor: this script's RSS at fork); VmHWM is sampled
    return p.returncode, wall, (ru.ru_maxrss, hwm), err, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=5000)
    ap.add_argument("--conns", type=int, default=64, help="max-connections (and curl --parallel-max)")
    ap.add_argument("--per-host", type=int, default=64, help="per-host-connections")
    ap.add_argument("--curl-parallel", type=int, default=0,
                    help="curl --parallel-max (default: min(--conns, --per-host), the daemon's concurrency)")
    ap.add_argument("--timeout", type=int, default=300, help="per run, seconds")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve)
        return 0
    if not os.access(DAEMON, os.X_OK):
        print("bench_poll: %s missing; run `make all`" % DAEMON, file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="ww-bench-")
    sock = os.path.join(tmp, "redis.sock")
    port_file = os.path.join(tmp, "port")
    redis = server = None
    rows = []
    failed = False
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
        urls = ["http://127.0.0.1:%d/feed/%d.xml" % (port, i) for i in range(a.feeds)]

        # Baseline: the server's own capacity, measured with curl --parallel.
        curl_par = a.curl_parallel or min(a.conns, a.per_host)
        curlcfg = os.path.join(tmp, "curl.cfg")
        with open(curlcfg, "w") as f:
            for u in urls:
                f.write('url = "%s"\noutput = "/dev/null"\n' % u)
        if shutil.which("curl"):
            for label, extra in [("curl cold (200)", []), ("curl warm (304)", ["-H", "If-None-Match: *"])]:
                before = get_stats(port)
                rc, wall, rss, err, cpu = timed(["curl", "-sS", "--parallel", "--parallel-max",
                                                 str(curl_par), "-K", curlcfg] + extra, a.timeout)
                after = get_stats(port)
                rows.append((label, rc, wall, rss, after, before, cpu))

        # The daemon: 5,000 feeds, one watchlist that never matches.
        conf = os.path.join(tmp, "bench.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nredis = unix:%s\nprefix = bench:\nseen-ttl = 1d\n"
                    "entities = %s\nmax-connections = %d\nper-host-connections = %d\n"
                    "fetch-timeout = 60s\n\n" % (sock, os.path.join(ROOT, "conf", "entities"),
                                                 a.conns, a.per_host))
            for i, u in enumerate(urls):
                f.write('[feed "f%d"]\nurl = %s\ninterval = 1h\n\n' % (i, u))
            f.write('[watchlist "never"]\nquery = zzqxyzzynevermatches\nsinks = out\n\n'
                    '[sink "out"]\ntype = console\n')
        for label in ("wirewatchd cold", "wirewatchd warm (304)"):
            before = get_stats(port)
            rc, wall, rss, err, cpu = timed([DAEMON, "-c", conf, "--once"], a.timeout)
            after = get_stats(port)
            rows.append((label, rc, wall, rss, after, before, cpu))
            if rc != 0:
                failed = True
                print("%s: exit %s; stderr tail:\n  %s" % (label, rc, "\n  ".join(err.splitlines()[-8:])))
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

    print("\nmaxrss = getrusage of the child (an upper bound: it includes the forked Python before exec);"
          " VmHWM = sampled every 5 ms from /proc")
    print("%d feeds, one host 127.0.0.1, max-connections %d, per-host-connections %d, "
          "curl --parallel-max %d, %d CPUs"
          % (a.feeds, a.conns, a.per_host, a.curl_parallel or min(a.conns, a.per_host), os.cpu_count()))
    print("daemon: %s" % DAEMON)
    print("%-22s %4s %8s %7s %9s %9s %6s %6s %9s" % ("run", "rc", "wall s", "CPU s", "maxrss MB",
                                                     "VmHWM MB", "200s", "304s", "req/s"))
    rates = {}
    for label, rc, wall, rss, after, before, cpu in rows:
        n200 = after["200"] - before["200"]
        n304 = after["304"] - before["304"]
        rates[label] = (n200 + n304) / wall if wall > 0 else 0
        print("%-22s %4s %8.2f %7.2f %9.1f %9.1f %6d %6d %9.0f" % (
            label, rc, wall, cpu, rss[0] / 1024, rss[1] / 1024, n200, n304, rates[label]))
    for d, c in [("wirewatchd cold", "curl cold (200)"), ("wirewatchd warm (304)", "curl warm (304)")]:
        if rates.get(c):
            print("%s / %s: %.2f of the server's measured capacity" % (d, c, rates.get(d, 0) / rates[c]))
    warm = [r for r in rows if r[0] == "wirewatchd warm (304)"]
    met = False
    if warm:
        _, rc, wall, rss, after, before, _ = warm[0]
        n304 = after["304"] - before["304"]
        met = rc == 0 and wall < 10 and rss[0] < 100 * 1024 and n304 == a.feeds
        print("goal (304 cycle < 10 s, < 100 MB, all %d answered 304): %s%s" % (
            a.feeds, "met" if met else "NOT met",
            "" if n304 == a.feeds else " (%d of %d requests were 304)" % (n304, a.feeds)))
    if failed:
        return 2
    return 1 if a.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
