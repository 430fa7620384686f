"""The attribute space of a synthetic factory process step, and its sampler.

A scene is one process step: a *station* (where), a *work piece* of some *colour* (what),
an *action* done to it (how it moves), and a camera *framing*. On top of those discrete
attributes each scene carries continuous nuisance parameters (positions, sizes, lighting,
a small camera pan) so that two scenes with the same caption are never pixel-identical.

Pairing rules (documented in docs/data.md):
  * any piece may appear in any colour at any station;
  * the action must be one the station can do (STATION_ACTIONS) -- there are no sparks at
    the packing table, no pressing at the forklift bay;
  * any framing goes with anything.

Everything here is plain data: SceneSpec is a dataclass whose fields are JSON-serialisable
(`spec.to_dict()` / `SceneSpec.from_dict()`), so manifests can store and rebuild it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Dict, List, Tuple

import numpy as np

# ---------------------------------------------------------------- attribute space

STATIONS: Tuple[str, ...] = (
    "conveyor", "press", "drill", "welding_robot",
    "inspection_camera", "packing", "assembly_bench", "forklift_bay",
)
PIECES: Tuple[str, ...] = ("box", "gear", "pipe", "plate", "canister", "wheel", "bracket")
COLOURS: Tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
ACTIONS: Tuple[str, ...] = (
    "moves_along", "presses_down", "rotates", "sparks",
    "lifted", "scanned", "drilled", "packed",
)
FRAMINGS: Tuple[str, ...] = ("wide", "close")

# What each station can do to a piece. Every action is reachable from at least one station.
STATION_ACTIONS: Dict[str, Tuple[str, ...]] = {
    "conveyor":          ("moves_along", "scanned", "lifted"),
    "press":             ("presses_down",),
    "drill":             ("drilled", "rotates"),
    "welding_robot":     ("sparks", "rotates"),
    "inspection_camera": ("scanned", "rotates"),
    "packing":           ("packed", "moves_along"),
    "assembly_bench":    ("rotates", "lifted"),
    "forklift_bay":      ("lifted", "moves_along"),
}

# sRGB in [0,1]. Saturated, well apart in hue/value, so the colour word is learnable.
COLOUR_RGB: Dict[str, Tuple[float, float, float]] = {
    "red":    (0.88, 0.12, 0.12),
    "orange": (0.98, 0.55, 0.08),
    "yellow": (0.97, 0.88, 0.12),
    "green":  (0.15, 0.75, 0.22),
    "blue":   (0.15, 0.32, 0.92),
    "purple": (0.58, 0.20, 0.78),
    "white":  (0.97, 0.97, 0.97),
    "black":  (0.06, 0.06, 0.07),
}


def valid_combination(station: str, action: str) -> bool:
    """True when `action` can happen at `station` (pieces, colours, framings pair freely)."""
    return action in STATION_ACTIONS.get(station, ())


def all_attribute_sets() -> List[Tuple[str, str, str, str, str]]:
    """Every valid (station, piece, colour, action, framing) tuple, in a fixed order."""
    out = []
    for s in STATIONS:
        for p in PIECES:
            for c in COLOURS:
                for a in STATION_ACTIONS[s]:
                    for f in FRAMINGS:
                        out.append((s, p, c, a, f))
    return out


# ---------------------------------------------------------------- the scene record

@dataclass
class SceneSpec:
    # discrete attributes (what the caption says)
    station: str
    piece: str
    colour: str
    action: str
    framing: str = "wide"
    # continuous nuisance parameters (what the caption does not say); ranges in sample_scene
    piece_x: float = 0.5          # piece centre, world x in [0,1] (frame is the unit square)
    piece_scale: float = 1.0      # multiplies the station's nominal piece size
    floor_y: float = 0.72         # y of the floor line / work surface reference
    direction: int = 1            # +1 / -1: direction of travel or rotation
    speed: float = 1.0            # how far the action goes within the scene
    brightness: float = 1.0       # global light level
    light_grad: float = 0.15      # top-lit vertical gradient strength
    tint: Tuple[float, float, float] = (0.0, 0.0, 0.0)   # small colour cast of the light
    bg_shift: float = 0.0         # small shift of the station's wall colour
    cam_x: float = 0.0            # camera centre offset at scene start (world units)
    cam_y: float = 0.0
    pan_x: float = 0.0            # camera drift over the scene (world units, start->end)
    pan_y: float = 0.0
    zoom: float = 1.3             # ~1.3 wide; ~2.2 close (set by sample_scene from framing)
    phase: float = 0.0            # start offset of the action (fraction of its cycle)

    def attributes(self) -> Dict[str, str]:
        return {"station": self.station, "piece": self.piece, "colour": self.colour,
                "action": self.action, "framing": self.framing}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tint"] = list(self.tint)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SceneSpec":
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "tint" in kw:
            kw["tint"] = tuple(float(x) for x in kw["tint"])
        return cls(**kw)

    def validate(self) -> None:
        if self.station not in STATIONS:
            raise ValueError(f"unknown station {self.station!r}; known: {', '.join(STATIONS)}")
        if self.piece not in PIECES:
            raise ValueError(f"unknown piece {self.piece!r}; known: {', '.join(PIECES)}")
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour {self.colour!r}; known: {', '.join(COLOURS)}")
        if self.framing not in FRAMINGS:
            raise ValueError(f"unknown framing {self.framing!r}; known: {', '.join(FRAMINGS)}")
        if not valid_combination(self.station, self.action):
            raise ValueError(f"action {self.action!r} is not done at station {self.station!r}; "
                             f"allowed: {', '.join(STATION_ACTIONS[self.station])}")


# ---------------------------------------------------------------- sampling

def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def nuisance(rng: np.random.Generator, framing: str) -> dict:
    """Continuous parameters. Ranges are moderate on purpose: the model is tiny, so the
    station must stay recognisable and the piece large (see docs/data.md)."""
    close = framing == "close"
    return dict(
        piece_x=_u(rng, 0.40, 0.60),
        piece_scale=_u(rng, 0.85, 1.15),
        floor_y=_u(rng, 0.69, 0.75),
        direction=int(rng.choice([-1, 1])),
        speed=_u(rng, 0.8, 1.2),
        brightness=_u(rng, 0.88, 1.10),
        light_grad=_u(rng, 0.0, 0.25),
        tint=tuple(float(x) for x in rng.uniform(-0.03, 0.03, size=3)),
        bg_shift=_u(rng, -0.05, 0.05),
        cam_x=_u(rng, -0.03, 0.03),
        cam_y=_u(rng, -0.03, 0.03),
        pan_x=_u(rng, -0.04, 0.04),
        pan_y=_u(rng, -0.02, 0.02),
        zoom=_u(rng, 2.1, 2.3) if close else _u(rng, 1.25, 1.35),
        phase=_u(rng, 0.0, 0.15),
    )


def sample_scene(rng: np.random.Generator, station: str | None = None, piece: str | None = None,
                 colour: str | None = None, action: str | None = None,
                 framing: str | None = None) -> SceneSpec:
    """A random valid scene. Any attribute given is kept (it must be valid); the rest is drawn
    uniformly (the action uniformly among the station's actions)."""
    st = station if station is not None else STATIONS[int(rng.integers(len(STATIONS)))]
    pc = piece if piece is not None else PIECES[int(rng.integers(len(PIECES)))]
    co = colour if colour is not None else COLOURS[int(rng.integers(len(COLOURS)))]
    allowed = STATION_ACTIONS[st]
    ac = action if action is not None else allowed[int(rng.integers(len(allowed)))]
    fr = framing if framing is not None else FRAMINGS[int(rng.integers(len(FRAMINGS)))]
    spec = SceneSpec(station=st, piece=pc, colour=co, action=ac, framing=fr, **nuisance(rng, fr))
    spec.validate()
    return spec


def sample_scene_sequence(rng: np.random.Generator, n: int,
                          p_same_station: float = 0.0) -> List[SceneSpec]:
    """n scenes for a multi-scene (TAV) clip. Consecutive scenes differ in station, except
    that with probability p_same_station a scene stays at the previous one's station with the
    same piece and colour and another action or framing (a procedure's next step on the same
    machine: a close-up after a wide shot, the next operation). p_same_station = 0 draws exactly
    what it always drew (the committed clip sets and eval prompts)."""
    out: List[SceneSpec] = []
    for _ in range(n):
        if out and p_same_station and rng.random() < p_same_station:
            prev = out[-1]
            while True:
                sp = sample_scene(rng, station=prev.station, piece=prev.piece, colour=prev.colour)
                if (sp.action, sp.framing) != (prev.action, prev.framing):
                    break
            out.append(sp)
            continue
        choices = [s for s in STATIONS if not out or s != out[-1].station]
        st = choices[int(rng.integers(len(choices)))]
        out.append(sample_scene(rng, station=st))
    return out
