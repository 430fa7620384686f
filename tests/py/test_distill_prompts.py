"""The distillation's teacher-pair prompts (train.stage_distill.random_prompt): the default draws
stay what the shipped student trained on; --same-station P gives cuts at one station. Also its
training targets: the boundary weights and the teacher's guided velocity."""
import unittest

import numpy as np
import torch

from train import golden
from train import model as M
from train import stage_distill as Sd
from train.data import captions as C
from train.eval import prompts as P


def stations(prompt):
    """The station each scene's caption names (None when not exactly one)."""
    out = []
    for cap in C.split_scenes(prompt):
        found = {v for a, v, _ in P.named_values(cap) if a == "station"}
        out.append(found.pop() if len(found) == 1 else None)
    return out


class TestDistillPrompts(unittest.TestCase):
    def test_zero_share_draws_as_before(self):
        # what random_prompt drew before --same-station existed (train/stage_distill.py at 2ba9721)
        before = ("the red wheel travels along at the packing station in a wide view | the black "
                  "crate spins at the inspection station in a close view | the yellow gear is "
                  "hoisted up at the conveyor in a close view")
        self.assertEqual(Sd.random_prompt(np.random.default_rng(5), 3), before)
        self.assertEqual(Sd.random_prompt(np.random.default_rng(5), 3, 0.0), before)

    def test_station_changes_or_stays(self):
        rng = np.random.default_rng(6)
        for _ in range(20):
            st = stations(Sd.random_prompt(rng, 4))
            self.assertTrue(all(x != y for x, y in zip(st, st[1:]) if x and y), st)
        same = known = 0
        for _ in range(20):
            st = stations(Sd.random_prompt(rng, 4, 1.0))
            pairs = [(x, y) for x, y in zip(st, st[1:]) if x and y]
            same, known = same + sum(x == y for x, y in pairs), known + len(pairs)
        self.assertGreater(known, 20)
        self.assertEqual(same, known)

    def test_bad_share_refused(self):
        with self.assertRaises(SystemExit):
            Sd.main(["--same-station", "1.5"])
        with self.assertRaises(SystemExit):
            Sd.main(["--cut-weight", "0"])

    def test_cut_weights(self):
        w = Sd.cut_weights(3, 4, 3.0)            # boundaries after frames 3 and 7
        self.assertAlmostEqual(float(w.mean()), 1.0, places=6)
        heavy = [i for i in range(12) if w[i] > 1]
        self.assertEqual(heavy, [3, 4, 7, 8])
        self.assertAlmostEqual(float(w[3] / w[0]), 3.0, places=5)
        self.assertTrue(bool((Sd.cut_weights(1, 4, 3.0) == 1).all()))   # one scene: no cut


class TestGuidedTarget(unittest.TestCase):
    def test_guided_velocity_is_the_samplers_step(self):
        # one Euler step from tau = 1 to 0 moves the noise by exactly -v, with v the guided
        # velocity the sampler computes: the target must be that same v
        torch.manual_seed(0)
        m = golden.tiny_model()
        m.cfg.cfg_scale = 3.0
        T, C, h = 6, m.cfg.latent_channels, m.cfg.latent_size
        noise = torch.randn(1, T, C, h, h)
        prompt = "a red gear | a blue plate"
        emb, mask = m.encode_text([prompt])
        nemb, nmask = m.null_text(1)
        with torch.no_grad():
            z0 = M.sample(m.dit, noise, emb, mask, nemb, nmask, steps=1, cfg_scale=3.0)
            vc = m.dit(noise, torch.ones(1), emb, mask)
        v = Sd.guided_velocity(m, noise, torch.ones(1), [prompt])
        self.assertTrue(torch.allclose(noise - v, z0, atol=1e-5))
        self.assertGreater((v - vc).abs().mean().item(), 1e-3)   # guidance changed it


if __name__ == "__main__":
    unittest.main()
