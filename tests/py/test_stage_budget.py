"""A training run's --minutes is its budget across resumptions (train.common.within_budget):
`make model` run again after an interruption finishes each stage within that stage's budget,
instead of giving the interrupted stage a fresh one; and a resumed run's stage file still reports
the whole run (losses of the steps before the interruption, wall and CPU time); a rerun of a
finished run adds no time (common.RunClock)."""
import argparse
import os
import tempfile
import unittest
from unittest import mock

import torch

from train import common as Cm
from train import denoise as Dn
from train import golden
from train import stage_ae
from train import stage_distill as Sd


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

    def test_resumed_run_reports_the_losses_of_its_earlier_steps(self):
        ck = self.run_stage(steps=103, minutes=60)
        ck["extra"]["wall"] = 1000.0 + 3600.0       # spent: the resumed run takes no step
        torch.save(ck, self.ck)
        self.run_stage(steps=105, minutes=60)
        _, info = Cm.load_fp16(os.path.join(Cm.CKPT, "cont.pt"))
        self.assertEqual(info["steps"], 103)
        head, rows = Cm.read_csv(os.path.join(Cm.RUNS, "cont", "loss.csv"))
        self.assertEqual(len(rows), 3)
        self.assertAlmostEqual(info["loss_last500"], rows[:, head.index("loss")].mean(), places=5)

    def test_rerun_of_a_finished_run_adds_no_time(self):
        self.run_stage(steps=102, minutes=60)
        _, first = Cm.load_fp16(os.path.join(Cm.CKPT, "cont.pt"))
        ck = self.run_stage(steps=102, minutes=60)    # `make model` again: nothing left to train
        _, again = Cm.load_fp16(os.path.join(Cm.CKPT, "cont.pt"))
        self.assertEqual(ck["step"], 102)
        self.assertEqual((again["wall_s"], again["cpu_s"]), (first["wall_s"], first["cpu_s"]))
        self.assertEqual((ck["extra"]["wall"], ck["extra"]["cpu"]), (first["wall_s"], first["cpu_s"]))

    def run_student(self, steps):
        args = ["--threads", "1", "--teacher", self.init, "--pairs", "3", "--minutes", "60",
                "--name", "student", "--save-every", "2", "--steps", str(steps)]
        with mock.patch.object(Dn, "eval_prompts", lambda: ["a red gear"]), \
                mock.patch.object(Sd, "random_prompt", lambda rng, n, same: " | ".join(["a red gear"] * n)):
            Sd.main(args)
        return Cm.load_fp16(os.path.join(Cm.CKPT, "student.pt"))[1]

    def test_rerun_of_a_finished_student_adds_no_time(self):
        first = self.run_student(2)
        again = self.run_student(2)
        self.assertEqual((again["steps"], again["wall_s"], again["cpu_s"]),
                         (2, first["wall_s"], first["cpu_s"]))

    def test_resumed_student_reports_its_time_and_losses(self):
        self.run_student(2)
        info = self.run_student(4)                     # resumed from its checkpoint at step 2
        self.assertEqual((info["steps"], info["pairs"]), (4, 3))
        self.assertGreater(info["wall_s"], 0.0)
        self.assertGreater(info["cpu_s"], 0.0)
        head, rows = Cm.read_csv(os.path.join(Cm.RUNS, "student", "loss.csv"))
        self.assertEqual(list(rows[:, head.index("step")]), [1, 2, 3, 4])
        self.assertAlmostEqual(info["loss_last300"], rows[:, head.index("loss")].mean(), places=5)


def check_rerun_adds_no_time(test, run, out):
    """run() trains a 2-step stage run that writes its result to out; run again, finished, it
    must leave the result's steps and time counts as they were."""
    run()
    first = torch.load(out)["info"]
    run()                                                # finished: trains no step
    again = torch.load(out)["info"]
    test.assertEqual(first["steps"], 2)
    test.assertGreater(first["wall_s"], 0.0)
    test.assertEqual((again["steps"], again["wall_s"], again["cpu_s"]), (2, first["wall_s"], first["cpu_s"]))


class TestAutoencoderRerun(unittest.TestCase):
    def test_rerun_of_a_finished_run_adds_no_time(self):
        with tempfile.TemporaryDirectory() as tmp, \
                mock.patch.object(Cm, "RUNS", os.path.join(tmp, "runs")), \
                mock.patch.object(Cm, "ROOT", tmp):        # its frame cache too
            out = os.path.join(tmp, "ae.pt")
            args = ["--out", out, "--scenes", "52", "--steps", "2", "--batch", "2", "--threads", "1"]
            check_rerun_adds_no_time(self, lambda: stage_ae.main(args), out)


class TestRunClock(unittest.TestCase):
    def test_counts_are_the_stored_ones_until_a_step_is_trained(self):
        clock = Cm.RunClock()
        clock.resume(5, 100.0, 90.0)
        sum(i * i for i in range(200000))             # some CPU time in this process
        self.assertEqual(clock.counts(5), {"wall": 100.0, "cpu": 90.0})
        self.assertEqual(clock.wall(5), 100.0)
        later = clock.counts(6)
        self.assertGreater(later["wall"], 100.0)
        self.assertGreater(later["cpu"], 90.0)
        self.assertGreaterEqual(clock.elapsed(), later["wall"] - 100.0)


class TestLoggedLosses(unittest.TestCase):
    def test_a_later_row_replaces_an_earlier_one_and_steps_past_the_checkpoint_are_left(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "loss.csv")
            log = Cm.CsvLog(path, ["step", "loss"])
            for step, loss in ((1, 0.9), (2, 0.8), (3, 0.7), (2, 0.5), (3, 0.4), (4, 0.3)):
                log.row(step, loss)                   # killed after step 3, resumed at step 1
            log.close()
            self.assertEqual(Cm.logged_losses(path, 3), [0.9, 0.5, 0.4])
            self.assertEqual(Cm.logged_losses(path, 3, n=2), [0.5, 0.4])
            self.assertEqual(Cm.logged_losses(os.path.join(tmp, "none.csv"), 3), [])


if __name__ == "__main__":
    unittest.main()
