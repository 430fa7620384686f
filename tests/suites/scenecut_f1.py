"""Scores `tav scenes --json` against a TAV data set's ground-truth cuts.

    /usr/bin/python3 tests/suites/scenecut_f1.py DATA_DIR [--tav ./tav] [--min-hard-f1 0.95]
        [--json-out FILE] [-- extra tav scenes flags]

Runs the detector on every clip's MP4 (manifest field "mp4"), matches detections to
ground truth one-to-one, and prints precision / recall / F1 for hard cuts, dissolves and all
cuts. Matching (named tolerances):
  - a hard cut at frame b matches a detection within HARD_TOL frames of b;
  - a dissolve blending frames [s, e) matches a detection in [s - DISSOLVE_TOL, e + DISSOLVE_TOL]
    (the detector reports a dissolve at its estimated middle, or at its first cut-sized step).
Unmatched detections are false positives; they count against hard-cut precision (a spurious
cut is a hard-cut claim) and overall precision.
Prints "PASS scenecut_hard_f1" if hard-cut F1 >= --min-hard-f1, else "FAIL ...". Exit 0 either
way unless the data or the detector could not be run (exit 1 with FAIL).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HARD_TOL = 1      # frames: decoding may blur the cut frame by one
DISSOLVE_TOL = 1  # frames beyond the blended span


def match(truth, detected):
    """truth: [(lo, hi, kind)], detected: [frame]. Greedy: each detection takes the first
    unused truth window containing it, nearest centre first. Returns (tp_by_kind, fn_by_kind, fp)."""
    used = [False] * len(truth)
    tp = {"cut": 0, "dissolve": 0}
    fp = 0
    for d in detected:
        best, best_dist = -1, None
        for g, (lo, hi, _) in enumerate(truth):
            if not used[g] and lo <= d <= hi:
                dist = abs(d - (lo + hi) / 2)
                if best_dist is None or dist < best_dist:
                    best, best_dist = g, dist
        if best >= 0:
            used[best] = True
            tp[truth[best][2]] += 1
        else:
            fp += 1
    fn = {"cut": 0, "dissolve": 0}
    for g, (_, _, kind) in enumerate(truth):
        if not used[g]:
            fn[kind] += 1
    return tp, fn, fp


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--tav", default="./tav")
    ap.add_argument("--min-hard-f1", type=float, default=0.95)
    ap.add_argument("--json-out")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("extra", nargs="*", help="extra flags for tav scenes (after --)")
    a = ap.parse_args()

    with open(os.path.join(a.data, "manifest.jsonl")) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    tp = {"cut": 0, "dissolve": 0}
    fn = {"cut": 0, "dissolve": 0}
    fp = 0
    n_frames = 0
    t0 = time.time()
    for rec in recs:
        if not rec.get("mp4"):
            print(f"FAIL scenecut_hard_f1: {rec['id']} has no MP4 (make the set with --mp4)")
            return 1
        path = os.path.join(a.data, rec["mp4"])
        try:
            run = subprocess.run([a.tav, "-q", "scenes", path, "--json"] + a.extra,
                                 capture_output=True, text=True)
        except OSError as e:
            print(f"FAIL scenecut_hard_f1: cannot run {a.tav}: {e}")
            return 1
        if run.returncode != 0:
            print(f"FAIL scenecut_hard_f1: tav scenes {path}: exit {run.returncode}: "
                  f"{run.stderr.strip()}")
            return 1
        out = json.loads(run.stdout)
        if out["frames"] != rec["frames"]:
            print(f"FAIL scenecut_hard_f1: {path}: decoded {out['frames']} frames, "
                  f"manifest says {rec['frames']}")
            return 1
        n_frames += out["frames"]
        truth = []
        for tr in rec["transitions"]:
            if tr["type"] == "dissolve":
                s, e = tr["span"]
                truth.append((s - DISSOLVE_TOL, e + DISSOLVE_TOL, "dissolve"))
            else:
                truth.append((tr["frame"] - HARD_TOL, tr["frame"] + HARD_TOL, "cut"))
        det = out["cut_frames"]
        t, n, f = match(truth, det)
        if a.verbose and (f or n["cut"] or n["dissolve"]):
            kinds = [f"{tr['frame']}{'d' if tr['type'] == 'dissolve' else ''}"
                     for tr in rec["transitions"]]
            print(f"  {rec['id']}: truth {' '.join(kinds)} | detected {det}")
        for k in tp:
            tp[k] += t[k]
            fn[k] += n[k]
        fp += f
    secs = time.time() - t0

    ph, rh, fh = prf(tp["cut"], fp, fn["cut"])
    pd, rd, fd = prf(tp["dissolve"], 0, fn["dissolve"])
    pa, ra, fa = prf(tp["cut"] + tp["dissolve"], fp, fn["cut"] + fn["dissolve"])
    print(f"{len(recs)} clips, {n_frames} frames, {secs:.1f} s "
          f"({n_frames / max(secs, 1e-9):.0f} frames/s incl. process start)")
    print(f"hard cuts: precision {ph:.3f} recall {rh:.3f} F1 {fh:.3f} "
          f"(tp {tp['cut']} fn {fn['cut']} fp {fp})")
    print(f"dissolves: recall {rd:.3f} (tp {tp['dissolve']} fn {fn['dissolve']})")
    print(f"all cuts:  precision {pa:.3f} recall {ra:.3f} F1 {fa:.3f}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"clips": len(recs), "frames": n_frames, "hard": [ph, rh, fh],
                       "dissolve_recall": rd, "all": [pa, ra, fa], "tp": tp, "fn": fn, "fp": fp},
                      f)
    ok = fh >= a.min_hard_f1 and tp["cut"] > 0
    print(f"{'PASS' if ok else 'FAIL'} scenecut_hard_f1: F1 {fh:.3f} "
          f"(needs >= {a.min_hard_f1:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
