"""Contact sheets of a data set: one row per scene (evenly spaced frames of that scene) with its
caption beside it, clips separated by a rule.

    /usr/bin/python3 -m train.data.contact_sheet DIR --out sheet.png [--clips 4] [--first 0]
        [--cols 6] [--scale 2] [--heldout]
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from typing import List

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import dataset as D

TEXT_W = 360           # caption panel width in pixels
BG = (24, 24, 28)
FG = (235, 235, 235)
DIM = (150, 150, 160)


def scene_frames(clip: np.ndarray, start: int, end: int, cols: int) -> List[int]:
    """cols frame indices spread over [start, end) (repeats when the scene is short)."""
    if end - start <= 0:
        return []
    return [int(start + (end - start - 1) * k / max(cols - 1, 1) + 0.5) for k in range(cols)]


def sheet(data_dir: str, clips: int = 4, first: int = 0, cols: int = 6, scale: int = 2,
          heldout: bool = False, ids: List[str] | None = None) -> Image.Image:
    recs = D.read_manifest(data_dir)
    if ids:
        recs = [r for r in recs if r["id"] in set(ids)]
    else:
        recs = recs[first:first + clips]
    if not recs:
        raise ValueError(f"{data_dir}: no clips selected")
    font = ImageFont.load_default()
    rows = []
    for rec in recs:
        clip = D.load_clip(data_dir, rec)
        H, W = clip.shape[1] * scale, clip.shape[2] * scale
        for si, sc in enumerate(rec["scenes"]):
            idx = scene_frames(clip, sc["start"], sc["end"], cols)
            strip = np.concatenate([clip[k] for k in idx], axis=1)
            img = Image.fromarray(np.ascontiguousarray(strip)).resize((W * len(idx), H), Image.NEAREST)
            row = Image.new("RGB", (W * len(idx) + TEXT_W, H), BG)
            row.paste(img, (0, 0))
            d = ImageDraw.Draw(row)
            tr = rec["transitions"][si - 1]["type"] if si > 0 else "start"
            head = f"{rec['id']}  scene {si + 1}/{rec['n_scenes']}  frames {sc['start']}-{sc['end'] - 1}  ({tr})"
            d.text((W * len(idx) + 8, 4), head, fill=DIM, font=font)
            cap = sc.get("caption_heldout") if heldout else sc.get("caption")
            for li, line in enumerate(textwrap.wrap(cap or "", 56)[: max(1, (H - 20) // 12)]):
                d.text((W * len(idx) + 8, 20 + 12 * li), line, fill=FG, font=font)
            rows.append(row)
        rows.append(Image.new("RGB", (rows[-1].width, 3), (200, 170, 40)))   # clip separator
    width = max(r.width for r in rows)
    out = Image.new("RGB", (width, sum(r.height for r in rows)), BG)
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m train.data.contact_sheet", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--ids", nargs="*", help="clip ids to show instead of --first/--clips")
    ap.add_argument("--cols", type=int, default=6, help="frames shown per scene")
    ap.add_argument("--scale", type=int, default=2, help="pixel zoom of the frames")
    ap.add_argument("--heldout", action="store_true", help="show held-out captions")
    a = ap.parse_args(argv)
    try:
        img = sheet(a.data_dir, a.clips, a.first, a.cols, a.scale, a.heldout, a.ids)
    except (ValueError, OSError) as e:
        print(f"contact_sheet: {e}", file=sys.stderr)
        return 2
    img.save(a.out, optimize=True)
    print(f"wrote {a.out} ({img.width}x{img.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
