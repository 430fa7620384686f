"""train/data: attribute space, renderer and captions (fast: a handful of small scenes)."""
import unittest

import numpy as np

from train.data import captions as C
from train.data import render as R
from train.data import scenes as S


class TestScenes(unittest.TestCase):
    def test_attribute_space_sizes(self):
        self.assertGreaterEqual(len(S.STATIONS), 8)
        self.assertGreaterEqual(len(S.PIECES), 6)
        self.assertEqual(len(S.COLOURS), 8)
        self.assertGreaterEqual(len(S.ACTIONS), 6)
        self.assertGreaterEqual(len(S.FRAMINGS), 2)
        used = {a for acts in S.STATION_ACTIONS.values() for a in acts}
        self.assertEqual(used, set(S.ACTIONS), "every action must be reachable from a station")

    def test_sample_valid_and_roundtrip(self):
        rng = np.random.default_rng(3)
        for _ in range(50):
            sp = S.sample_scene(rng)
            self.assertTrue(S.valid_combination(sp.station, sp.action))
            self.assertEqual(S.SceneSpec.from_dict(sp.to_dict()), sp)
        with self.assertRaises(ValueError):
            S.sample_scene(rng, station="packing", action="sparks")

    def test_same_station_steps(self):
        rng = np.random.default_rng(21)
        for _ in range(20):
            seq = S.sample_scene_sequence(rng, 5, p_same_station=1.0)
            for a, b in zip(seq, seq[1:]):
                self.assertEqual((a.station, a.piece, a.colour), (b.station, b.piece, b.colour))
                self.assertNotEqual((a.action, a.framing), (b.action, b.framing))
                self.assertTrue(S.valid_combination(b.station, b.action))
        mixed = [S.sample_scene_sequence(rng, 6, p_same_station=0.5) for _ in range(40)]
        same = sum(a.station == b.station for q in mixed for a, b in zip(q, q[1:]))
        self.assertTrue(60 <= same <= 140, same)          # 200 boundaries, about half
        a = S.sample_scene_sequence(np.random.default_rng(3), 6)
        b = S.sample_scene_sequence(np.random.default_rng(3), 6, p_same_station=0.0)
        self.assertEqual(a, b, "p_same_station=0 must draw what the committed sets drew")

    def test_sequence_changes_station(self):
        seq = S.sample_scene_sequence(np.random.default_rng(1), 6)
        for a, b in zip(seq, seq[1:]):
            self.assertNotEqual(a.station, b.station)


class TestRender(unittest.TestCase):
    def test_shapes_and_sizes(self):
        sp = S.sample_scene(np.random.default_rng(0), station="welding_robot", action="sparks")
        for size in (32, 64, 128):
            v = R.render_scene(sp, 5, size, np.random.default_rng(0))
            self.assertEqual(v.shape, (5, size, size, 3))
            self.assertEqual(v.dtype, np.uint8)
            self.assertGreater(v.std(), 10.0, "a frame should not be flat")
        with self.assertRaises(ValueError):
            R.render_scene(sp, 4, 4)
        with self.assertRaises(ValueError):
            R.render_scene(sp, 0, 32)

    def test_clip_determinism_and_cuts(self):
        specs = S.sample_scene_sequence(np.random.default_rng(2), 3)
        a, cuts = R.render_clip(specs, [8, 12, 8], 32, seed=7, transitions=["cut", ("dissolve", 4)])
        b, _ = R.render_clip(specs, [8, 12, 8], 32, seed=7, transitions=["cut", ("dissolve", 4)])
        self.assertEqual(a.shape, (28, 32, 32, 3))
        self.assertEqual(cuts, [8, 20])
        self.assertTrue(np.array_equal(a, b), "same seed must give the same bytes")
        specs2 = S.sample_scene_sequence(np.random.default_rng(3), 3)
        c, _ = R.render_clip(specs2, [8, 12, 8], 32, seed=8)
        self.assertFalse(np.array_equal(a, c))
        # a hard cut is a big jump; frames inside a scene change little
        d = np.abs(a.astype(np.int16)[1:] - a.astype(np.int16)[:-1]).mean(axis=(1, 2, 3))
        self.assertGreater(d[7], 3 * np.median(d), "the cut at frame 8 should stand out")
        spans = R.transition_spans([8, 12, 8], ["cut", ("dissolve", 4)])
        self.assertEqual(spans[1]["span"], [18, 22])

    def test_cuts_change_more_than_any_frame_inside_a_scene(self):
        from train.data.make_dataset import make_clip
        cut, intra = [], []
        for i in range(10):
            clip, rec = make_clip("tav", 99, i, 32, 48, 2, 6, 0.0)
            f = clip.astype(np.int16)
            d = np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))
            for k in range(1, clip.shape[0]):
                (cut if k in rec["cuts"] else intra).append(d[k - 1])
        self.assertGreater(min(cut), max(intra), "a change of step must stand out from motion")

    def test_every_station_and_action_renders_distinct(self):
        rng = np.random.default_rng(5)
        means = []
        for st in S.STATIONS:
            for ac in S.STATION_ACTIONS[st]:
                sp = S.sample_scene(rng, station=st, action=ac, framing="wide")
                v = R.render_scene(sp, 4, 32, np.random.default_rng(0))
                self.assertEqual(v.shape, (4, 32, 32, 3))
            means.append(v.reshape(-1, 3).mean(axis=0))
        means = np.array(means)
        dist = np.sqrt(((means[:, None] - means[None]) ** 2).sum(-1))
        np.fill_diagonal(dist, 1e9)
        self.assertGreater(dist.min(), 5.0, "stations should differ in overall colour")


class TestCaptions(unittest.TestCase):
    def test_phrasings_and_heldout(self):
        rng = np.random.default_rng(4)
        vocab = set(C.vocabulary())
        for _ in range(8):
            sp = S.sample_scene(rng)
            train = set(C.all_captions(sp, "train"))
            held = set(C.all_captions(sp, "heldout"))
            self.assertGreaterEqual(len(train), 5)
            self.assertTrue(held)
            self.assertFalse(train & held, "held-out phrasings must never be produced by train")
            drawn = {C.caption(sp, rng, "train") for _ in range(40)}
            self.assertGreaterEqual(len(drawn), 5)
            self.assertTrue(drawn <= train)
            for c in train | held:
                for w in C.tokenize(c):
                    self.assertIn(w, vocab)
        self.assertEqual(C.vocabulary(), sorted(set(C.vocabulary())))
        self.assertTrue(all(w == w.lower() for w in vocab))

    def test_prompt_format(self):
        p = C.join_scenes(["A red box moves along", "  the press,  wide shot "])
        self.assertEqual(p, "A red box moves along | the press, wide shot")
        self.assertEqual(C.split_scenes(p), ["A red box moves along", "the press, wide shot"])
        self.assertEqual(C.tokenize(p), ["a", "red", "box", "moves", "along", "<sep>",
                                         "the", "press", "wide", "shot"])
        self.assertEqual(C.tokenize("Close-up: L-bracket's 4x"), ["close", "up", "l", "bracket", "s", "4x"])
        with self.assertRaises(ValueError):
            C.join_scenes(["a | b"])
        self.assertEqual(C.tokenize("| a || b |"), ["a", "<sep>", "b"])
        self.assertEqual(C.scenes_without_words("a | ... | b"), [1])

    def test_committed_tokenizer_cases_match(self):
        import json
        import os
        from train.data.tokenizer_cases import cases
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                            "tokenizer_cases.json")
        with open(path, encoding="utf-8") as f:
            committed = json.load(f)
        self.assertEqual(committed, cases(),
                         "tests/data/tokenizer_cases.json is stale: python3 -m train.data.tokenizer_cases")


if __name__ == "__main__":
    unittest.main()
