"""Defective-product family: config + scene index -> SceneSpec (pure Python).

A scene is an inspection background (conveyor, table, tray) with 1..N products,
each good or carrying 1..K defects, lit by a QC preset (ring, dome, raking, back
light + ambient) and seen by a machine-vision camera (top-down or oblique).

Each product is ONE procedural generator call ``product_with_defects``
(render/geometry/assemblies.py) whose parts share a local frame: the SceneSpec
has one ObjectSpec per part at the same pose, the product annotated with its
category, each defect with its own category and ``parent_id`` = the product.

Balance: with ``stratify`` (default), whether a product is good and the type
of each defect come from low-discrepancy (Weyl) sequences over the scene index,
so class counts track the configured targets closely at any dataset size,
while each scene still depends only on (seed, scene index).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml

from render import camera as cam_math
from render.config import PROJECT_ROOT, Config
from render.errors import ConfigError
from render.families.common import aim_neg_z, integer, kelvin_to_rgb, render_spec, uniform
from render.families.defects_config import DefectsScene, DefectType, ProductChoice
from render.geometry.assemblies import MIN_OFFSET, base_mesh
from render.geometry.products import INTEGER_PARAMS, PARAM_SPACE
from render.geometry.props import support_height
from render.seeding import stream
from render.spec import (
    CameraSpec,
    GeometrySpec,
    LightSpec,
    MaterialSpec,
    ObjectSpec,
    SceneSpec,
    WorldSpec,
)

DEFECT_ORDER = ("scratch", "dent", "crack", "stain", "chip")
_ALPHA_GOOD = (math.sqrt(5) - 1) / 2  # Weyl steps: 1, these three are rationally independent
_ALPHA_TYPE = math.sqrt(2) - 1
_ALPHA_SLOT = math.sqrt(3) - 1
MAX_DEFECT_SLOTS = 16


# --------------------------------------------------------------------------- materials


@lru_cache(maxsize=8)
def load_presets(directory: str) -> dict[str, dict[str, Any]]:
    """Material presets: file stem -> the YAML mapping of ``directory/*.yaml``."""
    folder = Path(directory)
    if not folder.is_absolute():
        folder = PROJECT_ROOT / folder
    if not folder.is_dir():
        raise ConfigError(f"scene.materials_dir: folder not found: {directory}")
    presets = {}
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of material fields")
        presets[path.stem] = data
    return presets


def _value(rng: np.random.Generator, v: Any) -> float:
    return uniform(rng, (float(v[0]), float(v[1]))) if isinstance(v, list) else float(v)


def sample_material(
    presets: dict[str, dict[str, Any]], name: str, rng: np.random.Generator
) -> MaterialSpec:
    """A MaterialSpec from preset ``name``: list values ``[lo, hi]`` are drawn
    uniformly; ``base_color`` (linear RGB) is scaled per channel by 1 +- ``color_jitter``."""
    if name not in presets:
        raise ConfigError(f"material preset {name!r} not found; available: {sorted(presets)}")
    p = presets[name]
    jitter = float(p.get("color_jitter", 0.0))
    color = [
        min(1.0, max(0.0, float(c) * (1 + jitter * (2 * rng.random() - 1))))
        for c in p["base_color"]
    ]
    return MaterialSpec(
        base_color=color,
        roughness=_value(rng, p.get("roughness", 0.5)),
        metallic=_value(rng, p.get("metallic", 0.0)),
        texture=p.get("texture", "noise"),
        noise_scale=_value(rng, p.get("noise_scale", 20.0)),
        color_variation=_value(rng, p.get("color_variation", 0.05)),
        bump_strength=_value(rng, p.get("bump_strength", 0.0)),
        inputs={k: _value(rng, v) for k, v in p.get("inputs", {}).items()},
    )


# --------------------------------------------------------------------------- balance


def _frac(x: float) -> float:
    return x - math.floor(x)


def balance_offsets(seed: int) -> tuple[float, float]:
    """Per-dataset offsets of the Weyl sequences (depend on the seed only)."""
    rng = stream(seed, 0, "balance")
    return float(rng.random()), float(rng.random())


def is_good(
    sc: DefectsScene, seed: int, scene_index: int, product: int, rng: np.random.Generator
) -> bool:
    """Whether product ``product`` of a scene is defect-free."""
    if not sc.stratify:
        return bool(rng.random() < sc.good_fraction)
    base, _ = balance_offsets(seed)
    return _frac(base + scene_index * _ALPHA_GOOD + product * _ALPHA_SLOT) < sc.good_fraction


def defect_type(
    sc: DefectsScene, seed: int, scene_index: int, slot: int, rng: np.random.Generator
) -> str:
    """The type of defect slot ``slot`` (product * MAX_DEFECT_SLOTS + k) of a scene,
    drawn with the configured target frequencies."""
    types = [t for t in DEFECT_ORDER if t in sc.defects and sc.defects[t].frequency > 0]
    weights = np.array([sc.defects[t].frequency for t in types], dtype=np.float64)
    cdf = np.cumsum(weights / weights.sum())
    if sc.stratify:
        _, base = balance_offsets(seed)
        u = _frac(base + scene_index * _ALPHA_TYPE + slot * _ALPHA_SLOT)
    else:
        u = float(rng.random())
    return types[min(int(np.searchsorted(cdf, u, side="right")), len(types) - 1)]


# --------------------------------------------------------------------------- products


def _product_params(choice: ProductChoice, rng: np.random.Generator) -> dict[str, Any]:
    if choice.family == "mesh":
        size = uniform(rng, choice.size_mm) / 1000 if choice.size_mm else None
        return {
            "family": "mesh",
            "path": choice.mesh,
            "unit_scale": choice.unit_scale,
            "up_axis": choice.up_axis,
            "size": size,
        }
    out: dict[str, Any] = {"family": choice.family}
    for key, default in PARAM_SPACE[choice.family].items():
        value = uniform(rng, choice.params.get(key, default))
        if key in INTEGER_PARAMS:
            value = int(round(value))
        if key == "holes":
            value = min(6, 2 * (int(value) // 2))
        out[key] = value
    if choice.family == "pcb":
        out["seed"] = int(rng.integers(0, 2**31 - 1))
    return out


def _rotation(pose: str, yaw: float) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Euler XYZ, 3x3 matrix, and the local direction that faces world +Z."""
    rx = math.pi / 2 if pose == "side" else 0.0
    cx, sx, cz, sz = math.cos(rx), math.sin(rx), math.cos(yaw), math.sin(yaw)
    r = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array(
        [[1, 0, 0], [0, cx, -sx], [0, sx, cx]]
    )
    return [rx, 0.0, yaw], r, r.T @ np.array([0.0, 0.0, 1.0])


def _defect_params(
    sc: DefectsScene, kind: str, extent: float, rng: np.random.Generator, min_width: float
) -> dict[str, Any]:
    d = sc.defects[cast(DefectType, kind)]
    cap = 0.8 * extent if kind in ("scratch", "crack") else 0.4 * extent
    size = min(uniform(rng, d.size_mm) / 1000, cap)
    return {
        "type": kind,
        "seed": int(rng.integers(0, 2**31 - 1)),
        "size": size,
        "depth": uniform(rng, d.depth_mm) / 1000,
        "width": max(uniform(rng, d.width_mm) / 1000, min_width),
        "roughness": uniform(rng, d.roughness),
        "branches": integer(rng, d.branches),
    }


# --------------------------------------------------------------------------- sampling


def sample_defects(cfg: Config, scene_index: int) -> SceneSpec:
    """Every random choice of scene ``scene_index`` of a ``family: defects`` config."""
    sc = cfg.scene
    if not isinstance(sc, DefectsScene):
        raise ValueError(f"sample_defects needs scene.family 'defects', got {sc.family!r}")
    presets = load_presets(sc.materials_dir)
    width, height = cfg.render.resolution
    r_cam = stream(cfg.seed, scene_index, "camera")
    cam = sc.camera
    focal = uniform(r_cam, cam.focal_length_mm)
    fov = uniform(r_cam, cam.field_of_view_mm) / 1000

    r_bg = stream(cfg.seed, scene_index, "background")
    r_mat = stream(cfg.seed, scene_index, "materials")
    r_light = stream(cfg.seed, scene_index, "lights")
    preset = _weighted(r_light, sc.lighting.presets)
    bg_kind = "table" if preset == "back" else _weighted(r_bg, sc.background.kinds)

    # 1) products, then an arrangement (the area grows until they all fit)
    r_prod = stream(cfg.seed, scene_index, "products")
    r_def = stream(cfg.seed, scene_index, "defects")
    weights = np.array([p.weight for p in sc.products])
    items = []
    for _ in range(integer(r_prod, sc.products_per_image)):
        choice = sc.products[int(r_prod.choice(len(sc.products), p=weights / weights.sum()))]
        product = _product_params(choice, r_prod)
        rot_euler, rot, facing = _rotation(choice.pose, uniform(r_prod, (0.0, 2 * math.pi)))
        verts = base_mesh(product).vertices @ rot.T
        lo, hi = verts.min(0), verts.max(0)
        items.append((choice, product, rot_euler, facing, lo, hi))
    spots, area = _arrange(
        [float(np.linalg.norm(h[:2] - lo[:2]) / 2) for *_, lo, h in items],
        [float(h[2] - lo[2]) for *_, lo, h in items],
        0.4 * fov,
        0.5 * cam.field_of_view_mm[1] / 1000,
        bg_kind == "tray",
        sc.allow_overlap,
        r_prod,
    )

    # 2) the camera frames the arrangement; the narrowest decal follows from it
    centre = np.mean([xy for xy, _, _ in spots], axis=0)
    reach = max(float(np.linalg.norm(xy - centre)) + r for xy, r, _ in spots)
    fov = min(max(fov, 2.3 * reach), 1.2 * cam.field_of_view_mm[1] / 1000)  # may crop a product
    wd_lo, wd_hi = (x / 1000 for x in cam.working_distance_mm)
    distance = min(max(fov * focal / cam.sensor_width_mm, wd_lo), wd_hi)
    fov = distance * cam.sensor_width_mm / focal
    kinds = [k for k, w in cam.views.items() if w > 0]
    min_elev = (
        90.0 - cam.top_down_tilt_deg if kinds == ["top_down"] else cam.oblique_elevation_deg[0]
    )
    # min_width_px at the farthest point (+25 %) of the most oblique view
    min_width = sc.min_defect_width_px * 1.25 * fov / width / math.sin(math.radians(min_elev))
    objects, support = _background(sc, bg_kind, fov, area, preset, presets, r_bg, r_mat)

    # 3) defects and objects
    next_id = 1
    for j, ((choice, product, rot_euler, facing, lo, hi), spot) in enumerate(
        zip(items, spots + [None] * (len(items) - len(spots)), strict=True)
    ):
        if spot is None:
            continue
        xy, _, z0 = spot
        z0 += support
        centre_off = (lo[:2] + hi[:2]) / 2
        location = [float(xy[0] - centre_off[0]), float(xy[1] - centre_off[1]), float(z0 - lo[2])]
        extent = float(np.sort(hi - lo)[1])  # middle dimension: the visible face's smaller side
        good = is_good(sc, cfg.seed, scene_index, j, r_def)
        n_def = 0 if good else integer(r_def, sc.defects_per_product)
        defects = [
            _defect_params(
                sc,
                defect_type(sc, cfg.seed, scene_index, j * MAX_DEFECT_SLOTS + k, r_def),
                extent,
                r_def,
                min_width,
            )
            for k in range(min(n_def, MAX_DEFECT_SLOTS))
        ]
        params = {
            "product": product,
            "facing": facing.round(9).tolist(),
            "min_width": min_width,
            "offset": MIN_OFFSET,
            "defects": defects,
        }
        material = sample_material(presets, str(r_mat.choice(choice.materials)), r_mat)
        pid = next_id
        next_id += 1

        def geo(part: str, params: dict[str, Any] = params) -> GeometrySpec:
            return GeometrySpec(
                kind="procedural", generator="product_with_defects", params=params, part=part
            )

        pose = {"location": location, "rotation_euler": rot_euler}
        objects.append(
            ObjectSpec(
                name=f"product_{j}",
                instance_id=pid,
                category_id=cfg.category_id(choice.category),
                geometry=geo("product"),
                material=material,
                attributes={"family": choice.family, "good": good, "defects": len(defects)},
                **pose,
            )
        )
        for k, d in enumerate(defects):
            dc = sc.defects[d["type"]]
            mat = (
                sample_material(presets, str(r_mat.choice(dc.materials)), r_mat)
                if dc.materials
                else material
            )
            attrs = {
                "type": d["type"],
                "size_mm": round(d["size"] * 1000, 3),
                "min_pixels": sc.min_defect_pixels,
            }
            if d["type"] in ("dent", "chip"):
                attrs["depth_mm"] = round(d["depth"] * 1000, 3)
            if d["type"] in ("scratch", "crack"):
                attrs["width_mm"] = round(d["width"] * 1000, 3)
            objects.append(
                ObjectSpec(
                    name=f"product_{j}_defect_{k}",
                    instance_id=next_id,
                    category_id=cfg.category_id(dc.category),
                    parent_id=pid,
                    geometry=geo(f"defect_{k}"),
                    material=mat,
                    attributes=attrs,
                    **pose,
                )
            )
            next_id += 1
        if choice.family == "pcb":
            objects.append(
                ObjectSpec(
                    name=f"product_{j}_components",
                    instance_id=next_id,
                    category_id=cfg.category_id("component"),
                    parent_id=pid,
                    geometry=geo("components"),
                    material=sample_material(presets, "ic_package", r_mat),
                    **pose,
                )
            )
            next_id += 1

    target = np.array([centre[0], centre[1], support])
    camera = _camera(sc, width, height, focal, distance, target, r_cam, cfg.render.views_per_scene)
    lights, world = _lights(sc, preset, distance, target, r_light)
    if camera.motion_blur > 0:
        objects = _moving_parts(
            objects, camera.motion_blur, fov / width, sc, stream(cfg.seed, scene_index, "motion")
        )
    return SceneSpec(
        family="defects",
        scene_index=scene_index,
        seed=cfg.seed,
        objects=objects,
        lights=lights,
        world=world,
        camera=camera,
        render=render_spec(cfg, scene_index),
        meta={
            "lighting": preset,
            "background": bg_kind,
            "focal_mm": focal,
            "distance_m": distance,
            "field_of_view_m": fov,
            "min_defect_width_m": min_width,
        },
    )


def _moving_parts(
    objects: list[ObjectSpec],
    shutter: float,
    pixel_m: float,
    sc: DefectsScene,
    rng: np.random.Generator,
) -> list[ObjectSpec]:
    """Parts on a running conveyor: every annotated object (products with their defects
    and components) gets the same in-plane velocity, so it travels
    ``motion_blur_px`` pixels (at the working distance) while the shutter is open."""
    blur_m = uniform(rng, sc.camera.motion_blur_px) * pixel_m
    angle = uniform(rng, (0.0, 2 * math.pi))
    speed = blur_m / shutter  # metres per frame
    velocity = [speed * math.cos(angle), speed * math.sin(angle), 0.0]
    return [
        o.model_copy(update={"velocity": velocity}) if o.instance_id > 0 else o for o in objects
    ]


def _weighted(rng: np.random.Generator, weights: Mapping[Any, float]) -> str:
    names = [k for k, w in weights.items() if w > 0]
    w = np.array([weights[k] for k in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _arrange(
    radii: list[float],
    heights: list[float],
    scale: float,
    max_scale: float,
    tray: bool,
    overlap: bool,
    rng: np.random.Generator,
) -> tuple[list[tuple[np.ndarray, float, float]], tuple[float, float]]:
    """Footprint centres for products of the given radii (metres), all inside a
    rectangle of half extents ``area`` (``scale`` x ``scale``, wider for trays).
    The area grows by 25 % up to ``max_scale`` until every product fits; then the
    products that do not fit are left out (the first one always fits, centred).
    Returns [(xy, radius, resting z above the support)] for the placed prefix, area."""
    placed: list[tuple[np.ndarray, float, float]] = []
    area = (scale, scale)
    scale = min(scale, max_scale)
    for _ in range(8):
        area = (1.25 * scale, scale) if tray else (scale, scale)
        attempt: list[tuple[np.ndarray, float, float]] = []
        stacked: list[tuple[np.ndarray, float, float]] = []
        for r, h in zip(radii, heights, strict=True):
            spot = _place(stacked, r, np.maximum(np.array(area) - r, 0.0), overlap, rng)
            if spot is None:
                break
            attempt.append((spot[0], r, spot[1]))
            stacked.append((spot[0], r, spot[1] + h))
        if len(attempt) > len(placed):
            placed = attempt
        if len(placed) == len(radii) or scale >= max_scale:
            break
        scale = min(1.25 * scale, max_scale)
    return placed, area


def _place(
    placed: list[tuple[np.ndarray, float, float]],
    radius: float,
    half: np.ndarray,
    overlap: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float] | None:
    """A free spot (xy, resting height) with |x|, |y| <= ``half``. With
    ``overlap`` a product may rest partly on others (at their top height)."""
    for _ in range(60):
        xy = rng.uniform(-half, half)
        hits = [p for p in placed if np.linalg.norm(xy - p[0]) < p[1] + radius + 0.004]
        if not hits:
            return xy, 0.0
        if overlap and all(np.linalg.norm(xy - p[0]) > 0.6 * (p[1] + radius) for p in hits):
            return xy, max(p[2] for p in hits) + 1e-5
    return None if placed else (np.zeros(2), 0.0)


def _background(
    sc: DefectsScene,
    kind: str,
    fov: float,
    area: tuple[float, float],
    preset: str,
    presets: dict[str, dict[str, Any]],
    rng: np.random.Generator,
    r_mat: np.random.Generator,
) -> tuple[list[ObjectSpec], float]:
    """Prop objects (instance 0) and the height products rest at."""
    bg = sc.background
    size = 3.5 * max(fov, 2 * area[0])
    if kind == "conveyor":
        ribs = rng.random() < bg.rib_probability
        params = {
            "length": size,
            "width": max(1.6 * fov, 2 * area[1] + 0.02),
            "rib_height": 0.0015 if ribs else 0.0,
            "rib_spacing": uniform(rng, (0.015, 0.03)),
        }
        mat = sample_material(presets, str(r_mat.choice(bg.conveyor_materials)), r_mat)
        objs = [
            ObjectSpec(
                name="conveyor_belt",
                instance_id=0,
                geometry=GeometrySpec(
                    kind="procedural", generator="conveyor", params=params, part="belt"
                ),
                material=mat,
            ),
            ObjectSpec(
                name="conveyor_rails",
                instance_id=0,
                geometry=GeometrySpec(
                    kind="procedural", generator="conveyor", params=params, part="rails"
                ),
                material=sample_material(presets, "steel_table", r_mat),
            ),
        ]
        return objs, support_height("conveyor", params)
    if kind == "tray":
        # the tray's inside holds the products' area (half extents ``area``)
        params = {
            "length": 2 * area[0] + 0.01,
            "width": 2 * area[1] + 0.01,
            "depth": 0.03,
            "wall": 0.004,
        }
        mat = sample_material(presets, str(r_mat.choice(bg.tray_materials)), r_mat)
        floor = ObjectSpec(
            name="floor",
            instance_id=0,
            geometry=GeometrySpec(
                kind="procedural", generator="inspection_table", params={"size": size}, part="table"
            ),
            location=[0.0, 0.0, -0.004],
            material=sample_material(presets, "steel_table", r_mat),
        )
        return [
            ObjectSpec(
                name="tray",
                instance_id=0,
                geometry=GeometrySpec(
                    kind="procedural", generator="tray", params=params, part="tray"
                ),
                material=mat,
            ),
            floor,
        ], 0.0
    name = "backlight_panel" if preset == "back" else str(r_mat.choice(bg.table_materials))
    mat = sample_material(presets, name, r_mat)
    if preset == "back":
        mat = mat.model_copy(
            update={
                "inputs": {
                    **mat.inputs,
                    "Emission Strength": uniform(rng, sc.lighting.back_emission),
                }
            }
        )
    return [
        ObjectSpec(
            name="table",
            instance_id=0,
            geometry=GeometrySpec(
                kind="procedural", generator="inspection_table", params={"size": size}, part="table"
            ),
            material=mat,
        )
    ], 0.0


def _camera(
    sc: DefectsScene,
    width: int,
    height: int,
    focal: float,
    distance: float,
    target: np.ndarray,
    rng: np.random.Generator,
    views: int,
) -> CameraSpec:
    cam = sc.camera
    k = cam_math.intrinsics(focal, cam.sensor_width_mm, width, height)
    poses = []
    for _ in range(views):
        kind = _weighted(rng, cam.views)
        if kind == "top_down":
            elev = 90.0 - uniform(rng, (0.0, cam.top_down_tilt_deg))
        else:
            elev = uniform(rng, cam.oblique_elevation_deg)
        azim = uniform(rng, (0.0, 2 * math.pi))
        eye = cam_math.spherical_eye(target, distance, math.radians(elev), azim)
        up = np.array([math.cos(azim + 1.3), math.sin(azim + 1.3), 0.0]) if elev > 89.0 else None
        pose = cam_math.look_at(eye, target, up)
        poses.append(cam_math.roll(pose, uniform(rng, (-0.2, 0.2))).tolist())
    fstop = focus = None
    if rng.random() < cam.defocus_probability:
        fstop, focus = uniform(rng, cam.fstop), distance
    blur = (
        uniform(rng, cam.motion_blur_shutter) if rng.random() < cam.motion_blur_probability else 0.0
    )
    return CameraSpec(
        width=width,
        height=height,
        K=k.tolist(),
        poses=poses,
        clip_start=0.005,
        clip_end=20.0,
        fstop=fstop,
        focus_distance=focus,
        motion_blur=blur,
    )


def _lights(
    sc: DefectsScene, preset: str, distance: float, target: np.ndarray, rng: np.random.Generator
) -> tuple[list[LightSpec], WorldSpec]:
    lc = sc.lighting
    color = kelvin_to_rgb(uniform(rng, lc.temperature_k))
    scale = (distance / 0.3) ** 2  # powers in the config are for a 0.3 m working distance
    lights: list[LightSpec] = []

    def add(kind: str, loc: np.ndarray, energy: float, **kw: Any) -> None:
        lights.append(
            LightSpec(
                type=kind,
                location=loc.tolist(),
                rotation_euler=aim_neg_z(loc, target),
                energy=energy * scale,
                color=color,
                **kw,
            )
        )

    if preset in ("ring", "back"):
        n, rad, h = 12, uniform(rng, (0.15, 0.35)) * distance, 0.9 * distance
        power = uniform(rng, lc.ring_power_w) * (0.3 if preset == "back" else 1.0)
        for i in range(n):
            a = 2 * math.pi * i / n
            add("POINT", target + [rad * math.cos(a), rad * math.sin(a), h], power, size=0.004)
    elif preset == "dome":
        for i in range(5):
            a = 2 * math.pi * i / 5 + rng.uniform(0, 1)
            e = math.radians(uniform(rng, (35.0, 80.0)))
            loc = target + distance * np.array(
                [math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)]
            )
            add("AREA", loc, uniform(rng, lc.dome_power_w), size=0.6 * distance, shape="DISK")
    else:  # raking: low-angle light bars from one or two sides, a weak fill from above
        a0 = uniform(rng, (0.0, 2 * math.pi))
        for i in range(int(rng.integers(1, 3))):
            a = a0 + i * math.pi * uniform(rng, (0.5, 1.0))
            e = math.radians(uniform(rng, lc.raking_elevation_deg))
            loc = target + 0.7 * distance * np.array(
                [math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)]
            )
            add(
                "AREA",
                loc,
                uniform(rng, lc.raking_power_w),
                size=0.5 * distance,
                shape="RECTANGLE",
                size_y=0.05 * distance,
            )
        add(
            "AREA",
            target + [0.0, 0.0, 1.2 * distance],
            0.2 * uniform(rng, lc.dome_power_w),
            size=0.5 * distance,
            shape="DISK",
        )
    world = WorldSpec(color=color, strength=uniform(rng, lc.ambient))
    return lights, world
