"""The text encoder's scene-position term (ModelConfig.text_scene_pos, text.scene_pos): zero
weight changes nothing, stage files that predate it load with it switched on, the export keeps
it (model.text_scene_pos), and the positions are 64 (k + 1/2) / n for scene k of n."""
import os
import tempfile
import unittest

import torch

from train import common as Cm
from train import export, golden, tavm
from train import model as M

OFF = dict(golden.TINY_CONFIG, text_scene_pos=0)
PROMPTS = ["a red gear | the press stamps a plate | close view of a robot", "a blue plate"]


def text_of(m, prompts=PROMPTS):
    ids, sc = m.tok.encode_batch(prompts, m.cfg.max_text, m.cfg.max_scenes, pad_to=m.cfg.max_text)
    with torch.no_grad():
        return m.text(ids, sc)


class TestScenePos(unittest.TestCase):
    def test_zero_weight_is_the_model_without_it(self):
        on = golden.tiny_model()
        self.assertEqual(on.cfg.text_scene_pos, 1)
        with torch.no_grad():
            on.text.scene_pos.weight.zero_()
        off = M.TavModel(M.ModelConfig(**OFF), on.tok)
        sd = {k: v for k, v in on.state_dict().items() if k != "text.scene_pos.weight"}
        off.load_state_dict(sd)   # strict: everything else is shared
        (e1, m1), (e0, m0) = text_of(on), text_of(off)
        self.assertTrue(torch.equal(m1, m0))
        self.assertTrue(torch.equal(e1, e0))
        # and a nonzero weight does change them (the term is wired in)
        self.assertFalse(torch.equal(text_of(golden.tiny_model())[0], e0))

    def test_load_fp16_switches_it_on_with_zero_weight(self):
        old = golden.tiny_model(OFF)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "stage.pt")
            Cm.save_fp16(p, old)
            m, _ = Cm.load_fp16(p, {"text_scene_pos": 1})
            m0, _ = Cm.load_fp16(p)
            self.assertEqual((m.cfg.text_scene_pos, m0.cfg.text_scene_pos), (1, 0))
            self.assertIsNone(m0.text.scene_pos)
            self.assertTrue(torch.equal(m.text.scene_pos.weight, torch.zeros(32, 32)))
            self.assertTrue(torch.equal(text_of(m)[0], text_of(m0)[0]))
            # anything else that does not match is still an error
            ck = torch.load(p, map_location="cpu")
            ck["model"]["text.bogus.weight"] = torch.zeros(2, dtype=torch.float16)
            torch.save(ck, p)
            with self.assertRaisesRegex(ValueError, "text.bogus.weight"):
                Cm.load_fp16(p, {"text_scene_pos": 1})
            del ck["model"]["text.bogus.weight"]
            del ck["model"]["dit.text_proj.bias"]
            torch.save(ck, p)
            with self.assertRaisesRegex(ValueError, "dit.text_proj.bias"):
                Cm.load_fp16(p, {"text_scene_pos": 1})

    def test_export_round_trip(self):
        m = golden.tiny_model()
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.tavm")
            export.export_model(m, p)
            f = tavm.read(p)
            m2, _ = export.import_model(p)
            q = os.path.join(d, "off.tavm")
            export.export_model(golden.tiny_model(OFF), q)
            g = tavm.read(q)
        self.assertEqual(f.meta["model.text_scene_pos"], 1)
        self.assertEqual(tuple(f.tensors["text.scene_pos.weight"].shape), (32, 32))
        self.assertEqual(m2.cfg.text_scene_pos, 1)
        self.assertTrue(torch.equal(m2.text.scene_pos.weight, m.text.scene_pos.weight))
        self.assertTrue(torch.equal(text_of(m2)[0], text_of(m)[0]))
        # off: neither the key nor the tensor (older files are unchanged)
        self.assertNotIn("model.text_scene_pos", g.meta)
        self.assertNotIn("text.scene_pos.weight", g.tensors)

    def test_import_refuses_a_file_without_the_tensor(self):
        m = golden.tiny_model()
        sd = {k: v for k, v in m.state_dict().items()
              if not k.startswith("ae.enc.") and k != "text.scene_pos.weight"}
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.tavm")
            export.write_tensors(p, export._meta(m.cfg, m.tok, "tiny"), sd)
            with self.assertRaisesRegex(ValueError, "lacks tensor 'text.scene_pos.weight'"):
                export.import_model(p)

    def test_golden_files(self):
        data = os.path.join(os.path.dirname(__file__), "..", "data")
        tiny, up = (tavm.read(os.path.join(data, n)) for n in ("tiny.tavm", "tiny_up.tavm"))
        self.assertEqual(tiny.meta["model.text_scene_pos"], 1)
        self.assertIn("text.scene_pos.weight", tiny.tensors)
        self.assertNotIn("model.text_scene_pos", up.meta)
        self.assertNotIn("text.scene_pos.weight", up.tensors)

    def test_scene_position_values(self):
        tok = M.Tokenizer(golden.TINY_WORDS)
        ids, sc = tok.encode_batch(PROMPTS, 24, 6, pad_to=24)
        mask = ids != M.PAD
        u = M.scene_position(sc, mask)
        self.assertEqual(u.dtype, torch.float32)
        n_real = mask.sum(1).tolist()
        self.assertEqual(sc[0, :n_real[0]].max().item(), 2)
        for i in range(n_real[0]):   # 3 scenes: 64 (k + 1/2) / 3, float32 in that order
            k = sc[0, i].item()
            want = torch.tensor(k, dtype=torch.float32) + 0.5
            want = want * 64.0 / torch.tensor(3.0)
            self.assertEqual(u[0, i].item(), want.item())
            self.assertAlmostEqual(u[0, i].item(), 64 * (k + 0.5) / 3, places=5)
        self.assertEqual(sorted(set(u[0, :n_real[0]].tolist())),
                         [torch.tensor(v, dtype=torch.float32).item() for v in (32 / 3, 32.0, 160 / 3)])
        self.assertTrue(torch.all(u[1, :n_real[1]] == 32.0))   # one scene: the middle
        # the unconditional prompt (<bos> alone): k = 0, n = 1
        nids, nsc = tok.null_batch(1, 24)
        self.assertEqual(M.scene_position(nsc, nids != M.PAD)[0, 0].item(), 32.0)


if __name__ == "__main__":
    unittest.main()
