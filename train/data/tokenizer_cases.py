"""Golden cases of the prompt tokenizer rule, for the C tokenizer's tests.

    /usr/bin/python3 -m train.data.tokenizer_cases [--out tests/data/tokenizer_cases.json]

Writes a JSON list of {"text", "tokens", "scenes", "empty_scenes"}: tokens = captions.tokenize(text)
("<sep>" between scenes), scenes = captions.split_scenes(text), empty_scenes = indices of scenes
without words (captions.scenes_without_words: the engine must reject such a prompt).
Text is stored as UTF-8 JSON; C reads the bytes of "text" and must produce exactly "tokens".
tests/py/test_data_scenes.py checks that the committed file matches the Python rule.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from . import captions as C
from .scenes import sample_scene_sequence

HAND_CASES = [
    "",
    "   ",
    "a red box moves along",
    "A Red BOX Moves Along",
    "close-up: the L-bracket's edge",
    "press 4, step 12: drill 3x",
    "tabs\tand\nnewlines\r\nhere",
    "a | b",
    "a|b|c",
    "| leading and trailing |",
    "a || b",
    " | ",
    "a | ... | b",
    "a |\u00e9| b",
    "a |\u00a0| b",                     # no-break space is not whitespace: a scene without words
    "  spaced \t out  |  scene  ",
    "caf\u00e9 cr\u00e8me",                 # bytes >= 0x80 separate: caf, cr, me
    "na\u00efve \u00dcber stra\u00dfe",
    "\u2014dash\u2014and \u201cquotes\u201d",
    "under_score and dots...and,commas",
    "MIXED123case456",
    "0 00 007",
    "end.",
]


def cases(n_random: int = 12, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    texts = list(HAND_CASES)
    for k in range(n_random):
        specs = sample_scene_sequence(rng, 1 + k % 6)
        split = "heldout" if k % 3 == 2 else "train"
        texts.append(C.join_scenes([C.caption(s, rng, split) for s in specs]))
    return [{"text": t, "tokens": C.tokenize(t), "scenes": C.split_scenes(t),
             "empty_scenes": C.scenes_without_words(t)} for t in texts]


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "tests", "data", "tokenizer_cases.json")
    ap = argparse.ArgumentParser(prog="python3 -m train.data.tokenizer_cases", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.normpath(default))
    a = ap.parse_args(argv)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(cases(), f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
