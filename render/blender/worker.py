"""Entry points run inside a driver's worker process (the only place Blender runs).

The driver names this module as its renderer: ``init(device)`` once per process,
then ``render(spec)`` per scene. Keeping Blender in worker processes means a crash
or leak in Blender never takes down the driver, and a worker can be recycled.
"""

from __future__ import annotations

from typing import Any

from render.spec import SceneSpec
from render.views import SceneRender


def init(device: str) -> dict[str, Any]:
    """Bootstrap BlenderProc in this process and select the device; returns info
    (``device``, ``gpus``, ``blender``, ``blenderproc``)."""
    from render.blender import backend

    return backend.setup(device)


def render(spec: SceneSpec) -> SceneRender:
    """Render every view of ``spec``."""
    from render.blender import backend

    return backend.render_spec(spec)
