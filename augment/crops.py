"""Training at native resolution: square crops of an image and its annotations
(pure numpy; the COCO masks go through :mod:`render.formats.coco`).

A crop keeps the image's pixels as they are (no resizing), so a defect a few
pixels wide stays a few pixels wide: a detector trains on crops of large frames
or tiles (``data.crops`` of a training recipe) instead of whole images shrunk to
the model's input size. A *positive* crop contains (the box centre of) an
annotation of the ``around`` categories at a random place in the crop; a
*negative* crop is placed where no such box is (a product's plain surface, the
background). Which crop an item gets depends only on ``(seed, image id, epoch,
k)``, so a resumed run and the loader's workers see the same crops.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from render.formats import coco

MIN_PIXELS = 4
"""An annotation with fewer pixels left in the crop is dropped."""


@dataclass(frozen=True)
class Crops:
    """``size``: crop side in pixels (smaller images: the whole side); ``per_image``:
    crops per image and epoch; ``negatives``: share of negative crops; ``around``:
    category ids positives centre on (None: every annotation)."""

    size: int
    per_image: int = 1
    negatives: float = 0.25
    around: frozenset[int] | None = None


def _boxes(anns: Iterable[dict[str, Any]], around: frozenset[int] | None) -> np.ndarray:
    rows = [
        a["bbox"]
        for a in anns
        if not a.get("iscrowd") and (around is None or int(a["category_id"]) in around)
    ]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def choose_window(
    height: int,
    width: int,
    anns: Sequence[dict[str, Any]],
    crops: Crops,
    k: int,
    rng: np.random.Generator,
) -> tuple[int, int, int, int, bool]:
    """The crop ``(x, y, w, h)`` of item ``k`` of an image, and whether it is a
    positive. Crop ``k`` is negative when ``k`` falls in the last
    ``round(negatives * per_image)`` of the image's crops (exact shares per image
    with several crops; drawn with probability ``negatives`` for one crop), or when
    the image has no annotation to centre on."""
    cw, ch = min(crops.size, width), min(crops.size, height)
    boxes = _boxes(anns, crops.around)
    n_neg = round(crops.negatives * crops.per_image)
    negative = (
        k >= crops.per_image - n_neg if crops.per_image > 1 else rng.random() < crops.negatives
    )
    if len(boxes) and not negative:
        x, y, bw, bh = boxes[int(rng.integers(len(boxes)))]
        cx, cy = x + bw / 2, y + bh / 2
        x0 = int(np.clip(round(cx - rng.uniform(0.15, 0.85) * cw), 0, width - cw))
        y0 = int(np.clip(round(cy - rng.uniform(0.15, 0.85) * ch), 0, height - ch))
        return x0, y0, cw, ch, True
    for _ in range(20):
        x0 = int(rng.integers(0, width - cw + 1))
        y0 = int(rng.integers(0, height - ch + 1))
        clear = (
            not len(boxes)
            or not (
                (boxes[:, 0] < x0 + cw)
                & (boxes[:, 0] + boxes[:, 2] > x0)
                & (boxes[:, 1] < y0 + ch)
                & (boxes[:, 1] + boxes[:, 3] > y0)
            ).any()
        )
        if clear:
            break
    return x0, y0, cw, ch, False


def crop_annotations(
    anns: Sequence[dict[str, Any]], height: int, width: int, window: tuple[int, int, int, int]
) -> list[dict[str, Any]]:
    """The annotations of an ``height`` x ``width`` image as they are in the crop
    ``window`` ``(x, y, w, h)``: masks cut (and boxes, areas recomputed from them;
    amodal fields dropped), boxes clipped where there is no mask, keypoints shifted
    (``v = 0``, ``x = y = 0`` outside); those left with fewer than
    :data:`MIN_PIXELS` pixels are dropped."""
    x0, y0, cw, ch = window
    out = []
    for a in anns:
        b = {k: v for k, v in a.items() if not k.endswith("_amodal") and k != "visibility"}
        seg = a.get("segmentation")
        if seg:
            mask = coco.decode(coco.segmentation_to_rle(seg, height, width))[
                y0 : y0 + ch, x0 : x0 + cw
            ]
            if int(mask.sum()) < MIN_PIXELS:
                continue
            rle = coco.encode(mask)
            b["segmentation"], b["area"], b["bbox"] = rle, coco.area(rle), coco.bbox(rle)
        else:
            x, y, w, h = (float(v) for v in a["bbox"])
            nx0, ny0 = max(x - x0, 0.0), max(y - y0, 0.0)
            nx1, ny1 = min(x + w - x0, float(cw)), min(y + h - y0, float(ch))
            if (nx1 - nx0) * (ny1 - ny0) < MIN_PIXELS or nx1 <= nx0 or ny1 <= ny0:
                continue
            b["bbox"] = [nx0, ny0, nx1 - nx0, ny1 - ny0]
            b["area"] = (nx1 - nx0) * (ny1 - ny0)
        kps = a.get("keypoints")
        if kps:
            pts = np.asarray(kps, dtype=np.float64).reshape(-1, 3).copy()
            pts[:, 0] -= x0
            pts[:, 1] -= y0
            out_of = (pts[:, 0] < -0.5) | (pts[:, 1] < -0.5) | (pts[:, 0] >= cw - 0.5) | (
                pts[:, 1] >= ch - 0.5
            )  # fmt: skip
            pts[out_of | (pts[:, 2] == 0)] = 0.0
            b["keypoints"] = [round(float(v), 3) for v in pts.ravel()]
            b["num_keypoints"] = int((pts[:, 2] > 0).sum())
        out.append(b)
    return out
