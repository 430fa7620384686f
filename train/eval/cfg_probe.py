"""Guidance-scale probe: the attribute judge's accuracy on single-scene samples of a stage file
at several CFG scales (how the TAV stage's default CFG 6.0 was chosen, docs/model.md).

    python3 -m train.eval.cfg_probe train/checkpoints/tav.pt --cfg 1,3,6,9 [--n 40] [--seed 7]

Draws n scenes (train.data.scenes.sample_scene, seed --seed) with train-split captions, samples
each with the stage's sampler (train.denoise.generate, its default steps, noise seed 100 + i) at
every scale, and prints the judge's accuracy on station, piece, colour and action and their
mean, with the whole clip as the scene. PyTorch only (no C engine, no MP4): a quick ranking of
scales, not the evaluation of docs/results.md.
"""
import argparse
import time

import numpy as np

from train import common as Cm
from train import denoise as Dn
from train.data.captions import caption
from train.data.scenes import sample_scene
from train.eval import classifier as J

ATTRS = ("station", "piece", "colour", "action")


def probe(m, judge, specs, caps, cfg_scale):
    """-> {attribute: accuracy} over the scenes at one guidance scale."""
    vids = [Dn.generate(m, [c], seed=100 + i, cfg_scale=cfg_scale)[0] for i, c in enumerate(caps)]
    _, preds, _ = J.judge(judge, np.stack([J.scene_input(v, 0, len(v)) for v in vids]))
    return {a: float(np.mean([preds[a][i] == sp.attributes()[a] for i, sp in enumerate(specs)]))
            for a in ATTRS}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stage_file")
    ap.add_argument("--cfg", default="1,3,6,9", help="comma-separated guidance scales")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    m, info = Cm.load_fp16(a.stage_file)
    m.eval()
    judge = J.load()
    rng = np.random.default_rng(a.seed)
    specs = [sample_scene(rng) for _ in range(a.n)]
    caps = [caption(s, rng) for s in specs]
    print(f"{a.stage_file}: step {info.get('steps')}, {a.n} single-scene prompts", flush=True)
    for scale in (float(x) for x in a.cfg.split(",")):
        t = time.time()
        acc = probe(m, judge, specs, caps, scale)
        print(f"cfg {scale}: " + " ".join(f"{k} {v * 100:.0f}" for k, v in acc.items())
              + f" mean {np.mean(list(acc.values())) * 100:.0f} ({time.time() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
