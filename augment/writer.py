"""Augment a whole COCO dataset directory into a new one (``synthcv augment``).

Each source image is one task: read once, then ``copies`` calls of
:func:`augment.apply.augment_sample`, each seeded by ``(seed, image_id, copy)``.
Output ids derive from ``(source id, copy)`` — ``(copy + 1) * stride + source_id``
with ``stride`` the power of ten above the largest source id — and output order
follows the source order, so images and ``annotations.json`` are byte-identical for
any worker count. Timings and dates go to ``dataset.json`` only.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2

from augment.apply import augment_sample, sample_seed
from augment.dataset_io import (
    SourceDataset,
    dump_json,
    encode_image,
    output_name,
    read_image,
    read_source,
    write_atomic,
)
from augment.keypoints import flip_index
from augment.pipeline import Pipeline, PipelineSpec, build_pipeline
from render.errors import UserError


@dataclass(frozen=True)
class WriteOptions:
    """Everything a worker needs besides the pipeline (picklable)."""

    out: Path
    copies: int
    seed: int
    keep_originals: bool
    image_stride: int
    ann_stride: int
    flip_idx: dict[int, list[int]]
    keypoint_center: float
    jpeg_quality: int = 95
    png_compression: int = 1


def _stride(ids: list[int]) -> int:
    return 10 ** len(str(max(ids, default=0)))


def prepare_output(out: Path, source: Path, overwrite: bool) -> None:
    """Create ``out``; refuse a non-empty one unless ``overwrite``, and never a
    directory that is, contains or lies inside ``source``."""
    src, dst = source.resolve(), out.resolve()
    if dst == src or src.is_relative_to(dst) or dst.is_relative_to(src):
        raise UserError(f"--out {out}: must not be, contain or lie inside the input {source}")
    if dst.exists() and not dst.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    if dst.is_dir() and any(dst.iterdir()):
        if not overwrite:
            raise UserError(f"--out {out}: directory is not empty (pass --overwrite to replace it)")
        if not ((dst / "annotations.json").exists() or (dst / "dataset.json").exists()):
            raise UserError(f"--out {out}: not a dataset directory; refusing to delete it")
        shutil.rmtree(dst)
    dst.mkdir(parents=True, exist_ok=True)


def process_image(
    pipeline: Pipeline,
    opts: WriteOptions,
    entry: dict[str, Any],
    anns: list[dict[str, Any]],
    path: Path,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """All output entries of one source image: ``(images, annotations, n_dropped)``.
    Writes the image files under ``opts.out``."""
    src_id = int(entry["id"])
    image = read_image(path, int(entry["width"]), int(entry["height"]))
    images: list[dict[str, Any]] = []
    out_anns: list[dict[str, Any]] = []
    if opts.keep_originals:
        name = output_name(entry["file_name"], None)
        (opts.out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, opts.out / name)
        images.append({**entry, "file_name": name})
        out_anns.extend(anns)
    dropped = 0
    for c in range(opts.copies):
        try:
            res = augment_sample(
                image,
                anns,
                pipeline,
                sample_seed(opts.seed, src_id, c),
                flip_idx=opts.flip_idx,
                keypoint_center=opts.keypoint_center,
            )
        except (ValueError, TypeError, RuntimeError) as exc:
            raise UserError(f"{path}: pipeline {pipeline.spec.source} failed: {exc}") from exc
        new_id = (c + 1) * opts.image_stride + src_id
        name = output_name(entry["file_name"], c)
        target = opts.out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            encode_image(res.image, target.suffix.lower(), opts.jpeg_quality, opts.png_compression)
        )
        img_entry = {**entry, "id": new_id, "file_name": name}
        img_entry["height"], img_entry["width"] = (int(v) for v in res.image.shape[:2])
        img_entry["augmented_from"] = src_id
        img_entry["augment_copy"] = c
        if res.geometry_changed:
            img_entry.pop("camera_K", None)
        images.append(img_entry)
        for a in res.annotations:
            a["id"] = (c + 1) * opts.ann_stride + int(a["id"])
            a["image_id"] = new_id
            out_anns.append(a)
        dropped += len(res.dropped)
    return images, out_anns, dropped


_WORKER: dict[str, Any] = {}
Task = tuple[int, dict[str, Any], list[dict[str, Any]], Path]


def _init_worker(spec_json: str, opts: WriteOptions) -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own pool would oversubscribe
    _WORKER["pipeline"] = build_pipeline(PipelineSpec.model_validate_json(spec_json))
    _WORKER["opts"] = opts


def _work(task: Task) -> tuple[int, Any]:
    index, entry, anns, path = task
    return index, process_image(_WORKER["pipeline"], _WORKER["opts"], entry, anns, path)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("synthcv", "albumentations", "numpy", "opencv-python-headless", "pycocotools"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


@contextmanager
def _executor(spec: PipelineSpec, opts: WriteOptions, workers: int) -> Iterator[Any]:
    """Yield ``run(tasks) -> iterator of (index, result)``, in-process for one worker.

    Workers come from a ``forkserver`` that preloads this module once: plain
    ``fork`` of a process whose OpenCV thread pool has run deadlocks, and ``spawn``
    re-imports albumentations in every worker (~1 s each).
    """
    if workers <= 1:
        pipeline = build_pipeline(spec)

        def run_inline(tasks: list[Task]) -> Iterator[tuple[int, Any]]:
            for index, entry, anns, path in tasks:
                yield index, process_image(pipeline, opts, entry, anns, path)

        yield run_inline
        return
    ctx: Any = mp.get_context("spawn")
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["augment.writer"])
    with ctx.Pool(
        workers, initializer=_init_worker, initargs=(spec.model_dump_json(), opts)
    ) as pool:

        def run_pool(tasks: list[Task]) -> Iterator[tuple[int, Any]]:
            return pool.imap_unordered(_work, tasks, chunksize=2)

        yield run_pool


def augment_dataset(
    source: Path,
    spec: PipelineSpec,
    out: Path,
    *,
    copies: int,
    seed: int,
    workers: int = 1,
    keep_originals: bool = False,
    overwrite: bool = False,
    annotations: Path | None = None,
    image_root: Path | None = None,
    keypoint_center: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the augmented dataset to ``out``; return the ``dataset.json`` content.

    ``source`` is only read. ``copies`` >= 0 augmented copies per image;
    ``keep_originals`` also copies the source images and annotations.
    ``keypoint_center`` (0.0 COCO pixel-index, 0.5 continuous): None reads
    ``keypoint_center`` from the source's ``dataset.json`` if present, else 0.0.
    """
    if copies < 0 or (copies == 0 and not keep_originals):
        raise UserError(f"--copies: expected >= 1 (or 0 with --keep-originals), got {copies}")
    if seed < 0:
        raise UserError(f"--seed: expected >= 0, got {seed}")
    if workers < 1:
        raise UserError(f"--workers: expected >= 1, got {workers}")
    t0 = time.perf_counter()
    pipeline = build_pipeline(spec)  # fail on a bad pipeline before touching --out
    src: SourceDataset = read_source(source, annotations, image_root)
    prepare_output(out, source, overwrite)
    data = src.coco
    if keypoint_center is None:
        keypoint_center = _source_keypoint_center(source)
    opts = WriteOptions(
        out=out,
        copies=copies,
        seed=seed,
        keep_originals=keep_originals,
        image_stride=_stride(list(src.by_image)),
        ann_stride=_stride([int(a["id"]) for a in data["annotations"]]),
        flip_idx={int(c["id"]): f for c in data["categories"] if (f := flip_index(c)) is not None},
        keypoint_center=keypoint_center,
    )
    tasks = [
        (i, e, src.by_image[int(e["id"])], src.paths[int(e["id"])])
        for i, e in enumerate(data["images"])
    ]
    results: list[Any] = [None] * len(tasks)
    dropped = 0
    t1 = time.perf_counter()
    with _executor(spec, opts, workers) as run, _progress(progress, len(tasks)) as advance:
        for index, (imgs, anns, n_drop) in run(tasks):
            results[index] = (imgs, anns)
            dropped += n_drop
            advance(len(imgs))
    t2 = time.perf_counter()
    coco_out = {k: v for k, v in data.items() if k not in ("images", "annotations", "categories")}
    coco_out["images"] = [img for imgs, _ in results for img in imgs]
    coco_out["annotations"] = [a for _, anns in results for a in anns]
    coco_out["categories"] = data["categories"]
    write_atomic(out / "annotations.json", dump_json(coco_out))
    t3 = time.perf_counter()
    n_aug = len(tasks) * copies
    info = {
        "kind": "augment",
        "source": str(source.resolve()),
        "source_annotations": str(src.annotations_path.resolve()),
        "pipeline_file": spec.source,
        "pipeline": pipeline.as_dict(),
        "seed": seed,
        "copies": copies,
        "keep_originals": keep_originals,
        "keypoint_center": keypoint_center,
        "id_scheme": {"image_stride": opts.image_stride, "annotation_stride": opts.ann_stride},
        "counts": {
            "source_images": len(tasks),
            "images": len(coco_out["images"]),
            "annotations": len(coco_out["annotations"]),
            "dropped_annotations": dropped,
        },
        "workers": workers,
        "versions": _versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": {
            "setup_s": round(t1 - t0, 3),
            "augment_s": round(t2 - t1, 3),
            "write_annotations_s": round(t3 - t2, 3),
            "augmented_images_per_s": round(n_aug / max(t2 - t1, 1e-9), 2),
        },
    }
    write_atomic(out / "dataset.json", dump_json(info))
    return info


def _source_keypoint_center(source: Path) -> float:
    try:
        meta = json.loads((source / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0.0
    value = meta.get("keypoint_center", 0.0) if isinstance(meta, dict) else 0.0
    if value not in (0, 0.5):
        raise UserError(
            f"{source / 'dataset.json'}: keypoint_center must be 0 or 0.5, got {value!r}"
        )
    return float(value)


class _progress:
    """A rich progress bar with images/s; a no-op when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda n: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("augment"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} images/s"),
            TimeElapsedColumn(),
        )
        self.bar.start()
        task = self.bar.add_task("augment", total=self.total, rate=0.0)
        start, done = time.perf_counter(), [0]

        def advance(n_images: int) -> None:
            done[0] += n_images
            rate = done[0] / max(time.perf_counter() - start, 1e-9)
            self.bar.update(task, advance=1, rate=rate)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
