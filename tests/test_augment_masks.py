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
from render.formats import coco


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


def test_a_transform_writing_into_masks_is_refused_not_written() -> None:
    """Found by tests/test_fuzz.py: PixelDropout's mask_drop_value filled every
    instance mask, and the overlapping masks were written."""
    anns = grid_annotations(4, 24, 32)
    image = np.zeros((24, 32, 3), np.uint8)
    fill = build_pipeline(
        parse_pipeline([{"PixelDropout": {"dropout_prob": 1.0, "mask_drop_value": 16, "p": 1}}])
    )
    with pytest.raises(ValueError, match="made the masks of annotations 1 and 2 overlap"):
        augment_sample(image, anns, fill, sample_seed(0, 0, 0), flip_idx={})


def test_masks_that_overlapped_before_may_overlap_after() -> None:
    anns = grid_annotations(3, 24, 32)
    parent = coco.decode(anns[0]["segmentation"]) | coco.decode(anns[1]["segmentation"])
    rle = coco.encode(parent)
    anns[0] = {**anns[0], "segmentation": rle, "area": coco.area(rle), "bbox": coco.bbox(rle)}
    dropout = build_pipeline(parse_pipeline([{"CoarseDropout": {"fill_mask": 0, "p": 1}}]))
    assert not dropout.bit_packed
    out = augment_sample(
        np.zeros((24, 32, 3), np.uint8), anns, dropout, sample_seed(0, 0, 0), flip_idx={}
    )
    assert len(out.annotations) == 3


def test_pipelines_that_do_not_return_8_bit_images_are_refused() -> None:
    anns = grid_annotations(2, 24, 32)
    for transforms in ([{"ToTensorV2": {"p": 1}}], [{"Normalize": {"p": 1}}]):
        pipeline = build_pipeline(parse_pipeline(transforms))
        with pytest.raises(ValueError, match="not an 8-bit array"):
            augment_sample(
                np.zeros((24, 32, 3), np.uint8), anns, pipeline, sample_seed(0, 0, 0), flip_idx={}
            )


def test_transforms_that_cannot_be_recorded_are_refused() -> None:
    from render.errors import ConfigError

    with pytest.raises(ConfigError, match="HistogramMatching cannot be reliably serialized"):
        build_pipeline(parse_pipeline([{"HistogramMatching": {"p": 1}}], source="p.yaml"))
