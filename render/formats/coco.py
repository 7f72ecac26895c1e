"""The one module that owns pycocotools' traps.

- masks go to ``pycocotools.mask.encode`` as Fortran-ordered ``uint8`` arrays of
  shape (H, W, N) or (H, W);
- compressed RLE ``counts`` come back as ``bytes`` and are stored as ASCII ``str``;
- bbox is ``[x, y, w, h]`` with ``w = xmax - xmin + 1`` (pycocotools' ``toBbox``),
  area is the pixel count (``pycocotools.mask.area``);
- ``pycocotools.mask.area`` fails on a list of 256 or more RLEs (2.0.11 builds its
  result through a ``uint8`` array): :func:`areas` calls it in chunks;
- ``pycocotools.mask.decode`` trusts the counts: RLEs from outside must be checked
  first (``render.formats.masks``), or it writes past its buffer.

- ``COCOeval`` (:func:`evaluate`) needs a ``COCO`` object and prints its table:
  it is built from a document in memory, its output captured.

Everything here is a pure function of arrays and dicts.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from render.formats import coco_bootstrap

RLE = dict[str, Any]
"""COCO compressed RLE as stored in JSON: ``{"size": [h, w], "counts": "<ascii>"}``."""


def encode(mask: np.ndarray) -> RLE:
    """Encode one boolean/0-1 mask of shape (H, W) as JSON-ready compressed RLE."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    return _to_json(rle)


def encode_many(masks: np.ndarray) -> list[RLE]:
    """Encode a stack of masks of shape (N, H, W) in one pycocotools call."""
    if masks.ndim != 3:
        raise ValueError(f"masks must be 3-D (N, H, W), got shape {masks.shape}")
    if masks.shape[0] == 0:
        return []
    stacked = np.asfortranarray(np.moveaxis(masks.astype(np.uint8, copy=False), 0, -1))
    return [_to_json(r) for r in mask_utils.encode(stacked)]


def _to_json(rle: dict[str, Any]) -> RLE:
    counts = rle["counts"]
    return {
        "size": [int(rle["size"][0]), int(rle["size"][1])],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def _to_c(rle: RLE) -> dict[str, Any]:
    """JSON RLE -> the form pycocotools' C functions accept (uncompressed lists too)."""
    counts = rle["counts"]
    if isinstance(counts, list):
        h, w = rle["size"]
        return mask_utils.frPyObjects(rle, h, w)
    return {
        "size": list(rle["size"]),
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }


def decode(rle: RLE) -> np.ndarray:
    """Decode RLE (compressed or uncompressed) to a bool mask of shape (H, W)."""
    return mask_utils.decode(_to_c(rle)).astype(bool)


def area(rle: RLE) -> int:
    """Number of foreground pixels (``pycocotools.mask.area``)."""
    return int(mask_utils.area(_to_c(rle)))


_AREA_CHUNK = 255
"""Most RLEs per ``pycocotools.mask.area`` call (see the module docstring)."""


def areas(rles: Sequence[RLE]) -> np.ndarray:
    """Pixel counts of many RLEs, (N,) int64, in chunks that pycocotools accepts."""
    out = np.zeros(len(rles), np.int64)
    for start in range(0, len(rles), _AREA_CHUNK):
        chunk = [_to_c(r) for r in rles[start : start + _AREA_CHUNK]]
        out[start : start + len(chunk)] = mask_utils.area(chunk)
    return out


def decode_stack(rles: Sequence[RLE]) -> np.ndarray:
    """Decode N RLEs of one size to (H, W, N) 0/1 ``uint8``, Fortran-ordered (so
    ``[:, :, j].T`` is a C-contiguous (W, H) array)."""
    return mask_utils.decode([_to_c(r) for r in rles])


def bbox(rle: RLE) -> list[float]:
    """Tight ``[x, y, w, h]`` (``pycocotools.mask.toBbox``); ``w = xmax - xmin + 1``."""
    return [float(v) for v in mask_utils.toBbox(_to_c(rle))]


def merge(rles: list[RLE]) -> RLE:
    """Union of several masks of the same size."""
    if not rles:
        raise ValueError("merge needs at least one RLE")
    return _to_json(mask_utils.merge([_to_c(r) for r in rles], intersect=False))


def polygons_to_rle(polygons: list[list[float]], height: int, width: int) -> RLE:
    """COCO polygon segmentation -> one compressed RLE."""
    rles = mask_utils.frPyObjects(polygons, height, width)
    return _to_json(mask_utils.merge(rles))


def segmentation_to_rle(segmentation: Any, height: int, width: int) -> RLE:
    """Any COCO ``segmentation`` (polygons, uncompressed or compressed RLE) -> compressed RLE."""
    if isinstance(segmentation, list):
        return polygons_to_rle(segmentation, height, width)
    if isinstance(segmentation, dict):
        if isinstance(segmentation.get("counts"), list):
            return _to_json(mask_utils.frPyObjects(segmentation, height, width))
        return {"size": list(segmentation["size"]), "counts": segmentation["counts"]}
    raise ValueError(f"unsupported segmentation type {type(segmentation).__name__}")


def iou(a: RLE, b: RLE) -> float:
    """Mask IoU of two RLEs of the same size."""
    return float(mask_utils.iou([_to_c(a)], [_to_c(b)], [0])[0, 0])


def mask_bbox(mask: np.ndarray) -> list[float]:
    """Tight ``[x, y, w, h]`` of a bool mask by numpy (same convention as toBbox);
    ``[0, 0, 0, 0]`` for an empty mask."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs[0]), float(ys[0]), float(xs[-1] - xs[0] + 1), float(ys[-1] - ys[0] + 1)]


# --- COCOeval ---------------------------------------------------------------------

IOU_TYPES = ("bbox", "segm", "keypoints")
STAT_NAMES = {
    "bbox": ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"),
    "keypoints": ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"),
}  # fmt: skip
STAT_NAMES["segm"] = STAT_NAMES["bbox"]
COCO_PERSON_SIGMAS = 17
"""pycocotools' default OKS sigmas are COCO's, for 17 person keypoints."""
OTHER_KEYPOINT_SIGMA = 0.05
"""OKS sigma used for every keypoint of a schema that is not COCO's 17."""


@dataclass
class EvalResult:
    """One COCOeval run. ``stats``: COCO's summary numbers by name (:data:`STAT_NAMES`;
    -1 where there is no ground truth); ``per_class``: category id -> ``{"AP", "AP50",
    "n_gt"}`` (AP -1 for a category without ground truth); ``summary``: the standard
    table pycocotools prints. With ``bootstrap``, each per-class row also has
    ``AP50_ci`` and ``stats`` has ``AP50_ci`` (the mean's) and ``bootstrap`` (draws,
    unit, level): :mod:`render.formats.coco_bootstrap`."""

    iou_type: str
    stats: dict[str, Any]
    per_class: dict[int, dict[str, Any]]
    summary: str


def _coco_of(doc: Mapping[str, Any]) -> Any:
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = {
        "images": list(doc["images"]),
        "annotations": list(doc["annotations"]),
        "categories": list(doc["categories"]),
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def evaluate(
    gt_doc: Mapping[str, Any],
    detections: Sequence[Mapping[str, Any]],
    iou_type: str,
    *,
    bootstrap: int = 0,
    seed: int = 0,
) -> EvalResult:
    """``pycocotools.cocoeval.COCOeval`` of COCO results against a COCO document.

    Args:
        gt_doc: the ground truth (``images``, ``annotations``, ``categories``); only
            its images are evaluated. Annotations need ``area``, ``iscrowd``, ``bbox``,
            and ``segmentation`` (segm) or ``keypoints``/``num_keypoints`` (keypoints).
        detections: COCO results: ``image_id``, ``category_id``, ``score`` and
            ``bbox`` ``[x, y, w, h]`` / ``segmentation`` (RLE) / ``keypoints``
            ``[x, y, v] * K``.
        iou_type: ``bbox``, ``segm`` or ``keypoints`` (then only categories with
            keypoint names count; sigmas are COCO's for 17 keypoints, else
            :data:`OTHER_KEYPOINT_SIGMA` each).
        bootstrap: draws of the images' scenes (``scene_id``; an image without one
            is its own scene) for 95 % intervals of AP50 (0: none).
        seed: the draws' seed.
    """
    from pycocotools.cocoeval import COCOeval

    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    gt = _coco_of(gt_doc)
    names = STAT_NAMES[iou_type]
    cat_ids = sorted(int(c["id"]) for c in gt_doc["categories"])
    if iou_type == "keypoints":
        cat_ids = [int(c["id"]) for c in gt_doc["categories"] if c.get("keypoints")]
    image_ids = sorted(int(i["id"]) for i in gt_doc["images"])
    wanted = set(image_ids)
    # segm and keypoints score only the detections that carry a mask / keypoints
    need = {"segm": "segmentation", "keypoints": "keypoints"}.get(iou_type)
    dets = [
        dict(d)
        for d in detections
        if int(d["image_id"]) in wanted and (need is None or d.get(need))
    ]
    if iou_type == "segm":
        for d in dets:  # pycocotools' C code wants the counts as bytes
            d["segmentation"] = _to_c(d["segmentation"])
    n_gt = {c: 0 for c in cat_ids}
    for a in gt_doc["annotations"]:
        c = int(a["category_id"])
        if c in n_gt and not a.get("iscrowd", 0):
            if iou_type != "keypoints" or a.get("num_keypoints", 0) > 0:
                n_gt[c] += 1
    if not dets:  # pycocotools cannot load an empty result list
        stats: dict[str, Any] = {n: (0.0 if sum(n_gt.values()) else -1.0) for n in names}
        per: dict[int, dict[str, Any]] = {
            c: {"AP": 0.0 if n else -1.0, "AP50": 0.0 if n else -1.0, "n_gt": n}
            for c, n in n_gt.items()
        }
        if bootstrap > 0:  # every draw scores 0 where it has an instance
            for row in per.values():
                row["AP50_ci"] = [0.0, 0.0] if row["n_gt"] else None
            stats["AP50_ci"] = [0.0, 0.0] if sum(n_gt.values()) else None
            stats["bootstrap"] = coco_bootstrap.about(bootstrap)
        return EvalResult(iou_type, stats, per, "(no detections)")
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
    ev = COCOeval(gt, dt, iou_type)
    ev.params.imgIds = image_ids
    ev.params.catIds = cat_ids
    if iou_type == "keypoints":
        k = max(len(c["keypoints"]) for c in gt_doc["categories"] if c.get("keypoints"))
        if k != COCO_PERSON_SIGMAS:
            ev.params.kpt_oks_sigmas = np.full(k, OTHER_KEYPOINT_SIGMA)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    summary = "\n".join(line for line in out.getvalue().splitlines() if "Average" in line)
    precision = ev.eval["precision"]  # [T IoUs, R recalls, K cats, A areas, M maxDets]
    per_class: dict[int, dict[str, Any]] = {}
    for k, c in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p50 = precision[0, :, k, 0, -1]
        per_class[int(c)] = {
            "AP": float(p[p > -1].mean()) if (p > -1).any() else -1.0,
            "AP50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else -1.0,
            "n_gt": n_gt.get(int(c), 0),
        }
    stats = {n: float(v) for n, v in zip(names, ev.stats, strict=True)}
    if bootstrap > 0:
        groups = {int(i["id"]): i["scene_id"] for i in gt_doc["images"] if "scene_id" in i}
        ci = coco_bootstrap.intervals(ev, groups, bootstrap, seed)
        for c, row in per_class.items():
            row["AP50_ci"] = ci["per_class"].get(c)
        stats["AP50_ci"] = ci["mean"]
        stats["bootstrap"] = coco_bootstrap.about(bootstrap)
    return EvalResult(iou_type, stats, per_class, summary)
