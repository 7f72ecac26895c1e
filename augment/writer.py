"""Augment a whole COCO dataset directory into a new one (``synthcv augment``).

Each source image is one task: read once, then ``copies`` calls of
:func:`augment.apply.augment_sample`, each seeded by ``(seed, image_id, copy)``.
Output ids derive from ``(source id, copy)`` — ``(copy + 1) * stride + source_id``
with ``stride`` the power of ten above the largest source id — and output order
follows the source order, so images and ``annotations.json`` are byte-identical for
any worker count, and after ``--resume``. Timings and dates go to ``dataset.json`` only.

Order of work: arguments and ``--out`` are checked, the pipeline built, the whole
input checked (:func:`augment.dataset_io.read_source`); only then is anything
written, into a staging folder (:mod:`augment.output`) that becomes ``--out`` at
the end. A run that fails on its input or pipeline removes the staging folder; a
killed or interrupted one leaves it for ``--resume``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from augment.dataset_io import SourceDataset, dump_json, read_source
from augment.names import plan_names
from augment.output import (
    Staging,
    append_journal,
    check_output,
    commit,
    completed,
    fingerprint_of,
    open_staging,
    read_journal,
    staging_path,
)
from augment.pipeline import PipelineSpec, build_pipeline
from augment.process import Result, Task, WriteOptions
from augment.report import Progress, versions
from augment.workers import WorkerLost, run_tasks
from render.formats import UserError
from render.formats.inputs import InputError, Limits, read_json
from render.outputs import OutputLock

_NOT_RECORDED = ("source", "annotations", "annotations_sha256", "image_root")
"""Fingerprint fields that dataset.json records under other names (or not)."""
MAX_ID = 2**63 - 1
"""Output ids must fit a signed 64-bit integer (other COCO tools store them so)."""


def _stride(ids: list[int]) -> int:
    return 10 ** len(str(max(ids, default=0)))


def _check_arguments(
    copies: int,
    seed: int,
    workers: int,
    keep_originals: bool,
    png: int,
    jpeg: int,
    resume: bool,
    overwrite: bool,
) -> None:
    if not 0 <= png <= 9:
        raise UserError(f"--png-compression: expected 0..9, got {png}")
    if not 1 <= jpeg <= 100:
        raise UserError(f"--jpeg-quality: expected 1..100, got {jpeg}")
    if copies < 0 or (copies == 0 and not keep_originals):
        raise UserError(f"--copies: expected >= 1 (or 0 with --keep-originals), got {copies}")
    if seed < 0:
        raise UserError(f"--seed: expected >= 0, got {seed}")
    if workers < 1:
        raise UserError(f"--workers: expected >= 1, got {workers}")
    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other")


def _source_keypoint_center(source: Path) -> float:
    try:
        meta = read_json(source / "dataset.json", 64 << 20, "dataset.json")
    except InputError:  # absent, unreadable or not JSON: COCO's convention
        return 0.0
    value = meta.get("keypoint_center", 0.0) if isinstance(meta, dict) else 0.0
    if value not in (0, 0.5) or isinstance(value, bool):
        raise UserError(
            f"{source / 'dataset.json'}: keypoint_center must be 0 or 0.5, got {value!r:.40}"
        )
    return float(value)


def _plan(src: SourceDataset, copies: int, keep_originals: bool) -> list[Task]:
    """One task per source image, in source order, with its output names."""
    images = src.coco["images"]
    ids = [int(e["id"]) for e in images]
    depth = {
        iid: str(e["depth_file"])
        for iid, e in zip(ids, images, strict=True)
        if iid in src.depth_paths
    }
    entries = [
        (iid, str(e["file_name"]), depth.get(iid)) for iid, e in zip(ids, images, strict=True)
    ]
    plan = plan_names(entries, copies, keep_originals)
    return [
        (i, e, src.by_image[iid], src.paths[iid], names, src.depth_paths.get(iid))
        for i, (iid, e, names) in enumerate(zip(ids, images, plan, strict=True))
    ]


def _run(
    spec: PipelineSpec, opts: WriteOptions, staging: Staging, tasks: list[Task], results: list[Any],
    workers: int, start_method: str, progress: bool,
) -> int:  # fmt: skip
    """Process ``tasks`` into ``staging``, journaling each finished image; the number
    of dropped annotations. Input and pipeline errors remove the staging folder."""
    dropped = 0
    try:
        with (
            open(staging.journal(), "ab") as journal,
            run_tasks(spec, opts, tasks, workers, start_method) as done,
            Progress(progress, len(tasks)) as advance,
        ):
            for index, result in done:
                results[index] = result
                append_journal(journal, index, result)
                dropped += result[2]
                advance(len(result[0]))
    except WorkerLost:
        raise
    except UserError:
        staging.discard()  # the input or the pipeline is at fault: leave nothing
        raise
    except OSError as exc:
        raise UserError(
            f"cannot write {exc.filename or staging.path}: {exc.strerror or exc}; the partial"
            " output is kept, run the same command with --resume to continue"
        ) from None
    return dropped


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
    resume: bool = False,
    annotations: Path | None = None,
    image_root: Path | None = None,
    keypoint_center: float | None = None,
    png_compression: int = 0,
    jpeg_quality: int = 95,
    progress: bool = True,
    start_method: str = "fork",
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Write the augmented dataset to ``out``; return the ``dataset.json`` content.

    ``source`` is only read. ``copies`` >= 0 augmented copies per image;
    ``keep_originals`` also copies the source images and annotations. ``overwrite``
    replaces a complete earlier output (only when the new one is complete);
    ``resume`` continues a killed or interrupted run (or returns at once if
    ``out`` already holds this very run). With ``workers > 1`` and
    ``start_method="spawn"``, call it under ``if __name__ == "__main__":``.
    ``keypoint_center`` (0.0 COCO pixel-index, 0.5 continuous): None reads
    ``keypoint_center`` from the source's ``dataset.json`` if present, else 0.0.
    Output images keep the source's format; ``png_compression`` 0 (default) stores
    PNGs uncompressed (fastest, ~3x larger), 1-9 compress (zlib level).
    """
    _check_arguments(
        copies, seed, workers, keep_originals, png_compression, jpeg_quality, resume, overwrite
    )
    with OutputLock(out, inside=False):  # one writer per --out (render/outputs.py)
        limits = limits or Limits()
        check_output(out, source, overwrite=overwrite, resume=resume)
        t0 = time.perf_counter()
        pipeline = build_pipeline(spec)  # fail on a bad pipeline before touching --out
        src = read_source(source, annotations, image_root, limits, need_depth=keep_originals)
        data = src.coco
        if keypoint_center is None:
            keypoint_center = _source_keypoint_center(source)
        image_stride = _stride(list(src.by_image))
        ann_stride = _stride([int(a["id"]) for a in data["annotations"]])
        if (copies + 1) * max(image_stride, ann_stride) > MAX_ID:
            raise UserError(
                f"--copies {copies}: output ids would not fit 64 bits with these source ids"
            )
        fields = {
            "source": str(source.resolve()),
            "annotations": str(src.annotations_path.resolve()),
            "annotations_sha256": src.digest,
            "image_root": str(image_root.resolve()) if image_root is not None else None,
            "pipeline": pipeline.as_dict(),
            "seed": seed,
            "copies": copies,
            "keep_originals": keep_originals,
            "keypoint_center": keypoint_center,
            "png_compression": png_compression,
            "jpeg_quality": jpeg_quality,
        }
        fingerprint = fingerprint_of(fields)
        if resume and not staging_path(out.resolve()).exists():
            meta = completed(out, fingerprint)
            if meta is not None:
                return meta  # this very run is already complete
            check_output(out, source, overwrite=overwrite, resume=False)
        staging, resumed = open_staging(out, fields, overwrite=overwrite, resume=resume)
        opts = WriteOptions(
            out=staging.path,
            copies=copies,
            seed=seed,
            keep_originals=keep_originals,
            image_stride=image_stride,
            ann_stride=ann_stride,
            flip_idx=src.flip_idx,
            keypoint_center=keypoint_center,
            jpeg_quality=jpeg_quality,
            png_compression=png_compression,
            limits=limits,
        )
        tasks = _plan(src, copies, keep_originals)
        results: list[Result | None] = [None] * len(tasks)
        for index, result in (read_journal(staging) if resumed else {}).items():
            results[index] = result
        todo = [t for t in tasks if results[t[0]] is None]
        t1 = time.perf_counter()
        _run(spec, opts, staging, todo, results, workers, start_method, progress)
        t2 = time.perf_counter()
        done = [r for r in results if r is not None]
        if len(done) != len(tasks):
            raise RuntimeError(f"{len(tasks) - len(done)} images were not processed")
        coco_out = {
            k: v for k, v in data.items() if k not in ("images", "annotations", "categories")
        }
        coco_out["images"] = [img for imgs, _, _ in done for img in imgs]
        coco_out["annotations"] = [a for _, anns, _ in done for a in anns]
        coco_out["categories"] = data["categories"]
        try:
            (staging.path / "annotations.json").write_bytes(dump_json(coco_out))
        except OSError as exc:
            raise UserError(
                f"cannot write {staging.path / 'annotations.json'}: {exc.strerror}"
            ) from None
        t3 = time.perf_counter()
        n_aug = len(todo) * copies
        info = {
            "kind": "augment",
            "source": fields["source"],
            "source_annotations": fields["annotations"],
            "pipeline_file": spec.source,
            **{k: v for k, v in fields.items() if k not in _NOT_RECORDED},
            "id_scheme": {"image_stride": image_stride, "annotation_stride": ann_stride},
            "counts": {
                "source_images": len(tasks),
                "images": len(coco_out["images"]),
                "annotations": len(coco_out["annotations"]),
                "dropped_annotations": sum(r[2] for r in done),
            },
            "workers": workers,
            "resumed": resumed,
            "fingerprint": fingerprint,
            "versions": versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "timings": {
                "setup_s": round(t1 - t0, 3),
                "augment_s": round(t2 - t1, 3),
                "write_annotations_s": round(t3 - t2, 3),
                "augmented_images_per_s": round(n_aug / max(t2 - t1, 1e-9), 2),
            },
        }
        try:
            (staging.path / "dataset.json").write_bytes(dump_json(info))
        except OSError as exc:
            raise UserError(
                f"cannot write {staging.path / 'dataset.json'}: {exc.strerror}"
            ) from None
        commit(staging)
        return info
