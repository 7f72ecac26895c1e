"""Render driver: samples specs, renders them in worker processes, merges the result.

Blender runs only in worker processes (``spawn`` context, even for one worker): a
segfault or leak in Blender never takes down the driver. Each worker imports the
``renderer`` module, calls its ``init(device) -> dict`` once, then per scene
``render(spec) -> SceneRender`` and writes the scene itself with
``render.dataset.write_scene`` (so writing scales with workers); only a small
summary dict comes back. A crashed worker pool is recreated and its unfinished
scenes retried (each scene at most :data:`MAX_ATTEMPTS` times). Every committed
scene stays on disk, so an interrupted run continues with ``resume=True``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
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
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from render import dataset
from render.config import Config
from render.errors import UserError
from render.families import family
from render.families.base import load_function
from render.progress import Progress
from render.sampling import sample_scene
from render.spec import SceneSpec
from render.versions import package_versions

MAX_ATTEMPTS = 2
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


class WorkerInitError(UserError):
    """The renderer module could not be imported or initialised in a worker."""


# --------------------------------------------------------------------------- worker side


class _WorkerState:
    module: ModuleType | None = None
    info: dict[str, Any] = {}
    error: BaseException | None = None
    configs: dict[str, Config] = {}


def _init_worker(renderer: str, device: str, log_dir: str, info_dir: str) -> None:
    """Runs once in each worker process. Errors are kept and raised by the first task,
    so the driver sees the real message instead of a bare BrokenProcessPool.
    ``log_dir`` (``DIR/logs``) is where a renderer may send Blender's console output
    (``$SYNTHCV_LOG_DIR``, unless the user set it). The init info is also written to
    ``info_dir/worker-<pid>.json`` so the driver can show it before any scene is done."""
    os.environ.setdefault("SYNTHCV_LOG_DIR", log_dir)
    # Only the driver handles Ctrl-C; it then stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        module = importlib.import_module(renderer)
        info = dict(module.init(device) or {})
    except BaseException as exc:  # noqa: BLE001 - re-raised in _render_task
        _WorkerState.error = exc
        return
    _WorkerState.module, _WorkerState.info = module, info
    tmp = Path(info_dir, f".worker-{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **info}, default=str), encoding="utf-8")
    tmp.replace(Path(info_dir, f"worker-{os.getpid()}.json"))


def _render_task(spec_json: str, cfg_json: str, out_dir: str, started_dir: str) -> dict[str, Any]:
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


def _render_round(
    pool: cf.ProcessPoolExecutor,
    pending: list[int],
    spec_json: Callable[[int], str],
    task_args: tuple[str, str, str],
    window: int,
    on_summary: Callable[[int, dict[str, Any]], None],
    on_error: Callable[[int, str], None],
    poll: Callable[[], None],
) -> bool:
    """Render ``pending`` scenes on ``pool`` keeping at most ``window`` tasks queued
    (specs are serialised only when submitted); ``poll`` runs about once a second.
    Returns True if the pool broke (a worker process died); the scenes it did not
    finish are then simply not reported."""
    queue = iter(pending)
    in_flight: dict[cf.Future[dict[str, Any]], int] = {}
    crashed = False

    def submit_next() -> None:
        i = next(queue, None)
        if i is not None:
            in_flight[pool.submit(_render_task, spec_json(i), *task_args)] = i

    for _ in range(window):
        submit_next()
    while in_flight:
        finished, _ = cf.wait(in_flight, timeout=1.0, return_when=cf.FIRST_COMPLETED)
        poll()
        for fut in finished:
            i = in_flight.pop(fut)
            try:
                summary = fut.result()
            except BrokenProcessPool:
                crashed = True  # every other future of this pool fails the same way
                continue
            except UserError:
                raise
            except Exception as exc:  # a Python error while rendering scene i
                on_error(i, " ".join(f"{type(exc).__name__}: {exc}".split()))
            else:
                on_summary(i, summary)
            if not crashed:
                submit_next()
    return crashed


def _make_pool(
    workers: int, renderer: str, device: str, log_dir: Path, info_dir: Path
) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(renderer, device, str(log_dir), str(info_dir)),
    )


def _stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel queued tasks and terminate workers now (a render can take minutes)."""
    # `_processes` is private, but the public API has no way to stop a running task.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=10)


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
) -> dict[str, Any]:
    """Render scenes of ``cfg`` into ``out_dir`` and merge ``annotations.json``.

    Scenes: ``specs`` if given (e.g. replay), else ``scene_indices``, else
    ``range(cfg.num_scenes)``. Returns the merge summary (``scenes``, ``images``,
    ``annotations``, ``category_counts``, ``timings``) plus ``rendered`` (scene
    indices rendered by this call), ``skipped`` (already committed) and ``wall_s``.
    Raises UserError for a bad output dir, a failed scene (:class:`RenderFailed`)
    or Ctrl-C (:class:`Interrupted`).
    """
    if workers < 1:
        raise UserError(f"--workers: must be >= 1, got {workers}")
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    if resume:
        _check_resume_config(out_dir, cfg)
    if specs is not None:
        by_index = {s.scene_index: s for s in specs}
        if len(by_index) != len(specs):
            raise UserError("specs: duplicate scene_index")
        indices = sorted(by_index)
    else:
        indices = list(range(cfg.num_scenes)) if scene_indices is None else list(scene_indices)
        by_index = {}
    dataset.prepare_output(out_dir, resume=resume, overwrite=overwrite)
    _prepare_family(cfg)
    done = dataset.completed_scenes(out_dir) if resume else set()
    todo = [i for i in indices if i not in done]
    info = {
        "description": f"synthcv {cfg.scene.family} dataset",
        "version": package_versions()["synthcv"],
        "seed": cfg.seed,
    }
    this_run: dict[str, Any] = {
        "rendered": [],
        "images": 0,
        "skipped": sorted(set(indices) & done),
    }
    dataset.write_dataset_json(out_dir, _payload(cfg, workers, [], {}, 0.0, "running", this_run))

    cfg_json = cfg.model_dump_json()
    views = cfg.render.views_per_scene
    total_images = sum(len(by_index[i].camera.poses) if i in by_index else views for i in todo)

    def spec_json(i: int) -> str:
        # Sampled when submitted: memory stays flat however many scenes a run has.
        return (by_index[i] if i in by_index else sample_scene(cfg, i)).model_dump_json()

    bar = Progress(progress, total_images, f"render {out_dir.name or out_dir}")
    worker_info: dict[int, dict[str, Any]] = {}
    attempts = dict.fromkeys(todo, 0)
    failures: dict[int, str] = {}  # scene -> what went wrong; the other scenes go on
    fatal: str | None = None
    started_dir = Path(tempfile.mkdtemp(prefix="synthcv-started-"))
    try:
        pending = list(todo)
        while pending and fatal is None:
            pool = _make_pool(workers, renderer, cfg.render.device, out_dir / "logs", started_dir)
            crashed = graceful = False
            try:

                def on_summary(i: int, summary: dict[str, Any]) -> None:
                    this_run["rendered"].append(i)
                    this_run["images"] += summary["images"]
                    new_worker(summary["worker"])
                    bar.advance(summary["images"])

                def new_worker(winfo: dict[str, Any]) -> None:
                    if winfo.get("pid") not in worker_info:
                        worker_info[winfo["pid"]] = winfo
                        shown = ", ".join(f"{k}={v}" for k, v in winfo.items() if k != "pid")
                        bar.log(f"worker {winfo['pid']} started: renderer={renderer}, {shown}")

                def poll() -> None:
                    for path in started_dir.glob("worker-*.json"):
                        with contextlib.suppress(OSError, ValueError):
                            new_worker(json.loads(path.read_text(encoding="utf-8")))

                def on_error(i: int, text: str) -> None:
                    failures[i] = f"failed: {text}"
                    bar.log(f"scene {i} {failures[i]}")

                crashed = _render_round(
                    pool,
                    pending,
                    spec_json,
                    (cfg_json, str(out_dir), str(started_dir)),
                    2 * workers,
                    on_summary,
                    on_error,
                    poll,
                )
                graceful = not crashed
            finally:
                if graceful:
                    pool.shutdown(wait=True)
                else:
                    _stop_pool(pool)
            finished = set(this_run["rendered"]) | set(failures)
            pending = [i for i in pending if i not in finished]
            if not pending:
                break
            if not crashed:
                fatal = f"scenes {pending} did not complete"
                break
            running = [i for i in pending if (started_dir / str(i)).exists()]
            if not running:
                fatal = "a worker process crashed before rendering any scene (renderer init?)"
                break
            for i in running:
                attempts[i] += 1
                (started_dir / str(i)).unlink()
                if attempts[i] >= MAX_ATTEMPTS:
                    failures[i] = (
                        f"crashed the worker process {attempts[i]} times "
                        "(Blender segfault or out of memory?)"
                    )
            pending = [i for i in pending if i not in failures]
            bar.log(f"a worker process crashed while rendering scene(s) {running}; retrying")
    except KeyboardInterrupt:
        bar.stop()
        merged = _finish(out_dir, cfg, info, indices, workers, worker_info, t_start, this_run)
        raise Interrupted(
            f"interrupted: {merged['scenes']} of {len(indices)} scenes committed in {out_dir}; "
            "run the same command with --resume to continue"
        ) from None
    finally:
        bar.stop()
        shutil.rmtree(started_dir, ignore_errors=True)

    merged = _finish(out_dir, cfg, info, indices, workers, worker_info, t_start, this_run)
    if failures and fatal is None:
        first = min(failures)
        fatal = f"scene {first} {failures[first]}"
        if len(failures) > 1:
            fatal += f" (failed scenes: {sorted(failures)})"
    if fatal is not None:
        raise RenderFailed(
            f"{fatal}; {merged['scenes']} of {len(indices)} scenes committed in {out_dir}; "
            "fix the cause and run again with --resume"
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
    indices: list[int],
    workers: int,
    worker_info: dict[int, dict[str, Any]],
    t_start: float,
    this_run: dict[str, Any],
) -> dict[str, Any]:
    """Merge the committed scenes among ``indices`` and write dataset.json."""
    committed = sorted(dataset.completed_scenes(out_dir) & set(indices))
    merged = dataset.merge(out_dir, cfg, info, scenes=committed)
    wall = time.perf_counter() - t_start
    complete = len(committed) == len(indices)
    this_run = {**this_run, "rendered": sorted(this_run["rendered"]), "wall_s": round(wall, 3)}
    status = "complete" if complete else "partial"
    payload = _payload(cfg, workers, list(worker_info.values()), merged, wall, status, this_run)
    dataset.write_dataset_json(out_dir, payload)
    return {**merged, **this_run, "wall_s": wall}
