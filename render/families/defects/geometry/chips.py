"""Edges of a product and chips broken out of them (pure numpy).

An *edge site* is a point on a sharp or rounded edge (plate and hole rims,
chamfers, gear teeth, a washer's fillet, a can's bead) next to a camera-facing
face, with the normals of the two surfaces that meet there. Chips remove
material there: the vertices near the site are pushed along the edge's bisector
onto a rough fracture surface (a bevel of irregular depth along the edge, with
conchoidal ripples), so the chip is missing material that exposes the substrate.
Cracks start from edge sites too. Metres, the product's local frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

from render.families.defects.geometry import surface as dg
from render.geometry.build import vertex_normals


class EdgeSite(NamedTuple):
    """A point on an edge, the normal of the camera-facing surface (``top``) and the
    mean normal of the other surface (``side``) within the search radius; ``run``:
    how far the same edge (between the same two surfaces) goes on either side of
    the point along :attr:`along`, metres (lo <= 0 <= hi): a gear tooth's corner
    ends it, a hole's rim ends where it curves away from the straight line."""

    point: np.ndarray
    top: np.ndarray
    side: np.ndarray
    run: tuple[float, float] = (-math.inf, math.inf)

    @property
    def along(self) -> np.ndarray:
        """Unit direction of the edge."""
        a = np.cross(self.top, self.side)
        return a / max(float(np.linalg.norm(a)), 1e-12)

    @property
    def inward(self) -> np.ndarray:
        """Unit direction on the top surface pointing away from the edge."""
        d = -(self.side - self.top * (self.side @ self.top))
        return d / max(float(np.linalg.norm(d)), 1e-12)


def _run(
    i: int,
    p: np.ndarray,
    edges: np.ndarray,
    v: np.ndarray,
    na: np.ndarray,
    nb: np.ndarray,
    reach: float = 0.02,
) -> tuple[float, float]:
    """How far the sharp edge ``i`` (of ``edges`` (E, 2) with face normals ``na``,
    ``nb``) continues from ``p`` on it, each way, as a chain of sharp edges that
    turns less than 35 degrees from one edge to the next, between surfaces that
    turn less than 35 degrees (a rim curves on; a gear tooth's corner stops it);
    (lo, hi), metres along the edge's direction, ``reach`` at most."""
    cos = math.cos(math.radians(35))
    by_vertex: dict[int, list[int]] = {}
    for k, (x, y) in enumerate(edges.tolist()):
        by_vertex.setdefault(x, []).append(k)
        by_vertex.setdefault(y, []).append(k)
    out = []
    for end in (1, 0):
        cur, prev, at = i, int(edges[i, 1 - end]), int(edges[i, end])
        went = float(np.linalg.norm(v[at] - p))
        seen = {i}
        while went < reach:
            d0 = v[at] - v[prev]
            d0 = d0 / max(float(np.linalg.norm(d0)), 1e-12)
            nxt = None
            for k in by_vertex.get(at, []):
                if k in seen:
                    continue
                other = int(edges[k, 1] if edges[k, 0] == at else edges[k, 0])
                d1 = v[other] - v[at]
                length = float(np.linalg.norm(d1))
                pair = max(
                    min(na[k] @ na[cur], nb[k] @ nb[cur]), min(na[k] @ nb[cur], nb[k] @ na[cur])
                )
                if length > 0 and (d1 / length) @ d0 > cos and pair > cos:
                    nxt = (k, other, length)
                    break
            if nxt is None:
                break
            prev = at
            cur, at, length = nxt
            seen.add(cur)
            went += length
        out.append(min(went, reach))
    return (-out[1], out[0])


def edge_site(
    v: np.ndarray,
    f: np.ndarray,
    facing: np.ndarray,
    radius: float,
    rng: np.random.Generator,
    min_run: float = 0.0,
) -> EdgeSite | None:
    """A random edge site on a camera-facing (``facing``) part of the mesh; None
    if the mesh has no edge there. Edges: mesh edges whose two faces differ by
    more than 15 degrees (a fillet's facets count), one of them facing the camera;
    the other surface is the mean normal of faces within ``radius`` that differ
    from the top by more than 45 degrees. With ``min_run`` > 0, the first site
    whose edge runs at least that long (:attr:`EdgeSite.run`), else the longest
    run found."""
    fn = dg.face_normals(v, f)
    e = np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 1).reshape(-1, 2)
    key = np.sort(e, axis=1)
    owner = np.repeat(np.arange(len(f)), 3)
    order = np.lexsort((key[:, 1], key[:, 0]))
    key, owner = key[order], owner[order]
    same = np.all(key[1:] == key[:-1], axis=1)
    a, b = owner[:-1][same], owner[1:][same]
    edges = key[:-1][same]
    cos_face = math.cos(math.radians(40))
    up = np.maximum(fn[a] @ facing, fn[b] @ facing)
    sharp = (np.einsum("ij,ij->i", fn[a], fn[b]) < math.cos(math.radians(15))) & (up > cos_face)
    sharp &= np.minimum(fn[a] @ facing, fn[b] @ facing) > -0.5
    if not sharp.any():
        return None
    edges, a, b = edges[sharp], a[sharp], b[sharp]
    length = np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
    centroids = v[f].mean(1)
    reach = np.linalg.norm(v[f] - centroids[:, None], axis=-1).max(1)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    best: EdgeSite | None = None
    for _ in range(40):
        i = int(rng.choice(len(edges), p=length / length.sum()))
        p = v[edges[i, 0]] + rng.uniform(0.15, 0.85) * (v[edges[i, 1]] - v[edges[i, 0]])
        top_face = a[i] if fn[a[i]] @ facing >= fn[b[i]] @ facing else b[i]
        cand = np.nonzero(np.linalg.norm(centroids - p, axis=1) < radius + reach)[0]
        near = cand[dg.triangle_distances(p, v[f[cand]]) < radius]
        top = fn[top_face]
        dots = fn[near] @ top
        tops = near[dots > math.cos(math.radians(20))]
        sides = near[(dots < math.cos(math.radians(45))) & (dots > -0.5)]
        if len(sides) == 0 or len(tops) == 0:
            continue
        top = (fn[tops] * area[tops, None]).sum(0)
        side = (fn[sides] * area[sides, None]).sum(0)
        top /= np.linalg.norm(top)
        side /= np.linalg.norm(side)
        if top @ facing < cos_face:
            continue
        site = EdgeSite(p, top, side)
        if min_run <= 0:
            return site
        run = _run(i, p, edges, v, fn[a], fn[b])
        if np.dot(v[edges[i, 1]] - v[edges[i, 0]], site.along) < 0:
            run = (-run[1], -run[0])  # along the site's direction
        site = site._replace(run=run)
        if site.run[1] - site.run[0] >= min_run:
            return site
        if best is None or site.run[1] - site.run[0] > best.run[1] - best.run[0]:
            best = site
    return best


def edge_distance(site: EdgeSite, length: float) -> Callable[[np.ndarray], np.ndarray]:
    """Distance of points (P, 3) to the stretch of edge a chip of ``length`` takes
    out at ``site`` (a segment along the edge, 1.2 x the length)."""
    along = site.along
    half = 0.6 * length

    def distance(p: np.ndarray) -> np.ndarray:
        d = p - site.point
        s = np.clip(d @ along, -half, half)
        return np.asarray(np.linalg.norm(d - np.outer(s, along), axis=1))

    return distance


def chip(
    v: np.ndarray,
    f: np.ndarray,
    site: EdgeSite,
    length: float,
    depth: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Break a chip out of the edge at ``site``: ``length`` along the edge, up to
    ``depth`` deep below either surface (the fracture is a rough bevel across the
    edge; no point goes deeper than ``depth`` below the surface it was on).
    Returns (vertices, depth below the original surface per vertex (N,), metres).
    The mesh must be refined around the site first (edges well below ``depth``)."""
    bis = site.top + site.side
    bis /= np.linalg.norm(bis)
    along = site.along
    across = np.cross(bis, along)
    half = length / 2
    # only vertices within reach of the chip take part (the mesh is large)
    dist_all = np.linalg.norm(v - site.point, axis=1)
    idx = np.nonzero(dist_all < half + 3 * depth)[0]
    d = v[idx] - site.point
    s, u = d @ along, d @ across
    # depth along the edge: an irregular elliptical outline, deepest off-centre
    centre = rng.uniform(-0.25, 0.25) * half
    x = (s - centre) / np.where(s > centre, half - centre, half + centre)
    outline = np.sqrt(np.clip(1 - x**2, 0, 1)) ** rng.uniform(0.6, 1.1)
    ph = rng.uniform(0, 2 * np.pi, 4)
    k = rng.uniform(2.0, 4.0, 2) * np.pi / half
    wobble = 1 + 0.18 * np.sin(k[0] * s + ph[0]) + 0.1 * np.sin(k[1] * s + ph[1])
    floor = depth / max(float(bis @ site.top), 0.3) * outline * wobble
    # rough fracture: barely there conchoidal ripples about an impact point (slope
    # <= 0.1: stronger ones read as contour lines), and a random
    # (value-noise) roughness of two octaves, 0.3 and 0.12 x the depth: no pattern
    impact = np.array([centre, rng.uniform(-0.3, 0.3) * depth])
    r = np.hypot(s - impact[0], u - impact[1])
    ripple = 0.006 * depth * np.sin(r * (2 * np.pi / (0.35 * depth)) + ph[2])
    rough = np.zeros_like(s)
    for cell, amp in ((0.3 * depth, 0.06 * depth), (0.12 * depth, 0.025 * depth)):
        lo_s, lo_u = -half - 4 * depth, -4 * depth
        grid = rng.uniform(
            -1.0, 1.0, size=(int((2 * half + 8 * depth) / cell) + 2, int(8 * depth / cell) + 2)
        )
        at = np.stack(
            [(np.clip(s, lo_s, -lo_s) - lo_s) / cell, (np.clip(u, lo_u, -lo_u) - lo_u) / cell]
        )
        rough += amp * map_coordinates(grid, at, order=1, mode="nearest")
    cut = floor + (ripple + rough) * np.clip(outline * 3, 0, 1)
    # only the material at this edge: not the far wall of a hole, not the far side
    near = np.zeros(len(v), dtype=bool)
    near[idx] = (outline > 0) & (np.abs(u) < 3 * depth)
    # ... and only the two surfaces that meet at the edge (a gear's next tooth, the
    # far wall of a slot, stay): folding other faces through them crumples the mesh
    vn = vertex_normals(v, f[near[f].any(1)])[idx]  # from the faces there only
    keep = near[idx] & (
        np.maximum(np.maximum(vn @ site.top, vn @ site.side), vn @ bis) > math.cos(math.radians(40))
    )
    disp = np.zeros(len(v))
    disp[idx] = np.where(keep, np.clip(d @ bis + cut, 0.0, None), 0.0)
    # no point deeper than ``depth`` below the original surface (edges are not
    # straight: a hole's rim curves away from the bisector plane)
    moved = np.nonzero(disp > 0)[0]
    out = v.copy()
    out[moved] = v[moved] - bis * disp[moved, None]
    below = np.zeros(len(v))
    if len(moved):
        # distance to the original surface ~ to its nearest original vertex (the mesh
        # is refined to depth / 5 here, so this overestimates by at most ~10 %: the
        # clip errs shallow); the depth reported is then measured exactly
        is_moved = np.zeros(len(v), dtype=bool)
        is_moved[moved] = True
        local = f[is_moved[f].any(1)]
        tree = cKDTree(v[np.unique(local)])
        for _ in range(3):
            dist = tree.query(out[moved])[0]
            disp[moved] *= np.minimum(1.0, depth / np.maximum(dist, 1e-12))
            out[moved] = v[moved] - bis * disp[moved, None]
        below[moved] = tree.query(out[moved])[0]
        # exact (point to triangle) where it may be the deepest: the reported depth
        deep = moved[below[moved] > 0.85 * below[moved].max()]
        deep = deep[np.argsort(-below[deep])[:64]]
        close = dist_all < half + 6 * depth
        surf = dg.Surface(v, f[close[f].any(1)])
        for i in deep:
            near = surf.near(out[i], float(below[i]))
            if len(near):
                below[i] = float(dg.triangle_distances(out[i], surf.tri[near]).min())
    return out, below
