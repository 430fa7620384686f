"""Where a denoiser's error is: its rectified-flow error on the work piece's latent pixels
against the rest of the frame, on freshly rendered held-out multi-scene clips.

    python3 -m train.eval.piece_probe STAGE_FILE [STAGE_FILE ...] [--clips 48] [--seed 99] [--swap]

Every stage file sees the same clips (rendered with train.latents' TAV draws from --seed, which
the training sets do not use, encoded by the frozen autoencoder), the same captions ("train"
phrasings: this measures the modelling, not the wording), the same noise and the same taus.
Prints, per file, the mean squared error of the predicted velocity over piece pixels (weighted
by the piece's coverage of each latent pixel) and over the rest, and their ratio.
--swap also measures the same errors with every scene's caption naming another piece (or
another colour), phrased with the same random draws: how much the model's prediction of the
piece depends on the piece word at all (a model that ignores the word loses nothing).
"""
import argparse

import numpy as np
import torch

from train import common as Cm
from train import latents as Lt
from train import model as M

TAUS = (0.2, 0.5, 0.8)


def held_out_clips(n_clips, seed):
    """-> list of (latents [1,T,C,h,h], piece coverage [1,T,1,h,h], scene specs)."""
    from train.data.render import render_clip
    from train.stage_base import ae_model
    ae, _ = ae_model()
    out = []
    for specs, L, clip_seed in Lt.clip_draws("tav", n_clips, seed):
        frames, _, cover = render_clip(specs, frames_per_scene=L, size=64, seed=clip_seed,
                                       piece_mask=True)
        with torch.no_grad():
            x = torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 127.5 - 1.0
            z = ae.ae.encode(x)
        h = z.shape[-1]
        m = Lt.pool_cover(cover, h)
        out.append((z.unsqueeze(0), torch.from_numpy(m).view(1, len(frames), 1, h, h), specs))
    return out


@torch.no_grad()
def piece_errors(model, clips, seed, swap=None):
    """-> (error on piece pixels, error elsewhere), each a coverage-weighted mean."""
    g = torch.Generator().manual_seed(seed)
    sums = np.zeros(4)
    for i, (z0, m, specs) in enumerate(clips):
        emb, mask = model.encode_text([Lt.phrased_prompt(specs, seed + i, swap)])
        for tau in TAUS:
            noise = torch.randn(z0.shape, generator=g)
            err = M.flow_error(model.dit, z0, emb, mask, torch.tensor([tau]), noise)
            w = m.expand_as(err)
            sums += [(w * err).sum().item(), w.sum().item(), ((1 - w) * err).sum().item(),
                     (1 - w).sum().item()]
    return sums[0] / sums[1], sums[2] / sums[3]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stages", nargs="+", help="stage files (train/checkpoints/*.pt)")
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--swap", action="store_true",
                    help="also with captions naming another piece / another colour")
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    clips = held_out_clips(a.clips, a.seed)
    cover = sum(float(m.sum()) for _, m, _ in clips) / sum(m.numel() for _, m, _ in clips)
    print(f"{len(clips)} held-out clips (seed {a.seed}), piece covers {100 * cover:.1f} % of "
          f"latent pixels; taus {TAUS}")
    print(f"{'stage file':<40} {'captions':<14} {'piece':>8} {'rest':>8} {'ratio':>6}")
    for path in a.stages:
        model, info = Cm.load_fp16(path)
        model.eval()
        for swap in ([None, "piece", "colour"] if a.swap else [None]):
            p, r = piece_errors(model, clips, a.seed, swap)
            what = f"other {swap}" if swap else "true"
            print(f"{path:<40} {what:<14} {p:8.4f} {r:8.4f} {p / r:6.2f}   (step {info.get('steps')})",
                  flush=True)


if __name__ == "__main__":
    main()
