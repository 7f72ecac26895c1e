"""Check a COCO dataset on disk: ids, references, image files, pixel-perfect masks.

Works on synthcv's output and on COCO datasets synthcv did not write. For mask
(RLE) annotations, synthcv's pixel-perfect contract is checked exactly:
``area == pycocotools.mask.area``, ``bbox == pycocotools.mask.toBbox`` (1e-6),
RLE size == [height, width]. Polygon annotations in third-party COCO files carry
the polygon's own area and vertex extents, not raster ones, so for them only
``bbox`` against the vertex extents (within 1 px) is checked; they still take part
in the overlap check after rasterization. Non-crowd masks in one image must be
pairwise disjoint unless one is the other's ancestor via ``parent_id`` (synthcv's
hierarchy: a product's mask contains its defects); ``iscrowd`` ones are skipped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from render import coco

MAX_PROBLEMS = 50
BBOX_TOL = 1e-6


class _Problems:
    """Collects messages; keeps the first ``limit`` and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[str] = []
        self.dropped = 0

    def add(self, message: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(message)
        else:
            self.dropped += 1

    def result(self) -> list[str]:
        if self.dropped:
            return [*self.items, f"... and {self.dropped} more problems"]
        return list(self.items)


def _duplicates(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    dup: list[Any] = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _load(path: Path) -> tuple[dict[str, Any] | None, Path, str | None]:
    """(COCO dict, image root, problem). ``path`` is a dataset folder or a COCO json."""
    ann_file = path / "annotations.json" if path.is_dir() else path
    root = path if path.is_dir() else path.parent
    if not ann_file.is_file():
        return None, root, f"{ann_file}: annotations file not found"
    try:
        doc = json.loads(ann_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, root, f"{ann_file}: cannot parse JSON: {exc}"
    if not isinstance(doc, dict):
        return None, root, f"{ann_file}: expected a JSON object, got {type(doc).__name__}"
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            return None, root, f"{ann_file}: '{key}' must be a list"
    return doc, root, None


def _check_images(images: list[Any], root: Path, problems: _Problems) -> dict[Any, tuple[int, int]]:
    """Image id -> (height, width) for images with a usable id and size."""
    sizes: dict[Any, tuple[int, int]] = {}
    for k, img in enumerate(images):
        if not isinstance(img, dict) or "id" not in img:
            problems.add(f"images[{k}]: not an object with an 'id'")
            continue
        iid = img["id"]
        w, h = img.get("width"), img.get("height")
        if (
            not (isinstance(w, int) and isinstance(h, int) and _is_int(w) and _is_int(h))
            or min(w, h) <= 0
        ):
            problems.add(f"image {iid}: width/height must be positive ints, got {w!r}x{h!r}")
            continue
        sizes.setdefault(iid, (h, w))
        name = img.get("file_name")
        if not isinstance(name, str) or not name:
            problems.add(f"image {iid}: missing file_name")
            continue
        file = root / name
        try:
            with Image.open(file) as im:
                real_w, real_h = im.size
        except FileNotFoundError:
            problems.add(f"image {iid}: file not found: {name}")
            continue
        except (OSError, UnidentifiedImageError) as exc:
            problems.add(f"image {iid}: cannot read {name}: {exc}")
            continue
        if (real_w, real_h) != (w, h):
            problems.add(f"image {iid}: {name} is {real_w}x{real_h}, annotations say {w}x{h}")
    return sizes


def _polygon_extent_bbox(polygons: list[list[float]]) -> list[float] | None:
    pts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons if len(p) >= 6]
    if not pts:
        return None
    allp = np.concatenate(pts)
    lo, hi = allp.min(0), allp.max(0)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


_Item = tuple[dict[str, Any], coco.RLE, list[float]]
"""(annotation, its mask as compressed RLE, the mask's tight bbox)."""


def _check_annotation(
    ann: dict[str, Any], size: tuple[int, int], problems: _Problems
) -> _Item | None:
    """Check one annotation's mask, area and bbox; None if its mask is unusable."""
    aid = ann.get("id")
    h, w = size
    seg = ann.get("segmentation")
    if seg is None or seg == []:
        # Box-only annotations are valid COCO (detection datasets): check the box alone.
        _check_box_only(ann, size, problems)
        return None
    if isinstance(seg, dict):
        seg_size = seg.get("size")
        if list(seg_size or []) != [h, w]:
            problems.add(f"annotation {aid}: RLE size {seg_size} != image [height, width] {[h, w]}")
            return None
    try:
        rle = coco.segmentation_to_rle(seg, h, w)
        pix_area = coco.area(rle)
        pix_bbox = coco.bbox(rle)
    except Exception as exc:  # noqa: BLE001 - any malformed segmentation is a problem to report
        problems.add(f"annotation {aid}: unreadable segmentation: {exc}")
        return None
    bbox = ann.get("bbox")
    if not (
        isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)
    ):
        problems.add(f"annotation {aid}: bbox must be [x, y, w, h], got {bbox!r}")
        return ann, rle, pix_bbox
    if isinstance(seg, dict):
        area = ann.get("area")
        if not isinstance(area, int | float) or area != pix_area:
            problems.add(f"annotation {aid}: area {area!r} != mask area {pix_area}")
        if any(abs(a - b) > BBOX_TOL for a, b in zip(bbox, pix_bbox, strict=True)):
            problems.add(f"annotation {aid}: bbox {bbox} != tight mask bbox {pix_bbox}")
    else:
        extent = _polygon_extent_bbox(seg)
        if extent is not None and any(abs(a - b) > 1.0 for a, b in zip(bbox, extent, strict=True)):
            problems.add(
                f"annotation {aid}: bbox {bbox} != polygon extent {extent} (1 px tolerance)"
            )
    return ann, rle, pix_bbox


def _check_box_only(ann: dict[str, Any], size: tuple[int, int], problems: _Problems) -> None:
    aid = ann.get("id")
    h, w = size
    bbox = ann.get("bbox")
    if not (
        isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)
    ):
        problems.add(f"annotation {aid}: no segmentation and bbox is not [x, y, w, h]: {bbox!r}")
        return
    x, y, bw, bh = bbox
    if bw <= 0 or bh <= 0 or x < 0 or y < 0 or x + bw > w + BBOX_TOL or y + bh > h + BBOX_TOL:
        problems.add(f"annotation {aid}: bbox {bbox} is empty or outside the {w}x{h} image")


def _ancestors(ann: dict[str, Any], by_instance: dict[Any, dict[str, Any]]) -> set[Any]:
    out: set[Any] = set()
    cur = ann.get("parent_id")
    while cur is not None and cur not in out:
        out.add(cur)
        parent = by_instance.get(cur)
        cur = parent.get("parent_id") if parent is not None else None
    return out


def _check_overlaps(image_id: Any, items: list[_Item], problems: _Problems) -> None:
    """Pairwise disjointness of the non-crowd masks of one image: candidate pairs by
    bbox intersection (numpy), then mask IoU only for those."""
    if len(items) < 2:
        return
    boxes = np.array([box for _, _, box in items], dtype=np.float64)
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    touch = (np.maximum(x0[:, None], x0[None, :]) < np.minimum(x1[:, None], x1[None, :])) & (
        np.maximum(y0[:, None], y0[None, :]) < np.minimum(y1[:, None], y1[None, :])
    )
    rows, cols = np.nonzero(np.triu(touch, k=1))
    if rows.size == 0:
        return
    by_instance = {a["instance_id"]: a for a, _, _ in items if "instance_id" in a}
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        (a, ra, _), (b, rb, _) = items[i], items[j]
        ia, ib = a.get("instance_id"), b.get("instance_id")
        if ia is not None and ib is not None:
            if ia in _ancestors(b, by_instance) or ib in _ancestors(a, by_instance):
                continue
        if coco.iou(ra, rb) > 0:
            problems.add(
                f"image {image_id}: masks of annotations {a.get('id')} and {b.get('id')} overlap "
                "and neither is the other's ancestor (parent_id)"
            )


def _validate(path: Path, max_problems: int) -> tuple[list[str], dict[str, int]]:
    problems = _Problems(max_problems)
    doc, root, fatal = _load(path)
    if doc is None:
        return [fatal or f"{path}: unreadable dataset"], {}
    images, anns, cats = doc["images"], doc["annotations"], doc["categories"]
    counts = {"images": len(images), "annotations": len(anns), "categories": len(cats)}

    for label, items in (("image", images), ("annotation", anns), ("category", cats)):
        ids = [x.get("id") for x in items if isinstance(x, dict)]
        for dup in _duplicates(ids):
            problems.add(f"duplicate {label} id {dup!r}")
    cat_ids = {c.get("id") for c in cats if isinstance(c, dict)}
    sizes = _check_images(images, root, problems)

    per_image: dict[Any, list[_Item]] = defaultdict(list)
    for k, ann in enumerate(anns):
        if not isinstance(ann, dict):
            problems.add(f"annotations[{k}]: not an object")
            continue
        aid = ann.get("id")
        if ann.get("category_id") not in cat_ids:
            problems.add(
                f"annotation {aid}: category_id {ann.get('category_id')!r} is not a category"
            )
        img_id = ann.get("image_id")
        if img_id not in sizes:
            problems.add(f"annotation {aid}: image_id {img_id!r} is not an image")
            continue
        item = _check_annotation(ann, sizes[img_id], problems)
        if item is not None and not ann.get("iscrowd", 0):
            per_image[img_id].append(item)
    for img_id, items in per_image.items():
        _check_overlaps(img_id, items, problems)
    return problems.result(), counts


def validate_dataset(path: Path, *, max_problems: int = MAX_PROBLEMS) -> list[str]:
    """Problems found in the dataset at ``path`` (empty list = valid).

    ``path``: a dataset folder holding ``annotations.json`` (``file_name`` relative
    to it), or a COCO json file (``file_name`` relative to the file's folder).
    At most ``max_problems`` messages, then ``"... and N more problems"``.
    """
    return _validate(Path(path), max_problems)[0]


def validate_cli(path: Path, out: Callable[[str], None] = print) -> int:
    """``synthcv validate DIR``: print a one-line summary and return 0 when valid,
    else print the problems (one per line) and return 1."""
    problems, counts = _validate(Path(path), MAX_PROBLEMS)
    if problems:
        out(f"{path}: INVALID, {len(problems)} problem line(s):")
        for p in problems:
            out(f"  {p}")
        return 1
    out(
        f"{path}: valid ({counts['images']} images, {counts['annotations']} annotations, "
        f"{counts['categories']} categories)"
    )
    return 0
