"""train.eval.run end to end on the tiny random model (tests/data/tiny.tavm) and on the rendered
ground truth: `tav generate` -> frames + MP4 -> `tav scenes` -> judge -> results.json, and the
report's table. The tiny model's output is noise, so this checks the mechanics; the rendered
run checks that a perfect generator scores as one."""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from train.data.scenes import sample_scene
from train.eval import prompts as P

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAV = os.path.join(ROOT, "tav")
TINY = os.path.join(ROOT, "tests", "data", "tiny.tavm")

# Captions in the tiny model's 19-word vocabulary (and its 24-token limit: 3 scenes fit), with
# the attributes they describe (framing where the caption leaves it open is the renderer's choice).
TINY_SCENES = [
    ("a red gear moves along the conveyor",
     dict(station="conveyor", piece="gear", colour="red", action="moves_along", framing="wide")),
    ("close view the press stamps a blue plate",
     dict(station="press", piece="plate", colour="blue", action="presses_down", framing="close")),
    ("the robot welds a red plate",
     dict(station="welding_robot", piece="plate", colour="red", action="sparks", framing="wide")),
    ("the drill spins a blue gear",
     dict(station="drill", piece="gear", colour="blue", action="rotates", framing="close")),
]
PLAN = {1: [[0], [3]], 2: [[0, 1]], 3: [[1, 2, 3]]}


def tiny_prompts(path):
    rng = np.random.default_rng(5)
    recs = []
    for n, lists in PLAN.items():
        for i, idx in enumerate(lists):
            scenes = []
            for k in idx:
                cap, attrs = TINY_SCENES[k]
                sp = sample_scene(rng, **attrs).to_dict()
                scenes.append({"caption": cap, "attributes": attrs, "unseen_words": [],
                               "spec": {k2: v for k2, v in sp.items() if k2 not in attrs}})
            recs.append({"id": f"n{n}_{i:03d}", "n_scenes": n, "index": i, "seed": 100 * n + i,
                         "prompt": " | ".join(s["caption"] for s in scenes), "scenes": scenes})
    P.write(recs, path)
    return recs


@unittest.skipUnless(os.path.exists(TAV) and shutil.which("ffmpeg"), "needs ./tav and ffmpeg")
class TestEvalPipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        from train.eval import classifier as J
        torch.set_num_threads(1)
        if not os.path.exists(J.DEFAULT_WEIGHTS):
            raise unittest.SkipTest("train/eval/classifier.pt not built")
        cls.tmp = tempfile.mkdtemp(prefix="tav_eval_test_")
        cls.prompts = os.path.join(cls.tmp, "p.jsonl")
        cls.recs = tiny_prompts(cls.prompts)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def _run(self, name, *args):
        from train.eval import run
        out = os.path.join(self.tmp, name)
        run.main(["--prompts", self.prompts, "--out", out, "--tav", TAV, "--quiet"] + list(args))
        with open(os.path.join(out, "results.json")) as f:
            res = json.load(f)
        with open(os.path.join(out, "per_prompt.jsonl")) as f:
            pp = [json.loads(l) for l in f]
        return out, res, pp

    def test_tiny_model_end_to_end(self):
        out, res, pp = self._run("tiny", "--model", TINY, "--label", "tiny")
        self.assertEqual([r["id"] for r in pp], [r["id"] for r in self.recs])
        for r, rec in zip(pp, self.recs):
            self.assertEqual(r["n_requested"], rec["n_scenes"])
            self.assertEqual(r["frames"], 3 * rec["n_scenes"])          # tiny: 3 frames per scene
            self.assertEqual(r["size"], 32)
            self.assertEqual(r["n_generated"], len(r["cuts"]) + 1)
            self.assertTrue(os.path.getsize(os.path.join(out, "videos", rec["id"] + ".mp4")) > 0)
            self.assertEqual(len(r["scenes"]), rec["n_scenes"])
            for s, ps in zip(r["scenes"], rec["scenes"]):   # how each caption names its attributes
                self.assertEqual(s["naming"], P.attribute_naming(ps["caption"], ps["attributes"]))
            self.assertGreater(r["seconds"], 0)
        f = np.load(os.path.join(out, "features.npz"))
        self.assertEqual(f["gen"].shape, (sum(r["n_scenes"] for r in self.recs), 64))
        self.assertEqual(f["ref"].shape, f["gen"].shape)
        self.assertEqual(sorted(res["by_count"]), ["1", "2", "3"])
        self.assertEqual(res["by_count"]["1"]["prompts"], 2)
        for b in res["by_count"].values():
            for key in ("mean_generated", "mean_abs_error", "seconds"):
                c = b[key]
                self.assertLessEqual(c["lo"], c["value"] + 1e-9)
                self.assertGreaterEqual(c["hi"], c["value"] - 1e-9)
            e = b["exact_match"]
            self.assertEqual(e["n"], b["prompts"])
            self.assertLessEqual(e["lo"], e["value"])
        self.assertGreaterEqual(res["frechet"]["value"], 0)
        self.assertTrue(os.path.exists(os.path.join(out, "results.md")))
        # "the robot" is no synonym of the welding robot: its one scene is left out of seen-word station
        sp = res["adherence_split"]
        self.assertEqual(sp["naming"]["station"], {"trained": 6, "heldout_only": 0, "absent": 1})
        self.assertEqual(sp["all"]["seen_words"]["station"]["n"], 6)
        self.assertEqual(sp["n1"]["prompts"] + sp["n2plus"]["prompts"], len(self.recs))
        # same seeds, same engine: a second run gives the same per-prompt counts
        _, res2, pp2 = self._run("tiny2", "--model", TINY, "--counts", "2")
        self.assertEqual(pp2[0]["cuts"], pp[2]["cuts"])

    def test_rendered_ground_truth_scores_as_perfect(self):
        from train.eval import report
        out, res, pp = self._run("rendered", "--model", "rendered", "--label", "rendered ground truth")
        self.assertEqual([r["n_generated"] for r in pp], [r["n_requested"] for r in pp])
        for b in res["by_count"].values():
            self.assertEqual(b["exact_match"]["value"], 1.0)
            self.assertEqual(b["mean_abs_error"]["value"], 0.0)
        # the generated clip is the reference: Frechet 0 (frames are compared, not the MP4), same sharpness
        self.assertLess(res["frechet"]["value"], 1e-6)
        self.assertGreaterEqual(res["adherence"]["station"]["value"], 0.85)
        self.assertGreaterEqual(res["adherence"]["colour"]["value"], 0.85)
        text = report.table(report.load_runs([out]), ["distilled: file missing"])
        self.assertIn("| rendered ground truth |", text)
        self.assertIn("Not evaluated (model file missing): distilled: file missing", text)
        # resume: nothing is regenerated, same numbers
        _, res2, _ = self._run("rendered", "--model", "rendered", "--resume")
        self.assertEqual(res2["by_count"], res["by_count"])


if __name__ == "__main__":
    unittest.main()
