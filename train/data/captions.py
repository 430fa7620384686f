"""Captions for synthetic scenes: a phrase grammar with synonyms and varied word order, the
multi-scene prompt format, and the tokenizer rule the C engine replicates.

    caption(spec, rng, split="train")    one random phrasing of the scene
    all_captions(spec, split)            every phrasing the grammar can produce (a finite set)
    vocabulary()                         every word any caption of either split can contain
    join_scenes([c1, c2]) -> "c1 | c2"   the multi-scene prompt (THE format; docs/data.md)
    split_scenes("c1 | c2") -> [c1, c2]
    tokenize(prompt) -> ["a", "red", ..., "<sep>", ...]   words(text) -> ["a", "red", ...]

Held-out phrasings: split="heldout" uses templates (word orders) and synonyms that
split="train" never uses, so an evaluation can ask whether the model follows a prompt it
was not trained on word for word. Every held-out word still appears in vocabulary(); words
that occur ONLY in held-out phrasings are listed by heldout_only_words().
"""
from __future__ import annotations

import itertools
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .scenes import ACTIONS, COLOURS, FRAMINGS, PIECES, STATIONS, SceneSpec

SEP_TEXT = "|"          # scene separator in prompt text, written " | "
SEP_TOKEN = "<sep>"     # what the tokenizer turns SEP_TEXT into
SPECIAL_TOKENS = ("<pad>", "<unk>", SEP_TOKEN)

# ---------------------------------------------------------------- lexicon
# (train synonyms, held-out synonyms). Held-out synonyms never appear in split="train".

STATION_WORDS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "conveyor":          (("conveyor", "conveyor belt", "belt line"), ("transfer belt",)),
    "press":             (("press", "hydraulic press", "stamping press"), ("press machine",)),
    "drill":             (("drill", "drill press", "drilling station"), ("boring machine",)),
    "welding_robot":     (("welding robot", "welding cell", "robot welder"), ("weld station",)),
    "inspection_camera": (("inspection camera", "inspection station", "vision station"),
                          ("quality check camera",)),
    "packing":           (("packing station", "packing table", "packaging line"), ("shipping table",)),
    "assembly_bench":    (("assembly bench", "workbench", "assembly table"), ("fitting bench",)),
    "forklift_bay":      (("forklift bay", "loading bay", "forklift area"), ("loading dock",)),
}
PIECE_WORDS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "box":      (("box", "crate", "carton"), ("case",)),
    "gear":     (("gear", "cog", "gear wheel"), ("sprocket",)),
    "pipe":     (("pipe", "tube", "pipe section"), ("conduit",)),
    "plate":    (("plate", "metal plate", "sheet"), ("panel",)),
    "canister": (("canister", "can", "drum"), ("cylinder",)),
    "wheel":    (("wheel", "rim", "wheel hub"), ("ring",)),
    "bracket":  (("bracket", "angle bracket", "corner bracket"), ("l bracket",)),
}
COLOUR_WORDS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "red": (("red",), ()), "orange": (("orange",), ()), "yellow": (("yellow",), ()),
    "green": (("green",), ()), "blue": (("blue",), ()), "purple": (("purple",), ("violet",)),
    "white": (("white",), ()), "black": (("black",), ()),
}
# Each action: finite verb phrases (subject = the piece) and gerund phrases.
ACTION_VERBS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "moves_along":  (("moves along", "slides along", "travels along"), ("rolls forward",)),
    "presses_down": (("is pressed down", "is stamped", "gets pressed flat"), ("is squashed",)),
    "rotates":      (("rotates", "turns around", "spins"), ("revolves",)),
    "sparks":       (("is welded with sparks", "gets welded", "is spot welded"), ("is fused",)),
    "lifted":       (("is lifted", "is raised", "is hoisted up"), ("goes up",)),
    "scanned":      (("is scanned", "is inspected", "gets checked"), ("is examined",)),
    "drilled":      (("is drilled", "gets a hole drilled", "is bored through"), ("is pierced",)),
    "packed":       (("is packed", "is boxed", "is put in a box"), ("is packaged",)),
}
ACTION_GERUNDS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "moves_along":  (("moving along", "sliding along"), ("rolling forward",)),
    "presses_down": (("being pressed down", "being stamped"), ("being squashed",)),
    "rotates":      (("rotating", "turning around"), ("revolving",)),
    "sparks":       (("being welded with sparks", "being welded"), ("being fused",)),
    "lifted":       (("being lifted", "being raised"), ("going up",)),
    "scanned":      (("being scanned", "being inspected"), ("being examined",)),
    "drilled":      (("being drilled", "being bored through"), ("being pierced",)),
    "packed":       (("being packed", "being boxed"), ("being packaged",)),
}
# Active voice (subject = the station): "{obj}" is "the red box" / "a red box".
ACTION_ACTIVE: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "moves_along":  (("carries {obj} along", "moves {obj} along"), ("transports {obj}",)),
    "presses_down": (("presses down on {obj}", "stamps {obj}"), ("flattens {obj}",)),
    "rotates":      (("rotates {obj}", "turns {obj} around"), ("spins {obj} round",)),
    "sparks":       (("welds {obj}", "welds {obj} with sparks"), ("fuses {obj}",)),
    "lifted":       (("lifts {obj}", "raises {obj}"), ("hoists {obj} up",)),
    "scanned":      (("scans {obj}", "inspects {obj}"), ("examines {obj}",)),
    "drilled":      (("drills {obj}", "drills a hole in {obj}"), ("bores through {obj}",)),
    "packed":       (("packs {obj}", "puts {obj} in a box"), ("packages {obj}",)),
}
FRAMING_WORDS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "wide":  (("wide shot", "wide view"), ("long shot",)),
    "close": (("close up", "close view"), ("detail shot",)),
}

# Templates. Slots: {a} article for the colour word, {colour} {piece} {station}
# {verb} (finite) {ing} (gerund) {framing}. Text is lower-case; punctuation is cosmetic
# (the tokenizer drops it). Held-out templates use word orders train never produces.
TRAIN_TEMPLATES: Tuple[str, ...] = (
    "{a} {colour} {piece} {verb} at the {station}, {framing}",
    "at the {station}, {a} {colour} {piece} {verb}, {framing}",
    "{framing}: {a} {colour} {piece} {ing} at the {station}",
    "{framing} of the {station} where {a} {colour} {piece} {verb}",
    "{station}, {framing}: the {colour} {piece} {verb}",
    "the {colour} {piece} {verb} at the {station} in a {framing}",
    "the {station} {active_the}, {framing}",
    "{framing}: the {station} {active_a}",
)
HELDOUT_TEMPLATES: Tuple[str, ...] = (
    "{framing} showing how {a} {colour} {piece} {verb} on the {station}",
    "on the {station} {a} {colour} {piece} {verb} seen in a {framing}",
    "in a {framing} the {station} {active_the}",
)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _choices(table, key, split):
    train, held = table[key]
    if split == "train":
        return train
    if split == "heldout":           # held-out templates take every synonym, seen or not
        return train + held
    raise ValueError(f"split must be 'train' or 'heldout', not {split!r}")


def _fill(template: str, colour: str, piece: str, station: str, verb: str, ing: str,
          active: str, framing: str) -> str:
    return template.format(a=_article(colour), colour=colour, piece=piece, station=station,
                           verb=verb, ing=ing, framing=framing,
                           active_the=active.format(obj=f"the {colour} {piece}"),
                           active_a=active.format(obj=f"{_article(colour)} {colour} {piece}"))


def _slots(spec: SceneSpec, split: str):
    return (_choices(COLOUR_WORDS, spec.colour, split), _choices(PIECE_WORDS, spec.piece, split),
            _choices(STATION_WORDS, spec.station, split), _choices(ACTION_VERBS, spec.action, split),
            _choices(ACTION_GERUNDS, spec.action, split), _choices(ACTION_ACTIVE, spec.action, split),
            _choices(FRAMING_WORDS, spec.framing, split))


def caption(spec: SceneSpec, rng: np.random.Generator, split: str = "train") -> str:
    """One random phrasing of the scene. split='heldout' uses the held-out templates with all
    synonyms (train ones and held-out ones), so it is never a caption split='train' produces."""
    templates = TRAIN_TEMPLATES if split == "train" else HELDOUT_TEMPLATES
    slots = _slots(spec, split)
    t = templates[int(rng.integers(len(templates)))]
    pick = [s[int(rng.integers(len(s)))] for s in slots]
    return _fill(t, *pick)


def all_captions(spec: SceneSpec, split: str = "train") -> List[str]:
    """Every caption `caption(spec, ·, split)` can return (sorted, no duplicates)."""
    templates = TRAIN_TEMPLATES if split == "train" else HELDOUT_TEMPLATES
    out = set()
    for t in templates:
        for combo in itertools.product(*_slots(spec, split)):
            out.add(_fill(t, *combo))
    return sorted(out)


# ---------------------------------------------------------------- tokenizer and vocabulary

_WORD_RE = re.compile(r"[a-z0-9]+")


def words(text: str) -> List[str]:
    """THE word rule (C replicates it byte for byte, docs/data.md): ASCII A-Z are lower-cased,
    no other byte changes; a word is a maximal run of bytes in [a-z0-9]; every other byte
    (space, punctuation, '-', "'", '|', any byte >= 0x80) only separates words."""
    b = text.encode("utf-8", "surrogateescape")
    low = bytes(c + 32 if 65 <= c <= 90 else c for c in b).decode("latin-1")
    return _WORD_RE.findall(low)


def tokenize(prompt: str) -> List[str]:
    """THE prompt rule: split_scenes(prompt) (split at '|', trim, drop empty parts), words() of
    each scene, scenes joined by SEP_TOKEN ('<sep>'). So "a | b" -> [a, <sep>, b] and leading,
    trailing or doubled '|' add nothing. A scene that has no words (e.g. "a | ... | b") gives two
    <sep> in a row: the model rejects such a prompt (see scenes_without_words).
    Unknown words are the caller's business (the model reports them, never drops them)."""
    out: List[str] = []
    for k, scene in enumerate(split_scenes(prompt)):
        if k:
            out.append(SEP_TOKEN)
        out += words(scene)
    return out


def scenes_without_words(prompt: str) -> List[int]:
    """0-based indices of the scenes of `prompt` that contain no word (an error for the model)."""
    return [k for k, s in enumerate(split_scenes(prompt)) if not words(s)]


def _words_of(phrases) -> set:
    out = set()
    for p in phrases:
        out.update(words(p))
    return out


def _all_phrases(split_index=None):
    tables = (STATION_WORDS, PIECE_WORDS, COLOUR_WORDS, ACTION_VERBS, ACTION_GERUNDS,
              ACTION_ACTIVE, FRAMING_WORDS)
    phrases = []
    for tab in tables:
        for train, held in tab.values():
            if split_index in (None, 0):
                phrases += list(train)
            if split_index in (None, 1):
                phrases += list(held)
    for template in (TRAIN_TEMPLATES if split_index == 0 else HELDOUT_TEMPLATES if split_index == 1
                     else TRAIN_TEMPLATES + HELDOUT_TEMPLATES):
        phrases.append(re.sub(r"\{[a-z_]+\}", " ", template))
    phrases += ["a", "an"]                    # the {a} slot, in every split
    return phrases


def vocabulary() -> List[str]:
    """Every word (lower-case, as tokenize() yields it) that any caption of either split can
    contain, sorted. Special tokens are not included (see SPECIAL_TOKENS)."""
    return sorted(_words_of(_all_phrases(None)))


def heldout_only_words() -> List[str]:
    """Words that only held-out phrasings use (a model trained on split='train' never saw them)."""
    return sorted(_words_of(_all_phrases(1)) - _words_of(_all_phrases(0)))


# ---------------------------------------------------------------- multi-scene prompts

def join_scenes(captions: Sequence[str]) -> str:
    """Per-scene captions -> one prompt: 'caption one | caption two | ...'."""
    out = []
    for c in captions:
        if SEP_TEXT in c:
            raise ValueError(f"a scene caption may not contain {SEP_TEXT!r}: {c!r}")
        c = _WS_RE.sub(" ", c).strip(_ASCII_WS)
        if not c:
            raise ValueError("empty scene caption")
        out.append(c)
    return f" {SEP_TEXT} ".join(out)


_ASCII_WS = " \t\n\v\f\r"
_WS_RE = re.compile(r"[ \t\n\v\f\r]+")


def split_scenes(prompt: str) -> List[str]:
    """Inverse of join_scenes: split on '|', collapse runs of ASCII whitespace (space, \\t, \\n,
    \\v, \\f, \\r) to one space, trim them, drop parts that are then empty. Only ASCII
    whitespace counts (as in C's isspace in the C locale), so C gets the same scenes."""
    out = []
    for part in prompt.split(SEP_TEXT):
        part = _WS_RE.sub(" ", part).strip(_ASCII_WS)
        if part:
            out.append(part)
    return out


def attribute_words() -> Dict[str, List[str]]:
    """For evaluation: the train synonyms of every attribute value (canonical name first)."""
    out = {}
    for tab in (STATION_WORDS, PIECE_WORDS, COLOUR_WORDS, ACTION_VERBS):
        for k, (train, _held) in tab.items():
            out[k] = list(train)
    return out


assert set(STATION_WORDS) == set(STATIONS) and set(PIECE_WORDS) == set(PIECES)
assert set(COLOUR_WORDS) == set(COLOURS) and set(ACTION_VERBS) == set(ACTIONS)
assert set(ACTION_GERUNDS) == set(ACTIONS) and set(FRAMING_WORDS) == set(FRAMINGS)
assert set(ACTION_ACTIVE) == set(ACTIONS)


# ---------------------------------------------------------------- caption check CLI

def unknown_words(text: str) -> List[str]:
    """Words of `text` (words() rule) that are not in vocabulary(), in order, no repeats."""
    vocab, out = set(vocabulary()), []
    for w in words(text):
        if w not in vocab and w not in out:
            out.append(w)
    return out


def _main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(
        prog="python3 -m train.data.captions",
        description="Check captions against the caption vocabulary (the words the model knows). "
                    "Arguments are caption texts, or files: for *.tmpl files the 'caption =' lines "
                    "are checked with {field} placeholders removed; other files line by line.")
    ap.add_argument("items", nargs="*")
    ap.add_argument("--vocab", action="store_true", help="print the vocabulary, one word a line")
    ap.add_argument("--examples", type=int, default=0, help="print N random train captions")
    a = ap.parse_args(argv)
    if a.vocab:
        print("\n".join(vocabulary()))
    if a.examples:
        from .scenes import sample_scene
        rng = np.random.default_rng(0)
        for _ in range(a.examples):
            print(caption(sample_scene(rng), rng))
    bad = 0
    for item in a.items:
        try:
            with open(item, encoding="utf-8") as f:
                lines = f.read().splitlines()
            if item.endswith(".tmpl"):
                lines = [ln.split("=", 1)[1] for ln in lines if ln.strip().startswith("caption")
                         and "=" in ln]
            texts = [(f"{item}: ", re.sub(r"\{[^}]*\}", " ", ln)) for ln in lines if ln.strip()]
        except OSError:
            texts = [("", item)]
        for where, t in texts:
            unk = unknown_words(t)
            if unk:
                bad += 1
                print(f"{where}{t.strip()!r}: unknown words: {', '.join(unk)}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(_main())
