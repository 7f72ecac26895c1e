"""Reading a COCO dataset directory for ``synthcv augment``, checked in full first.

Works on any COCO dataset, not only synthcv's: ``file_name`` is resolved against
the image root (``DIR`` by default, then ``DIR/images``). :func:`read_source`
checks everything the writer relies on before anything is written: strict JSON
of bounded size, unique ids, references, every segmentation (so pycocotools never
sees a malformed one), keypoints, boxes, and each image file's type, place
(inside the root, symlinks resolved) and header (format, size); pixels are
decoded in full when the image is augmented (:func:`load_image`). Every problem
is a one-line :class:`~render.errors.DatasetError` naming the file and field.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from render.formats import DatasetError
from render.formats.images import decode_rgb, probe_file
from render.formats.inputs import (
    InputError,
    Limits,
    Resolver,
    parse_json,
    read_regular,
    relative_name,
)
from render.formats.keypoints import flip_index
from render.formats.masks import decode_segmentations

_NUMBER = (int, float)
_CHECK_BATCH = 1 << 16
"""Segmentations checked per :func:`render.formats.masks.decode_segmentations` call."""


@dataclass(frozen=True)
class SourceDataset:
    """A loaded, checked COCO dataset. ``coco`` is the parsed ``annotations.json``;
    ``by_image`` maps image id -> its annotations in file order; ``paths`` image id
    -> the image file (symlinks resolved); ``depth_paths`` image id -> its depth file
    where one exists (read only with ``need_depth``); ``flip_idx`` category id ->
    keypoint permutation; ``digest`` the sha256 of the annotations file."""

    root: Path
    annotations_path: Path
    coco: dict[str, Any]
    by_image: dict[int, list[dict[str, Any]]]
    paths: dict[int, Path]
    depth_paths: dict[int, Path]
    flip_idx: dict[int, list[int]]
    digest: str


def _nonneg_int(value: Any, where: str) -> int:
    if type(value) is not int or value < 0:
        raise DatasetError(f"{where}: expected an integer id >= 0, got {value!r:.60}")
    return value


def _positive_int(value: Any, where: str) -> int:
    if type(value) is not int or value <= 0:
        raise DatasetError(f"{where}: expected an integer >= 1, got {value!r:.60}")
    return value


def _load(path: Path, limits: Limits) -> tuple[dict[str, Any], str]:
    try:
        data = read_regular(path, limits.json_bytes, "annotations file")
        doc = parse_json(data, path)
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    if not isinstance(doc, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key, []), list):
            raise DatasetError(f"{path}: '{key}' must be a list")
    if "images" not in doc:
        raise DatasetError(f"{path}: missing 'images'")
    doc.setdefault("annotations", [])
    doc.setdefault("categories", [])
    return doc, hashlib.sha256(data).hexdigest()


def _categories(cats: list[Any], where: str) -> dict[int, list[int]]:
    flips: dict[int, list[int]] = {}
    for n, c in enumerate(cats):
        if not isinstance(c, dict) or type(c.get("id")) is not int:
            raise DatasetError(f"{where}: categories[{n}]: expected an object with an integer id")
        f = flip_index(c)
        if f is not None:
            flips[c["id"]] = f
    return flips


def _find_image(
    roots: list[tuple[Resolver, str]], name: Any, where: str, limits: Limits, w: int, h: int
) -> Path:
    """The checked file of one image entry: inside the root, a regular image file
    whose header says ``w`` x ``h``."""
    try:
        rel = str(relative_name(name, f"{where}.file_name"))
        candidates = [
            resolver.resolve(prefix + rel, f"{where}.file_name") for resolver, prefix in roots
        ]
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    found = next((p for p in candidates if os.path.lexists(p)), None)
    if found is None:
        raise DatasetError(f"{roots[0][0].root / rel}: image file not found ({where}.file_name)")
    try:
        info = probe_file(found, limits)
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    if (info.width, info.height) != (w, h):
        raise DatasetError(
            f"{found}: image is {info.width}x{info.height}, annotations say {w}x{h} ({where})"
        )
    return found


def _depth_file(resolver: Resolver, name: Any, where: str, limits: Limits) -> Path | None:
    """The depth file to copy with an original, None if it does not exist."""
    try:
        path = resolver.resolve(
            str(relative_name(name, f"{where}.depth_file")), f"{where}.depth_file"
        )
        st = os.stat(path)
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read depth file: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode) or st.st_size > limits.image_bytes:
        raise DatasetError(
            f"{path}: depth file is not a regular file of at most {limits.image_mb:g} MB"
        )
    return path


def _annotation(ann: Any, n: int, path: Path, images: dict[int, Any], ids: dict[int, int]) -> str:
    """Check one annotation (not its segmentation); its label for messages."""
    where = f"{path}: annotations[{n}]"
    if not isinstance(ann, dict):
        raise DatasetError(f"{where}: expected an object")
    aid = _nonneg_int(ann.get("id"), f"{where}.id")
    if aid in ids:
        raise DatasetError(
            f"{where}.id: duplicate annotation id {aid} (also annotations[{ids[aid]}])"
        )
    ids[aid] = n
    label = f"{where} (id {aid})"
    image_id = ann.get("image_id")
    if type(image_id) is not int or image_id not in images:
        raise DatasetError(f"{where}.image_id: no image with id {image_id!r:.60}")
    cid = ann.get("category_id")
    if cid is not None and type(cid) is not int:
        raise DatasetError(f"{label}.category_id: expected an integer, got {cid!r:.60}")
    kps = ann.get("keypoints")
    if kps is not None:
        if not isinstance(kps, list) or len(kps) % 3:
            got = f"{len(kps)} values" if isinstance(kps, list) else repr(kps)[:60]
            raise DatasetError(f"{where}.keypoints: expected [x, y, v] * K, got {got}")
        if not all(type(v) in _NUMBER for v in kps):
            raise DatasetError(f"{label}.keypoints: expected numbers [x, y, v] * K")
    bbox = ann.get("bbox")
    if bbox is not None and not (
        isinstance(bbox, list) and len(bbox) == 4 and all(type(v) in _NUMBER for v in bbox)
    ):
        raise DatasetError(f"{label}.bbox: expected [x, y, w, h], got {bbox!r:.60}")
    return label


def _check_segmentations(pending: list[tuple[str, Any, tuple[int, int]]]) -> None:
    for start in range(0, len(pending), _CHECK_BATCH):
        part = pending[start : start + _CHECK_BATCH]
        d = decode_segmentations([seg for _, seg, _ in part], [size for _, _, size in part])
        for (label, _, _), error in zip(part, d.errors, strict=True):
            if error is not None:
                raise DatasetError(f"{label}.segmentation: {error}")


def read_source(
    root: Path,
    annotations: Path | None,
    image_root: Path | None,
    limits: Limits | None = None,
    *,
    need_depth: bool = False,
) -> SourceDataset:
    """Load and check ``annotations`` (default ``root/annotations.json``) and every
    image file's header (``image_root`` default: ``root``, falling back to
    ``root/images``); with ``need_depth`` also the ``depth_file`` entries."""
    limits = limits or Limits()
    ann_path = annotations if annotations is not None else root / "annotations.json"
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset directory not found")
    data, digest = _load(ann_path, limits)
    flips = _categories(data["categories"], str(ann_path))
    resolver = Resolver(root)
    roots = (
        [(Resolver(image_root), "")]
        if image_root is not None
        else [(resolver, ""), (resolver, "images/")]
    )
    by_image: dict[int, list[dict[str, Any]]] = {}
    paths: dict[int, Path] = {}
    depth_paths: dict[int, Path] = {}
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
        w, h = (
            _positive_int(img["width"], f"{where}.width"),
            _positive_int(img["height"], f"{where}.height"),
        )
        if w * h > limits.image_pixels:
            raise DatasetError(
                f"{where}: {w}x{h} is more than the limit of {limits.image_pixels:,} pixels"
            )
        paths[iid] = _find_image(roots, img["file_name"], where, limits, w, h)
        if need_depth and img.get("depth_file") is not None:
            depth = _depth_file(resolver, img["depth_file"], where, limits)
            if depth is not None:
                depth_paths[iid] = depth
        by_image[iid] = []
    ids: dict[int, int] = {}
    pending: list[tuple[str, Any, tuple[int, int]]] = []
    sizes = {int(i["id"]): (int(i["height"]), int(i["width"])) for i in data["images"]}
    for n, ann in enumerate(data["annotations"]):
        label = _annotation(ann, n, ann_path, by_image, ids)
        seg = ann.get("segmentation")
        if seg is not None and seg != []:
            pending.append((label, seg, sizes[ann["image_id"]]))
        by_image[ann["image_id"]].append(ann)
    _check_segmentations(pending)
    return SourceDataset(root, ann_path, data, by_image, paths, depth_paths, flips, digest)


def load_image(
    path: Path, width: int, height: int, limits: Limits | None = None
) -> tuple[bytes, np.ndarray]:
    """The file's bytes and its pixels, decoded in full and verified: (H, W, 3) uint8
    RGB; checked against the entry's size."""
    limits = limits or Limits()
    try:
        data = read_regular(path, limits.image_bytes, "image file")
        img = decode_rgb(data, path, limits)
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    if img.shape[:2] != (height, width):
        raise DatasetError(
            f"{path}: image is {img.shape[1]}x{img.shape[0]}, annotations say {width}x{height}"
        )
    return data, img


def read_image(path: Path, width: int, height: int, limits: Limits | None = None) -> np.ndarray:
    """:func:`load_image` without the bytes."""
    return load_image(path, width, height, limits)[1]


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


def dump_json(obj: Any) -> bytes:
    """Deterministic compact JSON (key order as built, no NaN)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )
