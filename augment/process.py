"""One source image of ``synthcv augment``, start to finish: read and verify it,
augment its copies, write their files; the per-image half of :mod:`augment.writer`.

:func:`process_stream` overlaps I/O with work (the next image is read and the
previous outputs written on two threads while this one is augmented) and yields
an image's result only once all its files are written, so a caller can journal
it as complete.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augment.apply import PreparedSample, augment_sample, prepare_sample, sample_seed
from augment.dataset_io import encode_image, load_image
from augment.names import ImageNames
from augment.pipeline import Pipeline
from render.formats import DatasetError, UserError
from render.formats.inputs import InputError, Limits, read_regular


@dataclass(frozen=True)
class WriteOptions:
    """Everything a worker needs besides the pipeline (picklable). ``out`` is the
    folder written into (the staging folder)."""

    out: Path
    copies: int
    seed: int
    keep_originals: bool
    image_stride: int
    ann_stride: int
    flip_idx: dict[int, list[int]]
    keypoint_center: float
    jpeg_quality: int = 95
    png_compression: int = 0
    limits: Limits = Limits()


Task = tuple[int, dict[str, Any], list[dict[str, Any]], Path, ImageNames, Path | None]
"""``(source index, image entry, its annotations, image file, output names, depth file)``."""
Result = tuple[list[dict[str, Any]], list[dict[str, Any]], int]
"""``(output image entries, output annotations, dropped annotations)``."""
Loaded = tuple[bytes, np.ndarray, PreparedSample | None]


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _write_image(target: Path, image: np.ndarray, opts: WriteOptions) -> None:
    suffix = target.suffix.lower()
    _write(target, encode_image(image, suffix, opts.jpeg_quality, opts.png_compression))


def _copy_depth(source: Path, target: Path, limits: Limits) -> None:
    try:
        _write(target, read_regular(source, limits.image_bytes, "depth file"))
    except InputError as exc:
        raise DatasetError(str(exc)) from None


def process_image(
    pipeline: Pipeline,
    opts: WriteOptions,
    task: Task,
    loaded: Loaded,
    io: ThreadPoolExecutor,
) -> tuple[Result, list[Future[None]]]:
    """All outputs of one source image, already read (``loaded``: its file's bytes,
    (H, W, 3) uint8 RGB pixels, its annotations decoded or None when ``copies`` is
    0): its result and the pending writes (encoded and written on ``io`` threads,
    OpenCV releases the GIL, while the next copy is augmented)."""
    _, entry, anns, path, names, depth = task
    data, image, prepared = loaded
    src_id = int(entry["id"])
    images: list[dict[str, Any]] = []
    out_anns: list[dict[str, Any]] = []
    writes: list[Future[None]] = []
    if names.original is not None:
        writes.append(io.submit(_write, opts.out / names.original, data))  # verified bytes
        original = {**entry, "file_name": names.original}
        if names.depth is not None and depth is not None:
            writes.append(io.submit(_copy_depth, depth, opts.out / names.depth, opts.limits))
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
        except Exception as exc:  # noqa: BLE001 - the pipeline is user code: any failure is theirs
            detail = " ".join(str(exc).split())[:300]
            raise UserError(
                f"{path}: pipeline {pipeline.spec.source} failed: {type(exc).__name__}: {detail}"
            ) from None
        oh, ow = res.image.shape[:2]
        if oh * ow > opts.limits.image_pixels:
            raise UserError(
                f"{path}: pipeline {pipeline.spec.source} made a {ow}x{oh} image, more than the"
                f" limit of {opts.limits.image_pixels:,} pixels"
            )
        new_id = (c + 1) * opts.image_stride + src_id
        name = names.copies[c]
        writes.append(io.submit(_write_image, opts.out / name, res.image, opts))
        img_entry = {**entry, "id": new_id, "file_name": name, "height": oh, "width": ow}
        img_entry["augmented_from"] = src_id
        img_entry["augment_copy"] = c
        if res.geometry_changed:  # the pixels moved: no pinhole camera makes this image
            img_entry.pop("camera_K", None)
            img_entry.pop("camera_pose", None)
        if "depth_file" in img_entry:  # depth maps are not augmented
            img_entry["depth_file"] = None
        images.append(img_entry)
        for a in res.annotations:
            a["id"] = (c + 1) * opts.ann_stride + int(a["id"])
            a["image_id"] = new_id
            out_anns.append(a)
        dropped += len(res.dropped)
    return (images, out_anns, dropped), writes


def process_stream(
    pipeline: Pipeline, opts: WriteOptions, tasks: list[Task]
) -> Iterator[tuple[int, Result]]:
    """Process ``tasks`` in order, yielding ``(source index, result)`` once all of that
    image's files are written (at most 4 images' writes are pending at a time)."""

    def read(task: Task) -> Loaded:
        """The verified image and its decoded annotations (masks bit-packed): off the
        augmenting thread."""
        _, entry, anns, path, _, _ = task
        data, image = load_image(path, int(entry["width"]), int(entry["height"]), opts.limits)
        if not opts.copies:
            return data, image, None
        try:
            prepared = prepare_sample(anns, image.shape[0], image.shape[1])
        except ValueError as exc:
            raise DatasetError(f"{path}: {exc}") from None
        return (data if opts.keep_originals else b""), image, prepared

    pending: deque[tuple[int, Result, list[Future[None]]]] = deque()
    with ThreadPoolExecutor(max_workers=2) as io:
        reads: list[Future[Loaded] | None] = [io.submit(read, tasks[0])] if tasks else []
        for k, task in enumerate(tasks):
            if k + 1 < len(tasks):
                reads.append(io.submit(read, tasks[k + 1]))
            current, reads[k] = reads[k], None  # drop our reference to the decoded image
            if current is None:
                raise RuntimeError(f"image {k} was read twice")
            result, writes = process_image(pipeline, opts, task, current.result(), io)
            pending.append((task[0], result, writes))
            while pending and (len(pending) > 4 or all(f.done() for f in pending[0][2])):
                index, done, files = pending.popleft()
                for f in files:
                    f.result()  # raises what the write raised
                yield index, done
        while pending:
            index, done, files = pending.popleft()
            for f in files:
                f.result()
            yield index, done
