"""augment.apply.augment_sample: properties over random masks and random geometric
pipelines, checked against pycocotools; keypoint rules; drop rules; determinism."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from augment.apply import augment_sample, prepare_sample, sample_seed
from augment.masks import pack_masks, unpack_masks
from augment.pipeline import Pipeline, build_pipeline, parse_pipeline
from render.errors import DatasetError
from render.formats import coco
from render.formats.keypoints import flip_index, flip_index_from_names
from tests.coco_fixtures import CATEGORIES, PERSON_KEYPOINTS, make_scene

GEOMETRIC: list[dict[str, Any]] = [
    {"HorizontalFlip": {"p": 1.0}},
    {"VerticalFlip": {"p": 1.0}},
    {"Transpose": {"p": 1.0}},
    {"RandomRotate90": {"p": 1.0}},
    {"Affine": {"rotate": [-180, 180], "p": 1.0}},
    {
        "Affine": {
            "rotate": [-30, 30],
            "scale": [0.8, 1.25],
            "translate_percent": [-0.2, 0.2],
            "p": 1.0,
        }
    },
    {"Affine": {"shear": [-15, 15], "p": 1.0}},
    {"Perspective": {"scale": [0.02, 0.08], "p": 1.0}},
    {"RandomResizedCrop": {"size": [40, 56], "scale": [0.5, 1.0], "p": 1.0}},
    {"ElasticTransform": {"alpha": 20, "sigma": 5, "p": 1.0}},
]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pipeline_of(items: list[Any], **options: float) -> Pipeline:
    return build_pipeline(parse_pipeline({"transforms": items, **options}))


@st.composite
def id_maps(draw: st.DrawFn, min_side: int = 1) -> np.ndarray:
    """An (H, W) int map of up to 4 instances painted as overlapping rectangles."""
    h, w = draw(st.integers(16, 48)), draw(st.integers(16, 48))
    ids = np.zeros((h, w), np.int32)
    for k in range(1, draw(st.integers(1, 4)) + 1):
        y0, x0 = draw(st.integers(0, h - min_side)), draw(st.integers(0, w - min_side))
        y1 = draw(st.integers(y0 + min_side, min(h, y0 + max(min_side, h // 2))))
        x1 = draw(st.integers(x0 + min_side, min(w, x0 + max(min_side, w // 2))))
        ids[y0:y1, x0:x1] = k
    return ids


def annotations_from(ids: np.ndarray, category_id: int = 1) -> list[dict[str, Any]]:
    anns = []
    for k in np.unique(ids[ids > 0]):
        rle = coco.encode(ids == k)
        anns.append(
            {"id": int(k), "category_id": category_id, "segmentation": rle,
             "bbox": coco.bbox(rle), "area": coco.area(rle), "iscrowd": 0}
        )  # fmt: skip
    return anns


@FAST
@given(
    ids=id_maps(),
    picks=st.lists(st.sampled_from(GEOMETRIC), min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_mask_boxes_and_areas_match_pycocotools(
    ids: np.ndarray, picks: list[Any], seed: int
) -> None:
    pipeline = pipeline_of(picks, min_area=1.0)
    image = np.dstack([ids.astype(np.uint8) * 40] * 3)
    out = augment_sample(
        image, annotations_from(ids), pipeline, sample_seed(seed, 0, 0), flip_idx={}
    )
    h, w = out.image.shape[:2]
    union = np.zeros((h, w), np.int32)
    for a in out.annotations:
        rle = a["segmentation"]
        assert rle["size"] == [h, w]
        c_rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
        assert a["bbox"] == [float(v) for v in mask_utils.toBbox(c_rle)]
        assert a["area"] == int(mask_utils.area(c_rle)) >= 1
        union += coco.decode(rle)
    assert union.max(initial=0) <= 1, "disjoint input masks must stay disjoint"


@st.composite
def thick_instances(draw: st.DrawFn) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Disjoint blocks of at least 15x15 px with keypoints at least 6 px inside.

    Keypoints move exactly (float) while masks are resampled nearest-neighbour at
    every warp (up to ~0.7 px each), and a downscale shrinks the margin: a visible
    keypoint within a pixel or two of its mask's edge may land just off it. The
    margin here covers two warps after a 0.5x downscale.
    """
    h, w = draw(st.integers(48, 80)), draw(st.integers(48, 80))
    ids = np.zeros((h, w), np.int32)
    k = 0
    for y0 in range(0, h - 15, 24):
        for x0 in range(0, w - 15, 24):
            if draw(st.booleans()):
                k += 1
                ids[y0 : y0 + draw(st.integers(15, 21)), x0 : x0 + draw(st.integers(15, 21))] = k
    anns = annotations_from(ids)
    for a in anns:
        m = coco.decode(a["segmentation"])
        ys, xs = np.nonzero(m)
        inner = (
            (ys >= ys.min() + 6)
            & (ys <= ys.max() - 6)
            & (xs >= xs.min() + 6)
            & (xs <= xs.max() - 6)
        )
        pick = draw(st.lists(st.integers(0, int(inner.sum()) - 1), min_size=1, max_size=3))
        pts = [(float(xs[inner][i]), float(ys[inner][i]), 2) for i in pick]
        a["keypoints"] = [v for p in pts for v in p]
        a["num_keypoints"] = len(pts)
    return np.dstack([ids.astype(np.uint8) * 30] * 3), anns


KEYPOINT_SAFE = [g for g in GEOMETRIC if "ElasticTransform" not in g]


@FAST
@given(
    sample=thick_instances(),
    picks=st.lists(st.sampled_from(KEYPOINT_SAFE), min_size=1, max_size=2),
    seed=st.integers(0, 2**32 - 1),
)
def test_visible_keypoints_stay_on_their_mask(sample: Any, picks: list[Any], seed: int) -> None:
    image, anns = sample
    out = augment_sample(image, anns, pipeline_of(picks), sample_seed(seed, 1, 2), flip_idx={})
    h, w = out.image.shape[:2]
    for a in out.annotations:
        kps = np.asarray(a["keypoints"]).reshape(-1, 3)
        m = coco.decode(a["segmentation"])
        assert a["num_keypoints"] == int((kps[:, 2] > 0).sum())
        for x, y, v in kps:
            if v == 0:
                assert x == 0 and y == 0
                continue
            col, row = int(round(x)), int(round(y))
            assert 0 <= col < w and 0 <= row < h
            assert m[row, col], f"keypoint ({x}, {y}) off its mask"


def test_coco_person_flip_idx_is_derived_from_names() -> None:
    expected = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert flip_index_from_names(PERSON_KEYPOINTS) == expected
    assert flip_index_from_names(["LeftHand", "RightHand", "head"]) == [1, 0, 2]
    assert flip_index({"id": 3, "keypoints": ["a", "b"], "flip_idx": [1, 0]}) == [1, 0]
    with pytest.raises(DatasetError, match="flip_idx must be a permutation"):
        flip_index({"id": 3, "keypoints": ["a", "b"], "flip_idx": [0, 0]})


def person_sample(h: int = 64, w: int = 80) -> tuple[np.ndarray, dict[str, Any]]:
    image, insts = make_scene(np.random.default_rng(7), h, w, person=True, n_parts=0)
    (person,) = insts
    rle = coco.encode(person["mask"])
    ann = {"id": 1, "category_id": 3, "segmentation": rle, "bbox": coco.bbox(rle), "area": coco.area(rle),
           "keypoints": person["keypoints"].ravel().tolist(), "num_keypoints": 17, "iscrowd": 0}  # fmt: skip
    return image, ann


@pytest.mark.parametrize(
    ("transforms", "mirrored"),
    [
        ([{"HorizontalFlip": {"p": 1.0}}], True),
        ([{"VerticalFlip": {"p": 1.0}}], True),
        ([{"HorizontalFlip": {"p": 1.0}}, {"VerticalFlip": {"p": 1.0}}], False),
    ],
)
def test_flips_swap_left_and_right_keypoints(transforms: list[Any], mirrored: bool) -> None:
    image, ann = person_sample()
    h, w = image.shape[:2]
    flip_idx = {3: flip_index(CATEGORIES[2]) or []}
    out = augment_sample(
        image, [ann], pipeline_of(transforms), sample_seed(0, 0, 0), flip_idx=flip_idx
    )
    assert out.mirrored is mirrored
    src = np.asarray(ann["keypoints"]).reshape(-1, 3)
    got = np.asarray(out.annotations[0]["keypoints"]).reshape(-1, 3)
    hflip = any("HorizontalFlip" in t for t in transforms)
    vflip = any("VerticalFlip" in t for t in transforms)
    moved = src.copy()
    if hflip:
        moved[:, 0] = w - 1 - moved[:, 0]
    if vflip:
        moved[:, 1] = h - 1 - moved[:, 1]
    perm = flip_idx[3] if mirrored else list(range(17))
    np.testing.assert_allclose(got, moved[perm], atol=1e-3)
    left_eye, right_eye = PERSON_KEYPOINTS.index("left_eye"), PERSON_KEYPOINTS.index("right_eye")
    if mirrored:  # the slot named left_eye now holds the point that was the right eye
        np.testing.assert_allclose(got[left_eye], moved[right_eye], atol=1e-3)


def test_keypoints_leaving_the_image_get_v0() -> None:
    image, ann = person_sample()
    shift = {"Affine": {"translate_px": {"x": [0, 0], "y": [40, 40]}, "p": 1.0}}
    out = augment_sample(image, [ann], pipeline_of([shift]), sample_seed(0, 0, 0), flip_idx={})
    (a,) = out.annotations
    kps = np.asarray(a["keypoints"]).reshape(-1, 3)
    src = np.asarray(ann["keypoints"]).reshape(-1, 3)
    gone = src[:, 1] + 40 > image.shape[0] - 0.5
    assert gone.any() and not gone.all()
    assert (kps[gone] == 0).all()
    assert (kps[~gone, 2] > 0).all()
    assert a["num_keypoints"] == int((~gone).sum())


def test_box_only_annotations_move_with_the_box_transform() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    anns = [{"id": 5, "category_id": 1, "bbox": [10, 5, 20, 10], "area": 200, "iscrowd": 0}]
    out = augment_sample(
        image, anns, pipeline_of(["HorizontalFlip"]), sample_seed(0, 0, 0), flip_idx={}
    )
    flipped = augment_sample(
        image,
        anns,
        pipeline_of([{"HorizontalFlip": {"p": 1.0}}]),
        sample_seed(0, 0, 0),
        flip_idx={},
    )
    assert out.annotations[0]["bbox"] in ([10, 5, 20, 10], [30, 5, 20, 10])
    assert flipped.annotations[0]["bbox"] == [30, 5, 20, 10]
    assert flipped.annotations[0]["area"] == 200
    assert "segmentation" not in flipped.annotations[0]


def crop_case() -> tuple[np.ndarray, list[dict[str, Any]]]:
    ids = np.zeros((40, 80), np.int32)
    ids[5:25, 5:25] = 1  # fully inside the left half
    ids[5:25, 30:50] = 2  # 10 of 20 columns inside
    ids[5:25, 55:75] = 3  # outside
    ids[30:32, 38:44] = 4  # 12 px; 4 px remain inside
    return np.zeros((40, 80, 3), np.uint8), annotations_from(ids)


@pytest.mark.parametrize(
    ("min_visibility", "min_area", "kept"), [(0.0, 1, [1, 2, 4]), (0.6, 1, [1]), (0.4, 5, [1, 2])]
)
def test_drop_rules(min_visibility: float, min_area: float, kept: list[int]) -> None:
    image, anns = crop_case()
    crop = {"Crop": {"x_min": 0, "y_min": 0, "x_max": 40, "y_max": 40, "p": 1.0}}
    pl = pipeline_of([crop], min_area=min_area, min_visibility=min_visibility)
    out = augment_sample(image, anns, pl, sample_seed(0, 0, 0), flip_idx={})
    assert [a["id"] for a in out.annotations] == kept
    assert sorted(out.dropped) == sorted({1, 2, 3, 4} - set(kept))


def test_min_visibility_is_relative_to_the_scaled_area() -> None:
    ids = np.zeros((64, 64), np.int32)
    ids[24:40, 24:40] = 1
    shrink = {"Affine": {"scale": [0.5, 0.5], "p": 1.0}}
    pl = pipeline_of([shrink], min_visibility=0.9)
    out = augment_sample(
        np.zeros((64, 64, 3), np.uint8),
        annotations_from(ids),
        pl,
        sample_seed(0, 0, 0),
        flip_idx={},
    )
    assert len(out.annotations) == 1 and out.annotations[0]["area"] == pytest.approx(64, abs=8)


def test_segmentation_forms_give_the_same_result() -> None:
    ids = np.zeros((30, 40), np.int32)
    ids[3:20, 4:30] = 1
    (ann,) = annotations_from(ids)
    c = mask_utils.encode(np.asfortranarray((ids == 1).astype(np.uint8)))
    flat = (ids == 1).ravel(order="F").astype(np.uint8)
    runs = np.diff(np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])).tolist()
    forms = [
        ann["segmentation"],
        {"size": [30, 40], "counts": runs},
        [[4, 3, 29, 3, 29, 19, 4, 19]],  # polygon through pixel centres: same pixels here
    ]
    assert coco.area({"size": [30, 40], "counts": c["counts"].decode()}) == 17 * 26
    pl = pipeline_of([{"Affine": {"rotate": [-20, 20], "p": 1.0}}])
    results = []
    for seg in forms:
        out = augment_sample(
            np.zeros((30, 40, 3), np.uint8),
            [{**ann, "segmentation": seg}],
            pl,
            sample_seed(3, 1, 0),
            flip_idx={},
        )
        results.append(out.annotations[0]["segmentation"])
    assert results[0] == results[1]
    assert coco.iou(results[0], results[2]) > 0.9


def test_same_seed_same_sample_other_copy_differs() -> None:
    image, anns = make_scene(np.random.default_rng(1), 48, 64)
    coco_anns = []
    for i, inst in enumerate(anns, start=1):
        rle = coco.encode(inst["mask"])
        coco_anns.append({"id": i, "category_id": inst["category_id"], "segmentation": rle,
                          "bbox": coco.bbox(rle), "area": coco.area(rle)})  # fmt: skip
    pl = build_pipeline(
        parse_pipeline({"transforms": [{"Affine": {"rotate": [-90, 90], "p": 1.0}}, "GaussNoise"]})
    )
    a = augment_sample(image, coco_anns, pl, sample_seed(9, 4, 0), flip_idx={})
    b = augment_sample(image, coco_anns, pl, sample_seed(9, 4, 0), flip_idx={})
    c = augment_sample(image, coco_anns, pl, sample_seed(9, 4, 1), flip_idx={})
    assert np.array_equal(a.image, b.image) and a.annotations == b.annotations
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_sample_seed_rejects_bad_values(bad: Any) -> None:
    with pytest.raises(ValueError, match="image_id must be an int >= 0"):
        sample_seed(0, bad, 0)


@st.composite
def overlapping(draw: st.DrawFn) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Up to 11 rectangles that may overlap (a product and its defects, crowds)."""
    h, w = draw(st.integers(16, 40)), draw(st.integers(16, 40))
    anns = []
    for k in range(1, draw(st.integers(2, 11)) + 1):
        m = np.zeros((h, w), bool)
        y0, x0 = draw(st.integers(0, h - 2)), draw(st.integers(0, w - 2))
        m[y0 : draw(st.integers(y0 + 1, h)), x0 : draw(st.integers(x0 + 1, w))] = True
        rle = coco.encode(m)
        anns.append(
            {
                "id": k,
                "category_id": 1,
                "segmentation": rle,
                "bbox": coco.bbox(rle),
                "area": coco.area(rle),
            }
        )
    return np.zeros((h, w, 3), np.uint8), anns


PACK_CASES = [
    *GEOMETRIC,
    {"CoarseDropout": {"fill_mask": 0, "p": 1.0}},
    {"GridDropout": {"p": 1.0}},
]


@FAST
@given(
    sample=overlapping(),
    picks=st.lists(st.sampled_from(PACK_CASES), min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_bit_packed_masks_equal_one_mask_per_instance(
    sample: Any, picks: list[Any], seed: int
) -> None:
    """Packing 8 masks per plane is an optimization only: same result as N masks."""
    image, anns = sample
    packed = pipeline_of(picks)
    plain = dataclasses.replace(packed, bit_packed=False)
    prep = prepare_sample(anns, *image.shape[:2])
    a = augment_sample(image, prep, packed, sample_seed(seed, 0, 0), flip_idx={})
    b = augment_sample(image, anns, plain, sample_seed(seed, 0, 0), flip_idx={})
    assert a.annotations == b.annotations
    assert np.array_equal(a.image, b.image)
    for ann in a.annotations:
        assert ann["bbox"] == coco.bbox(ann["segmentation"])
        assert ann["area"] == coco.area(ann["segmentation"])


def test_pack_roundtrip_and_eligibility() -> None:
    m = (np.random.default_rng(0).random((11, 5, 7)) > 0.5).astype(np.uint8)
    planes = pack_masks(m)
    assert planes.shape == (5, 7, 2) and np.array_equal(unpack_masks(planes, 11), m)
    assert pipeline_of(["HorizontalFlip", {"Affine": {"rotate": 10}}, "GaussNoise"]).bit_packed
    assert not pipeline_of([{"CoarseDropout": {"fill_mask": 0}}]).bit_packed
    assert not pipeline_of([{"Affine": {"fill_mask": 1}}]).bit_packed
    assert not pipeline_of([{"Morphological": {}}]).bit_packed


@pytest.mark.parametrize(
    "transform",
    [
        {"CoarseDropout": {"fill_mask": 0, "p": 1.0}},
        {"GridDropout": {"fill_mask": 0, "p": 1.0}},
        {"Affine": {"rotate": [-40, 40], "p": 1.0}},
    ],
)
def test_prepared_sample_is_not_modified_by_a_copy(transform: dict[str, Any]) -> None:
    image, insts = make_scene(np.random.default_rng(2), 48, 64)
    anns = []
    for i, inst in enumerate(insts, start=1):
        rle = coco.encode(inst["mask"])
        anns.append({"id": i, "category_id": inst["category_id"], "segmentation": rle,
                     "bbox": coco.bbox(rle), "area": coco.area(rle)})  # fmt: skip
    prep = prepare_sample(anns, 48, 64)
    masks, image_before = prep.masks.copy(), image.copy()
    pl = pipeline_of([transform])
    for copy in range(3):
        augment_sample(image, prep, pl, sample_seed(0, 0, copy), flip_idx={})
    assert np.array_equal(prep.masks, masks) and np.array_equal(image, image_before)


def test_amodal_fields_go_when_the_pixels_move() -> None:
    """A rendered person's amodal mask and box describe the source pixels: a copy
    whose geometry changed drops them (visibility stays, scaled); a photometric-only
    copy keeps them unchanged."""
    image, ann = person_sample()
    ann = {
        **ann,
        "segmentation_amodal": ann["segmentation"],
        "area_amodal": ann["area"],
        "bbox_amodal": ann["bbox"],
        "visibility": 1.0,
    }
    moved = augment_sample(
        image,
        [ann],
        pipeline_of([{"HorizontalFlip": {"p": 1.0}}]),
        sample_seed(0, 0, 0),
        flip_idx={},
    )
    (a,) = moved.annotations
    assert moved.geometry_changed
    assert not {"segmentation_amodal", "area_amodal", "bbox_amodal"} & set(a)
    assert a["visibility"] == pytest.approx(1.0)
    lit = augment_sample(
        image,
        [ann],
        pipeline_of([{"RandomBrightnessContrast": {"p": 1.0}}]),
        sample_seed(0, 0, 0),
        flip_idx={},
    )
    (b,) = lit.annotations
    assert not lit.geometry_changed and b["segmentation_amodal"] == ann["segmentation_amodal"]
