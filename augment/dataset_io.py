"""Reading a COCO dataset directory and writing files atomically.

Works on any COCO dataset, not only synthcv's: ``file_name`` is resolved against
the image root (``DIR`` by default, then ``DIR/images``). Every problem is a
one-line :class:`~render.errors.DatasetError` naming the file and field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from render.errors import DatasetError


@dataclass(frozen=True)
class SourceDataset:
    """A loaded COCO dataset. ``coco`` is the parsed ``annotations.json``;
    ``by_image`` maps image id -> its annotations in file order; ``paths`` maps
    image id -> the image file on disk."""

    root: Path
    annotations_path: Path
    coco: dict[str, Any]
    by_image: dict[int, list[dict[str, Any]]]
    paths: dict[int, Path]


def _nonneg_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DatasetError(f"{where}: expected an integer id >= 0, got {value!r}")
    return value


def read_source(root: Path, annotations: Path | None, image_root: Path | None) -> SourceDataset:
    """Load and check ``annotations`` (default ``root/annotations.json``); check that
    every image file exists (``image_root`` default: ``root``, falling back to
    ``root/images``)."""
    ann_path = annotations if annotations is not None else root / "annotations.json"
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset directory not found")
    try:
        text = ann_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{ann_path}: annotations file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{ann_path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{ann_path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{ann_path}: expected a JSON object, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key, []), list):
            raise DatasetError(f"{ann_path}: '{key}' must be a list")
    if "images" not in data:
        raise DatasetError(f"{ann_path}: missing 'images'")
    data.setdefault("annotations", [])
    data.setdefault("categories", [])

    roots = [image_root] if image_root is not None else [root, root / "images"]
    by_image: dict[int, list[dict[str, Any]]] = {}
    paths: dict[int, Path] = {}
    for n, img in enumerate(data["images"]):
        where = f"{ann_path}: images[{n}]"
        if not isinstance(img, dict):
            raise DatasetError(f"{where}: expected an object")
        for key in ("id", "file_name", "width", "height"):
            if key not in img:
                raise DatasetError(f"{where}: missing '{key}'")
        iid = _nonneg_int(img["id"], f"{where}.id")
        if iid in by_image:
            raise DatasetError(f"{where}.id: duplicate image id {iid}")
        rel = PurePosixPath(str(img["file_name"]))
        if rel.is_absolute() or ".." in rel.parts:
            raise DatasetError(
                f"{where}.file_name: must be relative without '..', got {str(rel)!r}"
            )
        found = next((r / rel for r in roots if (r / rel).is_file()), None)
        if found is None:
            raise DatasetError(f"{roots[0] / rel}: image file not found ({where}.file_name)")
        by_image[iid] = []
        paths[iid] = found
    for n, ann in enumerate(data["annotations"]):
        where = f"{ann_path}: annotations[{n}]"
        if not isinstance(ann, dict):
            raise DatasetError(f"{where}: expected an object")
        _nonneg_int(ann.get("id"), f"{where}.id")
        ann_image = ann.get("image_id")
        if ann_image not in by_image:
            raise DatasetError(f"{where}.image_id: no image with id {ann_image!r}")
        kps = ann.get("keypoints")
        if kps is not None and (not isinstance(kps, list) or len(kps) % 3):
            raise DatasetError(f"{where}.keypoints: expected [x, y, v] * K, got {len(kps)} values")
        by_image[ann_image].append(ann)
    return SourceDataset(root, ann_path, data, by_image, paths)


def read_image(path: Path, width: int, height: int) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB; check it against the entry's size."""
    buf = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR_RGB)
    if img is None:
        raise DatasetError(f"{path}: cannot decode image")
    if img.shape[:2] != (height, width):
        raise DatasetError(
            f"{path}: image is {img.shape[1]}x{img.shape[0]}, annotations say {width}x{height}"
        )
    return img


def encode_image(img: np.ndarray, suffix: str, jpeg_quality: int, png_compression: int) -> bytes:
    """Encode an (H, W, 3) RGB uint8 image for ``suffix`` (deterministic bytes)."""
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    elif suffix == ".png" and png_compression == 0:  # stored: ~3 ms at 512x512
        params = [
            cv2.IMWRITE_PNG_COMPRESSION,
            0,
            cv2.IMWRITE_PNG_FILTER,
            cv2.IMWRITE_PNG_FILTER_NONE,
        ]
    elif suffix == ".png":  # SUB + RLE: faster and smaller than libpng's adaptive filters
        params = [
            cv2.IMWRITE_PNG_COMPRESSION,
            png_compression,
            cv2.IMWRITE_PNG_FILTER,
            cv2.IMWRITE_PNG_FILTER_SUB,
            cv2.IMWRITE_PNG_STRATEGY,
            cv2.IMWRITE_PNG_STRATEGY_RLE,
        ]
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, data = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise DatasetError(f"cannot encode image as {suffix}")
    return data.tobytes()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def dump_json(obj: Any) -> bytes:
    """Deterministic compact JSON (key order as built, no NaN)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )
