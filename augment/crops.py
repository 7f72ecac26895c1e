"""Training at native resolution: square crops of an image and its annotations
(pure numpy; the COCO masks go through :mod:`render.formats.coco`).

A crop keeps the image's pixels as they are (no resizing), so a defect a few
pixels wide stays a few pixels wide: a detector trains on crops of large frames
or tiles (``data.crops`` of a training recipe) instead of whole images shrunk to
the model's input size. A *positive* crop contains (the box centre of) an
annotation of the ``around`` categories at a random place in the crop; a
*negative* crop is placed where no such box is (a product's plain surface, the
background). An epoch (:class:`CropPlan`) has ``per_image`` positive crops of each
image with such a box and as many negatives as make them ``negatives`` of its
crops, drawn over all images in turn (an image without a box gives only
negatives), so the share holds however few images hold a defect: per image it did
not, and a set with defects on a third of its tiles trained on two-thirds
negatives. Which crop an item gets depends only on ``(seed, image id, epoch, k)``,
so a resumed run and the loader's workers see the same crops.
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
    positive crops per image with a box to centre on, per epoch; ``negatives``:
    share of an epoch's crops that are negative; ``around``: category ids positives
    centre on (None: every annotation)."""

    size: int
    per_image: int = 1
    negatives: float = 0.25
    around: frozenset[int] | None = None


@dataclass(frozen=True)
class CropPlan:
    """The crops of an epoch over images ``0..n-1``: items ``0..positives-1`` are crop
    ``k`` of positive image ``positive[i // per_image]``; the ``negatives`` items after
    them take the images in a fixed shuffled ``order``, epoch after epoch on from
    where the last left off (so every image gives negatives in turn)."""

    positive: tuple[int, ...]
    per_image: int
    negatives: int
    order: tuple[int, ...]

    @classmethod
    def of(cls, boxed: Sequence[bool], crops: Crops, seed: int) -> CropPlan:
        """The plan for images with (True) and without a box to centre on. Without
        any such image (or ``negatives: 1``) every image gives ``per_image`` negatives."""
        positive = tuple(i for i, b in enumerate(boxed) if b) if crops.negatives < 1 else ()
        n_pos = len(positive) * crops.per_image
        if n_pos:
            n_neg = round(n_pos * crops.negatives / (1 - crops.negatives))
        else:
            n_neg = len(boxed) * crops.per_image
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC1]))
        order = tuple(int(i) for i in rng.permutation(len(boxed)))
        return cls(positive, crops.per_image, n_neg, order)

    def __len__(self) -> int:
        return len(self.positive) * self.per_image + self.negatives

    def item(self, index: int, epoch: int) -> tuple[int, int, bool]:
        """``(image, k, negative)`` of item ``index`` in ``epoch``; ``k`` is unique per
        image within an epoch (it keys the crop's random stream)."""
        n_pos = len(self.positive) * self.per_image
        if index < n_pos:
            return self.positive[index // self.per_image], index % self.per_image, False
        j = index - n_pos
        return self.order[(epoch * self.negatives + j) % len(self.order)], self.per_image + j, True


def has_box(anns: Iterable[dict[str, Any]], around: frozenset[int] | None) -> bool:
    """Whether a positive crop can centre on one of ``anns``."""
    return len(_boxes(anns, around)) > 0


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
    negative: bool,
    rng: np.random.Generator,
) -> tuple[int, int, int, int, bool]:
    """A crop ``(x, y, w, h)`` of an image, and whether it is a positive: one with a
    box of ``crops.around`` at a random place, unless ``negative`` or the image has
    none; a negative avoids every such box (where the crop leaves room)."""
    cw, ch = min(crops.size, width), min(crops.size, height)
    boxes = _boxes(anns, crops.around)
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
