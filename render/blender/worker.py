"""Entry points run inside a driver's worker process (the only place Blender runs).

The driver names this module as its renderer: ``init(device)`` once per process,
then ``render(spec)`` per scene. Keeping Blender in worker processes means a crash
or leak in Blender never takes down the driver, and a worker can be recycled.

Blender and BlenderProc print a lot on stdout/stderr; ``init`` sends the worker's
file descriptors 1 and 2 to ``$SYNTHCV_LOG_DIR/worker-<pid>.log`` (the driver sets
it to ``DIR/logs``; default: the system temp dir), so the terminal keeps only the
driver's progress bar and errors travel back to the driver as exceptions.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from render.spec import SceneSpec
from render.views import SceneRender


def _redirect_output() -> str:
    log_dir = Path(
        os.environ.get("SYNTHCV_LOG_DIR") or Path(tempfile.gettempdir()) / "synthcv-logs"
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"worker-{os.getpid()}.log"
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return str(path)


def init(device: str) -> dict[str, Any]:
    """Bootstrap BlenderProc in this process and select the device; returns info
    (``device``, ``gpus``, ``blender``, ``blenderproc``, ``log``)."""
    log = _redirect_output() if os.environ.get("SYNTHCV_WORKER_STDOUT") != "1" else None
    from render.blender import backend

    info = backend.setup(device)
    info["log"] = log
    threads = os.environ.get("SYNTHCV_THREADS")  # set by the executor (--threads)
    if threads:
        import bpy

        bpy.context.scene.render.threads_mode = "FIXED"
        bpy.context.scene.render.threads = int(threads)
        info["threads"] = int(threads)
    return info


def render(spec: SceneSpec) -> SceneRender:
    """Render every view of ``spec``."""
    from render.blender import backend

    return backend.render_spec(spec)
