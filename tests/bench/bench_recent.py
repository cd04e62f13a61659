#!/usr/bin/env python3
"""bench_recent - Redis memory per kept item ([daemon] keep-items).

    python3 tests/bench/bench_recent.py [--items 10000]

For two corpora of --items items each -- "wire" (tests/bench/gen_feeds.py:
news-like items, a title, a summary paragraph, a three-paragraph content,
author, two categories; ~1 KB of text) and "long" (a title and an 8 KB
article: the kept text hits the 4 KB cap) -- runs `wirewatchd --once` into
an empty private redis-server twice, at the default keep-items (2d) and
with keep-items = 0 (the baseline: seen marks only), and prints

  - used_memory growth (INFO memory) of each run, the difference per item,
  - MEMORY USAGE of the <prefix>recent stream (SAMPLES 0) per entry,
  - the bytes of an entry's values (the kept text, key, link, guid, ...),
  - the --once wall time of both runs (the cost of writing the entries),
  - then, with the wire corpus kept, `wirewatchctl watchlist test QUERY`
    through a running daemon (the walk: Redis XRANGE pages, the matcher,
    the reply), against `wirewatchctl match -q QUERY` over the same feed
    files offline (parse + the same matcher) as the baseline, best of 3.

Set WIREWATCHD=path to measure another build.  Python standard library only.
"""
import argparse
import os
import shutil
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
QUERY = '"ceasefire talks" NEAR/5 sanctions'


def long_feeds(outdir, n, per_file=500):
    """n items of ~8 KB in files of per_file items (under max-body)."""
    words = ("summit treaty minister ceasefire parliament sanctions talks border "
             "trade embassy court ruling budget pipeline satellite coalition").split()
    os.makedirs(outdir)
    paths = []
    for start in range(0, n, per_file):
        out = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
               '<title>long</title>']
        for i in range(start, min(n, start + per_file)):
            para = " ".join(words[(i * 7 + k) % len(words)] for k in range(60))
            body = "".join("<p>%s %d.</p>" % (para, k) for k in range(20))  # ~8 KB
            out.append("<item><guid>urn:long:%d</guid><title>Long story %d about %s</title>"
                       "<link>https://long.example/%d</link><description><![CDATA[%s]]>"
                       "</description></item>" % (i, i, words[i % len(words)], i, body))
        out.append("</channel></rss>")
        paths.append(os.path.join(outdir, "long%03d.xml" % (start // per_file)))
        with open(paths[-1], "w") as f:
            f.write("".join(out))
    return paths


def used_memory(r):
    info = r.cmd("INFO", "memory")
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory in INFO")


def run(tmp, r, feeds, keep):
    r.cmd("FLUSHALL")
    time.sleep(0.2)
    before = used_memory(r)
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w") as f:
        f.write(harness.config(
            redis=r.url,
            daemon={"keep-items": keep, "max-items": "100000", "startup-spread": "0"},
            feeds=[("f%d" % i, "file://" + p, {"interval": "1h"}) for i, p in enumerate(feeds)],
            watchlists=[("w", "nothingmatcheszzz", ["out"])],
            sinks=[("out", {"type": "console"})]))
    t0 = time.monotonic()
    p = subprocess.run([DAEMON, "-c", conf, "--once"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=600)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("wirewatchd failed (%s): %s" % (p.returncode, p.stderr.decode()[-2000:]))
    seen = len(r.cmd("KEYS", "ww:seen:*"))
    kept = r.cmd("XLEN", "ww:recent")
    stream = r.cmd("MEMORY", "USAGE", "ww:recent", "SAMPLES", "0") if kept else 0
    text = 0
    if kept:
        for _, flat in r.cmd("XRANGE", "ww:recent", "-", "+", "COUNT", "1000"):
            text += sum(len(v.encode()) for v in flat[1::2])
        text /= min(kept, 1000)
    return {"growth": used_memory(r) - before, "seen": seen, "kept": kept,
            "stream": stream, "text": text, "wall": wall}


def best(cmd, n=3):
    times, out = [], None
    for _ in range(n):
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        times.append(time.monotonic() - t0)
        if p.returncode not in (0, 1):
            sys.exit("%s failed (%s): %s" % (cmd[1:3], p.returncode, p.stderr.decode()[-500:]))
        out = p.stdout.decode()
    return min(times), out


def test_speed(tmp, r, feeds):
    """watchlist test over the kept wire items vs match -q over the files."""
    sock = os.path.join(tmp, "ctl.sock")
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w") as f:
        f.write(harness.config(
            redis=r.url,
            daemon={"max-items": "100000", "control": sock, "startup-spread": "3600"},
            feeds=[("f%d" % i, "file://" + p, {"interval": "1h"}) for i, p in enumerate(feeds)],
            watchlists=[("w", "nothingmatcheszzz", ["out"])],
            sinks=[("out", {"type": "console"})]))
    d = subprocess.Popen([DAEMON, "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        t_test, out = best([CTL, "-s", sock, "--json", "watchlist", "test", QUERY])
        reply = __import__("json").loads(out)
        t_match, out2 = best([CTL, "match", "-q", QUERY, "-e", harness.ENTITIES, "--json"]
                             + feeds)
    finally:
        d.terminate()
        d.wait(10)
    hits = len(reply["hits"])
    print("watchlist test '%s' over %d kept items: %d hits%s in %.3f s (%.1f us/item); "
          "match -q over the same %d feed files: %d hits in %.3f s; ratio %.2fx" % (
              QUERY, reply["items"], hits, " (capped)" if reply["truncated"] else "",
              t_test, t_test / max(1, reply["items"]) * 1e6, len(feeds),
              len(out2.splitlines()), t_match, t_test / max(1e-9, t_match)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ww-bench-recent-")
    r = harness.Redis(os.path.join(tmp, "redis.sock"))
    try:
        r.start()
        wire_dir = os.path.join(tmp, "wire")
        nfeeds = max(1, a.items // 1000)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_feeds.py"), wire_dir,
                        str(nfeeds), str(a.items // nfeeds)], check=True)
        corpora = [("wire", sorted(os.path.join(wire_dir, x) for x in os.listdir(wire_dir))),
                   ("long", long_feeds(os.path.join(tmp, "long"), a.items))]
        print("bench-recent: %d items per corpus, redis %s" % (
            a.items, r.cmd("INFO", "server").split("redis_version:")[1].split()[0]))
        print("%-6s %-10s %8s %8s %12s %10s %10s %10s %8s" % (
            "corpus", "keep-items", "seen", "kept", "used_memory+", "per item", "stream/it",
            "values/item", "wall s"))
        for name, feeds in corpora:
            base = run(tmp, r, feeds, "0")
            kept = run(tmp, r, feeds, "2d")
            for label, x in (("0 (base)", base), ("2d", kept)):
                print("%-6s %-10s %8d %8d %12d %10s %10s %10s %8.2f" % (
                    name, label, x["seen"], x["kept"], x["growth"],
                    "%.0f B" % (x["growth"] / max(1, x["seen"])),
                    "%.0f B" % (x["stream"] / x["kept"]) if x["kept"] else "-",
                    "%.0f B" % x["text"] if x["kept"] else "-", x["wall"]))
            extra = (kept["growth"] - base["growth"]) / max(1, kept["kept"])
            print("%-6s keeping costs %.0f bytes of Redis memory per item (%.2fx the "
                  "seen marks alone); --once took %.2fx as long" % (
                      name, extra, kept["growth"] / max(1, base["growth"]),
                      kept["wall"] / max(1e-9, base["wall"])))
        run(tmp, r, corpora[0][1], "2d")
        test_speed(tmp, r, corpora[0][1])
    finally:
        r.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
