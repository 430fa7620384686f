"""train/tavm.py: reads the committed small.tavm, rewrites it byte-identically, reads the
file the C writer produced (tests/test_model_file.c), refuses truncated and corrupted files."""
import os
import re
import tempfile
import unittest

import numpy as np

from train import tavm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = os.path.join(ROOT, "tests", "data", "small.tavm")
FROM_C = os.path.join(ROOT, "build", "test-tmp", "small_from_c.tavm")


def load_maker():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "make_small_tavm", os.path.join(ROOT, "tests", "data", "make_small_tavm.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TestSmallFile(unittest.TestCase):
    def setUp(self):
        with open(SMALL, "rb") as f:
            self.blob = f.read()

    def check_values(self, m):
        self.assertEqual(m.meta["model.dim"], 8)
        self.assertEqual(m.meta["train.offset_test"], -42)
        self.assertEqual(m.meta["model.norm_eps"], 1e-5)
        self.assertEqual(m.meta["tokenizer.vocab"][18], "größe")
        self.assertEqual(len(m.meta["tokenizer.vocab"]), 24)
        self.assertEqual(m.meta["train.tags"], [])
        self.assertEqual(list(m.tensors), ["tok_emb", "dit.blocks.0.attn.wq", "dit.blocks.0.norm.w",
                                           "dit.pos", "vae.dec.conv0.w", "vae.dec.conv0.b",
                                           "dit.final.w"])
        t = m.tensors["tok_emb"]
        np.testing.assert_array_equal(t.data.reshape(-1), np.arange(192, dtype=np.float32) * 0.25 - 3)
        q = m.tensors["dit.blocks.0.attn.wq"]
        self.assertEqual((q.dtype, q.shape), ("s8", (8, 8)))
        np.testing.assert_array_equal(q.scales, [2.0 ** -(r + 3) for r in range(8)])
        self.assertEqual(q.dequantize()[1, 0], float(q.data[1, 0]) * 2.0 ** -4)
        h = m.tensors["dit.pos"]
        self.assertEqual((h.dtype, h.shape), ("f16", (2, 3, 4)))
        np.testing.assert_array_equal(h.data.reshape(-1).astype(np.float32), np.arange(24) / 8)
        self.assertEqual(m.tensors["vae.dec.conv0.w"].shape, (4, 2, 3, 3))

    def test_read_values(self):
        m = tavm.parse(self.blob)
        self.assertTrue(m.verified)
        self.assertEqual(m.writer, "tav-edge 0.1.0")
        self.check_values(m)

    def test_generator_is_deterministic(self):
        """The committed file is exactly what make_small_tavm.py writes today."""
        self.assertEqual(load_maker().build().to_bytes(), self.blob)

    def test_rewrite_is_byte_identical(self):
        self.assertEqual(tavm.copy_writer(tavm.parse(self.blob)).to_bytes(), self.blob)

    def test_write_is_atomic_and_readable(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.tavm")
            n = tavm.copy_writer(tavm.parse(self.blob)).write(path)
            self.assertEqual(n, len(self.blob))
            self.assertEqual(os.listdir(d), ["m.tavm"])
            self.check_values(tavm.read(path))

    def test_reads_c_writer_output(self):
        """tests/test_model_file.c rewrites small.tavm with the C writer into build/test-tmp."""
        if not os.path.exists(FROM_C):
            self.skipTest("build/test-tmp/small_from_c.tavm absent (run the C tests first)")
        m = tavm.read(FROM_C)
        self.check_values(m)
        self.assertEqual(m.checksum_hex, tavm.parse(self.blob).checksum_hex)

    def test_truncations_and_corruptions_rejected(self):
        for n in range(0, len(self.blob), 7):
            with self.assertRaises(tavm.FormatError):
                tavm.parse(self.blob[:n])
        for pos in range(0, len(self.blob), 3):
            bad = bytearray(self.blob)
            bad[pos] ^= 0x80
            with self.assertRaises(tavm.FormatError):
                tavm.parse(bytes(bad))
            try:  # without the checksum: parsed or a FormatError, never another exception
                tavm.parse(bytes(bad), verify=False)
            except tavm.FormatError:
                pass

    def test_version_message_names_writer(self):
        bad = bytearray(self.blob)
        bad[8] = 2
        with self.assertRaisesRegex(tavm.FormatError, "version 2, written by tav-edge 0.1.0"):
            tavm.parse(bytes(bad))

    def test_writer_refusals(self):
        w = tavm.Writer()
        w.set_i64("a", 1)
        for call in (lambda: w.set_i64("a", 2), lambda: w.set_i64("bad key", 1),
                     lambda: w.set_str("s", "nul\0inside"),
                     lambda: w.add_tensor("x", np.zeros((2, 2), np.int8), "s8"),
                     lambda: w.add_tensor("x", np.zeros((1, 1, 1, 1, 1), np.float32)),
                     lambda: w.add_tensor("x y", np.zeros(2, np.float32))):
            with self.assertRaises((ValueError, TypeError)):
                call()

    def test_tool_version_matches_c(self):
        with open(os.path.join(ROOT, "core", "version.h")) as f:
            v = re.search(r'TAV_VERSION_STRING "([^"]+)"', f.read()).group(1)
        self.assertEqual(v, tavm.TOOL_VERSION)


class TestReadersAgree(unittest.TestCase):
    """The C and Python readers accept and refuse the same files: every file of the fuzz seed
    corpus (crafted breaks of each rule, truncations, flips, libFuzzer finds). The C verdicts
    come from tests/test_model_file.c (build/test-tmp/c_verdicts.txt)."""

    def test_corpus_verdicts_match(self):
        verdicts = os.path.join(ROOT, "build", "test-tmp", "c_verdicts.txt")
        if not os.path.exists(verdicts):
            self.skipTest("build/test-tmp/c_verdicts.txt absent (run the C tests first)")
        corpus = os.path.join(ROOT, "tests", "fuzz", "corpus", "model")
        with open(verdicts) as f:
            c_says = dict(line.split() for line in f if line.strip())
        self.assertEqual(sorted(c_says), sorted(os.listdir(corpus)))
        disagree = []
        for name, verdict in sorted(c_says.items()):
            with open(os.path.join(corpus, name), "rb") as f:
                blob = f.read()
            try:
                tavm.parse(blob, verify=False)
                py = "ok"
            except tavm.FormatError:
                py = "bad"
            if py != verdict:
                disagree.append(f"{name}: C {verdict}, Python {py}")
        self.assertEqual(disagree, [])
        self.assertIn("ok", c_says.values())
        self.assertIn("bad", c_says.values())


if __name__ == "__main__":
    unittest.main()
