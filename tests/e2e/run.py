#!/usr/bin/env python3
"""wirewatch end-to-end tests: real redis-server, local HTTP feed server and
webhook receiver on 127.0.0.1, the real build/wirewatchd.

    python3 tests/e2e/run.py [-k PATTERN] [-v] [--keep] [--list]

-k PATTERN selects scenarios whose name or tags contain PATTERN; "not PATTERN"
deselects; several -k are ANDed.  Tags: core (issue 2), issue3 (fetcher
hardening: conditional GET, redirects, limits), config, redis, webhook, signal.
Prints "PASS name" / "FAIL name: reason" and finally "N passed, M failed".
"""
import argparse
import glob
import importlib
import os
import shutil
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


def selected(name, tags, patterns):
    for p in patterns:
        neg = p.startswith("not ")
        p = p[4:].strip() if neg else p
        hit = p in name or any(p == t or p in t for t in tags)
        if hit == neg:
            return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep temp dirs of failed scenarios")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()

    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        importlib.import_module(os.path.basename(path)[:-3])

    tests = [t for t in harness.TESTS if selected(t[0], t[1], a.k)]
    if a.list:
        for name, tags, _ in tests:
            print(name, " ".join(tags))
        return 0
    if not os.access(harness.DAEMON, os.X_OK):
        print("note: %s is missing; run `make all` first" % harness.DAEMON, flush=True)

    passed = failed = skipped = 0
    for name, tags, fn in tests:
        ctx = harness.Context(a.verbose)
        t0 = time.monotonic()
        ok = False
        try:
            fn(ctx)
            ok = True
        except harness.Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e), flush=True)
            shutil.rmtree(ctx.tmp, ignore_errors=True)
            continue
        except harness.TestFailure as e:
            reason = str(e)
        except Exception as e:  # a harness bug or an unexpected daemon behaviour
            reason = "%s: %s" % (type(e).__name__, e)
            if a.verbose:
                traceback.print_exc()
        dt = time.monotonic() - t0
        if ok:
            passed += 1
            print("PASS %s (%.1fs)" % (name, dt), flush=True)
        else:
            failed += 1
            print("FAIL %s: %s" % (name, reason), flush=True)
            if ctx.runs:
                r = ctx.runs[-1]
                print("    last daemon run: %s -> rc=%s%s, %.1fs" % (
                    " ".join(os.path.basename(x) if i == 0 else x for i, x in enumerate(r.args)),
                    r.rc, " (killed on timeout)" if r.timed_out else "", r.elapsed))
                for line in r.tail(20).splitlines():
                    print("    | " + line)
            if a.keep:
                print("    temp dir kept: " + ctx.tmp)
        if ok or not a.keep:
            shutil.rmtree(ctx.tmp, ignore_errors=True)

    print("%d passed, %d failed%s" % (passed, failed,
                                      ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
