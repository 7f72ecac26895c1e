"""The MVTec-AD folder layout for anomaly detection (anomalib, PatchCore, ...), from a
defects dataset (pure planning; :mod:`render.export` writes the files).

One square crop per product instance: its box plus a margin on each side, made
square (one integer side), shifted to lie inside the image; where the square is
larger than the image it is centred on it and the part outside is filled by
repeating the border pixels (``crop_pixels``; the ground-truth mask is 0 there).
``--crop-size N`` resamples every crop to N x N (MVTec-AD uses one size per
category). Per product category::

    OUT/<product>/train/good/<name>.png           defect-free crops (the train share)
    OUT/<product>/test/good/<name>.png            the other defect-free crops
    OUT/<product>/test/<defect_type>/<name>.png   crops with defects of one type
                                                  ("combined" with several types)
    OUT/<product>/ground_truth/<defect_type>/<name>_mask.png
                                                  255 where a defect is, else 0

Products are annotations without a parent whose category is not a defect
category; a product's defects are its children (``scene_parent``) whose category's
``supercategory`` is ``defect`` (configurable). Good crops split by scene as
everywhere (:mod:`.splits`); defective crops are all test images, as in MVTec.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from render.formats import coco
from render.formats.records import instance_of, parent_of


@dataclass(frozen=True)
class Crop:
    """One product crop: where it comes from and where it goes."""

    image_id: int
    file_name: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels
    product: str
    defect: str | None  # None: good; a defect category name, or "combined"
    name: str
    scene: str
    defect_masks: tuple[Any, ...]  # RLEs of the product's defects (full image)


def square_box(bbox: Sequence[float], margin: float, w: int, h: int) -> tuple[int, int, int, int]:
    """The square crop ``(x0, y0, x1, y1)`` (exclusive; ``x1 - x0 == y1 - y0``) of a
    COCO ``bbox`` with ``margin`` (a fraction of the longer side) on each side: one
    integer side (rounded up), centred on the box, shifted to lie inside the ``w`` x ``h`` image;
    along an axis where it is longer than the image, centred on the image (it then
    reaches past both borders)."""
    x, y, bw, bh = (float(v) for v in bbox)
    side = max(1, math.ceil(max(bw, bh) * (1 + 2 * margin) - 1e-9))

    def start(centre: float, n: int) -> int:
        if side > n:
            return -((side - n) // 2)
        return min(max(int(round(centre - side / 2)), 0), n - side)

    x0, y0 = start(x + bw / 2, w), start(y + bh / 2, h)
    return x0, y0, x0 + side, y0 + side


def crop_pixels(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` (H, W[, C]), the part outside the image filled by
    repeating its border pixels."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    inner = image[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    pad = [(max(0, -y0), max(0, y1 - h)), (max(0, -x0), max(0, x1 - w))]
    pad += [(0, 0)] * (image.ndim - 2)
    return np.pad(inner, pad, mode="edge") if any(p != (0, 0) for p in pad) else inner


def plan_crops(
    doc: Mapping[str, Any], defect_supercategory: str = "defect", margin: float = 0.1
) -> list[Crop]:
    """Every product crop of a COCO document with a product/defect hierarchy.
    Raises ValueError when the document has no defect categories or no products."""
    cats = {int(c["id"]): c for c in doc["categories"]}
    defect_ids = {cid for cid, c in cats.items() if c.get("supercategory") == defect_supercategory}
    if not defect_ids:
        raise ValueError(
            f"no category has supercategory {defect_supercategory!r}: the anomaly layout needs "
            "defect categories (synthcv's defects family, or --defect-supercategory)"
        )
    images = {int(i["id"]): i for i in doc["images"]}
    by_image: dict[int, list[Mapping[str, Any]]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(int(a["image_id"]), []).append(a)
    crops: list[Crop] = []
    for iid, anns in sorted(by_image.items()):
        img = images[iid]
        w, h = int(img["width"]), int(img["height"])
        for a in anns:
            cid = int(a["category_id"])
            if parent_of(a) is not None or cid in defect_ids or a.get("iscrowd", 0):
                continue
            inst = instance_of(a)
            kids = [
                k
                for k in anns
                if inst is not None and parent_of(k) == inst and int(k["category_id"]) in defect_ids
            ]
            kinds = sorted({str(cats[int(k["category_id"])]["name"]) for k in kids})
            defect = None if not kinds else kinds[0] if len(kinds) == 1 else "combined"
            box = square_box(a["bbox"], margin, w, h)
            scene = img.get("scene_id", iid)
            crops.append(
                Crop(
                    image_id=iid,
                    file_name=str(img["file_name"]),
                    box=box,
                    product=str(cats[cid]["name"]),
                    defect=defect,
                    name=f"{iid:06d}_{inst if inst is not None else a['id']}",
                    scene=f"scene:{scene}",
                    defect_masks=tuple(
                        coco.segmentation_to_rle(k["segmentation"], h, w)
                        for k in kids
                        if k.get("segmentation")
                    ),
                )
            )
    if not crops:
        raise ValueError("no product annotations (annotations without a parent) to crop")
    return crops


def crop_mask(crop: Crop) -> np.ndarray:
    """uint8 (h, w) of the crop: 255 where one of the product's defects is."""
    x0, y0, x1, y1 = crop.box
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    for rle in crop.defect_masks:
        full = coco.decode(rle)
        h, w = full.shape
        inner = full[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
        top, left = max(0, -y0), max(0, -x0)
        mask[top : top + inner.shape[0], left : left + inner.shape[1]][inner] = 255
    return mask
