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
from scipy.spatial import cKDTree

from render.families.defects import surface as dg


class EdgeSite(NamedTuple):
    """A point on an edge, the normal of the camera-facing surface (``top``) and the
    mean normal of the other surface (``side``) within the search radius."""

    point: np.ndarray
    top: np.ndarray
    side: np.ndarray

    @property
    def inward(self) -> np.ndarray:
        """Unit direction on the top surface pointing away from the edge."""
        d = -(self.side - self.top * (self.side @ self.top))
        return d / max(float(np.linalg.norm(d)), 1e-12)


def edge_site(
    v: np.ndarray, f: np.ndarray, facing: np.ndarray, radius: float, rng: np.random.Generator
) -> EdgeSite | None:
    """A random edge site on a camera-facing (``facing``) part of the mesh; None
    if the mesh has no edge there. Edges: mesh edges whose two faces differ by
    more than 15 degrees (a fillet's facets count), one of them facing the camera;
    the other surface is the mean normal of faces within ``radius`` that differ
    from the top by more than 45 degrees."""
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
        return EdgeSite(p, top, side)
    return None


def edge_distance(site: EdgeSite, length: float) -> Callable[[np.ndarray], np.ndarray]:
    """Distance of points (P, 3) to the stretch of edge a chip of ``length`` takes
    out at ``site`` (a segment along the edge, 1.2 x the length)."""
    along = np.cross(site.top, site.side)
    along /= np.linalg.norm(along)
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
    along = np.cross(site.top, site.side)
    along /= np.linalg.norm(along)
    across = np.cross(bis, along)
    d = v - site.point
    s, u = d @ along, d @ across
    half = length / 2
    # depth along the edge: an irregular elliptical outline, deepest off-centre
    centre = rng.uniform(-0.25, 0.25) * half
    x = (s - centre) / np.where(s > centre, half - centre, half + centre)
    outline = np.sqrt(np.clip(1 - x**2, 0, 1)) ** rng.uniform(0.6, 1.1)
    ph = rng.uniform(0, 2 * np.pi, 4)
    k = rng.uniform(2.0, 4.0, 2) * np.pi / half
    wobble = 1 + 0.18 * np.sin(k[0] * s + ph[0]) + 0.1 * np.sin(k[1] * s + ph[1])
    floor = depth / max(float(bis @ site.top), 0.3) * outline * wobble
    # rough fracture: conchoidal ripples around an impact point plus fine roughness
    impact = np.array([centre, rng.uniform(-0.3, 0.3) * depth])
    r = np.hypot(s - impact[0], u - impact[1])
    ripple = 0.07 * depth * np.sin(r * (2 * np.pi / (0.35 * depth)) + ph[2])
    rough = 0.05 * depth * np.sin(37 / half * s + 3 * np.sin(29 / half * u) + ph[3])
    cut = floor + (ripple + rough) * np.clip(outline * 3, 0, 1)
    disp = np.clip(d @ bis + cut, 0.0, None)
    # only the material at this edge: not the far wall of a hole, not the far side
    near = (outline > 0) & (np.abs(u) < 3 * depth) & (np.linalg.norm(d, axis=1) < half + 3 * depth)
    disp = np.where(near, disp, 0.0)
    # no point deeper than ``depth`` below the original surface (edges are not
    # straight: a hole's rim curves away from the bisector plane)
    moved = np.nonzero(disp > 0)[0]
    out = v - bis * disp[:, None]
    below = np.zeros(len(v))
    if len(moved):
        # distance to the original surface ~ to its nearest original vertex (the mesh
        # is refined to depth / 5 here, so this overestimates by at most ~10 %)
        tree = cKDTree(v[np.unique(f[np.isin(f, moved).any(1)])])
        for _ in range(3):
            dist = tree.query(out[moved])[0]
            disp[moved] *= np.minimum(1.0, depth / np.maximum(dist, 1e-12))
            out = v - bis * disp[:, None]
        below[moved] = tree.query(out[moved])[0]
    return out, below
