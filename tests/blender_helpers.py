"""Helpers for the tests that run real (tiny) Blender renders in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from render import camera as cm
from render.spec import (
    CameraSpec,
    GeometrySpec,
    LightSpec,
    MaterialSpec,
    ObjectSpec,
    RenderSpec,
    SceneSpec,
    WorldSpec,
)

RUNNER = Path(__file__).with_name("blender_runner.py")


def render_specs(
    specs: list[SceneSpec], tmp_path: Path, timeout: float = 300, device: str = "cpu"
) -> dict[str, np.ndarray]:
    """Render specs in one fresh worker-like process on ``device``; it must exit 0."""
    paths = []
    for i, spec in enumerate(specs):
        p = tmp_path / f"spec_{i}.json"
        p.write_text(spec.model_dump_json())
        paths.append(str(p))
    out = tmp_path / "out.npz"
    proc = subprocess.run(
        [sys.executable, str(RUNNER), str(out), *paths],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "SYNTHCV_TEST_DEVICE": device},
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"render process exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    data = dict(np.load(out))
    data["info"] = json.loads(str(data["info"]))
    return data


def cube_scene(
    size: float = 0.5,
    location: tuple[float, float, float] = (0.0, 0.0, 0.4),
    rotation: tuple[float, float, float] = (0.3, 0.2, 0.5),
    eye: tuple[float, float, float] = (2.0, -2.2, 1.6),
    res: int = 64,
    samples: int = 4,
    seed: int = 1,
) -> tuple[SceneSpec, np.ndarray, np.ndarray]:
    """A cube of known size and pose floating in front of a known camera (no ground,
    so nothing occludes it). Returns (spec, K, camera pose)."""
    K = cm.intrinsics(35.0, 36.0, res, res)
    pose = cm.look_at(np.array(eye), np.array(location))
    spec = SceneSpec(
        family="test",
        scene_index=0,
        seed=0,
        objects=[
            ObjectSpec(
                name="cube",
                instance_id=1,
                category_id=1,
                geometry=GeometrySpec(
                    kind="procedural", generator="box", params={"size": [size] * 3}, part="body"
                ),
                location=list(location),
                rotation_euler=list(rotation),
                material=MaterialSpec(base_color=[0.7, 0.3, 0.2], roughness=0.5, texture="none"),
            )
        ],
        lights=[
            LightSpec(type="POINT", location=[1.0, -2.0, 3.0], energy=400.0, color=[1.0, 1.0, 1.0])
        ],
        world=WorldSpec(color=[1.0, 1.0, 1.0], strength=0.4),
        camera=CameraSpec(width=res, height=res, K=K.tolist(), poses=[pose.tolist()]),
        render=RenderSpec(samples=samples, denoiser="none", cycles_seed=seed),
    )
    return spec, K, pose


def top_down_scene(
    objects: list[ObjectSpec],
    target: np.ndarray,
    samples: int,
    res: int = 96,
    across: float = 0.024,
) -> SceneSpec:
    """``objects`` seen from straight above ``target`` (a 50 mm lens on an 8.8 mm
    sensor, ``across`` metres wide in the image, ``res`` px square) under a uniform
    white world, no lamps, OIDN."""
    pose = cm.look_at(target + [1e-4, 0.0, across * 50 / 8.8], target, np.array([0.0, 1.0, 0.0]))
    return SceneSpec(
        family="test",
        scene_index=0,
        seed=0,
        objects=objects,
        lights=[],
        world=WorldSpec(color=[1.0, 1.0, 1.0], strength=1.0),
        camera=CameraSpec(
            width=res,
            height=res,
            K=cm.intrinsics(50.0, 8.8, res, res).tolist(),
            poses=[pose.tolist()],
        ),  # fmt: skip
        render=RenderSpec(samples=samples, denoiser="oidn", cycles_seed=1),
    )


def euler_matrix(rx: float, ry: float, rz: float) -> np.ndarray:
    """Blender's XYZ Euler rotation matrix (R = Rz @ Ry @ Rx)."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


def analytic_cube_mask(
    size: float, location, rotation, K: np.ndarray, pose: np.ndarray, res: int
) -> np.ndarray:
    """Pixels whose centre falls inside the projected cube (convex hull of the 8 corners)."""
    from scipy.spatial import ConvexHull, Delaunay

    h = size / 2
    corners = np.array([[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)])
    world = corners @ euler_matrix(*rotation).T + np.asarray(location)
    uv, z = cm.project(world, K, pose)
    if (z <= 0).any():
        raise ValueError("cube behind the camera")
    hull = Delaunay(uv[ConvexHull(uv).vertices])
    ys, xs = np.mgrid[0:res, 0:res]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    return (hull.find_simplex(centres) >= 0).reshape(res, res)
