"""`make model`: every stage from nothing, then the export to assets/default.tavm.

    python3 -m train.make_model [--skip-done]

Runs, in order, each with its default budget (docs/model.md lists them):
  train.stage_ae       autoencoder                -> train/checkpoints/ae.pt
  train.stage_ae_up    decoder with one extra 2x level (same latents) -> train/checkpoints/ae_up.pt
  train.stage_base     base denoiser, 1 scene     -> train/checkpoints/base.pt
  train.stage_tav      TAV post-training          -> train/checkpoints/tav.pt
  train.stage_distill  <=4-step student           -> train/checkpoints/distill.pt
  train.export         last stage -> assets/default.tavm (fp32), with ae_up.pt's decoder
                       (--decoder) when it exists: 128x128 frames instead of 64x64
Every stage resumes from train/runs/<stage>/ if interrupted. --skip-done skips a stage whose
train/checkpoints/<stage>.pt already exists (e.g. the committed ones of a clean clone).
"""
import argparse
import importlib
import os

from train import common as Cm

STAGES = ["ae", "ae_up", "base", "tav", "distill"]
DENOISER_STAGES = ["base", "tav", "distill"]   # the stages an export can take text + DiT from


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-done", action="store_true")
    a = ap.parse_args(argv)
    for s in STAGES:
        if a.skip_done and os.path.exists(os.path.join(Cm.CKPT, f"{s}.pt")):
            print(f"make_model: {s} already done, skipped", flush=True)
            continue
        print(f"make_model: stage {s}", flush=True)
        importlib.import_module(f"train.stage_{s}").main([])
    # The last stage that exists: the distilled student (measured to match its teacher,
    # docs/model.md "Distillation"), else the TAV model.
    done = [s for s in DENOISER_STAGES if os.path.exists(os.path.join(Cm.CKPT, f"{s}.pt"))]
    args = ["--stage", done[-1]]
    up = os.path.join(Cm.CKPT, "ae_up.pt")
    if os.path.exists(up):
        args += ["--decoder", up]
    importlib.import_module("train.export").main(args)


if __name__ == "__main__":
    main()
