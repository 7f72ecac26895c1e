"""Deterministic resting poses: an object lying on a plane on a stable face.

A quasi-static stand-in for rigid-body settling that is exactly reproducible
(Bullet inside Blender is not: the same scene settles differently in two fresh
processes). The candidate faces are the facets of the convex hull (coplanar
triangles merged); a face is stable when the centre of mass projects inside it;
its probability is the solid angle it subtends from the centre of mass (the
chance that a randomly tumbling object lands on it).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull

from render.geometry.rotations import rot_z


def _solid_angle(tri: np.ndarray) -> float:
    """Solid angle of triangle (3, 3) seen from the origin (Van Oosterom-Strackee)."""
    a, b, c = tri
    la, lb, lc = np.linalg.norm(a), np.linalg.norm(b), np.linalg.norm(c)
    num = abs(float(np.dot(a, np.cross(b, c))))
    den = la * lb * lc + np.dot(a, b) * lc + np.dot(a, c) * lb + np.dot(b, c) * la
    return float(2.0 * np.arctan2(num, den))


def _hull_centroid(points: np.ndarray, hull: ConvexHull) -> np.ndarray:
    """Volume centroid of the convex hull (uniform density)."""
    ref = points[hull.vertices].mean(axis=0)
    tets = points[hull.simplices] - ref  # (F, 3, 3)
    vol = np.abs(np.einsum("ij,ij->i", tets[:, 0], np.cross(tets[:, 1], tets[:, 2]))) / 6.0
    cent = tets.sum(axis=1) / 4.0 + ref
    if vol.sum() <= 0:
        return ref
    return (cent * vol[:, None]).sum(axis=0) / vol.sum()


def stable_faces(vertices: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Stable resting faces of a mesh: list of (outward unit normal (3,), probability).

    vertices: (N, 3) in the object frame (scale applied). Probabilities sum to 1.
    Raises ValueError for degenerate (flat or tiny) meshes.
    """
    pts = np.asarray(vertices, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 4:
        raise ValueError(f"vertices must be (N>=4, 3), got shape {pts.shape}")
    hull = ConvexHull(pts)
    com = _hull_centroid(pts, hull)
    scale = float(np.ptp(pts, axis=0).max())
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, eq in enumerate(hull.equations):
        key = tuple(
            np.round(eq / max(scale, 1e-12) * np.r_[scale, scale, scale, 1.0] * 1e4).astype(int)
        )
        groups.setdefault(key, []).append(i)
    faces: list[tuple[np.ndarray, float]] = []
    for members in groups.values():
        normal = hull.equations[members[0], :3]
        normal = normal / np.linalg.norm(normal)
        tris = pts[hull.simplices[members]]  # (k, 3, 3)
        # Is the COM's projection inside the face? Check against every triangle.
        d = float(np.dot(tris[0, 0] - com, normal))
        proj = com + d * normal
        inside = any(_in_triangle(proj, t, normal) for t in tris)
        if not inside:
            continue
        weight = sum(_solid_angle(t - com) for t in tris)
        faces.append((normal, weight))
    if not faces:  # numerically unlucky: fall back to the largest-solid-angle face
        raise ValueError("no stable face found")
    total = sum(w for _, w in faces)
    return [(n, w / total) for n, w in faces]


def _in_triangle(p: np.ndarray, tri: np.ndarray, normal: np.ndarray, eps: float = 1e-9) -> bool:
    a, b, c = tri
    signs = [np.dot(np.cross(q1 - q0, p - q0), normal) for q0, q1 in ((a, b), (b, c), (c, a))]
    return all(s >= -eps for s in signs) or all(s <= eps for s in signs)


def _align(normal: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation matrix taking unit vector ``normal`` onto unit vector ``target``."""
    v = np.cross(normal, target)
    c = float(np.dot(normal, target))
    if np.linalg.norm(v) < 1e-12:
        if c > 0:
            return np.eye(3)
        axis = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        axis = axis - normal * np.dot(axis, normal)
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * (1.0 / (1.0 + c))


def rest_pose(vertices: np.ndarray, u: float, yaw: float) -> tuple[np.ndarray, float]:
    """Rotation (3x3, object->world) and height offset for resting on the plane z = 0.

    ``u`` in [0, 1) picks a stable face by cumulative probability; ``yaw`` (radians)
    turns the object about the vertical afterwards. The returned ``dz`` is what to add
    to the plane's height so the lowest vertex touches it.
    """
    if not 0.0 <= u < 1.0:
        raise ValueError(f"u must lie in [0, 1), got {u}")
    faces = stable_faces(vertices)
    cum = np.cumsum([p for _, p in faces])
    k = min(int(np.searchsorted(cum, u, side="right")), len(faces) - 1)
    normal = faces[k][0]
    rot = _align(normal, np.array([0.0, 0.0, -1.0]))
    rot = rot_z(float(yaw)) @ rot
    dz = -float((np.asarray(vertices) @ rot.T)[:, 2].min())
    return rot, dz
