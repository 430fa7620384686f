"""Generate a synthetic data set: single-scene clips (base training) or multi-scene TAV clips.

    /usr/bin/python3 -m train.data.make_dataset --kind single|tav --n N --size 64 --seed S --out DIR
        [--frames F] [--min-scenes 2] [--max-scenes 6] [--dissolve-prob 0.2] [--pack] [--mp4] [--overwrite]

Clip i is made from seed (S, i) alone, so any clip can be regenerated on its own and two runs
with the same arguments write the same bytes. Format: train/data/dataset.py and docs/data.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from typing import List, Tuple

import numpy as np

from . import captions as C
from . import dataset as D
from .render import FPS, render_clip, transition_spans
from .scenes import sample_scene, sample_scene_sequence

MIN_SCENE = 8        # frames: 1 s at 8 fps
MAX_SCENE = 24       # frames: 3 s
SCENE_STEP = 4       # scene lengths are multiples of 4 so cuts land on 4-frame latent boundaries
N_ALT_CAPTIONS = 5   # alternative train phrasings stored per scene


def scene_lengths(rng: np.random.Generator, n_scenes: int, total: int) -> List[int]:
    """n_scenes lengths, multiples of SCENE_STEP in [MIN_SCENE, MAX_SCENE], summing to total
    (total == 0: free lengths)."""
    lo, hi = MIN_SCENE // SCENE_STEP, MAX_SCENE // SCENE_STEP
    if total == 0:
        return [int(x) * SCENE_STEP for x in rng.integers(lo, hi + 1, n_scenes)]
    units = total // SCENE_STEP
    if total % SCENE_STEP or not (lo * n_scenes <= units <= hi * n_scenes):
        raise ValueError(f"{n_scenes} scenes of {MIN_SCENE}-{MAX_SCENE} frames cannot fill {total}")
    u = [lo] * n_scenes
    for _ in range(units - lo * n_scenes):        # hand out the rest one unit at a time
        open_ = [i for i in range(n_scenes) if u[i] < hi]
        u[open_[int(rng.integers(len(open_)))]] += 1
    return [x * SCENE_STEP for x in u]


def scene_count_range(total: int, lo: int, hi: int) -> Tuple[int, int]:
    if total == 0:
        return lo, hi
    a = max(lo, -(-total // MAX_SCENE))
    b = min(hi, total // MIN_SCENE)
    if a > b:
        raise ValueError(f"no scene count in [{lo}, {hi}] fits {total} frames "
                         f"({MIN_SCENE}-{MAX_SCENE} frames per scene)")
    return a, b


def scene_captions(spec, rng) -> dict:
    alts = C.all_captions(spec, "train")
    pick = rng.choice(len(alts), size=min(N_ALT_CAPTIONS, len(alts)), replace=False)
    chosen = [alts[int(i)] for i in pick]
    return {"caption": chosen[0], "captions": chosen,
            "caption_heldout": C.caption(spec, rng, "heldout")}


def make_clip(kind: str, seed: int, i: int, size: int, frames: int, min_scenes: int,
              max_scenes: int, dissolve_prob: float) -> Tuple[np.ndarray, dict]:
    """Clip i of a data set: (frames uint8 [T,H,W,3], manifest record without file fields)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
    if kind == "single":
        specs = [sample_scene(rng)]
        lengths = [frames if frames else int(rng.integers(MIN_SCENE // 4, MAX_SCENE // 4 + 1)) * 4]
        transitions: list = []
    else:
        a, b = scene_count_range(frames, min_scenes, max_scenes)
        n = int(rng.integers(a, b + 1))
        specs = sample_scene_sequence(rng, n)
        lengths = scene_lengths(rng, n, frames)
        transitions = [("dissolve", int(rng.choice([2, 4]))) if rng.random() < dissolve_prob
                       else "cut" for _ in range(n - 1)]
    render_seed = int(rng.integers(2**31))
    clip, cuts = render_clip(specs, lengths, size, render_seed, transitions)
    spans = transition_spans(lengths, transitions, len(specs))
    starts = np.cumsum([0] + lengths).tolist()
    scenes = []
    for k, sp in enumerate(specs):
        sc = {"start": int(starts[k]), "end": int(starts[k + 1])}
        sc.update(scene_captions(sp, rng))
        sc["attributes"] = sp.attributes()
        sc["spec"] = sp.to_dict()
        scenes.append(sc)
    rec = {
        "id": D.clip_name(i), "kind": kind, "frames": int(clip.shape[0]),
        "height": size, "width": size, "fps": FPS, "n_scenes": len(specs),
        "scenes": scenes, "cuts": [int(c) for c in cuts], "transitions": spans,
        "prompt": C.join_scenes([s["caption"] for s in scenes]),
        "prompt_heldout": C.join_scenes([s["caption_heldout"] for s in scenes]),
        "source": {"generator": "train.data.make_dataset", "seed": [seed, i],
                   "render_seed": render_seed},
    }
    return clip, rec


def write_mp4(path: str, frames: np.ndarray, fps: int = FPS, crf: int = 10) -> None:
    """H.264 via the ffmpeg CLI, near-lossless (low crf), every frame kept at `fps`."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("--mp4 needs the ffmpeg command (Debian package ffmpeg; "
                           "scripts/install-deps.sh test installs it)")
    T, H, W, _ = frames.shape
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{W}x{H}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "medium",
           "-crf", str(crf), "-pix_fmt", "yuv420p", "-g", str(4 * fps), path]
    r = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"ffmpeg failed on {path}: {r.stderr.decode(errors='replace')[-400:]}")


def generate(kind: str, n: int, size: int, seed: int, out: str, frames: int | None = None,
             min_scenes: int = 2, max_scenes: int = 6, dissolve_prob: float = 0.2,
             pack: bool = False, mp4: bool = False, quiet: bool = False,
             overwrite: bool = False) -> dict:
    """Write a data set to `out` and return its header (with the measured generation speed)."""
    if kind not in ("single", "tav"):
        raise ValueError("kind must be 'single' or 'tav'")
    if frames is None:
        frames = 16 if kind == "single" else 48
    if kind == "tav" and not (2 <= min_scenes <= max_scenes <= 6):
        raise ValueError("TAV clips have 2-6 scenes: need 2 <= --min-scenes <= --max-scenes <= 6")
    if kind == "tav":
        scene_count_range(frames, min_scenes, max_scenes)       # fail early, not at clip 0
    if pack and frames == 0:
        raise ValueError("--pack needs a fixed --frames")
    if os.path.exists(os.path.join(out, "manifest.jsonl")) and not overwrite:
        raise ValueError(f"{out} already holds a data set (manifest.jsonl); pick another --out "
                         f"or pass --overwrite")
    os.makedirs(out, exist_ok=True)
    if overwrite:                       # old clip files would otherwise linger beside the new set
        for name in os.listdir(out):
            if name.startswith("clip_") and name.endswith((".npy", ".mp4")) or name == "frames.npy":
                os.remove(os.path.join(out, name))
    packed = None
    if pack:
        packed = np.lib.format.open_memmap(os.path.join(out, "frames.npy"), mode="w+",
                                           dtype=np.uint8, shape=(n, frames, size, size, 3))
    t0, c0 = time.time(), time.process_time()
    t_render = 0.0
    with open(os.path.join(out, "manifest.jsonl"), "w") as mf:
        for i in range(n):
            t1 = time.time()
            clip, rec = make_clip(kind, seed, i, size, frames, min_scenes, max_scenes, dissolve_prob)
            t_render += time.time() - t1
            name = D.clip_name(i)
            if packed is not None:
                packed[i] = clip
                rec["file"], rec["index"] = "frames.npy", i
            else:
                np.save(os.path.join(out, name + ".npy"), clip)
                rec["file"], rec["index"] = name + ".npy", None
            rec["mp4"] = None
            if mp4:
                write_mp4(os.path.join(out, name + ".mp4"), clip)
                rec["mp4"] = name + ".mp4"
            mf.write(json.dumps(rec, sort_keys=True) + "\n")
            if not quiet and (i + 1) % 50 == 0:
                el = time.time() - t0
                print(f"  {i + 1}/{n} clips, {(i + 1) / el:.2f} clips/s", file=sys.stderr, flush=True)
    if packed is not None:
        packed.flush()
        del packed
    elapsed, cpu = time.time() - t0, time.process_time() - c0
    header = {
        "kind": kind, "n": n, "size": size, "fps": FPS, "seed": seed, "frames": frames,
        "min_scenes": min_scenes if kind == "tav" else 1,
        "max_scenes": max_scenes if kind == "tav" else 1,
        "dissolve_prob": dissolve_prob if kind == "tav" else 0.0,
        "packed": pack, "mp4": mp4, "generator": "train.data.make_dataset v1",
        "seconds": round(elapsed, 2), "render_clips_per_s": round(n / max(t_render, 1e-9), 2),
        "clips_per_s": round(n / max(elapsed, 1e-9), 2),
        "clips_per_cpu_s": round(n / max(cpu, 1e-9), 2),   # this process's CPU time (not ffmpeg's)
    }
    D.write_header(out, header)
    return header


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m train.data.make_dataset", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=("single", "tav"), required=True)
    ap.add_argument("--n", type=int, required=True, help="number of clips")
    ap.add_argument("--size", type=int, default=64, help="frame height = width in pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--frames", type=int, default=None,
                    help="frames per clip (default 16 single, 48 tav; 0 = free lengths)")
    ap.add_argument("--min-scenes", type=int, default=2)
    ap.add_argument("--max-scenes", type=int, default=6)
    ap.add_argument("--dissolve-prob", type=float, default=0.2,
                    help="chance that a scene boundary is a short dissolve instead of a hard cut")
    ap.add_argument("--pack", action="store_true", help="one frames.npy [N,T,H,W,3] instead of a file per clip")
    ap.add_argument("--mp4", action="store_true", help="also write clip_XXXXXX.mp4 (ffmpeg, H.264, crf 10)")
    ap.add_argument("--overwrite", action="store_true", help="replace a data set already in --out")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    try:
        h = generate(a.kind, a.n, a.size, a.seed, a.out, a.frames, a.min_scenes, a.max_scenes,
                     a.dissolve_prob, a.pack, a.mp4, a.quiet, a.overwrite)
    except (ValueError, RuntimeError) as e:
        print(f"make_dataset: {e}", file=sys.stderr)
        return 2
    print(f"wrote {h['n']} {h['kind']} clips ({h['size']}x{h['size']}, {h['frames'] or 'free'} frames) "
          f"to {a.out} in {h['seconds']} s: {h['clips_per_s']} clips/s "
          f"(render only {h['render_clips_per_s']} clips/s; {h['clips_per_cpu_s']} clips per CPU second)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
