"""A bicycle, a wheelchair and a stroller built around a posed body (pure numpy).

Generator ``vehicle`` (parts: ``body``): the mesh of one vehicle in its person's
body frame (Z up, facing -Y) with z = 0 on the ground (placed at the person's x,
y and yaw), from points measured on the posed body by :func:`vehicle_params`:

- **bicycle**: tyres (tori) round hubs ahead of and behind the bottom bracket
  (:func:`.riding.crank`), a diamond frame from the bracket to the saddle under
  the rider's seat bones and to the head tube, a handlebar through the rider's
  wrists, cranks and pedals under the feet. Annotated as ``bicycle``; its rider
  as ``rider``.
- **wheelchair**: two 0.3 m push wheels with rims beside the hips, castors under
  the knees, seat, backrest, footrest, push handles. Annotated as ``wheelchair``.
- **stroller**: a handle in the pusher's hands, a frame down to a bassinet and a
  canopy ahead, four small wheels. Annotated as ``stroller``.

Material slots: 0 paint or fabric, 1 black rubber and saddle, 2 metal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from render.families.pedestrians.pose import swing
from render.families.pedestrians.riding import crank, pedal, wheel_radius
from render.geometry import Mesh
from render.geometry.build import (
    Piece,
    box_piece,
    cylinder_piece,
    grid_faces,
    merge,
    transform_piece,
)
from render.spec import GeometrySpec, MaterialSpec, ObjectSpec

KINDS = ("bicycle", "wheelchair", "stroller")
WHEELCHAIR_SEAT_M = 0.48
"""Height of a wheelchair's seat above the ground."""


def _tube(a: Any, b: Any, r: float, segments: int = 8) -> Piece:
    """A closed cylinder of radius ``r`` from point ``a`` to point ``b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    length = float(np.linalg.norm(b - a))
    piece = cylinder_piece(r, 0.0, max(length, 1e-4), segments)
    rot = swing(np.array([0.0, 0.0, 1.0]), (b - a) / max(length, 1e-9))
    return transform_piece(piece, rot, a)


def _torus(centre: Any, major: float, minor: float, n: int = 32, m: int = 8) -> Piece:
    """A tyre: a torus about the X axis (a wheel rolling along Y) at ``centre``."""
    u = 2 * np.pi * np.arange(n) / n
    v = 2 * np.pi * np.arange(m) / m
    uu, vv = np.meshgrid(u, v, indexing="ij")
    rad = major + minor * np.cos(vv)
    verts = np.stack([minor * np.sin(vv), rad * np.cos(uu), rad * np.sin(uu)], -1).reshape(-1, 3)
    return verts + np.asarray(centre, float), grid_faces(n, m, m)


def _box(lo: Any, hi: Any) -> Piece:
    return box_piece(np.asarray(lo, float), np.asarray(hi, float))


def _slots(groups: list[list[Piece]]) -> Mesh:
    """One mesh of several material groups (slot k = group k)."""
    meshes = [merge(g) for g in groups if g]
    slots = [k for k, g in enumerate(groups) if g]
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return Mesh(
        np.concatenate([m.vertices for m in meshes]),
        np.concatenate([m.faces + o for m, o in zip(meshes, offsets, strict=True)]),
        material_index=np.concatenate(
            [np.full(len(m.faces), k) for m, k in zip(meshes, slots, strict=True)]
        ).astype(np.int64),
    )


def _bicycle(p: dict[str, Any]) -> Mesh:
    r = float(p["wheel_r"])
    bb, saddle = np.asarray(p["bb"]), np.asarray(p["saddle"])
    bar_l, bar_r = np.asarray(p["bar_l"]), np.asarray(p["bar_r"])
    rear = bb + np.array([0.0, 1.2 * r, r - bb[2]])  # hubs at wheel height
    front = bb + np.array([0.0, -1.75 * r, r - bb[2]])
    bar_c = (bar_l + bar_r) / 2
    head_top = bar_c + np.array([0.0, 0.06, -0.1])
    head_bottom = head_top + 0.55 * (front - head_top) * np.array([1, 0.35, 1])
    seat_top = bb + 0.8 * (saddle - bb)
    paint = [
        _tube(bb, seat_top, 0.016), _tube(seat_top, head_top, 0.015), _tube(bb, head_bottom, 0.019),
        _tube(head_bottom, head_top, 0.02), _tube(bb, rear, 0.011), _tube(rear, seat_top, 0.01),
        _tube(head_bottom, front, 0.013),
    ]  # fmt: skip
    rubber = [_torus(rear, r - 0.018, 0.018), _torus(front, r - 0.018, 0.018)]
    rubber.append(_box(saddle + [-0.07, -0.12, -0.035], saddle + [0.07, 0.1, 0.0]))
    metal = [
        _tube(seat_top, saddle - [0, 0, 0.03], 0.012), _tube(head_top, bar_c, 0.013),
        _tube(bar_l + [0.03, 0, 0], bar_r - [0.03, 0, 0], 0.012),
        _tube(rear - [0.05, 0, 0], rear + [0.05, 0, 0], 0.02),
        _tube(front - [0.05, 0, 0], front + [0.05, 0, 0], 0.02),
    ]  # fmt: skip
    for spoke in range(8):  # a few spokes each: the wheels read as wheels
        a = math.pi * spoke / 4
        d = np.array([0.0, math.cos(a), math.sin(a)]) * (r - 0.03)
        metal += [_tube(rear - d, rear + d, 0.003, 4), _tube(front - d, front + d, 0.003, 4)]
    for s, side in ((1.0, "l"), (-1.0, "r")):
        at = np.asarray(p[f"pedal_{side}"]) + [s * 0.07, 0, 0]
        metal.append(_tube(bb + [s * 0.07, 0, 0], at, 0.012))
        rubber.append(_box(at + [s * 0.0, -0.05, -0.012], at + [s * 0.1, 0.05, 0.012]))
        rubber.append(_tube(np.asarray(p[f"bar_{side}"]) + [s * 0.03, 0, 0],
                            np.asarray(p[f"bar_{side}"]) - [s * 0.09, 0, 0], 0.017))  # fmt: skip
    return _slots([paint, rubber, metal])


def _wheelchair(p: dict[str, Any]) -> Mesh:
    seat_z, half = float(p["seat_z"]), float(p["half_width"])
    hip_y, knee_y, back_y = float(p["hip_y"]), float(p["knee_y"]), float(p["back_y"])
    foot = np.asarray(p["foot"])
    r = 0.3
    axle_y = hip_y + 0.06
    fabric = [
        _box([-half + 0.03, knee_y + 0.05, seat_z - 0.03], [half - 0.03, back_y, seat_z]),
        _box([-half + 0.03, back_y, seat_z], [half - 0.03, back_y + 0.025, seat_z + 0.42]),
    ]
    rubber, metal = [], []
    for s in (1.0, -1.0):
        x = s * (half + 0.04)
        rubber.append(_torus([x, axle_y, r], r - 0.015, 0.015))
        metal.append(_torus([x + s * 0.03, axle_y, r], r - 0.04, 0.006))  # push rim
        metal += [_tube([x - s * 0.03, axle_y, r], [s * (half - 0.02), axle_y, r], 0.012)]
        xs = s * (half - 0.02)
        metal += [
            _tube([xs, back_y, 0.12], [xs, back_y, seat_z + 0.5], 0.012),  # back post, handle
            _tube([xs, back_y, seat_z + 0.5], [xs, back_y + 0.12, seat_z + 0.5], 0.014),
            _tube([xs, back_y, seat_z - 0.03], [xs, knee_y, seat_z - 0.03], 0.011),
            _tube(
                [xs, knee_y, seat_z - 0.03], [xs, foot[1] - 0.02, 0.14], 0.011
            ),  # to the footrest
            _tube([xs, knee_y + 0.05, seat_z - 0.03], [xs, knee_y + 0.05, 0.1], 0.011),
            _tube([xs, back_y, 0.12], [xs, knee_y + 0.05, 0.1], 0.01),
        ]
        rubber.append(_torus([xs, knee_y + 0.09, 0.075], 0.06, 0.016, n=16))
    metal.append(_box([-half + 0.05, foot[1] - 0.14, 0.11], [half - 0.05, foot[1] + 0.05, 0.13]))
    return _slots([fabric, rubber, metal])


def _stroller(p: dict[str, Any]) -> Mesh:
    grip = np.asarray(p["grip"])
    half = 0.24
    front_y = grip[1] - 0.95
    basket_lo = np.array([0.0, grip[1] - 0.35, 0.42])
    fabric = [
        _box([-half, front_y, 0.42], [half, grip[1] - 0.3, 0.72]),  # bassinet
        _box([-half - 0.01, grip[1] - 0.52, 0.72], [half + 0.01, grip[1] - 0.3, 1.0]),  # canopy
    ]
    rubber = [_tube(grip + [-half, 0, 0], grip + [half, 0, 0], 0.02)]
    metal = []
    for s in (1.0, -1.0):
        x = s * half
        metal += [
            _tube([x, grip[1], grip[2]], [x, basket_lo[1], 0.45], 0.012),
            _tube([x, basket_lo[1], 0.45], [x, grip[1] - 0.12, 0.12], 0.012),
            _tube([x, front_y + 0.1, 0.42], [x, front_y + 0.05, 0.12], 0.012),
        ]
        for y in (grip[1] - 0.12, front_y + 0.05):
            rubber.append(_torus([x, y, 0.11], 0.09, 0.022, n=16))
    return _slots([fabric, rubber, metal])


def vehicle_parts(params: dict[str, Any]) -> dict[str, Mesh]:
    """Generator ``vehicle``: ``{"body": mesh}`` of ``params["kind"]``."""
    kind = params["kind"]
    build = {"bicycle": _bicycle, "wheelchair": _wheelchair, "stroller": _stroller}.get(kind)
    if build is None:
        raise ValueError(f"vehicle kind {kind!r}; valid: {list(KINDS)}")
    return {"body": build(params)}


def vehicle_params(
    kind: str, heads: dict[str, np.ndarray], vertices: np.ndarray, phase: float, height_m: float
) -> tuple[dict[str, Any], float]:
    """The generator's params for ``kind`` around one posed body (``heads``: bone
    name -> posed head, body frame; ``vertices``: the posed mesh) and how far to
    raise the body (metres). The vehicle's frame is the body's, with z = 0 on the
    ground: place it at the person's x, y and yaw on the ground, the body ``lift``
    higher."""
    foot_z = float(vertices[:, 2].min())
    if kind == "bicycle":
        bb, rc = crank(heads)
        r = wheel_radius(height_m)
        near = vertices[np.hypot(vertices[:, 0], vertices[:, 1] - heads["upperleg01.L"][1]) < 0.12]
        seat = near[near[:, 2] < heads["upperleg01.L"][2]]
        saddle_z = float(seat[:, 2].min()) if len(seat) else float(heads["upperleg01.L"][2]) - 0.1
        a = 2 * math.pi * phase
        lift = (r - 0.07) - float(bb[2])  # the bracket 7 cm below the hubs
        up = np.array([0.0, 0.0, lift])
        params = {
            "kind": kind, "wheel_r": r, "bb": (bb + up).tolist(),
            "saddle": [0.0, float(heads["upperleg01.L"][1]) + 0.02, saddle_z + lift],
            "bar_l": (heads["wrist.L"] + up + [0.0, -0.04, -0.02]).tolist(),
            "bar_r": (heads["wrist.R"] + up + [0.0, -0.04, -0.02]).tolist(),
            "pedal_l": (pedal(bb, rc, a) + up).tolist(),
            "pedal_r": (pedal(bb, rc, a + math.pi) + up).tolist(),
        }  # fmt: skip
        return params, lift
    if kind == "wheelchair":
        hip = (heads["upperleg01.L"] + heads["upperleg01.R"]) / 2
        near = vertices[np.hypot(vertices[:, 0], vertices[:, 1] - hip[1]) < 0.15]
        buttocks = float(near[:, 2].min()) if len(near) else float(hip[2]) - 0.1
        lift = WHEELCHAIR_SEAT_M - buttocks
        half = float(np.abs(vertices[vertices[:, 2] < hip[2] + 0.1][:, 0]).max()) + 0.03
        back = vertices[(vertices[:, 2] > buttocks + 0.05) & (vertices[:, 2] < buttocks + 0.45)]
        params = {
            "kind": kind, "seat_z": WHEELCHAIR_SEAT_M, "half_width": max(half, 0.2),
            "hip_y": float(hip[1]), "knee_y": float(heads["lowerleg01.L"][1]),
            "back_y": float(back[:, 1].max()) + 0.01,
            "foot": [0.0, float((heads["foot.L"][1] + heads["foot.R"][1]) / 2), foot_z + lift],
        }  # fmt: skip
        return params, lift
    grip = (heads["wrist.L"] + heads["wrist.R"]) / 2 + np.array([0.0, -0.05, 0.0])
    return {"kind": kind, "grip": [0.0, float(grip[1]), float(grip[2]) - foot_z]}, -foot_z


_HEADS = ("upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R",
          "wrist.L", "wrist.R")  # fmt: skip


def fit(
    rides: Mapping[int, str],
    bone_poses: np.ndarray,
    meshes: list[Any],
    phases: dict[int, float],
    heights: list[float],
    bones: tuple[str, ...],
) -> dict[int, tuple[dict[str, Any], float]]:
    """Person index -> (vehicle params, body lift) for the people in ``rides``
    (person index -> vehicle kind), from their posed bones and meshes."""
    out = {}
    for i, kind in rides.items():
        heads = {b: np.asarray(bone_poses[i][bones.index(b), :3, 3]) for b in _HEADS}
        out[i] = vehicle_params(kind, heads, meshes[i].vertices, phases[i], heights[i])
    return out


def vehicle_object(
    name: str,
    instance_id: int,
    category_id: int,
    params: dict[str, Any],
    ground: list[float],
    yaw: float,
    rng: np.random.Generator,
    **extra: Any,
) -> ObjectSpec:
    """The annotated object of one vehicle at ``ground`` (the person's x, y, the
    ground's z), turned by ``yaw``; ``extra``: ObjectSpec fields (velocity, next, ...)."""
    paint = [float(c) for c in rng.uniform(0.03, 0.6, 3)]
    return ObjectSpec(
        name=name,
        instance_id=instance_id,
        category_id=category_id,
        geometry=GeometrySpec(kind="procedural", generator="vehicle", params=params, part="body"),
        location=ground,
        rotation_euler=[0.0, 0.0, yaw],
        material=MaterialSpec(base_color=paint, roughness=0.4, metallic=0.3),
        material_slots=[
            MaterialSpec(base_color=[0.02, 0.02, 0.02], roughness=0.7, texture="none"),
            MaterialSpec(
                base_color=[0.55, 0.56, 0.58], roughness=0.25, metallic=1.0, texture="none"
            ),
        ],
        **extra,
    )
