"""Local executor: render scenes in a pool of worker processes on this machine.

Blender runs only in worker processes (``spawn`` context, even for one worker): a
segfault or leak in Blender never takes down the driver. Each worker runs
:func:`render.executors.task.render_scene` per scene (the renderer module's name is
an argument); only a small result dict comes back. Workers die with the driver,
even when it is killed (Linux ``PR_SET_PDEATHSIG``), so no render outlives its
command. Options:

- ``gpus``: one worker per listed GPU; a worker claims a free GPU slot (an
  ``flock`` the kernel releases when the process dies, however it dies) and sets
  ``CUDA_VISIBLE_DEVICES`` before the renderer starts;
- ``recycle_every``: a worker exits after that many scenes and a fresh one
  replaces it (Blender's memory grows across scenes in one process);
- ``threads``: Cycles threads per worker (``SYNTHCV_THREADS`` for the renderer).

A worker that dies breaks the pool: the scenes it had started are reported lost
(one attempt used), the queued ones lost without an attempt, and a new pool goes on.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import fcntl
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from render.executors import Events, ExecutorError, Plan
from render.executors.task import render_scene, start_renderer

_PR_SET_PDEATHSIG = 1
GPU_CLAIM_TIMEOUT_S = 60.0

# --------------------------------------------------------------------------- worker side

_held: list[int] = []  # the GPU slot lock's file descriptor, kept open for the process's life


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


def claim_gpu(gpus: list[str], slot_dir: str, timeout_s: float = GPU_CLAIM_TIMEOUT_S) -> str:
    """Take the first free slot of ``gpus`` (a non-blocking ``flock`` on
    ``slot_dir/gpu-<k>.lock``, held until this process exits) and return its GPU id.
    A recycled worker's slot frees when it exits; waits up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        for k, gpu in enumerate(gpus):
            fd = os.open(Path(slot_dir, f"gpu-{k}.lock"), os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            _held.append(fd)
            return gpu
        if time.monotonic() > deadline:
            raise RuntimeError(f"no free GPU slot among {gpus} after {timeout_s:.0f} s")
        time.sleep(0.05)


def _init_worker(
    renderer: str,
    device: str,
    log_dir: str,
    info_dir: str,
    gpus: list[str] | None,
    threads: int | None,
) -> None:
    """Runs once in each worker process: pins the GPU, starts the renderer. Errors
    are kept and returned by the first task, so the driver sees the real message
    instead of a bare BrokenProcessPool. ``log_dir`` (``DIR/logs``) is where a
    renderer may send Blender's console output (``$SYNTHCV_LOG_DIR``, unless set).
    The init info is also written to ``info_dir/worker-<pid>.json`` so the driver
    can show it before any scene is done."""
    _die_with_parent()
    os.environ.setdefault("SYNTHCV_LOG_DIR", log_dir)
    if threads is not None:
        os.environ["SYNTHCV_THREADS"] = str(threads)
    # Only the driver handles Ctrl-C; it then stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = claim_gpu(gpus, info_dir)
    try:
        info = start_renderer(renderer, device)
    except Exception:  # noqa: BLE001 - kept by start_renderer, reported by the first task
        return
    tmp = Path(info_dir, f".worker-{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, default=str), encoding="utf-8")
    tmp.replace(Path(info_dir, f"worker-{os.getpid()}.json"))


# --------------------------------------------------------------------------- driver side


class LocalExecutor:
    """``workers`` processes on this machine (``len(gpus)`` with ``gpus``)."""

    name = "local"

    def __init__(
        self,
        workers: int,
        renderer: str,
        device: str,
        out_dir: Path,
        *,
        gpus: list[str] | None = None,
        recycle_every: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.workers = len(gpus) if gpus else workers
        self.renderer, self.device, self.out_dir = renderer, device, Path(out_dir)
        self.gpus, self.recycle_every, self.threads = gpus, recycle_every, threads

    def run(
        self, plan: Plan, spec_json: Callable[[int], str], cfg_json: str, events: Events
    ) -> None:
        started = tempfile.mkdtemp(prefix="synthcv-started-")
        try:
            while True:
                pool = make_pool(
                    self.workers,
                    (
                        self.renderer,
                        self.device,
                        str(self.out_dir / "logs"),
                        started,
                        self.gpus,
                        self.threads,
                    ),
                    self.recycle_every,
                )
                args = (self.renderer, self.device, cfg_json, str(self.out_dir), started)
                unfinished: list[int] | None = None
                exit_codes: list[int] = []
                clean = False  # the round returned (no Ctrl-C, no error escaping it)
                try:
                    unfinished = render_round(
                        pool, plan, spec_json, args, 2 * self.workers, events, started
                    )
                    clean = True
                finally:
                    if clean and unfinished is None:
                        pool.shutdown(wait=True)
                    else:  # a worker died, Ctrl-C, or an error: stop running scenes now
                        exit_codes = stop_pool(pool)
                if unfinished is None:
                    return
                running = [i for i in unfinished if Path(started, str(i)).exists()]
                why = death_reason(exit_codes)
                if not running:
                    raise ExecutorError(f"{why} before rendering any scene (renderer init?)")
                for i in unfinished:
                    Path(started, str(i)).unlink(missing_ok=True)
                    events.lost(i, why, 1 if i in running else 0)
                events.log(f"{why} while rendering scene(s) {running}; retrying")
        finally:
            shutil.rmtree(started, ignore_errors=True)


def render_round(
    pool: cf.ProcessPoolExecutor,
    plan: Plan,
    spec_json: Callable[[int], str],
    task_args: tuple[str, str, str, str, str],
    window: int,
    events: Events,
    started: str,
) -> list[int] | None:
    """Render the scenes ``plan`` gives on ``pool``, keeping at most ``window`` tasks
    queued (specs are serialised only when submitted). Returns None when the plan
    ran out, or, if the pool broke (a worker process died), the scenes that were
    queued or running and did not finish."""
    renderer, device, cfg_json, out_dir, started_dir = task_args
    in_flight: dict[cf.Future[dict[str, Any]], int] = {}
    unfinished: list[int] = []
    crashed = False
    seen: set[str] = set()

    def submit_next() -> None:
        nonlocal crashed
        i = plan.next()
        if i is None:
            return
        try:
            fut = pool.submit(
                render_scene, renderer, device, spec_json(i), cfg_json, out_dir, started_dir
            )
        except BrokenProcessPool:  # a worker died since the last result came in
            crashed = True
            unfinished.append(i)
            return
        in_flight[fut] = i

    def poll() -> None:  # workers that started, shown before their first scene is done
        for path in Path(started).glob("worker-*.json"):
            if path.name not in seen:
                try:
                    events.worker(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    continue
                seen.add(path.name)

    for _ in range(window):
        if not crashed:
            submit_next()
    while in_flight:
        _track(pool)
        finished, _ = cf.wait(in_flight, timeout=1.0, return_when=cf.FIRST_COMPLETED)
        poll()
        for fut in finished:
            i = in_flight.pop(fut)
            try:
                result = fut.result()
            except BrokenProcessPool:
                crashed = True  # every other future of this pool fails the same way
                unfinished.append(i)
                continue
            events.result(i, result)
            if not crashed:
                submit_next()
    return sorted(unfinished) if crashed else None


def _track(pool: cf.ProcessPoolExecutor) -> None:
    """Remember the pool's worker processes: when one dies, the executor forgets
    them, and their exit codes tell why (see :func:`stop_pool`)."""
    known = pool.__dict__.setdefault("_synthcv_known", {})
    known.update(getattr(pool, "_processes", None) or {})


def make_pool(
    workers: int, initargs: tuple[Any, ...], recycle_every: int | None
) -> cf.ProcessPoolExecutor:
    """A spawn-context pool running :func:`_init_worker` with ``initargs`` in each
    worker, which exits after ``recycle_every`` scenes when set."""
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=initargs,
        max_tasks_per_child=recycle_every,
    )


def stop_pool(pool: cf.ProcessPoolExecutor) -> list[int]:
    """Cancel queued tasks and terminate workers now (a render can take minutes).
    Returns the exit codes of workers that died by themselves (negative: the
    signal), read once every worker is reaped. The executor's own thread may reap a
    dead worker first: our wait then finds no child and reads no exit code until
    that thread has stored it, so the thread is joined too (without it, ~1 in 6
    deaths read as 'a worker process died' with no reason)."""
    # `_processes` and `_executor_manager_thread` are private, but the public API
    # has no way to stop a running task or to know how a worker died.
    _track(pool)
    processes = list(pool.__dict__.get("_synthcv_known", {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()  # SIGTERM: told apart from a worker's own death below
    for p in processes:
        p.join(timeout=10)
    if manager is not None:
        manager.join(timeout=10)  # it ends once the pool is broken and its workers joined
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
