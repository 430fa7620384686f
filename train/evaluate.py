"""Evaluate committed stages: contact sheets and generated scene counts against requested ones.

    python3 -m train.evaluate --stages base tav [--seeds 4] [--tav ./tav] [--img docs/img]

For each stage (train/checkpoints/<stage>.pt) and each requested scene count n in 1, 2, 4, 6,
generates `--seeds` videos (different prompts and noise seeds; n * frames_per_scene frames,
the model's default steps and guidance), writes each as an MP4 (ffmpeg, H.264, 8 fps) and
counts its scenes with the C cut detector (`tav scenes --json`: scenes = cuts + 1). Prints a
table and writes train/runs/eval/<stage>.json. Also writes docs/img/<stage>_sheet.png: the fixed
evaluation prompts (1, 2, 4, 6 scenes), one row per requested scene, every 2nd frame.
"""
import argparse
import json
import os
import shutil
import tempfile

import numpy as np

from train import common as Cm
from train import denoise as Dn
from train.eval import run as R
from train.stage_distill import random_prompt

COUNTS = (1, 2, 4, 6)


def count_scenes(tav, path):
    """(scenes, cut frames) of an MP4 by the C detector (train.eval.run.detect)."""
    cuts = R.detect(tav, path)
    return len(cuts) + 1, cuts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stages", nargs="+", default=["base", "tav"])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--tav", default=os.path.join(Cm.ROOT, "tav"))
    ap.add_argument("--img", default=os.path.join(Cm.ROOT, "docs", "img"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-sheet", action="store_true")
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    d = Cm.run_dir("eval")
    tmp = tempfile.mkdtemp()
    tav = os.path.join(tmp, "tav")
    shutil.copy(a.tav, tav)          # a stable copy: others rebuild ./tav while we run
    os.makedirs(a.img, exist_ok=True)
    for stage in a.stages:
        m, info = Cm.load_fp16(os.path.join(Cm.CKPT, f"{stage}.pt"))
        m.eval()
        if not a.no_sheet:
            Dn.sheet(m, Dn.eval_prompts(), os.path.join(a.img, f"{stage}_sheet.png"), every=2)
        res = {}
        for n in COUNTS:
            rng = np.random.default_rng(500 + n)
            got = []
            for s in range(a.seeds):
                p = random_prompt(rng, n)
                v = Dn.generate(m, [p], seed=1000 * n + s)[0]
                mp4 = os.path.join(d, f"{stage}_n{n}_s{s}.mp4")
                R.write_mp4(v, mp4, crf=12, pix_fmt="yuv444p")
                k, cuts = count_scenes(tav, mp4)
                got.append({"prompt": p, "scenes": k, "cuts": cuts})
            res[n] = got
            print(f"{stage}: requested {n} -> detected {[g['scenes'] for g in got]} "
                  f"(mean {np.mean([g['scenes'] for g in got]):.2f})", flush=True)
        with open(os.path.join(d, f"{stage}.json"), "w") as f:
            json.dump({"stage": stage, "info": info, "results": res}, f, indent=1)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
