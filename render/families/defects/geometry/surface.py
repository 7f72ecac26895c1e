"""Defect geometry on a product's surface (pure numpy).

Two kinds, chosen so the renderer's instance pass gives pixel-exact masks:

- **Depressions** (dent, chip) change the product's own surface: the mesh is
  refined locally (edges <= ``max_edge``), vertices are pushed inward along their
  normals by a radial profile, and the faces whose mean displacement exceeds a
  threshold become the defect's part. The defect mask is the displaced region,
  with face-size steps of ``max_edge`` (0.2-0.3 mm), not of the product's coarse faces.
- Everything else follows the final (already dented) surface through
  :class:`Surface` (closest points, snapping, marching along it): grooves
  (``grooves.py``), films (``films.py``) and nuisances (``nuisances.py``).

All functions are deterministic given their arguments; randomness comes only
from an explicit ``numpy.random.Generator``. Units are metres, frames the
product's local frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain

import numpy as np
from scipy.spatial import cKDTree

from render.geometry.build import vertex_normals

TriMesh = tuple[np.ndarray, np.ndarray]
"""(vertices float64 (N, 3), faces int64 (M, 3))."""


def face_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Unit face normals (M, 3) (zero for degenerate faces)."""
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)


def facing(v: np.ndarray, f: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Faces ``f`` (int64) wound so their normals point along ``direction`` on
    average (the order of every face reversed if not)."""
    f = np.asarray(f, dtype=np.int64)
    return f[:, ::-1] if (face_normals(v, f) @ direction).mean() < 0 else f


def refine(
    v: np.ndarray,
    f: np.ndarray,
    center: np.ndarray,
    normal: np.ndarray,
    radius: float,
    max_edge: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split edges longer than ``max_edge`` whose midpoint lies within
    ``radius`` (+ the edge length) of ``center``, until none is left. Faces
    turned away from ``normal`` (the far side of a thin part) are left alone;
    a zero ``normal`` refines every face in the region.

    Splitting is decided per edge, so both neighbours of an edge split it and a
    watertight mesh stays watertight. Returns (vertices, faces, parent) where
    ``parent[i]`` is the index in ``f`` of the face that new face ``i`` came from.
    """
    return refine_near(
        v, f, lambda p: np.linalg.norm(p - center, axis=-1), normal, radius, max_edge
    )


def refine_near(
    v: np.ndarray,
    f: np.ndarray,
    distance: Callable[[np.ndarray], np.ndarray],
    normal: np.ndarray,
    radius: float,
    max_edge: float,
    edge_limit: Callable[[np.ndarray], np.ndarray] | None = None,
    split_rule: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`refine` around any region: ``distance(points (P, 3)) -> (P,)`` is
    the distance of points to the region's core (a point, a path), and edges whose
    midpoint lies within ``radius`` (+ the edge length) of it are split.
    ``edge_limit(midpoints) -> (P,)``, if given, varies the longest edge allowed
    along the region (never above ``max_edge``). ``split_rule(ends (E, 2, 3),
    midpoints (E, 3)) -> (E,) bool``, if given, decides which edges of the faces
    near the region are split instead (``max_edge`` and ``edge_limit`` unused)."""
    if max_edge <= 0:
        raise ValueError(f"max_edge must be > 0, got {max_edge}")
    # Only faces near the region take part; edges on the border with the rest of
    # the mesh are frozen (never split), so no T-junction can appear.
    tri = v[f]
    reach = np.linalg.norm(tri - tri.mean(1, keepdims=True), axis=-1).max(1)
    active = distance(tri.mean(1)) < radius + 2 * reach + max_edge
    active &= face_normals(v, f) @ normal > -0.3
    fixed_f, fixed_p = f[~active], np.nonzero(~active)[0]
    border = np.zeros(len(v), dtype=bool)
    border[np.intersect1d(f[active].reshape(-1), fixed_f.reshape(-1))] = True
    f, parent = f[active], np.nonzero(active)[0]
    for _ in range(40):
        e = np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 1).reshape(-1, 2)
        key = np.sort(e, axis=1).astype(np.int64)
        base = np.int64(len(v) + 1)
        code, inv = np.unique(key[:, 0] * base + key[:, 1], return_inverse=True)
        uniq = np.stack([code // base, code % base], 1)
        inv = inv.reshape(-1)
        length = np.linalg.norm(v[uniq[:, 0]] - v[uniq[:, 1]], axis=1)
        mid = (v[uniq[:, 0]] + v[uniq[:, 1]]) / 2
        if split_rule is not None:
            split = split_rule(v[uniq], mid)
        else:
            limit = max_edge if edge_limit is None else np.minimum(edge_limit(mid), max_edge)
            split = (length > limit) & (distance(mid) < radius + length)
        split &= ~(border[uniq[:, 0]] & border[uniq[:, 1]])
        if not split.any():
            break
        new_index = np.full(len(uniq), -1)
        new_index[split] = len(v) + np.arange(split.sum())
        v = np.concatenate([v, mid[split]])
        border = np.concatenate([border, np.zeros(int(split.sum()), dtype=bool)])
        m = new_index[inv].reshape(-1, 3)  # midpoints of edges (0,1), (1,2), (2,0)
        count = (m >= 0).sum(1)
        out_f, out_p = [f[count == 0]], [parent[count == 0]]
        # Rotate faces so the pattern is canonical: 1 split on edge 0; 2 splits on edges 0, 1.
        for n_split, want in ((1, (True, False, False)), (2, (True, True, False))):
            sel = np.nonzero(count == n_split)[0]
            ff, mm, pp = f[sel], m[sel], parent[sel]
            for rot in range(3):
                fr = np.roll(ff, -rot, axis=1)
                mr = np.roll(mm, -rot, axis=1)
                ok = np.all((mr >= 0) == np.array(want), axis=1)
                a, b, c = fr[ok].T
                m0, m1 = mr[ok, 0], mr[ok, 1]
                if n_split == 1:
                    out_f += [np.stack([a, m0, c], 1), np.stack([m0, b, c], 1)]
                    out_p += [pp[ok]] * 2
                else:
                    out_f += [
                        np.stack([m0, b, m1], 1),
                        np.stack([a, m0, m1], 1),
                        np.stack([a, m1, c], 1),
                    ]
                    out_p += [pp[ok]] * 3
        sel = count == 3
        a, b, c = f[sel].T
        m0, m1, m2 = m[sel].T
        out_f += [np.stack(t, 1) for t in ((a, m0, m2), (m0, b, m1), (m2, m1, c), (m0, m1, m2))]
        out_p += [parent[sel]] * 4
        f = np.concatenate(out_f).astype(np.int64)
        parent = np.concatenate(out_p)
    return v, np.concatenate([fixed_f, f]), np.concatenate([fixed_p, parent])


def tangent_frame(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane orthogonal to unit ``n``."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    t1 = np.cross(n, helper)
    t1 /= np.linalg.norm(t1)
    return t1, np.cross(n, t1)


def irregular_radius(
    theta: np.ndarray, radius: float, roughness: float, rng: np.random.Generator
) -> np.ndarray:
    """A star-shaped outline r(theta) = radius * (1 + sum_k a_k cos(k theta + phi_k)),
    harmonics 2..7 with amplitudes ~ roughness / k, clipped to [0.45, 1.6] * radius."""
    out = np.ones_like(theta)
    for k in range(2, 8):
        out += roughness / k * rng.uniform(0.3, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return radius * np.clip(out, 0.45, 1.6)


def depress(
    v: np.ndarray,
    f: np.ndarray,
    center: np.ndarray,
    normal: np.ndarray,
    radius: float,
    depth: float,
    kind: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Push vertices near ``center`` inward along their normals.

    kind ``dent``: smooth bowl, displacement depth * (1 - (rho/R)^2)^2.
    kind ``chip``: irregular outline, steep wall (15% of the radius) and a rough
    floor, like material broken out. Only vertices whose normal is within 45
    degrees of ``normal`` move. Returns (new vertices, displacement per vertex, m).
    """
    if kind not in ("dent", "chip"):
        raise ValueError(f"kind must be 'dent' or 'chip', got {kind!r}")
    vn = vertex_normals(v, f)
    d = v - center
    t1, t2 = tangent_frame(normal)
    theta = np.arctan2(d @ t2, d @ t1)
    rho = np.linalg.norm(d, axis=1)
    if kind == "dent":
        s = np.clip(1 - (rho / radius) ** 2, 0, 1)
        disp = depth * s**2
    else:
        r_theta = irregular_radius(theta, radius, 0.6, rng)
        x = np.clip((1 - rho / r_theta) / 0.15, 0, 1)
        wall = x * x * (3 - 2 * x)
        phases = rng.uniform(0, 2 * np.pi, 3)
        floor = 1 + 0.15 * np.sin(rho / radius * 9 + phases[0]) * np.cos(theta * 3 + phases[1])
        disp = depth * wall * floor
    disp = np.where(vn @ normal > math.cos(math.radians(45)), disp, 0.0)
    return v - vn * disp[:, None], disp


# --------------------------------------------------------------------------- snapping


def _pair_points(q: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Closest points (P, T, 3) of each query (P, 1, 3) on each triangle (T, 3, 3)
    (Ericson's region tests, vectorised)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ab, ac = b - a, c - a
    ap, bp, cp = q - a, q - b, q - c
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v_in, w_in = vb / denom, vc / denom
        v_ab = d1 / (d1 - d3)
        w_ac = d2 / (d2 - d6)
        w_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    conds = [
        (d1 <= 0) & (d2 <= 0),
        (d3 >= 0) & (d4 <= d3),
        (vc <= 0) & (d1 >= 0) & (d3 <= 0),
        (d6 >= 0) & (d5 <= d6),
        (vb <= 0) & (d2 >= 0) & (d6 <= 0),
        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
    ]
    bary_v = np.select(conds, [0, 1, v_ab, 0, 0, 1 - w_bc], v_in)
    bary_w = np.select(conds, [0, 0, 0, 1, w_ac, w_bc], w_in)
    return a + bary_v[..., None] * ab + bary_w[..., None] * ac


def triangle_distances(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Distance (T,) from one point (3,) to each triangle (T, 3, 3)."""
    return np.linalg.norm(_pair_points(p[None, None, :], tri)[0] - p, axis=-1)


def closest_points(p: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest point on a set of triangles for each query point.

    p: (P, 3); tri: (T, 3, 3). Returns (points (P, 3), triangle index (P,)),
    computed over all (point, triangle) pairs in chunks.
    """
    out_pt = np.empty_like(p)
    out_ix = np.empty(len(p), dtype=np.int64)
    chunk = max(1, 2_000_000 // max(1, len(tri)))
    for s in range(0, len(p), chunk):
        q = p[s : s + chunk, None, :]
        pts = _pair_points(q, tri)
        dist = np.linalg.norm(pts - q, axis=-1)
        best = np.argmin(np.nan_to_num(dist, nan=np.inf), axis=1)
        rows = np.arange(len(best))
        out_pt[s : s + chunk] = pts[rows, best]
        out_ix[s : s + chunk] = best
    return out_pt, out_ix


class Surface:
    """A triangle mesh prepared for snapping: query points -> closest surface
    point and that face's unit normal."""

    def __init__(self, v: np.ndarray, f: np.ndarray) -> None:
        self.v, self.f = v, f
        self.tri = v[f]
        self.normals = face_normals(v, f)
        self.centroids = self.tri.mean(1)
        self.reach = np.linalg.norm(self.tri - self.centroids[:, None], axis=-1).max(1)
        self._tree: cKDTree | None = None
        self._vtree: cKDTree | None = None

    def near(self, p: np.ndarray, radius: float) -> np.ndarray:
        """Indices (sorted) of faces that may come within ``radius`` of point ``p`` (3,)."""
        if self._tree is None:
            self._tree = cKDTree(self.centroids)
        cand = np.asarray(
            self._tree.query_ball_point(p, radius + float(self.reach.max())), dtype=np.int64
        )
        cand.sort()
        return cand[np.linalg.norm(self.centroids[cand] - p, axis=1) < radius + self.reach[cand]]

    def snap_many(
        self, p: np.ndarray, margin: float, chunk: int = 4
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`snap` for points ordered so consecutive ones are close (a path,
        a ring): each run of ``chunk`` points searches faces near its own centre
        (``margin``: how far the surface may be from the points)."""
        pts, nrm, _ = self.snap_many_faces(p, margin, chunk)
        return pts, nrm

    def snap_many_faces(
        self, p: np.ndarray, margin: float, chunk: int = 4
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`snap_many`, also returning the index of each point's face (P,).
        Every (point, candidate face) pair of all runs in one vectorised pass (the
        same result as :meth:`snap_faces` run by run, ties to the lowest face)."""
        n = len(p)
        if n == 0:
            return np.empty_like(p), np.empty_like(p), np.empty(0, dtype=np.int64)
        starts = np.arange(0, n, chunk)
        run = np.arange(n) // chunk
        centres = np.add.reduceat(p, starts, axis=0) / np.diff(np.append(starts, n))[:, None]
        spread = np.linalg.norm(p - centres[run], axis=1)
        # the nearest mesh vertex bounds each point's distance to the surface: faces
        # beyond that bound (plus their size) cannot hold its closest point, so the
        # search stays as small as the margin allows, and finds the same faces
        if self._vtree is None:
            self._vtree = cKDTree(self.v[np.unique(self.f)])
        bound = np.asarray(self._vtree.query(p)[0])
        radius = np.minimum(
            np.maximum.reduceat(spread, starts) + margin,
            np.maximum.reduceat(spread + bound, starts),
        )
        if self._tree is None:
            self._tree = cKDTree(self.centroids)
        found = self._tree.query_ball_point(centres, radius + float(self.reach.max()))
        sizes = np.fromiter((len(c) for c in found), dtype=np.int64, count=len(found))
        face = np.fromiter(chain.from_iterable(found), dtype=np.int64, count=int(sizes.sum()))
        owner = np.repeat(np.arange(len(found)), sizes)
        keep = (
            np.linalg.norm(self.centroids[face] - centres[owner], axis=1)
            < radius[owner] + self.reach[face]
        )
        face, owner = face[keep], owner[keep]
        empty = np.setdiff1d(np.arange(len(found)), owner)
        if len(empty):  # nothing near: search every face
            every = np.arange(len(self.f))
            face = np.concatenate([face, np.tile(every, len(empty))])
            owner = np.concatenate([owner, np.repeat(empty, len(every))])
        members = np.minimum(chunk, n - starts)  # points per run
        pi, fi = [], []
        for j in range(chunk):  # the j-th point of every run with one, against its faces
            has = members[owner] > j
            pi.append(starts[owner[has]] + j)
            fi.append(face[has])
        pis, fis = np.concatenate(pi), np.concatenate(fi)
        q = p[pis]
        closest = _pair_points(q, self.tri[fis])
        dist = np.nan_to_num(np.linalg.norm(closest - q, axis=-1), nan=np.inf)
        order = np.lexsort((fis, dist, pis))
        first = order[np.r_[True, pis[order][1:] != pis[order][:-1]]]
        ix = fis[first]
        return closest[first], self.normals[ix], ix

    def snap(self, p: np.ndarray, near: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Closest surface points (P, 3) and their face normals (P, 3), searching
        only faces within ``radius`` of ``near``."""
        pts, nrm, _ = self.snap_faces(p, near, radius)
        return pts, nrm

    def snap_faces(
        self, p: np.ndarray, near: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`snap`, also returning each point's face index (P,)."""
        if self._vtree is None:
            self._vtree = cKDTree(self.v[np.unique(self.f)])
        bound = np.asarray(self._vtree.query(p)[0])  # see snap_many_faces
        radius = min(radius, float((np.linalg.norm(p - near, axis=-1) + bound).max()))
        cand = self.near(near, radius)
        if len(cand) == 0:
            cand = np.arange(len(self.f))
        pts, ix = closest_points(p, self.tri[cand])
        return pts, self.normals[cand[ix]], cand[ix]

    def smooth_around(self, p: np.ndarray, normal: np.ndarray, clearance: float) -> bool:
        """Whether every face within ``clearance`` of ``p`` is within 35 degrees of
        ``normal`` (faces turned away, the far side of a thin part, do not count)."""
        cand = self.near(p, clearance)
        near = cand[triangle_distances(p, self.tri[cand]) < clearance]
        dots = self.normals[near] @ normal
        return not ((dots > -0.3) & (dots < math.cos(math.radians(35)))).any()


def march(
    surf: Surface,
    start: np.ndarray,
    direction: np.ndarray,
    length: float,
    step: float,
    turn: np.ndarray,
    ref_normal: np.ndarray,
    clearance: float = 0.0,
    clear_after: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Walk along the surface from ``start``: each step goes ``step`` metres along
    the current direction (turned by ``turn[i]`` radians about the normal) and is
    snapped back to the surface. Stops early where the surface turns away from
    ``ref_normal`` by > 35 degrees or jumps (hole, edge, component), or, with
    ``clearance`` > 0, where such a place comes within ``clearance`` of the path
    (checked once the path is ``clear_after`` metres long: a crack leaves an edge).
    Returns the path (P, 3) and its face normals (P, 3), P >= 1."""
    pts, nrm = [start], [ref_normal]
    if clearance > 0 and clear_after <= 0 and not surf.smooth_around(start, ref_normal, clearance):
        return np.array(pts), np.array(nrm)
    d = direction - ref_normal * (direction @ ref_normal)
    if not np.linalg.norm(d) > 1e-9:  # along the normal (or not finite): nowhere to go
        return np.array(pts), np.array(nrm)
    d /= np.linalg.norm(d)
    n_steps = int(math.ceil(length / step))
    cos_limit = math.cos(math.radians(35))
    for i in range(n_steps):
        n = nrm[-1]
        c, s = math.cos(turn[i % len(turn)]), math.sin(turn[i % len(turn)])
        d = c * d + s * np.cross(n, d)
        guess = pts[-1] + d * step
        p, pn = surf.snap(guess[None], guess, 2 * step)
        p, pn = p[0], pn[0]
        if pn @ ref_normal < cos_limit or np.linalg.norm(p - guess) > 0.5 * step:
            break
        if clearance > 0 and (i + 1) * step > clear_after:
            if not surf.smooth_around(p, pn, clearance):
                break
        d = p - pts[-1]
        d -= pn * (d @ pn)
        norm = np.linalg.norm(d)
        if norm < 1e-9:
            break
        d /= norm
        pts.append(p)
        nrm.append(pn)
    return np.array(pts), np.array(nrm)
