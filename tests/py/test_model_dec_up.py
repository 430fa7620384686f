"""The asymmetric autoencoder (ModelConfig.dec_up_channels, train/stage_ae_up.py) and its export
(model.dec_up_levels / model.dec_up_channels.<i>): old configs still load, the shapes, the file
round trip, the decoder swap of `train.export --decoder`, the stage's pair data and init."""
import os
import tempfile
import unittest
import unittest.mock

import numpy as np
import torch
import torch.nn.functional as F

from train import common as Cm
from train import export, golden, stage_ae_up, tavm
from train import model as M
from tests.py.test_stage_budget import check_rerun_adds_no_time

SHIPPED_UP = dict(Cm.DEFAULT_CONFIG, image_size=128, dec_up_channels=(16,))


class TestConfig(unittest.TestCase):
    def test_old_dict_loads_as_symmetric(self):
        old = dict(Cm.DEFAULT_CONFIG, ae_channels=[16, 32, 64], vocab_size=161)  # no dec_up key
        cfg = M.ModelConfig.from_dict(old)
        self.assertEqual(cfg.dec_up_channels, ())
        self.assertEqual((cfg.image_size, cfg.enc_image_size, cfg.latent_size), (64, 64, 8))
        self.assertEqual(M.ModelConfig.from_dict(cfg.to_dict()), cfg)

    def test_committed_checkpoint_loads(self):
        path = os.path.join(Cm.CKPT, "ae.pt")
        if not os.path.exists(path):
            self.skipTest("train/checkpoints/ae.pt is not there")
        ck = torch.load(path, map_location="cpu")
        self.assertNotIn("dec_up_channels", ck["cfg"])
        cfg = M.ModelConfig.from_dict(ck["cfg"])
        ae = M.AutoEncoder(cfg)
        ae.load_state_dict({k[3:]: v.float() for k, v in ck["model"].items() if k.startswith("ae.")})
        self.assertEqual(cfg.dec_up_channels, ())

    def test_up_shapes(self):
        cfg = M.ModelConfig(**SHIPPED_UP)
        self.assertEqual((cfg.image_size, cfg.enc_image_size, cfg.latent_size), (128, 64, 8))
        ae = M.AutoEncoder(cfg)
        names = {k for k, _ in ae.named_parameters()}
        self.assertIn("dec.up.3.0.weight", names)
        self.assertNotIn("dec.up.4.0.weight", names)
        self.assertEqual(tuple(ae.dec.up[3][1].weight.shape), (16, 16, 3, 3))
        with torch.no_grad():
            z = ae.encode(torch.rand(2, 3, 3, 64, 64) * 2 - 1)
            self.assertEqual(tuple(z.shape), (2, 3, 4, 8, 8))
            self.assertEqual(tuple(ae.decode(z).shape), (2, 3, 3, 128, 128))


class TestExport(unittest.TestCase):
    def test_round_trip_with_extra_level(self):
        m = golden.tiny_model(golden.TINY_UP_CONFIG)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "up.tavm")
            export.export_model(m, p, with_encoder=True)
            meta = tavm.read(p).meta
            m2, _ = export.import_model(p)
        self.assertEqual(meta["model.dec_up_levels"], 1)
        self.assertEqual(meta["model.dec_up_channels.0"], 6)
        self.assertEqual(meta["model.image_size"], 64)
        self.assertEqual(m2.cfg, m.cfg)
        sd1, sd2 = m.state_dict(), m2.state_dict()
        self.assertEqual(set(sd1), set(sd2))
        for k in sd1:
            self.assertTrue(torch.equal(sd1[k], sd2[k]), k)

    def test_symmetric_file_has_no_dec_up_keys(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.tavm")
            export.export_model(golden.tiny_model(), p)
            meta = tavm.read(p).meta
            m2, _ = export.import_model(p)
        self.assertFalse([k for k in meta if k.startswith("model.dec_up")])
        self.assertEqual(m2.cfg.dec_up_channels, ())

    def _stage_dict(self, m):
        return {"model": {k: v.half() for k, v in m.state_dict().items()}, "cfg": m.cfg.to_dict()}

    def _fp16(self, m):
        """m with its weights rounded to fp16, as Cm.load_fp16 gives them."""
        m.load_state_dict({k: v.half().float() for k, v in m.state_dict().items()})
        return m

    def test_decoder_swap(self):
        base = self._fp16(golden.tiny_model())
        up = golden.tiny_model(golden.TINY_UP_CONFIG)
        up.ae.latent_mean.copy_(base.ae.latent_mean)
        up.ae.latent_std.copy_(base.ae.latent_std)
        out = export.with_decoder(base, self._stage_dict(up))
        self.assertEqual((out.cfg.image_size, out.cfg.dec_up_channels), (64, (6,)))
        sd = out.state_dict()
        self.assertTrue(torch.equal(sd["dit.patch_in.weight"], base.state_dict()["dit.patch_in.weight"]))
        self.assertTrue(torch.equal(sd["ae.dec.up.3.0.weight"], up.ae.dec.up[3][0].weight.half().float()))

    def test_decoder_swap_refuses_other_latent_space(self):
        base = self._fp16(golden.tiny_model())
        up = golden.tiny_model(golden.TINY_UP_CONFIG)   # its own latent statistics
        up.ae.latent_std.mul_(2)
        with self.assertRaisesRegex(ValueError, "latent_std"):
            export.with_decoder(base, self._stage_dict(up))
        other = golden.tiny_model(dict(golden.TINY_UP_CONFIG, ae_channels=(8, 8)))
        with self.assertRaisesRegex(ValueError, "latent space"):
            export.with_decoder(base, self._stage_dict(other))


class TestStage(unittest.TestCase):
    def test_renders_line_up(self):
        from train.data.render import render_scene
        from train.data.scenes import sample_scene
        spec = sample_scene(np.random.default_rng(3))
        a = render_scene(spec, 4, 32, np.random.default_rng(9))
        b = render_scene(spec, 4, 64, np.random.default_rng(9))
        aligned = stage_ae_up.alignment_mse(a, b)
        shifted = stage_ae_up.alignment_mse(np.roll(a, 1, axis=2), b)   # one pixel off
        self.assertLess(aligned, stage_ae_up.ALIGN_MAX)
        self.assertGreater(shifted, 10 * aligned)

    def test_pass_through_init(self):
        torch.manual_seed(0)
        small = M.AutoEncoder(M.ModelConfig(**Cm.DEFAULT_CONFIG))
        up = M.AutoEncoder(M.ModelConfig(**SHIPPED_UP))
        sd = up.state_dict()
        sd.update({k: v for k, v in small.state_dict().items() if sd[k].shape == v.shape})
        up.load_state_dict(sd)
        stage_ae_up.init_pass_through(up.dec, small.dec, 3, gain=32.0)
        z = torch.randn(2, 4, 8, 8)
        with torch.no_grad():
            ref = F.interpolate(small.dec(z), scale_factor=2, mode="nearest")
            y = up.dec(z)
        inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
        err = (y - ref)[inner].pow(2).mean() / ref[inner].pow(2).mean()
        self.assertLess(err.item(), 1e-3)


class TestStageRerun(unittest.TestCase):
    def test_rerun_of_a_finished_run_adds_no_time(self):
        with tempfile.TemporaryDirectory() as tmp, \
                unittest.mock.patch.object(Cm, "RUNS", os.path.join(tmp, "runs")), \
                unittest.mock.patch.object(Cm, "ROOT", tmp):     # its pair cache too
            ae, out = os.path.join(tmp, "ae.pt"), os.path.join(tmp, "ae_up.pt")
            small = M.ModelConfig(**dict(golden.TINY_CONFIG, image_size=64))   # renders line up at 64
            Cm.save_fp16(ae, stage_ae_up.AEOnly(small), {})
            args = ["--ae", ae, "--out", out, "--scenes", str(stage_ae_up.N_VAL + 2), "--steps", "2",
                    "--batch", "2", "--threads", "1", "--up-width", "8"]
            check_rerun_adds_no_time(self, lambda: stage_ae_up.main(args), out)


if __name__ == "__main__":
    unittest.main()
