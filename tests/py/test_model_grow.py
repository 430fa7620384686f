"""train.grow: a deepened DiT computes what the old one did, and its new blocks learn."""
import unittest

import torch

from train import golden
from train.grow import grow_depth


class TestGrowDepth(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.m = golden.tiny_model()
        # a trained model's blocks are not the identity: give every weight random values
        with torch.no_grad():
            for p in self.m.dit.parameters():
                p.normal_(0, 0.05)
        cfg = self.m.cfg
        self.z = torch.randn(2, 3, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        self.tau = torch.tensor([0.3, 0.8])
        self.emb, self.mask = self.m.encode_text(["a red gear | the press stamps a plate", "a blue plate"])

    def test_same_function(self):
        old = self.m.cfg.depth
        for depth in (old + 1, 2 * old, 3 * old + 1):
            g = grow_depth(self.m, depth)
            self.assertEqual(len(g.dit.blocks), depth)
            with torch.no_grad():
                a = self.m.dit(self.z, self.tau, self.emb, self.mask)
                b = g.dit(self.z, self.tau, self.emb, self.mask)
            self.assertGreater(a.abs().mean().item(), 1e-3)
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
            # old block i sits at i * depth // old, in order
            for i, blk in enumerate(self.m.dit.blocks):
                self.assertTrue(torch.equal(g.dit.blocks[i * depth // old].mlp.fc1.weight,
                                            blk.mlp.fc1.weight))

    def test_new_blocks_get_gradients(self):
        g = grow_depth(self.m, 2 * self.m.cfg.depth)
        new = g.dit.blocks[1]
        out = g.dit(self.z, self.tau, self.emb.detach(), self.mask)
        out.pow(2).mean().backward()
        self.assertGreater(new.mod.weight.grad.abs().sum().item(), 0)
        self.assertGreater(new.attn_c.o.weight.grad.abs().sum().item(), 0)

    def test_shrinking_refused(self):
        with self.assertRaises(ValueError):
            grow_depth(self.m, self.m.cfg.depth - 1)
        self.assertIs(grow_depth(self.m, self.m.cfg.depth), self.m)


if __name__ == "__main__":
    unittest.main()
