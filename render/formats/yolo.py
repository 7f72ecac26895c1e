"""YOLO exports in the Ultralytics layout: detection, segmentation, pose (pure, with
the file writing at the edge in :func:`write_yolo`).

Layout::

    OUT/data.yaml                      train/val/test image folders, names (+ kpt_shape,
                                       flip_idx for pose); no ``path:``, so Ultralytics
                                       resolves the folders against the yaml's own
                                       folder and the export can be moved or copied
    OUT/images/{split}/{stem}.png      hard links to the source images (copies
                                       where linking is not possible)
    OUT/labels/{split}/{stem}.txt      one line per object, coordinates in [0, 1]

Class indices are contiguous from 0 in category-id order (COCO ids may have
gaps). Lines: ``cls cx cy w h`` (detect); ``cls x1 y1 x2 y2 ...`` (segment);
``cls cx cy w h x1 y1 v1 ...`` (pose, only keypoint categories). Crowd regions
(``iscrowd: 1``) have no YOLO form and are left out.

**Masks with holes** (a washer, a person's arm against the hip) and masks in
several parts become ONE polygon: every hole and every further part is joined to
the outline by a zero-width bridge between their closest vertices (a keyhole
cut). Holes run the other way round than the outline, so rasterising the polygon
(non-zero or even-odd rule, as Ultralytics' ``polygon2mask`` does with OpenCV)
leaves them empty; the bridges have no area.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import cv2
import numpy as np

from render.formats import coco
from render.formats.keypoints import flip_index

Task = Literal["detect", "segment", "pose"]


def class_table(categories: Sequence[Mapping[str, Any]], task: Task) -> dict[int, int]:
    """COCO category id -> YOLO class index (0..C-1 in id order); pose keeps only
    keypoint categories."""
    ids = sorted(int(c["id"]) for c in categories if task != "pose" or c.get("keypoints"))
    return {cid: k for k, cid in enumerate(ids)}


def mask_polygon(mask: np.ndarray) -> np.ndarray | None:
    """One polygon (N, 2) float64, pixel coordinates, that rasterises back to
    ``mask`` (bool (H, W)), holes and extra parts joined by keyhole bridges; None
    for an empty mask."""
    contours, hierarchy = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE
    )
    rings = [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= 1]
    if not rings:
        return None
    # the largest outline first, then the rest by distance to what is joined
    order = sorted(range(len(rings)), key=lambda k: -abs(cv2.contourArea(contours[k])))
    poly = rings[order[0]]
    for k in order[1:]:
        ring = rings[k]
        d = np.linalg.norm(poly[:, None, :] - ring[None, :, :], axis=-1)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        rolled = np.roll(ring, -j, axis=0)
        poly = np.concatenate([poly[: i + 1], rolled, rolled[:1], poly[i:]])
    return poly


def _box_line(bbox: Sequence[float], w: int, h: int) -> list[float]:
    x, y, bw, bh = (float(v) for v in bbox)
    return [(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]


def _fmt(values: Sequence[float]) -> str:
    return " ".join(
        f"{v:.6f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v) for v in values
    )


def label_lines(
    image: Mapping[str, Any],
    annotations: Sequence[Mapping[str, Any]],
    classes: Mapping[int, int],
    task: Task,
) -> list[str]:
    """The label file lines of one image (see the module docstring)."""
    w, h = int(image["width"]), int(image["height"])
    lines = []
    for a in annotations:
        cls = classes.get(int(a["category_id"]))
        if cls is None or a.get("iscrowd", 0):
            continue
        if task == "segment":
            seg = a.get("segmentation")
            if not seg:
                continue
            poly = mask_polygon(coco.decode(coco.segmentation_to_rle(seg, h, w)))
            if poly is None:
                continue
            flat = (poly / [w, h]).clip(0.0, 1.0).ravel().tolist()
            lines.append(f"{cls} {_fmt(flat)}")
            continue
        values = _box_line(a["bbox"], w, h)
        if task == "pose":
            kps = np.asarray(a.get("keypoints") or [], dtype=np.float64).reshape(-1, 3)
            for x, y, v in kps:
                values += [x / w, y / h, int(v)] if v > 0 else [0.0, 0.0, 0]
        lines.append(f"{cls} {_fmt(values)}")
    return lines


def data_yaml(
    splits: Sequence[str],
    categories: Sequence[Mapping[str, Any]],
    classes: Mapping[int, int],
    task: Task,
) -> dict[str, Any]:
    """The ``data.yaml`` mapping Ultralytics reads, without ``path:`` (image folders
    relative to the yaml's folder, wherever the export is moved)."""
    names = {
        k: next(str(c["name"]) for c in categories if int(c["id"]) == cid)
        for cid, k in classes.items()
    }
    doc: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        if split in splits:
            doc[split] = f"images/{split}"
    doc.setdefault("val", doc.get("train", "images/train"))  # Ultralytics needs both
    doc.setdefault("train", doc["val"])
    doc["names"] = names
    if task == "pose":
        cats = [c for c in categories if int(c["id"]) in classes]
        counts = {len(c["keypoints"]) for c in cats}
        if len(counts) != 1:
            raise ValueError(
                f"yolo-pose needs one keypoint count across categories, got {sorted(counts)}"
            )
        doc["kpt_shape"] = [counts.pop(), 3]
        doc["flip_idx"] = flip_index(dict(cats[0]))
    return doc
