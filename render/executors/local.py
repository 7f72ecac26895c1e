"""Local executor: render scenes in a pool of worker processes on this machine.

Blender runs only in worker processes (``spawn`` context, even for one worker): a
segfault or leak in Blender never takes down the driver. Each worker imports the
``renderer`` module, calls its ``init(device) -> dict`` once, then per scene
``render(spec) -> SceneRender`` and writes the scene itself with
``render.dataset.write_scene`` (so writing scales with workers); only a small
summary dict comes back. Workers die with the driver, even when it is killed
(Linux ``PR_SET_PDEATHSIG``), so no render outlives its command.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import importlib
import json
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from render import dataset
from render.config import Config
from render.errors import UserError
from render.spec import SceneSpec

_PR_SET_PDEATHSIG = 1


class WorkerInitError(UserError):
    """The renderer module could not be imported or initialised in a worker."""


class Plan(Protocol):
    """What a round pulls scenes from: ``next()`` gives a scene index or None."""

    def next(self) -> int | None: ...


# --------------------------------------------------------------------------- worker side


class _WorkerState:
    module: ModuleType | None = None
    info: dict[str, Any] = {}
    error: BaseException | None = None
    configs: dict[str, Config] = {}


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the driver dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        return
    if os.getppid() == 1:  # the driver died before we asked
        os._exit(1)


def _init_worker(renderer: str, device: str, log_dir: str, info_dir: str) -> None:
    """Runs once in each worker process. Errors are kept and raised by the first task,
    so the driver sees the real message instead of a bare BrokenProcessPool.
    ``log_dir`` (``DIR/logs``) is where a renderer may send Blender's console output
    (``$SYNTHCV_LOG_DIR``, unless the user set it). The init info is also written to
    ``info_dir/worker-<pid>.json`` so the driver can show it before any scene is done."""
    _die_with_parent()
    os.environ.setdefault("SYNTHCV_LOG_DIR", log_dir)
    # Only the driver handles Ctrl-C; it then stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        module = importlib.import_module(renderer)
        info = dict(module.init(device) or {})
    except BaseException as exc:  # noqa: BLE001 - re-raised in render_task
        _WorkerState.error = exc
        return
    _WorkerState.module, _WorkerState.info = module, info
    tmp = Path(info_dir, f".worker-{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **info}, default=str), encoding="utf-8")
    tmp.replace(Path(info_dir, f"worker-{os.getpid()}.json"))


def render_task(spec_json: str, cfg_json: str, out_dir: str, started_dir: str) -> dict[str, Any]:
    """Render and write one scene in a worker; returns write_scene's summary plus
    ``worker`` (pid and the renderer's init info)."""
    error = _WorkerState.error
    if error is not None:
        if isinstance(error, UserError):
            raise error
        raise WorkerInitError(
            f"renderer could not start in the worker process: {type(error).__name__}: {error}"
        )
    if _WorkerState.module is None:
        raise RuntimeError("worker was not initialised")
    spec = SceneSpec.model_validate_json(spec_json)
    # Marks the scene as attempted, so a crash is charged to scenes that were running.
    Path(started_dir, str(spec.scene_index)).touch()
    cfg = _WorkerState.configs.get(cfg_json)
    if cfg is None:
        cfg = _WorkerState.configs[cfg_json] = Config.model_validate_json(cfg_json)
    t0 = time.perf_counter()
    result = _WorkerState.module.render(spec)
    t1 = time.perf_counter()
    summary = dataset.write_scene(Path(out_dir), spec, result, cfg)
    summary["wall_s"] = time.perf_counter() - t0
    summary["render_wall_s"] = t1 - t0
    summary["worker"] = {"pid": os.getpid(), **_WorkerState.info}
    return summary


# --------------------------------------------------------------------------- driver side


def render_round(
    pool: cf.ProcessPoolExecutor,
    plan: Plan,
    spec_json: Callable[[int], str],
    task_args: tuple[str, str, str],
    window: int,
    on_summary: Callable[[int, dict[str, Any]], None],
    on_error: Callable[[int, BaseException], None],
    poll: Callable[[], None],
) -> list[int] | None:
    """Render the scenes ``plan`` gives on ``pool``, keeping at most ``window`` tasks
    queued (specs are serialised only when submitted); ``poll`` runs about once a
    second. Returns None when the plan ran out, or, if the pool broke (a worker
    process died), the scenes that were queued or running and did not finish."""
    in_flight: dict[cf.Future[dict[str, Any]], int] = {}
    unfinished: list[int] = []
    crashed = False

    def submit_next() -> None:
        i = plan.next()
        if i is not None:
            in_flight[pool.submit(render_task, spec_json(i), *task_args)] = i

    for _ in range(window):
        submit_next()
    while in_flight:
        _track(pool)
        finished, _ = cf.wait(in_flight, timeout=1.0, return_when=cf.FIRST_COMPLETED)
        poll()
        for fut in finished:
            i = in_flight.pop(fut)
            try:
                summary = fut.result()
            except BrokenProcessPool:
                crashed = True  # every other future of this pool fails the same way
                unfinished.append(i)
                continue
            except UserError:
                raise
            except Exception as exc:  # a Python error while rendering scene i
                on_error(i, exc)
            else:
                on_summary(i, summary)
            if not crashed:
                submit_next()
    return sorted(unfinished) if crashed else None


def _track(pool: cf.ProcessPoolExecutor) -> None:
    """Remember the pool's worker processes: when one dies, the executor forgets
    them, and their exit codes tell why (see :func:`stop_pool`)."""
    known = pool.__dict__.setdefault("_synthcv_known", {})
    known.update(getattr(pool, "_processes", None) or {})


def make_pool(
    workers: int, renderer: str, device: str, log_dir: Path, info_dir: Path
) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(renderer, device, str(log_dir), str(info_dir)),
    )


def stop_pool(pool: cf.ProcessPoolExecutor) -> list[int]:
    """Cancel queued tasks and terminate workers now (a render can take minutes).
    Returns the exit codes of workers that died by themselves (negative: the
    signal), read once every worker is reaped: the executor's own thread may reap a
    dead worker concurrently, so its status is only certain after the joins."""
    # `_processes` is private, but the public API has no way to stop a running task.
    _track(pool)
    processes = list(pool.__dict__.get("_synthcv_known", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()  # SIGTERM: told apart from a worker's own death below
    for p in processes:
        p.join(timeout=10)
    own = (None, 0, -signal.SIGTERM)
    return [int(p.exitcode) for p in processes if p.exitcode not in own]


def death_reason(exit_codes: list[int]) -> str:
    """Words for how worker processes died, from their exit codes."""
    if not exit_codes:
        return "a worker process died"
    reasons = []
    for code in sorted(set(exit_codes)):
        if code == -signal.SIGKILL:
            reasons.append(
                "was killed by SIGKILL (out of memory? the kernel's OOM killer sends SIGKILL; "
                "try fewer --workers or a smaller render.resolution)"
            )
        elif code == -signal.SIGSEGV:
            reasons.append("crashed with a segmentation fault (SIGSEGV, inside Blender?)")
        elif code < 0:
            reasons.append(f"was killed by signal {signal.Signals(-code).name}")
        else:
            reasons.append(f"exited with status {code}")
    return "a worker process " + "; ".join(reasons)
