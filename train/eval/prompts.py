"""Evaluation prompt sets: for each requested scene count, N prompts with each scene's attributes.

    python3 -m train.eval.prompts --per-count 50 --seed 8 --out tests/data/eval_prompts.jsonl
        [--counts 1 2 3 4 5 6] [--split heldout] [--no-unseen-words] [--same-station P]
    python3 -m train.eval.prompts --per-count 20 --seed 9 --counts 2 3 4 5 6 --same-station 0.5 \
        --out tests/data/eval_prompts_same.jsonl      (the same-station set)

Scenes are drawn as the TAV data draws them (train/data/scenes.sample_scene_sequence: consecutive
scenes always change station; with --same-station P a cut keeps the station, piece and colour
with probability P and changes only the action or framing, as many steps of the shipped
procedure templates do), captions come from the HELD-OUT phrasings
(train/data/captions.caption(split="heldout")): word orders and some synonyms training never saw.
Held-out phrasings may use words only they contain (captions.heldout_only_words(), e.g.
"sprocket", "loading dock"); each scene lists those it uses under "unseen_words" so adherence can be
split by them; --no-unseen-words redraws captions until they use none. attribute_naming(caption,
attributes) says, per attribute, whether the caption names its value with a synonym training
used or only with a held-out-only one (the eval's "seen-word adherence" is restricted to the former).

One JSON object per line:
  {"id": "n3_007", "n_scenes": 3, "index": 7, "seed": 300007,
   "prompt": "c1 | c2 | c3",
   "scenes": [{"caption": "...", "attributes": {"station", "piece", "colour", "action", "framing"},
               "unseen_words": [...], "spec": {nuisance fields of SceneSpec, 3 decimals}}, ...],
   "same_station_cuts": k}   (only in sets drawn with --same-station)
`seed` is the noise seed for generation and the render seed of the ground-truth clip
(train/data/render.render_clip(specs, ..., seed=seed)). Prompt i of count n depends only on
(--seed, n, i), so a larger --per-count extends a smaller set without changing it.
"""
import argparse
import functools
import json
import os
import sys

import numpy as np

from train.data import captions as C
from train.data.scenes import SceneSpec, sample_scene_sequence

COUNTS = (1, 2, 3, 4, 5, 6)


def make_prompt(seed: int, n: int, i: int, split: str = "heldout", allow_unseen: bool = True,
                p_same_station: float = 0.0) -> dict:
    """Prompt i of scene count n, a function of (seed, n, i, p_same_station) only."""
    rng = np.random.default_rng([seed, n, i])
    specs = sample_scene_sequence(rng, n, p_same_station)
    unseen = set(C.heldout_only_words())
    scenes = []
    for sp in specs:
        for _ in range(1000):
            cap = C.caption(sp, rng, split=split)
            uw = sorted(set(C.words(cap)) & unseen)
            if allow_unseen or not uw:
                break
        else:
            raise RuntimeError("no caption without unseen words found")
        scenes.append({"caption": cap, "attributes": sp.attributes(), "unseen_words": uw,
                       "spec": _compact(sp.to_dict())})
    rec = {"id": f"n{n}_{i:03d}", "n_scenes": n, "index": i, "seed": 100000 * n + i,
           "prompt": C.join_scenes([s["caption"] for s in scenes]), "scenes": scenes}
    if p_same_station:
        rec["same_station_cuts"] = sum(a.station == b.station for a, b in zip(specs, specs[1:]))
    return rec


def _compact(d: dict) -> dict:
    """The spec with nuisance floats rounded to 3 decimals (keeps the file small; the rounded
    spec is the one rendered as ground truth) and the attribute fields left out (they are in
    "attributes")."""
    r = lambda v: round(v, 3) if isinstance(v, float) else v
    return {k: ([r(x) for x in v] if isinstance(v, list) else r(v)) for k, v in d.items()
            if k not in ("station", "piece", "colour", "action", "framing")}


# ---------------------------------------------------------------- which synonym names an attribute

TRAINED, HELDOUT_ONLY, ABSENT = "trained", "heldout_only", "absent"
NAMED_ATTRS = ("station", "piece", "colour", "action")
_ARTICLES = ("the", "a", "an")


@functools.lru_cache(maxsize=1)
def _lexicon():
    """Every synonym of the four attributes (captions.py's tables) as (attr, value, trained,
    parts); parts = the phrase's word tuples split at the active-voice object slot "{obj}"
    ("puts {obj} in a box" -> (("puts",), ("in", "a", "box"))), one part for other phrases."""
    tables = {"station": (C.STATION_WORDS,), "piece": (C.PIECE_WORDS,), "colour": (C.COLOUR_WORDS,),
              "action": (C.ACTION_VERBS, C.ACTION_GERUNDS, C.ACTION_ACTIVE)}
    out = []
    for attr, tabs in tables.items():
        for tab in tabs:
            for value, (train, held) in tab.items():
                for trained, phrases in ((True, train), (False, held)):
                    for ph in phrases:
                        parts = tuple(tuple(C.words(x)) for x in ph.split("{obj}"))
                        assert parts[0] and len(parts) <= 2, ph
                        out.append((attr, value, trained, parts))
    return tuple(out)


def _object_ends(ws, j):
    """Ends e such that ws[j:e] is an active phrase's object: article, colour, piece (any synonym)."""
    if j >= len(ws) or ws[j] not in _ARTICLES:
        return []
    colours = [p[0] for a, _, _, p in _lexicon() if a == "colour"]
    pieces = [p[0] for a, _, _, p in _lexicon() if a == "piece"]
    ends = []
    for c in colours:
        k = j + 1 + len(c)
        if tuple(ws[j + 1:k]) == c:
            ends += [k + len(p) for p in pieces if tuple(ws[k:k + len(p)]) == p]
    return ends


def _phrase_matches(ws):
    """Every synonym occurring in the word list ws -> [(attr, value, trained, word positions)];
    an active phrase's positions are its own words, not its object's."""
    out = []
    for attr, value, trained, parts in _lexicon():
        head = parts[0]
        for i in range(len(ws) - len(head) + 1):
            if tuple(ws[i:i + len(head)]) != head:
                continue
            pos = set(range(i, i + len(head)))
            if len(parts) == 1:
                out.append((attr, value, trained, frozenset(pos)))
                continue
            tail = parts[1]
            for e in _object_ends(ws, i + len(head)):
                if tuple(ws[e:e + len(tail)]) == tail:
                    out.append((attr, value, trained, frozenset(pos | set(range(e, e + len(tail))))))
                    break
    return out


def named_values(caption: str):
    """The attribute values a caption names -> [(attr, value, trained)]: every synonym found
    in its word sequence, except one whose words all lie inside a longer found synonym."""
    ms = _phrase_matches(C.words(caption))
    return [(a, v, tr) for a, v, tr, pos in ms if not any(pos < o[3] for o in ms)]


def attribute_naming(caption: str, attributes: dict) -> dict:
    """For each of station, piece, colour, action: how `caption` (one scene's text) names the
    scene's value of it -> TRAINED (by at least one synonym split="train" uses), HELDOUT_ONLY
    (only by held-out synonyms, which contain words training never saw, e.g. "sprocket",
    "press machine", "violet", "rolls forward") or ABSENT. Matching is on the caption's word
    sequence (captions.words); a synonym whose words all lie inside a longer matched synonym
    does not count on its own, so "press machine" is not the trained "press", "drill press"
    not "press", "l bracket" not "bracket", and the "box" of "puts the red case in a box" is
    the packing action, not the piece."""
    kept = named_values(caption)
    out = {}
    for at in NAMED_ATTRS:
        hits = [tr for a, v, tr in kept if a == at and v == attributes[at]]
        out[at] = TRAINED if any(hits) else HELDOUT_ONLY if hits else ABSENT
    return out


def scene_spec(scene: dict) -> SceneSpec:
    """The SceneSpec of a prompt record's scene (attributes + nuisance spec)."""
    return SceneSpec.from_dict({**(scene.get("spec") or {}), **scene["attributes"]})


def make_set(per_count: int, seed: int, counts=COUNTS, split="heldout", allow_unseen=True,
             p_same_station=0.0):
    return [make_prompt(seed, n, i, split, allow_unseen, p_same_station)
            for n in counts for i in range(per_count)]


def load(path: str):
    """Reads a prompt set; checks every record (raises ValueError naming the line)."""
    out = []
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            if not line.strip():
                continue
            r = json.loads(line)
            bad = check_record(r)
            if bad:
                raise ValueError(f"{path}:{ln}: {bad}")
            out.append(r)
    return out


def check_record(r: dict) -> str:
    """'' if the record is usable, else what is wrong."""
    for k in ("id", "n_scenes", "seed", "prompt", "scenes"):
        if k not in r:
            return f"missing field {k!r}"
    if not 1 <= r["n_scenes"] <= 6 or len(r["scenes"]) != r["n_scenes"]:
        return f"n_scenes {r['n_scenes']} does not match {len(r['scenes'])} scenes (1..6)"
    if C.split_scenes(r["prompt"]) != [s["caption"] for s in r["scenes"]]:
        return "prompt is not the scene captions joined with ' | '"
    for s in r["scenes"]:
        a = s.get("attributes") or {}
        if set(a) != {"station", "piece", "colour", "action", "framing"}:
            return "a scene lacks its five attributes"
        try:
            scene_spec(s).validate()
        except (TypeError, ValueError) as e:
            return f"bad scene: {e}"
    return ""


def write(records, path: str):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n")
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-count", type=int, default=50)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    ap.add_argument("--split", choices=["heldout", "train"], default="heldout")
    ap.add_argument("--no-unseen-words", action="store_true")
    ap.add_argument("--same-station", type=float, default=0.0, metavar="P",
                    help="chance that a cut keeps the station (changes action or framing only)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if any(not 1 <= n <= 6 for n in a.counts):
        ap.error("--counts must be in 1..6")
    if not 0.0 <= a.same_station <= 1.0:
        ap.error("--same-station must be in [0, 1]")
    recs = make_set(a.per_count, a.seed, a.counts, a.split, not a.no_unseen_words, a.same_station)
    write(recs, a.out)
    n_unseen = sum(bool(s["unseen_words"]) for r in recs for s in r["scenes"])
    n_sc = sum(len(r["scenes"]) for r in recs)
    print(f"wrote {a.out}: {len(recs)} prompts ({a.per_count} per count {a.counts}), {n_sc} scenes, "
          f"{n_unseen} with held-out-only words"
          + (f", {sum(r['same_station_cuts'] for r in recs)} of {n_sc - len(recs)} cuts at one station"
             if a.same_station else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
