"""Writes the seed corpus of tests/fuzz/fuzz_model.c into tests/fuzz/corpus/model/:
small.tavm, truncations of it, single-byte corruptions at every header field and
in the tables, and crafted files that each break one rule of docs/model-format.md.
Files named by 40 hex digits in that directory were added by libFuzzer's -merge.

    /usr/bin/python3 tests/fuzz/make_model_corpus.py
"""
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from train import tavm  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fuzz", "corpus", "model")


def tiny(meta=True, dtypes=("f32", "f16", "s8")):
    w = tavm.Writer()
    if meta:
        w.set_i64("d", 4)
        w.set_f64("e", 0.5)
        w.set_str("s", "x")
        w.set_strs("v", ["a", "bc"])
    for i, dt in enumerate(dtypes):
        if dt == "s8":
            w.add_tensor(f"t{i}", np.arange(6, dtype=np.int8).reshape(2, 3), "s8",
                         scales=np.array([0.5, 2.0], np.float32))
        else:
            w.add_tensor(f"t{i}", np.arange(6, dtype=np.float32).reshape(3, 2), dt)
    return bytearray(w.to_bytes())


def table_entry(b, name):
    """Offset of the dtype field of tensor `name` (just after its NUL)."""
    return bytes(b).rindex(name.encode() + b"\0") + len(name) + 1


def main():
    # Rewrites only its own named files: the 40-hex-digit names beside them are
    # inputs libFuzzer found (scripts/fuzz.sh, then fuzz_model -merge=1 into this dir).
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(ROOT, "tests", "data", "small.tavm"), "rb") as f:
        small = bytearray(f.read())
    files = {"small.tavm": small}
    for n in (0, 7, 8, 12, 64, 96, 127, 128, 200, 700, 1407, 2000, len(small) - 1):
        files[f"trunc_{n}"] = small[:n]
    # one flipped byte in every header field, and a few in metadata/table/data
    for off in (0, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 96, 130, 140, 400, 700, 1000,
                1300, 1500, 2200, len(small) - 1):
        b = bytearray(small)
        b[off] ^= 0x80
        files[f"flip_{off}"] = b
    t = tiny()
    files["tiny"] = t
    files["tiny_no_meta"] = tiny(meta=False)
    files["empty_model"] = tiny(meta=False, dtypes=())
    files["meta_only"] = tiny(dtypes=())
    files["s8_only"] = tiny(meta=False, dtypes=("s8",))

    def patch(name, base, at, fmt, value):
        b = bytearray(base)
        struct.pack_into(fmt, b, at, value)
        files[name] = b

    e = table_entry(t, "t1")
    patch("version_2", t, 8, "<I", 2)
    patch("huge_n_tensors", t, 24, "<I", 0xFFFFFFFF)
    patch("huge_n_meta", t, 20, "<I", 60000)
    patch("huge_meta_size", t, 32, "<Q", 1 << 40)
    patch("huge_data_size", t, 56, "<Q", (1 << 64) - 1)
    patch("bad_dtype", t, e, "<I", 0)
    patch("ndim_0", t, e + 4, "<I", 0)
    patch("ndim_5", t, e + 4, "<I", 5)
    patch("dim_zero", t, e + 8, "<Q", 0)
    patch("dim_huge", t, e + 8, "<Q", 1 << 40)
    patch("unused_dim_set", t, e + 8 + 24, "<Q", 1)
    patch("offset_misaligned", t, e + 40, "<Q", 4)
    patch("offset_overlap", t, e + 40, "<Q", 0)
    patch("offset_past_end", t, e + 40, "<Q", 1 << 20)
    patch("offset_wraps", t, e + 40, "<Q", (1 << 64) - 64)
    patch("size_mismatch", t, e + 48, "<Q", 25)
    patch("scale_on_f16", t, e + 56, "<Q", 64)
    e2 = table_entry(t, "t2")
    patch("scales_overlap", t, e2 + 56, "<Q", 0)
    patch("scales_past_end", t, e2 + 56, "<Q", 1 << 30)
    # metadata rules: keys out of order, bad key bytes, bad UTF-8, huge array count
    b = bytearray(t)
    i = bytes(b).index(b"d\0")
    b[i] = ord("z")
    files["meta_unsorted"] = b
    b = bytearray(t)
    b[i] = ord(" ")
    files["meta_bad_key"] = b
    b = bytearray(t)
    j = bytes(b).index(b"bc\0")
    b[j] = 0xC3
    files["meta_bad_utf8"] = b
    b = bytearray(t)
    k = bytes(b).index(b"v\0") + 2 + 4
    struct.pack_into("<I", b, k, 0x7FFFFFFF)
    files["meta_array_huge"] = b
    b = bytearray(t)
    b[bytes(b).index(b"t0\0") + 1] = ord("1")  # t0 -> t1: duplicate name
    files["dup_name"] = b
    b = bytearray(t)
    b[bytes(b).index(b"t0\0") + 2] = ord("!")  # name not NUL-terminated
    files["name_no_nul"] = b
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files to {OUT}")


if __name__ == "__main__":
    main()
