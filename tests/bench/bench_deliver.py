#!/usr/bin/env python3
"""bench_deliver - alerts from the outbox to a loopback webhook receiver.

    python3 tests/bench/bench_deliver.py [--alerts 1000] [--runs 3]

One feed with N matching items is polled once (`wirewatchd --once`, default
settings: per-host-connections 2); every alert is POSTed to one loopback
receiver.  Printed:
  - latency from "feed response complete" (the feed server finished writing
    the document) to "POST received" for each alert: p50 / p99 / max;
  - end-to-end throughput: alerts/s between the first and the last POST
    (with group = story this includes each item's story decision);
  - from the outbox: the same n alerts queued first (a first --once whose
    sink answers 400 dead-letters them, `wirewatchctl replay --failed`
    puts them back), then delivered by a second --once: alerts/s between
    its first and last POST — the dispatcher alone;
  - the same number of POSTs of one of the daemon's own request bodies,
    sent by `curl --parallel` at the same concurrency to the same receiver
    in the same run: requests/s, and each rate's ratio to it (goal >= 0.5x);
  - where the time went: the daemon's CPU time (user + system) and
    redis-server's over the --once run, per alert, and the Redis commands
    that took the most of it (INFO commandstats).
The receiver is an asyncio HTTP/1.1 server in a child process (serve_http,
also bench_latency's).
Python standard library, redis-server and curl.  WIREWATCHD=path measures
another build.
"""
import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMON = os.environ.get("WIREWATCHD") or os.path.join(ROOT, "build", "wirewatchd")


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def read_request(reader):
    """One HTTP/1.1 request: (method, path, body), or None at the end."""
    line = await reader.readline()
    if not line:
        return None
    method, path = line.split()[:2]
    length = 0
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    body = await reader.readexactly(length) if length else b""
    return method, path, body


def serve_http(port_file, respond):
    """Child: an asyncio HTTP/1.1 server on 127.0.0.1 (keep-alive, no
    per-request thread, so that it is not the bottleneck).  respond(method,
    path, body) is called as a request arrives and returns (response bytes,
    done); done(), if not None, runs once the response is written."""
    async def handle(reader, writer):
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                resp, done = respond(*req)
                writer.write(resp)
                await writer.drain()
                if done is not None:
                    done()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        with open(port_file, "w") as f:
            f.write(str(srv.sockets[0].getsockname()[1]))
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


def fork_server(tmp, serve, *args):
    """Runs serve(port_file, log_file, *args) in a child; (pid, port, log)."""
    port_file = os.path.join(tmp, "port")
    log_file = os.path.join(tmp, "recv.log")
    pid = os.fork()
    if pid == 0:
        try:
            serve(port_file, log_file, *args)
        finally:
            os._exit(0)
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read():
            return pid, int(open(port_file).read()), log_file
        time.sleep(0.02)
    raise SystemExit("receiver did not start")


def serve(port_file, log_file, feed_path):
    """Child: serves /feed.xml and records POST arrival times (monotonic);
    keeps the first POST's body (for curl); answers 400 on /dead."""
    body_file = log_file + ".body"
    with open(feed_path, "rb") as f:
        feed = f.read()
    log = open(log_file, "w")

    def fed():
        log.write("feed %.6f\n" % time.monotonic())
        log.flush()

    def respond(method, path, body):
        if method == b"GET":
            return (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(feed) + feed, fed)
        if path == b"/dead":
            return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad", None
        t = time.monotonic()
        try:
            item = json.loads(body).get("item_id", "?")
        except ValueError:
            item = "?"
        log.write("post %.6f %s %s\n" % (t, path.decode(), item))
        log.flush()
        if not os.path.exists(body_file):
            with open(body_file + ".tmp", "wb") as bf:
                bf.write(body)
            os.rename(body_file + ".tmp", body_file)
        return OK, None

    serve_http(port_file, respond)


def start_receiver(tmp, feed_path):
    return fork_server(tmp, serve, feed_path)


def word_source(seed):
    """words(k): k words drawn from a vocabulary of ~6,000 made-up ones
    (each item its own story: few words in common, as on a real wire)."""
    rnd = random.Random(seed)
    syll = ["ka", "lo", "mi", "ren", "tos", "va", "de", "pur", "shi", "gan", "el", "bo",
            "tri", "nas", "qu", "zel", "or", "fa", "mun", "ste"]
    vocab = sorted({"".join(rnd.choice(syll) for _ in range(rnd.randint(2, 4)))
                    for _ in range(6000)})

    def words(k):
        return " ".join(rnd.choice(vocab) for _ in range(k))
    return words


def cleanup(redis, pid, tmp):
    """Stops redis-server and the forked server; removes tmp."""
    redis.kill()
    redis.wait()
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    shutil.rmtree(tmp, ignore_errors=True)


def start_redis(tmp):
    sock = os.path.join(tmp, "redis.sock")
    p = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                          "--appendonly", "no", "--dir", tmp],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(sock):
            return p, sock
        time.sleep(0.02)
    p.kill()
    raise SystemExit("redis-server did not start")


def read_log(path):
    feed_t, posts = None, []
    with open(path) as f:
        for line in f:
            w = line.split()
            if w[0] == "feed" and feed_t is None:
                feed_t = float(w[1])
            elif w[0] == "post":
                posts.append((float(w[1]), w[3]))
    return feed_t, posts


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def run_daemon(tmp, sock, port, n, group, path="/hook", ok=(0,)):
    conf = os.path.join(tmp, "w.conf")
    with open(conf, "w") as f:
        f.write("[daemon]\nredis = unix:%s\nentities = %s\nbackfill = all\n"
                "startup-spread = 0\n\n[feed \"f\"]\nurl = http://127.0.0.1:%d/feed.xml\n"
                "interval = 1h\n\n[watchlist \"w\"]\nquery = sanctions\nsinks = hook\n%s\n"
                "[sink \"hook\"]\ntype = webhook\nurl = http://127.0.0.1:%d%s\n"
                % (sock, os.path.join(ROOT, "conf", "entities"), port,
                   "" if group == "story" else "group = %s\n" % group, port, path))
    t0 = time.monotonic()
    r = subprocess.run([DAEMON, "-c", conf, "--once"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=300)
    if r.returncode not in ok:
        sys.stderr.write(r.stderr.decode()[-2000:])
        raise SystemExit("wirewatchd --once exited %d" % r.returncode)
    return time.monotonic() - t0


def outbox_rate(tmp, port, n, group, log):
    """alerts/s from the outbox to the receiver: a fresh Redis; a first
    --once records the feed's n alerts, which the sink's URL answers 400
    (dead letters); `wirewatchctl replay --failed` puts them back in the
    outbox; a second --once (no new items) delivers them to /hook."""
    sub = tempfile.mkdtemp(prefix="outbox-", dir=tmp)
    redis, sock = start_redis(sub)
    try:
        run_daemon(sub, sock, port, n, group, path="/dead", ok=(0, 1))  # 1: dead letters
        ctl = os.path.join(os.path.dirname(DAEMON), "wirewatchctl")
        if not os.path.exists(ctl):
            ctl = os.path.join(ROOT, "build", "wirewatchctl")
        subprocess.run([ctl, "-c", os.path.join(sub, "w.conf"), "replay", "--failed"],
                       stdout=subprocess.DEVNULL, check=True, timeout=120)
        with open(log) as f:
            before = sum(1 for line in f if line.startswith("post "))
        run_daemon(sub, sock, port, n, group)
        _, posts = read_log(log)
        hook = [t for t, _ in posts[before:]]
        if len(hook) != n:
            raise SystemExit("from the outbox: %d POSTs received, want %d" % (len(hook), n))
        span = max(hook) - min(hook)
        return (n - 1) / span if span > 0 else float("inf")
    finally:
        redis.kill()
        redis.wait()


def redis_info(sock, section):
    out = subprocess.run(["redis-cli", "-s", sock, "INFO", section], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def redis_cpu(sock):
    i = redis_info(sock, "cpu")
    return float(i["used_cpu_user"]) + float(i["used_cpu_sys"])


def redis_top(sock, k):
    """The k commands that took the most time: (name, calls, usec)."""
    cmds = []
    for name, v in redis_info(sock, "commandstats").items():
        f = dict(x.split("=") for x in v.split(","))
        cmds.append((name[len("cmdstat_"):], int(f["calls"]), int(f["usec"])))
    return sorted(cmds, key=lambda c: -c[2])[:k]


def run_curl(tmp, port, n, parallel, body):
    cfg = os.path.join(tmp, "curl.cfg")
    data = os.path.join(tmp, "body.json")
    with open(data, "wb") as f:
        f.write(body)
    with open(cfg, "w") as f:
        for i in range(n):
            f.write('url = "http://127.0.0.1:%d/curl"\ndata-binary = "@%s"\n'
                    'header = "Content-Type: application/json"\noutput = "/dev/null"\n'
                    % (port, data))
            if i < n - 1:
                f.write("next\n")
    t0 = time.monotonic()
    subprocess.run(["curl", "-sS", "--no-progress-meter", "--parallel", "--parallel-max", str(parallel), "-K", cfg],
                   check=True, timeout=300)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--curl-parallel", type=int, default=2,
                    help="curl's concurrency (default 2: the daemon's per-host default)")
    a = ap.parse_args()
    n = a.alerts
    words = word_source(7)
    # Every item its own story (distinct words, as on a real wire): the
    # default group = story path decides each one, then group = item (no
    # story step) in the same run, as the delivery path alone.
    runs = [(r, g) for r in range(a.runs) for g in ("story", "item")]
    for run, group in runs:
        tmp = tempfile.mkdtemp(prefix="ww-bench-deliver-")
        now = time.time()
        items = "".join(
            "<item><guid>b%d</guid><title>sanctions %s</title><pubDate>%s</pubDate>"
            "<description>%s sanctions %s.</description></item>"
            % (i, words(6), formatdate(now - i, usegmt=True), words(12), words(12))
            for i in range(n))
        feed_path = os.path.join(tmp, "feed.xml")
        with open(feed_path, "w") as f:
            f.write('<?xml version="1.0"?><rss version="2.0"><channel><title>b</title>%s'
                    "</channel></rss>" % items)
        rpid, port, log = start_receiver(tmp, feed_path)
        redis, sock = start_redis(tmp)
        try:
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            rc0 = redis_cpu(sock)
            wall = run_daemon(tmp, sock, port, n, group)
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            rcpu = redis_cpu(sock) - rc0
            top = redis_top(sock, 4)
            dcpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            feed_t, posts = read_log(log)
            hook = [t for t, _ in posts]
            if len(hook) != n:
                raise SystemExit("%d POSTs received, want %d" % (len(hook), n))
            lat = [(t - feed_t) * 1000 for t in hook]
            span = max(hook) - min(hook)
            rate = (n - 1) / span if span > 0 else float("inf")
            with open(log + ".body", "rb") as f:
                body = f.read()  # one of the daemon's own POST bodies
            ct = run_curl(tmp, port, n, a.curl_parallel, body)
            orate = outbox_rate(tmp, port, n, group, log)
            crate = n / ct
            print("run %d, group = %s: %d alerts: latency feed->POST p50 %.1f ms, p99 %.1f ms, min %.1f ms, max %.1f ms; "
                  "throughput %.0f alerts/s; curl --parallel-max %d: %.0f req/s; ratio %.2fx; "
                  "--once wall %.2f s" % (run + 1, group, n, pct(lat, 50), pct(lat, 99), min(lat), max(lat), rate,
                                           a.curl_parallel, crate, rate / crate, wall), flush=True)
            print("    from the outbox (the %d alerts queued, then delivered by --once): %.0f alerts/s; "
                  "ratio to curl %.2fx" % (n, orate, orate / crate), flush=True)
            print("    CPU over the --once run: wirewatchd %.0f ms (%.0f us/alert), redis-server %.0f ms "
                  "(%.0f us/alert); redis busiest: %s"
                  % (dcpu * 1000, dcpu * 1e6 / n, rcpu * 1000, rcpu * 1e6 / n,
                     ", ".join("%s %d calls %.0f us/call" % (c, k, u / k if k else 0)
                               for c, k, u in top)), flush=True)
        finally:
            cleanup(redis, rpid, tmp)


if __name__ == "__main__":
    main()
