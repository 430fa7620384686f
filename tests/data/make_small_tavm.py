"""Writes tests/data/small.tavm: a small valid model file with metadata of every
type (hyperparameters, a vocabulary, provenance) and tensors of every dtype.

    /usr/bin/python3 tests/data/make_small_tavm.py [OUT]   (default tests/data/small.tavm)

The values follow simple formulas that tests/test_model_file.c and
tests/py/test_tavm.py check element by element; keep them in sync.
Deterministic: running it twice gives the same bytes.
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from train import tavm  # noqa: E402

VOCAB = ["<pad>", "<sep>", "<unk>", "replace", "the", "drill", "bit", "on", "press", "conveyor",
         "welding", "robot", "inspect", "pack", "red", "blue", "steel", "close-up", "größe",
         "ñandú", "4", "bolt", "camera", "wide"]


def f32_seq(n, scale, bias):
    """i * scale + bias, exact in float32 for the scales used here."""
    return (np.arange(n, dtype=np.float32) * np.float32(scale) + np.float32(bias))


def s8_seq(n, mul, add):
    """((i * mul) % 256) - add, as int8 (add = 128 covers the whole range)."""
    return ((np.arange(n, dtype=np.int64) * mul) % 256 - add).astype(np.int8)


def build():
    w = tavm.Writer()
    w.set_str("model.arch", "tav-dit-test")
    w.set_i64("model.dim", 8)
    w.set_i64("model.heads", 2)
    w.set_i64("model.layers", 1)
    w.set_f64("model.norm_eps", 1e-5)
    w.set_f64("model.rope_theta", 10000.0)
    w.set_strs("tokenizer.vocab", VOCAB)
    w.set_str("train.provenance", "tests/data/make_small_tavm.py: synthetic, not trained")
    w.set_i64("train.seed", 1234)
    w.set_i64("train.offset_test", -42)
    w.set_strs("train.tags", [])
    w.set_str("tool.version", tavm.TOOL_VERSION)
    # Tensors: every dtype, 1..4 dims, odd sizes.
    w.add_tensor("tok_emb", f32_seq(24 * 8, 0.25, -3.0).reshape(24, 8), "f32")
    w.add_tensor("dit.blocks.0.attn.wq", s8_seq(8 * 8, 7, 127).reshape(8, 8), "s8",
                 scales=np.array([2.0 ** -(r + 3) for r in range(8)], dtype=np.float32))
    w.add_tensor("dit.blocks.0.norm.w", f32_seq(8, 0.5, -2.0).astype(np.float16), "f16")
    w.add_tensor("dit.pos", (np.arange(24, dtype=np.float32) / 8).reshape(2, 3, 4), "f16")
    w.add_tensor("vae.dec.conv0.w", f32_seq(4 * 2 * 3 * 3, 0.125, -4.0).reshape(4, 2, 3, 3), "f32")
    w.add_tensor("vae.dec.conv0.b", np.full(4, 1.5, dtype=np.float32), "f32")
    w.add_tensor("dit.final.w", s8_seq(3 * 5, 13, 128).reshape(3, 5), "s8",
                 scales=np.array([0.5, 0.25, 0.125], dtype=np.float32))
    return w


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "small.tavm")
    n = build().write(out)
    print(f"wrote {out} ({n} bytes)")


if __name__ == "__main__":
    main()
