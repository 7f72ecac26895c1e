"""Checks of keypoint and amodal annotation fields for ``synthcv validate``.

COCO keypoints are ``[x, y, v] * K`` with ``v`` in {0, 1, 2}, ``K`` the number of
its category's ``keypoints`` names, ``num_keypoints`` the count with ``v > 0`` and
labelled points inside the image (pixel-index coordinates: -0.5 .. width - 0.5).
An amodal mask contains the visible one: ``area_amodal >= area`` and
``visibility == area / area_amodal``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeGuard

from render.formats import coco


def _number(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_keypoints(
    ann: dict[str, Any],
    label: Any,
    count: int | None,
    size: tuple[int, int] | None,
    error: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    """Report problems of ``ann["keypoints"]`` (present) through ``error``/``warn``;
    ``count``: keypoints of its category (None: unknown), ``size``: (height, width)."""
    kps = ann["keypoints"]
    if not isinstance(kps, list) or len(kps) % 3 or not all(_number(v) for v in kps):
        error(f"annotation {label}: keypoints must be a list of [x, y, v] numbers")
        return
    k = len(kps) // 3
    if count is not None and k != count:
        error(f"annotation {label}: {k} keypoints, its category names {count}")
    labelled = 0
    outside = False
    for i in range(k):
        x, y, v = kps[3 * i : 3 * i + 3]
        if v not in (0, 1, 2):
            error(f"annotation {label}: keypoint {i} has v = {v!r}, expected 0, 1 or 2")
            return
        if v == 0:
            if x != 0 or y != 0:
                warn(f"annotation {label}: keypoint {i} has v = 0 but x, y = {x}, {y} (COCO: 0, 0)")
            continue
        labelled += 1
        if size is not None and not (-0.5 <= x <= size[1] - 0.5 and -0.5 <= y <= size[0] - 0.5):
            outside = True
    if outside:
        error(f"annotation {label}: a labelled keypoint lies outside the {size[1]}x{size[0]} image")  # type: ignore[index]
    n = ann.get("num_keypoints")
    if n is not None and n != labelled:
        error(f"annotation {label}: num_keypoints {n!r} != {labelled} labelled keypoints")


def check_amodal(ann: dict[str, Any], label: Any, error: Callable[[str], None]) -> None:
    """Consistency of ``segmentation_amodal`` (present) with the visible mask."""
    try:
        amodal_area = coco.area(ann["segmentation_amodal"])
    except Exception:  # noqa: BLE001 - any malformed RLE is a problem to report
        error(f"annotation {label}: unreadable segmentation_amodal")
        return
    area: Any = ann.get("area")
    if ann.get("area_amodal") != amodal_area:
        error(
            f"annotation {label}: area_amodal {ann.get('area_amodal')!r} != mask area {amodal_area}"
        )
    if _number(area) and area > amodal_area:
        error(f"annotation {label}: area {area} > amodal area {amodal_area}")
    vis: Any = ann.get("visibility")
    if _number(area) and _number(vis) and amodal_area and abs(vis - area / amodal_area) > 1e-3:
        error(
            f"annotation {label}: visibility {vis} != area / area_amodal = {area / amodal_area:.4f}"
        )
