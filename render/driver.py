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

import itertools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from render import dataset, merge, runinfo, shards
from render.attempts import FAILURES_FILE, Disk, Plan, Run, disk_full
from render.config import Config
from render.errors import UserError
from render.executors import DEFAULT_RECYCLE_EVERY, DEFAULT_RETRIES, Executor, ExecutorError
from render.executors.local import LocalExecutor
from render.families import build_assets, family
from render.machine import cap_workers, check_render_memory, threads_from_env
from render.outputs import OutputLock
from render.progress import Progress
from render.runinfo import CAMERA_CONVENTION, KEYPOINT_CONVENTION  # noqa: F401 - re-exported
from render.sampling import sample_scene
from render.spec import SceneSpec

MAX_ATTEMPTS = DEFAULT_RETRIES + 1
"""Default attempts per scene: a scene that fails twice is recorded as failed."""
RECYCLE_EVERY = DEFAULT_RECYCLE_EVERY


class RenderFailed(UserError):
    """A scene could not be rendered; completed scenes were merged."""


class Interrupted(UserError):
    """The run was interrupted (Ctrl-C); completed scenes stay committed."""


def _prepare_family(cfg: Config) -> None:
    """Build the family's one-time assets (e.g. the body model cache) in the
    driver, before any worker starts: workers only load them."""
    build_assets(family(cfg.scene.family), lambda m: print(f"synthcv: {m}", file=sys.stderr))


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
    if threads is None:
        threads = threads_from_env()
    if executor is None and not gpus:
        work = len(specs) if specs is not None else len(scene_indices or range(cfg.num_scenes))
        workers = cap_workers(workers, work, "--workers")
    check_render_memory(cfg, executor.workers or 1 if executor else workers, local=executor is None)
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
    with OutputLock(out_dir) as lock:
        return _locked_run(cfg, out_dir, executor, specs, scene_indices, resume, overwrite,
                           progress, retries, t_start, again, lock.stale)  # fmt: skip


def _locked_run(
    cfg: Config,
    out_dir: Path,
    executor: Executor,
    specs: list[SceneSpec] | None,
    scene_indices: list[int] | None,
    resume: bool,
    overwrite: bool,
    progress: bool,
    retries: int,
    t_start: float,
    again: str,
    stale: str | None,
) -> dict[str, Any]:
    """:func:`run_render` once it holds the lock of ``out_dir`` (``stale``: a line
    saying whose dead run left it, for the log)."""
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
    # committed scenes on disk (resume): prepare_output below keeps them; a shard of
    # another run is refused before anything is written
    done = set()
    if resume and out_dir.is_dir():
        done = shards.check_provenance(out_dir, shards.run_identity(cfg.model_dump(mode="json")))
    remaining = (i for i in indices if i not in done)
    first = next(remaining, None)
    _first_spec(cfg, by_index, first)
    prepare = getattr(executor, "prepare", None)
    if prepare is not None:  # e.g. reach the Ray cluster before anything lands in out_dir
        prepare()
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
    disk = Disk(out_dir, cfg)
    plan = Plan(todo, disk.ok)
    run = Run(cfg, out_dir, plan, disk, bar, retries + 1, by_index if specs else {})
    run.this_run["skipped"] = skipped
    if stale:
        bar.log(stale)
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
            "out of disk space" if disk_full(exc.errno) else f"cannot write: {exc.strerror or exc}"
        )
        raise RenderFailed(
            f"{what} merging annotations.json in {out_dir}; the committed scenes are "
            f"in its shards/; free some space and {again}"
        ) from None
    return {**merged, **this_run, "wall_s": wall}
