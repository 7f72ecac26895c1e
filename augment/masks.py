"""Instance masks as bit planes: 8 masks per uint8 plane, decoded from and encoded to
RLE eight at a time, so an image's masks cost ~1 bit per pixel each instead of a
byte (two bytes while pycocotools decodes them all at once).

Mask ``k`` is bit ``k % 8`` of plane ``k // 8``; planes are stacked as (H, W, C)
uint8, the layout albumentations warps as one multi-channel mask. Everything here
is a pure function of arrays; pycocotools is reached through :mod:`render.formats.coco`.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from render.formats import coco

GROUP = 8
"""Masks per plane (bits of a uint8)."""


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """(M, H, W) 0/1 uint8 -> (H, W, ceil(M / 8)) uint8, mask k in bit k % 8 of plane k // 8."""
    m, h, w = masks.shape
    n = (m + 7) // 8
    if n == 1:  # the common case: one plane, built in place without a strided copy
        plane = masks[0].copy()
        tmp = np.empty((h, w), np.uint8)
        for k in range(1, m):
            np.left_shift(masks[k], np.uint8(k), out=tmp)
            np.bitwise_or(plane, tmp, out=plane)
        return plane[:, :, None]
    planes = np.zeros((h, w, n), np.uint8)
    for p in range(n):
        planes[:, :, p] = pack_masks(masks[8 * p : 8 * p + 8])[:, :, 0]
    return planes


def unpack_masks(planes: np.ndarray, count: int) -> np.ndarray:
    """Inverse of :func:`pack_masks`: (H, W, C) uint8 -> (count, H, W) 0/1 uint8.

    The result is a view whose memory is column-major per mask (pycocotools'
    order), so RLE encoding needs no transposing copy: each plane is transposed
    once (contiguously), then every mask is one shift and one mask of it.
    """
    h, w = planes.shape[:2]
    out = np.empty((count, w, h), np.uint8)
    for p in range((count + 7) // 8):
        plane_t = cv2.transpose(np.ascontiguousarray(planes[:, :, p]))
        for k in range(8 * p, min(count, 8 * p + 8)):
            np.right_shift(plane_t, np.uint8(k % 8), out=out[k])
            np.bitwise_and(out[k], np.uint8(1), out=out[k])
    return out.transpose(0, 2, 1)


def decode_packed(rles: Sequence[coco.RLE], height: int, width: int) -> np.ndarray:
    """Compressed or uncompressed RLEs of (H, W) masks -> (H, W, ceil(N / 8)) planes.

    Decodes 8 masks per pycocotools call: the transient is 8 masks, not N. The RLEs
    must be checked first (``render.formats.masks``): pycocotools writes past its buffer
    when the counts add up to more than H * W.
    """
    n = len(rles)
    planes = np.zeros((height, width, (n + 7) // 8), np.uint8)
    acc_t = np.empty((width, height), np.uint8)  # column-major (H, W) == C-order (W, H)
    tmp_t = np.empty((width, height), np.uint8)
    for p in range(planes.shape[2]):
        group = rles[GROUP * p : GROUP * p + GROUP]
        decoded = coco.decode_stack(group)  # (H, W, k), Fortran order
        for j in range(len(group)):
            mask_t = decoded[:, :, j].T  # C-contiguous (W, H) view
            if j == 0:
                np.copyto(acc_t, mask_t)
            else:
                np.left_shift(mask_t, np.uint8(j), out=tmp_t)
                np.bitwise_or(acc_t, tmp_t, out=acc_t)
        if planes.shape[2] == 1:
            cv2.transpose(acc_t, dst=planes[:, :, 0])
        else:
            planes[:, :, p] = cv2.transpose(acc_t)
    return planes


def encode_packed(planes: np.ndarray, count: int) -> tuple[list[coco.RLE], np.ndarray]:
    """(H, W, C) planes -> ``count`` compressed RLEs and their areas (pixels, int64),
    unpacking one plane (8 masks) at a time."""
    rles: list[coco.RLE] = []
    for p in range((count + 7) // 8):
        k = min(GROUP, count - GROUP * p)
        rles.extend(coco.encode_many(unpack_masks(planes[:, :, p : p + 1], k)))
    return rles, coco.areas(rles)


def encode_masks(masks: np.ndarray, chunk: int = 64) -> tuple[list[coco.RLE], np.ndarray]:
    """(M, H, W) masks (any non-zero value is foreground: a transform may have written
    another value) -> M compressed RLEs and their areas, ``chunk`` at a time (each
    transposed with ``cv2.transpose`` to pycocotools' column-major layout)."""
    m, h, w = masks.shape
    rles: list[coco.RLE] = []
    cols = np.empty((min(chunk, m), w, h), np.uint8)
    for start in range(0, m, chunk):
        part = masks[start : start + chunk].astype(bool).view(np.uint8)
        for k in range(len(part)):
            cv2.transpose(np.ascontiguousarray(part[k]), dst=cols[k])
        rles.extend(coco.encode_many(cols[: len(part)].transpose(0, 2, 1)))
    return rles, coco.areas(rles)


_POPCOUNT = np.array([bin(v).count("1") for v in range(256)], np.uint8)


def overlapping_pairs(planes: np.ndarray, count: int) -> set[tuple[int, int]]:
    """Pairs ``(i, j)``, i < j, of the ``count`` masks in ``planes`` (H, W, C) that
    share a pixel: only pixels with two or more bits set are looked at."""
    covered = np.zeros(planes.shape[:2], np.uint16)
    for p in range(planes.shape[2]):
        covered += _POPCOUNT[planes[:, :, p]]
    shared = planes[covered >= 2]  # (P, C) bit patterns of the shared pixels
    pairs: set[tuple[int, int]] = set()
    for pattern in np.unique(shared, axis=0) if len(shared) else ():
        bits = np.flatnonzero(np.unpackbits(pattern, bitorder="little"))
        bits = bits[bits < count]
        pairs.update((int(a), int(b)) for k, a in enumerate(bits) for b in bits[k + 1 :])
    return pairs
