"""Seen-word adherence: train.eval.prompts.attribute_naming (does a caption name an attribute with
a synonym training used, or only with a held-out-only one?) on hand-written captions and on
captions built from known synonyms, and train.eval.report re-reporting a small synthetic run
whose per_prompt.jsonl predates the naming field."""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from train.data import captions as C
from train.data.scenes import sample_scene
from train.eval import prompts as P

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
T, H, A = P.TRAINED, P.HELDOUT_ONLY, P.ABSENT


def attrs(station, piece, colour, action, framing="wide"):
    return dict(station=station, piece=piece, colour=colour, action=action, framing=framing)


def naming(caption, *a):
    n = P.attribute_naming(caption, attrs(*a))
    return tuple(n[k] for k in ("station", "piece", "colour", "action"))


class TestAttributeNaming(unittest.TestCase):
    def test_trained_words(self):
        self.assertEqual(naming("a red gear moves along at the conveyor, wide shot",
                                "conveyor", "gear", "red", "moves_along"), (T, T, T, T))
        # upper case and punctuation are the tokenizer's business: same words
        self.assertEqual(naming("The RED Gear -- moves along at the Conveyor!",
                                "conveyor", "gear", "red", "moves_along"), (T, T, T, T))

    def test_heldout_only_words(self):
        self.assertEqual(naming("on the transfer belt a violet sprocket rolls forward seen in a long shot",
                                "conveyor", "gear", "purple", "moves_along"), (H, H, H, H))
        self.assertEqual(naming("in a detail shot the weld station fuses the white conduit",
                                "welding_robot", "pipe", "white", "sparks"), (H, H, T, H))

    def test_multi_word_synonyms(self):
        # "press machine" is held-out-only although "press" alone is a trained synonym;
        # "l bracket" likewise contains the trained "bracket"
        self.assertEqual(naming("in a wide shot the press machine flattens the red l bracket",
                                "press", "bracket", "red", "presses_down"), (H, H, T, H))
        # multi-word trained synonyms, and the "press" of "drill press" is not the press station
        self.assertEqual(naming("the drill press drills the blue angle bracket",
                                "drill", "bracket", "blue", "drilled"), (T, T, T, T))
        self.assertEqual(naming("the drill press drills the blue angle bracket",
                                "press", "bracket", "blue", "drilled")[0], A)
        # active voice with the object inside the phrase: "spins {obj} round" is held-out-only
        # (though "spins" alone is trained); "puts {obj} in a box" is the packing action, so
        # its "box" does not name the piece, which is the held-out "case"
        self.assertEqual(naming("in a close view the drill spins the orange gear wheel round",
                                "drill", "gear", "orange", "rotates"), (T, T, T, H))
        self.assertEqual(naming("the packing station puts the red case in a box",
                                "packing", "box", "red", "packed"), (T, H, T, T))

    def test_both_present_counts_as_trained(self):
        self.assertEqual(naming("a violet sprocket, a purple cog, rolls forward and moves along "
                                "on the loading dock by the loading bay",
                                "forklift_bay", "gear", "purple", "moves_along"), (T, T, T, T))

    def test_absent_and_wrong_value(self):
        # the caption names another station and no action at all
        self.assertEqual(naming("a red gear at the conveyor", "drill", "gear", "red", "rotates"),
                         (A, T, T, A))

    def test_captions_built_from_known_synonyms(self):
        """Every template of both splits filled with random synonyms (train or held-out) of a
        random scene: the naming is TRAINED exactly where the synonym filled in is a train one."""
        rng = np.random.default_rng(11)
        templates = C.TRAIN_TEMPLATES + C.HELDOUT_TEMPLATES
        for _ in range(400):
            sp = sample_scene(rng)
            slots = C._slots(sp, "heldout")        # train + held-out synonyms of each slot
            tmpl = templates[int(rng.integers(len(templates)))]
            pick = [s[int(rng.integers(len(s)))] for s in slots]
            if "{verb}" in tmpl:
                act = pick[3] in C.ACTION_VERBS[sp.action][0]
            elif "{ing}" in tmpl:
                act = pick[4] in C.ACTION_GERUNDS[sp.action][0]
            else:
                act = pick[5] in C.ACTION_ACTIVE[sp.action][0]
            want = {"colour": pick[0] in C.COLOUR_WORDS[sp.colour][0],
                    "piece": pick[1] in C.PIECE_WORDS[sp.piece][0],
                    "station": pick[2] in C.STATION_WORDS[sp.station][0], "action": act}
            cap = C._fill(tmpl, *pick)
            got = P.attribute_naming(cap, sp.attributes())
            self.assertEqual(got, {k: T if v else H for k, v in want.items()}, cap)

    def test_committed_prompt_set(self):
        """Every scene of the committed set names all four attributes, and a scene with a
        held-out-only attribute synonym lists a held-out-only word."""
        recs = P.load(os.path.join(ROOT, "tests", "data", "eval_prompts.jsonl"))
        for r in recs[::7]:
            for s in r["scenes"]:
                n = P.attribute_naming(s["caption"], s["attributes"])
                self.assertNotIn(A, n.values(), s["caption"])
                if H in n.values():
                    self.assertTrue(s["unseen_words"], s["caption"])


# ---------------------------------------------------------------- the report on a synthetic run

# (caption, truth, judge's reading): per attribute, R = judge right, W = judge wrong
SYN = {
    "n1_000": [("a red gear moves along at the conveyor, wide shot",          # all trained
                attrs("conveyor", "gear", "red", "moves_along"), "RRRR")],
    "n1_001": [("on the transfer belt a violet sprocket rolls forward seen in a long shot",
                attrs("conveyor", "gear", "purple", "moves_along"), "RWWW")],  # all held-out-only
    "n2_000": [("the press machine flattens the red gear wheel",              # station, action held-out
                attrs("press", "gear", "red", "presses_down"), "WRWR"),
               ("at the drill, a blue pipe is drilled, close up",              # all trained
                attrs("drill", "pipe", "blue", "drilled", "close"), "RWRR")],
}
WRONG = {"station": "packing", "piece": "bracket", "colour": "black", "action": "packed"}


def synthetic_run(d):
    """A run directory as train.eval.run wrote it before the naming field: per_prompt.jsonl
    without scene captions or naming, results.json without adherence_split."""
    from train.eval import run
    rng = np.random.default_rng(0)
    prompts, records = [], []
    for pid, scenes in SYN.items():
        psc, rsc = [], []
        for cap, truth, judged in scenes:
            sp = sample_scene(rng, **truth).to_dict()
            psc.append({"caption": cap, "attributes": truth, "unseen_words": [],
                        "spec": {k: v for k, v in sp.items() if k not in truth}})
            pred = dict(truth)
            for at, c in zip(("station", "piece", "colour", "action"), judged):
                pred[at] = truth[at] if c == "R" else WRONG[at]
            rsc.append({"truth": truth, "pred": pred, "pred_ref": truth, "unseen_words": False})
        n = len(scenes)
        prompts.append({"id": pid, "n_scenes": n, "index": int(pid[-1]), "seed": 7 + len(prompts),
                        "prompt": C.join_scenes([s["caption"] for s in psc]), "scenes": psc})
        records.append({"id": pid, "n_requested": n, "n_generated": n, "cuts": [], "frames": 12 * n,
                        "size": 64, "seconds": 0.5, "scenes": rsc, "sharpness_gen": 10.0,
                        "sharpness_ref": 20.0})
    pfile = os.path.join(d, "prompts.jsonl")
    P.write(prompts, pfile)
    with open(os.path.join(d, "per_prompt.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    feats = rng.normal(size=(4, 8))
    res = run._clean(run.aggregate(run.add_naming([json.loads(json.dumps(r)) for r in records], prompts),
                                   feats, feats + 1, "synthetic", "x.tavm", {}))
    del res["adherence_split"]
    res.update(prompts_file=pfile, limit_per_count=0)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(res, f)


class TestSeenWordReport(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tav_seen_test_")
        synthetic_run(self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def kn(self, block):
        return {a: (block[a]["k"], block[a]["n"]) for a in ("station", "piece", "colour", "action")}

    def test_old_run_is_re_reported(self):
        from train.eval import report
        (res,) = report.load_runs([self.tmp])
        sp = res["adherence_split"]
        self.assertEqual(self.kn(sp["all"]["all_scenes"]),
                         {"station": (3, 4), "piece": (2, 4), "colour": (2, 4), "action": (3, 4)})
        self.assertEqual(self.kn(sp["all"]["seen_words"]),
                         {"station": (2, 2), "piece": (2, 3), "colour": (2, 3), "action": (2, 2)})
        self.assertAlmostEqual(sp["all"]["seen_words"]["mean_four"], (1 + 2 / 3 + 2 / 3 + 1) / 4)
        self.assertEqual(self.kn(sp["n1"]["seen_words"]),
                         {"station": (1, 1), "piece": (1, 1), "colour": (1, 1), "action": (1, 1)})
        self.assertAlmostEqual(sp["n1"]["all_scenes"]["mean_four"], (1 + .5 + .5 + .5) / 4)
        self.assertEqual(self.kn(sp["n2plus"]["seen_words"]),
                         {"station": (1, 1), "piece": (1, 2), "colour": (1, 2), "action": (1, 1)})
        self.assertEqual({a: c[H] for a, c in sp["naming"].items()},
                         {"station": 2, "piece": 1, "colour": 1, "action": 2})
        self.assertEqual(sp["all_four_named_by_trained_words"]["all_four"]["n"], 2)
        seen = sp["all"]["seen_words"]["station"]
        self.assertEqual((seen["value"], round(seen["lo"], 3)), (1.0, 0.342))   # Wilson 2/2
        text = report.table([res], [])
        self.assertIn("| synthetic | 100 [34–100] (2) | 67 [21–94] (3) | 67 [21–94] (3) | "
                      "100 [34–100] (2) | 83 | 62 / 100 | 62 / 75 |", text)
        self.assertIn("station 2, piece 1, colour 1, action 2 of 4 scenes (6 of 16 attribute mentions)",
                      text)
        self.assertIn("on attributes named by trained words NOT met, 83 %", text)

    def test_new_run_needs_no_per_prompt_file(self):
        from train.eval import report
        (res,) = report.load_runs([self.tmp])
        with open(os.path.join(self.tmp, "results.json"), "w") as f:
            json.dump(res, f)
        os.remove(os.path.join(self.tmp, "per_prompt.jsonl"))
        (again,) = report.load_runs([self.tmp])
        self.assertEqual(again["adherence_split"], res["adherence_split"])

    def test_per_prompt_file_that_does_not_match(self):
        from train.eval import report
        pp = os.path.join(self.tmp, "per_prompt.jsonl")
        lines = open(pp).read().splitlines()
        with open(pp, "w") as f:
            f.write("\n".join(lines[1:]) + "\n")
        with self.assertRaises(SystemExit) as e:
            report.load_runs([self.tmp])
        self.assertIn("missing: n1_000", str(e.exception))
        r = json.loads(lines[0])
        r["scenes"][0]["pred"]["station"] = r["scenes"][0]["truth"]["station"] = "drill"
        with open(pp, "w") as f:
            f.write("\n".join([json.dumps(r)] + lines[1:]) + "\n")
        with self.assertRaises(SystemExit) as e:
            report.load_runs([self.tmp])
        self.assertIn("attributes differ", str(e.exception))


if __name__ == "__main__":
    unittest.main()
