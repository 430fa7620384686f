"""Build a data set from a plant's own recorded footage: one caption per process step.

    /usr/bin/python3 -m train.data.from_footage --videos a.mp4 b.mp4 --procedure steps.txt --out DIR
        [--size 64] [--scene-frames 0] [--tav ./tav]

For each video: the C detector (`tav scenes VIDEO --json`) finds the cuts; the video is decoded
at 8 fps, scaled and centre-cropped to size x size (ffmpeg CLI); scene k gets step k of the
procedure. When the number of detected scenes differs from the number of steps the video is
REPORTED AND SKIPPED -- a caption is never attached to the wrong scene. The output is the same
format as make_dataset (train/data/dataset.py), kind "footage", ready for TAV post-training.

Procedure file: one step caption per line, in order; blank lines and lines starting with '#'
are ignored; a leading step number ("3.", "3)", "Step 3:") is removed. Give one --procedure for
all videos, or one per video.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from typing import List, Optional, Tuple

import numpy as np

from . import captions as C
from . import dataset as D
from .render import FPS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NEEDS_TAV = ("the footage builder needs the C scene-cut detector `tav scenes VIDEO --json` "
             "(core/, issue 4): build it with `make` in the repo root, or pass --tav PATH")


class BuildError(Exception):
    pass


# ---------------------------------------------------------------- inputs

def read_procedure(path: str) -> List[str]:
    steps = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            s = re.sub(r"^(step\s*)?\d+\s*[.):\-]\s*", "", s, flags=re.IGNORECASE)
            s = " ".join(s.replace(C.SEP_TEXT, " ").split())
            if s:
                steps.append(s)
    if not steps:
        raise BuildError(f"{path}: no steps (one caption per line)")
    return steps


def find_tav(explicit: Optional[str]) -> str:
    for cand in ([explicit] if explicit else [os.path.join(ROOT, "tav"), shutil.which("tav")]):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise BuildError(NEEDS_TAV + (f" ({explicit} is not an executable)" if explicit else ""))


def detect_cuts(tav: str, video: str) -> Tuple[List[dict], dict]:
    """Run `tav scenes VIDEO --json`; return ([{frame, time?, kind?}], raw JSON)."""
    for attempt in range(3):
        try:
            r = subprocess.run([tav, "scenes", video, "--json"], capture_output=True, text=True)
            break
        except OSError as e:            # e.g. the binary is being rebuilt (ETXTBSY / EACCES)
            if attempt == 2:
                raise BuildError(f"cannot run {tav}: {e}; {NEEDS_TAV}")
            time.sleep(2.0)
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip()
        low = msg.lower()
        if r.returncode == 2 or any(w in low for w in ("unknown", "not implemented", "planned",
                                                        "not built")):
            raise BuildError(f"{NEEDS_TAV}; `{tav} scenes` said: {msg[:300]}")
        raise BuildError(f"{video}: `tav scenes` failed (status {r.returncode}): {msg[:300]}")
    try:
        raw = json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise BuildError(f"{video}: `tav scenes --json` printed no JSON ({e}): {r.stdout[:200]!r}")
    cuts = raw.get("cuts") if isinstance(raw, dict) else raw
    if not isinstance(cuts, list):
        raise BuildError(f"{video}: `tav scenes --json` output has no list of cuts: {r.stdout[:200]!r}")
    out = []
    for c in cuts:
        if isinstance(c, dict):
            if "frame" not in c:
                raise BuildError(f"{video}: cut without a frame: {c}")
            out.append({"frame": int(c["frame"]), "time": c.get("time", c.get("seconds")),
                        "kind": c.get("kind", c.get("type", "cut"))})
        else:
            out.append({"frame": int(c), "time": None, "kind": "cut"})
    return out, raw


def probe_fps(video: str) -> float:
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=avg_frame_rate,r_frame_rate", "-of", "json", video],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"{video}: ffprobe cannot read it: {r.stderr.strip()[:300]}")
    st = json.loads(r.stdout).get("streams") or [{}]
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(st[0].get(key, "0/0")).partition("/")
        try:
            v = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue
        if v > 0:
            return v
    raise BuildError(f"{video}: no frame rate")


def decode(video: str, size: int) -> np.ndarray:
    """uint8 [T, size, size, 3] at FPS: scaled so the short side is `size`, centre-cropped."""
    vf = (f"fps={FPS},scale={size}:{size}:force_original_aspect_ratio=increase:flags=area,"
          f"crop={size}:{size}")
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-vf", vf, "-f", "rawvideo",
                        "-pix_fmt", "rgb24", "-"], capture_output=True)
    if r.returncode != 0:
        raise BuildError(f"{video}: ffmpeg cannot decode it: {r.stderr.decode(errors='replace')[-300:]}")
    n = len(r.stdout) // (size * size * 3)
    if n == 0:
        raise BuildError(f"{video}: no frames decoded")
    return np.frombuffer(r.stdout[: n * size * size * 3], np.uint8).reshape(n, size, size, 3)


# ---------------------------------------------------------------- pairing

def scene_bounds(cuts: List[dict], src_fps: float, n_frames: int) -> List[int]:
    """Cut positions in the decoded FPS frame grid: [0, b1, ..., n_frames]. A cut time is the
    detector's time if it gave one, else its frame / source fps."""
    out = [0]
    for c in sorted(cuts, key=lambda c: c["frame"]):
        t = c["time"] if c["time"] is not None else c["frame"] / src_fps
        out.append(int(round(float(t) * FPS)))
    out.append(n_frames)
    return out


def subsample(frames: np.ndarray, bounds: List[int], k: int) -> Tuple[np.ndarray, List[int]]:
    """Resample every scene to exactly k frames (evenly spaced, repeats if shorter)."""
    parts, nb = [], [0]
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = np.round(np.linspace(a, b - 1, k)).astype(int)
        parts.append(frames[idx])
        nb.append(nb[-1] + k)
    return np.concatenate(parts), nb


def build(videos: List[str], procedures: List[str], out: str, size: int = 64,
          scene_frames: int = 0, tav: Optional[str] = None, log=print,
          review: bool = False) -> dict:
    if len(procedures) not in (1, len(videos)):
        raise BuildError(f"give one --procedure for all videos or one per video "
                         f"({len(videos)} videos, {len(procedures)} procedures)")
    tav_path = find_tav(tav)
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise BuildError("needs the ffmpeg and ffprobe commands (Debian package ffmpeg)")
    os.makedirs(out, exist_ok=True)
    written, skipped = 0, []
    unknown: List[str] = []
    for proc in procedures:                     # words the synthetic vocabulary does not have
        for step in read_procedure(proc):
            unknown += [w for w in C.unknown_words(step) if w not in unknown]
    if unknown:
        log(f"NOTE the procedure uses {len(unknown)} words outside the caption vocabulary "
            f"({', '.join(unknown[:20])}{' ...' if len(unknown) > 20 else ''}): the model file's "
            f"vocabulary must be extended with them before post-training on this data")
    with open(os.path.join(out, "manifest.jsonl"), "w") as mf:
        for vi, video in enumerate(videos):
            steps = read_procedure(procedures[0] if len(procedures) == 1 else procedures[vi])
            try:
                cuts, raw = detect_cuts(tav_path, video)
                src_fps = probe_fps(video)
                frames = decode(video, size)
            except BuildError as e:
                if NEEDS_TAV in str(e):
                    raise
                skipped.append({"video": video, "reason": str(e)})
                log(f"SKIP {video}: {e}")
                continue
            bounds = scene_bounds(cuts, src_fps, frames.shape[0])
            n_scenes = len(bounds) - 1
            if n_scenes != len(steps):
                reason = (f"detected {n_scenes} scenes ({len(cuts)} cuts) but the procedure has "
                          f"{len(steps)} steps; skipped rather than misaligned")
                skipped.append({"video": video, "reason": reason, "cuts": [c["frame"] for c in cuts]})
                log(f"SKIP {video}: {reason}")
                continue
            if any(b <= a for a, b in zip(bounds[:-1], bounds[1:])):
                reason = f"a detected scene is shorter than one frame at {FPS} fps (bounds {bounds})"
                skipped.append({"video": video, "reason": reason})
                log(f"SKIP {video}: {reason}")
                continue
            if scene_frames:
                frames, bounds = subsample(frames, bounds, scene_frames)
            name = D.clip_name(written)
            np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(frames))
            scenes = [{"start": bounds[k], "end": bounds[k + 1], "caption": steps[k],
                       "captions": [steps[k]], "caption_heldout": None, "attributes": None,
                       "spec": None} for k in range(n_scenes)]
            kinds = [("dissolve" if str(c["kind"]).lower().startswith("diss") else "cut")
                     for c in sorted(cuts, key=lambda c: c["frame"])]
            rec = {
                "id": name, "file": name + ".npy", "index": None, "mp4": None, "kind": "footage",
                "frames": int(frames.shape[0]), "height": size, "width": size, "fps": FPS,
                "n_scenes": n_scenes, "scenes": scenes, "cuts": bounds[1:-1],
                "transitions": [{"frame": b, "type": k, "span": [b, b]}
                                for b, k in zip(bounds[1:-1], kinds)],
                "prompt": C.join_scenes(steps), "prompt_heldout": None,
                "source": {"generator": "train.data.from_footage", "video": os.path.abspath(video),
                           "source_fps": src_fps, "detector_cuts": [c["frame"] for c in cuts],
                           "scene_frames": scene_frames},
            }
            mf.write(json.dumps(rec, sort_keys=True) + "\n")
            written += 1
            log(f"OK   {video}: {n_scenes} scenes -> {name} ({frames.shape[0]} frames)")
    header = {"kind": "footage", "n": written, "size": size, "fps": FPS, "frames": 0,
              "scene_frames": scene_frames, "videos": len(videos), "skipped": skipped,
              "unknown_words": unknown,
              "generator": "train.data.from_footage v1"}
    D.write_header(out, header)
    if review and written:
        # one contact sheet per clip (a row per scene, its step caption beside it): the count
        # check cannot catch a missed cut plus a false one in the same video, a person can
        from .contact_sheet import sheet
        os.makedirs(os.path.join(out, "review"), exist_ok=True)
        for k in range(written):
            name = D.clip_name(k)
            sheet(out, ids=[name], cols=6, scale=2).save(os.path.join(out, "review", name + ".png"))
        log(f"review sheets in {os.path.join(out, 'review')}")
    return header


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m train.data.from_footage", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", nargs="+", required=True)
    ap.add_argument("--procedure", nargs="+", required=True,
                    help="step captions, one per line (one file for all videos, or one per video)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--scene-frames", type=int, default=0,
                    help="resample every scene to this many frames (0 = keep all at 8 fps)")
    ap.add_argument("--tav", default=None, help="path of the tav binary (default: repo ./tav, then PATH)")
    ap.add_argument("--review", action="store_true",
                    help="write DIR/review/clip_XXXXXX.png: one row per scene with its caption, to check by eye")
    a = ap.parse_args(argv)
    try:
        h = build(a.videos, a.procedure, a.out, a.size, a.scene_frames, a.tav, review=a.review)
    except BuildError as e:
        print(f"from_footage: {e}", file=sys.stderr)
        return 2
    print(f"wrote {h['n']} of {h['videos']} videos to {a.out}; skipped {len(h['skipped'])}")
    return 0 if h["n"] > 0 or not a.videos else 1


if __name__ == "__main__":
    sys.exit(main())
