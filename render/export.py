"""``synthcv export``: a dataset to another layout (YOLO, YOLO-seg, YOLO-pose, MVTec
anomaly, MOTChallenge sequences), written atomically.

The source must pass ``synthcv validate`` first (a one-line error otherwise). The
export is built in ``.<OUT>.synthcv-export-partial`` next to ``OUT`` and renamed
into place at the end: an interrupted or failed export leaves nothing (or the
previous export, with ``--overwrite``). The ownership rule of :mod:`render.outputs`
applies: ``OUT`` is locked while the export runs, must not be, contain or lie inside
the source, and ``--overwrite`` replaces only an earlier export holding nothing
but what it wrote (its marker lists every file; ``.synthcv-export`` keeps the
export's record: format, source, split, counts).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import yaml

from render.atomic import atomic_write_text, file_mode
from render.errors import UserError
from render.formats import anomaly, mot, yolo
from render.formats.inputs import Limits, read_json
from render.formats.splits import split_images, split_of
from render.formats.validate import validate_report
from render.outputs import OutputLock, claim, files_under, write_marker

FORMATS = {
    "yolo": "detect", "yolo-seg": "segment", "yolo-pose": "pose", "anomaly": "anomaly", "mot": "mot",
}  # fmt: skip
MARKER = ".synthcv-export"


def _load(dataset: Path) -> tuple[dict[str, Any], Path]:
    report = validate_report(dataset)
    if report.n_errors:
        first = report.errors[0] if report.errors else "problems found"
        raise UserError(
            f"{dataset}: not a valid dataset ({report.n_errors} problem(s), first: {first}); "
            f"see synthcv validate {dataset}"
        )
    ann_file = dataset / "annotations.json" if dataset.is_dir() else dataset
    root = dataset if dataset.is_dir() else dataset.parent
    return read_json(ann_file, Limits().json_bytes, "annotations file"), root


def _place(src: Path, dst: Path) -> None:
    """Hard-link ``src`` at ``dst``; a copy where linking fails (another filesystem)
    or where the source is less readable than the umask's files (a link shares the
    source's permissions, so it would narrow them)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    wanted = file_mode() & 0o444
    try:
        if os.stat(src).st_mode & wanted == wanted:
            os.link(src, dst)
            return
    except OSError:
        pass
    shutil.copyfile(src, dst)  # a new file: the umask's permissions


def _stems(images: list[dict[str, Any]]) -> dict[Any, str]:
    """A unique file stem per image: its own stem, or ``<id>_<stem>`` when two share it."""
    stems = [PurePosixPath(str(i["file_name"])).stem for i in images]
    dup = {s for s, n in Counter(stems).items() if n > 1}
    return {
        i["id"]: f"{i['id']}_{s}" if s in dup else s for i, s in zip(images, stems, strict=True)
    }


def _write_yolo(
    doc: dict[str, Any],
    root: Path,
    out: Path,
    task: yolo.Task,
    fractions: dict[str, float],
    seed: int,
) -> dict[str, Any]:
    classes = yolo.class_table(doc["categories"], task)
    if not classes:
        raise UserError("yolo-pose: no category has keypoints")
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    split = split_images(doc["images"], fractions, seed)
    stems = _stems(doc["images"])
    counts: Counter[str] = Counter()
    objects = 0
    for img in doc["images"]:
        name = split[img["id"]]
        src = root / str(img["file_name"])
        stem = stems[img["id"]]
        _place(src, out / "images" / name / f"{stem}{src.suffix.lower()}")
        lines = yolo.label_lines(img, by_image.get(img["id"], []), classes, task)
        label = out / "labels" / name / f"{stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")
        counts[name] += 1
        objects += len(lines)
    data = yolo.data_yaml(sorted(counts), doc["categories"], classes, task)
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return {"images": dict(counts), "objects": objects, "classes": len(classes)}


def _resample(pixels: np.ndarray, size: int, shrink: int) -> np.ndarray:
    """``pixels`` resized to ``size`` x ``size`` (``shrink``: the interpolation when
    smaller, e.g. area averaging; linear when larger, nearest for masks)."""
    if pixels.shape[0] == size:
        return pixels
    how = shrink if shrink == cv2.INTER_NEAREST or pixels.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(pixels, (size, size), interpolation=how)


def _write_anomaly(
    doc: dict[str, Any],
    root: Path,
    out: Path,
    fractions: dict[str, float],
    seed: int,
    defect_supercategory: str,
    crop_size: int | None,
) -> dict[str, Any]:
    try:
        crops = anomaly.plan_crops(doc, defect_supercategory)
    except ValueError as exc:
        raise UserError(f"anomaly: {exc}") from None
    counts: Counter[str] = Counter()
    train_share = {"train": fractions.get("train", 0.8), "test": 1.0 - fractions.get("train", 0.8)}
    cache: dict[str, np.ndarray] = {}
    for crop in crops:
        if crop.file_name not in cache:
            cache.clear()  # crops come image by image: keep one decoded image
            image = cv2.imread(str(root / crop.file_name), cv2.IMREAD_COLOR)
            if image is None:
                raise UserError(f"{root / crop.file_name}: cannot read the image")
            cache[crop.file_name] = image
        pixels = anomaly.crop_pixels(cache[crop.file_name], crop.box)
        if crop_size is not None:
            pixels = _resample(pixels, crop_size, cv2.INTER_AREA)
        if crop.defect is None:
            part = split_of(seed, crop.scene, train_share)
            folder = out / crop.product / part / "good"
        else:
            folder = out / crop.product / "test" / crop.defect
            truth = out / crop.product / "ground_truth" / crop.defect
            truth.mkdir(parents=True, exist_ok=True)
            mask = anomaly.crop_mask(crop)
            if crop_size is not None:
                mask = _resample(mask, crop_size, cv2.INTER_NEAREST)
            cv2.imwrite(str(truth / f"{crop.name}_mask.png"), mask)
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{crop.name}.png"), pixels)
        counts[f"{crop.product}/{folder.parent.name}/{folder.name}"] += 1
    return {"crops": dict(sorted(counts.items()))}


def _frame_rate(root: Path) -> float:
    """The sequences' frames per second from the render's ``dataset.json`` (10 when
    the dataset has no such record, e.g. an augmented copy)."""
    try:
        record = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
        return float(record["config"]["render"]["fps"])
    except (OSError, ValueError, KeyError, TypeError):
        return 10.0


def _write_mot(
    doc: dict[str, Any], root: Path, out: Path, fractions: dict[str, float], seed: int
) -> dict[str, Any]:
    try:
        videos = mot.sequences(doc["images"])
    except ValueError as exc:
        raise UserError(f"mot: {exc}") from None
    classes = {int(c["id"]): mot.class_of(c) for c in doc["categories"]}
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    fps = _frame_rate(root)
    counts: Counter[str] = Counter()
    boxes = 0
    for video, frames in videos.items():
        part = split_of(seed, f"video:{video}", fractions)
        name = f"synthcv-{video:04d}"
        seq = out / part / name
        exts = {PurePosixPath(str(f["file_name"])).suffix.lower() for f in frames}
        if len(exts) != 1:
            raise UserError(f"mot: video {video} mixes image types {sorted(exts)}")
        ext = exts.pop()
        for k, img in enumerate(frames, 1):
            _place(root / str(img["file_name"]), seq / "img1" / f"{k:06d}{ext}")
        anns = [a for img in frames for a in by_image.get(img["id"], [])]
        try:
            lines = mot.gt_lines(frames, anns, classes)
        except ValueError as exc:
            raise UserError(f"mot: video {video}: {exc}") from None
        (seq / "gt").mkdir(parents=True, exist_ok=True)
        (seq / "gt" / "gt.txt").write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")
        (seq / "seqinfo.ini").write_text(mot.seqinfo(name, frames, fps, ext), encoding="utf-8")
        counts[part] += 1
        boxes += len(lines)
    return {"sequences": dict(counts), "frames": len(doc["images"]), "boxes": boxes}


def export(
    dataset: Path,
    fmt: str,
    out: Path,
    *,
    fractions: dict[str, float],
    seed: int = 0,
    overwrite: bool = False,
    defect_supercategory: str = "defect",
    crop_size: int | None = None,
) -> dict[str, Any]:
    """Export ``dataset`` as ``fmt`` into ``out``; returns what was written.
    ``crop_size``: anomaly only, every crop resampled to this many pixels square."""
    if fmt not in FORMATS:
        raise UserError(f"--format: unknown {fmt!r}; valid: {', '.join(FORMATS)}")
    if crop_size is not None and (fmt != "anomaly" or not 8 <= crop_size <= 4096):
        raise UserError(f"--crop-size {crop_size}: only with --format anomaly, 8-4096 px")
    out = Path(out)
    with OutputLock(out, inside=False):
        claim(out, "export", overwrite=overwrite, inputs=[(str(dataset), Path(dataset))])
        doc, root = _load(Path(dataset))
        record = _build(
            doc, root, Path(dataset), fmt, out, fractions, seed, defect_supercategory, crop_size
        )
    return record


def _build(
    doc: dict[str, Any],
    root: Path,
    dataset: Path,
    fmt: str,
    out: Path,
    fractions: dict[str, float],
    seed: int,
    defect_supercategory: str,
    crop_size: int | None,
) -> dict[str, Any]:
    """Write the export into a staging folder beside ``out``, then swap it in."""
    staging = out.parent / f".{out.name}.synthcv-export-partial"
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        if fmt == "mot":
            summary = _write_mot(doc, root, staging, fractions, seed)
        elif fmt == "anomaly":
            summary = _write_anomaly(
                doc, root, staging, fractions, seed, defect_supercategory, crop_size
            )
        else:
            summary = _write_yolo(doc, root, staging, FORMATS[fmt], fractions, seed)  # type: ignore[arg-type]
        record = {
            "format": fmt,
            "source": str(dataset.resolve()),
            "seed": seed,
            "split": fractions,
            **({"crop_size": crop_size} if crop_size is not None else {}),
            **summary,
        }
        atomic_write_text(staging / MARKER, json.dumps(record, indent=2))
        write_marker(staging, "export", files_under(staging))
        if out.exists():
            old = out.parent / f".{out.name}.synthcv-export-old"
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(
            f"{exc.filename or out}: cannot write the export: {exc.strerror or exc}"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return record
