"""The steps of ``product_with_defects`` (``assemblies.py``): dents and chips pushed
into the product, grooves carved into it, films and nuisances laid on it (pure numpy).

:class:`Work` is the product mesh while defects are applied: its faces keep their
material slot, their owner (0: the product, k + 1: depression k) and whether a
groove strip replaced them, through every refinement. Metres, the product's frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from render.families.defects.geometry import chips, cuts, films, nuisances
from render.families.defects.geometry import surface as dg
from render.families.defects.geometry.grooves import Cut, carve, strip
from render.families.defects.measure import footprint
from render.geometry import Mesh

GROOVE_SLOT = 2
"""Material slot of a groove's walls (slot 1 is the product's secondary surface)."""
Spot = tuple[np.ndarray, np.ndarray, float]
Placer = Callable[[float, np.random.Generator], "Spot | None"]
"""(radius, rng) -> (point, normal, radius used) on a smooth camera-facing spot, or None."""


class Spots:
    """Spots on one mesh: :func:`place` with the per-face work (normals, areas,
    reach, the area-weighted draw) done once, for the many films, cuts and
    nuisances placed on the same final surface."""

    def __init__(self, v: np.ndarray, f: np.ndarray, facing: np.ndarray) -> None:
        self.v, self.f = v, f
        self.normals = dg.face_normals(v, f)
        ok = self.normals @ facing > math.cos(math.radians(40))
        area = 0.5 * np.linalg.norm(
            np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1
        )
        weights = np.where(ok, area, 0.0)
        self.cdf = None if weights.sum() <= 0 else np.cumsum(weights / weights.sum())
        if self.cdf is not None:
            self.cdf /= self.cdf[-1]
        self.centroids = v[f].mean(1)
        self.reach = np.linalg.norm(v[f] - self.centroids[:, None], axis=-1).max(1)

    def __call__(self, radius: float, rng: np.random.Generator) -> Spot | None:
        """A point on a camera-facing face whose surroundings (``radius``) are one
        smooth region: (point, normal, radius actually used) or None. The same
        draws as ``rng.choice(p=area weights)``."""
        if self.cdf is None:
            return None
        v, f, normals = self.v, self.f, self.normals
        for attempt in range(80):
            r = radius * 0.8 ** (attempt // 10)
            i = int(self.cdf.searchsorted(rng.random(), side="right"))
            a, b = rng.random(2)
            if a + b > 1:
                a, b = 1 - a, 1 - b
            p = v[f[i, 0]] + a * (v[f[i, 1]] - v[f[i, 0]]) + b * (v[f[i, 2]] - v[f[i, 0]])
            cand = np.nonzero(np.linalg.norm(self.centroids - p, axis=1) < 1.3 * r + self.reach)[0]
            # true point-to-triangle distance: long sliver faces must not count as near
            dist = dg.triangle_distances(p, v[f[cand]])
            near = cand[dist < 1.3 * r]
            dots = normals[near] @ normals[i]
            # faces turned away (the far side of a thin part) do not count; walls and edges do
            if not ((dots > -0.3) & (dots < math.cos(math.radians(35)))).any():
                return p, normals[i], r
        return None


def place(
    v: np.ndarray, f: np.ndarray, facing: np.ndarray, radius: float, rng: np.random.Generator
) -> Spot | None:
    """A point on a camera-facing face whose surroundings (``radius``) are one
    smooth region. Returns (point, normal, radius actually used) or None."""
    return Spots(v, f, facing)(radius, rng)


def part(
    v: np.ndarray,
    f: np.ndarray,
    smooth: bool = False,
    slots: np.ndarray | None = None,
    attrs: dict[str, np.ndarray] | None = None,
    measures: dict[str, float] | None = None,
) -> Mesh:
    """The mesh of faces ``f`` of ``v`` alone (unused vertices dropped), with the
    faces' material ``slots`` (M,) and per-vertex ``attrs`` of ``v``."""
    if len(f) == 0:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), measures=measures or {})
    used, inv = np.unique(f, return_inverse=True)
    return Mesh(
        v[used],
        inv.reshape(-1, 3).astype(np.int64),
        smooth=smooth,
        material_index=None if slots is None else np.asarray(slots, dtype=np.int64),
        point_attributes={k: a[used] for k, a in (attrs or {}).items()},
        measures=measures or {},
    )


class Work:
    """The product mesh while defects are applied (module docstring)."""

    def __init__(self, v: np.ndarray, f: np.ndarray, slots: np.ndarray, smooth: bool) -> None:
        self.v, self.f, self.slots, self.smooth = v, f, slots, smooth
        self.owner = np.zeros(len(f), dtype=np.int64)
        self.removed = np.zeros(len(f), dtype=bool)

    def refined(self, v: np.ndarray, f: np.ndarray, parent: np.ndarray) -> None:
        self.v, self.f = v, f
        self.slots, self.owner = self.slots[parent], self.owner[parent]
        self.removed = self.removed[parent]

    def faces_of(self, owner: int) -> np.ndarray:
        return np.nonzero((self.owner == owner) & ~self.removed)[0]


def depression(
    w: Work, k: int, d: dict[str, Any], facing: np.ndarray, extent: float
) -> tuple[dict[str, float], Callable[[np.ndarray], np.ndarray] | None]:
    """Dent or chip ``k`` pushed into ``w``. A chip breaks out of an edge (an
    interior flake where the product has none). Returns its measures and, for a
    dent, its ``strain`` (points (P, 3) -> 0..1: where paint would crack)."""
    rng = np.random.default_rng(int(d["seed"]))
    size = float(d["size"])
    site = None
    if d["type"] == "chip":  # an edge as long as the chip, else the longest found
        site = chips.edge_site(w.v, w.f, facing, 1e-3, rng, min_run=1.2 * size)
    strain: Callable[[np.ndarray], np.ndarray] | None = None
    if site is not None:
        # the chip stays on its edge: no longer than the edge runs, centred inside it
        lo, hi = site.run
        size = min(size, (hi - lo) / 1.2)
        shift = float(np.clip(0.0, lo + 0.6 * size, hi - 0.6 * size))
        site = site._replace(point=site.point + shift * site.along)
        depth = min(float(d.get("depth", 5e-4)), 0.3 * extent, 0.25 * size)
        max_edge = float(np.clip(depth / 5, 6e-5, 2.5e-4))
        w.refined(
            *dg.refine_near(
                w.v, w.f, chips.edge_distance(site, size), np.zeros(3), 2.5 * depth, max_edge
            )
        )
        w.v, disp = chips.chip(w.v, w.f, site, size, depth, rng)
        normal, threshold = site.top, 0.03
    else:
        placed = place(w.v, w.f, facing, size / 2, rng)
        if placed is None:
            return {}, None
        center, normal, radius = placed
        depth = min(float(d.get("depth", 5e-4)), 0.3 * extent, 0.4 * radius)
        reach = radius * (1.7 if d["type"] == "chip" else 1.05)  # chip outlines reach 1.6 R
        w.refined(*dg.refine(w.v, w.f, center, normal, reach, min(radius / 12, 4e-4)))
        w.v, disp = dg.depress(w.v, w.f, center, normal, radius, depth, d["type"], rng)
        threshold = float(d.get("threshold", 0.12))
        if d["type"] == "dent":

            def strain(
                pts: np.ndarray, c: np.ndarray = center, n: np.ndarray = normal
            ) -> np.ndarray:
                rel = pts - c
                x = np.linalg.norm(rel - np.outer(rel @ n, n), axis=1) / radius
                return np.clip(0.7 * (1 - x) ** 2 + np.exp(-(((x - 0.8) / 0.15) ** 2)), 0, 1)

    mine = (disp[w.f].mean(1) > threshold * depth) & (w.owner == 0)
    w.owner[mine] = k + 1
    out = footprint(w.v, w.f[mine], normal)
    out["depth"] = float(disp[np.unique(w.f[mine])].max()) if mine.any() else 0.0
    return out, strain


def grooves(
    w: Work, surf: dg.Surface, surf_slots: np.ndarray, cut_list: list[Cut], lift: float
) -> Mesh:
    """Carve ``cut_list`` into ``w``; their strips as one part (groove walls in
    :data:`GROOVE_SLOT`, margins in the slot of the surface face under them) with
    its measures: length and area of the grooves' opening, widest opening,
    deepest point, and ``mask_width``: the narrowest the strip (the mask) gets
    along its main (non-branch) cuts. ``surf`` (with ``surf_slots`` per face): the surface to follow."""
    pieces = []
    widths, depths, spans = [], [], []
    for i, cut in enumerate(cut_list):
        v, f, parent, removed = carve(w.v, w.f, cut)
        w.refined(v, f, parent)
        w.removed |= removed
        sp = strip(surf, cut.path, cut.normals, cut.grooves, cut.band, lift + 2e-6 * i)
        pieces.append(
            (
                sp.vertices,
                sp.faces,
                np.where(sp.groove, GROOVE_SLOT, surf_slots[sp.below]),
                sp.groove,
            )
        )
        widths.append(float(sp.widths.max()))
        depths.append(float(sp.depths.max()))
        if not cut.branch:
            spans.append(float(sp.span.min()))
    offs = np.cumsum([0] + [len(p[0]) for p in pieces[:-1]])
    verts = np.concatenate([p[0] for p in pieces])
    faces = np.concatenate([p[1] + o for p, o in zip(pieces, offs, strict=True)])
    slots = np.concatenate([p[2] for p in pieces])
    groove = np.concatenate([p[3] for p in pieces])
    normal = np.mean([c.normals.mean(0) for c in cut_list], axis=0)
    m = footprint(verts, faces[groove], normal)
    m.update(width=max(widths), depth=max(depths), mask_width=min(spans, default=0.0))
    return part(verts, faces, w.smooth, slots, measures=m)


def cut_list(
    surf: dg.Surface,
    w: Work,
    d: dict[str, Any],
    facing: np.ndarray,
    min_width: float,
    spot: Placer,
) -> list[Cut] | None:
    """The cuts of a scratch, crack or tool mark (``d["type"]``), or None where it
    found no room."""
    rng = np.random.default_rng(int(d["seed"]))
    kind = d["type"]
    if kind == "crack":
        return cuts.crack(surf, w.v, w.f, facing, d, min_width, rng, spot)
    for _ in range(8):
        placed = spot(min(float(d["size"]), 0.01) / 2, rng)
        if placed is None:
            return None
        p0, n0, _ = placed
        if kind == "tool_mark":
            tm = cuts.tool_mark(
                surf, p0, n0, float(d["size"]), float(d["width"]), float(d["depth"]), min_width, rng
            )
            if tm is not None:
                return [tm]
            continue
        found = cuts.scratch(surf, p0, n0, d, min_width, rng)
        if found is not None:
            return found
    return None


def film(surf: dg.Surface, d: dict[str, Any], lift: float, spot: Placer, smooth: bool) -> Mesh:
    """A stain's film (point attribute ``fade``) and its measures."""
    rng = np.random.default_rng(int(d["seed"]))
    size = float(d["size"])
    for _ in range(8):
        placed = spot(size / 2, rng)
        if placed is None:
            break
        p0, n0, _ = placed
        out = films.patch(surf, p0, n0, size / 2, float(d.get("roughness", 0.5)), lift, rng)
        if out is not None:
            v, f, fade = out
            m = footprint(v, f, n0)
            return part(v, f, smooth, attrs={"fade": fade}, measures=m)
        size *= 0.85
    return part(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))


def nuisance(surf: dg.Surface, d: dict[str, Any], lift: float, spot: Placer) -> Mesh:
    """One nuisance (``nuisances.py``) on a smooth camera-facing spot; an empty
    mesh where it found none."""
    rng = np.random.default_rng(int(d["seed"]))
    kind, size = d["type"], float(d["size"])
    extra: dict[str, np.ndarray] = {}
    for _ in range(8):
        placed = spot(max(size, 1e-3) / 2, rng)
        if placed is None:
            break
        p, n, _ = placed
        if kind == "dust":
            out = nuisances.speck(surf, p, n, size, lift, rng)
        elif kind == "fibre":
            out = nuisances.fibre(surf, p, n, size, float(d.get("width", 5e-5)), lift, rng)
        elif kind == "fingerprint":
            got = nuisances.fingerprint(surf, p, n, size, lift, rng)
            out = None if got is None else got[0]
            if got is not None:
                extra = {"whorl": got[1]}
        elif kind == "droplet":
            out = nuisances.droplet(surf, p, n, size / 2, float(d.get("contact_deg", 50)), lift)
        elif kind == "print":
            out = nuisances.print_code(surf, p, n, size, lift, rng)
        elif kind == "logo":
            out = nuisances.logo(surf, p, n, size, lift, rng)
        elif kind == "glint":
            light, eye = (np.asarray(d[k], dtype=np.float64) for k in ("light", "eye"))
            out = nuisances.glint(surf, p, n, size, light, eye, lift, rng)
        else:
            raise ValueError(f"unknown nuisance type {kind!r}")
        if out is not None:
            v, f, fade = out
            smooth = kind in ("droplet", "fingerprint")
            return part(v, f, smooth, attrs={"fade": fade, **extra})
    return part(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
