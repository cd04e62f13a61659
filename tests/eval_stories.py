#!/usr/bin/env python3
"""make eval-stories: pairwise precision, recall and F1 of `wirewatchctl
stories` on the labelled set in tests/data/stories/, at the default
settings, then the tradeoff curve over the main threshold (the score two
items need at a time gap of zero), then the held-out set in
tests/data/stories/holdout/ at the default settings.

Pairwise: every pair of items is a positive when labels.tsv puts them in
one story; precision = pairs grouped that should be / pairs grouped,
recall = pairs grouped that should be / pairs that should be.

  python3 tests/eval_stories.py [--errors] [--window D] [CTL]"""
import itertools, json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "stories")


def feeds(d):
    out = sorted(os.path.join(d, f) for f in os.listdir(d)
                 if f.endswith((".rss", ".atom", ".json")) and not f.startswith("seed-"))
    return out + sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith("seed-"))


FEEDS = feeds(DATA)

def labels(d=DATA):
    out = {}
    for line in open(os.path.join(d, "labels.tsv"), encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        i, l = line.rstrip("\n").split("\t")
        out[i] = l
    return out

def run(ctl, extra, files=None):
    p = subprocess.run([ctl, "stories"] + extra + (files or FEEDS), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("wirewatchctl stories failed: " + p.stderr)
    return [json.loads(l) for l in p.stdout.splitlines()]

def score(rows, lab):
    missing = [r["id"] for r in rows if r["id"] not in lab]
    if missing or len(rows) != len(lab):
        sys.exit("labels and output disagree: %d rows, %d labels, unlabelled: %s" % (len(rows), len(lab), missing[:3]))
    tp = fp = fn = 0
    errs = []
    for a, b in itertools.combinations(rows, 2):
        same = lab[a["id"]] == lab[b["id"]]
        got = a["story"] == b["story"]
        if same and got: tp += 1
        elif got: fp += 1; errs.append(("merged", a, b))
        elif same: fn += 1; errs.append(("split", a, b))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, tp, fp, fn, errs

def main():
    args = sys.argv[1:]
    show = "--errors" in args
    args = [a for a in args if a != "--errors"]
    extra = []
    if "--" in args:
        i = args.index("--"); extra = args[i + 1:]; del args[i:]
    if "--window" in args:
        i = args.index("--window"); extra = ["--window", args[i + 1]]; del args[i:i + 2]
    ctl = args[0] if args else os.path.join(ROOT, "build", "wirewatchctl")
    lab = labels()
    nst = len(set(lab.values()))
    rows = run(ctl, extra)
    p, r, f, tp, fp, fn, errs = score(rows, lab)
    print("story grouping, %d items in %d labelled stories, %d feeds, settings: %s" % (
        len(rows), nst, len(FEEDS), " ".join(extra) if extra else "default (story-window 48h)"))
    print("default settings: precision %.3f  recall %.3f  F1 %.3f  (pairs: %d right, %d wrongly merged, %d wrongly split)" % (p, r, f, tp, fp, fn))
    print("goal: precision >= 0.95 and recall >= 0.90: %s" % ("met" if p >= 0.95 and r >= 0.90 else "NOT met"))
    if show:
        for kind, a, b in errs:
            print("  %s: [%s] %s | [%s] %s" % (kind, lab[a["id"]], a["title"], lab[b["id"]], b["title"]))
    print("\ntradeoff over the main threshold (score needed at a time gap of zero):")
    print("  threshold  precision  recall     F1")
    for t in [0.06, 0.08, 0.10, 0.12, 0.14, 0.15, 0.16, 0.18, 0.20, 0.25, 0.30, 0.40]:
        p, r, f, *_ = score(run(ctl, extra + ["--threshold", "%.2f" % t]), lab)
        print("  %9.2f  %9.3f  %6.3f  %6.3f" % (t, p, r, f))
    # The held-out set was written after the thresholds were chosen.
    hd = os.path.join(DATA, "holdout")
    hlab = labels(hd)
    p, r, f, tp, fp, fn, errs = score(run(ctl, extra, feeds(hd)), hlab)
    print("\nheld-out set (tests/data/stories/holdout, %d items in %d stories, never used for tuning):"
          % (len(hlab), len(set(hlab.values()))))
    print("  precision %.3f  recall %.3f  F1 %.3f  (pairs: %d right, %d wrongly merged, %d wrongly split)"
          % (p, r, f, tp, fp, fn))
    if show:
        for kind, a, b in errs:
            print("  %s: [%s] %s | [%s] %s" % (kind, hlab[a["id"]], a["title"], hlab[b["id"]], b["title"]))

main()
