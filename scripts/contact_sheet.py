"""Contact sheet of a rendered COCO dataset with mask and box overlays.

    python scripts/contact_sheet.py OUT_DIR --out sheet.png [--n 16] [--cols 4] [--tile 512]

Products get a thin outline and box; defects a filled coloured mask, a box and
their category name. Prints a JSON summary (images, annotations per category).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from render import coco

PALETTE = [
    (255, 60, 60),
    (60, 200, 255),
    (255, 200, 0),
    (200, 80, 255),
    (60, 255, 120),
    (255, 130, 40),
]


def _edges(mask: np.ndarray) -> np.ndarray:
    """Boolean (H, W) outline of a mask (pixels with a 4-neighbour outside it)."""
    pad = np.pad(mask, 1)
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return mask & ~inner


def overlay(
    image: np.ndarray, anns: list[dict], names: dict[int, str], supers: dict[int, str]
) -> Image.Image:
    """RGB uint8 (H, W, 3) with masks, outlines, boxes and labels drawn."""
    out = image.astype(np.float32)
    boxes = []
    for k, ann in enumerate(anns):
        mask = coco.decode(ann["segmentation"])
        is_defect = supers.get(ann["category_id"]) == "defect"
        color = np.array(
            PALETTE[k % len(PALETTE)] if is_defect else (255, 255, 255), dtype=np.float32
        )
        if is_defect:
            out[mask] = 0.45 * out[mask] + 0.55 * color
        out[_edges(mask)] = color
        boxes.append(
            (ann["bbox"], tuple(int(c) for c in color), names[ann["category_id"]], is_defect)
        )
    img = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for (x, y, w, h), color, name, is_defect in boxes:
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=color, width=1)
        if is_defect:
            draw.text((x + 1, max(0, y - 11)), name, fill=color)
    return img


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--tile", type=int, default=512)
    args = ap.parse_args(argv)
    data = json.loads((args.dataset / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    supers = {c["id"]: c.get("supercategory", "") for c in data["categories"]}
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    images = data["images"][: args.n]
    rows = (len(images) + args.cols - 1) // args.cols
    sheet = Image.new("RGB", (args.cols * args.tile, rows * args.tile), (0, 0, 0))
    for i, im in enumerate(images):
        rgb = np.asarray(Image.open(args.dataset / im["file_name"]).convert("RGB"))
        anns = sorted(
            by_image.get(im["id"], []), key=lambda a: supers.get(a["category_id"]) == "defect"
        )
        tile = overlay(rgb, anns, names, supers).resize(
            (args.tile, args.tile), Image.Resampling.LANCZOS
        )
        sheet.paste(tile, ((i % args.cols) * args.tile, (i // args.cols) * args.tile))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    counts: dict[str, int] = {}
    for ann in data["annotations"]:
        counts[names[ann["category_id"]]] = counts.get(names[ann["category_id"]], 0) + 1
    print(json.dumps({"images": len(images), "annotations": counts, "sheet": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
