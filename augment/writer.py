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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from augment.allocator import tune_allocator
from augment.apply import (
    PreparedSample,
    augment_sample,
    prepare_sample,
    sample_seed,
)
from augment.dataset_io import (
    SourceDataset,
    dump_json,
    encode_image,
    read_image,
    read_source,
    write_atomic,
)
from augment.keypoints import flip_index
from augment.names import ImageNames, plan_names
from augment.pipeline import Pipeline, PipelineSpec, build_pipeline
from render.errors import DatasetError, UserError


@dataclass(frozen=True)
class WriteOptions:
    """Everything a worker needs besides the pipeline (picklable)."""

    out: Path
    source: Path
    copies: int
    seed: int
    keep_originals: bool
    image_stride: int
    ann_stride: int
    flip_idx: dict[int, list[int]]
    keypoint_center: float
    jpeg_quality: int = 95
    png_compression: int = 0


CHUNK = 4
"""Most images per pool task: reads and writes overlap within a chunk."""


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


def _write_image(target: Path, image: np.ndarray, opts: WriteOptions) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(
        encode_image(image, target.suffix.lower(), opts.jpeg_quality, opts.png_compression)
    )


def _copy_file(src: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)


def process_image(
    pipeline: Pipeline,
    opts: WriteOptions,
    entry: dict[str, Any],
    anns: list[dict[str, Any]],
    path: Path,
    names: ImageNames,
    image: np.ndarray,
    prepared: PreparedSample | None,
    io: ThreadPoolExecutor,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, list[Future[None]]]:
    """All output entries of one source image, already read (``image`` (H, W, 3)
    uint8 RGB) and its ``anns`` decoded (``prepared``, None when ``copies`` is 0),
    written to ``names``: ``(images, annotations, n_dropped, pending_writes)``. Image
    files are encoded and written on ``io`` threads (OpenCV releases the GIL) while
    the next copy is augmented; the caller waits for ``pending_writes``."""
    src_id = int(entry["id"])
    images: list[dict[str, Any]] = []
    out_anns: list[dict[str, Any]] = []
    writes: list[Future[None]] = []
    if names.original is not None:
        writes.append(io.submit(_copy_file, path, opts.out / names.original))
        original = {**entry, "file_name": names.original}
        if names.depth is not None:
            depth = opts.source / str(entry["depth_file"])
            writes.append(io.submit(_copy_file, depth, opts.out / names.depth))
            original["depth_file"] = names.depth
        images.append(original)
        out_anns.extend(anns)
    dropped = 0
    for c in range(opts.copies):
        try:
            res = augment_sample(
                image,
                prepared or anns,
                pipeline,
                sample_seed(opts.seed, src_id, c),
                flip_idx=opts.flip_idx,
                keypoint_center=opts.keypoint_center,
            )
        except (ValueError, TypeError, RuntimeError) as exc:
            raise UserError(f"{path}: pipeline {pipeline.spec.source} failed: {exc}") from exc
        new_id = (c + 1) * opts.image_stride + src_id
        name = names.copies[c]
        writes.append(io.submit(_write_image, opts.out / name, res.image, opts))
        img_entry = {**entry, "id": new_id, "file_name": name}
        img_entry["height"], img_entry["width"] = (int(v) for v in res.image.shape[:2])
        img_entry["augmented_from"] = src_id
        img_entry["augment_copy"] = c
        if res.geometry_changed:
            img_entry.pop("camera_K", None)
        if "depth_file" in img_entry:  # depth maps are not augmented
            img_entry["depth_file"] = None
        images.append(img_entry)
        for a in res.annotations:
            a["id"] = (c + 1) * opts.ann_stride + int(a["id"])
            a["image_id"] = new_id
            out_anns.append(a)
        dropped += len(res.dropped)
    return images, out_anns, dropped, writes


Task = tuple[int, dict[str, Any], list[dict[str, Any]], Path, ImageNames]
Result = tuple[list[dict[str, Any]], list[dict[str, Any]], int]


def process_stream(
    pipeline: Pipeline, opts: WriteOptions, tasks: list[Task]
) -> Iterator[tuple[int, Result]]:
    """Process tasks in order with I/O overlapped: the next image is read and the
    previous outputs are written on two threads while this one is augmented. Every
    write has finished (or raised) when the iterator is exhausted."""

    def read(task: Task) -> tuple[np.ndarray, PreparedSample | None]:
        """The image and its decoded annotations (masks bit-packed): off the
        augmenting thread, like the PNG decode."""
        _, entry, anns, path, _ = task
        image = read_image(path, int(entry["width"]), int(entry["height"]))
        if not opts.copies:
            return image, None
        try:
            prepared = prepare_sample(anns, image.shape[0], image.shape[1])
        except ValueError as exc:
            raise DatasetError(f"{path}: {exc}") from None
        return image, prepared

    pending: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=2) as io:
        reads: list[Future[tuple[np.ndarray, PreparedSample | None]] | None] = (
            [io.submit(read, tasks[0])] if tasks else []
        )
        for k, task in enumerate(tasks):
            if k + 1 < len(tasks):
                reads.append(io.submit(read, tasks[k + 1]))
            current, reads[k] = reads[k], None  # drop our reference to the decoded image
            if current is None:
                raise RuntimeError(f"image {k} was read twice")
            image, prepared = current.result()
            index, entry, anns, path, names = task
            imgs, out_anns, dropped, writes = process_image(
                pipeline, opts, entry, anns, path, names, image, prepared, io
            )
            pending.extend(writes)
            while len(pending) > 4:  # bound the memory held by queued images
                pending.pop(0).result()
            yield index, (imgs, out_anns, dropped)
        for f in pending:
            f.result()


_WORKER: dict[str, Any] = {}


def _init_worker(spec_json: str, opts: WriteOptions) -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own pool would oversubscribe
    tune_allocator()  # our process: reuse freed image buffers (augment/allocator.py)
    _WORKER["pipeline"] = build_pipeline(PipelineSpec.model_validate_json(spec_json))
    _WORKER["opts"] = opts


def _work(chunk: list[Task]) -> list[tuple[int, Result]]:
    return list(process_stream(_WORKER["pipeline"], _WORKER["opts"], chunk))


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("synthcv", "albumentations", "numpy", "opencv-python-headless", "pycocotools"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


@contextmanager
def _executor(
    spec: PipelineSpec, opts: WriteOptions, workers: int, start_method: str
) -> Iterator[Any]:
    """Yield ``run(tasks) -> iterator of (index, result)``, in-process for one worker.

    Workers are forked (``start_method``; ``spawn`` where fork is unavailable, or
    if asked): a spawned worker re-imports albumentations (~1-2 s each). OpenCV's
    thread pool is shrunk to one thread around the fork — forking while its pool
    threads exist deadlocked the children — and the pool is created before the
    progress bar starts its thread.
    """
    if workers <= 1:
        pipeline = build_pipeline(spec)
        yield lambda tasks: process_stream(pipeline, opts, tasks)
        return
    method = start_method if start_method in mp.get_all_start_methods() else "spawn"
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # no OpenCV pool threads in the parent while it forks
    try:
        pool = mp.get_context(method).Pool(
            workers, initializer=_init_worker, initargs=(spec.model_dump_json(), opts)
        )
    finally:
        cv2.setNumThreads(threads)
    with pool:

        def run_pool(tasks: list[Task]) -> Iterator[tuple[int, Result]]:
            for done in pool.imap_unordered(_work, chunked(tasks, workers)):
                yield from done

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
    png_compression: int = 0,
    jpeg_quality: int = 95,
    progress: bool = True,
    start_method: str = "fork",
) -> dict[str, Any]:
    """Write the augmented dataset to ``out``; return the ``dataset.json`` content.

    ``source`` is only read. ``copies`` >= 0 augmented copies per image;
    ``keep_originals`` also copies the source images and annotations. With
    ``workers > 1`` and ``start_method="spawn"``, call it under
    ``if __name__ == "__main__":``.
    ``keypoint_center`` (0.0 COCO pixel-index, 0.5 continuous): None reads
    ``keypoint_center`` from the source's ``dataset.json`` if present, else 0.0.
    Output images keep the source's format; ``png_compression`` 0 (default) stores
    PNGs uncompressed (fastest, ~3x larger), 1-9 compress (zlib level).
    """
    if not 0 <= png_compression <= 9:
        raise UserError(f"--png-compression: expected 0..9, got {png_compression}")
    if not 1 <= jpeg_quality <= 100:
        raise UserError(f"--jpeg-quality: expected 1..100, got {jpeg_quality}")
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
        source=source,
        copies=copies,
        seed=seed,
        keep_originals=keep_originals,
        image_stride=_stride(list(src.by_image)),
        ann_stride=_stride([int(a["id"]) for a in data["annotations"]]),
        flip_idx={int(c["id"]): f for c in data["categories"] if (f := flip_index(c)) is not None},
        keypoint_center=keypoint_center,
        jpeg_quality=jpeg_quality,
        png_compression=png_compression,
    )
    plan = plan_names(
        [(int(e["id"]), str(e["file_name"]), _depth_file(source, e)) for e in data["images"]],
        copies,
        keep_originals,
    )
    tasks = [
        (i, e, src.by_image[int(e["id"])], src.paths[int(e["id"])], names)
        for i, (e, names) in enumerate(zip(data["images"], plan, strict=True))
    ]
    results: list[Any] = [None] * len(tasks)
    dropped = 0
    t1 = time.perf_counter()
    with (
        _executor(spec, opts, workers, start_method) as run,
        _progress(progress, len(tasks)) as advance,
    ):
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
        "png_compression": png_compression,
        "jpeg_quality": jpeg_quality,
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


def _depth_file(source: Path, entry: dict[str, Any]) -> str | None:
    depth = entry.get("depth_file")
    return depth if isinstance(depth, str) and (source / depth).is_file() else None


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
