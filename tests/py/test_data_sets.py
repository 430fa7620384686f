"""train/data: data-set generation, manifest validity, MP4 export, contact sheets and the
real-footage builder (a handful of tiny clips, so `make test` stays fast)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

from train.data import dataset as D
from train.data import from_footage as FF
from train.data import make_dataset as M
from train.data.captions import split_scenes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def tav_scenes_available():
    tav = os.path.join(ROOT, "tav")
    if not os.access(tav, os.X_OK):
        return False
    r = subprocess.run([tav, "scenes", "--help"], capture_output=True, text=True)
    return r.returncode == 0 and "planned" not in (r.stdout + r.stderr)


class TestMakeDataset(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tavdata-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_tav_manifest_valid_and_deterministic(self):
        a, b, c = (os.path.join(self.tmp, x) for x in "abc")
        M.generate("tav", 4, 32, 11, a, quiet=True)
        M.generate("tav", 4, 32, 11, b, quiet=True)
        M.generate("tav", 4, 32, 12, c, quiet=True)
        self.assertEqual(D.read_header(a)["kind"], "tav")
        recs = D.read_manifest(a)
        self.assertEqual(len(recs), 4)
        for rec in recs:
            self.assertEqual(D.validate_record(rec), [], rec["id"])
            self.assertTrue(2 <= rec["n_scenes"] <= 6)
            self.assertEqual(rec["frames"], 48)
            for sc in rec["scenes"]:
                self.assertEqual(sc["start"] % 4, 0, "scene starts on 4-frame boundaries")
                self.assertTrue(8 <= sc["end"] - sc["start"] <= 24)
                self.assertGreaterEqual(len(set(sc["captions"])), 5)
            self.assertEqual(len(split_scenes(rec["prompt"])), rec["n_scenes"])
            clip = D.load_clip(a, rec)
            self.assertEqual(clip.shape, (48, 32, 32, 3))
            self.assertTrue(np.array_equal(clip, D.load_clip(b, rec)), "same seed, same bytes")
        with open(os.path.join(a, "manifest.jsonl")) as f1, open(os.path.join(b, "manifest.jsonl")) as f2:
            self.assertEqual(f1.read(), f2.read())
        other = D.load_clip(c, D.read_manifest(c)[0])
        self.assertFalse(np.array_equal(D.load_clip(a, recs[0]), other))

    def test_single_packed(self):
        out = os.path.join(self.tmp, "s")
        M.generate("single", 3, 32, 5, out, pack=True, quiet=True)
        n = 0
        for rec, clip in D.iter_clips(out):
            self.assertEqual(D.validate_record(rec), [])
            self.assertEqual((rec["n_scenes"], rec["cuts"], rec["file"]), (1, [], "frames.npy"))
            self.assertEqual(clip.shape, (16, 32, 32, 3))
            n += 1
        self.assertEqual(n, 3)

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            M.generate("tav", 1, 32, 0, os.path.join(self.tmp, "x"), frames=50, quiet=True)
        with self.assertRaises(ValueError):
            M.generate("tav", 1, 32, 0, os.path.join(self.tmp, "x"), max_scenes=7, quiet=True)
        out = os.path.join(self.tmp, "o")
        M.generate("single", 3, 16, 0, out, quiet=True)
        with self.assertRaises(ValueError):
            M.generate("single", 1, 16, 0, out, quiet=True)
        M.generate("single", 1, 16, 0, out, quiet=True, overwrite=True)
        self.assertEqual(sorted(f for f in os.listdir(out) if f.endswith(".npy")), ["clip_000000.npy"])

    def test_validator_catches_errors(self):
        out = os.path.join(self.tmp, "v")
        M.generate("tav", 1, 32, 3, out, quiet=True)
        rec = D.read_manifest(out)[0]
        bad = json.loads(json.dumps(rec))
        bad["cuts"][0] = rec["frames"] + 5
        self.assertTrue(D.validate_record(bad))
        bad = json.loads(json.dumps(rec))
        bad["prompt"] = "something else"
        self.assertTrue(D.validate_record(bad))

    @unittest.skipUnless(HAVE_FFMPEG, "ffmpeg/ffprobe not installed")
    def test_mp4_export_and_contact_sheet(self):
        out = os.path.join(self.tmp, "m")
        M.generate("tav", 1, 32, 2, out, mp4=True, quiet=True)
        rec = D.read_manifest(out)[0]
        r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=nb_read_frames,r_frame_rate,width",
                            "-of", "json", os.path.join(out, rec["mp4"])],
                           capture_output=True, text=True, check=True)
        st = json.loads(r.stdout)["streams"][0]
        self.assertEqual(int(st["nb_read_frames"]), rec["frames"])
        self.assertEqual((st["r_frame_rate"], st["width"]), ("8/1", 32))
        from train.data.contact_sheet import sheet
        img = sheet(out, clips=1, cols=4, scale=1)
        self.assertEqual(img.height, 32 * rec["n_scenes"] + 3)


FAKE_TAV = r'''#!/usr/bin/env python3
# Stand-in for `tav scenes VIDEO --json` used ONLY to test the builder's pairing logic:
# it prints the cuts listed for the video in cuts.json beside this script.
import json, os, sys
table = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuts.json")))
print(json.dumps({"cuts": [{"frame": f, "kind": "hard"} for f in table[os.path.basename(sys.argv[2])]]}))
'''


@unittest.skipUnless(HAVE_FFMPEG, "ffmpeg/ffprobe not installed")
class TestFromFootage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tavfoot-")
        cls.src = os.path.join(cls.tmp, "src")
        M.generate("tav", 2, 64, 21, cls.src, mp4=True, dissolve_prob=0.0, quiet=True)
        cls.recs = D.read_manifest(cls.src)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def procedure(self, rec, name, drop=0):
        path = os.path.join(self.tmp, name)
        steps = [s["caption"] for s in rec["scenes"]][: rec["n_scenes"] - drop]
        with open(path, "w") as f:
            f.write("# steps\n" + "".join(f"{i + 1}. {s}\n" for i, s in enumerate(steps)))
        return path

    def test_pairing_and_skip_with_stand_in_detector(self):
        fake = os.path.join(self.tmp, "fake_tav")
        with open(fake, "w") as f:
            f.write(FAKE_TAV.replace("/usr/bin/env python3", sys.executable))
        os.chmod(fake, 0o755)
        with open(os.path.join(self.tmp, "cuts.json"), "w") as f:
            json.dump({r["mp4"]: r["cuts"] for r in self.recs}, f)
        good, bad = self.recs
        videos = [os.path.join(self.src, r["mp4"]) for r in self.recs]
        procs = [self.procedure(good, "good.txt"), self.procedure(bad, "bad.txt", drop=1)]
        out = os.path.join(self.tmp, "out_fake")
        logs = []
        h = FF.build(videos, procs, out, size=32, tav=fake, log=logs.append, review=True)
        self.assertEqual(h["n"], 1)
        self.assertEqual(len(h["skipped"]), 1)
        self.assertIn("skipped rather than misaligned", h["skipped"][0]["reason"])
        self.assertEqual(h["unknown_words"], [], "synthetic captions are all in the vocabulary")
        rec = D.read_manifest(out)[0]
        self.assertEqual(D.validate_record(rec), [])
        self.assertEqual(rec["cuts"], good["cuts"])
        self.assertEqual([s["caption"] for s in rec["scenes"]], [s["caption"] for s in good["scenes"]])
        self.assertEqual(D.load_clip(out, rec).shape, (good["frames"], 32, 32, 3))
        self.assertTrue(os.path.exists(os.path.join(out, "review", "clip_000000.png")))
        # --scene-frames: every scene resampled to k frames, bounds follow
        frames = D.load_clip(out, rec)
        sub, bounds = FF.subsample(frames, [0] + rec["cuts"] + [rec["frames"]], 8)
        self.assertEqual(sub.shape[0], 8 * rec["n_scenes"])
        self.assertEqual(bounds, [8 * k for k in range(rec["n_scenes"] + 1)])
        self.assertTrue(np.array_equal(sub[0], frames[0]) and np.array_equal(sub[-1], frames[-1]))

    def test_clear_error_without_detector(self):
        with self.assertRaises(FF.BuildError) as cm:
            FF.build([os.path.join(self.src, self.recs[0]["mp4"])], [self.procedure(self.recs[0], "p.txt")],
                     os.path.join(self.tmp, "x"), tav=os.path.join(self.tmp, "no_such_tav"))
        self.assertIn("tav scenes", str(cm.exception))

    @unittest.skipUnless(tav_scenes_available(), "`./tav scenes` is not built yet (core/, issue 4)")
    def test_end_to_end_with_tav_scenes(self):
        videos = [os.path.join(self.src, r["mp4"]) for r in self.recs]
        procs = [self.procedure(r, f"p{i}.txt") for i, r in enumerate(self.recs)]
        out = os.path.join(self.tmp, "out_real")
        h = FF.build(videos, procs, out, size=64, log=lambda *_: None)
        self.assertEqual(h["n"], 2, h["skipped"])
        for rec, gt in zip(D.read_manifest(out), self.recs):
            self.assertEqual(D.validate_record(rec), [])
            self.assertEqual(rec["cuts"], gt["cuts"])


if __name__ == "__main__":
    unittest.main()
