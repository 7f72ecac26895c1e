"""render.formats.masks: bulk RLE/polygon checks and decoding agree with pycocotools; the
owner-map overlap finder agrees with painting masks pixel by pixel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from render.formats import coco
from render.formats.masks import decode_segmentations, overlap_pairs

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def masks(draw: st.DrawFn) -> np.ndarray:
    """(N, H, W) bool: empty, full, blocks, speckle — runs crossing columns included."""
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    out = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["empty", "full", "block", "speckle"]))
        m = np.zeros((h, w), bool)
        if kind == "full":
            m[:] = True
        elif kind == "block":
            y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
            m[y0 : draw(st.integers(y0 + 1, h)), x0 : draw(st.integers(x0 + 1, w))] = True
        elif kind == "speckle":
            seed = draw(st.integers(0, 2**31))
            m = np.random.default_rng(seed).random((h, w)) < 0.4
        out.append(m)
    return np.stack(out)


def uncompressed(mask: np.ndarray) -> dict[str, Any]:
    flat = mask.astype(np.int8).ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    return {"size": list(mask.shape), "counts": [0, *counts] if flat[0] else counts}


@FAST
@given(ms=masks(), form=st.sampled_from(["rle", "uncompressed"]))
def test_area_bbox_and_runs_match_pycocotools(ms: np.ndarray, form: str) -> None:
    h, w = ms.shape[1:]
    segs = [coco.encode(m) if form == "rle" else uncompressed(m) for m in ms]
    d = decode_segmentations(segs, [(h, w)] * len(segs))
    assert d.errors == [None] * len(segs)
    for i, m in enumerate(ms):
        c = coco._to_c(coco.encode(m))
        assert d.area[i] == int(mask_utils.area(c)) == m.sum()
        assert d.bbox[i].tolist() == mask_utils.toBbox(c).tolist()
        flat = np.zeros(h * w, bool)
        for s, n in zip(d.start[d.owner == i], d.length[d.owner == i], strict=True):
            assert not flat[s : s + n].any()
            flat[s : s + n] = True
        assert np.array_equal(flat, m.ravel(order="F"))


def test_odd_rles_give_pycocotools_boxes() -> None:
    """Zero-length runs and counts ending on a foreground run, as toBbox sees them
    (3,000 random count lists agreed when this was written)."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 5, 2))
        cuts = np.sort(rng.integers(0, h * w + 1, size=rng.integers(1, 8)))
        rle = {"size": [h, w], "counts": np.diff(np.r_[0, cuts, h * w]).tolist()}
        d = decode_segmentations([rle], [(h, w)])
        c = mask_utils.frPyObjects(rle, h, w)
        assert d.area[0] == mask_utils.area(c)
        if d.area[0]:
            assert d.bbox[0].tolist() == mask_utils.toBbox(c).tolist(), rle
        else:  # pycocotools 2.0.11 returns garbage for an empty mask after a 0 count
            assert d.bbox[0].tolist() == [0, 0, 0, 0]


def test_polygons_match_pycocotools() -> None:
    polys = [[[2, 2, 7, 2, 7, 6, 2, 6]], [[1.5, 1, 9.2, 3, 4, 8.7], [10, 1, 12, 1, 11, 3]]]
    d = decode_segmentations(polys, [(10, 14)] * 2)
    assert d.errors == [None, None]
    for i, p in enumerate(polys):
        rle = mask_utils.merge(mask_utils.frPyObjects(p, 10, 14))
        assert d.area[i] == mask_utils.area(rle)
        assert d.bbox[i].tolist() == mask_utils.toBbox(rle).tolist()
    assert d.extent[0].tolist() == [2, 2, 5, 4]
    assert np.isnan(decode_segmentations([coco.encode(np.ones((2, 2)))], [(2, 2)]).extent).all()


GOOD = coco.encode(np.eye(4, dtype=bool))


@pytest.mark.parametrize(
    ("seg", "needle"),
    [
        ({"size": [4, 4], "counts": "1"}, "RLE counts give 1 pixels, the image has 16"),
        ({"size": [4, 4], "counts": "Z"}, "malformed compressed RLE"),  # cut-off count
        ({"size": [4, 4], "counts": "0" + chr(47)}, "malformed compressed RLE"),
        ({"size": [4, 4], "counts": "]]]]]]]0"}, "malformed compressed RLE"),  # > 30 bits
        ({"size": [4, 4], "counts": [4, 4, 4, 5]}, "17 pixels"),
        ({"size": [4, 4], "counts": [20, -4]}, "a negative count"),
        ({"size": [4, 4], "counts": [16.0]}, "flat list of integers"),
        ({"size": [4, 4], "counts": [True, 15]}, "flat list of integers"),
        ({"size": [4, 4], "counts": 7}, "must be a string or a list"),
        ({"size": [4, 4], "counts": "é"}, "not ASCII"),
        ({"size": [4, 5], "counts": GOOD["counts"]}, "RLE size [4, 5] != image"),
        ({"counts": GOOD["counts"]}, "RLE size must be [height, width]"),
        ([[1, 1]], "polygon 0 has 1 point(s); a polygon needs 3"),
        ([[1, 1, 3, 3]], "polygon 0 has 2 point(s)"),  # pycocotools would take it for a box
        ([[1, 1, 3, 3, 2]], "even length"),
        ([[1, 1, 3, 3, float("nan"), 2]], "non-finite"),
        ([[1, 1, 3, 3, 1e9, 2]], "far outside"),
        ([[0, 0, 3, 0, 3, 3] * 100], "longer than the limit"),
        ([[1, "a", 3, 3, 1, 2]], "not a list of numbers"),
        ([], "empty polygon list"),
        ("abc", "unsupported segmentation type str"),
    ],
)
def test_malformed_segmentations_are_reported_not_decoded(seg: Any, needle: str) -> None:
    d = decode_segmentations([GOOD, seg, GOOD], [(4, 4)] * 3)
    assert d.errors[0] is None and d.errors[2] is None
    assert d.errors[1] is not None and needle in d.errors[1], d.errors[1]
    assert d.area.tolist() == [4, 0, 4] and not (d.owner == 1).any()


def painted_pairs(ms: np.ndarray, ranks: list[int]) -> set[tuple[int, int]]:
    """Brute force: paint masks in rank order, one pixel at a time."""
    owner = np.full(ms.shape[1:], -1)
    pairs = set()
    for r in sorted(ranks):
        m = ms[ranks.index(r)]
        for y, x in zip(*np.nonzero(m), strict=True):
            if owner[y, x] >= 0:
                pairs.add((int(owner[y, x]), r))
            owner[y, x] = r
    return pairs


@FAST
@given(ms=masks(), perm_seed=st.integers(0, 1000), chunk=st.sampled_from([1, 5, 1 << 20]))
def test_overlap_pairs_equal_painting_pixel_by_pixel(
    ms: np.ndarray, perm_seed: int, chunk: int
) -> None:
    h, w = ms.shape[1:]
    ranks = np.random.default_rng(perm_seed).permutation(len(ms)).tolist()
    d = decode_segmentations([coco.encode(m) for m in ms], [(h, w)] * len(ms))
    rank_of_run = np.asarray(ranks)[d.owner]
    order = np.argsort(rank_of_run, kind="stable")
    pairs = overlap_pairs(d.start[order], d.length[order], rank_of_run[order], h * w, chunk)
    assert {(int(a), int(b)) for a, b in pairs} == painted_pairs(ms, ranks)


def test_overlap_pairs_of_images_side_by_side() -> None:
    """Two images in one owner map: equal pixels of different images never pair."""
    m = np.ones((3, 3), bool)
    d = decode_segmentations([coco.encode(m)] * 4, [(3, 3)] * 4)
    offset = np.array([0, 0, 9, 9])[d.owner]
    pairs = overlap_pairs(d.start + offset, d.length, d.owner, 18)
    assert pairs.tolist() == [[0, 1], [2, 3]]
