"""A sequence's frames in order with each person's box and track id (one colour
per track), and optionally each frame's optical flow beside it.

Usage: python scripts/sequence_sheet.py DIR --out strip.png [--video 0] [--cols 4]
       [--size 320] [--flow]
DIR: a dataset rendered with render.frames > 1 (render.flow for --flow). The flow
is drawn as colour (hue: direction, saturation: speed, white: still; black: no
surface), the Middlebury convention.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render.formats import flow as flo  # noqa: E402
from render.report.overlay import color  # noqa: E402


def flow_rgb(flow: np.ndarray, top: float | None = None) -> np.ndarray:
    """Middlebury-style colour of a (H, W, 2) flow; ``top``: speed of full saturation."""
    ok = flo.known(flow)
    f = np.where(ok[..., None], flow, 0.0)
    speed = np.hypot(f[..., 0], f[..., 1])
    top = top or max(float(np.percentile(speed[ok], 99)) if ok.any() else 1.0, 1e-6)
    hsv = np.zeros((*flow.shape[:2], 3), dtype=np.uint8)
    hsv[..., 0] = ((np.degrees(np.arctan2(f[..., 1], f[..., 0])) % 360) / 2).astype(np.uint8)
    hsv[..., 1] = np.clip(speed / top * 255, 0, 255).astype(np.uint8)
    hsv[..., 2] = np.where(ok, 255, 0).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--video", type=int, default=0)
    p.add_argument("--cols", type=int, default=4)
    p.add_argument("--size", type=int, default=320, help="frame width in pixels")
    p.add_argument("--flow", action="store_true")
    args = p.parse_args(argv)
    doc = json.loads((args.dir / "annotations.json").read_text())
    frames = sorted(
        (i for i in doc["images"] if i.get("video_id") == args.video),
        key=lambda i: i["frame_index"],
    )
    if not frames:
        sys.exit(f"{args.dir}: no frames of video {args.video}")
    by_image: dict[int, list[dict]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    tiles = []
    for img in frames:
        im = Image.open(args.dir / img["file_name"]).convert("RGB")
        scale = args.size / im.width
        im = im.resize((args.size, round(im.height * scale)), Image.LANCZOS)
        d = ImageDraw.Draw(im)
        for a in by_image.get(img["id"], []):
            if a.get("iscrowd") or "track_id" not in a:
                continue
            x, y, w, h = (v * scale for v in a["bbox"])
            c = color(int(a["track_id"]))
            d.rectangle([x, y, x + w, y + h], outline=c, width=2)
            d.text((x + 2, max(y - 11, 0)), str(a["track_id"]), fill=c)
        d.text((4, 4), f"frame {img['frame_index']}", fill=(255, 255, 255))
        if args.flow and img.get("flow_file"):
            f = flo.decode((args.dir / img["flow_file"]).read_bytes())
            fl = Image.fromarray(flow_rgb(f)).resize(im.size, Image.NEAREST)
            both = Image.new("RGB", (im.width * 2, im.height))
            both.paste(im, (0, 0))
            both.paste(fl, (im.width, 0))
            im = both
        tiles.append(im)
    cols = min(args.cols, len(tiles))
    rows = -(-len(tiles) // cols)
    tw, th = tiles[0].size
    sheet = Image.new("RGB", (cols * tw + (cols - 1) * 4, rows * th + (rows - 1) * 4), (30, 30, 30))
    for k, t in enumerate(tiles):
        sheet.paste(t, ((k % cols) * (tw + 4), (k // cols) * (th + 4)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
