"""Procedural renderer of factory process-step scenes (numpy, vectorised over frames and pixels).

World coordinates: the frame is the unit square, x to the right, y downwards. The camera maps
pixel (i, j) of an S x S frame to world (cx + ((j+.5)/S - .5)/zoom, cy + ((i+.5)/S - .5)/zoom),
so the same scene renders at any size (32, 64, 128 ...) and the geometry is the same.

Every shape is a signed distance field evaluated on the whole [T,H,W] grid at once and painted
with a one-pixel anti-aliased edge, so edges are smooth and there is no fine texture or noise:
the model that learns from these frames is tiny (see docs/data.md, "Why the scenes look like this").

Public API
    render_scene(spec, n_frames=16, size=64, rng=None) -> uint8 [T, H, W, 3]
    render_clip(specs, frames_per_scene=16, size=64, seed=0, transitions=None)
        -> (uint8 [T, H, W, 3], cut_frames)
    transition_spans(frames_per_scene, transitions) -> list of dicts (frame, type, span)
FPS = 8.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numpy as np

from .scenes import COLOUR_RGB, SceneSpec

FPS = 8
F32 = np.float32

# ---------------------------------------------------------------- SDF helpers
# All take world-space arrays broadcastable to [T,H,W] and return signed distance (<0 inside).


def _sd_box(x, y, cx, cy, hw, hh, r=0.0):
    qx = np.abs(x - cx) - hw + r
    qy = np.abs(y - cy) - hh + r
    out = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return out + np.minimum(np.maximum(qx, qy), 0) - r


def _sd_circle(x, y, cx, cy, r):
    return np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def _sd_segment(x, y, ax, ay, bx, by, r):
    """Capsule of radius r around the segment a-b."""
    pax, pay = x - ax, y - ay
    bax, bay = bx - ax, by - ay
    h = np.clip((pax * bax + pay * bay) / (bax * bax + bay * bay + 1e-9), 0.0, 1.0)
    return np.sqrt((pax - bax * h) ** 2 + (pay - bay * h) ** 2) - r


def _col(rgb) -> np.ndarray:
    return np.asarray(rgb, dtype=F32)


class _Canvas:
    """A [T,H,W,3] float image plus the world coordinates of every pixel of every frame."""

    def __init__(self, n: int, size: int, cx, cy, zoom):
        g = ((np.arange(size, dtype=F32) + 0.5) / size - 0.5)
        cx = _per_frame(cx, n)
        cy = _per_frame(cy, n)
        z = _per_frame(zoom, n)
        # kept separable ([T,1,W] and [T,H,1]): axis-aligned SDFs then cost O(T*(H+W)) until
        # their last step, and numpy broadcasting builds the [T,H,W] result
        self.X = cx + g[None, None, :] / z          # [T,1,W]
        self.Y = cy + g[None, :, None] / z          # [T,H,1]
        self.px = (1.0 / (size * z)).astype(F32)    # world size of one pixel, [T,1,1]
        # channel-first: numpy is ~40x slower on an innermost axis of length 3
        self.img = np.zeros((3, n, size, size), F32)
        self._tmp = np.empty((n, size, size), F32)
        self.n = n
        self.cover = None          # visible piece coverage [T,H,W], once track_piece() is called
        self._painting_piece = False

    def track_piece(self):
        """Start recording how much of each pixel the piece covers (paint() keeps it up to date:
        the piece's paints add to it, every later paint in front of the piece takes it away)."""
        self.cover = np.zeros(self._tmp.shape, F32)

    def paint(self, d, rgb, alpha=1.0):
        """Composite colour rgb (3 floats) where the SDF d is < 0, edges anti-aliased.
        alpha: scalar or an array broadcastable to [T,H,W] (e.g. [T,1,1] per frame)."""
        m = np.minimum(np.maximum(F32(0.5) - d / self.px, F32(0.0)), F32(1.0))
        if not np.isscalar(alpha):
            m = m * alpha
        elif alpha != 1.0:
            m = m * F32(alpha)
        m = np.broadcast_to(m, self._tmp.shape)
        if self.cover is not None:
            if self._painting_piece:
                self.cover += (F32(1.0) - self.cover) * m
            else:
                self.cover *= F32(1.0) - m
        for ch in range(3):
            np.subtract(F32(rgb[ch]), self.img[ch], out=self._tmp)
            self._tmp *= m
            self.img[ch] += self._tmp

    def fill(self, rgb):
        for ch in range(3):
            self.img[ch] = F32(rgb[ch])


def _per_frame(v, n):
    """Scalar or [T] -> [T,1,1] float32 (for broadcasting against the pixel grid)."""
    a = np.asarray(v, F32)
    if a.ndim == 3:
        return np.broadcast_to(a, (n, 1, 1))
    return np.broadcast_to(a.reshape(-1), (n,)).reshape(n, 1, 1)


def _smooth(a, b, x):
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# ---------------------------------------------------------------- work pieces
# Local units: the piece spans about [-1,1]; HALF_H is its half height (to rest it on a surface).

HALF_H = {"box": 0.85, "gear": 0.94, "pipe": 0.34, "plate": 0.55, "canister": 0.92,
          "wheel": 0.92, "bracket": 0.92}
NOMINAL_SIZE = 0.13   # world half-size of a piece at piece_scale 1 (~1/3 of a wide frame)
WIDE_ZOOM = 1.3       # wide framing shows 0.77 x 0.77 world units around the work surface
CLOSE_ZOOM = 2.2      # close framing: the piece fills about half the frame


def _shade_of(rgb):
    r = np.asarray(rgb, F32)
    if r.max() < 0.2:                      # black: shade lighter so its parts stay readable
        return np.array([0.32, 0.32, 0.35], F32)
    return r * F32(0.62)


def _draw_piece(cv: _Canvas, kind: str, rgb, cx, cy, s, sxm=1.0, sym=1.0, ang=0.0, hole=None):
    """Paint a piece of half-size s (world) centred at (cx, cy) ([T,1,1] each), squashed by
    sxm/sym and rotated by ang (radians). `hole` ([T,1,1] radius in local units) draws a dark
    drilled hole at the centre."""
    n = cv.n
    cx, cy, s = _per_frame(cx, n), _per_frame(cy, n), _per_frame(s, n)
    sxm, sym, ang = _per_frame(sxm, n), _per_frame(sym, n), _per_frame(ang, n)
    dx, dy = cv.X - cx, cv.Y - cy
    c, si = np.cos(ang), np.sin(ang)
    u = (dx * c + dy * si) / (s * sxm)
    v = (-dx * si + dy * c) / (s * sym)
    k = s * np.minimum(sxm, sym)           # local -> world distance
    base, shade = _col(rgb), _shade_of(rgb)
    cv._painting_piece = True
    try:
        _paint_piece_shape(cv, kind, base, shade, u, v, k, hole)
    finally:
        cv._painting_piece = False


def _paint_piece_shape(cv, kind, base, shade, u, v, k, hole):
    """The piece's body, its shaded detail and the optional drilled hole (local coords u, v)."""
    n = cv.n
    if kind == "box":
        body = _sd_box(u, v, 0, 0, 0.85, 0.85, 0.12)
        detail = np.maximum(body, _sd_box(u, v, 0, -0.62, 0.9, 0.24))          # lid band
        detail = np.minimum(detail, np.maximum(body, _sd_box(u, v, 0, 0, 0.13, 0.9)))  # tape
    elif kind == "gear":
        r = np.sqrt(u * u + v * v)
        th = np.arctan2(v, u)
        tooth = np.clip(2.5 * np.cos(6 * th), -1, 1)
        body = np.maximum(r - (0.76 + 0.17 * tooth), 0.26 - r)
        detail = np.maximum(body, r - 0.44)                                     # hub
    elif kind == "pipe":
        body = _sd_segment(u, v, -0.95, 0, 0.95, 0, 0.34)
        detail = _sd_circle(u * 1.8, v, 0.95 * 1.8, 0, 0.3) / 1.8                # open end
    elif kind == "plate":
        body = _sd_box(u, v, 0, 0, 0.98, 0.55, 0.08)
        holes = np.minimum(_sd_circle(u, v, -0.58, 0, 0.17), _sd_circle(u, v, 0.58, 0, 0.17))
        body = np.maximum(body, -holes)
        detail = np.maximum(body, _sd_box(u, v, 0, 0.45, 1.0, 0.1))             # edge
    elif kind == "canister":
        body = _sd_box(u, v, 0, 0, 0.58, 0.92, 0.22)
        detail = np.maximum(body, np.minimum(_sd_box(u, v, 0, -0.70, 0.6, 0.12),
                                             _sd_box(u, v, 0, 0.30, 0.6, 0.08)))  # bands
    elif kind == "wheel":
        r = np.sqrt(u * u + v * v)
        ring = np.maximum(r - 0.92, 0.56 - r)
        spoke = np.minimum(_sd_box(u, v, 0, 0, 0.62, 0.15), _sd_circle(u, v, 0, 0, 0.26))
        body = np.minimum(ring, spoke)
        detail = spoke                                                           # hub + bar
    elif kind == "bracket":
        body = np.minimum(_sd_box(u, v, -0.58, 0, 0.32, 0.92, 0.06),
                          _sd_box(u, v, 0, 0.6, 0.92, 0.32, 0.06))
        detail = np.maximum(body, _sd_circle(u, v, -0.58, 0.6, 0.26))           # corner
    else:
        raise ValueError(f"unknown piece {kind!r}")

    cv.paint(body * k, base)
    cv.paint(detail * k, shade)
    if hole is not None:
        cv.paint((np.sqrt(u * u + v * v) - _per_frame(hole, n)) * k, (0.05, 0.05, 0.06))


# ---------------------------------------------------------------- stations
# Each station: wall colour, floor colour, surface height above the floor (where the piece
# rests), and machinery drawn behind (back) and in front of (front) the piece.

WALL = {
    "conveyor":          (0.36, 0.45, 0.60),   # steel blue
    "press":             (0.50, 0.48, 0.28),   # olive
    "drill":             (0.18, 0.45, 0.45),   # teal
    "welding_robot":     (0.22, 0.19, 0.28),   # dark violet-grey
    "inspection_camera": (0.78, 0.80, 0.78),   # pale clean-room grey
    "packing":           (0.60, 0.44, 0.30),   # warm brown
    "assembly_bench":    (0.36, 0.52, 0.34),   # muted green
    "forklift_bay":      (0.56, 0.28, 0.24),   # brick red
}
FLOOR = {
    "conveyor":          (0.20, 0.23, 0.30),
    "press":             (0.30, 0.29, 0.22),
    "drill":             (0.16, 0.24, 0.25),
    "welding_robot":     (0.12, 0.11, 0.15),
    "inspection_camera": (0.56, 0.58, 0.58),
    "packing":           (0.36, 0.29, 0.22),
    "assembly_bench":    (0.25, 0.30, 0.24),
    "forklift_bay":      (0.52, 0.52, 0.50),
}
SURFACE = {   # height of the work surface above the floor line (world units)
    "conveyor": 0.12, "press": 0.16, "drill": 0.20, "welding_robot": 0.14,
    "inspection_camera": 0.12, "packing": 0.14, "assembly_bench": 0.18, "forklift_bay": 0.06,
}
STEEL = (0.55, 0.57, 0.60)
DARK = (0.14, 0.14, 0.16)


class _Ctx:
    """Everything the station drawing functions need for one scene."""

    def __init__(self, spec: SceneSpec, cv: _Canvas, p, t, rng):
        self.spec, self.cv, self.p, self.t, self.rng = spec, cv, p, t, rng
        n = cv.n
        self.floor = F32(spec.floor_y)
        self.surf = F32(spec.floor_y - SURFACE[spec.station])
        self.s = F32(NOMINAL_SIZE * spec.piece_scale)
        hh = HALF_H[spec.piece]
        # piece pose, [T,1,1] each; actions overwrite what they change
        self.x = _per_frame(spec.piece_x, n)
        self.y = _per_frame(self.surf - self.s * hh, n)
        self.sxm = _per_frame(1.0, n)
        self.sym = _per_frame(1.0, n)
        self.ang = _per_frame(0.0, n)
        self.hole = None
        self.hh = F32(hh)


TRAVEL = 0.42            # world distance of moves_along (x speed)
LIFT = 0.26              # world height of lifted (x speed)
CLOSE_AMP = 0.5          # close framing magnifies ~1.7x: scale motion back to a similar screen size
PACK_BOX_H = 2.4         # packing box height in piece half-sizes
MIN_ACTION_FRAMES = 12   # the full action takes at least this many frames (1.5 s at 8 fps)


def _amp(sp: SceneSpec) -> float:
    return sp.speed * (CLOSE_AMP if sp.framing == "close" else 1.0)


def _piece_pose(c: _Ctx):
    """Apply the action to the piece pose (the parts every station shares)."""
    sp, p = c.spec, c.p
    if sp.action == "moves_along":
        c.x = c.x + F32(sp.direction * TRAVEL * _amp(sp)) * (p - F32(0.5))
    elif sp.action == "rotates":
        c.ang = F32(sp.direction * np.pi * 0.9 * _amp(sp)) * p
    elif sp.action == "presses_down":
        q = _smooth(0.4, 0.85, p)
        c.sym = 1 - F32(0.45) * q
        c.sxm = 1 + F32(0.25) * q
        c.y = c.surf - c.s * c.hh * c.sym
    elif sp.action == "lifted":
        c.y = c.y - F32(LIFT * _amp(sp)) * _smooth(0.1, 0.9, p)
    elif sp.action == "drilled":
        c.hole = F32(0.28) * _smooth(0.45, 0.8, p)
    elif sp.action == "packed":
        # from above the open box down into it; it ends with its top 40% above the box's rim
        # (box: PACK_BOX_H * s high, see _station_packing) so colour and shape stay visible
        end = c.surf - c.s * F32(PACK_BOX_H) + F32(0.2) * c.s * c.hh
        c.y = end - c.s * F32(1.5) * (1 - _smooth(0.05, 0.85, p))


def _draw_hook(c: _Ctx):
    """Overhead crane hook holding the piece (for 'lifted' away from the forklift)."""
    top = c.y - c.s * c.hh
    c.cv.paint(_sd_box(c.cv.X, c.cv.Y, c.x, (top - 0.04) / 2, 0.008, (top - 0.04) / 2 + 0.02), DARK)
    c.cv.paint(_sd_box(c.cv.X, c.cv.Y, c.x, top - 0.035, 0.045, 0.025, 0.01), (0.95, 0.75, 0.1))


def _draw_scanner(c: _Ctx, sweep: bool, front: bool = False):
    """Camera/scanner head above the piece with a translucent light beam down to the surface.
    Called twice: behind the piece (head, static light cone) and in front (the sweeping scan
    line, which must cross the piece to be seen)."""
    cv, sp = c.cv, c.spec
    hx = F32(sp.piece_x)
    head_y = c.surf - F32(0.36)
    if front:
        if sweep:
            bx = hx + F32(sp.direction * 0.16) * (2 * c.p - 1)
            beam = _sd_box(cv.X, cv.Y, bx, (head_y + c.surf) / 2 + 0.02, 0.022, (c.surf - head_y) / 2)
            cv.paint(beam, (0.55, 1.0, 0.6), alpha=0.5)
            cv.paint(_sd_box(cv.X, cv.Y, bx, c.surf - 0.004, 0.035, 0.007), (0.3, 1.0, 0.4))
        return
    cv.paint(_sd_box(cv.X, cv.Y, hx, head_y, 0.07, 0.045, 0.01), DARK)
    cv.paint(_sd_circle(cv.X, cv.Y, hx, head_y + 0.045, 0.025), (0.25, 0.55, 0.95))
    if not sweep:
        w = (cv.Y - head_y) * 0.45 + 0.02
        cone = np.maximum(np.abs(cv.X - hx) - w, np.maximum(head_y - cv.Y, cv.Y - c.surf))
        cv.paint(cone, (0.85, 0.95, 1.0), alpha=0.25)


def _station_conveyor(c: _Ctx):
    cv, X, Y = c.cv, c.cv.X, c.cv.Y
    f, s = c.floor, c.surf
    for lx in (0.2, 0.5, 0.8):                                      # legs
        cv.paint(_sd_box(X, Y, lx, (s + f) / 2, 0.02, (f - s) / 2), STEEL)
    cv.paint(_sd_segment(X, Y, -0.1, s + 0.03, 1.1, s + 0.03, 0.03), DARK)   # belt
    for rx in np.arange(-0.05, 1.1, 0.15):                          # rollers under the belt
        cv.paint(_sd_circle(X, Y, rx, s + 0.03, 0.012), (0.45, 0.45, 0.48))
    if c.spec.action == "scanned":
        _draw_scanner(c, sweep=True)
    yield
    if c.spec.action == "scanned":
        _draw_scanner(c, sweep=True, front=True)
    if c.spec.action == "lifted":
        _draw_hook(c)


def _station_press(c: _Ctx):
    cv, X, Y = c.cv, c.cv.X, c.cv.Y
    f, s, px = c.floor, c.surf, F32(c.spec.piece_x)
    crown = s - F32(0.46)
    cv.paint(_sd_box(X, Y, px - 0.27, (crown + f) / 2, 0.045, (f - crown) / 2), STEEL)   # columns
    cv.paint(_sd_box(X, Y, px + 0.27, (crown + f) / 2, 0.045, (f - crown) / 2), STEEL)
    cv.paint(_sd_box(X, Y, px, crown, 0.34, 0.06, 0.01), (0.95, 0.78, 0.12))             # crown
    cv.paint(_sd_box(X, Y, px, (s + f) / 2, 0.24, (f - s) / 2), (0.25, 0.26, 0.28))    # bed
    # ram: rests high; comes down onto the piece for presses_down
    if c.spec.action == "presses_down":
        top_of_piece = c.y - c.s * c.hh * c.sym
        idle = s - 2 * c.s * c.hh - F32(0.07)
        ram_bot = idle + (top_of_piece - idle) * _smooth(0.0, 0.45, c.p)
    else:
        ram_bot = _per_frame(s - 0.32, cv.n)
    yield
    cv.paint(_sd_box(X, Y, px, (crown + ram_bot) / 2, 0.2, (ram_bot - crown) / 2), (0.32, 0.34, 0.38))
    cv.paint(_sd_box(X, Y, px, ram_bot - 0.015, 0.2, 0.015), (0.15, 0.15, 0.17))


def _station_drill(c: _Ctx):
    cv, X, Y = c.cv, c.cv.X, c.cv.Y
    f, s, px = c.floor, c.surf, F32(c.spec.piece_x)
    machine = (0.80, 0.80, 0.76)
    rest_top = s - 2 * c.s * c.hh
    cv.paint(_sd_box(X, Y, px + 0.26, (rest_top - 0.2 + f) / 2, 0.035, (f - rest_top + 0.2) / 2), machine)  # column
    cv.paint(_sd_box(X, Y, px + 0.26, f - 0.02, 0.12, 0.025, 0.01), machine)            # foot
    cv.paint(_sd_box(X, Y, px + 0.1, s + 0.025, 0.2, 0.025, 0.008), (0.55, 0.55, 0.52))  # table
    chuck = rest_top - F32(0.13)
    cv.paint(_sd_box(X, Y, px + 0.1, chuck - 0.1, 0.2, 0.08, 0.03), (0.85, 0.25, 0.15))  # head
    yield
    top_of_piece = c.y - c.s * c.hh
    idle = rest_top - F32(0.05)
    if c.spec.action == "drilled":
        tip = idle + (top_of_piece + 0.01 - idle) * _smooth(0.0, 0.5, c.p)
    else:
        tip = _per_frame(idle, cv.n)
    cv.paint(_sd_box(X, Y, px, chuck, 0.035, 0.03, 0.01), (0.3, 0.3, 0.32))               # chuck
    cv.paint(_sd_box(X, Y, px, (chuck + tip) / 2, 0.014, (tip - chuck) / 2), (0.75, 0.78, 0.85))  # bit


def _station_welding(c: _Ctx):
    cv, X, Y = c.cv, c.cv.X, c.cv.Y
    f, s, px, sp = c.floor, c.surf, F32(c.spec.piece_x), c.spec
    cv.paint(_sd_box(X, Y, 0.5, s - 0.42, 0.8, 0.012), (0.95, 0.8, 0.1), alpha=0.6)     # safety rail
    cv.paint(_sd_box(X, Y, px, (s + f) / 2, 0.2, (f - s) / 2), (0.42, 0.42, 0.46))     # table
    yield
    base_x = px - F32(0.32)
    top_of_piece = c.y - c.s * c.hh
    if sp.action == "sparks":
        tip_x = px + F32(sp.direction * 0.08) * (2 * c.p - 1)
    else:
        tip_x = px - 0.02 + 0 * c.p
    tip_y = top_of_piece - 0.02
    elbow_x, elbow_y = base_x + 0.06, s - F32(0.38)
    robot = (0.93, 0.50, 0.12)
    cv.paint(_sd_box(X, Y, base_x, f - 0.06, 0.07, 0.06, 0.01), (0.3, 0.3, 0.33))
    cv.paint(_sd_segment(X, Y, base_x, f - 0.1, elbow_x, elbow_y, 0.035), robot)
    cv.paint(_sd_segment(X, Y, elbow_x, elbow_y, tip_x, tip_y - 0.04, 0.028), robot)
    cv.paint(_sd_circle(X, Y, elbow_x, elbow_y, 0.04), (0.3, 0.3, 0.33))
    cv.paint(_sd_segment(X, Y, tip_x, tip_y - 0.05, tip_x, tip_y, 0.01), DARK)          # torch
    if sp.action == "sparks":
        n = cv.n
        on = (c.p > 0.05).astype(F32)
        flick = F32(0.6) + F32(0.4) * c.rng.random((n, 1, 1), dtype=F32)
        glow = np.exp(-((X - tip_x) ** 2 + (Y - tip_y) ** 2) / 0.004).astype(F32)
        cv.paint(np.full(cv._tmp.shape, -1, F32), (1.0, 0.95, 0.7), alpha=glow * flick * on * F32(0.85))
        for _ in range(7):
            a = c.rng.uniform(-np.pi, 0, (n, 1, 1)).astype(F32)
            r = c.rng.uniform(0.03, 0.09, (n, 1, 1)).astype(F32)
            sx, sy = tip_x + r * np.cos(a), tip_y + r * np.sin(a) * F32(0.8)
            cv.paint(_sd_circle(X, Y, sx, sy, 0.014), (1.0, 0.9, 0.3), alpha=on)


def _station_inspection(c: _Ctx):
    cv, X, Y = c.cv, c.cv.X, c.cv.Y
    f, s, px = c.floor, c.surf, F32(c.spec.piece_x)
    cv.paint(_sd_box(X, Y, 0.5, s - 0.46, 0.8, 0.025), (0.30, 0.32, 0.36))              # gantry
    cv.paint(_sd_box(X, Y, px, s - 0.42, 0.012, 0.04), (0.30, 0.32, 0.36))
    cv.paint(_sd_box(X, Y, px, (s + f) / 2, 0.16, (f - s) / 2, 0.02), (0.35, 0.38, 0.42))  # stand
    cv.paint(_sd_box(X, Y, px, s + 0.012, 0.19, 0.012, 0.01), (0.1, 0.5, 0.55))         # turntable
    _draw_scanner(c, sweep=c.spec.action == "scanned")
    yield
    _draw_scanner(c, sweep=c.spec.action == "scanned", front=True)


def _station_packing(c: _Ctx):
    cv, X, Y = c.cv, c.cv.X, c.cv.Y
    f, s, px = c.floor, c.surf, F32(c.spec.piece_x)
    cv.paint(_sd_box(X, Y, 0.5, s + 0.02, 0.7, 0.02), (0.82, 0.74, 0.58))                # table top
    for lx in (0.1, 0.9):
        cv.paint(_sd_box(X, Y, lx, (s + f) / 2, 0.02, (f - s) / 2), (0.45, 0.36, 0.28))
    card = (0.78, 0.60, 0.38)
    packed = c.spec.action == "packed"
    bx = px if packed else px + F32(c.spec.direction * 0.36)
    bw, bh = c.s * 1.35, c.s * F32(PACK_BOX_H / 2)
    if packed:                                                           # open flaps, behind
        cv.paint(_sd_segment(X, Y, bx - bw, s - 2 * bh, bx - bw - 0.06, s - 2 * bh - 0.06, 0.01), card)
        cv.paint(_sd_segment(X, Y, bx + bw, s - 2 * bh, bx + bw + 0.06, s - 2 * bh - 0.06, 0.01), card)
    else:                                                                # a closed box, waiting
        cv.paint(_sd_box(X, Y, bx, s - bh, bw, bh, 0.01), card)
        cv.paint(_sd_box(X, Y, bx, s - bh, 0.02, bh), (0.6, 0.45, 0.28))
    yield
    if packed:                                                           # front wall over piece
        cv.paint(_sd_box(X, Y, bx, s - bh, bw, bh, 0.01), card)
        cv.paint(_sd_box(X, Y, bx, s - 2 * bh + 0.012, bw, 0.012), (0.6, 0.45, 0.28))


def _station_assembly(c: _Ctx):
    cv, X, Y = c.cv, c.cv.X, c.cv.Y
    f, s = c.floor, c.surf
    board = (0.52, 0.66, 0.50)
    b = s - F32(0.36)                                                                 # pegboard
    cv.paint(_sd_box(X, Y, 0.5, b, 0.4, 0.14, 0.02), board)
    cv.paint(_sd_segment(X, Y, 0.2, b - 0.08, 0.32, b + 0.08, 0.02), DARK)            # wrench
    cv.paint(_sd_circle(X, Y, 0.2, b - 0.08, 0.035), DARK)
    cv.paint(_sd_segment(X, Y, 0.74, b - 0.09, 0.74, b + 0.1, 0.016), DARK)           # hammer
    cv.paint(_sd_box(X, Y, 0.74, b - 0.09, 0.065, 0.025), DARK)
    cv.paint(_sd_box(X, Y, 0.5, s + 0.03, 0.6, 0.03, 0.01), (0.66, 0.44, 0.22))       # bench top
    for lx in (0.05, 0.95):
        cv.paint(_sd_box(X, Y, lx, (s + f) / 2, 0.025, (f - s) / 2), (0.45, 0.30, 0.16))
    yield
    if c.spec.action == "lifted":
        _draw_hook(c)


def _station_forklift(c: _Ctx):
    cv, X, Y = c.cv, c.cv.X, c.cv.Y
    f, sp = c.floor, c.spec
    cv.paint(_sd_box(X, Y, 0.5, f / 2 - 0.05, 0.3, f / 2 - 0.05), (0.32, 0.32, 0.34))  # bay door
    for ly in (0.25, 0.35, 0.45, 0.55):
        cv.paint(_sd_box(X, Y, 0.5, f - ly, 0.3, 0.008), (0.24, 0.24, 0.26))
    cv.paint(_sd_box(X, Y, 0.5, f + 0.012, 0.8, 0.012), (0.95, 0.8, 0.1))             # floor stripe
    _piece_pose(c)   # the forklift carries the piece: it follows the piece's pose
    lift = (_per_frame(sp.floor_y - SURFACE["forklift_bay"], cv.n) - (c.y + c.s * c.hh))
    side = -sp.direction if sp.action == "moves_along" else -1
    body_x = c.x + F32(side * 0.24)
    mast_x = c.x + F32(side * 0.15)
    pal_y = f - F32(0.03) - lift
    yellow = (0.98, 0.80, 0.08)
    cv.paint(_sd_box(X, Y, body_x, f - 0.1, 0.1, 0.07, 0.02), yellow)                 # body
    cv.paint(_sd_box(X, Y, body_x + F32(side * 0.03), f - 0.22, 0.06, 0.06, 0.01), DARK, alpha=0.8)  # cab
    cv.paint(_sd_circle(X, Y, body_x - 0.06, f - 0.03, 0.03), DARK)                   # wheels
    cv.paint(_sd_circle(X, Y, body_x + 0.06, f - 0.03, 0.03), DARK)
    cv.paint(_sd_box(X, Y, mast_x, f - 0.2, 0.012, 0.2), (0.25, 0.25, 0.27))          # mast
    cv.paint(_sd_box(X, Y, c.x, pal_y + 0.012, 0.16, 0.008), (0.25, 0.25, 0.27))      # forks
    cv.paint(_sd_box(X, Y, c.x, pal_y - 0.012, 0.14, 0.015, 0.004), (0.62, 0.42, 0.22))  # pallet
    yield


STATION_DRAW = {
    "conveyor": _station_conveyor, "press": _station_press, "drill": _station_drill,
    "welding_robot": _station_welding, "inspection_camera": _station_inspection,
    "packing": _station_packing, "assembly_bench": _station_assembly,
    "forklift_bay": _station_forklift,
}


# ---------------------------------------------------------------- scenes

def _scene_times(n_frames: int, pad_before: int, pad_after: int) -> np.ndarray:
    """Scene time of every rendered frame: core frames cover (0,1); pads extend beyond."""
    k = np.arange(-pad_before, n_frames + pad_after, dtype=F32)
    return (k + 0.5) / max(n_frames, 1)


def render_scene(spec: SceneSpec, n_frames: int = 16, size: int = 64,
                 rng: np.random.Generator | None = None,
                 pad_before: int = 0, pad_after: int = 0, piece_mask: bool = False):
    """Render one scene: uint8 [pad_before + n_frames + pad_after, size, size, 3].

    The action runs over the n_frames core frames (pads see it held at its start/end while
    the camera keeps drifting; they exist for dissolves). Deterministic given rng's state.
    piece_mask: also return the visible piece coverage, float32 [T, size, size] in [0, 1]
    (the frames are the same either way)."""
    spec.validate()
    if not (isinstance(size, (int, np.integer)) and 8 <= size <= 4096):
        raise ValueError(f"size must be an integer in 8..4096, not {size!r}")
    if n_frames < 1 or pad_before < 0 or pad_after < 0:
        raise ValueError(f"need n_frames >= 1 and pads >= 0 (got {n_frames}, {pad_before}, {pad_after})")
    if rng is None:
        rng = np.random.default_rng(0)
    t = _scene_times(n_frames, pad_before, pad_after)
    n = t.shape[0]
    # action progress: a scene shorter than MIN_ACTION_FRAMES shows only part of the action, so
    # short scenes do not move faster (fast motion looks like a cut and is hard to learn)
    rate = n_frames / max(n_frames, MIN_ACTION_FRAMES)
    p = np.clip(F32(spec.phase) + t * F32((1.0 - spec.phase) * rate), 0.0, 1.0).astype(F32)

    # camera: wide looks at the middle of the station; close looks at the piece
    surf = spec.floor_y - SURFACE[spec.station]
    if spec.framing == "close":
        cx0 = spec.piece_x
        cy0 = surf - NOMINAL_SIZE * spec.piece_scale * HALF_H[spec.piece] - 0.05
        if spec.action == "moves_along":           # follow the travelling piece part-way
            cx0 = cx0 + 0.4 * spec.direction * TRAVEL * _amp(spec) * (p - 0.5)
        if spec.action == "lifted":
            cy0 = cy0 - 0.5 * LIFT * _amp(spec)
        if spec.action == "packed":
            cy0 = cy0 - 0.16
    else:
        cx0, cy0 = 0.5, spec.floor_y - 0.24
    cx = cx0 + spec.cam_x + spec.pan_x * (t - 0.5)
    cy = cy0 + spec.cam_y + spec.pan_y * (t - 0.5)
    cv = _Canvas(n, size, cx, cy, spec.zoom)

    wall = np.clip(_col(WALL[spec.station]) * F32(1 + spec.bg_shift), 0, 1)
    cv.fill(wall.tolist())
    cv.paint(spec.floor_y - cv.Y, FLOOR[spec.station])       # floor below the floor line

    c = _Ctx(spec, cv, p.reshape(n, 1, 1), t.reshape(n, 1, 1), rng)
    if spec.station != "forklift_bay":                       # forklift applies it itself
        _piece_pose(c)
    steps = STATION_DRAW[spec.station](c)
    next(steps)                                              # machinery behind the piece
    if piece_mask:
        cv.track_piece()
    _draw_piece(cv, spec.piece, COLOUR_RGB[spec.colour], c.x, c.y, c.s, c.sxm, c.sym, c.ang, c.hole)
    for _ in steps:                                          # machinery in front
        pass

    # lighting: top-lit gradient, global level, slight colour cast (screen space)
    rows = ((np.arange(size, dtype=F32) + 0.5) / size - 0.5).reshape(1, size, 1)
    light = F32(spec.brightness) * (1 - F32(spec.light_grad) * rows)
    out = np.empty((n, size, size, 3), np.uint8)
    for ch in range(3):
        v = cv.img[ch] * light + F32(spec.tint[ch])
        out[..., ch] = (np.minimum(np.maximum(v, F32(0)), F32(1)) * F32(255) + F32(0.5)).astype(np.uint8)
    return (out, np.clip(cv.cover, 0.0, 1.0)) if piece_mask else out


# ---------------------------------------------------------------- clips

Transition = Union[None, str, Tuple[str, int], dict]


def _norm_transitions(n_scenes: int, transitions) -> List[Tuple[str, int]]:
    if transitions is None:
        return [("cut", 0)] * max(n_scenes - 1, 0)
    if len(transitions) != n_scenes - 1:
        raise ValueError(f"{n_scenes} scenes need {n_scenes - 1} transitions, got {len(transitions)}")
    out = []
    for tr in transitions:
        if tr is None or tr == "cut":
            out.append(("cut", 0))
        elif isinstance(tr, dict):
            out.append((tr.get("type", "cut"), int(tr.get("length", 0))))
        else:
            out.append((str(tr[0]), int(tr[1])))
    for kind, length in out:
        if kind not in ("cut", "dissolve"):
            raise ValueError(f"unknown transition {kind!r} (use 'cut' or ('dissolve', frames))")
        if kind == "dissolve" and length < 2:
            raise ValueError("a dissolve needs a length of at least 2 frames")
    return out


def _norm_lengths(n_scenes: int, frames_per_scene) -> List[int]:
    if np.isscalar(frames_per_scene):
        return [int(frames_per_scene)] * n_scenes
    lengths = [int(x) for x in frames_per_scene]
    if len(lengths) != n_scenes:
        raise ValueError(f"{n_scenes} scenes but {len(lengths)} scene lengths")
    return lengths


def transition_spans(frames_per_scene, transitions, n_scenes: int | None = None) -> List[dict]:
    """Where each scene boundary is and which frames it blends.

    Returns one dict per boundary: {"frame": b, "type": "cut"|"dissolve", "span": [s, e]}.
    b is the first frame of the new scene (the cut frame). A hard cut has span [b, b]; a
    dissolve of L frames blends frames s..e-1 with s = b - L//2, e = s + L."""
    if n_scenes is None:
        n_scenes = len(frames_per_scene) if not np.isscalar(frames_per_scene) else len(transitions) + 1
    lengths = _norm_lengths(n_scenes, frames_per_scene)
    trs = _norm_transitions(n_scenes, transitions)
    out, b = [], 0
    for i, (kind, length) in enumerate(trs):
        b += lengths[i]
        if kind == "cut":
            out.append({"frame": b, "type": "cut", "span": [b, b]})
        else:
            s = b - length // 2
            out.append({"frame": b, "type": "dissolve", "span": [s, s + length]})
    return out


def render_clip(specs: Sequence[SceneSpec], frames_per_scene=16, size: int = 64, seed: int = 0,
                transitions=None, piece_mask: bool = False):
    """Render scenes back to back: (uint8 [T,H,W,3], cut_frames).

    frames_per_scene: int or one int per scene. transitions: None (all hard cuts) or one entry
    per boundary: "cut" or ("dissolve", L) / {"type": "dissolve", "length": L}. A dissolve is
    centred on the boundary and does not change the clip length, so scene starts stay where the
    lengths put them (e.g. on multiples of 4). cut_frames[i] = first frame of scene i+1.
    piece_mask: return (frames, cut_frames, float32 [T,H,W] visible piece coverage) instead;
    the frames are the same."""
    n = len(specs)
    if n == 0:
        raise ValueError("render_clip needs at least one scene")
    lengths = _norm_lengths(n, frames_per_scene)
    spans = transition_spans(lengths, transitions, n)
    for i, sp in enumerate(spans):
        s, e = sp["span"]
        start_i = sp["frame"] - lengths[i]
        end_next = sp["frame"] + lengths[i + 1]
        if s < start_i or e > end_next:
            raise ValueError(f"dissolve at frame {sp['frame']} is longer than its scenes")
    seeds = np.random.SeedSequence(seed).spawn(n)
    pads = [((spans[i - 1]["frame"] - spans[i - 1]["span"][0]) if i > 0 else 0,
             (spans[i]["span"][1] - spans[i]["frame"]) if i < n - 1 else 0) for i in range(n)]
    scenes = [render_scene(spec, lengths[i], size, np.random.default_rng(seeds[i]), *pads[i],
                           piece_mask=piece_mask) for i, spec in enumerate(specs)]
    layers = list(zip(*scenes)) if piece_mask else [scenes]     # frames (and coverage) per scene
    out = [_join_scenes(layer, lengths, spans, pads) for layer in layers]
    cuts = [sp["frame"] for sp in spans]
    return (out[0], cuts, out[1]) if piece_mask else (out[0], cuts)


def _join_scenes(scenes, lengths, spans, pads):
    """Scene arrays (each with its pads, frames first) -> one clip array: each scene's core
    frames in turn, dissolve spans blended linearly (uint8 arrays rounded back to uint8)."""
    starts = np.cumsum([0] + lengths)
    clip = np.empty((int(starts[-1]),) + scenes[0].shape[1:], scenes[0].dtype)
    for i, sc in enumerate(scenes):
        clip[starts[i]:starts[i + 1]] = sc[pads[i][0]:pads[i][0] + lengths[i]]
    for i, sp in enumerate(spans):
        s, e = sp["span"]
        if e <= s:
            continue
        b = sp["frame"]
        a0 = pads[i][0] + (s - starts[i])
        A = scenes[i][a0:a0 + (e - s)].astype(F32)
        B = scenes[i + 1][pads[i + 1][0] - (b - s):pads[i + 1][0] + (e - b)].astype(F32)
        alpha = ((np.arange(e - s, dtype=F32) + 0.5) / (e - s)).reshape((-1,) + (1,) * (A.ndim - 1))
        mix = A * (1 - alpha) + B * alpha
        clip[s:e] = (mix + 0.5).astype(np.uint8) if clip.dtype == np.uint8 else mix
    return clip
