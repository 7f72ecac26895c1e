"""The per-scene task every executor runs, in whatever process renders.

:func:`render_scene` takes the renderer module's name as an argument (default
``render.blender.worker``; tests pass ``tests.fake_renderer``), imports it and
calls its ``init(device) -> dict`` once per process, then ``render(spec) ->
SceneRender`` per scene, and writes the scene itself with
``render.dataset.write_scene`` (atomic files, the shard last), so writing scales
with the workers and a shared output directory is all a cluster needs. It never
raises for a scene: the result is a small JSON-able dict, an error included, so
no exception (nor the module that defines it, e.g. Blender's) has to be unpickled
by the driver.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from render import dataset, shards
from render.config import Config
from render.errors import UserError
from render.spec import SceneSpec

TRACEBACK_TAIL = 2000
"""Characters of a failed scene's traceback kept for ``failures.jsonl``."""

_renderers: dict[tuple[str, str], tuple[ModuleType, dict[str, Any]] | BaseException] = {}
_configs: dict[str, Config] = {}


class WorkerInitError(UserError):
    """The renderer module could not be imported or initialised in a worker."""


def rss_mib() -> float:
    """This process's resident set size (MiB), from /proc; 0.0 where unavailable."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def start_renderer(renderer: str, device: str) -> dict[str, Any]:
    """Import ``renderer`` and call its ``init(device)`` once per process; returns its
    info plus ``pid``, ``renderer`` and ``cuda_visible_devices``. A failure is kept
    and raised again as :class:`WorkerInitError` (a UserError as it was) each call."""
    key = (renderer, device)
    if key not in _renderers:
        try:
            module = importlib.import_module(renderer)
            info = dict(module.init(device) or {})
        except BaseException as exc:  # noqa: BLE001 - raised again below, with its message
            _renderers[key] = exc
        else:
            info.update(
                pid=os.getpid(),
                renderer=renderer,
                cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            )
            _renderers[key] = (module, info)
    state = _renderers[key]
    if isinstance(state, BaseException):
        if isinstance(state, UserError):
            raise state
        raise WorkerInitError(
            f"renderer could not start in the worker process: {type(state).__name__}: {state}"
        )
    return state[1]


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def render_scene(
    renderer: str,
    device: str,
    spec_json: str,
    cfg_json: str,
    out_dir: str,
    started_dir: str | None = None,
) -> dict[str, Any]:
    """Render scene ``spec_json`` with ``renderer`` and write it into ``out_dir``.

    ``started_dir``: where to touch a file named after the scene index before
    rendering (the local executor charges a worker crash to the scenes that had
    started). Returns ``{"scene_index", "ok": True, "summary": write_scene's summary
    plus wall_s, render_wall_s and rss_mib, "worker": init info}`` or ``{"scene_index",
    "ok": False, "error": ``Type: message`` on one line, "message", "traceback": its tail, "errno": int or None,
    "fatal": bool}`` (fatal: the renderer cannot start, or a UserError).
    """
    spec = SceneSpec.model_validate_json(spec_json)
    scene = spec.scene_index
    try:
        info = start_renderer(renderer, device)
        module = _renderers[(renderer, device)][0]  # type: ignore[index]
        if started_dir is not None:
            Path(started_dir, str(scene)).touch()
        cfg = _configs.get(cfg_json)
        if cfg is None:
            cfg = _configs[cfg_json] = Config.model_validate_json(cfg_json)
        t0 = time.perf_counter()
        result = module.render(spec)
        t1 = time.perf_counter()
        summary = dataset.write_scene(Path(out_dir), spec, result, cfg)
    except Exception as exc:  # a scene's failure is data for the driver, never a crash
        return {
            "scene_index": scene,
            "ok": False,
            "error": _one_line(exc),
            "message": " ".join(str(exc).split()),
            "traceback": "".join(traceback.format_exception(exc))[-TRACEBACK_TAIL:],
            "errno": exc.errno if isinstance(exc, OSError) else None,
            "fatal": isinstance(exc, UserError),
        }
    summary["wall_s"] = time.perf_counter() - t0
    summary["render_wall_s"] = t1 - t0
    summary["rss_mib"] = rss_mib()
    return {"scene_index": scene, "ok": True, "summary": summary, "worker": info}


def committed_summary(out_dir: str, scene: int) -> dict[str, Any] | None:
    """The summary of scene ``scene`` if its shard is committed in ``out_dir`` (an
    executor lost its result, e.g. a cluster task died after writing it), else None."""
    path = shards.shard_path(Path(out_dir), scene)
    shard = shards.read_shard(scene, path)
    if shard is None:
        return None
    return {
        "scene_index": scene,
        "images": len(shard["images"]),
        "annotations": len(shard["annotations"]),
        "category_counts": shard.get("category_counts", {}),
        "timings": shard.get("timings", {}),
        "bytes": path.stat().st_size,
    }
