"""The per-image half of ``synthcv validate``: segmentations, boxes, areas and
overlaps, for a batch of images at a time.

Segmentations are checked and decoded in bulk (:func:`render.formats.masks.decode_segmentations`);
for RLE masks synthcv's pixel-perfect contract is checked exactly: ``area ==
pycocotools.mask.area``, ``bbox == pycocotools.mask.toBbox`` (1e-6). Polygons in
third-party COCO files carry the polygon's own area and vertex extents, so for
them only ``bbox`` against the vertex extents (within 1 px) is checked. The
non-crowd masks of each image are painted once into an owner map, ancestors
(``parent_id`` chains over ``instance_id``) before descendants: a pixel painted over
by a mask that does not descend from the pixel's owner is an overlap, unless one
of the two is ``see_through`` (a fingerprint's film over a crack: both are seen).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from render.formats.masks import decode_segmentations, overlap_pairs
from render.formats.records import has_hierarchy, instance_of, is_see_through, parent_of

BBOX_TOL = 1e-6
_NUMBER = (int, float)
Report = Callable[[tuple[int, ...], str], None]
"""Receives ``(sort key, message)``; messages of a batch are emitted in key order."""


@dataclass(frozen=True)
class ImageAnns:
    """One image of a batch: its id, size and annotations (dicts, in file order)."""

    image_id: int
    height: int
    width: int
    annotations: Sequence[dict[str, Any]]


def _box(value: Any) -> list[float] | None:
    if not isinstance(value, list) or len(value) != 4:
        return None
    if not all(type(v) in _NUMBER for v in value):
        return None
    return [float(v) for v in value] if all(math.isfinite(v) for v in value) else None


def _check_box_only(ann: dict[str, Any], h: int, w: int, report: Callable[[str], None]) -> None:
    aid, bbox = ann.get("id"), ann.get("bbox")
    box = _box(bbox)
    if box is None:
        report(f"annotation {aid}: no segmentation and bbox is not [x, y, w, h]: {bbox!r:.80}")
        return
    x, y, bw, bh = box
    if bw <= 0 or bh <= 0 or x < 0 or y < 0 or x + bw > w + BBOX_TOL or y + bh > h + BBOX_TOL:
        report(f"annotation {aid}: bbox {bbox} is empty or outside the {w}x{h} image")


def _depths(anns: Sequence[dict[str, Any]]) -> tuple[list[int], dict[Any, set[Any]]]:
    """Depth of each annotation in the ``parent_id`` hierarchy (0 without one) and
    the ancestor instance ids of those that have a parent (cycles are cut)."""
    by_instance = {instance_of(a): a for a in anns if _hashable(instance_of(a))}
    by_instance.pop(None, None)
    ancestors: dict[Any, set[Any]] = {}
    depths = []
    for a in anns:
        cur, seen = parent_of(a), set()
        while _hashable(cur) and cur is not None and cur not in seen:
            seen.add(cur)
            parent = by_instance.get(cur)
            cur = parent_of(parent) if parent is not None else None
        depths.append(len(seen))
        if seen:
            ancestors[id(a)] = seen
    return depths, ancestors


def _hashable(v: Any) -> bool:
    return isinstance(v, int | str | float | bool) or v is None


def _related(a: dict[str, Any], b: dict[str, Any], ancestors: dict[Any, set[Any]]) -> bool:
    """Whether masks ``a`` and ``b`` may overlap: one is the other's ancestor, or
    one is see-through."""
    if is_see_through(a) or is_see_through(b):
        return True
    ia, ib = instance_of(a), instance_of(b)
    return (_hashable(ia) and ia in ancestors.get(id(b), ())) or (
        _hashable(ib) and ib in ancestors.get(id(a), ())
    )


def _stated(anns: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(area (N,), bbox (N, 4), crowd (N,)) as stated; NaN where not a number or
    not ``[x, y, w, h]`` (strict JSON has no NaN of its own)."""
    n = len(anns)
    area, bbox, crowd = np.full(n, np.nan), np.full((n, 4), np.nan), np.zeros(n, bool)
    for i, ann in enumerate(anns):
        a, b = ann.get("area"), ann.get("bbox")
        if type(a) in _NUMBER:
            area[i] = a
        if type(b) is list and len(b) == 4 and all(type(v) in _NUMBER for v in b):
            bbox[i] = b
        crowd[i] = bool(ann.get("iscrowd", 0))
    return area, bbox, crowd


def check_batch(images: Sequence[ImageAnns], mask_cover: float, report: Report) -> None:
    """Check the annotations of ``images``; problems go to ``report`` keyed by
    ``(image position, annotation position[, other position])``."""
    segs, sizes, where, anns = [], [], [], []  # where: (image position, annotation position)
    for p, img in enumerate(images):
        for q, ann in enumerate(img.annotations):
            seg = ann.get("segmentation")
            if seg is None or seg == []:
                _check_box_only(ann, img.height, img.width, partial(report, (p, q)))
            else:
                segs.append(seg)
                sizes.append((img.height, img.width))
                where.append((p, q))
                anns.append(ann)
    d = decode_segmentations(segs, sizes)
    area, bbox, crowd = _stated(anns)
    ok = np.array([e is None for e in d.errors], bool) & (d.area > 0)
    rle = np.isnan(d.extent[:, 0])
    no_box = ok & np.isnan(bbox[:, 0])
    with np.errstate(invalid="ignore"):
        bad_area = ok & rle & ~(area == d.area)
        bad_box = ok & rle & ~no_box & (np.abs(bbox - d.bbox).max(1) > BBOX_TOL)
        bad_extent = ok & ~rle & ~no_box & (np.abs(bbox - d.extent).max(1) > 1.0)
    bad = ~ok | no_box | bad_area | bad_box | bad_extent
    for i in np.flatnonzero(bad).tolist():
        key, ann = where[i], anns[i]
        aid, stated = ann.get("id"), ann.get("bbox")
        if d.errors[i] is not None:
            report(key, f"annotation {aid}: {d.errors[i]}")
        elif d.area[i] == 0:
            report(key, f"annotation {aid}: mask is empty (0 pixels)")
        elif no_box[i]:
            report(key, f"annotation {aid}: bbox must be [x, y, w, h], got {stated!r:.80}")
        if bad_area[i]:
            report(key, f"annotation {aid}: area {ann.get('area')!r:.40} != mask area {d.area[i]}")
        if bad_box[i]:
            report(key, f"annotation {aid}: bbox {stated} != tight mask bbox {d.bbox[i].tolist()}")
        if bad_extent[i]:
            extent = d.extent[i].tolist()
            report(
                key, f"annotation {aid}: bbox {stated} != polygon extent {extent} (1 px tolerance)"
            )
    usable = ok & ~crowd
    _check_overlaps(
        images, d, np.asarray(where, np.int64).reshape(-1, 2), usable, mask_cover, report
    )


def _check_overlaps(
    images: Sequence[ImageAnns],
    d: Any,
    where: np.ndarray,
    usable: np.ndarray,
    mask_cover: float,
    report: Report,
) -> None:
    """Owner-map overlap check of the ``usable`` decoded masks of ``images``."""
    pixels = np.array([img.height * img.width for img in images], np.int64)
    offset = np.r_[0, np.cumsum(pixels)[:-1]]
    covered = np.bincount(where[:, 0], weights=d.area, minlength=len(images))
    covered_usable = np.bincount(where[usable, 0], weights=d.area[usable], minlength=len(images))
    for p in np.flatnonzero(covered_usable > mask_cover * pixels).tolist():
        ratio = covered[p] / pixels[p]
        report(
            (int(p), len(images[p].annotations)),
            f"image {images[p].image_id}: its masks cover {ratio:.1f}x its pixels, more than"
            f" the limit of {mask_cover:g}x: overlaps not checked",
        )
        usable[where[:, 0] == p] = False
    # painting order: image, depth in the hierarchy, file order
    depth = np.zeros(len(where), np.int64)
    ancestors: dict[Any, set[Any]] = {}
    for p, img in enumerate(images):
        if has_hierarchy(img.annotations):
            depths, anc = _depths(img.annotations)
            rows = np.flatnonzero(where[:, 0] == p)
            depth[rows] = np.asarray(depths, np.int64)[where[rows, 1]]
            ancestors.update(anc)
    decoded = np.flatnonzero(usable)
    order = decoded[np.lexsort((where[decoded, 1], depth[decoded], where[decoded, 0]))]
    rank_of = np.full(len(where), -1, np.int64)
    rank_of[order] = np.arange(len(order))
    keep = usable[d.owner]
    run_rank = rank_of[d.owner[keep]]
    by_rank = np.argsort(run_rank, kind="stable")
    start = (d.start[keep] + offset[where[d.owner[keep], 0]])[by_rank]
    pairs = overlap_pairs(start, d.length[keep][by_rank], run_rank[by_rank], int(pixels.sum()))
    for ra, rb in pairs:
        (p, qa), (_, qb) = where[order[ra]], where[order[rb]]
        qa, qb = sorted((int(qa), int(qb)))
        a, b = images[p].annotations[qa], images[p].annotations[qb]
        if not _related(a, b, ancestors):
            report(
                (int(p), len(images[p].annotations), qa, qb),
                f"image {images[p].image_id}: masks of annotations {a.get('id')} and"
                f" {b.get('id')} overlap and neither is the other's ancestor (parent_id)",
            )
