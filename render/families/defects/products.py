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
from typing import Any

import numpy as np

from render.geometry import Mesh
from render.geometry.build import box_piece as _box
from render.geometry.build import merge
from render.geometry.build import strip as _strip

MAX_SAG = 2e-5
"""Largest chord sag (metres) of curved product surfaces."""
MAX_EDGE = 0.004
"""Longest edge (metres) along a revolved profile: keeps faces local, so defect
placement can test a neighbourhood's flatness by face centroids."""

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


def _segments(radius: float, multiple: int = 8) -> int:
    """Segments of a circle of ``radius`` so the chord sag is <= MAX_SAG."""
    n = math.pi / math.acos(max(-1.0, 1.0 - MAX_SAG / max(radius, 1e-9)))
    return max(multiple, int(math.ceil(n / multiple)) * multiple)


def revolve(profile: np.ndarray, closed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Revolve per-angle profiles about +Z.

    profile: (S, P, 2) float (r, z) for S angles (theta_j = 2 pi j / S) and P points,
    counter-clockwise in the (r, z) half-plane so normals point outward. ``closed``:
    the profile is a loop (washer, gear); else it starts and ends on the axis (can).
    """
    profile = _densify(profile, closed, MAX_EDGE)
    s, p, _ = profile.shape
    theta = 2 * np.pi * np.arange(s) / s
    r, z = profile[..., 0], profile[..., 1]
    verts = np.stack([r * np.cos(theta)[:, None], r * np.sin(theta)[:, None], z], axis=-1).reshape(
        -1, 3
    )
    j = np.arange(s)[:, None]
    i = np.arange(p if closed else p - 1)[None, :]
    a = j * p + i
    b = ((j + 1) % s) * p + i
    c = ((j + 1) % s) * p + (i + 1) % p
    d = j * p + (i + 1) % p
    faces = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    )
    return verts, faces.astype(np.int64)


def _densify(profile: np.ndarray, closed: bool, max_len: float) -> np.ndarray:
    """Insert points so consecutive profile points are <= max_len apart (every
    angle gets the same subdivision, so the revolved grid stays regular)."""
    nxt = np.roll(profile, -1, axis=1) if closed else profile[:, 1:]
    cur = profile if closed else profile[:, :-1]
    seg = np.linalg.norm(nxt - cur, axis=-1).max(0)
    pieces = []
    for i, length in enumerate(seg):
        n = max(1, int(math.ceil(length / max_len)))
        t = (np.arange(n) / n)[None, :, None]
        pieces.append(cur[:, i : i + 1] + t * (nxt[:, i : i + 1] - cur[:, i : i + 1]))
    if not closed:
        pieces.append(profile[:, -1:])
    return np.concatenate(pieces, axis=1)


def _arc(center: tuple[float, float], radius: float, a0: float, a1: float, n: int) -> np.ndarray:
    t = np.linspace(a0, a1, n)
    return np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], -1)


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


# --------------------------------------------------------------------------- turned parts


def can(params: dict[str, Any]) -> Mesh:
    """Cylindrical can standing on z = 0: flat bottom, side wall, a rolled rim
    bead of height ``rim`` and a recessed lid."""
    r, h = float(params["radius"]), float(params["height"])
    rim = min(float(params.get("rim", 0.002)), 0.1 * h)
    bead = _arc((r, h - rim / 2), rim / 2, -math.pi / 2, math.pi / 2, 9)
    prof = np.concatenate(
        [
            [[0.0, 0.0], [r - 0.002, 0.0], [r, 0.002]],
            bead,
            [[r - rim, h], [r - rim, h - 1.5 * rim], [0.0, h - 1.5 * rim]],
        ]
    )
    n = _segments(r)
    return _revolved(prof, n, smooth=True)


def bottle(params: dict[str, Any]) -> Mesh:
    """Bottle standing on z = 0: body of ``radius``, rounded shoulder, neck of
    ``neck_radius`` and a cap lip."""
    r, h, rn = float(params["radius"]), float(params["height"]), float(params["neck_radius"])
    rn = min(rn, 0.7 * r)
    body = 0.6 * h
    shoulder = _arc((rn, body), r - rn, 0.0, math.pi / 2, 12)
    shoulder[:, 1] = body + (shoulder[:, 1] - body) * (0.25 * h) / (r - rn)
    prof = np.concatenate(
        [
            [[0.0, 0.0], [r - 0.003, 0.0], [r, 0.003]],
            shoulder,
            [
                [rn, body + 0.25 * h],
                [rn, h - 0.012],
                [rn * 1.15, h - 0.012],
                [rn * 1.15, h],
                [0.0, h],
            ],
        ]
    )
    return _revolved(prof, _segments(r), smooth=True)


def _revolved(profile: np.ndarray, segments: int, smooth: bool) -> Mesh:
    prof = np.broadcast_to(profile, (segments, *profile.shape))
    v, f = revolve(np.ascontiguousarray(prof), closed=False)
    return merge([(v, f)], smooth=smooth)


def washer(params: dict[str, Any]) -> Mesh:
    """Flat washer: rectangular section with rounded edges (fillet = thickness / 4)."""
    ro, ri, t = float(params["radius"]), float(params["bore_radius"]), float(params["thickness"])
    ri = min(ri, 0.8 * ro)
    f = t / 4
    q = math.pi / 2
    prof = np.concatenate(
        [
            _arc((ri + f, f), f, math.pi, 1.5 * math.pi, 5),
            _arc((ro - f, f), f, 1.5 * math.pi, 2 * math.pi, 5),
            _arc((ro - f, t - f), f, 0.0, q, 5),
            _arc((ri + f, t - f), f, q, math.pi, 5),
        ]
    )
    prof = np.broadcast_to(prof, (_segments(ro), *prof.shape))
    return merge([revolve(np.ascontiguousarray(prof), closed=True)], smooth=True)


def gear(params: dict[str, Any]) -> Mesh:
    """Spur gear with trapezoidal teeth and a central bore, thickness along Z."""
    ro, teeth = float(params["radius"]), int(params["teeth"])
    depth, rb, t = (
        float(params["tooth_depth"]),
        float(params["bore_radius"]),
        float(params["thickness"]),
    )
    if teeth < 3:
        raise ValueError(f"gear: teeth must be >= 3, got {teeth}")
    rb = min(rb, 0.6 * (ro - depth))
    # 10 samples per tooth pitch: root, straight flank, tip (40 %), flank, root
    tooth = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0, 0], dtype=np.float64)
    s = teeth * len(tooth)
    r_out = ro - depth + depth * np.tile(tooth, teeth)
    prof = np.zeros((s, 4, 2))
    prof[:, 0] = np.column_stack([np.full(s, rb), np.zeros(s)])
    prof[:, 1] = np.column_stack([r_out, np.zeros(s)])
    prof[:, 2] = np.column_stack([r_out, np.full(s, t)])
    prof[:, 3] = np.column_stack([np.full(s, rb), np.full(s, t)])
    return merge([revolve(prof, closed=True)])


def hex_nut(params: dict[str, Any]) -> Mesh:
    """Hex nut with the usual 30-degree chamfer on both faces and a plain bore."""
    af, rb, t = (
        float(params["across_flats"]),
        float(params["bore_radius"]),
        float(params["thickness"]),
    )
    rb = min(rb, 0.4 * af)
    s = 6 * 32
    theta = 2 * np.pi * np.arange(s) / s
    # distance to the hexagon (corners at multiples of 60 degrees) along each angle
    local = (theta + np.pi / 6) % (np.pi / 3) - np.pi / 6
    r_hex = (af / 2) / np.cos(local)
    r_ch = 0.95 * af / 2  # chamfer circle on the faces
    slope = math.tan(math.radians(30))
    zs = np.array([0.0, 0.25, 0.5, 0.75, 1.0]) * t
    prof = np.zeros((s, 2 + 2 * len(zs), 2))
    prof[:, 0] = np.column_stack([np.full(s, rb), np.zeros(s)])
    for k, z in enumerate(zs):
        edge = min(z, t - z)
        prof[:, 1 + k, 0] = np.minimum(r_hex, r_ch + edge / slope)
        prof[:, 1 + k, 1] = z
    # make the chamfer cone meet the faces exactly: bottom/top rows at r_ch
    prof[:, 1, 0] = np.minimum(r_hex, r_ch)
    prof[:, len(zs), 0] = np.minimum(r_hex, r_ch)
    prof[:, len(zs) + 1] = np.column_stack([np.full(s, rb), np.full(s, t)])
    prof = prof[:, : len(zs) + 2]
    return merge([revolve(prof, closed=True)])


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
    faces). Returns the mesh and their footprints ``(x0, y0, x1, y1)`` in metres."""
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
    if not pieces:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)), feet
    return merge(pieces), feet


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


def build_product(family: str, params: dict[str, Any]) -> Mesh:
    """The product mesh of ``family``; KeyError lists the valid families."""
    if family not in FAMILIES:
        raise KeyError(f"unknown product family {family!r}; valid: {sorted(FAMILIES)}")
    return FAMILIES[family](params)
