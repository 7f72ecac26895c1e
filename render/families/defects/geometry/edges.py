"""Where a product wears first: its convex edges and corners (pure numpy).

:func:`edge_closeness` gives every vertex of a product its closeness to the
nearest convex edge of the defect-free mesh, the point attribute ``edge`` that
the edge-wear shader reads (see :class:`render.spec.WearSpec`). Metres, the
product's local frame.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from render.families.defects.geometry.surface import face_normals, refine_near

EDGE_REACH = 0.006
"""Distance (m) at which ``edge`` falls to 0; above every face's size plus the
widest band (faces are split to <= 4 mm), so a face near an edge interpolates
``edge`` linearly, unclipped (a face across the band: ``split_across_edges``)."""
MIN_ANGLE_DEG = 20.0
"""Convex edges whose faces turn by less (a tessellated curve: a can's body turns
by under 6 degrees per facet) do not wear; a washer's or a can bead's rounded edge
(facets of 22.5 degrees) does."""


def convex_edges(v: np.ndarray, f: np.ndarray, min_angle_deg: float = MIN_ANGLE_DEG) -> np.ndarray:
    """Edges (E, 2) of vertex indices where the surface turns outward (convex) by
    more than ``min_angle_deg`` between the two faces sharing them. Needs a
    consistently oriented, welded mesh; open edges (one face) do not count."""
    e = np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 1).reshape(-1, 2)
    third = np.stack([f[:, 2], f[:, 0], f[:, 1]], 1).reshape(-1)
    face = np.repeat(np.arange(len(f)), 3)
    key = np.sort(e, axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    k = key[order]
    pair = np.nonzero((k[1:] == k[:-1]).all(1))[0]  # sorted: twins are neighbours
    a, b = order[pair], order[pair + 1]
    n = face_normals(v, f)
    turn = np.clip((n[face[a]] * n[face[b]]).sum(1), -1.0, 1.0)
    sharp = turn < math.cos(math.radians(min_angle_deg))
    # convex: the other face's far vertex lies behind this face's plane
    behind = ((v[third[b]] - v[e[a, 0]]) * n[face[a]]).sum(1) < 0
    return key[a[sharp & behind]]


def edge_samples(v: np.ndarray, edges: np.ndarray, spacing: float) -> np.ndarray:
    """Points (P, 3) along ``edges`` at most ``spacing`` metres apart, ends included."""
    if len(edges) == 0:
        return np.zeros((0, 3))
    p, q = v[edges[:, 0]], v[edges[:, 1]]
    count = np.maximum(1, np.ceil(np.linalg.norm(q - p, axis=1) / spacing).astype(np.int64))
    seg = np.repeat(np.arange(len(edges)), count + 1)
    start = np.repeat(np.cumsum(count + 1) - (count + 1), count + 1)
    t = (np.arange(len(seg)) - start) / np.repeat(count, count + 1)
    return p[seg] + (q[seg] - p[seg]) * t[:, None]


def split_across_edges(
    base_v: np.ndarray, base_f: np.ndarray, v: np.ndarray, f: np.ndarray, band: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the faces of (``v``, ``f``) near a convex edge of the mesh
    (``base_v``, ``base_f``) where their middle lies farther from the edges than
    their corners say, the ``edge`` attribute being interpolated from the
    corners: a mesh edge from one convex edge to another (a corner cell's
    diagonal, a hole's fan reaching the plate's rim, a gear's tooth land) would
    otherwise read as a worn line across the face. First every such mesh edge is
    split (both faces at once: watertight stays watertight), then every face
    whose centroid is still too far (split in three there). ``band``: the widest
    worn band, metres. Adds vertices on edges and inside faces only (the shape
    stays). Returns (vertices, faces, parent face of each face) as ``refine_near``."""
    samples = edge_samples(base_v, convex_edges(base_v, base_f), 1e-4)
    parent = np.arange(len(f))
    if len(samples) == 0:
        return v, f, parent
    tree = cKDTree(samples)
    reach = 4 * band  # farther is far enough: bounded queries are fast

    def distance(p: np.ndarray) -> np.ndarray:
        return np.minimum(
            np.asarray(tree.query(p, distance_upper_bound=reach, workers=-1)[0]), reach
        )

    def across(ends: np.ndarray, mid: np.ndarray) -> np.ndarray:
        da, db = distance(ends[:, 0]), distance(ends[:, 1])
        long = np.linalg.norm(ends[:, 1] - ends[:, 0], axis=1) > 1e-4
        return long & (np.minimum(da, db) < band) & (distance(mid) > (da + db) / 2 + 0.2 * band)

    # faces take part if a corner may lie within the band (their centroid within
    # band + their size); which of their edges split, the rule decides
    v, f, parent = refine_near(v, f, distance, np.zeros(3), band, band, split_rule=across)
    dist = distance(v)
    for _ in range(3):
        corners = dist[f]
        centre = v[f].mean(1)
        d_centre = distance(centre)
        bad = (corners.min(1) < band) & (d_centre > corners.mean(1) + 0.2 * band)
        if not bad.any():
            break
        new = len(v) + np.arange(int(bad.sum()))
        v = np.concatenate([v, centre[bad]])
        dist = np.concatenate([dist, d_centre[bad]])
        a, b, c = f[bad].T
        f = np.concatenate(
            [f[~bad], np.stack([a, b, new], 1), np.stack([b, c, new], 1), np.stack([c, a, new], 1)]
        )
        parent = np.concatenate([parent[~bad], np.tile(parent[bad], 3)])
    return v, f, parent


def edge_closeness(
    base_v: np.ndarray,
    base_f: np.ndarray,
    points: np.ndarray,
    reach: float = EDGE_REACH,
    spacing: float = 5e-5,
) -> np.ndarray:
    """``edge`` (N,) for ``points`` (N, 3): 1 - distance to the nearest convex edge
    of the mesh (``base_v``, ``base_f``) / ``reach``, clipped to [0, 1]; the
    distance is exact to ``spacing`` / 2. All zeros if the mesh has no such edge."""
    samples = edge_samples(base_v, convex_edges(base_v, base_f), spacing)
    if len(samples) == 0 or len(points) == 0:
        return np.zeros(len(points))
    dist, _ = cKDTree(samples).query(points, distance_upper_bound=reach)
    return np.clip(1.0 - dist / reach, 0.0, 1.0)
