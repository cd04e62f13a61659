#!/usr/bin/env python3
"""bench_reload - what a reload and a run-time watchlist cost.

    python3 tests/bench/bench_reload.py [--sizes 1000,10000] [--repeat 3]

For configs of N feeds and N watchlists (each feed polled once a day, so
no poll runs during the measurement; default settings otherwise), a real
wirewatchd on a private redis-server, timed from wirewatchctl's side:

  - `wirewatchd -t` on the file: load and validate (the baseline);
  - `wirewatchctl reload` of the same file: load, validate, config_diff,
    apply (nothing changed);
  - `wirewatchctl reload` with 1% of the feeds and watchlists changed;
  - `wirewatchctl watchlist add` then `remove` of a run-time watchlist:
    while a run-time watchlist exists, the watchlist snapshot compiles the
    config's watchlists again (the config's own matcher serves when there
    is none), so this grows with N;
  - the daemon's VmRSS before and after 100 reloads of the unchanged file.

Each figure is the median of --repeat runs; ratios are against `-t` at the
same N.  Set WIREWATCHD=path to measure another build.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402

DAEMON = os.environ.get("WIREWATCHD") or os.path.join(ROOT, "build", "wirewatchd")
CTL = os.path.join(ROOT, "build", "wirewatchctl")
WORDS = ("summit treaty minister ceasefire parliament sanctions talks border trade "
         "embassy court ruling budget pipeline satellite coalition election strike "
         "tariff refinery drought harvest missile protest").split()


def write_conf(path, redis, sock, n, changed=0):
    out = ["[daemon]", "redis = %s" % redis, "prefix = bench:", "instance = bench",
           "entities = %s" % harness.ENTITIES, "control = %s" % sock, ""]
    for i in range(n):
        interval = "2d" if i < changed else "1d"
        out += ['[feed "f%d"]' % i, "url = http://127.0.0.1:9/feed/%d" % i,
                "interval = %s" % interval, ""]
    for i in range(n):
        a, b = WORDS[i % len(WORDS)], WORDS[(i * 7 + 3) % len(WORDS)]
        q = "%s AND %s%d" % (a, b, i) if i >= changed else "%s OR %s%d" % (a, b, i)
        out += ['[watchlist "w%d"]' % i, "query = %s" % q, "sinks = out", ""]
    out += ['[sink "out"]', "type = console", ""]
    with open(path, "w") as f:
        f.write("\n".join(out))


def timed(args):
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit("%s: rc %d: %s" % (" ".join(args[:3]), p.returncode, p.stderr[-500:]))
    return dt


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ping(sock):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        s.connect(sock)
        s.sendall(b'{"v":1,"cmd":"ping"}\n')
        ok = b'"ok":true' in s.recv(4096)
        s.close()
        return ok
    except OSError:
        return False


def measure(tmp, n, repeat):
    redis = harness.Redis(os.path.join(tmp, "redis-%d.sock" % n)).start()
    sock = os.path.join(tmp, "ctl-%d.sock" % n)
    conf = os.path.join(tmp, "bench-%d.conf" % n)
    write_conf(conf, redis.url, sock, n)
    res = {}
    d = None
    try:
        res["-t"] = statistics.median(timed([DAEMON, "-c", conf, "-t"]) for _ in range(repeat))
        d = subprocess.Popen([DAEMON, "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not ping(sock):
            if d.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the daemon did not start (N=%d)" % n)
            time.sleep(0.1)
        reload_cmd = [CTL, "-s", sock, "reload"]
        res["reload, no change"] = statistics.median(timed(reload_cmd) for _ in range(repeat))
        changed = []
        for k in range(repeat):
            write_conf(conf, redis.url, sock, n, changed=max(1, n // 100) if k % 2 == 0 else 0)
            changed.append(timed(reload_cmd))
        res["reload, 1% changed"] = statistics.median(changed)
        write_conf(conf, redis.url, sock, n)
        timed(reload_cmd)
        adds, removes = [], []
        for _ in range(repeat):
            adds.append(timed([CTL, "-s", sock, "watchlist", "add", "rt", "sanctions AND ports",
                               "--sinks", "out"]))
            removes.append(timed([CTL, "-s", sock, "watchlist", "remove", "rt"]))
        res["watchlist add"] = statistics.median(adds)
        res["watchlist remove"] = statistics.median(removes)
        before = rss_kb(d.pid)
        for _ in range(100):
            timed(reload_cmd)
        res["rss"] = (before, rss_kb(d.pid))
    finally:
        if d is not None:
            d.terminate()
            d.wait(30)
        redis.stop()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ww-bench-reload-")
    try:
        print("bench-reload: N feeds + N watchlists, medians of %d, seconds as seen by "
              "wirewatchctl (ratio: against wirewatchd -t at the same N)" % a.repeat)
        print("%-8s %-22s %10s %8s" % ("N", "operation", "seconds", "ratio"))
        for n in (int(x) for x in a.sizes.split(",")):
            r = measure(tmp, n, a.repeat)
            base = r["-t"]
            for k in ("-t", "reload, no change", "reload, 1% changed", "watchlist add",
                      "watchlist remove"):
                print("%-8d %-22s %10.3f %7.2fx" % (n, k, r[k], r[k] / base))
            print("%-8d %-22s %s" % (n, "VmRSS, 100 reloads", "%d kB -> %d kB" % r["rss"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
