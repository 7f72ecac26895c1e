"""Augment one sample: the single implementation behind the dataset writer
(:mod:`augment.writer`) and the online torch ``Dataset`` (:mod:`augment.torch_dataset`).

Everything moves in one albumentations call (:func:`augment.pipeline.run_pipeline`):
image, instance masks (nearest-neighbour), boxes of mask-less annotations, keypoints
and three probe points. The probes tell what the geometry did without knowing
transform names: their triangle's signed area gives the mirror flag (left/right
keypoints are swapped by ``flip_idx``) and the area scale (so ``min_visibility``
compares the remaining area with the *expected* area, not the original one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from augment.masks import (
    decode_packed,
    encode_masks,
    encode_packed,
    overlapping_pairs,
    pack_masks,
    unpack_masks,
)
from augment.pipeline import Pipeline, reseed, run_pipeline
from render.formats import coco


@dataclass
class AugmentedSample:
    """Output of :func:`augment_sample`.

    ``image``: (H', W', C) uint8, same channel order as the input. ``annotations``:
    COCO dicts in input order, dropped ones removed; each keeps its source ``id`` and
    extra keys. ``geometry_changed``: the probes moved (camera intrinsics no longer
    hold). ``mirrored``: the transform had a negative determinant. ``dropped``: source
    ids of annotations removed by ``min_area``/``min_visibility``.
    """

    image: np.ndarray
    annotations: list[dict[str, Any]]
    geometry_changed: bool
    mirrored: bool
    dropped: list[int] = field(default_factory=list)


def sample_seed(seed: int, image_id: int, copy: int) -> np.random.SeedSequence:
    """The seed of copy ``copy`` of image ``image_id``: independent of worker and order."""
    for name, v in (("seed", seed), ("image_id", image_id), ("copy", copy)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    return np.random.SeedSequence([int(seed), int(image_id), int(copy)])


def _has_segmentation(ann: Mapping[str, Any]) -> bool:
    seg = ann.get("segmentation")
    return bool(seg) and (isinstance(seg, dict) or isinstance(seg, list) and any(seg))


def _probes(h: int, w: int) -> tuple[np.ndarray, float]:
    s = 0.1 * min(h, w)  # near the centre, so crops and shifts rarely remove them
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    return np.stack([c, c + [s, 0.0], c + [0.0, s]]), s


@dataclass(frozen=True)
class PreparedSample:
    """Annotations of one image decoded to arrays, reusable for every copy.

    ``planes`` (H, W, ceil(M / 8)) uint8: the masks of the annotations ``with_mask``,
    8 per plane (:mod:`augment.masks`), ~1 bit per mask pixel; ``boxes`` (B, 4) COCO
    boxes (clipped to the image) of the ``boxed`` annotations without masks;
    ``pre_area`` (N,) pixels per annotation; ``keypoints`` (K, 3) ``[x, y, v]`` of
    all annotations, ``kp_slices`` their rows per annotation. Read-only: copies
    share it.
    """

    annotations: Sequence[Mapping[str, Any]]
    height: int
    width: int
    with_mask: list[int]
    boxed: list[int]
    planes: np.ndarray
    boxes: np.ndarray
    pre_area: np.ndarray
    keypoints: np.ndarray
    kp_slices: list[slice]

    @property
    def masks(self) -> np.ndarray:
        """(M, H, W) 0/1 uint8, unpacked on each call (M bytes per pixel: avoid)."""
        return np.ascontiguousarray(unpack_masks(self.planes, len(self.with_mask)))

    @cached_property
    def overlaps(self) -> set[tuple[int, int]]:
        """Pairs of positions in ``with_mask`` whose masks share a pixel (a product
        and its defects, crowds): those may still overlap after augmenting."""
        return overlapping_pairs(self.planes, len(self.with_mask))


def prepare_sample(
    annotations: Sequence[Mapping[str, Any]], height: int, width: int
) -> PreparedSample:
    """Decode the annotations of one (H, W) image (see :class:`PreparedSample`).

    Segmentations from outside must have been checked (``render.formats.masks``):
    malformed ones raise ``ValueError`` naming the annotation id, but RLE counts
    are trusted here.
    """
    h, w = height, width
    with_mask = [i for i, a in enumerate(annotations) if _has_segmentation(a)]
    boxed = [i for i, a in enumerate(annotations) if not _has_segmentation(a)]
    rles = []
    for i in with_mask:
        where = f"annotation id {annotations[i].get('id')}"
        try:
            rle = coco.segmentation_to_rle(annotations[i]["segmentation"], h, w)
            size = [int(v) for v in rle["size"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}: bad segmentation ({type(exc).__name__}: {exc})") from None
        if size != [h, w]:
            raise ValueError(f"{where}: segmentation size is {size}, the image is {[h, w]}")
        rles.append(rle)
    pre_area = np.zeros(len(annotations))
    planes = decode_packed(rles, h, w)
    if rles:
        pre_area[with_mask] = coco.areas(rles)
    boxes = np.zeros((len(boxed), 4))
    for j, i in enumerate(boxed):
        x, y, bw, bh = (float(v) for v in annotations[i].get("bbox", (0, 0, 0, 0)))
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + bw, float(w)), min(y + bh, float(h))
        boxes[j] = [x0, y0, max(x1 - x0, 0.0), max(y1 - y0, 0.0)]
        pre_area[i] = boxes[j, 2] * boxes[j, 3]
    kp_slices: list[slice] = []
    kp_rows: list[np.ndarray] = []
    start = 0
    for a in annotations:
        kps = np.asarray(a.get("keypoints") or [], dtype=np.float64).reshape(-1, 3)
        kp_slices.append(slice(start, start + len(kps)))
        kp_rows.append(kps)
        start += len(kps)
    all_kps = np.concatenate(kp_rows) if kp_rows else np.zeros((0, 3))
    return PreparedSample(
        annotations, h, w, with_mask, boxed, planes, boxes, pre_area, all_kps, kp_slices
    )


def _check_no_new_overlaps(prep: PreparedSample, out_masks: np.ndarray) -> None:
    """Refuse masks that overlap after augmenting but did not before: a transform
    wrote into the instance masks (a mask fill, a dropout value, a dilation).
    Resampling-only pipelines (bit-packed) cannot do that and are not checked."""
    new = overlapping_pairs(pack_masks(out_masks.astype(bool).view(np.uint8)), len(out_masks))
    new -= prep.overlaps
    if new:
        i, j = min(new)
        a, b = (prep.annotations[prep.with_mask[k]].get("id") for k in (i, j))
        raise ValueError(
            f"it made the masks of annotations {a} and {b} overlap (a transform wrote into"
            " the instance masks, e.g. fill_mask or mask_drop_value other than 0)"
        )


AMODAL_KEYS = ("segmentation_amodal", "bbox_amodal", "area_amodal")
"""Amodal annotation fields, dropped from copies whose geometry changed (``visibility``
stays, scaled by the share of the mask the transform kept)."""


def augment_sample(
    image: np.ndarray,
    annotations: Sequence[Mapping[str, Any]] | PreparedSample,
    pipeline: Pipeline,
    seed: np.random.SeedSequence,
    *,
    flip_idx: Mapping[int, Sequence[int]],
    keypoint_center: float = 0.0,
) -> AugmentedSample:
    """Apply ``pipeline`` once to an image and its COCO annotations.

    Args:
        image: (H, W, C) or (H, W) uint8.
        annotations: COCO annotation dicts of this image, or them already decoded by
            :func:`prepare_sample` (to reuse across copies). ``segmentation`` may be
            polygons, uncompressed or compressed RLE, or absent (then the box is moved
            by albumentations' box transform, which loosens under rotation).
            ``keypoints`` are ``[x, y, v] * K``.
        pipeline: from :func:`augment.pipeline.build_pipeline`; reseeded here.
        seed: e.g. :func:`sample_seed`; the result depends only on the inputs and it.
        flip_idx: category id -> keypoint permutation used when the image is mirrored
            (categories absent: no swap).
        keypoint_center: coordinate of pixel 0's centre in the keypoints: 0.0 for
            COCO's pixel-index convention, 0.5 for continuous coordinates.

    Returns:
        Masks come back as compressed RLE with ``bbox == toBbox(rle)`` and
        ``area == area(rle)``; keypoints outside the output image become
        ``[0, 0, 0]``; ``num_keypoints`` is recounted; a float ``visibility`` is scaled
        by the fraction of the expected area that remains.
    """
    h, w = image.shape[:2]
    prep = (
        annotations
        if isinstance(annotations, PreparedSample)
        else prepare_sample(annotations, h, w)
    )
    if (prep.height, prep.width) != (h, w):
        raise ValueError(f"prepared for {prep.width}x{prep.height}, image is {w}x{h}")
    anns, with_mask, boxed, pre_area = prep.annotations, prep.with_mask, prep.boxed, prep.pre_area
    boxes, kp_slices, all_kps = prep.boxes, prep.kp_slices, prep.keypoints
    valid_box = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    probes, s = _probes(h, w)
    points = np.concatenate([all_kps[:, :2] - keypoint_center, probes])

    reseed(pipeline, seed)
    out_img, out_masks, packed, out_boxes, box_index, out_points = run_pipeline(
        pipeline, image, prep.planes, len(with_mask), boxes[valid_box], points
    )
    if (
        not isinstance(out_img, np.ndarray)
        or out_img.dtype != np.uint8
        or out_img.ndim not in (2, 3)
    ):
        got = getattr(out_img, "dtype", type(out_img).__name__)
        raise ValueError(
            f"it returned a {got} image, not an 8-bit array (ToTensorV2, Normalize,"
            " ToFloat and the like cannot be used to write images)"
        )
    if not packed and len(with_mask) > 1:
        _check_no_new_overlaps(prep, out_masks)
    oh, ow = out_img.shape[:2]
    p = out_points[-3:]
    if np.isfinite(p).all():
        (ax, ay), (bx, by) = p[1] - p[0], p[2] - p[0]
        det = float(ax * by - ay * bx) / (s * s)
        geometry_changed = (oh, ow) != (h, w) or not np.allclose(p, probes, atol=1e-3)
    else:  # a probe left the image: geometry unknown, assume no mirror
        det, geometry_changed = 1.0, True
    mirrored = det < 0
    scale = abs(det) if abs(det) > 1e-6 else 1.0

    post_area = np.zeros(len(anns))
    out_rle: dict[int, coco.RLE] = {}
    if with_mask:
        encoded, areas = (
            encode_packed(out_masks, len(with_mask)) if packed else encode_masks(out_masks)
        )
        for i, rle, pixels in zip(with_mask, encoded, areas, strict=True):
            out_rle[i] = rle
            post_area[i] = int(pixels)
    out_box: dict[int, list[float]] = {}
    boxed_valid = [i for i, ok in zip(boxed, valid_box, strict=True) if ok]
    for row, k in zip(out_boxes, box_index, strict=True):
        i = boxed_valid[int(k)]
        box = np.round(row, 3)  # albumentations normalizes boxes in float32
        out_box[i] = [float(v) for v in box]
        post_area[i] = round(float(box[2] * box[3]), 3)

    result: list[dict[str, Any]] = []
    dropped: list[int] = []
    for i, a in enumerate(anns):
        expected = pre_area[i] * scale
        keep_frac = post_area[i] / expected if expected > 0 else 0.0
        spec = pipeline.spec
        if post_area[i] <= 0 or post_area[i] < spec.min_area or keep_frac < spec.min_visibility:
            dropped.append(int(a.get("id", -1)))
            continue
        new = dict(a)
        if i in out_rle:
            new["segmentation"] = out_rle[i]
            new["area"] = int(post_area[i])
            new["bbox"] = coco.bbox(out_rle[i])
        else:
            new["bbox"] = out_box[i]
            new["area"] = float(post_area[i])
        if "keypoints" in a and a["keypoints"]:
            kps = np.zeros((kp_slices[i].stop - kp_slices[i].start, 3))
            xy = out_points[kp_slices[i]]
            v = all_kps[kp_slices[i], 2]
            inside = (
                (xy[:, 0] >= -0.5)
                & (xy[:, 0] < ow - 0.5)
                & (xy[:, 1] >= -0.5)
                & (xy[:, 1] < oh - 0.5)
            )
            keep = inside & (v > 0)
            kps[keep, :2] = np.round(xy[keep] + keypoint_center, 3)
            kps[keep, 2] = v[keep]
            perm = flip_idx.get(int(a.get("category_id", -1))) if mirrored else None
            if perm is not None and len(perm) == len(kps):
                kps = kps[np.asarray(perm)]
            new["keypoints"] = [
                float(x) if k % 3 < 2 else int(x) for k, x in enumerate(kps.ravel())
            ]
            new["num_keypoints"] = int((kps[:, 2] > 0).sum())
        vis = a.get("visibility")
        if isinstance(vis, int | float) and not isinstance(vis, bool):
            new["visibility"] = float(vis) * float(min(1.0, keep_frac))
        if geometry_changed:  # the pixels moved: the amodal fields would be false now
            for key in AMODAL_KEYS:
                new.pop(key, None)
        result.append(new)
    return AugmentedSample(out_img, result, geometry_changed, mirrored, dropped)
