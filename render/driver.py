"""Render driver: plans which scenes to render, hands them to an executor
(:mod:`render.executors.local`: worker processes on this machine, or
:mod:`render.executors.ray`: tasks on a Ray cluster), retries failed scenes,
records those that keep failing, and merges what was committed.

Planning is lazy: scenes are sampled when submitted and the queue is a range, so
memory does not grow with ``num_scenes``. A scene that raises or whose worker dies
is queued again, at most ``retries`` times; then it is recorded in
``DIR/failures.jsonl`` (scene index, seeds, error, traceback tail) and the run goes
on with the others, ending with a non-zero exit that names the failed scenes.
Free disk space is checked before each scene is submitted; a full disk stops the
run at once, keeps every committed scene and says how to resume. Every committed
scene stays on disk, so an interrupted run continues with ``resume=True``, which
also retries the failed scenes.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from render import dataset, merge, runinfo
from render.config import Config
from render.errors import UserError
from render.executors import DEFAULT_RECYCLE_EVERY, DEFAULT_RETRIES, Executor, ExecutorError
from render.executors.local import LocalExecutor
from render.executors.task import WorkerInitError
from render.families import family
from render.families.base import load_function
from render.progress import Progress
from render.runinfo import CAMERA_CONVENTION, KEYPOINT_CONVENTION  # noqa: F401 - re-exported
from render.sampling import sample_scene
from render.spec import SceneSpec

MAX_ATTEMPTS = DEFAULT_RETRIES + 1
"""Default attempts per scene: a scene that fails twice is recorded as failed."""
RECYCLE_EVERY = DEFAULT_RECYCLE_EVERY
FAILURES_FILE = "failures.jsonl"
MAX_WORKER_INFO = 64
"""Worker records kept in dataset.json (recycled workers come and go)."""
MIN_FREE_BYTES = 16 * 2**20
"""Free disk space kept at the output beyond twice the largest scene (bytes)."""


class RenderFailed(UserError):
    """A scene could not be rendered; completed scenes were merged."""


class Interrupted(UserError):
    """The run was interrupted (Ctrl-C); completed scenes stay committed."""


def _prepare_family(cfg: Config) -> None:
    """Build the family's one-time resources (e.g. the body model cache) in the
    driver, before any worker starts: workers only load them."""
    fam = family(cfg.scene.family)
    if fam.prepare is not None:
        load_function(fam.prepare)(
            cfg, lambda message: print(f"synthcv: {message}", file=sys.stderr)
        )


class _Plan:
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


class _Disk:
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


def _disk_full(code: int | None) -> bool:
    return code in (errno.ENOSPC, errno.EDQUOT)


def _first_spec(cfg: Config, by_index: dict[int, SceneSpec], first: int | None) -> None:
    """Sample the first scene before anything is written: a bad asset (an empty or
    corrupt mesh) is then a one-line error and the output folder stays untouched."""
    if first is None or first in by_index:
        return
    try:
        by_index[first] = sample_scene(cfg, first)
    except UserError:
        raise
    except (ValueError, OSError) as exc:
        raise UserError(f"scene {first}: cannot be sampled: {' '.join(str(exc).split())}") from None


class _Run:
    """The driver's side of a run: the :class:`render.executors.Events` an executor
    reports to; decides retries and failures, records workers and progress."""

    def __init__(
        self,
        cfg: Config,
        out_dir: Path,
        plan: _Plan,
        disk: _Disk,
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
        if _disk_full(result.get("errno")):  # every later scene would fail the same way
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


def run_render(
    cfg: Config,
    out_dir: Path,
    *,
    workers: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    renderer: str = "render.blender.worker",
    progress: bool = True,
    scene_indices: list[int] | None = None,
    specs: list[SceneSpec] | None = None,
    resume_command: str | None = None,
    executor: Executor | None = None,
    gpus: list[str] | None = None,
    recycle_every: int | None = RECYCLE_EVERY,
    threads: int | None = None,
    retries: int = MAX_ATTEMPTS - 1,
) -> dict[str, Any]:
    """Render scenes of ``cfg`` into ``out_dir`` and merge ``annotations.json``.

    Scenes: ``specs`` if given (e.g. replay), else ``scene_indices``, else
    ``range(cfg.num_scenes)``. ``executor``: where scenes run (default: a
    :class:`LocalExecutor` of ``workers`` processes running ``renderer``, one per GPU
    of ``gpus``, each replaced after ``recycle_every`` scenes (None: never), with
    ``threads`` Cycles threads). A failing scene is tried ``retries`` more times.
    Returns the merge summary (``scenes``, ``images``, ``annotations``,
    ``category_counts``, ``timings``) plus ``rendered`` (scene indices rendered by
    this call), ``skipped`` (already committed) and ``wall_s``. Raises UserError for
    a bad output dir, failed scenes (:class:`RenderFailed`, after merging the
    others) or Ctrl-C (:class:`Interrupted`); their messages end with
    ``resume_command`` (the exact command to continue) when given.
    """
    if workers < 1:
        raise UserError(f"--workers: must be >= 1, got {workers}")
    if retries < 0:
        raise UserError(f"--retries: must be >= 0, got {retries}")
    if recycle_every is not None and recycle_every < 1:
        raise UserError(f"--recycle-every: must be >= 1, got {recycle_every}")
    out_dir = Path(out_dir)
    if executor is None:
        executor = LocalExecutor(
            workers,
            renderer,
            cfg.render.device,
            out_dir,
            gpus=gpus,
            recycle_every=recycle_every,
            threads=threads,
        )
    t_start = time.perf_counter()
    again = f"run: {resume_command}" if resume_command else "run the same command with --resume"
    if resume:
        runinfo.check_resume_config(out_dir, cfg)
    by_index: dict[int, SceneSpec] = {}
    indices: Sequence[int]
    if specs is not None:
        by_index = {s.scene_index: s for s in specs}
        if len(by_index) != len(specs):
            raise UserError("specs: duplicate scene_index")
        indices = sorted(by_index)
    else:
        indices = range(cfg.num_scenes) if scene_indices is None else sorted(set(scene_indices))
    _prepare_family(cfg)
    # committed scenes on disk (resume): prepare_output below keeps them
    done = dataset.completed_scenes(out_dir) if resume and out_dir.is_dir() else set()
    remaining = (i for i in indices if i not in done)
    first = next(remaining, None)
    _first_spec(cfg, by_index, first)
    dataset.prepare_output(out_dir, resume=resume, overwrite=overwrite)
    # failures of an earlier run are retried now; this run records its own
    (out_dir / FAILURES_FILE).unlink(missing_ok=True)
    todo = itertools.chain([] if first is None else [first], remaining)
    skipped = sorted(i for i in done if i in indices)
    info = merge.coco_info(cfg)
    n_todo = len(indices) - len(skipped)
    if specs is not None:
        total_images = sum(len(s.camera.poses) for i, s in by_index.items() if i not in done)
    else:
        total_images = n_todo * cfg.render.views_per_scene

    def spec_json(i: int) -> str:
        # Sampled when submitted: memory stays flat however many scenes a run has.
        spec = by_index.pop(i) if i in by_index and specs is None else by_index.get(i)
        return (spec or sample_scene(cfg, i)).model_dump_json()

    bar = Progress(progress, total_images, f"render {out_dir.name or out_dir}")
    disk = _Disk(out_dir, cfg)
    plan = _Plan(todo, disk.ok)
    run = _Run(cfg, out_dir, plan, disk, bar, retries + 1, by_index if specs else {})
    run.this_run["skipped"] = skipped
    record = run.workers_record(executor)
    dataset.write_dataset_json(
        out_dir, runinfo.payload(cfg, record, {}, 0.0, "running", run.this_run)
    )
    fatal: str | None = None

    def finish() -> dict[str, Any]:
        return _finish(out_dir, cfg, info, indices, run.workers_record(executor), t_start,
                       run.this_run, again)  # fmt: skip

    try:
        executor.run(plan, spec_json, cfg.model_dump_json(), run)
    except ExecutorError as exc:
        fatal = str(exc)
    except KeyboardInterrupt:
        bar.stop()
        merged = finish()
        raise Interrupted(
            f"interrupted: {merged['scenes']} of {len(indices)} scenes committed in {out_dir}; "
            f"{again} to continue"
        ) from None
    finally:
        bar.stop()

    merged = finish()
    if disk.problem is not None:
        raise RenderFailed(
            f"{disk.problem}; {merged['scenes']} of {len(indices)} scenes committed in "
            f"{out_dir}; free some space and {again}"
        )
    _print_summary(out_dir, merged, run.this_run)
    committed = set(merged["merged"])
    failures = {i: e for i, e in run.failures.items() if i not in committed}
    if failures and fatal is None:
        first_failed = min(failures)
        fatal = f"scene {first_failed} {failures[first_failed]}"
        if len(failures) > 1:
            fatal += f" (failed scenes: {sorted(failures)[:20]}"
            fatal += f" and {len(failures) - 20} more)" if len(failures) > 20 else ")"
        fatal += f"; details in {out_dir / FAILURES_FILE}"
    if fatal is not None:
        raise RenderFailed(
            f"{fatal}; {merged['scenes']} of {len(indices)} scenes committed in {out_dir}; "
            f"fix the cause and {again}"
        )
    return merged


def _print_summary(out_dir: Path, merged: dict[str, Any], this_run: dict[str, Any]) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in merged["category_counts"].items())
    wall = merged["wall_s"]
    rate = this_run["images"] / wall if wall > 0 else 0.0
    print(
        f"{out_dir}: {merged['images']} images, {merged['annotations']} annotations in "
        f"{wall:.1f} s ({rate:.2f} images/s; rendered {len(this_run['rendered'])} scenes, "
        f"skipped {len(this_run['skipped'])}); per category: {counts or 'none'}"
    )


def _finish(
    out_dir: Path,
    cfg: Config,
    info: dict[str, Any],
    indices: Sequence[int],
    workers: dict[str, Any],
    t_start: float,
    this_run: dict[str, Any],
    again: str,
) -> dict[str, Any]:
    """Merge the committed scenes among ``indices`` (an unreadable shard is an
    uncommitted scene) and write dataset.json."""
    try:
        merged = merge.merge(
            out_dir, cfg, info, scenes=indices, require=False, skip_unreadable=True
        )
        wall = time.perf_counter() - t_start
        complete = merged["scenes"] == len(indices)
        this_run = {**this_run, "rendered": sorted(this_run["rendered"]), "wall_s": round(wall, 3)}
        status = "complete" if complete else "partial"
        payload = runinfo.payload(cfg, workers, merged, wall, status, this_run)
        dataset.write_dataset_json(out_dir, payload)
    except OSError as exc:
        what = (
            "out of disk space" if _disk_full(exc.errno) else f"cannot write: {exc.strerror or exc}"
        )
        raise RenderFailed(
            f"{what} merging annotations.json in {out_dir}; the committed scenes are "
            f"in its shards/; free some space and {again}"
        ) from None
    return {**merged, **this_run, "wall_s": wall}
