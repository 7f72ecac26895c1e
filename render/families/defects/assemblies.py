"""Generators registered for the Blender backend: a product with its defects, and props.

``product_with_defects(params)`` returns parts in ONE local frame:
``product`` (the product minus the faces that became dents/chips),
``defect_0`` .. ``defect_{n-1}`` (one per entry of ``params["defects"]``; an empty
mesh where no suitable surface was found) and, for PCBs, ``components``.

params::

    product:  {"family": "plate", "length": 0.1, ...}      # render.families.defects.products
              or {"family": "mesh", "path": ..., "unit_scale": 1.0, "up_axis": "Z", "size": 0.08}
    facing:   [x, y, z]  local direction that ends up pointing at the cameras (world +Z)
    min_width: metres, the narrowest decal allowed (2 px at the farthest camera)
    offset:   metres, decal lift above the surface (>= 0.2 mm)
    defects:  [{"type": "dent"|"chip"|"scratch"|"crack"|"stain", "seed": int,
                "size": m, "depth": m, "width": m, "roughness": 0..1, "branches": int}, ...]

Deterministic: the same params give the same arrays (internal noise is seeded by
each defect's ``seed``).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import numpy as np

from render.families.defects import surface as dg
from render.families.defects.config import DEFECT_TYPES
from render.families.defects.products import build_product, pcb_components
from render.geometry import Mesh

DEPRESSIONS = ("dent", "chip")
DECALS = tuple(t for t in DEFECT_TYPES if t not in DEPRESSIONS)
MIN_OFFSET = 2e-4
OFFSET_STEP = 5e-5
"""Each decal is lifted OFFSET_STEP more than the previous one, so overlapping
decals of different defects never share a depth (no z-fighting between them)."""

_UP = {
    "Z": (0, 0, 1),
    "-Z": (0, 0, -1),
    "Y": (0, 1, 0),
    "-Y": (0, -1, 0),
    "X": (1, 0, 0),
    "-X": (-1, 0, 0),
}


def load_user_mesh(params: dict[str, Any]) -> Mesh:
    """A user's CAD mesh (OBJ/STL/PLY/GLB/GLTF) via trimesh: scaled by ``unit_scale``
    (metres per file unit), rotated so ``up_axis`` becomes +Z, optionally scaled so
    its largest dimension is ``size`` metres, centred on the Z axis, resting on z = 0."""
    import trimesh

    path = params["path"]
    try:
        loaded: Any = trimesh.load(path, force="mesh")
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load product mesh {path!r}: {exc}") from None
    v = np.asarray(loaded.vertices, dtype=np.float64) * float(params.get("unit_scale", 1.0))
    f = np.asarray(loaded.faces, dtype=np.int64)
    if len(f) == 0:
        raise ValueError(f"product mesh {path!r} has no faces")
    up = np.array(_UP[params.get("up_axis", "Z")], dtype=np.float64)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(up, z)
    if np.linalg.norm(axis) < 1e-9:
        rot = np.eye(3) if up[2] > 0 else np.diag([1.0, -1.0, -1.0])
    else:
        axis /= np.linalg.norm(axis)
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rot = np.eye(3) + k + k @ k  # 90-degree rotation (sin = 1, 1 - cos = 1)
    v = v @ rot.T
    if params.get("size"):
        v *= float(params["size"]) / float(np.ptp(v, axis=0).max())
    lo, hi = v.min(0), v.max(0)
    v -= [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]]
    return Mesh(v, f, watertight=bool(loaded.is_watertight))


def base_mesh(product: dict[str, Any]) -> Mesh:
    """The defect-free product mesh for a ``product`` params dict."""
    family = product["family"]
    rest = {k: v for k, v in product.items() if k != "family"}
    return load_user_mesh(rest) if family == "mesh" else build_product(family, rest)


def _place(
    v: np.ndarray, f: np.ndarray, facing: np.ndarray, radius: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """A point on a camera-facing face whose surroundings (``radius``) are one
    smooth region. Returns (point, normal, radius actually used) or None."""
    normals = dg.face_normals(v, f)
    ok = normals @ facing > math.cos(math.radians(40))
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    weights = np.where(ok, area, 0.0)
    if weights.sum() <= 0:
        return None
    centroids = v[f].mean(1)
    reach = np.linalg.norm(v[f] - centroids[:, None], axis=-1).max(1)
    for attempt in range(80):
        r = radius * 0.8 ** (attempt // 10)
        i = rng.choice(len(f), p=weights / weights.sum())
        a, b = rng.random(2)
        if a + b > 1:
            a, b = 1 - a, 1 - b
        p = v[f[i, 0]] + a * (v[f[i, 1]] - v[f[i, 0]]) + b * (v[f[i, 2]] - v[f[i, 0]])
        cand = np.nonzero(np.linalg.norm(centroids - p, axis=1) < 1.3 * r + reach)[0]
        # true point-to-triangle distance: long sliver faces must not count as near
        dist = dg.triangle_distances(p, v[f[cand]])
        near = cand[dist < 1.3 * r]
        dots = normals[near] @ normals[i]
        # faces turned away (the far side of a thin part) do not count; walls and edges do
        if not ((dots > -0.3) & (dots < math.cos(math.radians(35)))).any():
            return p, normals[i], r
    return None


def _compact(v: np.ndarray, f: np.ndarray, smooth: bool = False) -> Mesh:
    if len(f) == 0:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    used, inv = np.unique(f, return_inverse=True)
    return Mesh(v[used], inv.reshape(-1, 3).astype(np.int64), smooth=smooth)


def _decal(
    surf: dg.Surface,
    v: np.ndarray,
    f: np.ndarray,
    d: dict[str, Any],
    facing: np.ndarray,
    min_width: float,
    offset: float,
    rng: np.random.Generator,
) -> dg.TriMesh | None:
    kind, size = d["type"], float(d["size"])
    for _ in range(8):
        placed = _place(v, f, facing, size / 2 if kind == "stain" else min(size, 0.01) / 2, rng)
        if placed is None:
            return None
        p0, n0, _ = placed
        if kind == "stain":
            out = dg.patch(surf, p0, n0, size / 2, float(d.get("roughness", 0.5)), offset, rng)
            if out is not None:
                return out
            size *= 0.85
            continue
        width = max(float(d.get("width", min_width)), min_width)
        t1, t2 = dg.tangent_frame(n0)
        ang = rng.uniform(0, 2 * np.pi)
        direction = math.cos(ang) * t1 + math.sin(ang) * t2
        if kind == "scratch":
            step = min(5e-4, size / 30)
            n = int(math.ceil(size / step))
            # gentle arc (radius of curvature 2-20 x length) plus a slow wobble
            curve = rng.choice([-1, 1]) * step / (size * rng.uniform(2, 20))
            turn = curve + 0.02 * np.sin(np.arange(n) * rng.uniform(0.05, 0.2))
            path, normals = dg.march(surf, p0, direction, size, step, turn, n0)
            if len(path) < max(4, n // 3):
                continue
            taper = np.minimum(
                1.0, 4 * np.minimum(np.arange(len(path)), np.arange(len(path))[::-1]) / len(path)
            )
            widths = np.maximum(min_width, width * (0.5 + 0.5 * taper))
            return dg.ribbon(surf, path, widths, normals, offset)
        # crack: jagged main line plus branches, each a ribbon (one mesh)
        step = min(8e-4, size / 20)
        jag = 0.25 + 0.35 * float(d.get("roughness", 0.5))
        pieces: list[dg.TriMesh] = []
        path, normals = dg.march(surf, p0, direction, size, step, rng.normal(0, jag, 64), n0)
        if len(path) < 6:
            continue
        pieces.append(
            dg.ribbon(
                surf,
                path,
                np.maximum(min_width, width * np.linspace(1, 0.6, len(path))),
                normals,
                offset,
            )
        )
        for _b in range(int(d.get("branches", 2))):
            k = int(rng.integers(1, len(path) - 2))
            tangent = path[k + 1] - path[k - 1]
            sign = rng.choice([-1, 1])
            ang_b = sign * rng.uniform(0.4, 0.9)
            bdir = math.cos(ang_b) * tangent + math.sin(ang_b) * np.cross(normals[k], tangent)
            bpath, bnorm = dg.march(
                surf,
                path[k],
                bdir,
                size * rng.uniform(0.25, 0.5),
                step,
                rng.normal(0, jag, 64),
                normals[k],
            )
            if len(bpath) >= 3:
                bw = np.maximum(min_width, width * np.linspace(0.7, 0.4, len(bpath)))
                pieces.append(dg.ribbon(surf, bpath, bw, bnorm, offset + 1e-5))
        verts = np.concatenate([p[0] for p in pieces])
        offs = np.cumsum([0] + [len(p[0]) for p in pieces[:-1]])
        return verts, np.concatenate([p[1] + o for p, o in zip(pieces, offs, strict=True)])
    return None


def _build(params: dict[str, Any]) -> dict[str, Mesh]:
    product = params["product"]
    base = base_mesh(product)
    facing = np.asarray(params.get("facing", (0.0, 0.0, 1.0)), dtype=np.float64)
    facing /= np.linalg.norm(facing)
    min_width = float(params.get("min_width", 5e-4))
    offset = max(float(params.get("offset", MIN_OFFSET)), MIN_OFFSET)
    defects = params.get("defects", [])
    v, f = base.vertices, base.faces
    if product["family"] == "mesh" and defects:
        # CAD exports often have long thin faces; placement tests neighbourhoods by face
        # centroids, so bound the edge length of the camera-facing faces first.
        v, f, _ = dg.refine(v, f, v.mean(0), np.zeros(3), float(np.ptp(v, axis=0).max()), 3e-3)
    label = np.zeros(len(f), dtype=np.int64)
    extent = float(np.ptp(v, axis=0).min())
    for k, d in enumerate(defects):
        if d["type"] not in DEFECT_TYPES:
            raise ValueError(
                f"defects[{k}].type: unknown {d['type']!r}; valid: {list(DEFECT_TYPES)}"
            )
        if d["type"] not in DEPRESSIONS:
            continue
        rng = np.random.default_rng(int(d["seed"]))
        placed = _place(v, f, facing, float(d["size"]) / 2, rng)
        if placed is None:
            continue
        center, normal, radius = placed
        depth = min(float(d.get("depth", 5e-4)), 0.3 * extent, 0.4 * radius)
        max_edge = min(radius / 12, 4e-4)
        reach = radius * (1.7 if d["type"] == "chip" else 1.05)  # chip outlines reach 1.6 R
        v, f, parent = dg.refine(v, f, center, normal, reach, max_edge)
        label = label[parent]
        v, disp = dg.depress(v, f, center, normal, radius, depth, d["type"], rng)
        label[disp[f].mean(1) > float(d.get("threshold", 0.12)) * depth] = k + 1
    parts = {"product": _compact(v, f[label == 0], base.smooth)}
    surf = dg.Surface(v, f)
    n_decal = 0
    for k, d in enumerate(defects):
        if d["type"] in DEPRESSIONS:
            parts[f"defect_{k}"] = _compact(v, f[label == k + 1], base.smooth)
            continue
        rng = np.random.default_rng(int(d["seed"]))
        out = _decal(surf, v, f, d, facing, min_width, offset + n_decal * OFFSET_STEP, rng)
        n_decal += 1
        parts[f"defect_{k}"] = _compact(*out) if out is not None else _compact(v, f[:0])
    if product["family"] == "pcb":
        comp, _ = pcb_components(product, int(product.get("seed", 0)))
        parts["components"] = comp
    return parts


@lru_cache(maxsize=16)
def _cached(key: str) -> dict[str, Mesh]:
    return _build(json.loads(key))


def product_with_defects(params: dict[str, Any]) -> dict[str, Mesh]:
    """See the module docstring. Results are cached per params (the sampler and the
    backend may both ask for the same product)."""
    return _cached(json.dumps(params, sort_keys=True))
