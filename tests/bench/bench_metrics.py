#!/usr/bin/env python3
"""bench_metrics - what a /metrics scrape costs as feeds grow.

    python3 tests/bench/bench_metrics.py [--feeds 10000] [--scrapes 20]

Starts a private redis-server (unix socket) and wirewatchd (default
settings, startup-spread 0) with N file:// feeds, waits until every feed
was polled once, then scrapes /metrics and, as the baseline, /healthz (the
same HTTP round trip with nothing to render) on the loopback, and prints
the scrape size, the median and worst times, and their ratio to the
baseline.  The daemon renders a scrape on its event loop, so the time is
also how long polls wait behind it.  Set WIREWATCHD=path for another
build.  Python standard library only.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMON = os.environ.get("WIREWATCHD") or os.path.join(ROOT, "build", "wirewatchd")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def fetch(url):
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        body = r.read()
    return time.perf_counter() - t0, body


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=10000)
    ap.add_argument("--scrapes", type=int, default=20)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ww-bench-metrics-")
    sock = os.path.join(tmp, "redis.sock")
    port = free_port()
    feed = os.path.join(tmp, "feed.rss")
    shutil.copy(os.path.join(ROOT, "conf", "demo", "seeds.rss"), feed)
    conf = ["[daemon]", "redis = unix:" + sock, "entities = " + os.path.join(ROOT, "conf",
            "entities"), "local-entities =", "metrics = 127.0.0.1:%d" % port,
            "control =", "startup-spread = 0", ""]
    for i in range(a.feeds):
        conf += ['[feed "feed-%05d"]' % i, "url = file://" + feed, "interval = 1h", ""]
    conf += ['[watchlist "w"]', "query = @DPRK AND treaty", "sinks = out", "",
             '[sink "out"]', "type = console", ""]
    with open(os.path.join(tmp, "w.conf"), "w") as f:
        f.write("\n".join(conf))
    redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                              "--dir", tmp], stdout=subprocess.DEVNULL)
    d = None
    try:
        time.sleep(0.5)
        d = subprocess.Popen([DAEMON, "-c", os.path.join(tmp, "w.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 120
        polled = 0
        while time.monotonic() < deadline:
            try:
                _, body = fetch(base + "/metrics")
                for line in body.decode().splitlines():
                    if line.startswith('wirewatch_polls_total{outcome="ok"}'):
                        polled = int(float(line.split()[1]))
                if polled >= a.feeds:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        if polled < a.feeds:
            raise SystemExit("only %d of %d feeds polled in 120 s" % (polled, a.feeds))
        m = [fetch(base + "/metrics") for _ in range(a.scrapes)]
        h = [fetch(base + "/healthz") for _ in range(a.scrapes)]
        mt, ht = [t for t, _ in m], [t for t, _ in h]
        print("feeds %d, %d scrapes each (loopback)" % (a.feeds, a.scrapes))
        print("%-10s %10s %10s %10s" % ("", "bytes", "median ms", "max ms"))
        print("%-10s %10d %10.2f %10.2f" % ("/healthz", len(h[0][1]), statistics.median(ht) * 1e3,
                                            max(ht) * 1e3))
        print("%-10s %10d %10.2f %10.2f" % ("/metrics", len(m[-1][1]),
                                            statistics.median(mt) * 1e3, max(mt) * 1e3))
        print("/metrics / /healthz (median): %.1fx" % (statistics.median(mt) /
                                                         statistics.median(ht)))
    finally:
        if d is not None:
            d.send_signal(signal.SIGTERM)
            d.wait(20)
        redis.terminate()
        redis.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
