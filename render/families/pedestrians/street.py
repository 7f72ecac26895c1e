"""A procedural street as data: layout (pure sampling) and meshes (generators).

The street runs along world X, centred on the origin: the road is
``|y| <= road_width / 2`` at z = 0, sidewalks (top at ``curb_height``) run from
there to ``|y| = road_width / 2 + sidewalk_width``, where building facades stand,
facing the road. Furniture stands on the sidewalks; parked cars on the road by
the curbs. Every generator returns meshes in its own local frame (metres, +Z up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from render.families.common import uniform
from render.families.pedestrians.config import StreetConfig
from render.geometry import Mesh
from render.geometry.build import (
    Piece,
    box_piece,
    cone_piece,
    cylinder_piece,
    merge,
    prism_piece,
    sphere_piece,
    transform_piece,
)

FURNITURE = ("streetlight", "sign", "bench", "bin", "bicycle", "tree")
FOOTPRINT = {
    "streetlight": 0.25,
    "sign": 0.2,
    "bench": 0.9,
    "bin": 0.35,
    "bicycle": 0.95,
    "car": 2.4,
    "tree": 0.45,
    "umbrella": 0.5,
    "shelter": 1.7,
}
"""Radius (metres) people keep clear of each item's position (benches: when not sitting)."""


@dataclass(frozen=True)
class Item:
    """A furniture item or parked car: kind, ground position (x, y), yaw about +Z
    (radians, 0 = its local +X along the street), generator params."""

    kind: str
    x: float
    y: float
    yaw: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Street:
    """One street's layout (see the module docstring)."""

    length: float
    road_width: float
    sidewalk_width: float
    curb_height: float
    crossing: tuple[float, float] | None
    wet: bool
    buildings: list[dict[str, Any]]
    items: list[Item]

    @property
    def edge(self) -> float:
        """|y| of the curb line (road/sidewalk border)."""
        return self.road_width / 2

    @property
    def facade(self) -> float:
        """|y| of the building facades."""
        return self.road_width / 2 + self.sidewalk_width

    def ground_z(self, y: float) -> float:
        """Height of the walkable surface at lateral position ``y``."""
        return self.curb_height if abs(y) > self.edge else 0.0

    def params(self) -> dict[str, Any]:
        return {
            "length": self.length,
            "road_width": self.road_width,
            "sidewalk_width": self.sidewalk_width,
            "curb_height": self.curb_height,
            "crossing": list(self.crossing) if self.crossing else None,
        }


def sample_street(cfg: StreetConfig, rng: np.random.Generator) -> Street:
    """Street dimensions, a zebra crossing (maybe), facades and furniture."""
    length = cfg.length_m
    road = uniform(rng, cfg.road_width_m)
    walk = uniform(rng, cfg.sidewalk_width_m)
    curb = uniform(rng, cfg.curb_height_m)
    crossing = None
    if rng.random() < cfg.crossing_probability:
        x0 = uniform(rng, (-10.0, 25.0))
        crossing = (x0, x0 + uniform(rng, (3.0, 5.0)))
    buildings = []
    for side in (-1, 1):
        x = -length / 2
        while x < length / 2:
            w = uniform(rng, cfg.building_width_m)
            h = uniform(rng, cfg.building_height_m)
            buildings.append(
                {
                    "side": side,
                    "x": x + w / 2,
                    "params": {
                        "width": w,
                        "height": h,
                        "storey": uniform(rng, (2.8, 3.6)),
                        "window_width": uniform(rng, (0.8, 1.6)),
                        "bay": uniform(rng, (2.2, 3.5)),
                        "door_at": uniform(rng, (0.2, 0.8)),
                        "shop": bool(rng.random() < 0.4),
                    },
                }
            )
            x += w
    items: list[Item] = []
    curb_y = road / 2
    for side in (-1, 1):
        per_10 = uniform(rng, cfg.furniture_per_10m)
        n = int(rng.poisson(per_10 * length / 10))
        for _ in range(n):
            kind = str(rng.choice(FURNITURE, p=[0.22, 0.15, 0.15, 0.12, 0.12, 0.24]))
            x = uniform(rng, (-length / 2 + 2, length / 2 - 2))
            if crossing and crossing[0] - 1.5 < x < crossing[1] + 1.5:
                continue
            near_curb = kind in ("streetlight", "sign", "bin", "tree")
            y = side * (curb_y + (0.5 if near_curb else uniform(rng, (0.8, walk - 0.8))))
            yaw = 0.0 if side < 0 else math.pi  # face the road
            params: dict[str, Any] = {}
            if kind == "streetlight":
                params = {"height": uniform(rng, (4.5, 7.0)), "arm": uniform(rng, (0.8, 1.6))}
                yaw = math.pi / 2 if side > 0 else -math.pi / 2  # arm over the road
            elif kind == "bench":  # backrest on local +Y: sitters face the road
                yaw = 0.0 if side > 0 else math.pi
                params = {"seat_height": 0.45, "length": uniform(rng, (1.5, 2.2))}
            elif kind == "bicycle":
                yaw = uniform(rng, (-0.3, 0.3))
            elif kind == "tree":
                params = {"height": uniform(rng, (4.0, 9.0)), "crown": uniform(rng, (1.2, 2.6))}
            items.append(Item(kind, x, y, yaw, params))
        n_cars = int(rng.poisson(uniform(rng, cfg.parked_cars_per_10m) * length / 10))
        for _ in range(n_cars):
            x = uniform(rng, (-length / 2 + 3, length / 2 - 3))
            if crossing and crossing[0] - 4 < x < crossing[1] + 4:
                continue
            if any(it.kind == "car" and it.y * side > 0 and abs(it.x - x) < 5.2 for it in items):
                continue
            params = {
                "length": uniform(rng, (3.8, 4.8)),
                "width": uniform(rng, (1.7, 1.9)),
                "height": uniform(rng, (1.35, 1.6)),
            }
            y = side * (curb_y - params["width"] / 2 - 0.25)
            items.append(Item("car", x, y, 0.0 if side > 0 else math.pi, params))
    wet = bool(rng.random() < cfg.wet_probability)
    return Street(length, road, walk, curb, crossing, wet, buildings, items)


# --------------------------------------------------------------------------- generators


def _box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> Piece:
    return box_piece(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))


def street_parts(params: dict[str, Any]) -> dict[str, Mesh]:
    """Generator ``street``: parts ``road``, ``sidewalks`` (with their curbs), ``markings``
    (lane dashes and the zebra crossing, 3 mm above the road). ``rest`` attribute:
    (x, y, 0) ground coordinates for paving patterns."""
    length, road = float(params["length"]), float(params["road_width"])
    walk, curb = float(params["sidewalk_width"]), float(params["curb_height"])
    ext = length / 2 + 60.0  # the road runs on past the buildings to the horizon
    parts = {
        "road": merge([_box((-ext, -road / 2 - walk - 40, -0.3), (ext, road / 2 + walk + 40, 0.0))])
    }
    sides = [
        _box(
            (-length / 2, s * road / 2 if s > 0 else -road / 2 - walk, -0.3),
            (length / 2, road / 2 + walk if s > 0 else -road / 2, curb),
        )
        for s in (-1, 1)
    ]
    parts["sidewalks"] = merge(sides)
    marks: list[Piece] = []
    x = -ext
    while x < ext:
        marks.append(_box((x, -0.06, 0.0), (x + 3.0, 0.06, 0.003)))
        x += 9.0
    crossing = params.get("crossing")
    if crossing:
        x0, x1 = float(crossing[0]), float(crossing[1])
        y = -road / 2 + 0.3
        while y < road / 2 - 0.5:
            marks.append(_box((x0, y, 0.0), (x1, y + 0.5, 0.003)))
            y += 1.0
    parts["markings"] = merge(marks)
    for name, mesh in parts.items():
        v = mesh.vertices
        parts[name] = Mesh(
            v,
            mesh.faces,
            watertight=True,
            point_attributes={"rest": np.column_stack([v[:, 0], v[:, 1], np.zeros(len(v))])},
        )
    return parts


def building_parts(params: dict[str, Any]) -> dict[str, Mesh]:
    """Generator ``building``: a block ``width`` (X) x 12 m deep (+Y) x ``height``, its
    facade the plane y = 0 facing -Y. Parts: ``walls`` (``rest`` = facade coordinates
    (x, z, y) for brick patterns), ``windows`` (glass panes 2 cm proud of the facade,
    storey by storey; a shop window on the ground floor when ``shop``), ``door``."""
    w, h = float(params["width"]), float(params["height"])
    storey, win_w, bay = (
        float(params["storey"]),
        float(params["window_width"]),
        float(params["bay"]),
    )
    walls = merge([_box((-w / 2, 0.0, -0.2), (w / 2, 12.0, h))])
    v = walls.vertices
    walls = Mesh(
        v,
        walls.faces,
        watertight=True,
        point_attributes={"rest": np.column_stack([v[:, 0], v[:, 2], v[:, 1]])},
    )
    panes: list[Piece] = []
    n_bays = max(1, int(w // bay))
    xs = (np.arange(n_bays) - (n_bays - 1) / 2) * (w / n_bays)
    door_x = float(xs[int(params.get("door_at", 0.5) * (n_bays - 1) + 0.5)])
    for level in range(1, int(h // storey)):
        z0 = level * storey + 0.9
        z1 = min(z0 + 1.5, (level + 1) * storey - 0.3)
        if z1 > h - 0.3:
            break
        for x in xs:
            panes.append(_box((x - win_w / 2, -0.02, z0), (x + win_w / 2, 0.0, z1)))
    if params.get("shop"):
        for x in xs:
            if abs(x - door_x) > 0.6:
                panes.append(
                    _box((x - w / n_bays * 0.4, -0.02, 0.5), (x + w / n_bays * 0.4, 0.0, 2.6))
                )
    door = _box((door_x - 0.55, -0.03, 0.0), (door_x + 0.55, 0.0, 2.2))
    empty = Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    return {"walls": walls, "door": merge([door]), "windows": merge(panes) if panes else empty}


def _wheel(radius: float, width: float, x: float, y: float) -> Piece:
    """A wheel about the Y axis at (x, y, radius)."""
    v, f = cylinder_piece(radius, -width / 2, width / 2, 20)
    rot = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # cylinder axis Z -> Y
    return transform_piece((v, f), rot, np.array([x, y, radius]))


def furniture_parts(params: dict[str, Any]) -> dict[str, Mesh]:
    """Generator ``furniture``: one item of ``kind`` at its local origin on the ground,
    its long side along local X. Parts: ``item``; streetlights also ``lamp`` (the
    emitter); cars also ``glass``, ``tyres``, ``lamps_rear`` and ``lamps_front``;
    bus shelters also ``glass``; trees also ``crown``; umbrellas
    also ``canopy``."""
    kind = params["kind"]
    pieces: list[Piece] = []
    extra: dict[str, list[Piece]] = {}
    if kind == "streetlight":
        hgt, arm = float(params.get("height", 6.0)), float(params.get("arm", 1.2))
        pieces += [
            cylinder_piece(0.07, 0.0, hgt, 12),
            _box((0.0, -0.04, hgt - 0.12), (arm, 0.04, hgt - 0.04)),
        ]
        extra["lamp"] = [_box((arm - 0.35, -0.12, hgt - 0.2), (arm + 0.05, 0.12, hgt - 0.12))]
    elif kind == "sign":
        pieces += [
            cylinder_piece(0.035, 0.0, 2.6, 10),
            _box((-0.3, -0.015, 2.0), (0.3, 0.015, 2.6)),
        ]
    elif kind == "bench":
        seat, length = float(params.get("seat_height", 0.45)), float(params.get("length", 1.8))
        pieces += [
            _box((-length / 2, -0.22, seat - 0.05), (length / 2, 0.22, seat)),
            _box((-length / 2, 0.18, seat + 0.05), (length / 2, 0.24, seat + 0.45)),
        ]
        for x in (-length / 2 + 0.1, length / 2 - 0.15):
            pieces.append(_box((x, -0.2, 0.0), (x + 0.05, 0.22, seat - 0.05)))
    elif kind == "bin":
        pieces += [cylinder_piece(0.25, 0.0, 0.9, 16)]
    elif kind == "bicycle":
        pieces += [_wheel(0.34, 0.04, -0.52, 0.0), _wheel(0.34, 0.04, 0.52, 0.0)]
        pieces += [
            _box((-0.52, -0.015, 0.34), (0.2, 0.015, 0.37)),
            _box((-0.1, -0.015, 0.34), (0.52, 0.015, 0.37)),
            _box((-0.15, -0.015, 0.34), (-0.12, 0.015, 0.8)),
            _box((-0.25, -0.08, 0.8), (-0.05, 0.08, 0.84)),
            _box((0.4, -0.015, 0.34), (0.43, 0.015, 0.95)),
            _box((0.38, -0.25, 0.95), (0.45, 0.25, 0.98)),
            _box((-0.12, -0.015, 0.6), (0.43, 0.015, 0.63)),
        ]
    elif kind == "shelter":  # a bus stop: open to local -Y (the road), glass back, a sign
        length, depth, high = 3.2, 1.4, 2.4
        for x in (-length / 2, length / 2):
            for y in (-depth / 2, depth / 2):
                pieces.append(_box((x - 0.04, y - 0.04, 0.0), (x + 0.04, y + 0.04, high)))
        pieces += [
            _box(
                (-length / 2 - 0.1, -depth / 2 - 0.2, high),
                (length / 2 + 0.1, depth / 2 + 0.05, high + 0.12),
            ),
            _box((-1.2, depth / 2 - 0.35, 0.42), (1.2, depth / 2 - 0.05, 0.46)),  # the bench
            _box((-1.15, depth / 2 - 0.3, 0.0), (-1.1, depth / 2 - 0.1, 0.42)),
            _box((1.1, depth / 2 - 0.3, 0.0), (1.15, depth / 2 - 0.1, 0.42)),
            cylinder_piece(0.04, 0.0, 2.8, 10, centre=(length / 2 + 0.6, -depth / 2 - 0.3)),
            _box(
                (length / 2 + 0.35, -depth / 2 - 0.33, 2.3),
                (length / 2 + 0.85, -depth / 2 - 0.27, 2.8),
            ),
        ]
        extra["glass"] = [
            _box(
                (-length / 2 + 0.05, depth / 2 - 0.02, 0.1),
                (length / 2 - 0.05, depth / 2, high - 0.05),
            ),
            _box(
                (-length / 2 - 0.02, -depth / 2 + 0.05, 0.1),
                (-length / 2, depth / 2 - 0.05, high - 0.05),
            ),
        ]
    elif kind == "umbrella":  # pole from the hand (origin) up, canopy on top
        r, pole = float(params.get("radius", 0.5)), float(params.get("pole", 0.85))
        pieces += [cylinder_piece(0.012, 0.0, pole + 0.08, 8)]
        extra["canopy"] = [cone_piece(r, pole - 0.12, pole + 0.06, 16)]
    elif kind == "car":  # side profiles extruded across: body, glass cabin, roof, tyres
        length, width, height = (float(params[k]) for k in ("length", "width", "height"))
        hl, r = length / 2, 0.31
        sill, belt = 0.3, 0.52 * height + 0.12
        body = [
            (-hl, sill),
            (hl, sill),
            (hl, belt - 0.12),
            (hl - 0.3, belt),
            (-hl + 0.15, belt + 0.02),
            (-hl, belt - 0.1),
        ]
        cabin = [
            (hl - 1.05, belt - 0.01),
            (-hl + 0.45, belt + 0.01),
            (-hl + 0.8, height - 0.03),
            (hl - 1.75, height - 0.03),
        ]
        roof = [
            (-hl + 0.85, height - 0.04),
            (hl - 1.8, height - 0.04),
            (hl - 1.82, height),
            (-hl + 0.87, height),
        ]
        pieces += [prism_piece(np.array(body), -width / 2, width / 2)]
        pieces += [prism_piece(np.array(roof), -width / 2 + 0.1, width / 2 - 0.1)]
        extra["glass"] = [prism_piece(np.array(cabin), -width / 2 + 0.08, width / 2 - 0.08)]
        lamp_z = (belt - 0.32, belt - 0.18)  # rear lamps at the tail, front lamps at the nose
        for name, x0, x1 in (
            ("lamps_rear", -hl - 0.012, -hl + 0.02),
            ("lamps_front", hl - 0.02, hl + 0.012),
        ):
            extra[name] = [
                _box((x0, y - 0.13, lamp_z[0]), (x1, y + 0.13, lamp_z[1]))
                for y in (-width / 2 + 0.25, width / 2 - 0.25)
            ]
        extra["tyres"] = [
            _wheel(r, 0.22, x, y)
            for x in (-hl + 0.75, hl - 0.8)
            for y in (-width / 2 + 0.13, width / 2 - 0.13)
        ]
    elif kind == "tree":
        h = float(params.get("height", 6.0))
        pieces += [cylinder_piece(0.12, 0.0, h * 0.55, 10)]
        crown = float(params.get("crown", 2.0))
        extra["crown"] = [
            sphere_piece((crown, crown, crown * 1.2), (0.0, 0.0, h - crown * 0.9), 9, 14)
        ]
    else:
        raise ValueError(f"furniture kind {kind!r}; valid: {sorted(FOOTPRINT)}")
    out = {"item": merge(pieces)}
    for name, ps in extra.items():
        out[name] = merge(ps)
    return out
