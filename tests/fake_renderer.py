"""A pure-numpy stand-in for ``render.blender.worker`` (driver and CLI tests only).

It paints each annotated object's projected bounding box (the 8 corners of a cube
of edge ``geometry.size`` around its location) into the instance map, far objects
first so nearer ones win, with a flat colour from the object's material and a
constant depth (the object's camera-frame z). It is deterministic, so two runs of
the same spec give identical outputs. It never replaces real render tests.

Environment (read in the worker process; the Ray executor passes the driver's
``SYNTHCV_*`` variables to its tasks):
- ``SYNTHCV_FAKE_CRASH=SCENE:MARKER`` — when rendering scene ``SCENE`` and the file
  ``MARKER`` does not exist yet, create it and die with SIGSEGV (crash once).
- ``SYNTHCV_FAKE_CRASH_ALWAYS=SCENE`` — die with SIGSEGV on every attempt at ``SCENE``.
- ``SYNTHCV_FAKE_ERROR=SCENE`` — raise RuntimeError on ``SCENE`` (a Python error).
- ``SYNTHCV_FAKE_DELAY=SECONDS`` — sleep this long per scene.
- ``SYNTHCV_FAKE_RENDER_ERROR=SCENE`` — raise ``render.errors.RenderError`` on ``SCENE``
  (what the Blender backend raises; unpickling it must not import Blender).
- ``SYNTHCV_FAKE_KILL=SCENE`` — die with SIGKILL on ``SCENE`` (as the kernel's OOM
  killer does).
- ``SYNTHCV_FAKE_FILL=SCENE:PATH`` — before rendering ``SCENE``, fill the disk that
  holds ``PATH`` by writing ``PATH`` until it is full (another process filled it).
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from render.camera import project
from render.spec import SceneSpec
from render.views import SceneRender, ViewResult

BACKGROUND_DEPTH = 20.0  # metres; finite so depth encoders see real numbers


def init(device: str) -> dict[str, Any]:
    """Pretend to start Blender; returns the info a real worker reports, plus the
    environment the executor gave it (GPU pinning and thread count)."""
    return {
        "device": f"fake-{device}",
        "blender": "fake",
        "pid": os.getpid(),
        "env_cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "env_threads": os.environ.get("SYNTHCV_THREADS"),
    }


def _maybe_fail(scene: int) -> None:
    crash = os.environ.get("SYNTHCV_FAKE_CRASH")
    if crash:
        index, marker = crash.split(":", 1)
        if int(index) == scene and not Path(marker).exists():
            Path(marker).touch()
            os.kill(os.getpid(), signal.SIGSEGV)
    always = os.environ.get("SYNTHCV_FAKE_CRASH_ALWAYS")
    if always and int(always) == scene:
        os.kill(os.getpid(), signal.SIGSEGV)
    error = os.environ.get("SYNTHCV_FAKE_ERROR")
    if error and int(error) == scene:
        raise RuntimeError(f"fake renderer error on scene {scene}")
    render_error = os.environ.get("SYNTHCV_FAKE_RENDER_ERROR")
    if render_error and int(render_error) == scene:
        from render.errors import RenderError

        raise RenderError(f"scene {scene}: the file contains no mesh")
    kill = os.environ.get("SYNTHCV_FAKE_KILL")
    if kill and int(kill) == scene:
        os.kill(os.getpid(), signal.SIGKILL)
    fill = os.environ.get("SYNTHCV_FAKE_FILL")
    if fill:
        index, target = fill.split(":", 1)
        if int(index) == scene and not Path(target).exists():
            with open(target, "wb") as handle:
                try:
                    while True:
                        handle.write(b"\0" * 2**20)
                        handle.flush()
                except OSError:
                    pass
    delay = float(os.environ.get("SYNTHCV_FAKE_DELAY", "0") or 0)
    if delay > 0:
        time.sleep(delay)


def render_view(spec: SceneSpec, view: int) -> ViewResult:
    """One view: rgb uint8 (H, W, 3), depth float32 (H, W) metres, instance int32 (H, W)."""
    cam = spec.camera
    h, w = cam.height, cam.width
    K = np.asarray(cam.K)
    pose = np.asarray(cam.poses[view])
    world = np.clip(np.asarray(spec.world.color) * 0.5, 0, 1)
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = np.round(world * 255).astype(np.uint8)
    depth = np.full((h, w), BACKGROUND_DEPTH, np.float32)
    instance = np.zeros((h, w), np.int32)
    boxes = []
    for obj in spec.annotated():
        half = (obj.geometry.size or 0.2) / 2
        corners = np.array(list(itertools.product((-half, half), repeat=3))) + obj.location
        uv, z = project(corners, K, pose)
        if np.any(z <= 0):
            continue  # behind the camera: not drawn
        x0, y0 = np.floor(uv.min(axis=0)).astype(int)
        x1, y1 = np.ceil(uv.max(axis=0)).astype(int)
        x0, x1 = max(x0, 0), min(x1, w)
        y0, y1 = max(y0, 0), min(y1, h)
        if x0 < x1 and y0 < y1:
            boxes.append((float(z.mean()), obj, (x0, y0, x1, y1)))
    for z, obj, (x0, y0, x1, y1) in sorted(boxes, key=lambda b: (-b[0], b[1].instance_id)):
        instance[y0:y1, x0:x1] = obj.instance_id
        depth[y0:y1, x0:x1] = z
        rgb[y0:y1, x0:x1] = np.round(np.clip(obj.material.base_color, 0, 1) * 255).astype(np.uint8)
    return ViewResult(rgb=rgb, depth=depth, instance=instance, timings={"render_s": 0.0})


def _extents(spec: SceneSpec) -> dict[int, list[list[float] | None]]:
    """Each annotated cube's extent in every pose's whole frame (tiled scenes)."""
    if not spec.camera.tiles:
        return {}
    out: dict[int, list[list[float] | None]] = {}
    for obj in spec.annotated():
        half = (obj.geometry.size or 0.2) / 2
        corners = np.array(list(itertools.product((-half, half), repeat=3))) + obj.location
        boxes: list[list[float] | None] = []
        for pose in spec.camera.poses:
            uv, z = project(corners, np.asarray(spec.camera.K), np.asarray(pose))
            boxes.append(
                None if np.any(z <= 0) else [*map(float, uv.min(0)), *map(float, uv.max(0))]
            )
        out[obj.instance_id] = boxes
    return out


def render(spec: SceneSpec) -> SceneRender:
    """Every view of ``spec`` (a tile: the crop of its pose's whole frame); object
    poses are the spec's own (no physics)."""
    _maybe_fail(spec.scene_index)
    whole = {p: render_view(spec, p) for p in {p for p, _ in spec.camera.views()}}
    views = []
    for p, tile in spec.camera.views():
        full = whole[p]
        if tile is None:
            views.append(full)
            continue
        rows, cols = slice(tile.y, tile.y + tile.height), slice(tile.x, tile.x + tile.width)
        views.append(ViewResult(rgb=full.rgb[rows, cols].copy(), depth=full.depth[rows, cols].copy(),
                                instance=full.instance[rows, cols].copy(), timings=full.timings))  # fmt: skip
    poses = {}
    for obj in spec.objects:
        m = np.eye(4)
        m[:3, 3] = obj.location
        poses[obj.name] = m.tolist()
    return SceneRender(views=views, object_poses=poses, frame_extents=_extents(spec),
                       timings={"build_s": 0.0})  # fmt: skip
