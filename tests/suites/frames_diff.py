"""Compares two `tav generate --frames DIR` dumps byte by byte (RGB levels).

    /usr/bin/python3 tests/suites/frames_diff.py NAME DIR_A DIR_B MAX_LEVELS

Prints "PASS NAME: max |diff| L levels, N of M bytes differ (tol MAX_LEVELS)" when both
dumps hold the same frames (names, sizes) and no byte differs by more than MAX_LEVELS,
else "FAIL NAME: ...". Always exits 0 (tests/run.sh counts the line).
"""
import glob
import os
import sys

import numpy as np
from PIL import Image


def load(d):
    names = sorted(os.path.basename(f) for f in glob.glob(os.path.join(d, "frame_*.png")))
    return names, [np.asarray(Image.open(os.path.join(d, n)).convert("RGB"), np.int16) for n in names]


def main(name, dir_a, dir_b, max_levels):
    names_a, a = load(dir_a)
    names_b, b = load(dir_b)
    if not names_a or names_a != names_b:
        print(f"FAIL {name}: frames differ: {len(names_a)} in {dir_a}, {len(names_b)} in {dir_b}")
        return
    if any(x.shape != y.shape for x, y in zip(a, b)):
        print(f"FAIL {name}: frame sizes differ")
        return
    d = np.abs(np.stack(a) - np.stack(b))
    worst, n_diff = int(d.max()), int((d > 0).sum())
    verdict = "PASS" if worst <= max_levels else "FAIL"
    print(f"{verdict} {name}: max |diff| {worst} levels, {n_diff} of {d.size} bytes differ "
          f"({len(names_a)} frames; tol {max_levels})")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
