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

import math
from pathlib import Path
from typing import Literal

import numpy as np

from render.config import Config, GenericScene, ShapeConfig
from render.families.common import (
    random_rotation_euler,
    render_spec,
    sample_cameras,
    sample_lights,
    sample_material,
    sample_world,
    uniform,
)
from render.seeding import stream
from render.spec import GeometrySpec, ObjectSpec, RestSpec, SceneSpec

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


def sample_generic(cfg: Config, scene_index: int) -> SceneSpec:
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
                attributes={"shape": label},
            )
        )

    # Objects settle near their start xy; the camera aims at the pile's centre.
    target = np.array([*xy.mean(axis=0), float(np.median(sizes)) / 2])
    return SceneSpec(
        family="generic",
        scene_index=scene_index,
        seed=cfg.seed,
        objects=objects,
        lights=sample_lights(cfg.lights, stream(cfg.seed, scene_index, "lights"), target),
        world=sample_world(cfg.world, stream(cfg.seed, scene_index, "world")),
        camera=sample_cameras(
            cfg.camera, cfg.render, stream(cfg.seed, scene_index, "camera"), target
        ),
        render=render_spec(cfg, scene_index),
        physics=use_physics,
        meta={"num_objects": count, "target": [float(v) for v in target]},
    )
