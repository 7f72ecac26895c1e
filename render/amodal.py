"""Planning the amodal passes (pure numpy).

An amodal mask is every pixel an object would cover if nothing else were in the
scene. The renderer gets them exactly from extra index-only Cycles passes: each
pass renders a *group* of ``amodal`` objects and hides everything else, so every
pixel of a group member shows that member, occluded or not, as long as the
members' images never overlap. Cycles takes the object-index pass from a pixel's
first sample, whose position does not depend on the sample count or seed (checked
by a real-render test), so a 1-sample pass agrees pixel for pixel with the main
render: an unoccluded object's amodal mask equals its visible mask.

:func:`plan_groups` packs objects into as few groups as it can (greedy colouring
of the "boxes overlap in some view" graph); :func:`projected_box` gives the boxes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from render import camera as cam_math

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1): continuous pixel coordinates, x1 > x0, y1 > y0."""


def projected_extent(points_world: np.ndarray, K: np.ndarray, pose_cv: np.ndarray) -> Box | None:
    """Bounding box of (N, 3) world points projected through ``K`` / ``pose_cv``
    (continuous pixels, not clipped to any image); None when a point lies behind
    the camera or there are none."""
    pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    if pts.size == 0:
        return None
    uv, z = cam_math.project(pts, np.asarray(K, dtype=np.float64), np.asarray(pose_cv))
    if not (z > 1e-6).all():
        return None
    (x0, y0), (x1, y1) = uv.min(axis=0), uv.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def projected_box(
    points_world: np.ndarray, K: np.ndarray, pose_cv: np.ndarray, width: int, height: int
) -> Box | None:
    """Bounding box of (N, 3) world points (metres) in a ``width`` x ``height`` view
    (camera-to-world ``pose_cv``, OpenCV), clipped to the image; None when it misses
    the image. Points behind the camera make the box the whole image (a mesh
    crossing the camera plane can project anywhere)."""
    pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    if pts.size == 0:
        return None
    uv, z = cam_math.project(pts, np.asarray(K, dtype=np.float64), np.asarray(pose_cv))
    front = z > 1e-6
    if not front.any():
        return None
    if not front.all():
        return (0.0, 0.0, float(width), float(height))
    x0, y0 = uv.min(axis=0)
    x1, y1 = uv.max(axis=0)
    x0, y0 = max(float(x0), 0.0), max(float(y0), 0.0)
    x1, y1 = min(float(x1), float(width)), min(float(y1), float(height))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def boxes_overlap(a: Box, b: Box, margin: float = 0.0) -> bool:
    """Whether boxes ``a`` and ``b`` come within ``margin`` pixels of each other."""
    return (
        a[0] - margin < b[2]
        and b[0] - margin < a[2]
        and a[1] - margin < b[3]
        and b[1] - margin < a[3]
    )


def plan_groups(boxes: Mapping[str, Sequence[Box | None]], margin: float = 1.0) -> list[list[str]]:
    """Groups of object names whose boxes (one per view; None = not in that view)
    are at least ``margin`` pixels apart in every view. Objects in no view are left
    out. Deterministic: objects are taken in the mapping's order, each into the
    first group it fits."""
    groups: list[list[str]] = []
    members: list[list[Sequence[Box | None]]] = []
    for name, views in boxes.items():
        if all(b is None for b in views):
            continue
        for group, taken in zip(groups, members, strict=True):
            clash = any(
                a is not None and b is not None and boxes_overlap(a, b, margin)
                for other in taken
                for a, b in zip(views, other, strict=True)
            )
            if not clash:
                group.append(name)
                taken.append(views)
                break
        else:
            groups.append([name])
            members.append([views])
    return groups
