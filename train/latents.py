"""Clip sets for the denoiser stages: rendered once, encoded once by the autoencoder, cached.

    python3 -m train.latents render --kind single --clips 8000 --seed 11
    python3 -m train.latents render --kind tav --clips 3000 --seed 12
    python3 -m train.latents render --kind tav_same --clips 1500 --seed 13

A set is n clips; clip i has n_i scenes (single: 1; tav, tav_same: 2..6) of lengths that sum to
12 * n_i frames (each scene 8..16 frames, so the model must infer cut positions from the
prompt and the length, not from a fixed grid). In a tav set every cut changes station; in a
tav_same set half the cuts stay at the station (same piece and colour, another action or
framing), as procedures' steps often do. The rendered frames go to
train/data_cache/<name>.frames.npy (uint8, all clips concatenated), the scene specs and cut
frames to <name>.json; encode() turns the frames into normalised fp16 latents
<name>.<ae-tag>.latents.npy with the given autoencoder. Captions are drawn afresh at every use
(train/data/captions.py caption(spec, rng, "train")), so the model sees many phrasings.
piece_mask_set() re-renders a set to record where the work piece is (<name>.piece<h>.npy, for
the piece-weighted loss of train.stage_tav --piece-weight).
"""
import argparse
import json
import os

import numpy as np
import torch

from train import common as Cm

CACHE = os.path.join(Cm.ROOT, "train", "data_cache")
FPS_SCENE = 12
SAME_STATION_P = 0.5     # kind "tav_same": share of cuts that stay at the station (scenes.py)


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


def clip_draws(kind, n_clips, seed):
    """The random draws behind a clip set, clip by clip: (specs, scene lengths, render seed).
    Replaying them re-renders a set exactly (piece_mask_set relies on it)."""
    from train.data.scenes import sample_scene_sequence
    rng = np.random.default_rng(seed)
    p_same = SAME_STATION_P if kind == "tav_same" else 0.0
    for _ in range(n_clips):
        n = 1 if kind == "single" else int(rng.integers(2, 7))
        specs = sample_scene_sequence(rng, n, p_same)
        L = scene_lengths(rng, n)
        yield specs, L, int(rng.integers(1 << 31))


def render_set(name, kind, n_clips, seed, size=64):
    from train.data.render import render_clip
    clips, frames = [], []
    off = 0
    for i, (specs, L, clip_seed) in enumerate(clip_draws(kind, n_clips, seed)):
        fr, cuts = render_clip(specs, frames_per_scene=L, size=size, seed=clip_seed)
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


def pool_cover(cover, grid):
    """Piece coverage [T,S,S] of frame pixels -> [T,grid,grid]: the mean over each latent
    pixel's block."""
    n, size = cover.shape[0], cover.shape[1]
    k = size // grid
    return cover.reshape(n, grid, k, grid, k).mean((2, 4))


def piece_mask_set(name, grid):
    """-> fp16 [N_frames, grid, grid]: how much of each latent pixel the work piece covers
    (visible coverage averaged over the pixel's block of frame pixels). Re-renders the set from
    its recorded seed, checks every clip against the cached frames, and caches the result as
    <name>.piece<grid>.npy."""
    from train.data.render import render_clip
    mp = os.path.join(CACHE, f"{name}.piece{grid}.npy")
    if os.path.exists(mp):
        return np.load(mp)
    with open(os.path.join(CACHE, f"{name}.json")) as f:
        meta = json.load(f)
    fr = np.load(os.path.join(CACHE, f"{name}.frames.npy"), mmap_mode="r")
    size, k = meta["size"], meta["size"] // grid
    if k * grid != size:
        raise ValueError(f"{name}: frame size {size} is not a multiple of the latent grid {grid}")
    out = np.empty((fr.shape[0], grid, grid), np.float16)
    draws = clip_draws(meta["kind"], len(meta["clips"]), meta["seed"])
    for c, (specs, L, clip_seed) in zip(meta["clips"], draws):
        frames, _, cover = render_clip(specs, frames_per_scene=L, size=size, seed=clip_seed,
                                       piece_mask=True)
        o, n = c["offset"], c["n_frames"]
        if L != c["lengths"] or not np.array_equal(frames, fr[o:o + n]):
            raise RuntimeError(f"{name}: re-rendering clip at frame {o} does not reproduce the "
                               "cached frames (renderer changed since the set was made?)")
        out[o:o + n] = pool_cover(cover, grid)
    np.save(mp, out)
    return out


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


def _specs(clip):
    from train.data.scenes import SceneSpec
    return [SceneSpec.from_dict(s) for s in clip["specs"]]


def phrased_prompt(specs, seed, swap=None, other_seed=None):
    """A prompt in training phrasings whose draws come from seed alone, so a variant naming
    another value of `swap` ("piece" or "colour") in every scene is phrased the same way. The
    other value is the next one in the attribute's list, or a random other one when other_seed
    is given."""
    import dataclasses
    from train.data.captions import caption, join_scenes
    from train.data.scenes import COLOURS, PIECES
    caps = []
    for k, sp in enumerate(specs):
        if swap:
            values = PIECES if swap == "piece" else COLOURS
            i = values.index(getattr(sp, swap))
            step = 1 if other_seed is None else int(np.random.default_rng([other_seed, k, 1]).integers(1, len(values)))
            sp = dataclasses.replace(sp, **{swap: values[(i + step) % len(values)]})
        caps.append(caption(sp, np.random.default_rng([seed, k]), "train"))
    return join_scenes(caps)


class ClipSampler:
    """Batches of (latents [B,T,C,h,h] float32, prompts, clip records) with one T per batch."""

    def __init__(self, lat, clips, seed, piece=None):
        self.lat, self.clips, self.piece = lat, clips, piece
        self.rng = np.random.default_rng(seed)
        self.by_n = {}
        for i, c in enumerate(clips):
            self.by_n.setdefault(len(c["specs"]), []).append(i)

    def prompt(self, clip):
        from train.data.captions import caption, join_scenes
        return join_scenes([caption(s, self.rng, "train") for s in _specs(clip)])

    def batch(self, n_scenes, B):
        idx = self.rng.choice(self.by_n[n_scenes], B)
        cl = [self.clips[i] for i in idx]
        z = np.stack([self.lat[c["offset"]:c["offset"] + c["n_frames"]] for c in cl])
        return torch.from_numpy(z.astype(np.float32)), [self.prompt(c) for c in cl], cl

    def prompt_pair(self, clip):
        """(prompt, the same phrasing naming another piece in every scene), for the piece
        contrast of train.stage_tav --piece-contrast."""
        seed = int(self.rng.integers(1 << 31))
        specs = _specs(clip)
        return phrased_prompt(specs, seed), phrased_prompt(specs, seed, swap="piece", other_seed=seed)

    def piece_cover(self, cl):
        """Piece coverage of a batch's clips, float32 [B,T,1,h,w] (needs piece=)."""
        m = np.stack([self.piece[c["offset"]:c["offset"] + c["n_frames"]] for c in cl])
        return torch.from_numpy(m.astype(np.float32)).unsqueeze(2)


class EitherSampler:
    """Each batch from one of several ClipSamplers, drawn with the given weights; piece_cover
    and prompt_pair answer for the sampler of the last batch."""

    def __init__(self, samplers, weights, seed):
        self.samplers, self.rng = samplers, np.random.default_rng(seed)
        self.p = np.asarray(weights, np.float64) / np.sum(weights)
        self.last = samplers[0]

    def batch(self, n_scenes, B):
        self.last = self.samplers[int(self.rng.choice(len(self.samplers), p=self.p))]
        return self.last.batch(n_scenes, B)

    def piece_cover(self, cl):
        return self.last.piece_cover(cl)

    def prompt_pair(self, clip):
        return self.last.prompt_pair(clip)


def main(argv=None):
    ap = argparse.ArgumentParser(description="render clip sets for the denoiser stages")
    ap.add_argument("cmd", choices=["render"])
    ap.add_argument("--kind", choices=["single", "tav", "tav_same"], required=True)
    ap.add_argument("--clips", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--name")
    a = ap.parse_args(argv)
    render_set(a.name or f"{a.kind}_{a.clips}_{a.seed}", a.kind, a.clips, a.seed)


if __name__ == "__main__":
    main()
