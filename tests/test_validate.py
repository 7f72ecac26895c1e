"""render.formats.validate on good and deliberately broken datasets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from render import dataset, merge
from render.formats import coco
from render.formats.validate import validate_cli, validate_dataset
from tests.test_dataset import fake_scene, make_config


@pytest.fixture
def good(tmp_path: Path) -> Path:
    cfg = make_config()
    out = tmp_path / "ds"
    dataset.prepare_output(out, resume=False, overwrite=False)
    for i in range(3):
        dataset.write_scene(out, *fake_scene(i), cfg)
    merge.merge(out, cfg, {})
    return out


def edit(out: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = out / "annotations.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_good_dataset_is_valid(good: Path) -> None:
    assert validate_dataset(good) == []
    assert validate_dataset(good / "annotations.json") == []
    # the good dataset really contains a parent/child overlap that must be allowed
    doc = json.loads((good / "annotations.json").read_text())
    assert any("scene_parent" in a for a in doc["annotations"])


def test_missing_or_broken_annotations_file(tmp_path: Path) -> None:
    assert validate_dataset(tmp_path) == [
        f"{tmp_path / 'annotations.json'}: annotations file not found"
    ]
    (tmp_path / "annotations.json").write_text("{nope")
    [msg] = validate_dataset(tmp_path)
    assert "cannot parse JSON" in msg
    (tmp_path / "annotations.json").write_text(json.dumps({"images": [], "annotations": {}}))
    assert validate_dataset(tmp_path) == [
        f"{tmp_path / 'annotations.json'}: 'annotations' must be a list"
    ]


def first_ann(doc: dict[str, Any], key: str, value: Any) -> None:
    doc["annotations"][0][key] = value


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: first_ann(d, "area", d["annotations"][0]["area"] + 1), "annotation 1: area"),
        (
            lambda d: d["annotations"][0]["bbox"].__setitem__(
                2, d["annotations"][0]["bbox"][2] + 1
            ),
            "bbox",
        ),
        (
            lambda d: d["annotations"][0]["bbox"].__setitem__(
                0, d["annotations"][0]["bbox"][0] - 0.5
            ),
            "tight",
        ),
        (lambda d: first_ann(d, "category_id", 99), "category_id 99 is not a category"),
        (lambda d: first_ann(d, "image_id", 424242), "image_id 424242 is not an image"),
        (
            lambda d: d["annotations"].append(dict(d["annotations"][1])),
            "duplicate annotation id 2",
        ),
        (lambda d: d["images"][1].__setitem__("id", d["images"][0]["id"]), "duplicate image id 1"),
        (lambda d: d["categories"].append(dict(d["categories"][0])), "duplicate category id 1"),
        (lambda d: d["images"][0].__setitem__("width", 41), "is 40x30, annotations say 41x30"),
        (lambda d: d["images"][0].__setitem__("width", "40"), "width/height must be positive ints"),
        (lambda d: d["images"][0].__setitem__("height", 0), "width/height must be positive ints"),
        (
            lambda d: d["images"][0].__setitem__("file_name", "images/gone.png"),
            "file not found: images/gone.png",
        ),
        (lambda d: first_ann(d, "segmentation", {"size": [30, 41], "counts": "abc"}), "RLE size"),
        (
            lambda d: first_ann(d, "segmentation", {"size": [30, 40], "counts": 7}),
            "unreadable segmentation",
        ),
    ],
)
def test_broken(good: Path, change: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert validate_dataset(good) == []
    edit(good, change)
    problems = validate_dataset(good)
    assert problems, "a broken dataset must not validate"
    assert any(expected in p for p in problems), problems


def test_missing_image_file(good: Path) -> None:
    (good / "images/000001_000.png").unlink()
    assert validate_dataset(good) == ["image 3: file not found: images/000001_000.png"]


def test_overlap_without_hierarchy(good: Path) -> None:
    def drop_parent(d: dict[str, Any]) -> None:
        for a in d["annotations"]:
            a.pop("scene_parent", None)

    edit(good, drop_parent)
    problems = validate_dataset(good)
    assert problems and all("overlap" in p for p in problems)
    assert "annotations 1 and 3 overlap" in problems[0]


def test_overlapping_siblings(good: Path) -> None:
    def widen(d: dict[str, Any]) -> None:
        # box2's mask grows over box1 (a sibling, not an ancestor); area/bbox kept consistent
        a1, a2 = d["annotations"][0], d["annotations"][1]
        m = coco.decode(a1["segmentation"]) | coco.decode(a2["segmentation"])
        a2["segmentation"] = coco.encode(m)
        a2["area"], a2["bbox"] = int(m.sum()), coco.mask_bbox(m)

    edit(good, widen)
    problems = validate_dataset(good)
    # box1's mask holds its dent (3), so box2 now overlaps both; box1/dent stays allowed
    assert problems == [
        f"image 1: masks of annotations {a} and {b} overlap and neither is the other's ancestor (parent_id)"
        for a, b in ((1, 2), (2, 3))
    ]


def test_a_see_through_mask_may_overlap_its_siblings(good: Path) -> None:
    """A fingerprint's film over a crack: the crack keeps the pixels under the film,
    so the two masks overlap; only the see-through flag makes that valid."""

    def widen(d: dict[str, Any]) -> None:
        a1, a2 = d["annotations"][0], d["annotations"][1]
        m = coco.decode(a1["segmentation"]) | coco.decode(a2["segmentation"])
        a2["segmentation"] = coco.encode(m)
        a2["area"], a2["bbox"] = int(m.sum()), coco.mask_bbox(m)
        a2["see_through"] = True

    edit(good, widen)
    assert validate_dataset(good) == []


def test_crowd_skips_overlap_but_not_area(good: Path) -> None:
    def crowd(d: dict[str, Any]) -> None:
        for a in d["annotations"]:
            a.pop("scene_parent", None)
            if a["scene_instance"] == 3:
                a["iscrowd"] = 1

    edit(good, crowd)
    assert validate_dataset(good) == []


def test_problem_cap(good: Path) -> None:
    def break_all(d: dict[str, Any]) -> None:
        for a in d["annotations"]:
            a["area"] += 1
            a["category_id"] = 77

    edit(good, break_all)
    problems = validate_dataset(good, max_problems=10)
    assert len(problems) == 11 and problems[-1] == "... and 20 more problems"


def test_foreign_coco_with_polygons(tmp_path: Path) -> None:
    """A COCO file synthcv did not write: polygons, uncompressed crowd RLE, other names."""
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.jpg")
    crowd = np.zeros((20, 30), bool)
    crowd[10:15, 0:30] = True
    counts = coco.encode(crowd)
    unc = {"size": [20, 30], "counts": _uncompressed(crowd)}
    doc = {
        "images": [{"id": 5, "file_name": "a.jpg", "width": 30, "height": 20}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            # polygon area/bbox are the polygon's own (COCO convention), not raster
            {"id": 1, "image_id": 5, "category_id": 1, "iscrowd": 0, "area": 20.0,
             "bbox": [2.0, 2.0, 5.0, 4.0], "segmentation": [[2, 2, 7, 2, 7, 6, 2, 6]]},
            {"id": 2, "image_id": 5, "category_id": 1, "iscrowd": 0, "area": 12.0,
             "bbox": [20.0, 2.0, 4.0, 3.0], "segmentation": [[20, 2, 24, 2, 24, 5, 20, 5]]},
            {"id": 3, "image_id": 5, "category_id": 1, "iscrowd": 1, "area": coco.area(counts),
             "bbox": coco.bbox(counts), "segmentation": unc},
        ],
    }  # fmt: skip
    (tmp_path / "instances.json").write_text(json.dumps(doc))
    assert validate_dataset(tmp_path / "instances.json") == []
    doc["annotations"][1]["segmentation"] = [[3, 3, 8, 3, 8, 7, 3, 7]]  # now overlaps annotation 1
    doc["annotations"][1]["bbox"] = [3.0, 3.0, 5.0, 4.0]
    doc["annotations"][2]["area"] = 1
    (tmp_path / "instances.json").write_text(json.dumps(doc))
    problems = validate_dataset(tmp_path / "instances.json")
    assert problems == [
        f"annotation 3: area 1 != mask area {coco.area(counts)}",
        "image 5: masks of annotations 1 and 2 overlap and neither is the other's ancestor (parent_id)",
    ]


def _uncompressed(mask: np.ndarray) -> list[int]:
    flat = mask.ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    return [0, *counts] if flat[0] else counts


def test_cli_summary_and_exit_codes(good: Path) -> None:
    lines: list[str] = []
    assert validate_cli(good, lines.append) == 0
    assert lines == [f"{good}: valid (6 images, 15 annotations, 2 categories)"]
    (good / "images/000002_001.png").unlink()
    lines.clear()
    assert validate_cli(good, lines.append) == 1
    assert lines == [
        f"{good}: INVALID, 1 problem line(s):",
        "  image 6: file not found: images/000002_001.png",
    ]


def test_box_only_annotations_are_valid_coco(good: Path) -> None:
    """Detection datasets have boxes but no masks: valid, but the box must be in the image."""

    def drop_masks(d: dict[str, Any]) -> None:
        for a in d["annotations"]:
            del a["segmentation"]

    edit(good, drop_masks)
    assert validate_dataset(good) == []

    def box_outside(d: dict[str, Any]) -> None:
        d["annotations"][0]["bbox"] = [35.0, 2.0, 10.0, 5.0]  # image is 40 wide

    edit(good, box_outside)
    problems = validate_dataset(good)
    assert any("outside the 40x30 image" in p for p in problems), problems


def test_keypoint_and_amodal_fields_are_checked(tmp_path: Path) -> None:
    """A person dataset: keypoints against the category, the image and
    num_keypoints; the amodal mask against the visible one."""
    from render.formats import coco

    img = tmp_path / "images" / "a.png"
    img.parent.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(img)
    mask = np.zeros((20, 30), bool)
    mask[5:15, 5:10] = True
    full = mask.copy()
    full[5:18, 5:10] = True
    rle, amodal = coco.encode(mask), coco.encode(full)
    ann = {
        "id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": rle,
        "area": 50, "bbox": coco.bbox(rle), "keypoints": [6.0, 6.0, 2, 0, 0, 0, 8.0, 9.0, 1],
        "num_keypoints": 2, "segmentation_amodal": amodal, "area_amodal": 65,
        "bbox_amodal": coco.bbox(amodal), "visibility": round(50 / 65, 4),
    }  # fmt: skip
    cats = [{"id": 1, "name": "person", "keypoints": ["a", "b", "c"], "skeleton": [[1, 2]]}]
    doc = {"images": [{"id": 1, "file_name": "images/a.png", "width": 30, "height": 20}],
           "annotations": [ann], "categories": cats}  # fmt: skip

    def problems(**change: Any) -> list[str]:
        (tmp_path / "annotations.json").write_text(
            json.dumps({**doc, "annotations": [{**ann, **change}]})
        )
        return validate_dataset(tmp_path)

    assert problems() == []
    assert any("num_keypoints 3 != 2" in p for p in problems(num_keypoints=3))
    assert any("v = 5" in p for p in problems(keypoints=[6.0, 6.0, 5, 0, 0, 0, 8.0, 9.0, 1]))
    assert any(
        "2 keypoints, its category names 3" in p for p in problems(keypoints=[6.0, 6.0, 2, 0, 0, 0])
    )
    assert any(
        "outside the 30x20 image" in p
        for p in problems(keypoints=[6.0, 60.0, 2, 0, 0, 0, 8.0, 9.0, 1])
    )
    assert any("area_amodal 60" in p for p in problems(area_amodal=60))
    assert any("visibility 1.0" in p for p in problems(visibility=1.0))
