"""Stage 2: the base denoiser (text encoder + DiT) on single-scene clips.

    python3 -m train.stage_base [--minutes 50] [--steps 4000] [--lr 1e-3]

Needs train/checkpoints/ae.pt (stage 1). Renders (once) 8000 single-scene clips of 12 frames
(train/latents.py), encodes them with the frozen autoencoder, trains with the rectified-flow
loss; writes train/checkpoints/base.pt (fp16 EMA weights). Resumes from train/runs/base/.
"""
import argparse
import hashlib
import os

from train import common as Cm
from train import denoise as Dn
from train import latents as Lt

SINGLE = ("single_8000_11", "single", 8000, 11)
TAV = ("tav_1500_12", "tav", 1500, 12)


def ae_model():
    path = os.path.join(Cm.CKPT, "ae.pt")
    m = Cm.new_model()
    Cm.load_weights_from(m, path, ["ae."])
    m.eval()
    tag = "ae" + hashlib.sha256(open(path, "rb").read()).hexdigest()[:8]
    return m, tag


def load_set(spec, ae, tag, seed, piece=False):
    """A clip set's sampler (rendered and encoded on first use); piece: with piece masks."""
    name, kind, n, s = spec
    Lt.ensure_set(name, kind, n, s)
    lat, clips = Lt.encode_set(name, ae.ae, tag)
    masks = Lt.piece_mask_set(name, lat.shape[-1]) if piece else None
    return Lt.ClipSampler(lat, clips, seed, masks)


def main(argv=None):
    ap = argparse.ArgumentParser(description="base denoiser training on single-scene clips")
    Dn.add_args(ap, minutes=50, steps=4000, lr=1e-3)
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    ae, tag = ae_model()
    single = load_set(SINGLE, ae, tag, seed=1)
    Dn.train_stage("base", a, {1: single}, os.path.join(Cm.CKPT, "ae.pt"), ["ae."], {1: 1.0})


if __name__ == "__main__":
    main()
