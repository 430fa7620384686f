"""Evaluate one model file (or the renderer itself) on a prompt set through the C engine.

    python3 -m train.eval.run --model M.tavm --prompts tests/data/eval_prompts.jsonl \
        [--limit K] [--counts 1 2 3 4 5 6] --out DIR [--tav ./tav] [--threads 1] [--steps S]
        [--label NAME] [--resume]
    python3 -m train.eval.run --model rendered --prompts P --out DIR [--size 64 --frames-per-scene 12]

For every prompt (the first K of each requested count with --limit):
  1. `tav generate -m M -p <scene 1> ... -p <scene n> --seed <prompt seed> --threads T
     -o DIR/videos/<id>.mp4 --frames <tmp>` (the frames are read back from the PNG dump: the
     MP4 is lossy, the dump is the engine's exact output). `--model rendered` instead renders the
     prompt's ground-truth clip (train/data/render.render_clip, hard cuts) and writes its MP4
     with ffmpeg: the calibration row (what a perfect generator scores on this judge).
  2. `tav scenes DIR/videos/<id>.mp4 --json`: generated scenes = detected cuts + 1.
  3. Adherence: the video is split at the REQUESTED boundaries (scene k = frames
     [k T/n, (k+1) T/n), the lengths the engine gives each scene) and the attribute classifier
     (train/eval/classifier.py) judges each part against scene k's attributes. Requested, not
     detected, boundaries: with detected cuts a video with a missing or extra cut has no
     scene-to-caption mapping, so adherence would only be defined on the videos that already
     got the count right and would mix the two failures. At requested boundaries every
     scene is judged, and a missing cut shows up as wrong attributes in the scene that did not
     appear. (The same adherence restricted to exact-count videos is reported too.) Each scene
     also records how its caption names each attribute (prompts.attribute_naming: a trained
     synonym or only a held-out-only one); "seen-word" adherence counts only the former, as
     all scenes and for N = 1 and N >= 2 (adherence_split).
  4. Quality: classifier features of every generated scene and of the same scene of the
     rendered ground-truth clip of the same prompt (same size, same scene lengths) -> Frechet
     distance; the Laplacian-variance sharpness of generated and rendered frames. The ground
     truth is rendered at the generated frames' size (64 or 128 ...); the judge resizes every
     clip to 64x64 (classifier.SIZE), so Frechet and adherence compare models of any size, while
     sharpness is only comparable between models of the same size.
  5. Time: the wall-clock seconds `tav generate` reports (model open included).

Writes DIR/per_prompt.jsonl (one record per prompt, appended as it goes; --resume skips the
prompts already there), DIR/features.npz, DIR/results.json and DIR/results.md.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from train.data.render import render_clip
from train.eval import classifier as J
from train.eval import metrics as Mt
from train.eval import prompts as P

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADHERENCE_ATTRS = ("station", "piece", "colour", "action")   # the four; framing extra


def log(s):
    print(f"eval: {s}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- engine calls

def stable_tav(path: str, tmp: str) -> str:
    """A private copy of the tav binary (others relink ./tav while we run); the copy must run
    `tav version` (a copy taken mid-link is retried)."""
    if not os.path.exists(path):
        raise SystemExit(f"eval: no tav binary at {path}; build it with `make`")
    dst = os.path.join(tmp, "tav")
    for _ in range(30):
        try:
            shutil.copyfile(path, dst)
            os.chmod(dst, 0o755)
            if subprocess.run([dst, "version"], capture_output=True).returncode == 0:
                return dst
        except OSError:
            pass
        time.sleep(2)
    raise SystemExit(f"eval: cannot get a working copy of {path}")


def generate(tav, model, rec, mp4, frames_dir, threads, steps):
    """Runs tav generate; returns (frames uint8 [T,H,W,3], seconds reported by tav)."""
    cmd = [tav, "-q", "generate", "-m", model, "-o", mp4, "--frames", frames_dir,
           "--seed", str(rec["seed"]), "--threads", str(threads)]
    if steps:
        cmd += ["--steps", str(steps)]
    for s in rec["scenes"]:
        cmd += ["-p", s["caption"]]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if out.returncode != 0:
        raise RuntimeError(f"tav generate failed on {rec['id']}: {out.stderr.strip()}")
    m = re.search(r"([0-9.]+) s\s*$", out.stdout.strip().splitlines()[0]) if out.stdout.strip() else None
    secs = float(m.group(1)) if m else wall
    files = sorted(glob.glob(os.path.join(frames_dir, "frame_*.png")))
    if not files:
        raise RuntimeError(f"tav generate wrote no frames for {rec['id']}")
    frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    for f in files:
        os.remove(f)
    return frames, secs


def write_mp4(frames, path, fps=8, crf=10, pix_fmt="yuv420p"):
    """uint8 [T,H,W,3] frames as H.264 through the ffmpeg CLI (the ground-truth clips here, as
    train/data/make_dataset --mp4 does; train/evaluate.py's samples with its own settings)."""
    T, H, W, _ = frames.shape
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{W}x{H}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-crf", str(crf),
           "-pix_fmt", pix_fmt, path]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)


def detect(tav, mp4):
    """Cut frames found by `tav scenes --json`."""
    out = subprocess.run([tav, "-q", "scenes", mp4, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"tav scenes failed on {mp4}: {out.stderr.strip()}")
    return [int(c) for c in json.loads(out.stdout)["cut_frames"]]


def reference(rec, size, per_scene):
    """The prompt's rendered ground-truth clip at the generated size and scene lengths."""
    specs = [P.scene_spec(s) for s in rec["scenes"]]
    frames, _ = render_clip(specs, frames_per_scene=per_scene, size=size, seed=rec["seed"])
    return frames


def boundaries(n_frames, n_scenes):
    """Requested scene ranges: scene k = [k T / n, (k+1) T / n) (integer division)."""
    return [(k * n_frames // n_scenes, (k + 1) * n_frames // n_scenes) for k in range(n_scenes)]


# ---------------------------------------------------------------- one prompt

def evaluate_prompt(rec, a, tav, judge, tmp):
    n = rec["n_scenes"]
    mp4 = os.path.join(a.out, "videos", f"{rec['id']}.mp4")
    t0 = time.time()
    if a.model == "rendered":
        frames = reference(rec, a.size, a.frames_per_scene)
        write_mp4(frames, mp4)
        secs = time.time() - t0
    else:
        fdir = os.path.join(tmp, "frames")
        os.makedirs(fdir, exist_ok=True)
        frames, secs = generate(tav, a.model, rec, mp4, fdir, a.threads, a.steps)
    T, H = frames.shape[0], frames.shape[1]
    cuts = detect(tav, mp4)
    spans = boundaries(T, n)
    lengths = [e - s for s, e in spans]
    ref = reference(rec, H, lengths)
    x_gen = np.stack([J.scene_input(frames, s, e) for s, e in spans])
    x_ref = np.stack([J.scene_input(ref, s, e) for s, e in spans])
    f_gen, pred, _ = J.judge(judge, x_gen)
    f_ref, pred_ref, _ = J.judge(judge, x_ref)
    scenes = []
    for k, s in enumerate(rec["scenes"]):
        truth = s["attributes"]
        scenes.append({"truth": truth, "pred": {at: pred[at][k] for at in J.ATTRS},
                       "pred_ref": {at: pred_ref[at][k] for at in J.ATTRS},
                       "unseen_words": bool(s.get("unseen_words")), "caption": s["caption"],
                       "naming": P.attribute_naming(s["caption"], truth)})
    r = {"id": rec["id"], "n_requested": n, "n_generated": len(cuts) + 1, "cuts": cuts,
         "frames": T, "size": H, "seconds": round(secs, 3), "scenes": scenes,
         "sharpness_gen": Mt.sharpness(frames), "sharpness_ref": Mt.sharpness(ref)}
    return r, f_gen, f_ref


# ---------------------------------------------------------------- aggregation

def _ci(t):
    return {"value": t[0], "lo": t[1], "hi": t[2]}


def _rate(k, n):
    return dict(_ci(Mt.wilson(k, n)), k=k, n=n)


def adherence(records):
    """Per-attribute accuracy over every judged scene (Wilson 95 % intervals; scenes of one
    video are treated as independent, which makes the intervals somewhat too narrow)."""
    sc = [s for r in records for s in r["scenes"]]
    out = {at: _rate(sum(s["pred"][at] == s["truth"][at] for s in sc), len(sc)) for at in J.ATTRS}
    allk = sum(all(s["pred"][at] == s["truth"][at] for at in ADHERENCE_ATTRS) for s in sc)
    out["all_four"] = _rate(allk, len(sc))
    accs = [out[at]["value"] for at in ADHERENCE_ATTRS]
    out["mean_four"] = float(np.mean(accs)) if sc else float("nan")
    return out


def _restrict(records, keep):
    """records with only the scenes keep(scene) accepts."""
    return [dict(r, scenes=[s for s in r["scenes"] if keep(s)]) for r in records]


def seen_word_adherence(records):
    """Per-attribute accuracy over only the scenes whose caption names that attribute's value
    with a word the model trained on (scene["naming"][attr] == "trained", prompts.attribute_naming):
    a text encoder trained from scratch cannot know a word it never saw, so on held-out-only
    synonyms ("sprocket", "violet") the judge's accuracy is capped near chance whatever the
    images are. Each attribute has its own scenes (n); mean_four is the mean of the four
    accuracies (None if one is undefined)."""
    out = {}
    for at in ADHERENCE_ATTRS:
        sc = [s for r in records for s in r["scenes"] if s["naming"][at] == P.TRAINED]
        out[at] = _rate(sum(s["pred"][at] == s["truth"][at] for s in sc), len(sc))
    accs = [out[at]["value"] for at in ADHERENCE_ATTRS]
    out["mean_four"] = float("nan") if any(v != v for v in accs) else float(np.mean(accs))
    return out


def naming_counts(records):
    """How the captions name each attribute: {attr: {"trained": k, "heldout_only": k, "absent": k}}."""
    sc = [s for r in records for s in r["scenes"]]
    return {at: {st: sum(s["naming"][at] == st for s in sc) for st in (P.TRAINED, P.HELDOUT_ONLY, P.ABSENT)}
            for at in ADHERENCE_ATTRS}


def adherence_split(records):
    """Adherence of all scenes and seen-word adherence, for all prompts, single-scene prompts
    (N = 1) and multi-scene prompts (N >= 2), plus the naming counts. Needs scene["naming"]
    (add_naming fills it in for per_prompt.jsonl files written before it existed)."""
    groups = {"all": records, "n1": [r for r in records if r["n_requested"] == 1],
              "n2plus": [r for r in records if r["n_requested"] >= 2]}
    out = {g: {"prompts": len(rs), "all_scenes": adherence(rs), "seen_words": seen_word_adherence(rs)}
           for g, rs in groups.items()}
    out["naming"] = naming_counts(records)
    out["all_four_named_by_trained_words"] = adherence(_restrict(
        records, lambda s: all(s["naming"][at] == P.TRAINED for at in ADHERENCE_ATTRS)))
    return out


def add_naming(records, prompt_recs):
    """Fills scene["naming"] (and "caption") of per_prompt records that lack them from the
    prompt set they were run on (matched by id; the attributes must agree)."""
    by_id = {r["id"]: r for r in prompt_recs}
    for r in records:
        pr = by_id.get(r["id"])
        if pr is None or len(pr["scenes"]) != len(r["scenes"]):
            raise ValueError(f"prompt {r['id']} is not in the prompt set (or has another scene count)")
        for s, ps in zip(r["scenes"], pr["scenes"]):
            if any(s["truth"][at] != ps["attributes"][at] for at in ADHERENCE_ATTRS):
                raise ValueError(f"prompt {r['id']}: the prompt set's attributes differ from the run's")
            s.setdefault("caption", ps["caption"])
            s.setdefault("naming", P.attribute_naming(s["caption"], s["truth"]))
    return records


def aggregate(records, feats_gen, feats_ref, label, model, judge_info):
    by_n = {}
    for n in sorted({r["n_requested"] for r in records}):
        rs = [r for r in records if r["n_requested"] == n]
        gen = [r["n_generated"] for r in rs]
        by_n[str(n)] = {
            "prompts": len(rs),
            "mean_generated": _ci(Mt.bootstrap_mean(gen, seed=n)),
            "exact_match": _rate(sum(g == n for g in gen), len(rs)),
            "mean_abs_error": _ci(Mt.bootstrap_mean([abs(g - n) for g in gen], seed=100 + n)),
            "seconds": _ci(Mt.bootstrap_mean([r["seconds"] for r in rs], seed=200 + n)),
            "adherence": adherence(rs),
        }
    exact = [r for r in records if r["n_generated"] == r["n_requested"]]
    seen = _restrict(records, lambda s: not s["unseen_words"])
    unseen = _restrict(records, lambda s: s["unseen_words"])
    # the judge on the rendered clips of the same scenes: its ceiling on this prompt set
    ceil_sc = [s for r in records for s in r["scenes"]]
    ceiling = {at: _rate(sum(s["pred_ref"][at] == s["truth"][at] for s in ceil_sc), len(ceil_sc))
               for at in J.ATTRS}
    rng = np.random.default_rng(0)
    fd = Mt.frechet(feats_gen, feats_ref)
    boots = []
    if len(feats_gen) >= 4:
        for _ in range(200):
            i = rng.integers(0, len(feats_gen), len(feats_gen))
            boots.append(Mt.frechet(feats_gen[i], feats_ref[i]))
    fd_ci = (fd, *(np.quantile(boots, [0.025, 0.975]).tolist() if boots else [np.nan, np.nan]))
    return {
        "label": label, "model": model, "prompts": len(records),
        "scenes": int(sum(r["n_requested"] for r in records)),
        "by_count": by_n,
        "adherence": adherence(records),
        "adherence_exact_count_only": adherence(exact),
        "adherence_captions_without_unseen_words": adherence(seen),
        "adherence_captions_with_unseen_words": adherence(unseen),
        "adherence_split": adherence_split(records),
        "judge_on_rendered_same_scenes": ceiling,
        "frechet": _ci(fd_ci),
        "frechet_note": "classifier features (64-d) of every generated scene vs the rendered "
                        "ground-truth scene of the same prompt; 95 % interval from 200 bootstrap "
                        "resamples of scene pairs; biased upwards at small N, so compare rows "
                        "only on the same prompt set",
        "frame_sizes": sorted({r["size"] for r in records}),
        "sharpness_note": "Laplacian variance of generated and rendered frames, both at the "
                          "generated size (the ground truth is rendered at the model's size); "
                          "it falls as the size grows (an edge spreads over more pixels), so "
                          "compare it only between rows of the same frame size. The judge and "
                          "the Frechet features see every clip resized to 64x64.",
        "sharpness_generated": _ci(Mt.bootstrap_mean([r["sharpness_gen"] for r in records], seed=7)),
        "sharpness_rendered": _ci(Mt.bootstrap_mean([r["sharpness_ref"] for r in records], seed=8)),
        "seconds": _ci(Mt.bootstrap_mean([r["seconds"] for r in records], seed=9)),
        "judge": judge_info,
    }


def _clean(o):
    """NaN (an undefined statistic, e.g. a rate over no scenes) -> None, so the JSON is strict."""
    if isinstance(o, float) and o != o:
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def _bad(v):
    return v is None or v != v


def fmt_ci(c, pct=False, nd=2):
    if _bad(c["value"]):
        return "—"
    if _bad(c["lo"]) or _bad(c["hi"]):
        return f"{100 * c['value']:.0f} %" if pct else f"{c['value']:.{nd}f}"
    if pct:
        return f"{100 * c['value']:.0f} % [{100 * c['lo']:.0f}, {100 * c['hi']:.0f}]"
    return f"{c['value']:.{nd}f} [{c['lo']:.{nd}f}, {c['hi']:.{nd}f}]"


def _sizes(res):
    return ", ".join(f"{s}x{s}" for s in res.get("frame_sizes", [])) or "the generated size"


def markdown(res):
    L = [f"# Evaluation: {res['label']}", "", f"model `{res['model']}`, {res['prompts']} prompts, "
         f"{res['scenes']} requested scenes; 95 % intervals in brackets.", "",
         "| requested | prompts | mean generated | exact match | mean abs error | adherence (4 attr) | s / video |",
         "|---|---|---|---|---|---|---|"]
    for n, b in res["by_count"].items():
        L.append(f"| {n} | {b['prompts']} | {fmt_ci(b['mean_generated'])} | "
                 f"{fmt_ci(b['exact_match'], True)} | {fmt_ci(b['mean_abs_error'])} | "
                 f"{100 * b['adherence']['mean_four']:.0f} % | {fmt_ci(b['seconds'])} |")
    ad, sw = res["adherence"], res["adherence_split"]["all"]["seen_words"]
    L += ["", "| attribute | accuracy | seen-word accuracy (scenes) | judge on rendered scenes |",
          "|---|---|---|---|"]
    for at in J.ATTRS:
        seen = f"{fmt_ci(sw[at], True)} ({sw[at]['n']})" if at in sw else ""
        L.append(f"| {at} | {fmt_ci(ad[at], True)} | {seen} | "
                 f"{fmt_ci(res['judge_on_rendered_same_scenes'][at], True)} |")
    L.append(f"| all four right | {fmt_ci(ad['all_four'], True)} | | |")
    L += ["", "Seen-word accuracy: only the scenes whose caption names that attribute's value with a "
          "word the model trained on (train.eval.prompts.attribute_naming)."]
    L += ["", f"Frechet distance (generated vs rendered, judge features): {fmt_ci(res['frechet'])}",
          f"Sharpness (Laplacian variance at {_sizes(res)}, ground truth rendered at the same size): "
          f"generated {fmt_ci(res['sharpness_generated'], nd=0)}, "
          f"rendered {fmt_ci(res['sharpness_rendered'], nd=0)}",
          f"Seconds per video: {fmt_ci(res['seconds'])}", ""]
    return "\n".join(L)


# ---------------------------------------------------------------- main

def select(recs, counts, limit):
    out = []
    for n in counts:
        rs = [r for r in recs if r["n_scenes"] == n]
        out += rs[:limit] if limit else rs
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog=os.environ.get("TAV_EVAL_PROG", "python3 -m train.eval.run"),
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a .tavm file, or 'rendered' (ground truth)")
    ap.add_argument("--prompts", default=os.path.join(ROOT, "tests", "data", "eval_prompts.jsonl"))
    ap.add_argument("--limit", type=int, default=0, help="first K prompts of each count (0: all)")
    ap.add_argument("--counts", type=int, nargs="+", default=list(P.COUNTS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--tav", default=os.path.join(ROOT, "tav"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--judge", default=J.DEFAULT_WEIGHTS)
    ap.add_argument("--size", type=int, default=64, help="rendered mode: frame size")
    ap.add_argument("--frames-per-scene", type=int, default=12, help="rendered mode")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress lines, no table on stdout")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.model != "rendered" and not os.path.exists(a.model):
        raise SystemExit(f"eval: model file {a.model} does not exist")
    recs = select(P.load(a.prompts), a.counts, a.limit)
    if not recs:
        raise SystemExit("eval: no prompts selected")
    os.makedirs(os.path.join(a.out, "videos"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "feat"), exist_ok=True)
    pp = os.path.join(a.out, "per_prompt.jsonl")
    done = {}
    if a.resume and os.path.exists(pp):
        for line in open(pp):
            r = json.loads(line)
            if os.path.exists(os.path.join(a.out, "feat", r["id"] + ".npz")):
                done[r["id"]] = r
    judge = J.load(a.judge)
    judge_info = torch.load(a.judge, map_location="cpu").get("info", {})
    tmp = tempfile.mkdtemp(prefix="tav_eval_")
    try:
        tav = stable_tav(a.tav, tmp)
        with open(pp, "w") as f:
            for r in done.values():
                f.write(json.dumps(r) + "\n")
            for i, rec in enumerate(recs):
                if rec["id"] in done:
                    continue
                r, fg, fr = evaluate_prompt(rec, a, tav, judge, tmp)
                np.savez(os.path.join(a.out, "feat", rec["id"] + ".npz"), gen=fg, ref=fr)
                f.write(json.dumps(r) + "\n")
                f.flush()
                done[rec["id"]] = r
                if not a.quiet:
                    log(f"{i + 1}/{len(recs)} {rec['id']}: requested {r['n_requested']}, "
                        f"detected {r['n_generated']}, {r['seconds']:.2f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    records = add_naming([done[r["id"]] for r in recs], recs)   # resumed old records lack it
    fz = [np.load(os.path.join(a.out, "feat", r["id"] + ".npz")) for r in recs]
    fg = np.concatenate([z["gen"] for z in fz])
    fr = np.concatenate([z["ref"] for z in fz])
    np.savez(os.path.join(a.out, "features.npz"), gen=fg, ref=fr)
    label = a.label or (a.model if a.model == "rendered" else os.path.basename(a.model))
    res = _clean(aggregate(records, fg, fr, label, a.model, judge_info))
    res["command"] = " ".join(["python3 -m train.eval.run"] + (argv if argv is not None else sys.argv[1:]))
    res["prompts_file"] = os.path.relpath(a.prompts, ROOT) if a.prompts.startswith(ROOT) else a.prompts
    res["limit_per_count"] = a.limit
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(_clean(res), f, indent=1)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(markdown(res))
    if not a.quiet:
        print(markdown(res))
    return res


if __name__ == "__main__":
    main()
