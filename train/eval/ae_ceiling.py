"""The autoencoder's ceiling on adherence: the judge's accuracy on rendered ground-truth scenes
after an encode -> decode round trip through a stage file's autoencoder (what a perfect
denoiser, which hits the ground-truth latents exactly, would be judged at).

    python3 -m train.eval.ae_ceiling [--stage-file train/checkpoints/ae.pt] [--per-count 10]

Renders the first --per-count prompts of each count in tests/data/eval_prompts.jsonl (their
scene specs and seeds, 12 frames per scene, 64x64), judges each scene as rendered and as
reconstructed, and prints per-attribute accuracy and the mean of 4 for both.
"""
import argparse
import os

import numpy as np
import torch

from train import common as Cm
from train import model as M
from train.eval import classifier as J
from train.eval import prompts as P
from train.eval import run as R

PROMPTS = os.path.join(Cm.ROOT, "tests", "data", "eval_prompts.jsonl")


def load_ae(path):
    """The autoencoder of a stage file (ae.pt, or any stage file carrying ae.*)."""
    ck = torch.load(path, map_location="cpu")
    cfg = M.ModelConfig.from_dict(ck["cfg"])
    cfg.vocab_size = len(ck["vocab"])
    ae = M.AutoEncoder(cfg)
    ae.load_state_dict({k[3:]: v.float() for k, v in ck["model"].items() if k.startswith("ae.")})
    return ae.eval(), cfg


@torch.no_grad()
def round_trip(ae, frames):
    """uint8 [T,R,R,3] -> uint8 [T,R,R,3] through encode and decode."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    return M.to_bytes(ae.decode(ae.encode(x))).permute(0, 2, 3, 1).numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage-file", default=os.path.join(Cm.CKPT, "ae.pt"))
    ap.add_argument("--per-count", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    ae, cfg = load_ae(a.stage_file)
    recs = R.select(P.load(PROMPTS), range(1, 7), a.per_count)
    judge = J.load()
    x_ren, x_rec, truth = [], [], []
    for rec in recs:
        n = rec["n_scenes"]
        spans = R.boundaries(n * cfg.frames_per_scene, n)
        ren = R.reference(rec, cfg.image_size, [e - s for s, e in spans])
        rec_frames = round_trip(ae, ren)
        for k, (s, e) in enumerate(spans):
            x_ren.append(J.scene_input(ren, s, e))
            x_rec.append(J.scene_input(rec_frames, s, e))
            truth.append(rec["scenes"][k]["attributes"])
    for name, xs in (("rendered", x_ren), ("autoencoder round trip", x_rec)):
        _, pred, _ = J.judge(judge, np.stack(xs))
        acc = {at: float(np.mean([pred[at][i] == t[at] for i, t in enumerate(truth)]))
               for at in R.ADHERENCE_ATTRS}
        print(f"{name}: " + " ".join(f"{k} {v * 100:.0f}" for k, v in acc.items())
              + f" mean {np.mean(list(acc.values())) * 100:.0f} ({len(truth)} scenes)", flush=True)


if __name__ == "__main__":
    main()
