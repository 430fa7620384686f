"""The committed golden vectors (tests/data/tiny.tavm, tests/data/tiny_golden.tavm, and the
extra-decoder-level pair tiny_up.tavm, tiny_up_golden.tavm) regenerate bit-identically from `python3 -m train.golden` (float32, one thread, deterministic algorithms)."""
import os
import tempfile
import unittest

import numpy as np
import torch

from train import golden, tavm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
GOLDEN_FILES = ("tiny.tavm", "tiny_golden.tavm", "tiny_up.tavm", "tiny_up_golden.tavm")


class TestGolden(unittest.TestCase):
    def test_regenerates_bit_identically(self):
        threads = torch.get_num_threads()
        try:
            with tempfile.TemporaryDirectory() as d:
                golden.main(["--out", d])
                for name in GOLDEN_FILES:
                    new = open(os.path.join(d, name), "rb").read()
                    old = open(os.path.join(DATA, name), "rb").read()
                    if new != old:   # say which tensor moved and by how much
                        a, b = tavm.parse(old), tavm.parse(new)
                        diffs = {k: float(np.abs(a.tensors[k].data - b.tensors[k].data).max())
                                 for k in a.tensors if k in b.tensors
                                 and a.tensors[k].shape == b.tensors[k].shape}
                        worst = sorted(diffs.items(), key=lambda kv: -kv[1])[:3]
                        self.fail(f"{name} differs; largest tensor differences: {worst}")
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(False)

    def test_tiny_model_is_small(self):
        for name in GOLDEN_FILES:
            self.assertLess(os.path.getsize(os.path.join(DATA, name)), 1 << 20, name)


if __name__ == "__main__":
    unittest.main()
