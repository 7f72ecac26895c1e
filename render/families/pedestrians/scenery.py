"""The street's objects for a SceneSpec: road, sidewalks, markings, buildings,
furniture and parked cars, with their materials (all instance 0: not annotated)."""

from __future__ import annotations

import math

import numpy as np

from render.families.common import uniform
from render.families.pedestrians.street import Street
from render.spec import GeometrySpec, MaterialSpec, ObjectSpec


def plain_material(color: list[float], roughness: float, **kw: object) -> MaterialSpec:
    return MaterialSpec(base_color=color, roughness=roughness, **kw)  # type: ignore[arg-type]


_EXTRA_MATERIALS = {
    "lamp": lambda rng: plain_material([1.0, 0.85, 0.6], 0.3),
    "lamp_lit": lambda rng: plain_material(
        [1.0, 0.85, 0.6], 0.3, inputs={"Emission Strength": 6.0}
    ),
    "glass": lambda rng: plain_material(
        [0.015, 0.017, 0.02], 0.04, texture="none", inputs={"Coat Weight": 1.0}
    ),
    "tyres": lambda rng: plain_material([0.015, 0.015, 0.015], 0.7, texture="none"),
    "lamps_rear": lambda rng: plain_material([0.35, 0.01, 0.01], 0.1, texture="none"),
    "lamps_front": lambda rng: plain_material([0.7, 0.7, 0.68], 0.05, texture="none"),
    # lights on: a tail light ~ 30x a lit window's luminance (~3,000 cd/m^2), a front
    # position lamp brighter still; the road they light is left to the street lights
    "lamps_rear_lit": lambda rng: plain_material(
        [1.0, 0.02, 0.01], 0.1, texture="none", inputs={"Emission Strength": 0.3}
    ),
    "lamps_front_lit": lambda rng: plain_material(
        [1.0, 0.93, 0.85], 0.05, texture="none", inputs={"Emission Strength": 1.5}
    ),
    "crown": lambda rng: plain_material(
        [0.03 + 0.04 * float(rng.random()), 0.07 + 0.07 * float(rng.random()), 0.02],
        0.8,
        noise_scale=8.0,
        color_variation=0.5,
        bump_strength=0.8,
    ),
}


_FACADES = (  # sRGB-ish linear picks: plaster whites and creams, greys, brick reds, ochres
    (0.62, 0.58, 0.5),
    (0.55, 0.52, 0.47),
    (0.45, 0.44, 0.42),
    (0.3, 0.3, 0.3),
    (0.38, 0.16, 0.1),
    (0.28, 0.12, 0.08),
    (0.5, 0.36, 0.18),
    (0.42, 0.4, 0.33),
    (0.2, 0.22, 0.25),
)


def _facade_colour(rng: np.random.Generator) -> list[float]:
    """A muted facade colour: one of the usual ones, varied by +-15 % per channel."""
    base = np.array(_FACADES[int(rng.integers(len(_FACADES)))])
    return [float(c) for c in np.clip(base * rng.uniform(0.85, 1.15, 3), 0.0, 1.0)]


def street_objects(
    street: Street,
    seats: dict[int, float],
    lit: bool,
    rng: np.random.Generator,
    lit_windows: float = 0.0,
    lights_on: frozenset[int] = frozenset(),
) -> list[ObjectSpec]:
    """Road, sidewalks, markings, buildings, furniture and parked cars (instance 0).
    ``lit``: lamps glow (dusk, night); ``lit_windows``: share of buildings whose
    windows (shop windows too) glow, warm and a little blue-white (night);
    ``lights_on``: the street items (cars) whose tail and front lamps glow."""
    wet = street.wet
    asphalt = uniform(rng, (0.025, 0.06)) * (0.6 if wet else 1.0)
    objs = [
        ObjectSpec(
            name="road",
            instance_id=0,
            geometry=GeometrySpec(
                kind="procedural", generator="street", params=street.params(), part="road"
            ),
            material=plain_material(
                [asphalt] * 3,
                0.28 if wet else 0.85,
                noise_scale=uniform(rng, (8.0, 20.0)),
                color_variation=0.35,
                bump_strength=0.25,
            ),
        ),
        ObjectSpec(
            name="sidewalks",
            instance_id=0,
            geometry=GeometrySpec(
                kind="procedural", generator="street", params=street.params(), part="sidewalks"
            ),
            material=plain_material(
                [uniform(rng, (0.12, 0.3))] * 3,
                0.2 if wet else 0.8,
                texture="bricks",
                coordinates="rest",
                pattern_scale=uniform(rng, (0.3, 0.6)),
                color2=[0.08, 0.08, 0.08],
                color_variation=0.15,
                bump_strength=0.2,
            ),
        ),
        ObjectSpec(
            name="markings",
            instance_id=0,
            geometry=GeometrySpec(
                kind="procedural", generator="street", params=street.params(), part="markings"
            ),
            material=plain_material([0.75, 0.75, 0.72], 0.5, color_variation=0.2),
        ),
    ]
    for k, b in enumerate(street.buildings):
        side = b["side"]
        base = _facade_colour(rng)
        brick = rng.random() < 0.4
        pose = {
            "location": [b["x"], side * street.facade, street.curb_height],
            "rotation_euler": [0.0, 0.0, 0.0 if side > 0 else math.pi],
        }
        geo = {"kind": "procedural", "generator": "building", "params": b["params"]}
        wall = plain_material(
            base,
            0.85,
            texture="bricks" if brick else "noise",
            coordinates="rest",
            pattern_scale=0.25,
            color2=[0.5, 0.48, 0.45],
            noise_scale=5.0,
            color_variation=0.15,
            bump_strength=0.1,
        )
        objs.append(
            ObjectSpec(
                name=f"building_{k}",
                instance_id=0,
                geometry=GeometrySpec(part="walls", **geo),
                material=wall,
                **pose,
            )
        )  # type: ignore[arg-type]
        glass = plain_material(
            [0.02, 0.025, 0.03], 0.05, texture="none", inputs={"Specular IOR Level": 0.8}
        )
        if lit_windows > 0 and rng.random() < lit_windows:
            glass = plain_material(
                [1.0, 0.78, 0.5], 0.2, texture="none",
                inputs={"Emission Strength": uniform(rng, (0.003, 0.012))},
            )  # fmt: skip
        objs.append(
            ObjectSpec(
                name=f"building_{k}_windows",
                instance_id=0,
                geometry=GeometrySpec(part="windows", **geo),
                material=glass,
                **pose,
            )
        )  # type: ignore[arg-type]
        objs.append(
            ObjectSpec(
                name=f"building_{k}_door",
                instance_id=0,
                geometry=GeometrySpec(part="door", **geo),
                material=plain_material([0.05, 0.04, 0.03], 0.4),
                **pose,
            )
        )  # type: ignore[arg-type]
    for k, it in enumerate(street.items):
        params = {"kind": it.kind, **it.params}
        if k in seats:
            params["seat_height"] = seats[k]
        pose = {
            "location": [it.x, it.y, street.ground_z(it.y)],
            "rotation_euler": [0.0, 0.0, it.yaw],
        }
        color = (
            [float(c) for c in rng.uniform(0.05, 0.6, 3)]
            if it.kind in ("car", "bicycle", "bin")
            else [0.15, 0.16, 0.17]
        )
        item_geo = GeometrySpec(
            kind="procedural", generator="furniture", params=params, part="item"
        )
        objs.append(
            ObjectSpec(
                name=f"{it.kind}_{k}",
                instance_id=0,
                geometry=item_geo,
                material=plain_material(
                    color,
                    0.35 if it.kind == "car" else 0.6,
                    metallic=0.6 if it.kind == "car" else 0.2,
                ),
                **pose,
            )
        )  # type: ignore[arg-type]
        extras = {
            "streetlight": ("lamp",),
            "car": ("glass", "tyres", "lamps_rear", "lamps_front"),
            "shelter": ("glass",),
            "tree": ("crown",),
        }
        for extra in extras.get(it.kind, ()):
            on = (extra == "lamp" and lit) or (extra.startswith("lamps_") and k in lights_on)
            objs.append(
                ObjectSpec(
                    name=f"{it.kind}_{k}_{extra}",
                    instance_id=0,
                    geometry=GeometrySpec(
                        kind="procedural", generator="furniture", params=params, part=extra
                    ),
                    material=_EXTRA_MATERIALS[f"{extra}_lit" if on else extra](rng),
                    **pose,  # type: ignore[arg-type]
                )
            )
    return objs
