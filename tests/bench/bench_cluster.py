#!/usr/bin/env python3
"""bench_cluster - several wirewatchd on one Redis: poll cycle and lease cost.

    python3 tests/bench/bench_cluster.py [--feeds 20000] [--instances 1,2,3]
                                         [--lease 30] [--idle 20]

Reuses bench_poll.py's asyncio feed server (small RSS, ETag, 304 on a
match) and a private redis-server.  Per row, with k instances (distinct
[daemon] instance names, one config, interval 1h, startup-spread 1s,
per-host-connections 64) on this machine:

  cold   start k daemons on an empty Redis; wall time until every feed was
         fetched once (200s), Redis commands per poll over that time;
  warm   stop them (SIGTERM releases the leases) and start them again: the
         all-304 cycle (restart -> every feed answered 304), Redis
         commands per poll;
  idle   then --idle seconds with nothing due: the leases' own cost, as
         FCALLs/s and as commands run by Redis (counting those inside the
         functions) per second per 1,000 feeds.

The baseline, in the same run, is one instance with `lease = off` (the
daemon as it was before leases).  startup-spread is 1s, not 0: with 0 the
baseline's feeds fall due before its Redis connection is up, and feeds
that wait for Redis are spread over 10 s once it is (pipeline.c), which
would measure that rule instead of the poll cycle.  Commands are INFO commandstats deltas.
2 cores are shared by the daemons, Redis and the feed server: k instances
on one machine measure coordination overhead, not added capacity.
Python standard library only.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_poll  # noqa: E402

ROOT = bench_poll.ROOT
DAEMON = bench_poll.DAEMON


def rcmd(sock, *args):
    p = subprocess.run(["redis-cli", "-s", sock] + [str(a) for a in args],
                       capture_output=True, timeout=30)
    return p.stdout.decode()


def cmdstats(sock):
    out, fcall = 0, 0
    for line in rcmd(sock, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[8:].split(":", 1)
            n = int(rest.split("calls=")[1].split(",")[0])
            if name in ("info", "flushall"):
                continue
            out += n
            if name == "fcall":
                fcall = n
    return out, fcall


def write_conf(path, sock, urls, name, lease):
    with open(path, "w") as f:
        f.write("[daemon]\nredis = unix:%s\nprefix = bench:\nseen-ttl = 1d\n"
                "entities = %s\nmax-connections = 64\nper-host-connections = 64\n"
                "fetch-timeout = 60s\nstartup-spread = 1s\ncontrol =\ninstance = %s\n"
                "lease = %s\n\n" % (sock, os.path.join(ROOT, "conf", "entities"), name, lease))
        for i, u in enumerate(urls):
            f.write('[feed "f%d"]\nurl = %s\ninterval = 1h\n\n' % (i, u))
        f.write('[watchlist "never"]\nquery = zzqxyzzynevermatches\nsinks = out\n\n'
                '[sink "out"]\ntype = console\n')


def start(confs, tmp):
    procs = []
    for i, c in enumerate(confs):
        err = open(os.path.join(tmp, "d%d.err" % i), "wb")
        procs.append(subprocess.Popen([DAEMON, "-c", c], stdout=subprocess.DEVNULL,
                                      stderr=err, stdin=subprocess.DEVNULL))
    return procs


def stop(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def wait_count(port, key, base, n, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if bench_poll.get_stats(port)[key] - base >= n:
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=20000)
    ap.add_argument("--instances", default="1,2,3")
    ap.add_argument("--lease", type=int, default=30)
    ap.add_argument("--idle", type=int, default=20, help="seconds of the idle measurement")
    ap.add_argument("--timeout", type=int, default=180)
    a = ap.parse_args()
    if not os.access(DAEMON, os.X_OK):
        print("bench_cluster: %s missing; run `make all`" % DAEMON, file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="ww-bench-cluster-")
    sock = os.path.join(tmp, "redis.sock")
    port_file = os.path.join(tmp, "port")
    redis = server = None
    rows = []
    try:
        redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                                  "--appendonly", "no", "--daemonize", "no", "--dir", tmp],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = subprocess.Popen([sys.executable, os.path.join(HERE, "bench_poll.py"),
                                   "--serve", port_file])
        for _ in range(200):
            if os.path.exists(port_file) and os.path.exists(sock):
                break
            time.sleep(0.05)
        port = int(open(port_file).read())
        urls = ["http://127.0.0.1:%d/feed/%d.xml" % (port, i) for i in range(a.feeds)]
        runs = [("baseline: 1, lease off", 1, "off")]
        runs += [("%s instance%s, lease %ds" % (k, "" if k == "1" else "s", a.lease), int(k),
                  "%ds" % a.lease) for k in a.instances.split(",")]
        for label, k, lease in runs:
            rcmd(sock, "FLUSHALL")
            rcmd(sock, "CONFIG", "RESETSTAT")
            confs = []
            for i in range(k):
                c = os.path.join(tmp, "i%d.conf" % i)
                write_conf(c, sock, urls, "bench-%d" % i, lease)
                confs.append(c)
            row = {"label": label}
            s0 = bench_poll.get_stats(port)
            c0 = cmdstats(sock)
            procs = start(confs, tmp)
            row["cold"] = wait_count(port, "200", s0["200"], a.feeds, a.timeout)
            time.sleep(1)  # let the last records land
            c1 = cmdstats(sock)
            row["cold_cmds"] = (c1[0] - c0[0]) / a.feeds
            stop(procs)
            s1 = bench_poll.get_stats(port)
            c1 = cmdstats(sock)
            procs = start(confs, tmp)
            row["warm"] = wait_count(port, "304", s1["304"], a.feeds, a.timeout)
            time.sleep(1)
            c2 = cmdstats(sock)
            row["warm_cmds"] = (c2[0] - c1[0]) / a.feeds
            row["warm_fcall"] = (c2[1] - c1[1]) / a.feeds
            time.sleep(2)
            c3 = cmdstats(sock)
            time.sleep(a.idle)
            c4 = cmdstats(sock)
            row["idle_cmds"] = (c4[0] - c3[0]) / a.idle / (a.feeds / 1000)
            row["idle_fcall"] = (c4[1] - c3[1]) / a.idle / (a.feeds / 1000)
            stop(procs)
            rows.append(row)
            print("  %s: done" % label, flush=True)
    finally:
        for p in (server, redis):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n%d feeds on one local HTTP server, private Redis, %d CPUs, daemon %s"
          % (a.feeds, os.cpu_count(), DAEMON))
    print("%-26s %9s %11s %9s %11s %11s %15s %15s" % (
        "run", "cold s", "cmds/poll", "warm s", "cmds/poll", "FCALL/poll",
        "idle cmds/s/1k", "idle FCALL/s/1k"))
    base = rows[0] if rows else None
    for r in rows:
        def f(x, fmt):
            return fmt % x if x is not None else "timeout"
        print("%-26s %9s %11.2f %9s %11.2f %11.3f %15.2f %15.3f" % (
            r["label"], f(r["cold"], "%.2f"), r["cold_cmds"], f(r["warm"], "%.2f"),
            r["warm_cmds"], r["warm_fcall"], r["idle_cmds"], r["idle_fcall"]))
    if base and base["warm"]:
        for r in rows[1:]:
            if r["warm"]:
                print("%s: all-304 cycle %.2fx the baseline's" % (r["label"], r["warm"] / base["warm"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
