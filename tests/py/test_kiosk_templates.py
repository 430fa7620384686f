"""Every procedure template in assets/templates, filled with every value of every choice
field, gives scene prompts whose words are all in the caption grammar's vocabulary
(train/data/captions.py), and no prompt contains the scene separator '|'.

The filling is done by the real C filler (`./tav template fill`), so this checks what the
kiosk will send to the engine; the small .tmpl reader below only enumerates fields."""
import glob
import os
import subprocess
import time
import unittest

from train.data import captions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAV = os.path.join(ROOT, "tav")
TEMPLATES = sorted(glob.glob(os.path.join(ROOT, "assets", "templates", "*.tmpl")))

# Valid sample values for required text fields that have a pattern.
SAMPLES = {"batch": "KT20417", "technician": "AB"}


def read_fields(path):
    """[(name, type, required, choices, min)] in file order."""
    fields, cur = [], None
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line.startswith("[field "):
            cur = {"name": line[7:-1].strip(), "type": None, "required": False,
                   "choices": [], "min": None}
            fields.append(cur)
        elif line.startswith("["):
            cur = None
        elif cur is not None and "=" in line and not line.startswith("#"):
            k, v = (s.strip() for s in line.split("=", 1))
            if k == "type":
                cur["type"] = v
            elif k == "required":
                cur["required"] = v in ("yes", "true", "1")
            elif k == "choices":
                cur["choices"] = [c.strip() for c in v.split(",")]
            elif k == "min":
                cur["min"] = v
    return fields


def base_values(fields):
    vals = {}
    for f in fields:
        if f["type"] == "choice":
            vals[f["name"]] = f["choices"][0]
        elif f["required"]:
            vals[f["name"]] = SAMPLES.get(f["name"], f["min"] or "1")
    return vals


def run_tav(args):
    # The work tree is shared: another `make` may be relinking ./tav at this moment
    # (exec then fails with ETXTBSY / EACCES for a fraction of a second). Retry briefly.
    for attempt in range(20):
        try:
            return subprocess.run(args, capture_output=True, text=True)
        except OSError:
            if attempt == 19:
                raise
            time.sleep(0.5)


def fill(path, vals):
    args = [TAV, "template", "fill", path] + [f"{k}={v}" for k, v in vals.items()]
    r = run_tav(args)
    if r.returncode != 0:
        raise AssertionError(f"{os.path.basename(path)} {vals}: {r.stderr.strip()}")
    return r.stdout.splitlines()


@unittest.skipUnless(os.path.exists(TAV), "./tav is not built (run make)")
class TemplateVocabulary(unittest.TestCase):
    def test_at_least_eight_templates(self):
        self.assertGreaterEqual(len(TEMPLATES), 8)

    def test_every_filled_word_is_in_the_vocabulary(self):
        vocab = set(captions.vocabulary())
        checked = 0
        for path in TEMPLATES:
            fields = read_fields(path)
            variants = [base_values(fields)]
            for f in fields:
                for c in f["choices"]:
                    v = base_values(fields)
                    v[f["name"]] = c
                    variants.append(v)
            for vals in variants:
                for prompt in fill(path, vals):
                    self.assertNotIn(captions.SEP_TEXT, prompt)
                    unknown = [w for w in captions.tokenize(prompt) if w not in vocab]
                    self.assertEqual(unknown, [], f"{os.path.basename(path)} {vals}: {prompt!r}")
                    checked += 1
        self.assertGreater(checked, 100)
        print(f"checked {checked} filled prompts from {len(TEMPLATES)} templates")

    def test_prompts_join_into_the_multi_scene_format(self):
        for path in TEMPLATES:
            prompts = fill(path, base_values(read_fields(path)))
            joined = captions.join_scenes(prompts)
            self.assertEqual(captions.split_scenes(joined), prompts)


if __name__ == "__main__":
    unittest.main()
