"""Parametric product families for QC datasets, as triangle meshes (pure numpy).

Every family is a function ``params -> Mesh`` in the product's local frame:
metres, +Z up, the product resting on z = 0 (its lowest point), centred on the
Z axis. All families return closed, consistently outward-oriented meshes
(``watertight=True``); the PCB is a closed board plus closed component shells.

Families and their parameters (:data:`PARAM_SPACE` gives default ranges the
config can narrow; integer parameters are rounded):

- ``plate``: machined plate/bracket, ``length``, ``width``, ``thickness``,
  ``chamfer`` (top edge), ``holes`` (0, 2, 4 or 6 through holes), ``hole_radius``,
  ``countersink``.
- ``tile``: ceramic tile, the plate without holes and with a rounder chamfer.
- ``can``: cylindrical can, ``radius``, ``height``, ``rim`` (bead height).
- ``bottle``: bottle with shoulder and neck, ``radius``, ``height``, ``neck_radius``.
- ``gear``: spur gear, ``radius`` (tip), ``teeth``, ``tooth_depth``,
  ``bore_radius``, ``thickness``.
- ``washer``: flat washer with rounded edges, ``radius``, ``bore_radius``, ``thickness``.
- ``hex_nut``: chamfered hex nut, ``across_flats``, ``bore_radius``, ``thickness``.
- ``pcb``: board with mounting holes; components come from :func:`pcb_components`.

Curved surfaces are tessellated so the chord sag stays below :data:`MAX_SAG`
(0.02 mm), well under the 0.2 mm decal offset used by ``render.geometry.defects``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from render.families.defects.geometry.turned import (  # noqa: F401  (re-exported)
    BOTTLE_LABEL,
    CAN_LABEL,
    MAX_EDGE,
    MAX_SAG,
    bottle,
    can,
    gear,
    hex_nut,
    revolve,
    washer,
)
from render.geometry import Mesh
from render.geometry.build import box_piece as _box
from render.geometry.build import merge
from render.geometry.build import strip as _strip

PARAM_SPACE: dict[str, dict[str, tuple[float, float]]] = {
    "plate": {
        "length": (0.06, 0.14),
        "width": (0.04, 0.09),
        "thickness": (0.004, 0.012),
        "chamfer": (0.0005, 0.0015),
        "holes": (0, 6),
        "hole_radius": (0.002, 0.005),
        "countersink": (0.0, 0.0012),
    },
    "tile": {
        "length": (0.06, 0.12),
        "width": (0.06, 0.12),
        "thickness": (0.006, 0.010),
        "chamfer": (0.001, 0.002),
    },
    "can": {"radius": (0.022, 0.04), "height": (0.06, 0.12), "rim": (0.001, 0.003)},
    "bottle": {"radius": (0.02, 0.035), "height": (0.1, 0.18), "neck_radius": (0.008, 0.012)},
    "gear": {
        "radius": (0.02, 0.045),
        "teeth": (12, 40),
        "tooth_depth": (0.002, 0.004),
        "bore_radius": (0.004, 0.008),
        "thickness": (0.005, 0.012),
    },
    "washer": {"radius": (0.015, 0.04), "bore_radius": (0.006, 0.012), "thickness": (0.002, 0.004)},
    "hex_nut": {
        "across_flats": (0.017, 0.036),
        "bore_radius": (0.005, 0.01),
        "thickness": (0.008, 0.018),
    },
    "pcb": {
        "length": (0.06, 0.12),
        "width": (0.04, 0.08),
        "thickness": (0.0016, 0.0016),
        "components": (4, 14),
    },
}
INTEGER_PARAMS = {"holes", "teeth", "components"}


# --------------------------------------------------------------------------- plates


def _grid_face(
    xs: np.ndarray, ys: np.ndarray, kx: int, ky: int, holes: dict[tuple[int, int], float], z: float
) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], np.ndarray]]:
    """A planar rectangular face at height z, +Z normal, from a lattice xs x ys
    grouped into cells of kx x ky lattice steps; cells in ``holes`` get a circular
    hole of the given radius. Returns vertices, faces and each hole's loop (CCW)."""
    nx, ny = (len(xs) - 1) // kx, (len(ys) - 1) // ky
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    lattice = np.stack([gx, gy, np.full_like(gx, z)], -1)
    idx = np.arange(lattice.shape[0] * lattice.shape[1]).reshape(lattice.shape[:2])
    verts = [lattice.reshape(-1, 3)]
    faces: list[np.ndarray] = []
    loops: dict[tuple[int, int], np.ndarray] = {}
    count = idx.size
    for cx in range(nx):
        for cy in range(ny):
            i0, j0 = cx * kx, cy * ky
            if (cx, cy) not in holes:
                a = idx[i0 : i0 + kx, j0 : j0 + ky].reshape(-1)
                b = idx[i0 + 1 : i0 + kx + 1, j0 : j0 + ky].reshape(-1)
                c = idx[i0 + 1 : i0 + kx + 1, j0 + 1 : j0 + ky + 1].reshape(-1)
                d = idx[i0 : i0 + kx, j0 + 1 : j0 + ky + 1].reshape(-1)
                faces += [np.stack([a, b, c], -1), np.stack([a, c, d], -1)]
                continue
            # Square boundary, CCW from the lower-left corner; the hole loop uses the
            # same angles so each boundary point has a radial partner.
            ring = (
                [idx[i, j0] for i in range(i0, i0 + kx)]
                + [idx[i0 + kx, j] for j in range(j0, j0 + ky)]
                + [idx[i, j0 + ky] for i in range(i0 + kx, i0, -1)]
                + [idx[i0, j] for j in range(j0 + ky, j0, -1)]
            )
            ring_a = np.array(ring)
            centre = np.array([(xs[i0] + xs[i0 + kx]) / 2, (ys[j0] + ys[j0 + ky]) / 2])
            pts = lattice.reshape(-1, 3)[ring_a, :2] - centre
            ang = np.arctan2(pts[:, 1], pts[:, 0])
            rad = holes[(cx, cy)]
            circle = np.stack(
                [
                    centre[0] + rad * np.cos(ang),
                    centre[1] + rad * np.sin(ang),
                    np.full(len(ang), z),
                ],
                -1,
            )
            inner = count + np.arange(len(ring))
            count += len(ring)
            verts.append(circle)
            loops[(cx, cy)] = circle
            o0, o1 = ring_a, np.roll(ring_a, -1)
            i0a, i1a = inner, np.roll(inner, -1)
            faces += [np.stack([o0, o1, i1a], -1), np.stack([o0, i1a, i0a], -1)]
    return np.concatenate(verts), np.concatenate(faces).astype(np.int64), loops


def _boundary(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The outer loop of a lattice, CCW, as (N, 2)."""
    bottom = np.stack([xs[:-1], np.full(len(xs) - 1, ys[0])], -1)
    right = np.stack([np.full(len(ys) - 1, xs[-1]), ys[:-1]], -1)
    top = np.stack([xs[:0:-1], np.full(len(xs) - 1, ys[-1])], -1)
    left = np.stack([np.full(len(ys) - 1, xs[0]), ys[:0:-1]], -1)
    return np.concatenate([bottom, right, top, left])


def plate(params: dict[str, Any]) -> Mesh:
    """Rectangular plate, top-edge chamfer, 0/2/4/6 through holes with optional
    45-degree countersink. Footprint length (X) x width (Y), height ``thickness``."""
    length, width, t = float(params["length"]), float(params["width"]), float(params["thickness"])
    c = min(float(params.get("chamfer", 0.0)), 0.4 * t)
    n_holes = int(params.get("holes", 0))
    if n_holes not in (0, 2, 4, 6):
        raise ValueError(f"plate: holes must be 0, 2, 4 or 6, got {n_holes}")
    nx, ny = (3, 3) if n_holes < 6 else (5, 3)
    w_in, h_in = length - 2 * c, width - 2 * c
    cell = min(w_in / nx, h_in / ny)
    r = min(float(params.get("hole_radius", 0.003)), 0.3 * cell)
    cs = min(float(params.get("countersink", 0.0)), 0.1 * cell, 0.5 * t)
    step = 0.004
    kx = max(4, 2 * math.ceil(w_in / nx / step / 2))
    ky = max(4, 2 * math.ceil(h_in / ny / step / 2))
    xs = np.linspace(-w_in / 2, w_in / 2, nx * kx + 1)
    ys = np.linspace(-h_in / 2, h_in / 2, ny * ky + 1)
    corners = [(0, 0), (nx - 1, 0), (nx - 1, ny - 1), (0, ny - 1)]
    cells = {
        2: [corners[0], corners[2]],
        4: corners,
        6: [*corners, (nx // 2, 0), (nx // 2, ny - 1)],
    }.get(n_holes, [])
    # Each hole cell's radius must fit its square-ish cell; the ring meshing uses the
    # cell's boundary angles, so bump k for round-enough holes.
    top_v, top_f, top_loops = _grid_face(xs, ys, kx, ky, {h: r + cs for h in cells}, t)
    bot_v, bot_f, bot_loops = _grid_face(xs, ys, kx, ky, {h: r for h in cells}, 0.0)
    pieces = [(top_v, top_f), (bot_v, bot_f[:, ::-1])]
    inner = _boundary(xs, ys)
    sx, sy = length / w_in, width / h_in
    outer = inner * [sx, sy]
    z = np.ones(len(inner))
    pieces.append(
        _strip(np.column_stack([inner, t * z]), np.column_stack([outer, (t - c) * z]), flip=True)
    )
    pieces.append(
        _strip(np.column_stack([outer, (t - c) * z]), np.column_stack([outer, 0 * z]), flip=True)
    )
    pieces.append(
        _strip(np.column_stack([outer, 0 * z]), np.column_stack([inner, 0 * z]), flip=True)
    )
    for h in cells:
        top_loop, bot_loop = top_loops[h], bot_loops[h]
        if cs > 0:
            mid = bot_loop.copy()
            mid[:, 2] = t - cs
            pieces.append(_strip(top_loop, mid, flip=False))
            pieces.append(_strip(mid, bot_loop, flip=False))
        else:
            pieces.append(_strip(top_loop, bot_loop, flip=False))
    return merge(pieces)


def tile(params: dict[str, Any]) -> Mesh:
    """Ceramic tile: a plate without holes (chamfered top edge)."""
    return plate({**params, "holes": 0})


# --------------------------------------------------------------------------- PCB


def pcb(params: dict[str, Any]) -> Mesh:
    """Bare board (a plate with four mounting holes, no chamfer)."""
    return plate(
        {
            "length": params["length"],
            "width": params["width"],
            "thickness": params.get("thickness", 0.0016),
            "chamfer": 0.0,
            "holes": 4,
            "hole_radius": 0.0016,
        }
    )


def pcb_components(
    params: dict[str, Any], seed: int
) -> tuple[Mesh, list[tuple[float, float, float, float]]]:
    """Components on a PCB's top face: ICs (boxes) and electrolytic capacitors
    (cylinders), each a closed shell sunk 0.1 mm into the board (no coplanar
    faces). Returns the mesh of all of them and their footprints ``(x0, y0, x1, y1)``
    in metres (:func:`pcb_component_meshes` gives one mesh per component)."""
    pieces, feet = _pcb_pieces(params, seed)
    if not pieces:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)), feet
    return merge(pieces), feet


def pcb_component_meshes(params: dict[str, Any], seed: int) -> list[Mesh]:
    """The components of :func:`pcb_components`, one closed mesh each (one physical
    part each: one instance each)."""
    return [merge([piece]) for piece in _pcb_pieces(params, seed)[0]]


def _pcb_pieces(
    params: dict[str, Any], seed: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[float, float, float, float]]]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    length, width = float(params["length"]), float(params["width"])
    t = float(params.get("thickness", 0.0016))
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    feet: list[tuple[float, float, float, float]] = []
    margin = 0.006
    for _ in range(int(params.get("components", 8)) * 4):
        if len(feet) >= int(params.get("components", 8)):
            break
        cap = rng.random() < 0.3
        sx, sy = (rng.uniform(0.005, 0.008),) * 2 if cap else tuple(rng.uniform(0.003, 0.014, 2))
        x = rng.uniform(-length / 2 + margin + sx / 2, length / 2 - margin - sx / 2)
        y = rng.uniform(-width / 2 + margin + sy / 2, width / 2 - margin - sy / 2)
        box = (x - sx / 2 - 0.001, y - sy / 2 - 0.001, x + sx / 2 + 0.001, y + sy / 2 + 0.001)
        if any(
            not (b[2] < box[0] or box[2] < b[0] or b[3] < box[1] or box[3] < b[1]) for b in feet
        ):
            continue
        feet.append(box)
        if cap:
            hgt = rng.uniform(0.006, 0.01)
            rr = sx / 2
            prof = np.array(
                [[0.0, 0.0], [rr, 0.0], [rr, hgt - 0.0005], [rr - 0.0005, hgt], [0.0, hgt]]
            )
            v, f = revolve(np.ascontiguousarray(np.broadcast_to(prof, (64, 5, 2))), closed=False)
            v = v + [x, y, t - 1e-4]
        else:
            hgt = rng.uniform(0.001, 0.0025)
            v, f = _box(
                np.array([x - sx / 2, y - sy / 2, t - 1e-4]),
                np.array([x + sx / 2, y + sy / 2, t + hgt]),
            )
        pieces.append((v, f))
    return pieces, feet


FAMILIES: dict[str, Callable[[dict[str, Any]], Mesh]] = {
    "plate": plate,
    "tile": tile,
    "can": can,
    "bottle": bottle,
    "gear": gear,
    "washer": washer,
    "hex_nut": hex_nut,
    "pcb": pcb,
}


SECONDARY_SLOT = 1
"""Material slot of a product's secondary surface: the printed label of a can or a
bottle, the machined chamfers and countersinks of a plate (worn paint, polish)."""


def surface_slots(family: str, mesh: Mesh) -> np.ndarray:
    """Material slot per face (M,): :data:`SECONDARY_SLOT` on the family's secondary
    surface (see there), 0 elsewhere."""
    v, f = mesh.vertices, mesh.faces
    slots = np.zeros(len(f), dtype=np.int64)
    if len(f) == 0:
        return slots
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    nz = np.abs(n[:, 2]) / np.maximum(np.linalg.norm(n, axis=1), 1e-30)
    z = v[f].mean(1)[:, 2]
    h = float(v[:, 2].max())
    if family in ("plate", "tile"):
        slots[(nz > 0.2) & (nz < 0.95)] = SECONDARY_SLOT
    elif family in ("can", "bottle"):
        # the profiles have rows of vertices at these heights: the label's edges are straight
        lo, hi = CAN_LABEL if family == "can" else BOTTLE_LABEL
        slots[(nz < 0.1) & (z > lo * h) & (z < hi * h)] = SECONDARY_SLOT
    return slots


def build_product(family: str, params: dict[str, Any]) -> Mesh:
    """The product mesh of ``family`` with its material slots per face
    (:func:`surface_slots`); KeyError lists the valid families."""
    if family not in FAMILIES:
        raise KeyError(f"unknown product family {family!r}; valid: {sorted(FAMILIES)}")
    mesh = FAMILIES[family](params)
    return replace(mesh, material_index=surface_slots(family, mesh))
