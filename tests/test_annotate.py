"""render.annotate against pycocotools: random id maps and random hierarchies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from render.annotate import annotate_view, annotate_view_with_visibility, visible_pixels
from render.formats import coco
from render.spec import DefectInfo, GeometrySpec, MaterialSpec, ObjectInfo, ObjectSpec


def obj(
    iid: int,
    parent: int | None = None,
    category: int = 1,
    min_pixels: int | None = None,
    info: ObjectInfo | None = None,
) -> ObjectSpec:
    return ObjectSpec(
        name=f"obj{iid}",
        instance_id=iid,
        category_id=category if iid else 0,
        parent_id=parent,
        geometry=GeometrySpec(kind="primitive", primitive="CUBE"),
        material=MaterialSpec(base_color=[0.5, 0.5, 0.5]),
        min_pixels=min_pixels,
        info=info,
    )


@st.composite
def scenes(draw: st.DrawFn) -> tuple[np.ndarray, list[ObjectSpec]]:
    """A random id map (blocks and noise) over a random forest of objects."""
    n = draw(st.integers(1, 8))
    ids = draw(st.lists(st.integers(1, 9999), min_size=n, max_size=n, unique=True))
    objects = []
    for k, iid in enumerate(ids):
        parent = draw(st.one_of(st.none(), st.sampled_from(ids[:k]))) if k else None
        objects.append(obj(iid, parent, category=draw(st.integers(1, 3))))
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    palette = np.array([0, *ids])
    if draw(st.booleans()):
        # blocky: a coarse grid upsampled, like real objects
        coarse = rng.integers(0, palette.size, size=(max(1, h // 4), max(1, w // 4)))
        grid = np.kron(coarse, np.ones((4, 4), dtype=np.int64))[:h, :w]
        grid = np.pad(grid, ((0, h - grid.shape[0]), (0, w - grid.shape[1])), mode="edge")
    else:
        grid = rng.integers(0, palette.size, size=(h, w))
    dtype = draw(st.sampled_from([np.int32, np.int64, np.uint16, np.int16]))
    return palette[grid].astype(dtype), objects


def subtree(objects: list[ObjectSpec], root: int) -> set[int]:
    out = {root}
    changed = True
    while changed:
        changed = False
        for o in objects:
            if o.parent_id in out and o.instance_id not in out:
                out.add(o.instance_id)
                changed = True
    return out


def is_ancestor(objects: list[ObjectSpec], a: int, b: int) -> bool:
    return a in subtree(objects, b) or b in subtree(objects, a)


@settings(max_examples=300, deadline=None)
@given(scenes(), st.integers(0, 20), st.integers(0, 10**6))
def test_matches_pycocotools(
    scene: tuple[np.ndarray, list[ObjectSpec]], min_pixels: int, image_id: int
) -> None:
    imap, objects = scene
    anns, visible = annotate_view_with_visibility(imap, objects, image_id, min_pixels)
    by_id = {a["scene_instance"]: a for a in anns}
    assert [a["scene_instance"] for a in anns] == sorted(by_id)
    for o in objects:
        expected = np.isin(imap, list(subtree(objects, o.instance_id)))
        assert visible[o.instance_id] == int(expected.sum())
        annotated = expected.sum() > 0 and expected.sum() >= min_pixels
        assert (o.instance_id in by_id) == annotated
        if not annotated:
            continue
        a = by_id[o.instance_id]
        rle = coco._to_c(a["segmentation"])
        assert isinstance(a["segmentation"]["counts"], str)
        assert a["segmentation"]["size"] == list(imap.shape)
        assert np.array_equal(mask_utils.decode(rle).astype(bool), expected)
        # canonical: byte-identical to pycocotools' own encoding of the mask
        assert a["segmentation"] == coco.encode(expected)
        assert a["area"] == int(mask_utils.area(rle)) == int(expected.sum())
        assert isinstance(a["area"], int)
        assert a["bbox"] == [float(v) for v in mask_utils.toBbox(rle)] == coco.mask_bbox(expected)
        assert a["id"] == image_id * 10000 + o.instance_id
        assert a["image_id"] == image_id
        assert a["category_id"] == o.category_id
        assert a["iscrowd"] == 0
        assert a["instance_name"] == o.name
        assert a.get("scene_parent") == o.parent_id
    assert annotate_view(imap, objects, image_id, min_pixels) == anns
    assert visible_pixels(imap, objects) == visible
    # disjoint unless ancestor/descendant
    masks = {a["scene_instance"]: coco.decode(a["segmentation"]) for a in anns}
    keys = sorted(masks)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            if not is_ancestor(objects, a, b):
                assert not (masks[a] & masks[b]).any()


def test_product_mask_includes_defects_and_ids() -> None:
    imap = np.zeros((10, 12), np.int32)
    imap[2:8, 2:10] = 1  # product
    imap[3:5, 3:5] = 2  # defect of 1
    imap[6, 8] = 3  # defect of 2 (nested)
    imap[0, 0] = 4  # unrelated
    scratch = DefectInfo(type="scratch", length_mm=3.0, width_mm=0.2)
    objects = [obj(1), obj(2, parent=1, info=scratch), obj(3, parent=2), obj(4), obj(0)]
    anns = annotate_view(imap, objects, image_id=7)
    by_id = {a["scene_instance"]: a for a in anns}
    assert by_id[1]["area"] == 6 * 8
    assert by_id[1]["bbox"] == [2.0, 2.0, 8.0, 6.0]
    assert by_id[2]["area"] == 4 + 1
    assert by_id[2]["bbox"] == [3.0, 3.0, 6.0, 4.0]
    assert by_id[3]["area"] == 1
    assert by_id[2]["scene_parent"] == 1 and "scene_parent" not in by_id[1]
    assert by_id[2]["attributes"] == {"type": "scratch", "length_mm": 3.0, "width_mm": 0.2}
    assert "attributes" not in by_id[1]
    assert by_id[4]["id"] == 70004


def test_min_pixels_field_overrides_and_is_not_copied() -> None:
    imap = np.zeros((8, 8), np.int32)
    imap[0:4, 0:4] = 1  # 16 px
    imap[5, 5:7] = 2  # 2 px
    imap[7, 7] = 3  # 1 px
    stain = DefectInfo(type="stain", area_mm2=1.5)
    objects = [obj(1, min_pixels=20), obj(2, min_pixels=2, info=stain), obj(3), obj(4)]
    anns, visible = annotate_view_with_visibility(imap, objects, 0, min_pixels=1)
    assert [a["scene_instance"] for a in anns] == [2, 3]
    assert anns[0]["attributes"] == {"type": "stain", "area_mm2": 1.5}
    assert visible == {1: 16, 2: 2, 3: 1, 4: 0}
    # zero visible pixels are never annotated, even with min_pixels 0
    anns = annotate_view(imap, objects, 0, min_pixels=0)
    assert 4 not in [a["scene_instance"] for a in anns]
    anns = annotate_view(imap, [obj(1), obj(2), obj(3)], 0, min_pixels=2)
    assert [a["scene_instance"] for a in anns] == [1, 2]


def test_large_ids_take_the_unique_path() -> None:
    # ids >= 65536 never reach annotate (MAX_INSTANCE_ID), but the map's dtype may be wide
    imap = np.zeros((5, 5), np.int64)
    imap[1:3, 1:3] = 9999
    anns = annotate_view(imap, [obj(9999)], 1)
    assert anns[0]["area"] == 4 and anns[0]["id"] == 19999


@pytest.mark.parametrize(
    ("imap", "objects", "match"),
    [
        (np.zeros((4, 4), np.float32), [obj(1)], "2-D int"),
        (np.zeros((4, 4, 1), np.int32), [obj(1)], r"shape \(4, 4, 1\)"),
        (np.zeros((0, 4), np.int32), [obj(1)], "non-empty"),
        (np.full((4, 4), -1, np.int32), [obj(1)], "negative"),
        (np.full((4, 4), 5, np.int32), [obj(1)], r"ids \[5\]"),
        (np.full((4, 4), 70000, np.int64), [obj(1)], r"ids \[70000\]"),
        (np.zeros((4, 4), np.int32), [obj(1), obj(1)], "duplicate instance_id 1"),
        (np.zeros((4, 4), np.int32), [obj(1, parent=9)], "parent_id 9"),
        (np.zeros((4, 4), np.int32), [obj(1, parent=2), obj(2, parent=1)], "cycle"),
        (np.zeros((4, 4), np.int32), [obj(10000)], "instance_id 10000 exceeds"),
    ],
)
def test_errors(imap: np.ndarray, objects: list[ObjectSpec], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        annotate_view(imap, objects, 1)


@pytest.mark.parametrize("bad", [-1, 0, 2.5])
def test_min_pixels_is_validated_by_the_spec(bad: object) -> None:
    # a typed ObjectSpec field: a bad value never reaches annotate
    with pytest.raises(ValueError, match="min_pixels"):
        obj(1, min_pixels=bad)  # type: ignore[arg-type]


def test_argument_errors() -> None:
    imap = np.zeros((4, 4), np.int32)
    with pytest.raises(ValueError, match="image_id"):
        annotate_view(imap, [obj(1)], -1)
    with pytest.raises(ValueError, match="min_pixels"):
        annotate_view(imap, [obj(1)], 1, min_pixels=-2)
    with pytest.raises(ValueError, match="2-D int"):
        visible_pixels(np.zeros((4, 4), bool), [obj(1)])


def test_ids_from_unannotated_objects_are_unknown() -> None:
    # instance_id 0 objects are props; a nonzero id with no object is an error naming it
    imap = np.array([[0, 3], [3, 0]], np.int32)
    with pytest.raises(ValueError, match=r"\[3\]"):
        annotate_view(imap, [obj(0), obj(1)], 1)
