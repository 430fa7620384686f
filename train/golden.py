"""Golden vectors for the C engine: a tiny random-initialised model and the debug state of one
generation with it.

    python3 -m train.golden [--out tests/data]

writes
    tests/data/tiny.tavm            the tiny model (fp32, same layout as a real model; < 1 MB;
                                    text_scene_pos on)
    tests/data/tiny_golden.tavm     the debug state (tensors + metadata, same file format)
    tests/data/tiny_up.tavm         the tiny model with one extra decoder level (dec_up_channels:
                                    same 4x4 latents, 2x larger frames; < 1 MB)
    tests/data/tiny_up_golden.tavm  its debug state (the same tensors); text_scene_pos off

Everything is float32, single-threaded, deterministic; running it twice gives identical bytes
(tests/py/test_model_golden.py checks that). The tensors of the debug state are listed in
docs/model.md ("Golden vectors"). The vocabulary here is a fixed list, independent of the data
module, so the golden files do not change when the caption grammar does.
"""
import argparse
import math
import os

import numpy as np
import torch

from train import model as M

TINY_WORDS = ("a red blue gear plate moves along the conveyor press stamps drill "
              "spins close view of wide robot welds").split()

# text_scene_pos on (text.scene_pos, random like every other parameter), so the golden state covers
# the text encoder's scene-position term
TINY_CONFIG = dict(image_size=32, fps=8, ae_channels=(8, 8, 8), latent_channels=4,
                   max_text=24, max_scenes=6, text_width=32, text_layers=1, text_heads=2,
                   text_scene_pos=1, width=32, depth=2, heads=2, patch=2, mlp_ratio=4,
                   sample_steps=3, cfg_scale=3.0, frames_per_scene=3)

# the asymmetric autoencoder: 3 encoder levels on 32x32 frames (4x4 latents, as TINY_CONFIG) and a
# decoder with one extra level of a width (6) unlike the others, so a wrong channel count shows;
# text_scene_pos off, so a golden covers a file without it (model.text_scene_pos absent)
TINY_UP_CONFIG = dict(TINY_CONFIG, image_size=64, dec_up_channels=(6,), text_scene_pos=0)

GOLDEN_PROMPT = "a red gear moves along the conveyor | Close view: the press stamps a blue plate"
GOLDEN_SEED = 42


def tiny_model(config=TINY_CONFIG):
    """The tiny model with every parameter random (including the adaLN-Zero ones and
    text.scene_pos that a fresh model starts at zero), so every op of the forward pass shows
    in the golden state."""
    torch.manual_seed(1234)
    cfg = M.ModelConfig(**config)
    tok = M.Tokenizer(TINY_WORDS)
    m = M.TavModel(cfg, tok)
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in m.named_parameters():
            n = torch.randn(p.shape, generator=g)
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(n / math.sqrt(fan_in))
            elif name.endswith("ln_c.weight") or ".ln" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * n)
            else:
                p.copy_(0.1 * n)
        C = cfg.latent_channels
        m.ae.latent_mean.copy_(0.1 * torch.arange(C, dtype=torch.float32) - 0.1)
        m.ae.latent_std.copy_(0.5 + 0.25 * torch.arange(C, dtype=torch.float32))
    m.eval()
    return m


def run_golden(m, prompt=GOLDEN_PROMPT, seed=GOLDEN_SEED):
    """One generation with the debug state recorded: returns (meta, tensors) with batch 1
    and the batch dimension dropped (the file format has at most 4 dimensions)."""
    cfg = m.cfg
    scenes = M.split_prompt(prompt)
    T = cfg.frames_per_scene * len(scenes)
    h = cfg.latent_size
    C = cfg.latent_channels
    with torch.no_grad():
        ids, sc = m.tok.encode_batch([scenes], cfg.max_text, cfg.max_scenes, pad_to=cfg.max_text)
        nids, nsc = m.tok.null_batch(1, cfg.max_text)
        emb, mask = m.text(ids, sc)
        nemb, nmask = m.text(nids, nsc)
        noise = torch.from_numpy(M.portable_noise(seed, T * C * h * h)).view(1, T, C, h, h)
        trace = {}
        z0 = M.sample(m.dit, noise, emb, mask, nemb, nmask, steps=cfg.sample_steps,
                      cfg_scale=cfg.cfg_scale, trace=trace)
        y = m.ae.decode(z0)                       # [1,T,3,R,R]
        rgb = M.to_bytes(y).permute(0, 1, 3, 4, 2)  # [1,T,R,R,3]
    t = {
        "tokens.ids": ids[0].float(),
        "tokens.scene": sc[0].float(),
        "null.ids": nids[0].float(),
        "text.emb": emb[0],
        "null.emb": nemb[0],
        "noise": noise[0],
    }
    for k, v in trace.items():
        t[k] = v[0]
    t["latents.final"] = z0[0]
    t["frames.f32"] = y[0]
    t["frames.rgb"] = rgb[0].float()
    meta = {
        "golden.prompt": prompt,
        "golden.seed": int(seed),
        "golden.steps": int(cfg.sample_steps),
        "golden.cfg_scale": float(cfg.cfg_scale),
        "golden.n_frames": int(T),
    }
    return meta, {k: v.contiguous().float() for k, v in t.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    from train import export
    os.makedirs(a.out, exist_ok=True)
    for name, config in (("tiny", TINY_CONFIG), ("tiny_up", TINY_UP_CONFIG)):
        m = tiny_model(config)
        export.export_model(m, os.path.join(a.out, f"{name}.tavm"))
        meta, tensors = run_golden(m)
        export.write_tensors(os.path.join(a.out, f"{name}_golden.tavm"), meta, tensors)
        print(f"wrote {a.out}/{name}.tavm and {a.out}/{name}_golden.tavm ({len(tensors)} tensors)")


if __name__ == "__main__":
    main()
