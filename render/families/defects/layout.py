"""The inspection set-up of a defects scene: product arrangement, background props,
machine-vision camera, QC light presets, conveyor motion (pure Python).

Frames and units: world Z up, metres, radians; camera poses are camera-to-world,
OpenCV convention. Every function takes its ``numpy.random.Generator`` explicitly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from render import camera as cam_math
from render.families.common import kelvin_to_rgb, uniform, weighted_choice
from render.families.defects.config import DefectsScene
from render.families.defects.geometry.props import support_height
from render.families.defects.materials import sample_material
from render.geometry.rotations import aim_neg_z
from render.spec import CameraSpec, GeometrySpec, LightSpec, ObjectSpec, WorldSpec


def moving_parts(
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


def arrange(
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


def background(
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


def inspection_camera(
    sc: DefectsScene,
    width: int,
    height: int,
    focal: float,
    distance: float,
    target: np.ndarray,
    rng: np.random.Generator,
    views: int,
    sensor_width_mm: float,
    mm_per_px: float,
) -> CameraSpec:
    """The camera of a scene: ``views`` poses aimed at ``target`` from ``distance``
    (top-down or oblique), intrinsics of a ``focal`` mm lens on a sensor
    ``sensor_width_mm`` wide imaged at ``width`` x ``height``; depth of field and
    motion blur as drawn; ``mm_per_px`` recorded for the annotations."""
    cam = sc.camera
    k = cam_math.intrinsics(focal, sensor_width_mm, width, height)
    poses = []
    for _ in range(views):
        kind = weighted_choice(rng, cam.views)
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
        mm_per_px=mm_per_px,
    )


def qc_lights(
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
