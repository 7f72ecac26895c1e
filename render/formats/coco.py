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

Everything here is a pure function of arrays and dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

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
