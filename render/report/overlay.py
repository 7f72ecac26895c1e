"""Drawing annotations over images: masks (filled, outlined), boxes with category
names, keypoints and skeletons (pure PIL/numpy; used by contact sheets, the HTML
report and ``synthcv preview``).

Nested instances (``scene_parent``, e.g. defects on a product) are drawn on top of
their parent, the parent outlined only, so both stay visible. Masks are filled in
one colour per instance; outlines, boxes and labels take their category's colour.
Keypoints: white when visible (v = 2), grey when occluded (v = 1).
"""

from __future__ import annotations

import colorsys
import json
from collections.abc import Sequence
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


View = tuple[int, int, int, int]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two (x0, y0, x1, y1) boxes overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_tile(
    image: Image.Image,
    anns: list[dict[str, Any]],
    cats: dict[int, dict[str, Any]],
    masks: bool,
    view: View | None = None,
    size: tuple[int, int] | None = None,
    unlabelled: int | None = None,
) -> Image.Image:
    """``image`` with ``anns`` drawn over it (``cats``: category id -> COCO entry).

    ``view`` (x0, y0, x1, y1; default the whole image) is cut out and scaled to
    ``size`` (default unscaled) *before* drawing, so lines and labels stay one
    pixel thin and readable in thumbnails and zoomed crops alike. A box's category
    name is written above it unless it would overlap a name already written, or its
    category is ``unlabelled`` (a mosaic of that class says it once)."""
    w, h = image.size
    x0, y0, x1, y1 = view or (0, 0, w, h)
    size = size or (x1 - x0, y1 - y0)
    sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    crop = image.convert("RGB").crop((x0, y0, x1, y1))
    if crop.size != size:
        up = sx > 1 or sy > 1
        crop = crop.resize(size, Image.Resampling.BICUBIC if up else Image.Resampling.LANCZOS)
    img = np.asarray(crop).astype(np.float32)
    parents = {parent_of(a) for a in anns if parent_of(a) is not None}
    order = sorted(anns, key=lambda a: parent_of(a) is not None)  # parents first, children on top
    for k, a in enumerate(order):
        seg = a.get("segmentation")
        if not masks or not seg:
            continue
        m = coco.decode(coco.segmentation_to_rle(seg, h, w))[y0:y1, x0:x1]
        if not m.any():
            continue
        if m.shape[::-1] != size:
            m = np.asarray(Image.fromarray(m).resize(size, Image.Resampling.NEAREST))
        edge = np.array(color(a["category_id"]), dtype=np.float32)
        fill = np.array(color(a["category_id"] + 7 * k), dtype=np.float32)  # one per instance
        if instance_of(a) in parents:
            img[_outline(m)] = edge  # parent: outline only, so its defects stay readable
        else:
            img[m] = 0.6 * img[m] + 0.4 * fill
            img[_outline(m)] = edge
    out = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(out)

    def xy(px: float, py: float) -> tuple[float, float]:
        return (px - x0) * sx, (py - y0) * sy

    written: list[tuple[float, float, float, float]] = []
    for a in order:
        bx, by, bw, bh = a["bbox"]
        col = color(a["category_id"])
        (x0b, y0b), (x1b, y1b) = xy(bx, by), xy(bx + bw, by + bh)
        d.rectangle([x0b, y0b, max(x0b, x1b - 1), max(y0b, y1b - 1)], outline=col, width=1)
        if a["category_id"] != unlabelled:
            name = str(cats.get(a["category_id"], {}).get("name", a["category_id"]))
            spot = d.textbbox((x0b + 2, max(0, y0b - 11)), name)
            if not any(_overlap(spot, w) for w in written):
                d.text((x0b + 2, max(0, y0b - 11)), name, fill=col)
                written.append(spot)
        kps = a.get("keypoints")
        if kps:
            pts = np.asarray(kps, dtype=np.float32).reshape(-1, 3)
            skeleton = cats.get(a["category_id"], {}).get("skeleton", [])
            for i, j in skeleton:
                if pts[i - 1, 2] > 0 and pts[j - 1, 2] > 0:
                    d.line([xy(*pts[i - 1, :2]), xy(*pts[j - 1, :2])], fill=col, width=1)
            r = float(np.clip(bh * sy / 60, 1.0, 2.5))  # dots no larger than a joint
            for px, py, v in pts:
                if v > 0:
                    cx, cy = xy(px, py)
                    d.ellipse(
                        [cx - r, cy - r, cx + r, cy + r],
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
            Image.open(root / im["file_name"]), by_image.get(im["id"], []), cats, masks,
            size=(size, tile_h),
        )  # fmt: skip
        sheet.paste(tile, ((k % cols) * size, (k // cols) * tile_h))
    return sheet


def _zoomed(image: Image.Image, view: View, size: int) -> Image.Image:
    """``view`` of ``image`` scaled to ``size`` x ``size`` with nearest-neighbour
    resampling: every rendered pixel stays a sharp square (what a model sees)."""
    return image.convert("RGB").crop(view).resize((size, size), Image.Resampling.NEAREST)


def _closeup_view(box: list[float], side: int, w: int, h: int) -> View:
    """A square ``side`` px crop centred on ``box`` and kept inside the image."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x0 = int(round(min(max(cx - side / 2, 0), max(w - side, 0))))
    y0 = int(round(min(max(cy - side / 2, 0), max(h - side, 0))))
    return x0, y0, x0 + side, y0 + side


def make_closeups(
    root: Path | Sequence[Path],
    rows: list[str],
    per_row: int = 4,
    zoom: int = 4,
    crop: int = 48,
) -> Image.Image:
    """Close-ups of the categories ``rows`` (one row each) of the dataset at ``root``
    (or of several datasets with the same categories, searched in order):
    ``per_row`` examples per row, each a ``crop`` px square around the instance
    (larger if the instance is, then scaled down to fit) shown ``zoom`` x enlarged
    twice: as rendered (nearest-neighbour) and with its mask outlined and filled.
    Examples are taken round-robin over the ``attributes.variant`` values and
    spread over the images, so a row shows the variety of its category. Labels
    name the scene (``#3``; from the second dataset on ``#b3``, ``#c3``, ...)."""
    from PIL import ImageFont

    roots = [root] if isinstance(root, Path) else list(root)
    cats: dict[int, dict[str, Any]] = {}
    images: dict[Any, dict[str, Any]] = {}
    annotations: list[dict[str, Any]] = []
    for k, src in enumerate(roots):
        data = json.loads((src / "annotations.json").read_text())
        for c in data["categories"]:
            cats.setdefault(c["id"], c)
        tag = "" if k == 0 else chr(ord("a") + k)
        for im in data["images"]:
            images[(k, im["id"])] = {**im, "_root": src, "_tag": tag}
        annotations += [
            {**a, "image_id": (k, a["image_id"])}
            for a in sorted(data["annotations"], key=lambda a: a["id"])
        ]
    tile = crop * zoom
    label_h = 14
    sheet = Image.new(
        "RGB", (120 + per_row * 2 * (tile + 4), len(rows) * (tile + label_h + 6)), (24, 24, 24)
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for a in annotations:
        if a.get("iscrowd"):
            continue
        name = cats.get(a["category_id"], {}).get("name", "")
        by_name.setdefault(name, []).append(a)
    for r, name in enumerate(rows):
        y = r * (tile + label_h + 6)
        draw.text((6, y + tile // 2), name, fill=(230, 230, 230), font=font)
        groups: dict[str, list[dict[str, Any]]] = {}
        for a in by_name.get(name, []):
            groups.setdefault(str(a.get("attributes", {}).get("variant", "")), []).append(a)
        chosen: list[dict[str, Any]] = []
        used_images: set[Any] = set()
        queues = [list(g) for _, g in sorted(groups.items())]
        while len(chosen) < per_row and any(queues):
            for q in queues:
                if not q or len(chosen) >= per_row:
                    continue
                pick = next((a for a in q if a["image_id"] not in used_images), q[0])
                q.remove(pick)
                chosen.append(pick)
                used_images.add(pick["image_id"])
        for k, a in enumerate(chosen):
            im = images[a["image_id"]]
            image = Image.open(im["_root"] / im["file_name"])
            side = int(max(crop, max(a["bbox"][2], a["bbox"][3]) + 8))
            view = _closeup_view(a["bbox"], side, im["width"], im["height"])
            x = 120 + k * 2 * (tile + 4)
            sheet.paste(_zoomed(image, view, tile), (x, y))
            over = draw_tile(image, [a], cats, True, view=view, size=(tile, tile))
            sheet.paste(over, (x + tile + 4, y))
            attrs = a.get("attributes", {})
            text = f"#{im['_tag']}{im.get('scene_id', a['image_id'][1])} {attrs.get('variant', '')}"
            if side != crop:
                text += f" ({tile / side:.1f}x)"
            draw.text((x, y + tile + 1), text, fill=(200, 200, 200), font=font)
    return sheet
