"""Stage 3: transition-aware (TAV) post-training on multi-scene clips, mixed with single-scene
clips (25% of steps) so the model does not forget them.

    python3 -m train.stage_tav [--minutes 115] [--steps 36000] [--lr 5e-4] [--threads 1]
                               [--init STAGE_FILE] [--no-scene-pos] [--patch P] [--depth D]
                               [--name NAME]
                               [--piece-weight W] [--piece-contrast C [--contrast-margin M]]
                               [--same-station F]

Starts from train/checkpoints/base.pt; renders (once) 1,500 clips of 2..6 scenes (each scene 8..16
frames, 12 per scene on average, hard cuts), encodes them with the frozen autoencoder. The prompt
lists one caption per scene joined with ' | '; the cut positions are never given. Writes
train/checkpoints/tav.pt (fp16 EMA weights) with the sampler's default guidance scale CFG_SCALE
(6.0: measured best of 1/3/6/9 on single-scene prompts, docs/model.md "Guidance scale").
Resumes from train/runs/tav/. The text encoder gains text.scene_pos (zero init) unless
--no-scene-pos. The LR schedule anneals over whichever budget runs out first (--time-schedule
is on by default here). The shipped tav.pt ran 4,000 steps (schedule of 4,000), resumed with
--steps 22000 --minutes 65 to 16,181 (stopped by time), then was continued with scene positions
(`--init <that file> --lr 3e-4 --steps 36181 --minutes 65`) to 36,181, and once more
(`--init train/checkpoints/tav.pt --name tav_next --lr 2e-4 --steps 56181 --minutes 25`, stopped
by time) to 44,682 (docs/model.md). --patch re-patches the initial DiT (train.repatch; the
patch-1 experiment in docs/model.md); --depth D deepens it, new blocks starting as the
identity (train.grow). --piece-weight W weights the loss by 1 + W * (how much of
the latent pixel the work piece covers; masks re-rendered once by train.latents.piece_mask_set).
--piece-contrast C adds C * a hinge that makes the prediction on the piece's pixels worse when
the caption names another piece (train.denoise.piece_contrast_loss). --same-station F draws that
share of the multi-scene batches from a second set of 1,500 clips (seed 13) in which half the cuts
stay at one station, as procedure steps often do (docs/results.md, the templates).
"""
import argparse
import os

from train import common as Cm
from train import denoise as Dn
from train import latents as Lt
from train.stage_base import SINGLE, TAV, ae_model, load_set

TAV_SAME = ("tav_same_1500_13", "tav_same", 1500, 13)

CFG_SCALE = 6.0


def main(argv=None):
    ap = argparse.ArgumentParser(description="transition-aware post-training on multi-scene clips")
    Dn.add_args(ap, minutes=115, steps=36000, lr=5e-4, threads=1)
    ap.set_defaults(time_schedule=True)
    ap.add_argument("--init", default=os.path.join(Cm.CKPT, "base.pt"),
                    help="stage file to start from (a TAV stage file: continue its step count)")
    ap.add_argument("--no-scene-pos", dest="scene_pos", action="store_false",
                    help="keep the initial model's text encoder without text.scene_pos")
    ap.add_argument("--patch", type=int,
                    help="re-patch the initial model's DiT to this patch size (train.repatch)")
    ap.add_argument("--depth", type=int,
                    help="deepen the initial model's DiT to this many blocks (train.grow: the new "
                         "blocks start as the identity)")
    ap.add_argument("--piece-weight", type=float, default=0.0,
                    help="weight the loss by 1 + W * (work-piece coverage) per latent pixel")
    ap.add_argument("--piece-contrast", type=float, default=0.0,
                    help="weight of the piece-word contrast term (denoise.piece_contrast_loss)")
    ap.add_argument("--contrast-margin", type=float, default=0.1)
    ap.add_argument("--same-station", type=float, default=0.0,
                    help="share of multi-scene batches drawn from the tav_same clip set (half its "
                         "cuts stay at one station; train.latents)")
    ap.add_argument("--name", default="tav",
                    help="run directory and stage file to write (train/checkpoints/NAME.pt)")
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    ae, tag = ae_model()
    masks = a.piece_weight > 0 or a.piece_contrast > 0
    single = load_set(SINGLE, ae, tag, seed=2, piece=masks)
    tav = load_set(TAV, ae, tag, seed=3, piece=masks)
    if a.same_station:
        same = load_set(TAV_SAME, ae, tag, seed=4, piece=masks)
        tav = Lt.EitherSampler([tav, same], [1 - a.same_station, a.same_station], seed=5)
    sets = {1: single, 2: tav, 3: tav, 4: tav, 5: tav, 6: tav}
    probs = {1: 0.25, 2: 0.15, 3: 0.15, 4: 0.15, 5: 0.15, 6: 0.15}
    Dn.train_stage("tav", a, sets, a.init, ["ae.", "text.", "dit."], probs, cfg_scale=CFG_SCALE,
                   cfg_overrides=overrides(a), name=a.name, piece_weight=a.piece_weight,
                   piece_contrast=a.piece_contrast, contrast_margin=a.contrast_margin)


def overrides(a):
    """The configuration this run changes over its initial stage file."""
    o = {"text_scene_pos": 1} if a.scene_pos else {}
    if a.patch:
        o["patch"] = a.patch
    if a.depth:
        o["depth"] = a.depth
    return o or None


if __name__ == "__main__":
    main()
