"""Scene counts on the shipped procedure templates: the product's own prompts, not the eval set.

    python3 -m train.eval.template_probe [--model assets/default-int8.tavm] [--seeds 5] [--steps K]
    python3 -m train.eval.template_probe --model rendered [--seeds 5]

Fills every assets/templates/*.tmpl with FIELDS (a fixed valid value for each required field;
the rest keep their defaults) through `tav template fill`, generates each with `tav generate`
(seeds 1..N, one thread; --steps K overrides the model's sampler steps) and counts its scenes
with `tav scenes`. Also reports how many of a template's step boundaries stay at the same
station (the station each step's text names, read with the eval's synonym matcher): the TAV
training clips and the eval prompts always change station at a cut, procedures often do not.

`--model rendered` is the ceiling: each step's ground-truth scene (the station, piece, colour,
action and framing its text names, nuisance drawn from the seed; train/data/render, hard cuts,
12 frames per scene at 128x128, the shipped model's) written as an MP4 and counted the same way.
A cut that keeps the station, piece and colour changes little in the picture, so even these
videos do not all come out right.
"""
import argparse
import glob
import os
import subprocess
import tempfile

import numpy as np

from train.data.captions import FRAMING_WORDS, words
from train.data.render import render_clip
from train.data.scenes import STATION_ACTIONS, sample_scene
from train.eval import prompts as P
from train.eval.run import write_mp4

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIELDS = {"bracket-assembly": ["colour=red"], "conveyor-jam": ["line=A", "piece=box"],
          "drill-bit-change": ["press=4"], "forklift-pallet-move": ["bay=7"],
          "lockout-press": ["press=4", "technician=AB"], "order-packing": ["order=12", "piece=gear"],
          "part-inspection": ["batch=KT20417", "piece=gear"],
          "press-plate-stamping": ["press=4", "colour=red"], "weld-seam-check": ["piece=pipe"]}


def station_of(step):
    """The station a step's text names (None if none or several)."""
    found = {v for a, v, _ in P.named_values(step) if a == "station"}
    return found.pop() if len(found) == 1 else None


def framing_of(step):
    """'close' or 'wide' from the step's framing phrase ('wide' when it names none)."""
    text = " ".join(words(step))
    for fr, (trained, heldout) in FRAMING_WORDS.items():
        if any(ph in text for ph in trained + heldout):
            return fr
    return "wide"


def step_scene(step, rng):
    """The ground-truth scene of one step's text: the values it names, the rest drawn."""
    named = {}
    for attr, value, _ in P.named_values(step):
        named.setdefault(attr, value)
    if named.get("action") not in STATION_ACTIONS.get(named.get("station"), ()):
        named.pop("action", None)        # an action the station cannot do: drawn instead
    return sample_scene(rng, framing=framing_of(step), **named)


def render_steps(steps, seed, mp4, size=128, per_scene=12):
    rng = np.random.default_rng(seed)
    frames, _ = render_clip([step_scene(s, rng) for s in steps], frames_per_scene=per_scene,
                            size=size, seed=seed)
    write_mp4(frames, mp4)


def scene_count(tav, mp4):
    out = subprocess.run([tav, "scenes", mp4], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        w = line.split()
        if len(w) == 2 and w[1] in ("scene", "scenes"):
            return int(w[0])
    raise RuntimeError(f"tav scenes printed no scene count for {mp4}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "assets", "default-int8.tavm"),
                    help="a .tavm file, or 'rendered' (the ground truth)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tav", default=os.path.join(ROOT, "tav"))
    ap.add_argument("--steps", type=int, help="sampler steps (default: the model's)")
    a = ap.parse_args(argv)
    steps_arg = ["--steps", str(a.steps)] if a.steps else []
    exact = total = 0
    print(f"{'template':<22} {'steps':>5} {'same-station cuts':>17}  detected scenes (seeds 1..{a.seeds})")
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(glob.glob(os.path.join(ROOT, "assets", "templates", "*.tmpl"))):
            name = os.path.basename(path)[:-5]
            steps = subprocess.run([a.tav, "template", "fill", path] + FIELDS.get(name, []),
                                   capture_output=True, text=True, check=True).stdout.splitlines()
            st = [station_of(s) for s in steps]
            same = sum(1 for x, y in zip(st, st[1:]) if x is not None and x == y)
            args = [x for s in steps for x in ("-p", s)]
            got = []
            for seed in range(1, a.seeds + 1):
                mp4 = os.path.join(tmp, "v.mp4")
                if a.model == "rendered":
                    render_steps(steps, seed, mp4)
                else:
                    subprocess.run([a.tav, "generate", "-m", a.model, *args, "--seed", str(seed),
                                    "--threads", "1", *steps_arg, "-o", mp4],
                                   capture_output=True, check=True)
                got.append(scene_count(a.tav, mp4))
            exact += sum(g == len(steps) for g in got)
            total += len(got)
            print(f"{name:<22} {len(steps):>5} {same:>10} of {len(steps) - 1:<4}  "
                  f"{' '.join(map(str, got))}", flush=True)
    print(f"exact scene count: {exact} of {total} videos ({100 * exact / total:.0f} %)")


if __name__ == "__main__":
    main()
