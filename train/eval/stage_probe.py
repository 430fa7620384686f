"""Quick A/B probe of stage files on held-out multi-scene prompts (PyTorch sampling, C cut
detector, the eval's judge): how two checkpoints of one run were compared before choosing one.

    python3 -m train.eval.stage_probe A.pt B.pt [--per-count 8] [--counts 2,3,4,5,6]

Every stage file gets the same prompts (the first --per-count of each requested count in
tests/data/eval_prompts.jsonl, held-out phrasings) and the same noise seeds; each is sampled
with the stage's own sampler (train.denoise.generate: its default steps and guidance, 64x64),
written as an MP4 and cut-counted by `tav scenes`, and judged per scene at the requested
boundaries, as train.eval.run does. Prints, per stage file and count, the exact scene-count
rate, the mean generated scenes and the mean-of-4 adherence. A ranking with few prompts, not
the evaluation of docs/results.md (`make eval`).
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from train import common as Cm
from train import denoise as Dn
from train.eval import classifier as J
from train.eval import prompts as P
from train.eval import run as R

PROMPTS = os.path.join(Cm.ROOT, "tests", "data", "eval_prompts.jsonl")


def probe(m, judge, recs, tav, tmp):
    """-> list of (n requested, n generated, [mean-of-4 accuracy per scene])."""
    out = []
    for rec in recs:
        n = rec["n_scenes"]
        v = Dn.generate(m, [rec["prompt"]], seed=rec["seed"])[0]
        mp4 = os.path.join(tmp, "v.mp4")
        R.write_mp4(v, mp4, crf=12, pix_fmt="yuv444p")
        got = len(R.detect(tav, mp4)) + 1
        x = np.stack([J.scene_input(v, s, e) for s, e in R.boundaries(len(v), n)])
        _, pred, _ = J.judge(judge, x)
        acc = [np.mean([pred[a][k] == sc["attributes"][a] for a in R.ADHERENCE_ATTRS])
               for k, sc in enumerate(rec["scenes"])]
        out.append((n, got, acc))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stage_files", nargs="+")
    ap.add_argument("--per-count", type=int, default=8)
    ap.add_argument("--counts", default="2,3,4,5,6")
    ap.add_argument("--tav", default=os.path.join(Cm.ROOT, "tav"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    Cm.setup_torch(a.threads)
    counts = [int(c) for c in a.counts.split(",")]
    recs = R.select(P.load(PROMPTS), counts, a.per_count)
    judge = J.load()
    tmp = tempfile.mkdtemp()
    tav = R.stable_tav(a.tav, tmp)
    try:
        for path in a.stage_files:
            m, info = Cm.load_fp16(path)
            m.eval()
            t = time.time()
            res = probe(m, judge, recs, tav, tmp)
            cells = []
            for n in counts:
                rs = [r for r in res if r[0] == n]
                exact = np.mean([r[1] == n for r in rs]) * 100
                cells.append(f"N={n}: {exact:.0f}% {np.mean([r[1] for r in rs]):.2f}sc")
            adh = np.mean([x for r in res for x in r[2]]) * 100
            print(f"{os.path.basename(path)} step {info.get('steps')}: " + ", ".join(cells)
                  + f"; adherence {adh:.0f}% ({len(recs)} prompts, {time.time() - t:.0f} s)",
                  flush=True)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
