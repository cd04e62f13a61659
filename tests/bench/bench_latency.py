#!/usr/bin/env python3
"""bench_latency - alert latency when matching items arrive as they do on a wire.

    python3 tests/bench/bench_latency.py [--feeds 1000] [--spread 10] [--runs 2]

bench_deliver measures a burst: 1,000 matching items in one response, where
the last alert waits behind the 999 before it.  This one measures the
latency of each alert in a steady flow: N feeds on one loopback host, each
with one matching item (each its own story), polled by
`wirewatchd` (stopped with SIGTERM once every alert arrived) at default
settings (per-host-connections 2, group = story) with their first polls
spread over --spread seconds (startup-spread), i.e. N/spread matching items a second.  For every alert: from "the feed
server finished writing that feed's response" to "the receiver got the
POST", p50 / p99 / max, for group = story (the default) and group = item.
Beside it, in the same run, the floor: a POST's round trip to the same
receiver from Python's http.client on a kept-alive connection.
Python standard library and redis-server.  WIREWATCHD=path measures
another build.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_deliver  # noqa: E402  (serve_http, fork_server, start_redis, pct)

ROOT = bench_deliver.ROOT
DAEMON = bench_deliver.DAEMON


def serve(port_file, log_file, feeds):
    """Child: serves /f/<i> and records response-complete and POST times."""
    log = open(log_file, "w")

    def respond(method, path, body):
        if method == b"GET":
            doc = feeds.get(path.decode(), b"")

            def fed():
                log.write("get %.6f %s\n" % (time.monotonic(), path.decode()))
                log.flush()
            return (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(doc) + doc, fed)
        t = time.monotonic()
        try:
            j = json.loads(body)
            alerts = (j["data"]["alerts"] if j.get("type") == "alert.digest"
                      else [j.get("data", {})])
            items = [a.get("item_id", "?") for a in alerts]
        except (ValueError, KeyError, AttributeError):
            items = ["?"]
        for item in items:
            log.write("post %.6f %s\n" % (t, item))
        log.flush()
        return bench_deliver.OK, None

    bench_deliver.serve_http(port_file, respond)


def floor_ms(port, n=200):
    """Median round trip of one small POST on a kept-alive connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"type": "alert", "data": {"item_id": "floor"}}).encode()
    rt = []
    for _ in range(n):
        t0 = time.monotonic()
        c.request("POST", "/floor", body, {"Content-Type": "application/json"})
        c.getresponse().read()
        rt.append((time.monotonic() - t0) * 1000)
    c.close()
    return bench_deliver.pct(rt, 50)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=10.0, help="seconds (startup-spread)")
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    words = bench_deliver.word_source(11)
    for run in range(a.runs):
        for group in ("story", "item"):
            tmp = tempfile.mkdtemp(prefix="ww-bench-latency-")
            now = time.time()
            feeds = {}
            for i in range(a.feeds):
                feeds["/f/%d" % i] = (
                    '<?xml version="1.0"?><rss version="2.0"><channel><title>f%d</title>'
                    "<item><guid>b%d</guid><title>sanctions %s</title><pubDate>%s</pubDate>"
                    "<description>%s sanctions %s.</description></item></channel></rss>"
                    % (i, i, words(6), formatdate(now - 60, usegmt=True), words(12),
                       words(12))).encode()
            rpid, port, log = bench_deliver.fork_server(tmp, serve, feeds)
            redis, sock = bench_deliver.start_redis(tmp)
            try:
                conf = os.path.join(tmp, "w.conf")
                with open(conf, "w") as f:
                    f.write("[daemon]\nredis = unix:%s\nentities = %s\nbackfill = all\n"
                            "startup-spread = %gs\n\n" % (sock, os.path.join(ROOT, "conf", "entities"),
                                                          a.spread))
                    for i in range(a.feeds):
                        f.write("[feed \"f%d\"]\nurl = http://127.0.0.1:%d/f/%d\ninterval = 1h\n\n"
                                % (i, port, i))
                    f.write("[watchlist \"w\"]\nquery = sanctions\nsinks = hook\n%s\n"
                            "[sink \"hook\"]\ntype = webhook\nurl = http://127.0.0.1:%d/hook\n"
                            % ("" if group == "story" else "group = item\n", port))
                errf = open(os.path.join(tmp, "stderr"), "w+b")
                d = subprocess.Popen([DAEMON, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=errf)
                deadline = time.monotonic() + a.spread + 60
                try:
                    while time.monotonic() < deadline and d.poll() is None:
                        with open(log) as f:
                            if sum(1 for line in f if line.startswith("post ")) >= a.feeds:
                                break
                        time.sleep(0.5)
                finally:
                    d.terminate()
                    d.wait(timeout=60)
                errf.seek(0)
                err = errf.read()
                errf.close()
                if d.returncode != 0:
                    sys.stderr.write(err.decode()[-2000:])
                    raise SystemExit("wirewatchd exited %d" % d.returncode)
                got, posted = {}, {}
                with open(log) as f:
                    for line in f:
                        w = line.split()
                        if w[0] == "get":
                            got.setdefault("b" + w[2].rsplit("/", 1)[1], float(w[1]))
                        elif w[0] == "post" and w[2] not in posted:
                            posted[w[2]] = float(w[1])
                missing = [k for k in got if k not in posted]
                if missing or len(got) != a.feeds:
                    raise SystemExit("%d feeds fetched, %d alerts received (want %d each)"
                                     % (len(got), len(posted), a.feeds))
                lat = [(posted[k] - got[k]) * 1000 for k in got]
                fl = floor_ms(port)
                print("run %d, group = %s: %d feeds over %gs (%.0f matching items/s): latency "
                      "feed response -> POST p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
                      "floor (one POST round trip) %.2f ms; p99/floor %.0fx"
                      % (run + 1, group, a.feeds, a.spread, a.feeds / a.spread,
                         bench_deliver.pct(lat, 50), bench_deliver.pct(lat, 99), max(lat),
                         fl, bench_deliver.pct(lat, 99) / fl), flush=True)
            finally:
                bench_deliver.cleanup(redis, rpid, tmp)


if __name__ == "__main__":
    main()
