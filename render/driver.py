"""Render driver: plans which scenes to render, hands them to an executor
(:mod:`render.executors.local`: worker processes running Blender), retries crashed
scenes, and merges what was committed.

Planning is lazy: scenes are sampled when submitted and the queue is a range, so
memory does not grow with ``num_scenes``. A crashed worker pool is recreated and
its unfinished scenes retried (each scene at most :data:`MAX_ATTEMPTS` times).
Free disk space is checked before each scene is submitted; a full disk stops the
run at once, keeps every committed scene and says how to resume. Every committed
scene stays on disk, so an interrupted run continues with ``resume=True``.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from render import dataset
from render.config import Config
from render.errors import UserError
from render.executors import local
from render.executors.local import WorkerInitError  # noqa: F401 - re-exported
from render.families import family
from render.families.base import load_function
from render.progress import Progress
from render.sampling import sample_scene
from render.spec import SceneSpec
from render.versions import package_versions

MAX_ATTEMPTS = 2
MIN_FREE_BYTES = 16 * 2**20
"""Free disk space kept at the output beyond twice the largest scene (bytes)."""
KEYPOINT_CONVENTION = (
    "keypoints: [x, y, v] in COCO pixel-index coordinates (pixel centres at integers); "
    "v = 2 visible, 1 in the image but occluded, 0 outside the image (x = y = 0)"
)
CAMERA_CONVENTION = (
    "camera_pose: 4x4 camera-to-world, OpenCV (x right, y down, z forward), metres; "
    "camera_K: pixels, principal point at W/2,H/2"
)


class RenderFailed(UserError):
    """A scene could not be rendered; completed scenes were merged."""


class Interrupted(UserError):
    """The run was interrupted (Ctrl-C); completed scenes stay committed."""


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Dotted path of the first difference between two JSON values, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return sub
            found = _first_difference(a[key], b[key], sub)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else (path or "<root>")


def _check_resume_config(out_dir: Path, cfg: Config) -> None:
    """Refuse to resume a directory rendered with a different config (num_scenes aside)."""
    path = out_dir / "dataset.json"
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("config")
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(old, dict):
        return
    new = cfg.model_dump(mode="json")
    old = {k: v for k, v in old.items() if k != "num_scenes"}
    new = {k: v for k, v in new.items() if k != "num_scenes"}
    diff = _first_difference(old, new)
    if diff:
        raise UserError(
            f"{path}: config differs from the one this directory was rendered with "
            f"(first difference: {diff}); use --overwrite or another --out"
        )


def _timing_summary(
    totals: dict[str, float], images: int, wall_s: float, run_images: int
) -> dict[str, Any]:
    """Totals and per-image means over every merged scene (seconds); ``wall_s`` and
    ``images_per_s`` are of the last run only (a resumed run skips committed scenes)."""
    return {
        "wall_s": round(wall_s, 3),
        "images_per_s": round(run_images / wall_s, 4) if wall_s > 0 else None,
        "total_s": {k: round(v, 4) for k, v in sorted(totals.items())},
        "per_image_mean_s": {
            k: round(v / images, 4) for k, v in sorted(totals.items()) if images > 0
        },
    }


def _payload(
    cfg: Config,
    workers: int,
    worker_info: list[dict[str, Any]],
    merged: dict[str, Any],
    wall_s: float,
    status: str,
    this_run: dict[str, Any],
) -> dict[str, Any]:
    return {
        "status": status,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": cfg.seed,
        "config": cfg.model_dump(mode="json"),
        "camera_convention": CAMERA_CONVENTION,
        "keypoint_center": 0.0,
        "keypoint_convention": KEYPOINT_CONVENTION,
        "versions": package_versions(),
        "workers": {"count": workers, "info": worker_info},
        "scenes": merged.get("scenes", 0),
        "images": merged.get("images", 0),
        "annotations": merged.get("annotations", 0),
        "category_counts": merged.get("category_counts", {}),
        "timings": _timing_summary(
            merged.get("timings", {}), merged.get("images", 0), wall_s, this_run.get("images", 0)
        ),
        # counts, not scene lists: dataset.json stays small for runs of any size
        "this_run": {
            "rendered_scenes": len(this_run.get("rendered", [])),
            "skipped_scenes": len(this_run.get("skipped", [])),
            "images": this_run.get("images", 0),
            "wall_s": this_run.get("wall_s", 0.0),
        },
    }


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


def _disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


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
) -> dict[str, Any]:
    """Render scenes of ``cfg`` into ``out_dir`` and merge ``annotations.json``.

    Scenes: ``specs`` if given (e.g. replay), else ``scene_indices``, else
    ``range(cfg.num_scenes)``. Returns the merge summary (``scenes``, ``images``,
    ``annotations``, ``category_counts``, ``timings``) plus ``rendered`` (scene
    indices rendered by this call), ``skipped`` (already committed) and ``wall_s``.
    Raises UserError for a bad output dir, a failed scene (:class:`RenderFailed`)
    or Ctrl-C (:class:`Interrupted`); their messages end with ``resume_command``
    (the exact command to continue) when given.
    """
    if workers < 1:
        raise UserError(f"--workers: must be >= 1, got {workers}")
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    again = f"run: {resume_command}" if resume_command else "run the same command with --resume"
    if resume:
        _check_resume_config(out_dir, cfg)
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
    todo = itertools.chain([] if first is None else [first], remaining)
    skipped = sorted(i for i in done if i in indices)
    info = {
        "description": f"synthcv {cfg.scene.family} dataset",
        "version": package_versions()["synthcv"],
        "seed": cfg.seed,
    }
    this_run: dict[str, Any] = {"rendered": [], "images": 0, "skipped": skipped}
    dataset.write_dataset_json(out_dir, _payload(cfg, workers, [], {}, 0.0, "running", this_run))

    cfg_json = cfg.model_dump_json()
    views = cfg.render.views_per_scene
    n_todo = len(indices) - len(skipped)
    if specs is not None:
        total_images = sum(len(s.camera.poses) for i, s in by_index.items() if i not in done)
    else:
        total_images = n_todo * views

    def spec_json(i: int) -> str:
        # Sampled when submitted: memory stays flat however many scenes a run has.
        spec = by_index.pop(i) if i in by_index and specs is None else by_index.get(i)
        return (spec or sample_scene(cfg, i)).model_dump_json()

    bar = Progress(progress, total_images, f"render {out_dir.name or out_dir}")
    disk = _Disk(out_dir, cfg)
    plan = _Plan(todo, disk.ok)
    worker_info: dict[int, dict[str, Any]] = {}
    attempts: dict[int, int] = {}
    failures: dict[int, str] = {}  # scene -> what went wrong; the other scenes go on
    fatal: str | None = None
    started_dir = Path(tempfile.mkdtemp(prefix="synthcv-started-"))

    def new_worker(winfo: dict[str, Any]) -> None:
        if winfo.get("pid") not in worker_info:
            worker_info[winfo["pid"]] = winfo
            shown = ", ".join(f"{k}={v}" for k, v in winfo.items() if k != "pid")
            bar.log(f"worker {winfo['pid']} started: renderer={renderer}, {shown}")

    def on_summary(i: int, summary: dict[str, Any]) -> None:
        this_run["rendered"].append(i)
        this_run["images"] += summary["images"]
        disk.wrote(summary)
        new_worker(summary["worker"])
        bar.advance(summary["images"])

    def poll() -> None:
        for path in started_dir.glob("worker-*.json"):
            with contextlib.suppress(OSError, ValueError):
                new_worker(json.loads(path.read_text(encoding="utf-8")))

    def on_error(i: int, exc: BaseException) -> None:
        if _disk_full(exc):  # every later scene would fail the same way: stop now
            disk.problem = disk.problem or f"out of disk space writing scene {i} to {out_dir}"
            plan.stopped = True
            return
        failures[i] = f"failed: {' '.join(f'{type(exc).__name__}: {exc}'.split())}"
        bar.log(f"scene {i} {failures[i]}")

    try:
        while fatal is None:
            pool = local.make_pool(
                workers, renderer, cfg.render.device, out_dir / "logs", started_dir
            )
            unfinished: list[int] | None = None
            exit_codes: list[int] = []
            clean = False  # the round returned (no Ctrl-C, no error escaping it)
            try:
                unfinished = local.render_round(
                    pool,
                    plan,
                    spec_json,
                    (cfg_json, str(out_dir), str(started_dir)),
                    2 * workers,
                    on_summary,
                    on_error,
                    poll,
                )
                clean = True
            finally:
                if clean and unfinished is None:
                    pool.shutdown(wait=True)
                else:  # a worker died, Ctrl-C, or an error: stop running scenes now
                    exit_codes = local.stop_pool(pool)
            if unfinished is None:
                break
            running = [i for i in unfinished if (started_dir / str(i)).exists()]
            why = local.death_reason(exit_codes)
            if not running:
                fatal = f"{why} before rendering any scene (renderer init?)"
                break
            for i in unfinished:
                if i in running:
                    attempts[i] = attempts.get(i, 0) + 1
                    (started_dir / str(i)).unlink()
                    if attempts[i] >= MAX_ATTEMPTS:
                        failures[i] = f"crashed the worker process {attempts[i]} times: {why}"
                        continue
                plan.retry.append(i)
            bar.log(f"{why} while rendering scene(s) {running}; retrying")
    except KeyboardInterrupt:
        bar.stop()
        merged = _finish(
            out_dir, cfg, info, indices, workers, worker_info, t_start, this_run, again
        )
        raise Interrupted(
            f"interrupted: {merged['scenes']} of {len(indices)} scenes committed in {out_dir}; "
            f"{again} to continue"
        ) from None
    finally:
        bar.stop()
        shutil.rmtree(started_dir, ignore_errors=True)

    merged = _finish(out_dir, cfg, info, indices, workers, worker_info, t_start, this_run, again)
    if disk.problem is not None:
        raise RenderFailed(
            f"{disk.problem}; {merged['scenes']} of {len(indices)} scenes committed in "
            f"{out_dir}; free some space and {again}"
        )
    if failures and fatal is None:
        first_failed = min(failures)
        fatal = f"scene {first_failed} {failures[first_failed]}"
        if len(failures) > 1:
            fatal += f" (failed scenes: {sorted(failures)[:20]})"
    if fatal is not None:
        raise RenderFailed(
            f"{fatal}; {merged['scenes']} of {len(indices)} scenes committed in {out_dir}; "
            f"fix the cause and {again}"
        )
    counts = ", ".join(f"{k} {v}" for k, v in merged["category_counts"].items())
    wall = merged["wall_s"]
    rate = this_run["images"] / wall if wall > 0 else 0.0
    print(
        f"{out_dir}: {merged['images']} images, {merged['annotations']} annotations in "
        f"{wall:.1f} s ({rate:.2f} images/s; rendered {len(this_run['rendered'])} scenes, "
        f"skipped {len(this_run['skipped'])}); per category: {counts or 'none'}"
    )
    return merged


def _finish(
    out_dir: Path,
    cfg: Config,
    info: dict[str, Any],
    indices: Sequence[int],
    workers: int,
    worker_info: dict[int, dict[str, Any]],
    t_start: float,
    this_run: dict[str, Any],
    again: str,
) -> dict[str, Any]:
    """Merge the committed scenes among ``indices`` and write dataset.json."""
    committed = sorted(i for i in dataset.completed_scenes(out_dir) if i in indices)
    try:
        merged = dataset.merge(out_dir, cfg, info, scenes=committed)
        wall = time.perf_counter() - t_start
        complete = len(committed) == len(indices)
        this_run = {**this_run, "rendered": sorted(this_run["rendered"]), "wall_s": round(wall, 3)}
        status = "complete" if complete else "partial"
        payload = _payload(cfg, workers, list(worker_info.values()), merged, wall, status, this_run)
        dataset.write_dataset_json(out_dir, payload)
    except OSError as exc:
        what = "out of disk space" if _disk_full(exc) else f"cannot write: {exc.strerror or exc}"
        raise RenderFailed(
            f"{what} merging annotations.json in {out_dir}; {len(committed)} scenes are "
            f"committed in its shards/; free some space and {again}"
        ) from None
    return {**merged, **this_run, "wall_s": wall}
