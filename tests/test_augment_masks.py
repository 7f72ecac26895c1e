"""augment on dense images: hundreds of masks, memory that grows by bits per mask."""

from __future__ import annotations

import dataclasses
import tracemalloc
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from augment.apply import augment_sample, prepare_sample, sample_seed
from augment.pipeline import build_pipeline, parse_pipeline
from render import coco


def grid_annotations(n: int, h: int, w: int, cell: int = 4) -> list[dict[str, Any]]:
    """``n`` disjoint 3x3 squares on a ``cell``-pixel grid of an (h, w) image."""
    per_row = w // cell
    assert n <= per_row * (h // cell)
    anns = []
    for k in range(n):
        y, x = divmod(k, per_row)
        m = np.zeros((h, w), bool)
        m[y * cell : y * cell + 3, x * cell : x * cell + 3] = True
        rle = coco.encode(m)
        anns.append({"id": k + 1, "category_id": 1, "segmentation": rle,
                     "bbox": coco.bbox(rle), "area": coco.area(rle), "iscrowd": 0})  # fmt: skip
    return anns


@pytest.mark.parametrize("bit_packed", [True, False])
def test_300_masks_on_one_image(bit_packed: bool) -> None:
    h, w = 60, 80
    anns = grid_annotations(300, h, w)
    pipeline = build_pipeline(parse_pipeline([{"HorizontalFlip": {"p": 1.0}}]))
    assert pipeline.bit_packed
    pipeline = dataclasses.replace(pipeline, bit_packed=bit_packed)
    image = np.zeros((h, w, 3), np.uint8)
    out = augment_sample(image, anns, pipeline, sample_seed(0, 0, 0), flip_idx={})
    assert [a["id"] for a in out.annotations] == list(range(1, 301))
    for src, a in zip(anns, out.annotations, strict=True):
        expected = coco.decode(src["segmentation"])[:, ::-1]
        assert np.array_equal(coco.decode(a["segmentation"]), expected)
        c_rle = {"size": a["segmentation"]["size"], "counts": a["segmentation"]["counts"].encode()}
        assert a["area"] == int(mask_utils.area(c_rle)) == 9
        assert a["bbox"] == [float(v) for v in mask_utils.toBbox(c_rle)]


def test_area_of_many_rles() -> None:
    rles = [a["segmentation"] for a in grid_annotations(300, 60, 80)]
    assert coco.areas(rles).tolist() == [9] * 300


def test_memory_per_mask_is_a_few_bits_per_pixel() -> None:
    """250 masks of a 256x256 image: decoding and augmenting them holds far less than
    one byte per mask pixel (a bit-packed pipeline keeps 8 masks per byte plane;
    albumentations warps more than 4 planes in chunks and stacks them again: ~4-5 bits;
    before, 18)."""
    h, w, n = 256, 256, 250
    anns = grid_annotations(n, h, w, cell=16)
    pipeline = build_pipeline(
        parse_pipeline(
            [{"HorizontalFlip": {"p": 1.0}}, {"Affine": {"rotate": [-10, 10], "p": 1.0}}]
        )
    )
    image = np.zeros((h, w, 3), np.uint8)
    tracemalloc.start()
    try:
        prep = prepare_sample(anns, h, w)
        out = augment_sample(image, prep, pipeline, sample_seed(0, 0, 0), flip_idx={})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(out.annotations) + len(out.dropped) == n and len(out.annotations) > n // 2
    bits_per_mask_pixel = 8 * peak / (n * h * w)
    assert bits_per_mask_pixel < 6, f"peak {peak / 2**20:.1f} MiB = {bits_per_mask_pixel:.1f} bits"
