"""The on-disk data-set format (shared by make_dataset and from_footage) and its reader.

A data set is a directory:

    DIR/dataset.json       header: format, version, kind, counts, size, fps, how it was made
    DIR/manifest.jsonl     one JSON object per clip (fields below)
    DIR/clip_000000.npy    uint8 [T, H, W, 3] RGB frames of one clip (default layout), or
    DIR/frames.npy         uint8 [N, T, H, W, 3] all clips at once (--pack; equal lengths only)
    DIR/clip_000000.mp4    optional H.264 copy of the clip (--mp4), 8 fps

Manifest record (one line):
    id, file, index (row in frames.npy when packed, else null), mp4 (name or null),
    kind ("single" | "tav" | "footage"), frames, height, width, fps, n_scenes,
    scenes: [{start, end, caption, captions, caption_heldout, attributes, spec}],
        start/end: frame range [start, end) of the scene's own frames (end of scene i =
        start of scene i+1); caption: the one used in `prompt`; captions: alternatives
        (distinct train phrasings, to resample per epoch); caption_heldout: a held-out phrasing;
        attributes: station/piece/colour/action/framing (null for footage); spec: the full
        SceneSpec (null for footage)
    cuts: [frame, ...]  first frame of every scene after the first (hard cut or dissolve centre)
    transitions: [{frame, type: "cut"|"dissolve", span: [s, e]}]  frames s..e-1 are blends
    prompt: join_scenes(scene captions); prompt_heldout: the same with held-out phrasings
    source: generator details (seed for synthetic clips; video path and detector output for footage)
"""
from __future__ import annotations

import json
import os
from typing import Iterator, List

import numpy as np

FORMAT = "tav-data"
VERSION = 1
REQUIRED_FIELDS = ("id", "file", "kind", "frames", "height", "width", "fps", "n_scenes",
                   "scenes", "cuts", "transitions", "prompt")


def clip_name(i: int) -> str:
    return f"clip_{i:06d}"


def write_header(out_dir: str, header: dict) -> None:
    h = {"format": FORMAT, "version": VERSION}
    h.update(header)
    with open(os.path.join(out_dir, "dataset.json"), "w") as f:
        json.dump(h, f, indent=1, sort_keys=True)
        f.write("\n")


def read_header(data_dir: str) -> dict:
    with open(os.path.join(data_dir, "dataset.json")) as f:
        h = json.load(f)
    if h.get("format") != FORMAT:
        raise ValueError(f"{data_dir}: not a tav data set (format {h.get('format')!r})")
    if h.get("version") != VERSION:
        raise ValueError(f"{data_dir}: data-set version {h.get('version')} written by "
                         f"{h.get('generator', '?')}; this reader knows version {VERSION}")
    return h


def read_manifest(data_dir: str) -> List[dict]:
    with open(os.path.join(data_dir, "manifest.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def iter_clips(data_dir: str, mmap: bool = True) -> Iterator[tuple]:
    """(record, frames uint8 [T,H,W,3]) for every clip, in manifest order."""
    packed = None
    for rec in read_manifest(data_dir):
        if rec.get("index") is not None:
            if packed is None:
                packed = np.load(os.path.join(data_dir, rec["file"]), mmap_mode="r" if mmap else None)
            yield rec, packed[rec["index"]]
        else:
            yield rec, np.load(os.path.join(data_dir, rec["file"]), mmap_mode="r" if mmap else None)


def load_clip(data_dir: str, rec: dict) -> np.ndarray:
    path = os.path.join(data_dir, rec["file"])
    if rec.get("index") is not None:
        return np.asarray(np.load(path, mmap_mode="r")[rec["index"]])
    return np.load(path)


def validate_record(rec: dict) -> List[str]:
    """Problems with one manifest record (empty list when it is valid)."""
    errs = [f"missing field {k!r}" for k in REQUIRED_FIELDS if k not in rec]
    if errs:
        return errs
    T, scenes = rec["frames"], rec["scenes"]
    if rec["n_scenes"] != len(scenes) or len(scenes) < 1:
        errs.append(f"n_scenes {rec['n_scenes']} but {len(scenes)} scenes")
    if len(rec["cuts"]) != len(scenes) - 1 or len(rec["transitions"]) != len(scenes) - 1:
        errs.append("need one cut and one transition per scene boundary")
    pos = 0
    for i, s in enumerate(scenes):
        if s.get("start") != pos or not (s.get("end", -1) > s["start"]):
            errs.append(f"scene {i}: bad range [{s.get('start')}, {s.get('end')})")
            break
        pos = s["end"]
        if not isinstance(s.get("caption"), str) or not s["caption"].strip() or "|" in s["caption"]:
            errs.append(f"scene {i}: bad caption {s.get('caption')!r}")
    if pos != T:
        errs.append(f"scenes end at {pos}, clip has {T} frames")
    for i, c in enumerate(rec["cuts"]):
        if not (0 < c < T) or (i + 1 < len(scenes) and c != scenes[i + 1]["start"]):
            errs.append(f"cut {c} is not the start of scene {i + 1} inside the clip")
    for tr in rec["transitions"]:
        s, e = tr["span"]
        if tr["type"] not in ("cut", "dissolve") or not (0 <= s <= tr["frame"] <= e <= T):
            errs.append(f"bad transition {tr}")
    from .captions import split_scenes
    if split_scenes(rec["prompt"]) != [" ".join(s["caption"].split()) for s in scenes]:
        errs.append("prompt is not join_scenes(scene captions)")
    return errs
