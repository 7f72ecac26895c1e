"""Check a COCO dataset on disk: ids, references, image files, pixel-perfect masks.

Works on synthcv's output and on COCO datasets synthcv did not write, including
hostile ones: every file is read through :mod:`render.formats.inputs` (regular files
inside the dataset root only, sizes capped, strict JSON) and every image is
decoded in full (:mod:`render.formats.images`), so a named pipe cannot hang it, a
truncated PNG is not valid and a symlink out of the dataset is not followed.
Masks, boxes and overlaps are checked per batch of images in
:mod:`render.formats.validate_masks`; time and memory grow linearly with the dataset.

Problems are **errors** (exit 1) or **warnings** (reported, exit 0): category id
0, images without annotations, two images sharing one file. Each is one line
naming the image, annotation or category id (or the list position when the id is
unusable).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from render.formats.images import check_image
from render.formats.inputs import (
    InputError,
    JsonError,
    Limits,
    Resolver,
    read_json,
    read_regular,
    relative_name,
)
from render.formats.validate_keypoints import check_amodal, check_keypoints
from render.formats.validate_masks import ImageAnns, check_batch

MAX_PROBLEMS = 50
BATCH_PIXELS = 1 << 22
"""Images are checked in batches of about this many pixels (the owner map's size)."""
BATCH_ANNOTATIONS = 1 << 16


class Problems:
    """Errors and warnings; keeps the first ``limit`` of each and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.n_errors = self.n_warnings = 0

    def error(self, message: str) -> None:
        self.n_errors += 1
        if len(self.errors) < self.limit:
            self.errors.append(message)

    def warn(self, message: str) -> None:
        self.n_warnings += 1
        if len(self.warnings) < self.limit:
            self.warnings.append(message)


@dataclass
class Report:
    """What :func:`validate_report` found: ``errors`` and ``warnings`` (at most
    ``max_problems`` each; ``n_errors``/``n_warnings`` count all), and ``counts``
    of images, annotations and categories."""

    errors: list[str]
    warnings: list[str]
    n_errors: int
    n_warnings: int
    counts: dict[str, int] = field(default_factory=dict)

    def error_lines(self) -> list[str]:
        more = self.n_errors - len(self.errors)
        return [*self.errors, f"... and {more} more problems"] if more else list(self.errors)

    def warning_lines(self) -> list[str]:
        more = self.n_warnings - len(self.warnings)
        return [*self.warnings, f"... and {more} more warnings"] if more else list(self.warnings)


def _int_id(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _load(path: Path, limits: Limits) -> tuple[dict[str, Any] | None, Path, str | None]:
    """(COCO dict, image root, fatal problem). ``path``: a dataset folder or a COCO json."""
    is_dir = path.is_dir()
    ann_file = path / "annotations.json" if is_dir else path
    root = path if is_dir else path.parent
    try:
        # floats are checked where they are used (bbox, area, polygons)
        doc = read_json(ann_file, limits.json_bytes, "annotations file", finite=False)
    except JsonError as exc:
        return None, root, f"{exc.path}: cannot parse JSON: {exc.detail}"
    except InputError as exc:
        return None, root, str(exc)
    if not isinstance(doc, dict):
        return None, root, f"{ann_file}: expected a JSON object, got {type(doc).__name__}"
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            return None, root, f"{ann_file}: '{key}' must be a list"
    return doc, root, None


def _check_categories(cats: list[Any], problems: Problems) -> dict[int, int | None]:
    """Category id -> its number of keypoint names (None for a plain category)."""
    ids: dict[int, int | None] = {}
    for k, c in enumerate(cats):
        cid = c.get("id") if isinstance(c, dict) else None
        if not isinstance(c, dict):
            problems.error(f"categories[{k}]: not an object")
        elif not _int_id(cid):
            problems.error(f"categories[{k}]: id must be an integer, got {_short(cid)}")
        elif cid in ids:
            problems.error(f"duplicate category id {cid}")
        else:
            names = c.get("keypoints")
            ids[cid] = len(names) if isinstance(names, list) else None
            if cid == 0:
                problems.warn("category 0: id 0 is reserved for the background by many tools")
    return ids


def _check_file(
    root: Resolver, iid: int, name: str, size: tuple[int, int], limits: Limits
) -> str | None:
    """The problem with image ``iid``'s file, or None."""
    try:
        path = root.resolve(str(relative_name(name, "file_name")), "file_name")
        data = read_regular(path, limits.image_bytes, name)
    except InputError as exc:
        if exc.detail == f"{name} not found":
            return f"image {iid}: file not found: {name}"
        return f"image {iid}: {exc.detail}"
    try:
        info = check_image(data, name, limits)
    except InputError as exc:
        return f"image {iid}: {exc}"
    h, w = size
    if (info.width, info.height) != (w, h):
        return f"image {iid}: {name} is {info.width}x{info.height}, annotations say {w}x{h}"
    return None


def _check_images(
    images: list[Any], root: Path, limits: Limits, problems: Problems
) -> tuple[dict[int, tuple[int, int] | None], dict[int, tuple[str, int]]]:
    """Image id -> (height, width), None where the size is unusable; and image id ->
    (file name, the earlier image id using the same file)."""
    sizes: dict[int, tuple[int, int] | None] = {}
    names: dict[str, int] = {}
    shared: dict[int, tuple[str, int]] = {}
    resolver = Resolver(root)
    for k, img in enumerate(images):
        iid = img.get("id") if isinstance(img, dict) else None
        if not isinstance(img, dict):
            problems.error(f"images[{k}]: not an object")
            continue
        if not _int_id(iid):
            problems.error(f"images[{k}]: id must be an integer, got {_short(iid)}")
            continue
        if iid in sizes:
            problems.error(f"duplicate image id {iid}")
            continue
        w, h = img.get("width"), img.get("height")
        if not (_int_id(w) and _int_id(h)) or min(w, h) <= 0:
            problems.error(
                f"image {iid}: width/height must be positive ints, got {w!r:.20}x{h!r:.20}"
            )
            sizes[iid] = None
            continue
        if w * h > limits.image_pixels:
            problems.error(
                f"image {iid}: {w}x{h} is more than the limit of {limits.image_pixels:,} pixels"
            )
            sizes[iid] = None
            continue
        sizes[iid] = (h, w)
        name = img.get("file_name")
        if not isinstance(name, str) or not name:
            problems.error(f"image {iid}: missing file_name")
            continue
        key = posixpath.normpath(name)
        if key in names:
            shared[iid] = (name, names[key])
        names.setdefault(key, iid)
        problem = _check_file(resolver, iid, name, (h, w), limits)
        if problem is not None:
            problems.error(problem)
    return sizes, shared


def _group_annotations(
    anns: list[Any], cat_ids: dict[int, int | None], sizes: dict[int, Any], problems: Problems
) -> dict[int, list[dict[str, Any]]]:
    """Check ids and references; image id -> its annotations, in file order."""
    per_image: dict[int, list[dict[str, Any]]] = {iid: [] for iid in sizes}
    seen: set[int] = set()
    for k, ann in enumerate(anns):
        # type(...) is int: the fast test that also refuses bool ids and unhashables
        if type(ann) is not dict:
            problems.error(f"annotations[{k}]: not an object")
            continue
        aid = ann.get("id")
        if type(aid) is int:
            n_seen = len(seen)
            seen.add(aid)
            if len(seen) == n_seen:
                problems.error(f"duplicate annotation id {aid}")
            label: Any = aid
        else:
            problems.error(f"annotations[{k}]: id must be an integer, got {_short(aid)}")
            label = f"annotations[{k}]"
        cid = ann.get("category_id")
        if type(cid) is not int or cid not in cat_ids:
            problems.error(f"annotation {label}: category_id {_short(cid)} is not a category")
        img_id = ann.get("image_id")
        group = per_image.get(img_id) if type(img_id) is int else None
        if group is None:
            problems.error(f"annotation {label}: image_id {_short(img_id)} is not an image")
            continue
        group.append(ann)
        if "keypoints" in ann:
            count = cat_ids.get(cid) if type(cid) is int else None
            size = sizes[img_id] if type(img_id) is int else None
            check_keypoints(ann, label, count, size, problems.error, problems.warn)
        if "segmentation_amodal" in ann:
            check_amodal(ann, label, problems.error)
    return per_image


def _batches(
    per_image: dict[int, list[dict[str, Any]]], sizes: dict[int, Any]
) -> Iterator[list[ImageAnns]]:
    batch: list[ImageAnns] = []
    pixels = n_anns = 0
    for iid, anns in per_image.items():
        size = sizes[iid]
        if size is None or not anns:
            continue
        batch.append(ImageAnns(iid, size[0], size[1], anns))
        pixels += size[0] * size[1]
        n_anns += len(anns)
        if pixels >= BATCH_PIXELS or n_anns >= BATCH_ANNOTATIONS:
            yield batch
            batch, pixels, n_anns = [], 0, 0
    if batch:
        yield batch


def validate_report(
    path: Path, *, max_problems: int = MAX_PROBLEMS, limits: Limits | None = None
) -> Report:
    """Check the dataset at ``path``: a dataset folder holding ``annotations.json``
    (``file_name`` relative to it), or a COCO json file (``file_name`` relative to
    the file's folder)."""
    if max_problems < 1:
        raise ValueError(f"max_problems must be >= 1, got {max_problems}")
    limits = limits or Limits()
    problems = Problems(max_problems)
    doc, root, fatal = _load(Path(path), limits)
    if doc is None:
        return Report([fatal or f"{path}: unreadable dataset"], [], 1, 0)
    images, anns, cats = doc["images"], doc["annotations"], doc["categories"]
    cat_ids = _check_categories(cats, problems)
    sizes, shared = _check_images(images, root, limits, problems)
    per_image = _group_annotations(anns, cat_ids, sizes, problems)
    found: list[tuple[tuple[int, ...], str]] = []

    def collect(key: tuple[int, ...], message: str) -> None:
        found.append((key, message))

    for batch in _batches(per_image, sizes):
        found.clear()
        check_batch(batch, limits.mask_cover, collect)
        for _, msg in sorted(found, key=lambda item: item[0]):
            problems.error(msg)
    for iid in sizes:
        if not per_image[iid]:
            problems.warn(f"image {iid}: no annotations")
        if iid in shared:
            name, first = shared[iid]
            problems.warn(f"image {iid}: file_name {name} is also used by image {first}")
    counts = {"images": len(images), "annotations": len(anns), "categories": len(cats)}
    return Report(
        problems.errors, problems.warnings, problems.n_errors, problems.n_warnings, counts
    )


def validate_dataset(
    path: Path, *, max_problems: int = MAX_PROBLEMS, limits: Limits | None = None
) -> list[str]:
    """The errors found in the dataset at ``path`` (empty list = valid; warnings are
    not included): at most ``max_problems``, then ``"... and N more problems"``."""
    return validate_report(path, max_problems=max_problems, limits=limits).error_lines()


def validate_cli(
    path: Path,
    out: Callable[[str], None] = print,
    *,
    max_problems: int = MAX_PROBLEMS,
    limits: Limits | None = None,
) -> int:
    """``synthcv validate DIR``: print a summary line, then the errors and the
    warnings (``warning:``), one per line; return 1 if there are errors, else 0."""
    report = validate_report(Path(path), max_problems=max_problems, limits=limits)
    errors, warnings = report.error_lines(), report.warning_lines()
    also = f", {report.n_warnings} warning(s)" if warnings else ""
    if errors:
        out(f"{path}: INVALID, {len(errors)} problem line(s){also}:")
    else:
        c = report.counts
        summary = (
            f"{c['images']} images, {c['annotations']} annotations, {c['categories']} categories"
        )
        out(f"{path}: valid ({summary}){also}" + (":" if warnings else ""))
    for line in errors:
        out(f"  {line}")
    for line in warnings:
        out(f"  warning: {line}")
    return 1 if errors else 0
