"""The attribute judge: a small CNN that reads one scene (4 frames) and names its station, work
piece, colour, action and framing. Trained on rendered ground truth; its held-out accuracy on
rendered scenes is the ceiling of every adherence figure it gives. Its penultimate layer (64
features) is the embedding of the Frechet distance (train/eval/metrics.py).

    python3 -m train.eval.classifier [--train 4000] [--test 800] [--epochs 12] [--seed 5]
        [--out train/eval/classifier.pt]

Input: K = 4 frames taken evenly inside the scene's frame range [start, end) (positions
(j + 0.5) / K of the range, so the frames next to a boundary are never used), resized to 64x64,
stacked as 12 channels in [-1, 1]. Frames carry station, piece, colour and framing; the
differences between the 4 frames carry the action. Training scenes are rendered by
train/data/render.render_scene with lengths 8, 12, 16 or 24 frames (the model's scenes are 12),
with light augmentation (blur, noise, brightness) so a slightly soft generated frame is not
out of distribution. One thread; a few minutes.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from train.data.render import render_scene
from train.data.scenes import ACTIONS, COLOURS, FRAMINGS, PIECES, STATIONS, sample_scene

ATTRS = ("station", "piece", "colour", "action", "framing")
CLASSES = {"station": STATIONS, "piece": PIECES, "colour": COLOURS, "action": ACTIONS,
           "framing": FRAMINGS}
K = 4                 # frames per scene sample
SIZE = 64             # classifier input resolution
FEAT = 64             # penultimate features (Frechet embedding)
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WEIGHTS = os.path.join(HERE, "classifier.pt")
LENGTHS = (8, 12, 16, 24)


# ---------------------------------------------------------------- input

def scene_indices(start: int, end: int, k: int = K):
    """k frame indices evenly inside [start, end): floor(start + (end - start) * (j + 0.5) / k).
    A scene shorter than k frames repeats frames."""
    n = max(end - start, 1)
    return [start + min(int(n * (j + 0.5) / k), n - 1) for j in range(k)]


def _resize(frames: np.ndarray) -> np.ndarray:
    """uint8 [T, H, W, 3] -> uint8 [T, SIZE, SIZE, 3] (bilinear; a no-op at SIZE)."""
    if frames.shape[1] == SIZE and frames.shape[2] == SIZE:
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((SIZE, SIZE), Image.BILINEAR))
                     for f in frames])


def scene_input(frames: np.ndarray, start: int, end: int) -> np.ndarray:
    """float32 [3K, SIZE, SIZE] in [-1, 1]: the classifier's input for frames[start:end]."""
    sel = _resize(np.ascontiguousarray(frames[scene_indices(start, end)]))
    x = sel.astype(np.float32) / 127.5 - 1.0                       # [K, S, S, 3]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(3 * K, SIZE, SIZE))


# ---------------------------------------------------------------- network

class Judge(nn.Module):
    """4 stride-2 conv stages (64 -> 4 px; the last two with a second conv), global average pool, a 64-d feature layer, and one
    linear head per attribute."""

    def __init__(self):
        super().__init__()
        ch = (3 * K, 24, 48, 64, 96)
        layers = []
        for i in range(4):
            layers += [nn.Conv2d(ch[i], ch[i + 1], 3, stride=2, padding=1), nn.BatchNorm2d(ch[i + 1]),
                       nn.ReLU(inplace=True)]
            if i >= 2:          # a second conv only where the maps are small (cheap on 1 thread)
                layers += [nn.Conv2d(ch[i + 1], ch[i + 1], 3, padding=1), nn.BatchNorm2d(ch[i + 1]),
                           nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.feat = nn.Linear(ch[-1], FEAT)
        self.heads = nn.ModuleDict({a: nn.Linear(FEAT, len(CLASSES[a])) for a in ATTRS})

    def features(self, x):
        h = self.body(x).mean(dim=(2, 3))
        return F.relu(self.feat(h))

    def forward(self, x):
        f = self.features(x)
        return f, {a: self.heads[a](f) for a in ATTRS}


def load(path: str = DEFAULT_WEIGHTS) -> Judge:
    ck = torch.load(path, map_location="cpu")
    m = Judge()
    m.load_state_dict({k: v.float() for k, v in ck["model"].items()})
    m.eval()
    return m


@torch.no_grad()
def judge(model: Judge, inputs: np.ndarray, batch: int = 128):
    """inputs float32 [N, 3K, SIZE, SIZE] -> (features float32 [N, FEAT],
    {attr: predicted class names [N]}, {attr: probabilities [N, classes]})."""
    feats, probs = [], {a: [] for a in ATTRS}
    for i in range(0, len(inputs), batch):
        f, logits = model(torch.from_numpy(np.ascontiguousarray(inputs[i:i + batch])))
        feats.append(f.numpy())
        for a in ATTRS:
            probs[a].append(torch.softmax(logits[a], 1).numpy())
    feats = np.concatenate(feats) if feats else np.zeros((0, FEAT), np.float32)
    probs = {a: (np.concatenate(p) if p else np.zeros((0, len(CLASSES[a])), np.float32))
             for a, p in probs.items()}
    preds = {a: [CLASSES[a][j] for j in probs[a].argmax(1)] for a in ATTRS}
    return feats, preds, probs


# ---------------------------------------------------------------- training data

def render_examples(n: int, seed: int, log=None):
    """n rendered scenes -> (inputs float32 [n, 3K, S, S], labels int64 [n, 5], attribute dicts)."""
    rng = np.random.default_rng(seed)
    xs = np.empty((n, 3 * K, SIZE, SIZE), np.float32)
    ys = np.empty((n, len(ATTRS)), np.int64)
    t0 = time.time()
    for i in range(n):
        sp = sample_scene(rng)
        L = LENGTHS[int(rng.integers(len(LENGTHS)))]
        fr = render_scene(sp, n_frames=L, size=SIZE, rng=rng)
        xs[i] = scene_input(fr, 0, L)
        ys[i] = [CLASSES[a].index(getattr(sp, a)) for a in ATTRS]
        if log and (i + 1) % 1000 == 0:
            log(f"rendered {i + 1}/{n} scenes ({time.time() - t0:.0f} s)")
    return xs, ys


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random soft blur (3x3 binomial mixed in with weight w), gain and additive noise."""
    n = x.shape[0]
    k = torch.tensor([1.0, 2.0, 1.0])
    k2 = (k[:, None] * k[None, :] / 16.0).expand(x.shape[1], 1, 3, 3)
    blur = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k2, groups=x.shape[1])
    w = torch.rand(n, 1, 1, 1, generator=g) * 0.8
    x = (1 - w) * x + w * blur
    x = (x + 1) * (0.9 + 0.2 * torch.rand(n, 1, 1, 1, generator=g)) - 1
    x = x + torch.randn(x.shape, generator=g) * (0.04 * torch.rand(n, 1, 1, 1, generator=g))
    return x.clamp(-1, 1)


def accuracy(model: Judge, xs: np.ndarray, ys: np.ndarray) -> dict:
    _, preds, _ = judge(model, xs)
    return {a: float(np.mean([CLASSES[a].index(p) == y for p, y in zip(preds[a], ys[:, j])]))
            for j, a in enumerate(ATTRS)}


def train(xs, ys, epochs: int, seed: int, log=print, batch: int = 64, lr: float = 3e-3) -> Judge:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    m = Judge()
    opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(xs) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    X, Y = torch.from_numpy(xs), torch.from_numpy(ys)
    t0 = time.time()
    for ep in range(epochs):
        m.train()
        perm = torch.randperm(len(X), generator=g)
        tot = 0.0
        for i in range(0, len(X), batch):
            idx = perm[i:i + batch]
            x = _augment(X[idx], g)
            _, logits = m(x)
            loss = sum(F.cross_entropy(logits[a], Y[idx, j]) for j, a in enumerate(ATTRS))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
        log(f"epoch {ep + 1}/{epochs} loss {tot / len(X):.4f} ({time.time() - t0:.0f} s)")
    m.eval()
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=800)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default="/tmp/tav_eval_judge_data.npz",
                    help="rendered examples are kept here between runs ('' = no cache)")
    ap.add_argument("--out", default=DEFAULT_WEIGHTS)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    log = lambda s: print(f"classifier: {s}", file=sys.stderr, flush=True)
    key = f"{a.train}_{a.test}_{a.seed}"
    if a.cache and os.path.exists(a.cache) and str(np.load(a.cache)["key"]) == key:
        d = np.load(a.cache)
        xtr, ytr, xte, yte = d["xtr"], d["ytr"], d["xte"], d["yte"]
        log("rendered examples from the cache")
    else:
        t0 = time.time()
        xtr, ytr = render_examples(a.train, a.seed, log)
        xte, yte = render_examples(a.test, a.seed + 1000, log)
        log(f"rendered {a.train} + {a.test} scenes in {time.time() - t0:.0f} s")
        if a.cache:
            np.savez(a.cache, key=key, xtr=xtr, ytr=ytr, xte=xte, yte=yte)
    t0 = time.time()
    m = train(xtr, ytr, a.epochs, a.seed, log)
    secs = time.time() - t0
    acc = accuracy(m, xte, yte)
    log("held-out accuracy on rendered scenes: " +
        ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in m.state_dict().items()}
    info = {"heldout_accuracy": acc, "n_train": a.train, "n_test": a.test, "epochs": a.epochs,
            "seed": a.seed, "train_seconds": round(secs, 1), "threads": a.threads,
            "input": f"{K} frames at {SIZE}x{SIZE}", "scene_lengths": list(LENGTHS),
            "params": sum(p.numel() for p in m.parameters())}
    tmp = a.out + ".tmp"
    torch.save({"model": sd, "info": info}, tmp)
    os.replace(tmp, a.out)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(info, f, indent=1)
    log(f"wrote {a.out} ({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()
