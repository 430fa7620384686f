"""`make model`: every stage from nothing, then the export to assets/default.tavm.

    python3 -m train.make_model [--skip-done]

Runs, in order, each with its default budget unless given below (docs/model.md lists them):
  train.stage_ae       autoencoder                -> train/checkpoints/ae.pt
  train.stage_ae_up    decoder with one extra 2x level (same latents) -> train/checkpoints/ae_up.pt
  train.stage_base     base denoiser, 1 scene     -> train/checkpoints/base.pt
  train.stage_tav      TAV post-training, patch 2 -> train/checkpoints/tav.pt
  train.stage_tav      continued at patch 1 (--patch 1, 65 min) -> train/checkpoints/tav_p1.pt
  train.stage_tav      continued with the piece contrast and same-station clips (75 min)
                       -> train/checkpoints/tav_cs.pt (the teacher)
  train.stage_distill  <=4-step student of tav_cs.pt: 1,200 teacher pairs (40 % of their cuts
                       at one station) drawn by two one-thread shard processes side by side, then
                       the student (40 min) -> train/checkpoints/distill.pt
  train.export         last stage -> assets/default.tavm (fp32), with ae_up.pt's decoder
                       (--decoder) when it exists: 128x128 frames instead of 64x64
The 128x128 decoder only needs ae.pt and is only used by the export, so it trains in a
one-thread process of its own, next to the base and TAV stages (the machine has two cores); it
is waited for before the distillation's two shard processes start.
Every stage resumes from train/runs/<run>/ if interrupted, with what is left of its time budget
(common.within_budget), so `make model` run again after an interruption goes on where it
stopped and a finished stage only rewrites its result. --skip-done skips a stage whose result
file already exists (e.g. the committed ones of a clean clone).
"""
import argparse
import importlib
import os
import subprocess
import sys

from train import common as Cm

TEACHER = os.path.join(Cm.CKPT, "tav_cs.pt")
PAIRS, PAIR_SAME_STATION = 1200, 0.4
# (result file, module, arguments)
STAGES = [
    ("ae", "stage_ae", []),
    ("ae_up", "stage_ae_up", ["--threads", "1"]),
    ("base", "stage_base", []),
    ("tav", "stage_tav", []),
    ("tav_p1", "stage_tav", ["--init", os.path.join(Cm.CKPT, "tav.pt"), "--patch", "1",
                             "--name", "tav_p1", "--lr", "3e-4", "--steps", "56000", "--minutes", "65"]),
    ("tav_cs", "stage_tav", ["--init", os.path.join(Cm.CKPT, "tav_p1.pt"), "--name", "tav_cs",
                             "--piece-contrast", "1", "--contrast-margin", "0.1", "--same-station", "0.6",
                             "--lr", "2e-4", "--steps", "70000", "--minutes", "75"]),
    ("distill", "stage_distill", ["--teacher", TEACHER, "--pairs", str(PAIRS), "--same-station",
                                  str(PAIR_SAME_STATION), "--minutes", "40", "--time-schedule"]),
]
BACKGROUND = {"ae_up"}        # stages run as a process of their own, next to the next ones
DISTILL_SHARDS = 2            # parallel one-thread teacher-sampling processes
DENOISER_STAGES = ["base", "tav", "tav_p1", "tav_cs", "distill"]   # the stages an export can take text + DiT from


def one_thread_env():
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def join(side):
    """Waits for the background stage (out, process), if any; stops on its failure."""
    if side and side[1].wait() != 0:
        raise SystemExit(f"make_model: the background stage {side[0]} failed (see its output above)")


def draw_teacher_pairs(pairs=PAIRS, minutes=60):
    """Phase 1 of the distillation in DISTILL_SHARDS processes at once (train.stage_distill
    --shard K), so a patch-1 teacher's pairs take half the wall time."""
    env = one_thread_env()
    procs = [subprocess.Popen([sys.executable, "-m", "train.stage_distill", "--shard", str(k),
                               "--pairs", str(pairs // DISTILL_SHARDS), "--teacher", TEACHER,
                               "--same-station", str(PAIR_SAME_STATION),
                               "--minutes", str(minutes)], cwd=Cm.ROOT, env=env)
             for k in range(1, DISTILL_SHARDS + 1)]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit("make_model: a teacher-pair shard failed (see its output above)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-done", action="store_true")
    a = ap.parse_args(argv)
    side = None                      # the background stage's process
    for out, module, args in STAGES:
        if a.skip_done and os.path.exists(os.path.join(Cm.CKPT, f"{out}.pt")):
            print(f"make_model: {out} already done, skipped", flush=True)
            continue
        print(f"make_model: stage {out}" + (" (in the background)" if out in BACKGROUND else ""),
              flush=True)
        if out in BACKGROUND:
            side = (out, subprocess.Popen([sys.executable, "-m", f"train.{module}"] + list(args),
                                          cwd=Cm.ROOT, env=one_thread_env()))
            continue
        if out == "distill":
            join(side)
            side = None
            draw_teacher_pairs()
        importlib.import_module(f"train.{module}").main(list(args))
    join(side)
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
