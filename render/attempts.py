"""The driver's bookkeeping of one render run (:mod:`render.driver`): which scene
goes next (:class:`Plan`), whether the disk can take it (:class:`Disk`), and what
the executor reports (:class:`Run`, the :class:`render.executors.Events` of a run):
retries, scenes recorded as failed in ``DIR/failures.jsonl``, workers, progress."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from render.config import Config
from render.executors import Executor
from render.executors.task import WorkerInitError
from render.progress import Progress
from render.sampling import sample_scene
from render.spec import SceneSpec

FAILURES_FILE = "failures.jsonl"
MAX_WORKER_INFO = 64
"""Worker records kept in dataset.json (recycled workers come and go)."""
MIN_FREE_BYTES = 16 * 2**20
"""Free disk space kept at the output beyond twice the largest scene (bytes)."""


class Plan:
    """Scenes still to render: crashed ones to retry first, then the rest in order,
    drawn lazily from ``rest`` (a range for a whole run: no list of N scenes)."""

    def __init__(self, rest: Iterator[int], before: Callable[[], bool]) -> None:
        self._rest = rest
        self._before = before
        self.retry: deque[int] = deque()
        self.stopped = False

    def next(self) -> int | None:
        if self.stopped or not self._before():
            self.stopped = True
            return None
        if self.retry:
            return self.retry.popleft()
        return next(self._rest, None)


class Disk:
    """Free space at the output: a scene is submitted only while at least twice the
    largest scene written so far (before the first: an estimate from the resolution)
    plus :data:`MIN_FREE_BYTES` is free."""

    def __init__(self, out_dir: Path, cfg: Config) -> None:
        self.out_dir = out_dir
        w, h = cfg.render.resolution
        self.per_scene = cfg.render.views_per_scene * w * h * 5 + 256 * 1024  # rgb + depth
        self.problem: str | None = None

    def wrote(self, summary: dict[str, Any]) -> None:
        self.per_scene = max(self.per_scene, int(summary.get("bytes", 0)))

    def need(self) -> int:
        return 2 * self.per_scene + MIN_FREE_BYTES

    def ok(self) -> bool:
        try:
            free = shutil.disk_usage(self.out_dir).free
        except OSError:
            return True
        if free < self.need():
            self.problem = (
                f"out of disk space: {free / 2**20:.0f} MiB free at {self.out_dir}, "
                f"a scene needs about {self.per_scene / 2**20:.1f} MiB"
            )
            return False
        return True


def disk_full(code: int | None) -> bool:
    """Whether an errno means the disk (or quota) is full."""
    return code in (errno.ENOSPC, errno.EDQUOT)


class Run:
    """The driver's side of a run: the :class:`render.executors.Events` an executor
    reports to; decides retries and failures, records workers and progress."""

    def __init__(
        self,
        cfg: Config,
        out_dir: Path,
        plan: Plan,
        disk: Disk,
        bar: Progress,
        attempts_allowed: int,
        specs: dict[int, SceneSpec],
    ) -> None:
        self.cfg, self.out_dir, self.plan, self.disk, self.bar = cfg, out_dir, plan, disk, bar
        self.attempts_allowed = attempts_allowed
        self.specs = specs
        self.this_run: dict[str, Any] = {"rendered": [], "images": 0, "skipped": []}
        self.workers: dict[int, dict[str, Any]] = {}
        self.started_workers = 0
        self.peak_rss_mib = 0.0
        self.attempts: dict[int, int] = {}
        self.failures: dict[int, str] = {}  # scene -> what went wrong; the others go on

    # -- Events
    def worker(self, info: dict[str, Any]) -> None:
        pid = int(info.get("pid", 0))
        if pid in self.workers:
            return
        self.started_workers += 1
        if len(self.workers) < MAX_WORKER_INFO:
            self.workers[pid] = info
        hidden = ("pid", "renderer", "log")
        shown = ", ".join(f"{k}={v}" for k, v in info.items() if k not in hidden and v is not None)
        self.bar.log(f"worker {pid} started: renderer={info.get('renderer')}, {shown}")

    def log(self, message: str) -> None:
        self.bar.log(message)

    def result(self, scene: int, result: dict[str, Any]) -> None:
        if result.get("ok"):
            summary = result["summary"]
            self.this_run["rendered"].append(scene)
            self.this_run["images"] += summary["images"]
            self.peak_rss_mib = max(self.peak_rss_mib, float(summary.get("rss_mib", 0.0)))
            self.disk.wrote(summary)
            if result.get("worker"):
                self.worker(result["worker"])
            self.bar.advance(summary["images"])
            return
        if result.get("fatal"):  # the renderer cannot start: every scene would fail
            raise WorkerInitError(result.get("message") or result.get("error", "worker failed"))
        if disk_full(result.get("errno")):  # every later scene would fail the same way
            self.disk.problem = self.disk.problem or (
                f"out of disk space writing scene {scene} to {self.out_dir}"
            )
            self.plan.stopped = True
            return
        self._attempted(scene, 1, f"failed: {result['error']}", result.get("traceback", ""))

    def lost(self, scene: int, why: str, attempts: int) -> None:
        if attempts == 0:
            self.plan.retry.append(scene)
            return
        n = self.attempts.get(scene, 0) + attempts
        self._attempted(scene, attempts, f"crashed the worker process {n} times: {why}", "")

    # -- retries and failures
    def _attempted(self, scene: int, used: int, error: str, trace: str) -> None:
        n = self.attempts[scene] = self.attempts.get(scene, 0) + used
        if n < self.attempts_allowed:
            self.bar.log(f"scene {scene} {error}; retrying (attempt {n + 1})")
            self.plan.retry.append(scene)
            return
        if error.startswith("failed:") and n > 1:
            error += f" ({n} attempts)"
        self.failures[scene] = error
        self.bar.log(f"scene {scene} {error}")
        self._record_failure(scene, n, error, trace)

    def _record_failure(self, scene: int, attempts: int, error: str, trace: str) -> None:
        """Append one line to DIR/failures.jsonl (flushed: it survives a kill)."""
        try:
            spec = self.specs.get(scene) or sample_scene(self.cfg, scene)
            scene_seed: int | None = spec.seed
        except Exception:  # noqa: BLE001 - the record is still useful without it
            scene_seed = None
        record = {
            "scene_index": scene,
            "seed": self.cfg.seed,
            "scene_seed": scene_seed,
            "attempts": attempts,
            "error": error,
            "traceback": trace,
        }
        with open(self.out_dir / FAILURES_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def workers_record(self, executor: Executor) -> dict[str, Any]:
        return {
            "count": executor.workers,
            "executor": executor.name,
            "started": self.started_workers,
            "peak_rss_mib": self.peak_rss_mib or None,
            "info": list(self.workers.values()),
        }
