"""train/model.py and train/export.py on the tiny configuration (seconds, no training)."""
import os
import tempfile
import unittest

import numpy as np
import torch

from train import golden
from train import model as M


class TestTokenizer(unittest.TestCase):
    def setUp(self):
        self.tok = M.Tokenizer(golden.TINY_WORDS)

    def test_prompt_format(self):
        ids, sc = self.tok.encode("A red gear | close-view: the press", 24)
        words = [self.tok.itos[i] for i in ids]
        self.assertEqual(words, ["<bos>", "a", "red", "gear", "<sep>", "close", "view", "the", "press"])
        self.assertEqual(sc, [0, 0, 0, 0, 1, 1, 1, 1, 1])
        self.assertEqual(M.split_prompt(" a | | b |"), ["a", "b"])

    def test_unknown_words_are_named(self):
        with self.assertRaises(M.UnknownWordError) as cm:
            self.tok.encode("a purple gear | a red widget", 24)
        self.assertEqual(cm.exception.words, ["purple", "widget"])
        self.assertIn("'widget'", str(cm.exception))

    def test_scene_limits(self):
        with self.assertRaises(ValueError):
            self.tok.encode(" | ".join(["a gear"] * 7), 64)
        with self.assertRaises(ValueError):
            self.tok.encode("a gear | !!", 24)

    def test_words_rule(self):
        self.assertEqual(M.split_words("Close-up: L-bracket's 4x"), ["close", "up", "l", "bracket", "s", "4x"])
        self.assertEqual(M.split_words("caf\u00e9"), ["caf"])


class TestModel(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.m = golden.tiny_model()
        self.cfg = self.m.cfg

    def test_shapes(self):
        cfg, m = self.cfg, self.m
        emb, mask = m.encode_text(["a red gear | the press stamps a plate", "a blue plate"])
        self.assertEqual(tuple(emb.shape), (2, mask.shape[1], cfg.text_width))
        self.assertEqual(mask.sum(1).tolist(), [10, 4])
        x = torch.rand(2, 5, 3, cfg.image_size, cfg.image_size) * 2 - 1
        z = m.ae.encode(x)
        h = cfg.latent_size
        self.assertEqual(tuple(z.shape), (2, 5, cfg.latent_channels, h, h))
        self.assertEqual(tuple(m.ae.decode(z).shape), tuple(x.shape))
        v = m.dit(z, torch.tensor([0.3, 0.9]), emb, mask)
        self.assertEqual(v.shape, z.shape)

    def test_padding_does_not_change_output(self):
        m = self.m
        ids, sc = m.tok.encode_batch(["a red gear"], 24)
        ids2, sc2 = m.tok.encode_batch(["a red gear"], 24, pad_to=24)
        z = torch.randn(1, 3, 4, 4, 4)
        tau = torch.tensor([0.5])
        with torch.no_grad():
            a = m.dit(z, tau, *m.text(ids, sc))
            b = m.dit(z, tau, *m.text(ids2, sc2))
        self.assertLess((a - b).abs().max().item(), 1e-5)

    def test_optimiser_step_lowers_loss(self):
        cfg = self.cfg
        m = M.TavModel(cfg, M.Tokenizer(golden.TINY_WORDS))
        g = torch.Generator().manual_seed(3)
        z0 = torch.randn(4, 3, cfg.latent_channels, 4, 4, generator=g)
        noise = torch.randn(z0.shape, generator=g)
        tau = torch.tensor([0.2, 0.4, 0.6, 0.8])
        emb, mask = m.encode_text(["a red gear"] * 4)
        emb = emb.detach()
        opt = torch.optim.Adam(m.dit.parameters(), lr=1e-3)
        l0 = M.flow_loss(m.dit, z0, emb, mask, tau=tau, noise=noise)
        opt.zero_grad()
        l0.backward()
        opt.step()
        with torch.no_grad():
            l1 = M.flow_loss(m.dit, z0, emb, mask, tau=tau, noise=noise)
        self.assertLess(l1.item(), l0.item())

    def _sample(self, seed):
        m, cfg = self.m, self.cfg
        T, C, h = 6, cfg.latent_channels, cfg.latent_size
        noise = torch.from_numpy(M.portable_noise(seed, T * C * h * h)).view(1, T, C, h, h)
        emb, mask = m.encode_text(["a red gear | a blue plate"])
        nemb, nmask = m.null_text(1)
        return M.sample(m.dit, noise, emb, mask, nemb, nmask, steps=3, cfg_scale=3.0)

    def test_same_seed_same_sample(self):
        a, b, c = self._sample(7), self._sample(7), self._sample(8)
        self.assertTrue(torch.equal(a, b))
        self.assertGreater((a - c).abs().mean().item(), 0.1)

    def test_portable_noise(self):
        x = M.portable_noise(123, 20000)
        self.assertEqual(x.dtype, np.float32)
        self.assertAlmostEqual(float(x.mean()), 0.0, delta=0.03)
        self.assertAlmostEqual(float(x.std()), 1.0, delta=0.03)
        self.assertTrue(np.array_equal(x[:100], M.portable_noise(123, 100)))

    def test_export_round_trip(self):
        from train import export
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.tavm")
            export.export_model(self.m, p, with_encoder=True)
            m2, meta = export.import_model(p)
        self.assertEqual(m2.cfg.to_dict(), self.cfg.to_dict())
        self.assertEqual(m2.tok.itos, self.m.tok.itos)
        sd1, sd2 = self.m.state_dict(), m2.state_dict()
        self.assertEqual(set(sd1), set(sd2))
        for k in sd1:
            self.assertTrue(torch.equal(sd1[k], sd2[k]), k)


class TestSchedule(unittest.TestCase):
    def test_budget_lr(self):
        from train import common as Cm
        # steps only: warm-up from the run's own start, then the cosine down to the floor
        self.assertAlmostEqual(Cm.budget_lr(16000, 16000, 20000, 1e-3), 1e-3 / 200)
        self.assertAlmostEqual(Cm.budget_lr(16200, 16000, 20000, 1e-3), 1e-3)
        self.assertAlmostEqual(Cm.budget_lr(20000, 16000, 20000, 1e-3), 1e-4)
        # the wall-clock budget further along than the steps: it sets the point on the cosine
        half = Cm.budget_lr(16500, 16000, 20000, 1e-3, wall_s=30 * 60, minutes=60)
        self.assertAlmostEqual(half, Cm.cosine_lr(2000, 4000, 1e-3, warmup=200))
        self.assertAlmostEqual(Cm.budget_lr(16500, 16000, 20000, 1e-3, wall_s=3600, minutes=60), 1e-4)
        # steps further along than the clock: the steps set it; no minutes: the clock is ignored
        self.assertEqual(Cm.budget_lr(19000, 16000, 20000, 1e-3, wall_s=60, minutes=60),
                         Cm.budget_lr(19000, 16000, 20000, 1e-3))
        self.assertEqual(Cm.budget_lr(16500, 16000, 20000, 1e-3, wall_s=3600),
                         Cm.budget_lr(16500, 16000, 20000, 1e-3))


if __name__ == "__main__":
    unittest.main()
