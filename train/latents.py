"""Clip sets for the denoiser stages: rendered once, encoded once by the autoencoder, cached.

    python3 -m train.latents render --kind single --clips 8000 --seed 11
    python3 -m train.latents render --kind tav --clips 3000 --seed 12

A set is n clips; clip i has n_i scenes (single: 1; tav: 2..6) of lengths that sum to
12 * n_i frames (each scene 8..16 frames, so the model must infer cut positions from the
prompt and the length, not from a fixed grid). The rendered frames go to
train/data_cache/<name>.frames.npy (uint8, all clips concatenated), the scene specs and cut
frames to <name>.json; encode() turns the frames into normalised fp16 latents
<name>.<ae-tag>.latents.npy with the given autoencoder. Captions are drawn afresh at every use
(train/data/captions.py caption(spec, rng, "train")), so the model sees many phrasings.
"""
import argparse
import json
import os

import numpy as np
import torch

from train import common as Cm

CACHE = os.path.join(Cm.ROOT, "train", "data_cache")
FPS_SCENE = 12


def scene_lengths(rng, n, per=FPS_SCENE, lo=8, hi=16):
    """n lengths in [lo, hi] summing to n * per."""
    if n == 1:
        return [per]
    while True:
        L = rng.integers(lo, hi + 1, n - 1).tolist()
        last = n * per - sum(L)
        if lo <= last <= hi:
            L.append(last)
            return L


def render_set(name, kind, n_clips, seed, size=64):
    from train.data.render import render_clip
    from train.data.scenes import sample_scene_sequence
    rng = np.random.default_rng(seed)
    clips, frames = [], []
    off = 0
    for i in range(n_clips):
        n = 1 if kind == "single" else int(rng.integers(2, 7))
        specs = sample_scene_sequence(rng, n)
        L = scene_lengths(rng, n)
        fr, cuts = render_clip(specs, frames_per_scene=L, size=size, seed=int(rng.integers(1 << 31)))
        clips.append({"offset": off, "n_frames": int(fr.shape[0]), "cuts": [int(c) for c in cuts],
                      "lengths": L, "specs": [s.to_dict() for s in specs]})
        frames.append(fr)
        off += fr.shape[0]
        if (i + 1) % 500 == 0:
            print(f"{name}: rendered {i + 1}/{n_clips} clips", flush=True)
    os.makedirs(CACHE, exist_ok=True)
    np.save(os.path.join(CACHE, f"{name}.frames.npy"), np.concatenate(frames))
    with open(os.path.join(CACHE, f"{name}.json"), "w") as f:
        json.dump({"kind": kind, "seed": seed, "size": size, "clips": clips}, f)


def encode_set(name, ae, tag, batch=256):
    """-> (latents fp16 [N_frames, C, h, h], clip list). Cached per autoencoder tag."""
    lp = os.path.join(CACHE, f"{name}.{tag}.latents.npy")
    with open(os.path.join(CACHE, f"{name}.json")) as f:
        meta = json.load(f)
    if os.path.exists(lp):
        return np.load(lp), meta["clips"]
    fr = np.load(os.path.join(CACHE, f"{name}.frames.npy"), mmap_mode="r")
    out = []
    with torch.no_grad():
        for i in range(0, len(fr), batch):
            x = torch.from_numpy(np.ascontiguousarray(fr[i:i + batch])).float() / 127.5 - 1.0
            out.append(ae.encode(x.permute(0, 3, 1, 2)).half().numpy())
    lat = np.concatenate(out)
    np.save(lp, lat)
    return lat, meta["clips"]


def ensure_set(name, kind, n_clips, seed):
    if not os.path.exists(os.path.join(CACHE, f"{name}.json")):
        render_set(name, kind, n_clips, seed)


class ClipSampler:
    """Batches of (latents [B,T,C,h,h] float32, prompts, clip records) with one T per batch."""

    def __init__(self, lat, clips, seed):
        self.lat, self.clips = lat, clips
        self.rng = np.random.default_rng(seed)
        self.by_n = {}
        for i, c in enumerate(clips):
            self.by_n.setdefault(len(c["specs"]), []).append(i)

    def prompt(self, clip):
        from train.data.captions import caption, join_scenes
        from train.data.scenes import SceneSpec
        return join_scenes([caption(SceneSpec.from_dict(s), self.rng, "train") for s in clip["specs"]])

    def batch(self, n_scenes, B):
        idx = self.rng.choice(self.by_n[n_scenes], B)
        cl = [self.clips[i] for i in idx]
        z = np.stack([self.lat[c["offset"]:c["offset"] + c["n_frames"]] for c in cl])
        return torch.from_numpy(z.astype(np.float32)), [self.prompt(c) for c in cl], cl


def main(argv=None):
    ap = argparse.ArgumentParser(description="render clip sets for the denoiser stages")
    ap.add_argument("cmd", choices=["render"])
    ap.add_argument("--kind", choices=["single", "tav"], required=True)
    ap.add_argument("--clips", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--name")
    a = ap.parse_args(argv)
    render_set(a.name or f"{a.kind}_{a.clips}_{a.seed}", a.kind, a.clips, a.seed)


if __name__ == "__main__":
    main()
