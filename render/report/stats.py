"""What a COCO document holds, as arrays: per-class counts, boxes, centres,
visibility, defect sizes, keypoint visibility (pure; no I/O, no plotting).

Tolerant by design: the report must open rendered, augmented and third-party
datasets, including ones ``synthcv validate`` would reject. An annotation whose
``image_id``, ``category_id`` or ``bbox`` cannot be used is counted in
``skipped`` (with the first reason) instead of stopping the report.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ClassInfo:
    """One category: its COCO entry and what the dataset holds of it."""

    id: int
    name: str
    supercategory: str
    keypoints: list[str]
    instances: int = 0
    crowd: int = 0
    images: int = 0


@dataclass
class Stats:
    """Everything the report plots. Box arrays are aligned: one row per usable,
    non-crowd annotation; ``box_class`` indexes ``classes``."""

    n_images: int
    n_annotations: int
    classes: list[ClassInfo]
    boxes: np.ndarray  # (N, 4) x, y, w, h in pixels
    box_class: np.ndarray  # (N,) index into classes
    image_size: np.ndarray  # (N, 2) width, height of the annotation's image
    per_image: np.ndarray  # (n_images,) annotations per image
    visibility: np.ndarray  # (M,) annotations that state it, in [0, 1]
    visibility_class: np.ndarray  # (M,)
    defect_sizes: dict[str, list[float]] = field(default_factory=dict)  # type -> length mm
    keypoint_visible: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # class -> (K, 3) v counts
    resolutions: Counter[tuple[int, int]] = field(default_factory=Counter)
    nested: int = 0  # annotations with a scene_parent (defects on products)
    skipped: int = 0
    skipped_reason: str = ""


def int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def xywh(v: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(v, list) or len(v) != 4:
        return None
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
        return None
    x, y, w, h = (float(t) for t in v)
    if not all(math.isfinite(t) for t in (x, y, w, h)) or w <= 0 or h <= 0:
        return None
    return x, y, w, h


def _classes(categories: list[Any]) -> list[ClassInfo]:
    out: list[ClassInfo] = []
    seen: set[int] = set()
    for c in categories:
        cid = int_or_none(c.get("id")) if isinstance(c, dict) else None
        if cid is None or cid in seen:
            continue
        seen.add(cid)
        kps = c.get("keypoints")
        out.append(
            ClassInfo(
                id=cid,
                name=str(c.get("name", cid)),
                supercategory=str(c.get("supercategory") or ""),
                keypoints=[str(k) for k in kps] if isinstance(kps, list) else [],
            )
        )
    return sorted(out, key=lambda c: c.id)


def _keypoint_v(kps: Any, k: int) -> np.ndarray | None:
    """The v of each of ``k`` keypoints, or None when ``kps`` is not [x, y, v] * k."""
    if not isinstance(kps, list) or len(kps) != 3 * k or k == 0:
        return None
    v = kps[2::3]
    if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in v):
        return None
    return np.clip(np.asarray(v, dtype=np.int64), 0, 2)


def compute(doc: dict[str, Any]) -> Stats:
    """:class:`Stats` of the COCO ``doc`` (``images``, ``annotations``,
    ``categories`` lists; anything else in it is ignored)."""
    classes = _classes(doc.get("categories") or [])
    index = {c.id: i for i, c in enumerate(classes)}
    sizes: dict[int, tuple[int, int]] = {}
    resolutions: Counter[tuple[int, int]] = Counter()
    for im in doc.get("images") or []:
        iid = int_or_none(im.get("id")) if isinstance(im, dict) else None
        w, h = (
            (int_or_none(im.get("width")), int_or_none(im.get("height")))
            if iid is not None
            else (0, 0)
        )
        if iid is not None and w and h and w > 0 and h > 0:
            sizes[iid] = (w, h)
            resolutions[(w, h)] += 1
    image_pos = {iid: n for n, iid in enumerate(sizes)}
    per_image = np.zeros(len(sizes), dtype=np.int64)
    boxes: list[tuple[float, float, float, float]] = []
    box_class: list[int] = []
    box_size: list[tuple[int, int]] = []
    vis: list[float] = []
    vis_class: list[int] = []
    defects: dict[str, list[float]] = {}
    kp: dict[str, np.ndarray] = {}
    class_images: list[set[int]] = [set() for _ in classes]
    skipped, reason, nested = 0, "", 0
    anns = doc.get("annotations") or []

    def skip(why: str) -> None:
        nonlocal skipped, reason
        skipped += 1
        reason = reason or why

    for a in anns:
        if not isinstance(a, dict):
            skip("an annotation is not an object")
            continue
        iid, cid = int_or_none(a.get("image_id")), int_or_none(a.get("category_id"))
        if iid is None or iid not in sizes:
            skip(f"annotation {a.get('id')!r:.40}: unknown image_id {a.get('image_id')!r:.40}")
            continue
        if cid is None or cid not in index:
            skip(
                f"annotation {a.get('id')!r:.40}: unknown category_id {a.get('category_id')!r:.40}"
            )
            continue
        box = xywh(a.get("bbox"))
        if box is None:
            skip(f"annotation {a.get('id')!r:.40}: unusable bbox {a.get('bbox')!r:.60}")
            continue
        ci, cls = index[cid], classes[index[cid]]
        per_image[image_pos[iid]] += 1
        class_images[ci].add(iid)
        if a.get("iscrowd"):
            cls.crowd += 1
            continue
        cls.instances += 1
        boxes.append(box)
        box_class.append(ci)
        box_size.append(sizes[iid])
        if a.get("scene_parent", a.get("parent_id")) is not None:
            nested += 1
        v = a.get("visibility")
        if isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1:
            vis.append(float(v))
            vis_class.append(ci)
        attrs = a.get("attributes")
        size = _defect_size(attrs)
        if size is not None and isinstance(attrs, dict):
            defects.setdefault(str(attrs.get("type", cls.name)), []).append(size)
        if cls.keypoints:
            kv = _keypoint_v(a.get("keypoints"), len(cls.keypoints))
            if kv is not None:
                table = kp.setdefault(cls.name, np.zeros((len(cls.keypoints), 3), np.int64))
                table[np.arange(len(kv)), kv] += 1
    for ci, imgs in enumerate(class_images):
        classes[ci].images = len(imgs)
    return Stats(
        n_images=len(sizes),
        n_annotations=len(anns),
        classes=classes,
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        box_class=np.asarray(box_class, dtype=np.int64),
        image_size=np.asarray(box_size, dtype=np.float64).reshape(-1, 2),
        per_image=per_image,
        visibility=np.asarray(vis, dtype=np.float64),
        visibility_class=np.asarray(vis_class, dtype=np.int64),
        defect_sizes=defects,
        keypoint_visible=kp,
        resolutions=resolutions,
        nested=nested,
        skipped=skipped,
        skipped_reason=reason,
    )


def _defect_size(attrs: Any) -> float | None:
    """A defect's size in mm: its measured ``length_mm`` (synthcv), else the nominal
    ``size_mm`` of datasets written before sizes were measured; None otherwise."""
    if not isinstance(attrs, dict):
        return None
    for key in ("length_mm", "size_mm"):
        value = attrs.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None
