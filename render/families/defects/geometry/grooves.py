"""Grooves cut into a product's surface: scratches, cracks and tool marks (pure numpy).

A groove is carved geometry, not a decal. A *strip* (stations along a path on the
surface x columns across it) replaces the product's faces under it:

    -band ... margin  lip  -h ..... 0 ..... +h  lip  margin ... +band

Margin columns lie ``lift`` (10 um) above the surface; the groove's columns go
down to ``depth`` below the surface (exactly: the lift fades out towards the
bottom), with ductile burr lips beside a scratch. The product's faces that lie
entirely under the strip are removed (after refining them finely enough that
every face touching a groove does), so the groove's walls are real geometry that
catch light at raking angles and hide under diffuse light. The strip's margins
carry the product's own material, so the defect's mask (the whole strip, at
least ``min_defect_width_px`` wide) is exact while the groove itself may be far
narrower than a pixel. Metres, the product's local frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from render.families.defects.geometry import surface as dg

_U = np.array([-1.0, -0.72, -0.42, -0.18, 0.0, 0.18, 0.42, 0.72, 1.0])
"""Columns across one groove, as fractions of its half-width."""


@dataclass(frozen=True)
class Groove:
    """One groove of a strip: lateral centre ``offset`` (m), per-station half-width
    ``half`` (S,) and ``depth`` (S,) (m). ``sharp``: a fracture's straight steep V;
    else a scratch's rounded V with burr lips ``lip`` x depth high beside it."""

    offset: float
    half: np.ndarray
    depth: np.ndarray
    sharp: bool = False
    lip: float = 0.0

    @property
    def reach(self) -> float:
        """Largest lateral distance of the groove (and its lips) from the path."""
        return abs(self.offset) + float(self.half.max()) * (1.6 if self.lip > 0 else 1.0)


@dataclass
class Strip:
    """A strip mesh: ``vertices`` (N, 3), ``faces`` (M, 3); ``groove`` (M,) bool,
    faces inside a groove; ``below`` (M,) the index of the surface face under each
    face (for its material); ``widths`` and ``depths`` (S, G): each groove's
    opening and depth per station, and ``span`` (S,) the whole strip's width (the
    mask's), all measured on the final vertices."""

    vertices: np.ndarray
    faces: np.ndarray
    groove: np.ndarray
    below: np.ndarray
    widths: np.ndarray
    depths: np.ndarray
    span: np.ndarray


def _profile(u: np.ndarray, sharp: bool) -> np.ndarray:
    """Depth fraction across a groove: 1 at the bottom (u = 0), 0 at its rim."""
    a = np.clip(np.abs(u), 0.0, 1.0)
    return (1 - a) ** 0.85 if sharp else (1 - a**2) ** 1.4


def strip(
    surf: dg.Surface,
    path: np.ndarray,
    normals: np.ndarray,
    grooves: list[Groove],
    band: np.ndarray,
    lift: float,
) -> Strip:
    """The strip of ``grooves`` along ``path`` (S, 3) (face normals (S, 3)), ``band``
    (S,) metres either side of it, margins ``lift`` above the surface. Grooves must
    not overlap (offsets apart by more than the sum of their reaches)."""
    s_count = len(path)
    tangent = np.gradient(path, axis=0)
    side = np.cross(normals, tangent)
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-12)
    cols_t: list[np.ndarray] = []
    cols_h: list[np.ndarray] = []  # height above the surface, without the lift
    cols_f: list[np.ndarray] = []  # depth fraction (0 = the lift applies fully)
    col_groove: list[int] = []  # index of the groove a column's right-hand face is in, else -1
    rims: list[tuple[int, int, int]] = []  # per groove: left rim, bottom, right rim columns
    zero = np.zeros(s_count)

    def add(t: np.ndarray, h: np.ndarray, frac: np.ndarray, groove: int) -> None:
        cols_t.append(t)
        cols_h.append(h)
        cols_f.append(frac)
        col_groove.append(groove)

    add(-band, zero, zero, -1)
    for gi, g in enumerate(sorted(grooves, key=lambda g: g.offset)):
        lip_w = 0.6 * g.half
        if g.lip > 0:
            add(g.offset - g.half - lip_w, g.lip * g.depth, zero, -1)
        first = len(cols_t)
        for u in _U:
            frac = np.full(s_count, _profile(np.array(u), g.sharp))
            add(g.offset + u * g.half, -g.depth * frac, frac, gi if u < 1 else -1)
        rims.append((first, first + len(_U) // 2, first + len(_U) - 1))
        if g.lip > 0:
            add(g.offset + g.half + lip_w, g.lip * g.depth, zero, -1)
    add(band.copy(), zero, zero, -1)
    t = np.stack(cols_t, 1)  # (S, C)
    c_count = t.shape[1]
    # miter: at a turn of angle a the columns go 1 / cos(a / 2) out along the
    # bisector, so the strip and grooves keep their widths square to both segments
    seg = np.diff(path, axis=0)
    seg /= np.maximum(np.linalg.norm(seg, axis=1, keepdims=True), 1e-12)
    t_in, t_out = np.concatenate([seg[:1], seg]), np.concatenate([seg, seg[-1:]])
    half_cos = np.sqrt(np.clip((1 + (t_in * t_out).sum(1)) / 2, 0.0, 1.0))
    miter = 1 / np.maximum(half_cos, 0.5)
    guess = path[:, None, :] + side[:, None, :] * (t * miter[:, None])[..., None]
    q, n, below = surf.snap_many_faces(
        guess.reshape(-1, 3), float(band.max()) + 1e-4, chunk=c_count
    )
    height = np.stack(cols_h, 1).reshape(-1) + lift * (1 - np.stack(cols_f, 1).reshape(-1))
    verts = q + n * height[:, None]
    k, j = np.meshgrid(np.arange(s_count - 1), np.arange(c_count - 1), indexing="ij")
    a = (k * c_count + j).reshape(-1)
    b, c, d = a + c_count, a + c_count + 1, a + 1
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]).astype(np.int64)
    in_groove = np.tile((np.asarray(col_groove)[j.reshape(-1)] >= 0), 2)
    faces = dg.facing(verts, faces, normals.mean(0))
    v3 = verts.reshape(s_count, c_count, 3)
    q3, n3 = q.reshape(s_count, c_count, 3), n.reshape(s_count, c_count, 3)

    # rim to rim across the path: the smaller of the distances square to the two
    # segments meeting at a station (at a jagged turn the station's own cross-section
    # is askew to both, and longer than the opening)
    def across(x: np.ndarray) -> np.ndarray:
        return np.minimum(
            np.linalg.norm(x - (x * t_in).sum(1, keepdims=True) * t_in, axis=1),
            np.linalg.norm(x - (x * t_out).sum(1, keepdims=True) * t_out, axis=1),
        )

    widths = np.stack([across(v3[:, r] - v3[:, l_]) for l_, _, r in rims], 1)
    depths = np.stack([((q3[:, m] - v3[:, m]) * n3[:, m]).sum(1) for _, m, _ in rims], 1)
    span = across(v3[:, -1] - v3[:, 0])
    return Strip(verts, faces, in_groove, below[faces[:, 0]], widths, depths, span)


# --------------------------------------------------------------------------- path frame


class PathFrame:
    """Arc-length coordinates of points near a polyline: ``s`` along it and the
    distance from it, by the nearest of dense samples ``spacing`` apart."""

    def __init__(self, path: np.ndarray, spacing: float) -> None:
        seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        self.length = float(arc[-1])
        s = np.linspace(0.0, self.length, max(2, int(math.ceil(self.length / spacing)) + 1))
        self.s = s
        self.points = np.stack([np.interp(s, arc, path[:, i]) for i in range(3)], 1)
        self.tree = cKDTree(self.points)

    def coords(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s (P,), distance (P,)) of points (P, 3)."""
        dist, ix = self.tree.query(p)
        return self.s[ix], dist

    def distance(self, p: np.ndarray) -> np.ndarray:
        """Distance of points (P, 3) to the path."""
        return np.asarray(self.tree.query(p)[0])


@dataclass
class Cut:
    """One strip to carve: ``path`` (S, 3), its face ``normals`` (S, 3), the
    grooves across it and the strip's half-width per station ``band`` (S,)."""

    path: np.ndarray
    normals: np.ndarray
    grooves: list[Groove]
    band: np.ndarray
    branch: bool = False
    """A branch or a further ray: it narrows where it leaves the main one."""

    @property
    def reach(self) -> np.ndarray:
        """(S,) how far the grooves (and lips) reach from the path, per station."""
        return np.max(
            [abs(g.offset) + g.half * (1.6 if g.lip > 0 else 1.0) for g in self.grooves], 0
        )


def carve(
    v: np.ndarray, f: np.ndarray, cut: Cut
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Refine the mesh along the cut's path so faces near it are at most
    0.9 x (band - reach) across at each station, and find the faces its strip
    replaces: those entirely under the strip (between the path's ends, within
    ``band``), facing its way. Every face that comes within the grooves' reach of
    the path is among them. Returns (vertices, faces, parent face index (M,),
    removed (M,) bool)."""
    margin = cut.band - cut.reach
    if margin.min() <= 0:
        raise ValueError(f"the strip ({cut.band.min()}) must be wider than its grooves")
    # a face (edges <= e) that touches the grooves' reach lies within reach + e < band
    limit = np.clip(0.9 * margin, 1e-5, 1e-3)
    frame = PathFrame(cut.path, float(limit.min()) / 2)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(cut.path, axis=0), axis=1))])

    ends = cut.path[[0, -1]]

    def edge_limit(p: np.ndarray) -> np.ndarray:
        # finer towards the path's two end points, so a groove that starts steeply (a
        # crack leaving an edge) is not covered by a face reaching past its start;
        # by distance to the end POINTS: by arc position the whole half-disc beyond
        # an end was refined to 20 um (a parallel scratch gave a gear 1M faces)
        to_end = np.linalg.norm(p[:, None, :] - ends[None], axis=-1).min(1)
        end = np.maximum(to_end * 0.5, 2e-5)
        return np.minimum(np.interp(frame.coords(p)[0], arc, limit), end)

    normal = cut.normals.mean(0)
    normal /= np.linalg.norm(normal)
    v, f, parent = dg.refine_near(
        v, f, frame.distance, normal, float(cut.reach.max()), float(limit.max()), edge_limit
    )
    s, dist = frame.coords(v)
    inside = (dist < np.interp(s, arc, cut.band)) & (s > 0) & (s < frame.length)
    removed = inside[f].all(1) & (dg.face_normals(v, f) @ normal > 0.3)
    return v, f, parent, removed
