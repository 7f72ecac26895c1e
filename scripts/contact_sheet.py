"""Contact sheet of a COCO dataset with mask, box and keypoint overlays.

Usage: python scripts/contact_sheet.py DIR --out sheet.png [-n 16] [--cols 4]
       [--size 256] [--only-categories a,b] [--no-masks]
Works on any COCO dataset (RLE or polygon masks, bbox-only, keypoints).
Nested instances (``parent_id``, e.g. defects on a product) are drawn on top of
their parent, with the parent outlined only, so both stay visible.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render.formats import coco  # noqa: E402
from render.formats.records import instance_of, parent_of  # noqa: E402


def _color(i: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def _outline(mask: np.ndarray) -> np.ndarray:
    m = mask
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def draw_tile(
    image: Image.Image, anns: list[dict[str, Any]], cats: dict[int, dict[str, Any]], masks: bool
) -> Image.Image:
    img = np.asarray(image.convert("RGB")).astype(np.float32)
    h, w = img.shape[:2]
    parents = {parent_of(a) for a in anns if parent_of(a) is not None}
    order = sorted(anns, key=lambda a: parent_of(a) is not None)  # parents first, children on top
    for a in order:
        seg = a.get("segmentation")
        if not masks or not seg:
            continue
        m = coco.decode(coco.segmentation_to_rle(seg, h, w))
        col = np.array(_color(a["category_id"]), dtype=np.float32)
        if instance_of(a) in parents:
            img[_outline(m)] = col  # parent: outline only, so its defects stay readable
        else:
            img[m] = 0.55 * img[m] + 0.45 * col
            img[_outline(m)] = col
    out = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(out)
    for a in order:
        x, y, bw, bh = a["bbox"]
        col = _color(a["category_id"])
        d.rectangle([x, y, x + bw - 1, y + bh - 1], outline=col, width=1)
        name = cats.get(a["category_id"], {}).get("name", str(a["category_id"]))
        d.text((x + 2, max(0, y - 11)), name, fill=col)
        kps = a.get("keypoints")
        if kps:
            pts = np.asarray(kps, dtype=np.float32).reshape(-1, 3)
            skeleton = cats.get(a["category_id"], {}).get("skeleton", [])
            for i, j in skeleton:
                if pts[i - 1, 2] > 0 and pts[j - 1, 2] > 0:
                    d.line([tuple(pts[i - 1, :2]), tuple(pts[j - 1, :2])], fill=col, width=1)
            for px, py, v in pts:
                if v > 0:
                    r = 2
                    d.ellipse(
                        [px - r, py - r, px + r, py + r],
                        fill=(255, 255, 255) if v == 2 else (128, 128, 128),
                    )
    return out


def make_sheet(
    root: Path, n: int, cols: int, size: int, only: set[str] | None = None, masks: bool = True
) -> Image.Image:
    data = json.loads((root / "annotations.json").read_text())
    cats = {c["id"]: c for c in data["categories"]}
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in data["annotations"]:
        if only and cats.get(a["category_id"], {}).get("name") not in only:
            continue
        by_image.setdefault(a["image_id"], []).append(a)
    images = sorted(data["images"], key=lambda im: im["id"])[:n]
    if not images:
        raise SystemExit(f"{root}: no images")
    rows = (len(images) + cols - 1) // cols
    # tiles keep the first image's aspect ratio: ``size`` wide
    tile_h = max(1, round(size * images[0]["height"] / images[0]["width"]))
    sheet = Image.new("RGB", (cols * size, rows * tile_h), (32, 32, 32))
    for k, im in enumerate(images):
        tile = draw_tile(
            Image.open(root / im["file_name"]), by_image.get(im["id"], []), cats, masks
        )
        if tile.size != (size, tile_h):
            tile = tile.resize((size, tile_h), Image.Resampling.LANCZOS)
        sheet.paste(tile, ((k % cols) * size, (k // cols) * tile_h))
    return sheet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Contact sheet of a COCO dataset with overlays.")
    p.add_argument("dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--cols", type=int, default=4)
    p.add_argument("--size", type=int, default=256, help="tile width in pixels (aspect kept)")
    p.add_argument("--only-categories", default=None, help="comma-separated category names")
    p.add_argument("--no-masks", action="store_true")
    args = p.parse_args(argv)
    only = set(args.only_categories.split(",")) if args.only_categories else None
    sheet = make_sheet(args.dir, args.n, args.cols, args.size, only, not args.no_masks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
