"""Drawing annotations over images: masks (filled, outlined), boxes with category
names, keypoints and skeletons (pure PIL/numpy; used by contact sheets, the HTML
report and ``synthcv preview``).

Nested instances (``scene_parent``, e.g. defects on a product) are drawn on top of
their parent, the parent outlined only, so both stay visible. Keypoints: white
when visible (v = 2), grey when occluded (v = 1).
"""

from __future__ import annotations

import colorsys
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from render.formats import coco
from render.formats.records import instance_of, parent_of


def color(i: int) -> tuple[int, int, int]:
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
    """``image`` with ``anns`` drawn over it (``cats``: category id -> COCO entry)."""
    img = np.asarray(image.convert("RGB")).astype(np.float32)
    h, w = img.shape[:2]
    parents = {parent_of(a) for a in anns if parent_of(a) is not None}
    order = sorted(anns, key=lambda a: parent_of(a) is not None)  # parents first, children on top
    for a in order:
        seg = a.get("segmentation")
        if not masks or not seg:
            continue
        m = coco.decode(coco.segmentation_to_rle(seg, h, w))
        fill = np.array(color(a["category_id"]), dtype=np.float32)
        if instance_of(a) in parents:
            img[_outline(m)] = fill  # parent: outline only, so its defects stay readable
        else:
            img[m] = 0.55 * img[m] + 0.45 * fill
            img[_outline(m)] = fill
    out = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(out)
    for a in order:
        x, y, bw, bh = a["bbox"]
        col = color(a["category_id"])
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
    """The first ``n`` images of the dataset at ``root`` with overlays, ``cols`` per
    row, each ``size`` pixels wide (aspect kept)."""
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
