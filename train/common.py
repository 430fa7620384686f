"""Shared plumbing of the training stages: run directories, resumable checkpoints, loss CSVs,
fp16 stage weights, contact sheets, loss-curve plots, the default configuration."""
import csv
import math
import os
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from train import model as M

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = os.path.join(ROOT, "train", "runs")          # scratch (git-ignored): full checkpoints, sheets
CKPT = os.path.join(ROOT, "train", "checkpoints")   # committed: fp16 weights of finished stages

# The shipped default configuration (docs/model.md explains the choices).
DEFAULT_CONFIG = dict(image_size=64, fps=8, ae_channels=(16, 32, 64), latent_channels=4,
                      max_text=112, max_scenes=6, text_width=96, text_layers=2, text_heads=4,
                      text_scene_pos=1, width=96, depth=4, heads=4, patch=2, mlp_ratio=4,
                      sample_steps=12, cfg_scale=3.0, frames_per_scene=12)


def setup_torch(threads=2):
    torch.set_num_threads(threads)


def run_dir(stage):
    d = os.path.join(RUNS, stage)
    os.makedirs(d, exist_ok=True)
    return d


def caption_words():
    """The caption vocabulary from the data module (train/data/captions.py)."""
    from train.data import captions
    return list(captions.vocabulary())


def make_tokenizer():
    return M.Tokenizer(caption_words())


def new_model(cfg_overrides=None):
    cfg = dict(DEFAULT_CONFIG)
    cfg.update(cfg_overrides or {})
    return M.TavModel(M.ModelConfig(**cfg), make_tokenizer())


# ---------------------------------------------------------------- checkpoints


def save_full(path, model, opt, step, extra=None):
    """Resumable checkpoint (weights + optimiser): scratch only, never committed."""
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict() if opt else None,
                "step": step, "cfg": model.cfg.to_dict(), "vocab": model.tok.itos,
                "extra": extra or {}}, tmp)
    os.replace(tmp, path)


def load_full(path, model, opt=None):
    ck = torch.load(path, map_location="cpu")
    model.load_state_dict(ck["model"])
    if opt is not None and ck.get("opt"):
        opt.load_state_dict(ck["opt"])
    return ck["step"], ck.get("extra", {})


def save_fp16(path, model, info=None):
    """Stage result to commit: fp16 weights, config and vocabulary (no optimiser state)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    tmp = path + ".tmp"
    torch.save({"model": sd, "cfg": model.cfg.to_dict(), "vocab": model.tok.itos,
                "info": info or {}}, tmp)
    os.replace(tmp, path)


# Parameters a model can gain after training started: each starts at zero, so a stage file
# without them loads as the same function (a model gaining text_scene_pos behaves as before).
ZERO_INIT_ADDITIONS = ("text.scene_pos.weight",)


def load_fp16(path, cfg_overrides=None):
    """-> TavModel in float32 from a committed stage file. cfg_overrides may switch on a
    feature the file predates (text_scene_pos; its new parameters start at zero), ask for a
    smaller DiT patch (the weights are carried over by train.repatch) or a deeper DiT (new
    blocks start as the identity, train.grow)."""
    ck = torch.load(path, map_location="cpu")
    d = dict(ck["cfg"])
    over = dict(cfg_overrides or {})
    patch = over.pop("patch", d["patch"])
    depth = over.pop("depth", d["depth"])
    d.update(over)
    cfg = M.ModelConfig.from_dict(d)
    tok = M.Tokenizer([w for w in ck["vocab"] if w not in M.SPECIALS])
    assert tok.itos == ck["vocab"], "vocabulary order changed"
    m = M.TavModel(cfg, tok)
    res = m.load_state_dict({k: v.float() if v.is_floating_point() else v
                             for k, v in ck["model"].items()}, strict=False)
    bad = [k for k in res.missing_keys if k not in ZERO_INIT_ADDITIONS] + list(res.unexpected_keys)
    if bad:
        raise ValueError(f"{path}: state does not match the model: {bad[:5]}")
    if patch != cfg.patch:
        from train.repatch import repatch
        m = repatch(m, patch)
    if depth != cfg.depth:
        from train.grow import grow_depth
        m = grow_depth(m, depth)
    return m, ck.get("info", {})


def load_weights_from(model, path, prefixes):
    """Copy the parameters under the given prefixes ("ae.", "text.", "dit.") from a stage file."""
    ck = torch.load(path, map_location="cpu")
    sd = model.state_dict()
    n = 0
    for k, v in ck["model"].items():
        if any(k.startswith(p) for p in prefixes) and k in sd:
            sd[k] = v.float()
            n += 1
    model.load_state_dict(sd)
    return n


# ---------------------------------------------------------------- logging


class CsvLog:
    def __init__(self, path, fields):
        self.path, self.fields = path, fields
        new = not os.path.exists(path)
        self.f = open(path, "a", newline="")
        self.w = csv.writer(self.f)
        if new:
            self.w.writerow(fields)
            self.f.flush()

    def row(self, *vals):
        self.w.writerow(vals)
        self.f.flush()

    def close(self):
        self.f.close()


def logged_losses(path, upto_step, n=500):
    """The last n losses of a run's loss.csv up to upto_step (its checkpoint's step), for a
    resumed run's loss_last500: a run that resumes re-logs the steps after its last checkpoint,
    so a later row for a step replaces an earlier one."""
    if not os.path.exists(path):
        return []
    head, rows = read_csv(path)
    si, li = head.index("step"), head.index("loss")
    by_step = {int(r[si]): float(r[li]) for r in rows}
    return [by_step[k] for k in sorted(by_step) if k <= upto_step][-n:]


def read_csv(path):
    with open(path) as f:
        r = csv.reader(f)
        head = next(r)
        rows = [[float(v) if v != "" else float("nan") for v in x] for x in r if x]
    return head, np.array(rows) if rows else np.zeros((0, len(head)))


def plot_curve(csv_path, png_path, ycol="loss", title="", smooth=50, logy=True, w=480, h=240):
    """A small loss-curve PNG with PIL (raw in light grey, moving average in black)."""
    head, a = read_csv(csv_path)
    if len(a) < 2:
        return
    a = a[~np.isnan(a[:, head.index(ycol)])]
    if len(a) < 2:
        return
    x, y = a[:, head.index("step")], a[:, head.index(ycol)]
    k = max(1, min(smooth, len(y) // 5))
    ys = np.convolve(y, np.ones(k) / k, mode="valid")
    xs = x[k - 1:]
    f = (lambda v: np.log10(np.maximum(v, 1e-8))) if logy else (lambda v: v)
    lo, hi = f(y).min(), f(y).max()
    if hi - lo < 1e-6:
        hi = lo + 1
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    L, R, T, B = 50, w - 10, 20, h - 25

    def pt(xx, yy):
        return (L + (xx - x[0]) / max(x[-1] - x[0], 1) * (R - L), B - (f(yy) - lo) / (hi - lo) * (B - T))

    d.line([pt(a_, b_) for a_, b_ in zip(x, y)], fill=(200, 200, 200))
    if len(xs) > 1:
        d.line([pt(a_, b_) for a_, b_ in zip(xs, ys)], fill=(0, 0, 0), width=2)
    d.rectangle([L, T, R, B], outline=(0, 0, 0))
    lab = (lambda v: f"{10 ** v:.3g}") if logy else (lambda v: f"{v:.3g}")
    d.text((2, T), lab(hi), fill=(0, 0, 0))
    d.text((2, B - 10), lab(lo), fill=(0, 0, 0))
    d.text((L, B + 5), f"step {int(x[0])}", fill=(0, 0, 0))
    d.text((R - 70, B + 5), f"step {int(x[-1])}", fill=(0, 0, 0))
    d.text((L + 5, 3), f"{title} {ycol} (log)" if logy else f"{title} {ycol}", fill=(0, 0, 0))
    img.save(png_path)


# ---------------------------------------------------------------- contact sheets


def contact_sheet(rows, labels=None, every=1, scale=1):
    """rows: list of uint8 [T,H,W,3] frame arrays (one row per scene or clip) -> PIL image.
    Frames are subsampled by `every`; a label (caption) is written above each row."""
    frames = [r[::every] for r in rows]
    H, W = frames[0].shape[1:3]
    ncol = max(len(f) for f in frames)
    lab_h = 12 if labels else 0
    img = Image.new("RGB", (ncol * (W + 2), len(frames) * (H + 2 + lab_h)), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for i, f in enumerate(frames):
        y = i * (H + 2 + lab_h)
        if labels:
            d.text((2, y), labels[i][:160], fill=(0, 0, 0))
        for j, fr in enumerate(f):
            img.paste(Image.fromarray(fr), (j * (W + 2), y + lab_h))
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


class Timer:
    def __init__(self):
        self.t0 = time.time()
        self.c0 = time.process_time()

    def wall(self):
        return time.time() - self.t0

    def cpu(self):
        return time.process_time() - self.c0


class RunClock:
    """Wall and CPU seconds a training run has used, counted across resumptions: the counts its
    checkpoint stored (resume) plus this process's time since the clock was made. At the step
    the run resumed from, the counts are the stored ones: a process that trains no step (a
    rerun of a finished run, `make model` again) adds nothing for loading its data."""

    def __init__(self):
        self._timer = Timer()
        self.wall0 = self.cpu0 = 0.0
        self.step0 = 0

    def resume(self, step, wall, cpu):
        self.step0, self.wall0, self.cpu0 = step, wall, cpu

    def counts(self, step):
        """{"wall": s, "cpu": s} of the run at `step`: what its checkpoint stores."""
        if step == self.step0:
            return {"wall": self.wall0, "cpu": self.cpu0}
        return {"wall": self.wall0 + self._timer.wall(), "cpu": self.cpu0 + self._timer.cpu()}

    def wall(self, step):
        return self.counts(step)["wall"]

    def elapsed(self):
        """Wall seconds of this process (progress lines)."""
        return self._timer.wall()


MINUTES_HELP = "wall-clock budget of the run, counted across resumptions (common.within_budget)"


def within_budget(run_wall_s, minutes):
    """Whether a run that has used run_wall_s seconds of wall time may go on. --minutes is a
    run's budget counted across resumptions: a run resumed from its train/runs/<run>/ckpt.pt
    goes on with what is left of its budget instead of starting a new one, so an interrupted
    `make model`, run again, finishes each stage within that stage's own budget."""
    return run_wall_s < minutes * 60


def budget_lr(step, start, steps, base, wall_s=0.0, minutes=None, warmup=200):
    """The LR of a run that began at `start` and ends at `steps` or, when minutes is given
    (--time-schedule), at the wall-clock budget if that comes first: the cosine follows
    whichever of the two is further along, so the LR reaches its floor as the run ends."""
    done = step - start
    if minutes:
        done = max(done, int(wall_s / (minutes * 60) * (steps - start)))
    return cosine_lr(done, steps - start, base, warmup=warmup)


def cosine_lr(step, total, base, warmup=100, floor=0.1):
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))
