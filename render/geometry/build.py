"""Mesh building blocks shared by the families' generators (pure numpy).

A *piece* is a ``(vertices (N, 3) float64, faces (M, 3) int64)`` pair; pieces are
combined with :func:`merge`. Metres, +Z up, faces counter-clockwise from outside.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from render.geometry import Mesh

Piece = tuple[np.ndarray, np.ndarray]


def merge(pieces: list[Piece], smooth: bool = False) -> Mesh:
    """Concatenate (vertices, faces) pieces, weld coincident vertices (< 10 nm apart),
    drop degenerate faces and unused vertices; the result is a watertight Mesh."""
    verts = np.concatenate([p[0] for p in pieces])
    offsets = np.cumsum([0] + [len(p[0]) for p in pieces[:-1]])
    faces = np.concatenate([p[1] + o for p, o in zip(pieces, offsets, strict=True)])
    # Weld by distance (a rounding grid would split pairs that straddle a cell edge).
    pairs = cKDTree(verts).query_pairs(1e-8, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(verts),) * 2)
    _, label = connected_components(graph, directed=False)
    _, first, inverse = np.unique(label, return_index=True, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    faces = faces[ok]
    used, faces = np.unique(faces, return_inverse=True)
    return Mesh(
        verts[first][used], faces.reshape(-1, 3).astype(np.int64), smooth=smooth, watertight=True
    )


def grid_faces(rows: int, cols: int, n_cols: int) -> np.ndarray:
    """Triangles of a grid of vertices ``r * n_cols + c`` that wraps around in rows
    (``rows`` of them) and joins columns ``c`` to ``(c + 1) % n_cols`` for the first
    ``cols`` columns (``cols == n_cols``: closed around both ways, a torus)."""
    j = np.arange(rows)[:, None]
    i = np.arange(cols)[None, :]
    a = j * n_cols + i
    b = ((j + 1) % rows) * n_cols + i
    c = ((j + 1) % rows) * n_cols + (i + 1) % n_cols
    d = j * n_cols + (i + 1) % n_cols
    faces = [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    return np.concatenate(faces).astype(np.int64)


def strip(loop_a: np.ndarray, loop_b: np.ndarray, flip: bool) -> Piece:
    """Quads between two closed loops of equal length (N, 3)."""
    n = len(loop_a)
    verts = np.concatenate([loop_a, loop_b])
    a = np.arange(n)
    b = (a + 1) % n
    faces = np.concatenate([np.stack([a, b, b + n], -1), np.stack([a, b + n, a + n], -1)])
    return verts, (faces[:, ::-1] if flip else faces).astype(np.int64)


def box_piece(lo: np.ndarray, hi: np.ndarray) -> Piece:
    """An axis-aligned box from corner ``lo`` to corner ``hi`` (both (3,), metres)."""
    v = np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], dtype=np.int64)
    return v, f


def cylinder_piece(
    radius: float,
    z0: float,
    z1: float,
    segments: int = 16,
    centre: tuple[float, float] = (0.0, 0.0),
) -> Piece:
    """A closed cylinder about a vertical axis at ``centre`` (x, y), from ``z0`` to ``z1``."""
    a = 2 * np.pi * np.arange(segments) / segments
    ring = np.stack([centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)], -1)
    bottom = np.column_stack([ring, np.full(segments, z0)])
    top = np.column_stack([ring, np.full(segments, z1)])
    verts = np.concatenate([bottom, top, [[centre[0], centre[1], z0], [centre[0], centre[1], z1]]])
    i = np.arange(segments)
    j = (i + 1) % segments
    cb, ct = 2 * segments, 2 * segments + 1
    faces = np.concatenate(
        [
            np.stack([i, j, j + segments], -1),
            np.stack([i, j + segments, i + segments], -1),
            np.stack([np.full(segments, cb), j, i], -1),
            np.stack([np.full(segments, ct), i + segments, j + segments], -1),
        ]
    )
    return verts, faces.astype(np.int64)


def cone_piece(radius: float, z0: float, z1: float, segments: int = 16) -> Piece:
    """A closed cone about +Z: base disc of ``radius`` at ``z0``, apex at ``z1``."""
    a = 2 * np.pi * np.arange(segments) / segments
    ring = np.column_stack([radius * np.cos(a), radius * np.sin(a), np.full(segments, z0)])
    verts = np.concatenate([ring, [[0.0, 0.0, z1], [0.0, 0.0, z0]]])
    i = np.arange(segments)
    j = (i + 1) % segments
    apex, centre = segments, segments + 1
    faces = np.concatenate(
        [
            np.stack([i, j, np.full(segments, apex)], -1),
            np.stack([np.full(segments, centre), j, i], -1),
        ]
    )
    return verts, faces.astype(np.int64)


def prism_piece(profile: np.ndarray, y0: float, y1: float) -> Piece:
    """A closed prism: the convex (x, z) polygon ``profile`` (N, 2) extruded along Y
    from ``y0`` to ``y1``; faces are oriented outward whatever the profile's order."""
    p = np.asarray(profile, dtype=np.float64)
    n = len(p)
    front = np.column_stack([p[:, 0], np.full(n, y0), p[:, 1]])
    back = np.column_stack([p[:, 0], np.full(n, y1), p[:, 1]])
    verts = np.concatenate([front, back])
    i = np.arange(n)
    j = (i + 1) % n
    fan = np.arange(1, n - 1)
    faces = np.concatenate(
        [
            np.stack([i, j, j + n], -1),
            np.stack([i, j + n, i + n], -1),
            np.stack([np.zeros(n - 2, int), fan, fan + 1], -1),
            np.stack([np.full(n - 2, n), fan + 1 + n, fan + n], -1),
        ]
    )
    centre = verts.mean(axis=0)
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = np.einsum("ij,ij->i", normal, tri.mean(axis=1) - centre) < 0
    faces[inward] = faces[inward][:, ::-1]
    return verts, faces.astype(np.int64)


def sphere_piece(
    radius: tuple[float, float, float],
    centre: tuple[float, float, float],
    rings: int = 10,
    segments: int = 16,
) -> Piece:
    """A closed UV ellipsoid with semi-axes ``radius`` (x, y, z) about ``centre``."""
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = 2 * np.pi * np.arange(segments) / segments
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    verts = np.concatenate([[[0.0, 0.0, 1.0]], ring, [[0.0, 0.0, -1.0]]]) * np.asarray(
        radius
    ) + np.asarray(centre)
    top, bottom = 0, len(verts) - 1
    faces = []
    for s in range(segments):
        s2 = (s + 1) % segments
        faces.append([top, 1 + s, 1 + s2])
        for r in range(rings - 2):
            a, b = 1 + r * segments + s, 1 + r * segments + s2
            c, d = a + segments, b + segments
            faces += [[a, c, d], [a, d, b]]
        last = 1 + (rings - 2) * segments
        faces.append([bottom, last + s2, last + s])
    return verts, np.asarray(faces, dtype=np.int64)


def transform_piece(piece: Piece, rotation: np.ndarray, translation: np.ndarray) -> Piece:
    """``piece`` rotated by the 3x3 ``rotation`` about the origin, then translated."""
    v, f = piece
    return v @ np.asarray(rotation).T + np.asarray(translation), f


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (N, 3) of a triangle mesh (zero where a
    vertex has no face)."""
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    idx = f.ravel()
    acc = np.stack(
        [np.bincount(idx, weights=np.repeat(n[:, c], 3), minlength=len(v)) for c in range(3)], 1
    )
    length = np.linalg.norm(acc, axis=1, keepdims=True)
    return np.divide(acc, length, out=np.zeros_like(acc), where=length > 0)
