"""Generic family: primitives and meshes on a ground plane.

``scene.placement``:
- ``rest`` (default): each object lies on a stable face of its convex hull on the
  ground (face chosen by a sampled number, see :mod:`render.geometry.rest`), at xy
  positions whose bounding circles do not overlap. Fully deterministic.
- ``physics``: objects start above the ground and are settled by Blender's
  rigid-body simulation. Start positions never overlap: each object's bounding
  sphere (radius ``size * sqrt(3) / 2``) is lifted above any sphere it would
  intersect. Bullet is not reproducible across processes; the settled poses are
  recorded in ``scenes/NNNNNN.json`` and replay reuses them.
- ``float``: objects stay where sampled (start positions as for physics).
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path
from typing import Literal

import numpy as np

from render import camera as cam_math
from render.families.base import Job
from render.families.common import integer, kelvin_to_rgb, render_spec, srgb_to_linear, uniform
from render.families.generic.config import (
    CameraConfig,
    GenericScene,
    LightsConfig,
    MaterialConfig,
    ShapeConfig,
    WorldConfig,
)
from render.geometry.rotations import aim_neg_z, random_rotation_euler
from render.seeding import stream
from render.settings import RenderConfig
from render.spec import (
    CameraSpec,
    GeometrySpec,
    LightSpec,
    MaterialSpec,
    ObjectSpec,
    RestSpec,
    SceneSpec,
    ShapeInfo,
    WorldSpec,
)

_SMOOTH_PRIMITIVES = {"SPHERE", "MONKEY"}
_GAP = 0.01  # metres between stacked bounding spheres


def shape_label(shape: ShapeConfig) -> str:
    """Object-name prefix of a shape: ``name``, else the primitive or mesh stem, lower case."""
    if shape.name:
        return shape.name
    if shape.primitive is not None:
        return shape.primitive.lower()
    return Path(shape.mesh or "mesh").stem.lower()


def _geometry(shape: ShapeConfig, size: float) -> GeometrySpec:
    if shape.primitive is not None:
        return GeometrySpec(
            kind="primitive",
            primitive=shape.primitive,
            size=size,
            smooth=shape.primitive in _SMOOTH_PRIMITIVES,
        )
    return GeometrySpec(
        kind="mesh_file",
        path=shape.mesh,
        unit_scale=shape.unit_scale,
        up_axis=shape.up_axis,
        size=size,
    )


def place_without_overlap(
    xy: np.ndarray, radii: np.ndarray, base_z: np.ndarray, gap: float = _GAP
) -> np.ndarray:
    """Centres (N, 3) for spheres of ``radii`` (N,) at ``xy`` (N, 2): sphere i starts
    at ``base_z[i] + radii[i]`` and is lifted to rest ``gap`` above every earlier
    sphere it would intersect. Deterministic; metres."""
    centres = np.zeros((len(radii), 3))
    for i in range(len(radii)):
        z = float(base_z[i] + radii[i])
        moved = True
        while moved:  # z only grows, and there are finitely many earlier spheres
            moved = False
            for j in range(i):
                dxy = float(np.hypot(*(xy[i] - centres[j, :2])))
                need = radii[i] + radii[j] + gap
                if dxy >= need:
                    continue
                rise = math.sqrt(need**2 - dxy**2)
                if abs(z - centres[j, 2]) < rise and centres[j, 2] + rise > z:
                    z = float(centres[j, 2] + rise)
                    moved = True
        centres[i] = (xy[i, 0], xy[i, 1], z)
    return centres


def place_on_ground(rng: np.random.Generator, radii: np.ndarray, spread: float) -> np.ndarray:
    """xy centres (N, 2) for discs of ``radii`` (N,) that do not overlap, uniform in a
    disc of radius ``spread`` (metres); the disc grows by 10% whenever 50 tries fail."""
    xy = np.zeros((len(radii), 2))
    r_max = spread
    for i, r in enumerate(radii):
        for attempt in range(10_000):
            if attempt and attempt % 50 == 0:
                r_max *= 1.1
            rad = r_max * math.sqrt(float(rng.random()))
            ang = float(rng.uniform(0.0, 2 * math.pi))
            p = np.array([rad * math.cos(ang), rad * math.sin(ang)])
            if all(np.hypot(*(p - xy[j])) >= r + radii[j] for j in range(i)):
                xy[i] = p
                break
    return xy


def sample_material(cfg: MaterialConfig, rng: np.random.Generator) -> MaterialSpec:
    """A procedural noise-textured principled material.

    Hue, saturation and value are drawn in HSV of the sRGB display colour, then
    converted to the linear ``base_color`` Blender expects."""
    h = uniform(rng, cfg.hue) % 1.0
    s = uniform(rng, cfg.saturation)
    v = uniform(rng, cfg.value)
    srgb = colorsys.hsv_to_rgb(h, s, v)
    return MaterialSpec(
        base_color=[srgb_to_linear(c) for c in srgb],
        roughness=uniform(rng, cfg.roughness),
        metallic=uniform(rng, cfg.metallic),
        texture="noise",
        noise_scale=uniform(rng, cfg.noise_scale),
        bump_strength=uniform(rng, cfg.bump_strength),
    )


def sample_lights(
    cfg: LightsConfig, rng: np.random.Generator, target: np.ndarray
) -> list[LightSpec]:
    """``cfg.count`` lights on a sphere around ``target`` (world (3,), metres), each
    rotated so its -Z axis points at the target.

    ``energy`` is watts for POINT/AREA/SPOT and W/m^2 for SUN; ``spot_angle`` is the
    full cone angle in radians; ``size`` is the area light's edge (metres)."""
    target = np.asarray(target, dtype=np.float64)
    lights: list[LightSpec] = []
    for _ in range(integer(rng, cfg.count)):
        kind = cfg.types[int(rng.integers(len(cfg.types)))]
        dist = uniform(rng, cfg.distance)
        elev = math.radians(uniform(rng, cfg.elevation_deg))
        azim = math.radians(float(rng.uniform(0.0, 360.0)))
        loc = cam_math.spherical_eye(target, dist, elev, azim)
        power = uniform(rng, cfg.power_w)
        sun = uniform(rng, cfg.sun_strength)
        size = uniform(rng, cfg.area_size)
        spot = math.radians(uniform(rng, cfg.spot_angle_deg))
        color = kelvin_to_rgb(uniform(rng, cfg.temperature_k))
        lights.append(
            LightSpec(
                type=kind,
                location=[float(x) for x in loc],
                rotation_euler=aim_neg_z(loc, target),
                energy=sun if kind == "SUN" else power,
                color=color,
                size=size if kind == "AREA" else 0.1,
                spot_angle=spot,
            )
        )
    return lights


def sample_world(cfg: WorldConfig, rng: np.random.Generator) -> WorldSpec:
    """Uniform environment light: black-body colour, strength in Blender units."""
    strength = uniform(rng, cfg.strength)
    return WorldSpec(color=kelvin_to_rgb(uniform(rng, cfg.temperature_k)), strength=strength)


def sample_cameras(
    cam: CameraConfig, render: RenderConfig, rng: np.random.Generator, target: np.ndarray
) -> CameraSpec:
    """``render.views_per_scene`` poses looking at ``target`` (world (3,), metres)
    jittered per view by up to ``cam.look_at_jitter`` metres per axis.

    One focal length per scene gives one K (3x3, pixels, principal point at
    W/2, H/2); poses are 4x4 camera-to-world, OpenCV convention."""
    width, height = render.resolution
    focal = uniform(rng, cam.focal_length_mm)
    k = cam_math.intrinsics(focal, cam.sensor_width_mm, width, height)
    target = np.asarray(target, dtype=np.float64)
    poses: list[list[list[float]]] = []
    for _ in range(render.views_per_scene):
        dist = uniform(rng, cam.distance)
        elev = math.radians(uniform(rng, cam.elevation_deg))
        azim = math.radians(uniform(rng, cam.azimuth_deg))
        rol = math.radians(uniform(rng, cam.roll_deg))
        jitter = rng.uniform(-cam.look_at_jitter, cam.look_at_jitter, size=3)
        aim = target + jitter
        eye = cam_math.spherical_eye(aim, dist, elev, azim)
        pose = cam_math.roll(cam_math.look_at(eye, aim), rol)
        poses.append(pose.tolist())
    return CameraSpec(width=width, height=height, K=k.tolist(), poses=poses)


def sample_generic(cfg: Job, scene_index: int) -> SceneSpec:
    """The SceneSpec of generic scene ``scene_index``: a ground plane (instance 0,
    not annotated) and N annotated objects (instance ids 1..N)."""
    scene = cfg.scene
    if not isinstance(scene, GenericScene):
        raise TypeError(f"sample_generic needs a generic scene, got family {scene.family!r}")
    rng_obj = stream(cfg.seed, scene_index, "objects")
    rng_mat = stream(cfg.seed, scene_index, "materials")
    use_physics = scene.placement == "physics"
    physics: Literal["active", "none"] = "active" if use_physics else "none"

    count = int(rng_obj.integers(scene.objects[0], scene.objects[1] + 1))
    weights = np.array([s.weight for s in scene.shapes], dtype=np.float64)
    choice = rng_obj.choice(len(scene.shapes), size=count, p=weights / weights.sum())
    sizes = np.array([uniform(rng_obj, scene.shapes[c].size) for c in choice])
    # Uniform in a disc of radius `spread`.
    radius = scene.spread * np.sqrt(rng_obj.random(count))
    angle = rng_obj.uniform(0.0, 2 * math.pi, count)
    xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    drops = np.array([uniform(rng_obj, scene.drop_height) for _ in range(count)])
    rotations = [random_rotation_euler(rng_obj) for _ in range(count)]
    radii = sizes * math.sqrt(3) / 2
    if scene.placement == "rest":
        xy = place_on_ground(rng_obj, radii, scene.spread)
        centres = np.column_stack([xy, np.zeros(count)])
        rests: list[RestSpec | None] = [
            RestSpec(u=float(rng_obj.random()), yaw=float(rng_obj.uniform(-math.pi, math.pi)))
            for _ in range(count)
        ]
    else:
        centres = place_without_overlap(xy, radii, drops)
        rests = [None] * count

    ground = ObjectSpec(
        name="ground",
        instance_id=0,
        geometry=GeometrySpec(kind="primitive", primitive="PLANE", size=scene.ground.size),
        material=sample_material(scene.ground.material, rng_mat),
        physics="passive" if use_physics else "none",
    )
    objects = [ground]
    for i in range(count):
        shape = scene.shapes[int(choice[i])]
        label = shape_label(shape)
        objects.append(
            ObjectSpec(
                name=f"{label}_{i + 1:03d}",
                instance_id=i + 1,
                category_id=cfg.category_id(shape.category),
                geometry=_geometry(shape, float(sizes[i])),
                location=[float(v) for v in centres[i]],
                rotation_euler=rotations[i],
                material=sample_material(scene.materials, rng_mat),
                physics=physics,
                rest=rests[i],
                info=ShapeInfo(shape=label),
            )
        )

    # Objects settle near their start xy; the camera aims at the pile's centre.
    target = np.array([*xy.mean(axis=0), float(np.median(sizes)) / 2])
    return SceneSpec(
        family="generic",
        scene_index=scene_index,
        seed=cfg.seed,
        objects=objects,
        lights=sample_lights(scene.lights, stream(cfg.seed, scene_index, "lights"), target),
        world=sample_world(scene.world, stream(cfg.seed, scene_index, "world")),
        camera=sample_cameras(
            scene.camera, cfg.render, stream(cfg.seed, scene_index, "camera"), target
        ),
        render=render_spec(cfg, scene_index),
        physics=use_physics,
        meta={"num_objects": count, "target": [float(v) for v in target]},
    )
