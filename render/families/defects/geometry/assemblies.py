"""Generators registered for the Blender backend: a product with its defects and
nuisances, and props.

``product_with_defects(params)`` returns parts in ONE local frame: ``product``
(the product minus the faces that became dents or chips or that grooves
replaced), ``defect_0`` .. ``defect_{n-1}`` (one per entry of ``params["defects"]``;
an empty mesh where no suitable surface was found), ``nuisance_0`` .. (one per
entry of ``params["nuisances"]``) and, for PCBs, ``component_0`` .. (one per
component). Each defect part carries its measures (``Mesh.measures``,
``measure.py``).

params::

    product:  {"family": "plate", "length": 0.1, ...}      # render.families.defects.geometry.products
              or {"family": "mesh", "path": ..., "unit_scale": 1.0, "up_axis": "Z", "size": 0.08}
    facing:   [x, y, z]  local direction that ends up pointing at the cameras (world +Z)
    min_width: metres, the narrowest defect mask allowed (2 px at the farthest camera)
    defects:  [{"type": "dent"|"chip"|"scratch"|"crack"|"stain", "seed": int,
                "size": m, "depth": m, "width": m, "roughness": 0..1, "branches": int,
                "variant": str, "open": bool, "ductile": bool}, ...]
    nuisances: [{"type": "dust"|"fibre"|"fingerprint"|"droplet"|"print"|"logo"|"glint"|
                 "tool_mark", "seed": int, "size": m, ...}, ...]
    edge_wear: m     # optional: the widest worn band; the product part gets the point
                     # attribute ``edge``, faces across the band split (edges.py)

Order: dents and chips change the surface; grooves (scratches, cracks, tool
marks) are carved into it (``grooves.py``); films (stains) and nuisances are laid
on top, each a little higher than the last, so none shares a depth with another.

Deterministic: the same params give the same arrays (internal noise is seeded by
each entry's ``seed``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np

from render.families.defects.config import DEFECT_TYPES
from render.families.defects.geometry import steps
from render.families.defects.geometry import surface as dg
from render.families.defects.geometry.edges import edge_closeness, split_across_edges
from render.families.defects.geometry.grooves import Cut
from render.families.defects.geometry.products import build_product, pcb_component_meshes
from render.families.defects.geometry.steps import GROOVE_SLOT  # noqa: F401  (re-exported)
from render.geometry import Mesh

DEPRESSIONS = ("dent", "chip")
DECALS = tuple(t for t in DEFECT_TYPES if t not in DEPRESSIONS)
MIN_OFFSET = 3e-5
"""Lift of the first film (stain) above the surface, metres."""
OFFSET_STEP = 1e-5
"""Each film or nuisance is lifted OFFSET_STEP more than the previous one, so
overlapping ones never share a depth (no z-fighting between them)."""
CUT_LIFT = 1e-5
"""Lift of a groove strip's margins above the surface (the first strip; each
further strip 2 um more)."""
NUISANCE_LIFT = 1.5e-4
"""Lift of the first nuisance: above every film."""

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


def _build(params: dict[str, Any]) -> dict[str, Mesh]:
    product = params["product"]
    base = base_mesh(product)
    facing = np.asarray(params.get("facing", (0.0, 0.0, 1.0)), dtype=np.float64)
    facing /= np.linalg.norm(facing)
    min_width = float(params.get("min_width", 5e-4))
    defects = params.get("defects", [])
    extra = params.get("nuisances", [])
    v, f = base.vertices, base.faces
    slots = base.material_index if base.material_index is not None else np.zeros(len(f), np.int64)
    if product["family"] == "mesh" and (defects or extra):
        # CAD exports often have long thin faces; placement tests neighbourhoods by face
        # centroids, so bound the edge length of the camera-facing faces first.
        v, f, parent = dg.refine(v, f, v.mean(0), np.zeros(3), float(np.ptp(v, axis=0).max()), 3e-3)
        slots = slots[parent]
    for k, d in enumerate(defects):
        if d["type"] not in DEFECT_TYPES:
            raise ValueError(
                f"defects[{k}].type: unknown {d['type']!r}; valid: {list(DEFECT_TYPES)}"
            )
    w = steps.Work(v, f, slots, base.smooth)
    extent = float(np.ptp(v, axis=0).min())
    dep = {}
    for k, d in enumerate(defects):
        if d["type"] in DEPRESSIONS:
            dep[k] = steps.depression(w, k, d, facing, extent)
    # the final surface (dents and chips included) that grooves, films and nuisances follow
    surf = dg.Surface(w.v, w.f)
    surf_slots = w.slots.copy()
    v_dep = w.v

    spot = steps.Spots(v_dep, surf.f, facing)

    parts: dict[str, Mesh] = {}
    n_cut = 0
    for k, d in enumerate(defects):
        if d["type"] in ("scratch", "crack"):
            found = steps.cut_list(surf, w, d, facing, min_width, spot)
            parts[f"defect_{k}"] = _grooves(w, surf, surf_slots, found, n_cut)
            n_cut += 1
    for j, d in enumerate(extra):
        if d["type"] == "tool_mark":
            found = steps.cut_list(surf, w, d, facing, min_width, spot)
            parts[f"nuisance_{j}"] = _grooves(w, surf, surf_slots, found, n_cut)
            n_cut += 1
    lift = MIN_OFFSET
    for k, d in enumerate(defects):
        if d["type"] == "stain":
            parts[f"defect_{k}"] = steps.film(surf, d, lift, spot, base.smooth)
            lift += OFFSET_STEP
    lift = max(lift, NUISANCE_LIFT)
    for j, d in enumerate(extra):
        if d["type"] != "tool_mark":
            parts[f"nuisance_{j}"] = steps.nuisance(surf, d, lift, spot)
            lift += OFFSET_STEP
    band = float(params.get("edge_wear") or 0.0)
    if band > 0:  # faces where the coating wears: near the undamaged part's edges
        w.refined(*split_across_edges(base.vertices, base.faces, w.v, w.f, band))
    for k, (measures, strain) in dep.items():
        faces = w.f[w.faces_of(k + 1)]
        attrs = None if strain is None else {"strain": strain(w.v)}
        slots_k = None if defects[k]["type"] == "chip" else w.slots[w.faces_of(k + 1)]
        parts[f"defect_{k}"] = steps.part(w.v, faces, base.smooth, slots_k, attrs, measures)
    keep = w.faces_of(0)
    attrs = {"edge": edge_closeness(base.vertices, base.faces, w.v)} if band > 0 else None
    out = {"product": steps.part(w.v, w.f[keep], base.smooth, w.slots[keep], attrs)}
    out.update({f"defect_{k}": parts[f"defect_{k}"] for k in range(len(defects))})
    out.update({f"nuisance_{j}": parts[f"nuisance_{j}"] for j in range(len(extra))})
    if product["family"] == "pcb":
        for i, comp in enumerate(pcb_component_meshes(product, int(product.get("seed", 0)))):
            out[f"component_{i}"] = comp
    return out


def _grooves(
    w: steps.Work, surf: dg.Surface, surf_slots: np.ndarray, found: list[Cut] | None, n: int
) -> Mesh:
    if not found:
        return steps.part(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    return steps.grooves(w, surf, surf_slots, found, CUT_LIFT + 2e-6 * 8 * n)


@lru_cache(maxsize=16)
def _cached(key: str) -> dict[str, Mesh]:
    return _build(json.loads(key))


def product_with_defects(params: dict[str, Any]) -> dict[str, Mesh]:
    """See the module docstring. Results are cached per params (the sampler and the
    backend may both ask for the same product)."""
    return _cached(json.dumps(params, sort_keys=True))
