"""Worker processes of ``synthcv augment``.

Each image (with its copies) is one task; up to :data:`CHUNK` images go in one
message, fewer towards the end so that the workers finish together. Workers are
forked (``spawn`` where fork is unavailable, or if asked: a spawned worker
re-imports albumentations, ~1-2 s each); OpenCV's thread pool is shrunk to one
thread around the fork, since forking while its pool threads exist deadlocked the
children. A ``concurrent.futures`` pool notices a worker that dies (killed, out of
memory): :class:`WorkerLost`, where ``multiprocessing.Pool`` waited forever. On
Linux each worker dies with the command (``PR_SET_PDEATHSIG``), so a ``kill -9``
of the command leaves no worker writing on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

import cv2

from augment.allocator import tune_allocator
from augment.pipeline import PipelineSpec, build_pipeline
from augment.process import Result, Task, WriteOptions, process_stream
from render.formats import UserError

CHUNK = 4
"""Most images per pool task: reads and writes overlap within a chunk."""
_PR_SET_PDEATHSIG = 1


class WorkerLost(UserError):
    """A worker process died without an answer (killed or out of memory)."""


def chunked(tasks: list[Any], workers: int) -> list[list[Any]]:
    """Split ``tasks`` in order into pool messages of at most :data:`CHUNK` tasks,
    shrinking towards the end (at most a ``2 * workers``-th of what is left) so
    that the workers finish together instead of one idling while another works
    through a last full chunk."""
    chunks, i = [], 0
    while i < len(tasks):
        size = min(CHUNK, max(1, (len(tasks) - i) // (2 * workers)))
        chunks.append(tasks[i : i + size])
        i += size
    return chunks


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies (a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


_WORKER: dict[str, Any] = {}


def _init_worker(spec_json: str, opts: WriteOptions, parent: int) -> None:
    _die_with_parent(parent)
    cv2.setNumThreads(1)  # one process per core; OpenCV's own pool would oversubscribe
    tune_allocator()  # our process: reuse freed image buffers (augment/allocator.py)
    _WORKER["pipeline"] = build_pipeline(PipelineSpec.model_validate_json(spec_json))
    _WORKER["opts"] = opts


def _work(chunk: list[Task]) -> list[tuple[int, Result]]:
    return list(process_stream(_WORKER["pipeline"], _WORKER["opts"], chunk))


@contextmanager
def run_tasks(
    spec: PipelineSpec, opts: WriteOptions, tasks: list[Task], workers: int, start_method: str
) -> Iterator[Iterator[tuple[int, Result]]]:
    """Yield an iterator of ``(source index, result)`` over ``tasks``, each yielded
    once its files are written; in-process for one worker. Leaving the context waits
    for the workers, so nothing writes after it."""
    if workers <= 1:
        yield process_stream(build_pipeline(spec), opts, tasks)
        return
    method = start_method if start_method in mp.get_all_start_methods() else "spawn"
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # no OpenCV pool threads in the parent while it forks
    pool = ProcessPoolExecutor(
        workers,
        mp_context=mp.get_context(method),
        initializer=_init_worker,
        initargs=(spec.model_dump_json(), opts, os.getpid()),
    )
    try:
        futures = [pool.submit(_work, c) for c in chunked(tasks, workers)]  # forks here
    finally:
        cv2.setNumThreads(threads)

    def results() -> Iterator[tuple[int, Result]]:
        try:
            for f in as_completed(futures):
                yield from f.result()
        except BrokenProcessPool:
            raise WorkerLost(
                "a worker process died (killed, or out of memory); run the same command"
                " with --resume to continue"
            ) from None

    try:
        yield results()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
