"""A training run's --minutes is its budget across resumptions (train.common.within_budget):
`make model` run again after an interruption finishes each stage within that stage's budget,
instead of giving the interrupted stage a fresh one."""
import argparse
import os
import tempfile
import unittest
from unittest import mock

import torch

from train import common as Cm
from train import denoise as Dn
from train import golden


class FakeSampler:
    """Random latents of the tiny model's shape with one fixed training caption."""

    def __init__(self, cfg):
        self.cfg = cfg

    def batch(self, n, B):
        c, h = self.cfg.latent_channels, self.cfg.latent_size
        return torch.randn(B, n * self.cfg.frames_per_scene, c, h, h), ["a red gear"] * B, [{}] * B


class TestRunBudget(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        for name, sub in (("RUNS", "runs"), ("CKPT", "checkpoints")):
            patcher = mock.patch.object(Cm, name, os.path.join(tmp.name, sub))
            patcher.start()
            self.addCleanup(patcher.stop)
        # a stage file of stage "tav" that a continuation counts on from: step 100, 1,000 s
        torch.manual_seed(0)
        self.m = golden.tiny_model()
        self.init = os.path.join(Cm.CKPT, "tav.pt")
        Cm.save_fp16(self.init, self.m, {"stage": "tav", "steps": 100, "wall_s": 1000.0,
                                         "cpu_s": 900.0})
        self.ck = os.path.join(Cm.RUNS, "cont", "ckpt.pt")

    def run_stage(self, steps, minutes):
        a = argparse.Namespace(threads=1, lr=1e-4, steps=steps, minutes=minutes, time_schedule=True,
                               save_every=1000, sheet_every=1000)
        sampler = FakeSampler(self.m.cfg)
        with mock.patch.object(Dn, "eval_prompts", lambda: ["a red gear"]):
            Dn.train_stage("tav", a, {1: sampler}, self.init, ["ae.", "text.", "dit."], {1: 1.0},
                           tokens_per_step=self.m.cfg.frames_per_scene * self.m.cfg.tokens_per_frame,
                           name="cont")
        return torch.load(self.ck, map_location="cpu")

    def test_resumed_run_keeps_its_budget(self):
        ck = self.run_stage(steps=102, minutes=60)
        self.assertEqual(ck["step"], 102)
        self.assertEqual(ck["extra"]["run_wall0"], 1000.0)     # the initial file's count
        self.assertGreaterEqual(ck["extra"]["wall"], 1000.0)
        # pretend this run has used an hour: a 60-minute budget is spent, a 61-minute one is not
        ck["extra"]["wall"] = 1000.0 + 3600.0
        torch.save(ck, self.ck)
        self.assertEqual(self.run_stage(steps=105, minutes=60)["step"], 102)
        self.assertEqual(self.run_stage(steps=105, minutes=61)["step"], 105)

    def test_checkpoint_without_run_start_counts_from_the_initial_file(self):
        ck = self.run_stage(steps=101, minutes=60)
        del ck["extra"]["run_wall0"]                 # written before run_wall0 was stored
        ck["extra"]["wall"] = 1000.0 + 30 * 60.0     # half an hour into this run
        torch.save(ck, self.ck)
        self.assertEqual(self.run_stage(steps=103, minutes=30)["step"], 101)
        self.assertEqual(self.run_stage(steps=103, minutes=31)["step"], 103)


if __name__ == "__main__":
    unittest.main()
