"""train.repatch: a DiT re-patched to a smaller patch computes the old function on latents
that are constant over each old patch, keeps every other weight, and load_fp16's "patch"
override uses it."""
import os
import tempfile
import unittest

import torch

from train import common as Cm
from train import golden
from train.repatch import repatch


def smooth_latents(T=6, C=4, g=2, p=2, seed=0):
    """[1, T, C, g*p, g*p], constant over each p x p block."""
    z = torch.randn(1, T, C, g, g, generator=torch.Generator().manual_seed(seed))
    return z.repeat_interleave(p, 3).repeat_interleave(p, 4)


def block_mean(v, p=2):
    B, T, C, H, W = v.shape
    m = v.reshape(B, T, C, H // p, p, W // p, p).mean((4, 6))
    return m.repeat_interleave(p, 3).repeat_interleave(p, 4)


class TestRepatch(unittest.TestCase):
    def setUp(self):
        self.m = golden.tiny_model()            # patch 2, 4x4 latents: 4 tokens per frame
        with torch.no_grad():                   # a trained model's output layers are not zero
            g = torch.Generator().manual_seed(1)
            for b in self.m.dit.blocks:
                b.mod.weight.normal_(0, 0.05, generator=g)
            self.m.dit.final_mod.weight.normal_(0, 0.05, generator=g)
            self.m.dit.patch_out.weight.normal_(0, 0.2, generator=g)
            self.m.dit.patch_out.bias.normal_(0, 0.2, generator=g)
        self.text = self.m.encode_text(["a red gear | the press stamps a blue plate"])

    def test_smooth_latents_give_the_old_output_block_means(self):
        n = repatch(self.m, 1)
        self.assertEqual((n.cfg.patch, n.cfg.tokens_per_frame), (1, 16))
        z, tau = smooth_latents(), torch.tensor([0.4])
        with torch.no_grad():
            v2 = self.m.dit(z, tau, *self.text)
            v1 = n.dit(z, tau, *self.text)
        self.assertGreater(v2.abs().mean().item(), 0.1)   # the check is not on zeros
        self.assertLess((v1 - block_mean(v2)).abs().max().item(), 1e-5)
        # on latents that vary inside a patch the two models do differ
        zr = torch.randn(1, 6, 4, 4, 4, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            self.assertGreater((n.dit(zr, tau, *self.text) - self.m.dit(zr, tau, *self.text)).abs().max().item(), 1e-3)

    def test_other_weights_are_shared_and_bad_patches_refused(self):
        n = repatch(self.m, 1)
        old, new = self.m.state_dict(), n.state_dict()
        for k, v in old.items():
            if not k.startswith(("dit.patch_", "dit.pos_s")):
                self.assertTrue(torch.equal(v, new[k]), k)
        self.assertEqual(new["dit.pos_s"].shape, (16, 32))
        self.assertTrue(torch.equal(new["dit.pos_s"][5], old["dit.pos_s"][0]))   # (1,1) <- (0,0)
        self.assertTrue(torch.equal(new["dit.pos_s"][15], old["dit.pos_s"][3]))  # (3,3) <- (1,1)
        self.assertIs(repatch(self.m, 2), self.m)
        for q in (0, 3):
            with self.assertRaisesRegex(ValueError, "does not divide"):
                repatch(self.m, q)

    def test_load_fp16_patch_override(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "stage.pt")
            Cm.save_fp16(p, self.m)
            m1, _ = Cm.load_fp16(p, {"patch": 1})
            m2, _ = Cm.load_fp16(p)
        self.assertEqual((m1.cfg.patch, m2.cfg.patch), (1, 2))
        self.assertTrue(torch.equal(m1.dit.patch_in.weight, repatch(m2, 1).dit.patch_in.weight))


if __name__ == "__main__":
    unittest.main()
