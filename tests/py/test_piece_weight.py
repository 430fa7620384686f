"""The piece-weighted loss and the piece contrast: the renderer's piece coverage, the cached
per-latent-pixel masks, the weighted mean, prompt pairs that differ only in the piece and the
contrast hinge (train.stage_tav --piece-weight / --piece-contrast)."""
import dataclasses
import os
import re
import tempfile
import unittest
from unittest import mock

import numpy as np
import torch

from train import denoise as Dn
from train import latents as Lt
from train import model as M
from train.data import render as R
from train.data import scenes as S


class TestPieceCoverage(unittest.TestCase):
    def test_coverage_is_exactly_where_the_piece_shows(self):
        rng = np.random.default_rng(4)
        for station in S.STATIONS:
            sp = S.sample_scene(rng, station=station, colour="red")
            blue = dataclasses.replace(sp, colour="blue")
            a, cover = R.render_scene(sp, 12, 48, np.random.default_rng(1), piece_mask=True)
            b = R.render_scene(blue, 12, 48, np.random.default_rng(1))
            self.assertTrue(np.array_equal(a, R.render_scene(sp, 12, 48, np.random.default_rng(1))),
                            "tracking the piece must not change the frames")
            self.assertEqual(cover.shape, a.shape[:3])
            self.assertGreaterEqual(cover.min(), 0.0)
            self.assertLessEqual(cover.max(), 1.0)
            self.assertGreater((cover > 0.99).sum(), 0, station)
            differs = np.any(a != b, axis=-1)
            self.assertFalse(differs[cover == 0].any(), f"{station}: pixels without the piece changed")
            # (a drilled hole is part of the piece but dark whatever the piece's colour)
            self.assertGreater(differs[cover > 0.99].mean(), 0.8, f"{station}: covered pixels kept their colour")

    def test_close_framing_covers_more_than_wide(self):
        rng = np.random.default_rng(6)
        sp = S.sample_scene(rng, station="drill", framing="wide")
        wide = R.render_scene(sp, 8, 32, np.random.default_rng(0), piece_mask=True)[1].mean()
        close = R.render_scene(dataclasses.replace(sp, framing="close", zoom=2.2), 8, 32,
                               np.random.default_rng(0), piece_mask=True)[1].mean()
        self.assertGreater(close, 2 * wide)

    def test_clip_coverage_follows_cuts_and_dissolves(self):
        rng = np.random.default_rng(8)
        specs = S.sample_scene_sequence(rng, 3)
        tr = [("dissolve", 4), "cut"]
        frames, cuts = R.render_clip(specs, [10, 9, 11], 32, seed=2, transitions=tr)
        f2, c2, cover = R.render_clip(specs, [10, 9, 11], 32, seed=2, transitions=tr, piece_mask=True)
        self.assertTrue(np.array_equal(frames, f2))
        self.assertEqual(cuts, c2)
        self.assertEqual(cover.shape, frames.shape[:3])
        last = R.render_scene(specs[2], 11, 32, np.random.default_rng(
            np.random.SeedSequence(2).spawn(3)[2]), piece_mask=True)[1]
        np.testing.assert_array_equal(cover[19:], last)


class TestPieceMaskSet(unittest.TestCase):
    def test_masks_replay_the_cached_set_and_refuse_other_frames(self):
        with tempfile.TemporaryDirectory() as d, mock.patch.object(Lt, "CACHE", d):
            Lt.render_set("t", "tav", 3, seed=5, size=32)
            masks = Lt.piece_mask_set("t", 4)
            fr = np.load(os.path.join(d, "t.frames.npy"))
            self.assertEqual(masks.shape, (fr.shape[0], 4, 4))
            self.assertGreater(float(masks.astype(np.float32).mean()), 0.0)
            self.assertLessEqual(float(masks.max()), 1.0)
            clips = Lt.ClipSampler(np.zeros((fr.shape[0], 2, 4, 4), np.float16),
                                   __import__("json").load(open(os.path.join(d, "t.json")))["clips"],
                                   seed=0, piece=masks)
            n = len(clips.clips[0]["specs"])
            _, _, cl = clips.batch(n, 2)
            w = clips.piece_cover(cl)
            self.assertEqual(tuple(w.shape), (2, cl[0]["n_frames"], 1, 4, 4))
            o = cl[0]["offset"]
            np.testing.assert_array_equal(w[0, :, 0].numpy(), masks[o:o + cl[0]["n_frames"]].astype(np.float32))

            os.remove(os.path.join(d, "t.piece4.npy"))
            fr[0] = 255 - fr[0]
            np.save(os.path.join(d, "t.frames.npy"), fr)
            with self.assertRaises(RuntimeError):
                Lt.piece_mask_set("t", 4)
            with self.assertRaises(ValueError):
                Lt.piece_mask_set("t", 5)


class TestEitherSampler(unittest.TestCase):
    def test_batches_come_from_both_sets_and_masks_follow(self):
        def sampler(value):
            spec = S.sample_scene(np.random.default_rng(1)).to_dict()
            clips = [{"offset": 0, "n_frames": 4, "specs": [spec, spec]}]
            lat = np.full((4, 2, 2, 2), value, np.float16)
            return Lt.ClipSampler(lat, clips, seed=0, piece=np.full((4, 2, 2), value, np.float16))
        either = Lt.EitherSampler([sampler(1.0), sampler(2.0)], [0.5, 0.5], seed=3)
        seen = set()
        for _ in range(30):
            z, _, cl = either.batch(2, 1)
            seen.add(float(z[0, 0, 0, 0, 0]))
            self.assertEqual(float(either.piece_cover(cl)[0, 0, 0, 0, 0]), float(z[0, 0, 0, 0, 0]))
        self.assertEqual(seen, {1.0, 2.0})


class TestWeightedMean(unittest.TestCase):
    def test_weights(self):
        err = torch.arange(16, dtype=torch.float32).view(1, 2, 2, 2, 2)
        self.assertAlmostEqual(M.weighted_mean(err, torch.ones(1, 2, 1, 2, 2)).item(), err.mean().item())
        w = torch.zeros(1, 2, 1, 2, 2)
        w[:, 1] = 1.0                                  # only the second frame counts
        self.assertAlmostEqual(M.weighted_mean(err, w).item(), err[:, 1].mean().item())
        w2 = 1.0 + 4.0 * w                             # 5x on the second frame
        expect = (err[:, 0].sum() + 5 * err[:, 1].sum()) / (8 + 40)
        self.assertAlmostEqual(M.weighted_mean(err, w2).item(), expect.item(), places=5)


class TestPieceContrast(unittest.TestCase):
    def test_prompt_pairs_differ_only_in_the_piece(self):
        from train.data.captions import PIECE_WORDS
        rng = np.random.default_rng(12)
        for n in (1, 3, 6):
            specs = S.sample_scene_sequence(rng, n)
            a = Lt.phrased_prompt(specs, 5)
            self.assertEqual(a, Lt.phrased_prompt(specs, 5), "same seed, same phrasing")
            for other_seed in (None, 9):
                b = Lt.phrased_prompt(specs, 5, swap="piece", other_seed=other_seed)
                self.assertNotEqual(a, b)
                for ca, cb, sp in zip(a.split(" | "), b.split(" | "), specs):
                    piece_words = {w for split in PIECE_WORDS.values() for syns in split for ph in syns
                                   for w in ph.split()}
                    wa = [w for w in re.findall(r"[a-z]+", ca) if w not in piece_words]
                    wb = [w for w in re.findall(r"[a-z]+", cb) if w not in piece_words]
                    self.assertEqual(wa, wb, f"phrasing changed beyond the piece: {ca!r} / {cb!r}")
            c = Lt.phrased_prompt(specs, 5, swap="colour")
            self.assertNotEqual(a, c)

    def test_hinge(self):
        err = torch.ones(3, 2, 1, 2, 2)
        cover = torch.zeros(3, 2, 1, 2, 2)
        cover[:, :, :, 0, 0] = 1.0                      # one piece pixel per frame
        other = err.clone()
        other[0, :, :, 0, 0] += 0.5                     # clip 0: the wrong piece costs 0.5
        other[1, :, :, 1, 1] += 5.0                     # clip 1: only off the piece
        keep = torch.tensor([True, True, False])
        got = Dn.piece_contrast_loss(err, other, cover, keep, margin=0.1)
        self.assertAlmostEqual(got.item(), (0.0 + 0.1) / 2, places=6)   # clip 2 not kept
        none = Dn.piece_contrast_loss(err, other, cover, torch.zeros(3, dtype=torch.bool), 0.1)
        self.assertEqual(none.item(), 0.0)


if __name__ == "__main__":
    unittest.main()
