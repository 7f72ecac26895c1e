"""Keypoints: projection and visibility flags (pure numpy); the COCO schema lives
in :mod:`render.formats.keypoints`.

Coordinates written to COCO follow its pixel-index convention: the centre of
pixel (column c, row r) is (c, r), i.e. ``x = u - 0.5`` for a continuous image
coordinate ``u`` whose pixel centres lie at +0.5 (:mod:`render.camera`).

Visibility ``v`` of a keypoint at world point P with camera depth ``z``:

- ``0`` (and x = y = 0): P projects outside the image, or lies behind the camera;
- ``2`` (visible): in the 3x3 pixels around its projection, some pixel shows the
  keypoint's own body (its instance or a descendant) at a depth >= ``z - radius``.
  ``radius`` is how deep inside the body the joint lies: joints are inside the
  body, so the body's own skin in front of a joint does not hide it, but an arm
  across the hip does. Only the person's own surface makes a keypoint visible:
  the background seen beside a thin, hidden leg does not (so every ``v = 2``
  keypoint lies within 1 px of its person's visible mask);
- ``1`` (occluded): otherwise: another instance, a nearer surface or nothing of
  the person is seen there.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from render import camera as cam_math
from render.formats.keypoints import COCO_KEYPOINTS, COCO_SKELETON

__all__ = ["COCO_KEYPOINTS", "COCO_SKELETON", "keypoint_visibility", "project_keypoints"]


def project_keypoints(
    points_world: np.ndarray, K: np.ndarray, pose_cv: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project (N, 3) world points (metres) through camera ``K`` / ``pose_cv``
    (camera-to-world, OpenCV). Returns ``xy`` (N, 2) float64 in COCO pixel-index
    coordinates, ``z`` (N,) camera depth in metres, ``inside`` (N,) bool: in front
    of the camera and within the ``width`` x ``height`` image."""
    pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    uv, z = cam_math.project(pts, np.asarray(K, dtype=np.float64), np.asarray(pose_cv))
    with np.errstate(invalid="ignore"):
        inside = (
            (z > 0)
            & np.isfinite(uv).all(axis=1)
            & (uv[:, 0] >= 0)
            & (uv[:, 0] < width)
            & (uv[:, 1] >= 0)
            & (uv[:, 1] < height)
        )
    return uv - 0.5, z, inside


def keypoint_visibility(
    points_world: np.ndarray,
    radius: np.ndarray,
    K: np.ndarray,
    pose_cv: np.ndarray,
    instance_map: np.ndarray,
    depth_map: np.ndarray,
    own_ids: Collection[int],
) -> tuple[np.ndarray, np.ndarray]:
    """COCO ``[x, y]`` and ``v`` for keypoints of one instance in one view.

    points_world: (N, 3) metres; radius: (N,) metres, depth of each joint inside
    its body; instance_map: int (H, W); depth_map: float (H, W) z-depth in metres,
    ``inf`` where no surface; own_ids: instance ids that count as the keypoint's
    own body (the instance and its descendants). Returns ``xy`` (N, 2) float64
    (0 where v = 0) and ``v`` (N,) int64 in {0, 1, 2} (see the module docstring).
    """
    h, w = instance_map.shape
    if depth_map.shape != (h, w):
        raise ValueError(f"depth_map must be ({h}, {w}), got {depth_map.shape}")
    radius = np.asarray(radius, dtype=np.float64).reshape(-1)
    xy, z, inside = project_keypoints(points_world, K, pose_cv, w, h)
    if radius.shape != z.shape:
        raise ValueError(f"radius must have one entry per keypoint ({z.size}), got {radius.shape}")
    v = np.zeros(len(z), dtype=np.int64)
    own = np.isin(instance_map, np.fromiter(own_ids, dtype=np.int64))
    for k in np.flatnonzero(inside):
        col, row = int(xy[k, 0] + 0.5), int(xy[k, 1] + 0.5)
        r0, r1, c0, c1 = max(row - 1, 0), min(row + 2, h), max(col - 1, 0), min(col + 2, w)
        d = depth_map[r0:r1, c0:c1]
        mine = own[r0:r1, c0:c1]
        clear = mine & (d >= z[k] - radius[k])
        v[k] = 2 if clear.any() else 1
    xy = np.where(v[:, None] > 0, xy, 0.0)
    return xy, v


def coco_keypoints(xy: np.ndarray, v: np.ndarray) -> tuple[list[float | int], int]:
    """Flatten to COCO's ``[x1, y1, v1, x2, ...]`` (3 decimals) and ``num_keypoints``."""
    flat: list[float | int] = []
    for (x, y), vis in zip(np.asarray(xy), np.asarray(v), strict=True):
        flat += [round(float(x), 3), round(float(y), 3), int(vis)]
    return flat, int((np.asarray(v) > 0).sum())
