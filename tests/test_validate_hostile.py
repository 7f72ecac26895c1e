"""synthcv validate on hostile datasets: never hangs, checks every byte it relies on,
stays inside the dataset root, scales linearly, reports errors and warnings apart."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from render.formats import coco
from render.formats.validate import validate_dataset, validate_report
from tests.cli_run import synthcv
from tests.coco_fixtures import edit_annotations as edit
from tests.coco_fixtures import write_coco


@pytest.fixture
def ds(tmp_path: Path) -> Path:
    return write_coco(tmp_path / "ds", np.random.default_rng(0), n_images=3)


def test_named_pipe_image_is_an_error_not_a_hang(ds: Path) -> None:
    (ds / "images" / "000002.png").unlink()
    os.mkfifo(ds / "images" / "000002.png")
    proc = synthcv("validate", str(ds), timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert "image 2: images/000002.png is a named pipe, not a regular file" in proc.stdout


def test_named_pipe_annotations_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "annotations.json")
    proc = synthcv("validate", str(tmp_path), timeout=30)
    assert proc.returncode == 1 and "is a named pipe, not a regular file" in proc.stdout


@pytest.mark.parametrize("keep", [0.5, -12])
def test_truncated_png_is_an_error_naming_the_file(ds: Path, keep: float) -> None:
    f = ds / "images" / "000003.png"
    data = f.read_bytes()
    f.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[: int(keep)])
    problems = validate_dataset(ds)
    assert len(problems) == 1 and problems[0].startswith("image 3: images/000003.png:")
    assert "cannot decode image" in problems[0]


def test_files_outside_the_root_are_refused(ds: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes((ds / "images" / "000001.png").read_bytes())
    (ds / "images" / "000001.png").unlink()
    (ds / "images" / "000001.png").symlink_to(outside)

    def escape(d: dict[str, Any]) -> None:
        d["images"][1]["file_name"] = "../outside.png"
        d["images"][2]["file_name"] = str(outside)

    edit(ds, escape)
    problems = validate_dataset(ds)
    assert any(p.startswith("image 1:") and "outside the dataset root" in p for p in problems)
    assert any(p.startswith("image 2:") and "must be relative without '..'" in p for p in problems)
    assert any(p.startswith("image 3:") and "must be relative without '..'" in p for p in problems)


def overlapping_bands(root: Path, n: int, size: int = 400) -> Path:
    """One image with ``n`` mask annotations, each a band overlapping its neighbours
    (together they cover the image ~10 times over)."""
    root.mkdir(parents=True)
    cv2.imwrite(str(root / "a.png"), np.zeros((size, size, 3), np.uint8))
    anns = []
    for k in range(n):
        m = np.zeros((size, size), bool)
        y = (k * 7) % (size - 4)
        m[y : y + 4, (k * 3) % (size // 2) :] = True
        rle = coco.encode(m)
        anns.append({"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                     "segmentation": rle, "area": coco.area(rle), "bbox": coco.bbox(rle)})  # fmt: skip
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": size, "height": size}],
           "annotations": anns, "categories": [{"id": 1, "name": "band"}]}  # fmt: skip
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def test_overlap_check_is_linear_in_masks(tmp_path: Path) -> None:
    """3,000 mutually overlapping masks on one image (the pairwise check took > 40 s
    for 1,000): seconds, and the overlaps are still reported."""
    root = overlapping_bands(tmp_path / "bands", 3000)
    t0 = time.perf_counter()
    proc = synthcv("validate", str(root), "--max-problems", "5", timeout=60)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 1, proc.stderr
    assert "image 1: masks of annotations 1 and " in proc.stdout
    assert elapsed < 20, elapsed


def test_masks_piled_beyond_the_cover_limit_are_an_error(tmp_path: Path) -> None:
    root = overlapping_bands(tmp_path / "bands", 300)
    proc = synthcv("validate", str(root), "--limit", "mask_cover=2")
    assert proc.returncode == 1
    assert "image 1: its masks cover " in proc.stdout and "the limit of 2x" in proc.stdout
    proc = synthcv("validate", str(root), "--limit", "mask_kover=2")
    assert proc.returncode == 2 and proc.stderr.startswith("synthcv: error: --limit 'mask_kover=2'")


def test_overlap_respects_hierarchy_and_crowd(tmp_path: Path) -> None:
    root = overlapping_bands(tmp_path / "bands", 3)

    def nest(d: dict[str, Any]) -> None:  # 1 > 2 (parent_id chain), 3 crowd
        a1, a2, a3 = d["annotations"]
        a1["instance_id"], a2["instance_id"], a2["parent_id"] = 10, 20, 10
        a3["iscrowd"] = 1

    edit(root, nest)
    assert validate_dataset(root) == []


def test_problem_lines_and_max_problems(ds: Path) -> None:
    def break_many(d: dict[str, Any]) -> None:
        for a in d["annotations"]:
            a["area"] += 1

    edit(ds, break_many)
    n = len(json.loads((ds / "annotations.json").read_text())["annotations"])
    proc = synthcv("validate", str(ds), "--max-problems", "2")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1
    assert lines[0] == f"{ds}: INVALID, 3 problem line(s):"
    assert [ln.split(":")[0] for ln in lines[1:3]] == ["  annotation 1", "  annotation 2"]
    assert lines[3] == f"  ... and {n - 2} more problems"
    assert synthcv("validate", str(ds), "--max-problems", "0").returncode == 2


def test_warnings_are_not_errors(ds: Path) -> None:
    def warn(d: dict[str, Any]) -> None:
        d["categories"].append({"id": 0, "name": "background"})
        d["annotations"] = [a for a in d["annotations"] if a["image_id"] != 3]
        d["images"].append({**d["images"][0], "id": 4})  # same file as image 1

    edit(ds, warn)
    n = len(json.loads((ds / "annotations.json").read_text())["annotations"])
    report = validate_report(ds)
    assert report.errors == []
    assert report.warnings == [
        "category 0: id 0 is reserved for the background by many tools",
        "image 3: no annotations",
        "image 4: no annotations",
        "image 4: file_name images/000001.png is also used by image 1",
    ]
    proc = synthcv("validate", str(ds))
    assert proc.returncode == 0, proc.stdout
    header = f"{ds}: valid (4 images, {n} annotations, 4 categories), 4 warning(s):"
    assert proc.stdout.splitlines()[0] == header
    assert "  warning: image 3: no annotations" in proc.stdout.splitlines()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d["images"][0].__setitem__("id", [1]), "images[0]: id must be an integer"),
        (
            lambda d: d["annotations"][0].__setitem__("id", {"a": 1}),
            "annotations[0]: id must be an integer",
        ),
        (
            lambda d: d["annotations"][0].__setitem__("image_id", [1]),
            "image_id [1] is not an image",
        ),
        (
            lambda d: d["annotations"][0].__setitem__("category_id", {}),
            "category_id {} is not a category",
        ),
        (
            lambda d: d["categories"][0].__setitem__("id", None),
            "categories[0]: id must be an integer",
        ),
        (lambda d: d["images"][0].__setitem__("width", 10**7), "more than the limit"),
        (lambda d: d["annotations"][0].__setitem__("segmentation", [[1, 1]]), "needs 3"),
        (
            lambda d: d["annotations"][0].__setitem__(
                "segmentation", {"size": [48, 64], "counts": "zz"}
            ),
            "malformed compressed RLE",
        ),
        (lambda d: d["annotations"][0].__setitem__("bbox", "x"), "bbox must be [x, y, w, h]"),
        (lambda d: d["images"].append(7), "images[3]: not an object"),
        (lambda d: d.__setitem__("images", {}), "'images' must be a list"),
    ],
)
def test_hostile_values_are_one_line_problems(ds: Path, change: Any, needle: str) -> None:
    edit(ds, change)
    problems = validate_dataset(ds)
    assert any(needle in p for p in problems), problems


def test_cli_never_tracebacks_on_hostile_json(tmp_path: Path) -> None:
    for n, text in enumerate(['{"images": [{"id": [1]}], "annotations": [{"id": {}}], "categories": [{"id": []}]}',
                              '{"images": NaN}', "[]", '{"images": [], "annotations": [], "categories": []}']):  # fmt: skip
        root = tmp_path / str(n)
        root.mkdir()
        (root / "annotations.json").write_text(text)
        proc = synthcv("validate", str(root))
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
