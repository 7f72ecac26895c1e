"""synthcv export: YOLO (detect, seg, pose) read back by Ultralytics' own dataset
class, the MVTec anomaly layout, splits by scene, safe writing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from render.config import load_config
from render.driver import run_render
from render.errors import UserError
from render.export import export
from render.formats import coco
from render.formats.anomaly import crop_pixels, square_box
from render.formats.splits import parse_fractions, split_images, split_of
from render.formats.yolo import mask_polygon
from tests.coco_fixtures import write_coco

ROOT = Path(__file__).resolve().parents[1]
SPLIT = {"train": 0.5, "val": 0.5}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COCO dataset with plates, washers (a hole) and keypointed people, 8 images
    in 4 scenes (scene_id n // 2)."""
    root = write_coco(
        tmp_path_factory.mktemp("src"), np.random.default_rng(3), n_images=8, height=60, width=80
    )
    doc = json.loads((root / "annotations.json").read_text())
    for img in doc["images"]:
        img["scene_id"] = img["scene_id"] // 2
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def _ultralytics(data_yaml: Path, split: str, task: str) -> list[dict[str, Any]]:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics.data.dataset import YOLODataset

    data = yaml.safe_load(data_yaml.read_text())
    ds = YOLODataset(
        img_path=str(data_yaml.parent / data[split]),
        data=data,
        task=task,
        augment=False,
        cache=False,
    )
    return ds.labels


def test_a_moved_yolo_export_still_loads(source: Path, tmp_path: Path) -> None:
    """data.yaml has no absolute path: Ultralytics' own check_det_dataset finds the
    images of an export moved to another folder (it failed with "images not found,
    missing path '<old dir>/images/val'")."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics.data.utils import check_det_dataset

    out = tmp_path / "first"
    export(source, "yolo-pose", out, fractions=SPLIT, seed=1)
    moved = tmp_path / "elsewhere" / "copy"
    moved.parent.mkdir()
    out.rename(moved)
    assert "path" not in yaml.safe_load((moved / "data.yaml").read_text())
    data = check_det_dataset(str(moved / "data.yaml"))
    for split in ("train", "val"):
        assert Path(data[split]) == (moved / "images" / split).resolve()
        assert len(_ultralytics(moved / "data.yaml", split, "pose")) > 0


@pytest.mark.parametrize(
    ("fmt", "task"), [("yolo", "detect"), ("yolo-seg", "segment"), ("yolo-pose", "pose")]
)
def test_yolo_round_trips_through_ultralytics(
    source: Path, tmp_path: Path, fmt: str, task: str
) -> None:
    out = tmp_path / fmt
    export(source, fmt, out, fractions=SPLIT, seed=1)
    doc = json.loads((source / "annotations.json").read_text())
    cats = sorted(c["id"] for c in doc["categories"] if task != "pose" or c.get("keypoints"))
    images = {Path(i["file_name"]).stem: i for i in doc["images"]}
    seen = 0
    for split in ("train", "val"):
        for label in _ultralytics(out / "data.yaml", split, task):
            img = images[Path(label["im_file"]).stem]
            h, w = label["shape"]
            assert (w, h) == (img["width"], img["height"])
            want = [
                a
                for a in doc["annotations"]
                if a["image_id"] == img["id"] and a["category_id"] in cats
            ]
            assert len(label["cls"]) == len(want)
            for k, a in enumerate(want):
                assert int(label["cls"][k][0]) == cats.index(a["category_id"])
                cx, cy, bw, bh = label["bboxes"][k] * [w, h, w, h]
                x, y, ww, hh = a["bbox"]
                assert (
                    np.allclose([cx - bw / 2, cy - bh / 2, bw, bh], [x, y, ww, hh], atol=1.0)
                    or task == "segment"
                )
                if task == "segment":  # the polygon rasterises back to the mask
                    poly = np.round(label["segments"][k] * [w, h]).astype(np.int32)
                    got = np.zeros((h, w), np.uint8)
                    cv2.fillPoly(got, [poly], 1)
                    mask = coco.decode(coco.segmentation_to_rle(a["segmentation"], h, w))
                    inter, union = (got.astype(bool) & mask).sum(), (got.astype(bool) | mask).sum()
                    assert inter / union > 0.75, (a["id"], inter / union)
                if task == "pose":
                    kps = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)
                    got_kp = label["keypoints"][k]
                    on = kps[:, 2] > 0
                    assert np.allclose(got_kp[on, :2] * [w, h], kps[on, :2], atol=1.0)
                    assert (got_kp[~on, 2] == 0).all()
                seen += 1
    assert seen == sum(1 for a in doc["annotations"] if a["category_id"] in cats)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert list(data["names"]) == list(range(len(cats)))
    if task == "pose":
        assert data["kpt_shape"] == [17, 3] and data["flip_idx"][1:3] == [2, 1]


def test_polygon_keeps_holes_and_parts() -> None:
    mask = np.zeros((40, 60), bool)
    mask[5:35, 5:35] = True
    mask[12:28, 12:28] = False  # a hole
    mask[10:20, 45:55] = True  # a second part
    poly = mask_polygon(mask)
    assert poly is not None
    got = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(got, [np.round(poly).astype(np.int32)], 1)
    got = got.astype(bool)
    assert not got[15:25, 15:25].any() and got[10:20, 45:55].all()
    assert (got & mask).sum() / (got | mask).sum() > 0.9


def test_splits_keep_scenes_together_and_are_stable() -> None:
    images = [{"id": i, "scene_id": i // 3} for i in range(300)]
    a = split_images(images, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=5)
    for s in range(100):
        assert len({a[i] for i in range(3 * s, 3 * s + 3)}) == 1
    shares = {n: sum(v == n for v in a.values()) / 300 for n in ("train", "val", "test")}
    assert abs(shares["train"] - 0.7) < 0.12 and shares["test"] > 0
    more = split_images(
        images + [{"id": 300 + i, "scene_id": 100 + i} for i in range(30)],
        {"train": 0.7, "val": 0.2, "test": 0.1},
        seed=5,
    )
    assert all(more[i] == a[i] for i in a)  # adding scenes moves no earlier one
    assert split_of(5, "scene:1", {"train": 1.0}) == "train"
    assert parse_fractions("train=0.8,val=0.2") == {"train": 0.8, "val": 0.2}
    for bad in ("train=0.8", "foo=1", "train=x,val=1", "train=0.5,train=0.5"):
        with pytest.raises(UserError, match="--split"):
            parse_fractions(bad)


@pytest.fixture(scope="module")
def defects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A defects dataset from the real sampler, drawn by the fake renderer."""
    cfg = load_config(
        ROOT / "configs" / "defects.yaml",
        ["num_scenes=6", "render.resolution=[160, 120]", "scene.min_defect_pixels=1"],
    )
    out = tmp_path_factory.mktemp("defects") / "ds"
    run_render(cfg, out, renderer="tests.fake_renderer", progress=False)
    return out


def test_anomaly_layout(defects: Path, tmp_path: Path) -> None:
    out = tmp_path / "mvtec"
    record = export(defects, "anomaly", out, fractions={"train": 0.5, "val": 0.5}, seed=0)
    crops = record["crops"]
    assert crops and any("/test/" in k for k in crops)
    for product in (p for p in out.iterdir() if p.is_dir()):
        test = product / "test"
        for folder in test.iterdir() if test.is_dir() else []:
            if folder.name == "good":
                continue
            truth = product / "ground_truth" / folder.name
            for img in folder.glob("*.png"):
                mask = cv2.imread(str(truth / f"{img.stem}_mask.png"), cv2.IMREAD_GRAYSCALE)
                crop = cv2.imread(str(img))
                assert mask is not None and mask.shape == crop.shape[:2]
                assert set(np.unique(mask)) <= {0, 255} and (mask == 255).any()
        assert not (product / "train" / "bad").exists()
        assert (
            all(p.name == "good" for p in (product / "train").iterdir())
            if (product / "train").exists()
            else True
        )


@settings(max_examples=200, deadline=None)
@given(
    x=st.integers(0, 200), y=st.integers(0, 150), bw=st.integers(1, 260), bh=st.integers(1, 200),
    margin=st.sampled_from([0.0, 0.1, 0.25]),
)  # fmt: skip
def test_anomaly_crops_are_square_and_inside(
    x: int, y: int, bw: int, bh: int, margin: float
) -> None:
    """COCO boxes from masks are whole pixels (x, y, w, h integers)."""
    w, h = 220, 160
    bw, bh = min(bw, w - x), min(bh, h - y)
    x0, y0, x1, y1 = square_box([x, y, bw, bh], margin, w, h)
    side = x1 - x0
    assert side == y1 - y0 >= 1
    assert 0 <= side - max(bw, bh) * (1 + 2 * margin) < 1
    for lo, hi, n, b0, b1 in ((x0, x1, w, x, x + bw), (y0, y1, h, y, y + bh)):
        if side <= n:
            assert 0 <= lo and hi <= n  # shifted inside, never clipped
        else:
            assert lo <= 0 and hi > n and abs((-lo) - (hi - n)) <= 1  # centred on the image
        assert lo <= b0 and hi >= b1  # the whole product is in the crop


def test_crop_pixels_pads_with_the_border() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = crop_pixels(image, (-1, -1, 5, 5))
    assert out.shape == (6, 6)
    assert (out[1:4, 1:5] == image).all() and out[0, 0] == image[0, 0] and out[5, 5] == image[2, 3]
    assert crop_pixels(image, (1, 0, 3, 2)).tolist() == [[1, 2], [5, 6]]


def test_anomaly_crop_size(defects: Path, tmp_path: Path) -> None:
    """Every crop square at its own size, or all at --crop-size with their masks."""
    out = tmp_path / "native"
    export(defects, "anomaly", out, fractions={"train": 0.5, "val": 0.5}, seed=0)
    shapes = [cv2.imread(str(p)).shape for p in out.rglob("*.png") if "ground_truth" not in p.parts]
    assert shapes and all(sh[0] == sh[1] for sh in shapes)
    out = tmp_path / "sized"
    record = export(defects, "anomaly", out, fractions={"train": 0.5, "val": 0.5}, seed=0,
                    crop_size=96)  # fmt: skip
    assert record["crop_size"] == 96
    pngs = list(out.rglob("*.png"))
    assert len(pngs) == len([p for p in (tmp_path / "native").rglob("*.png")])
    for p in pngs:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        assert img.shape[:2] == (96, 96), p
        if "ground_truth" in p.parts:
            assert set(np.unique(img)) <= {0, 255}
    with pytest.raises(UserError, match="--crop-size 96: only with --format anomaly"):
        export(defects, "yolo", tmp_path / "y", fractions=SPLIT, crop_size=96)


def test_export_refuses_bad_input_and_foreign_folders(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "y"
    export(source, "yolo", out, fractions=SPLIT)
    with pytest.raises(UserError, match="already exists; use --overwrite"):
        export(source, "yolo", out, fractions=SPLIT)
    export(source, "yolo", out, fractions=SPLIT, overwrite=True)  # its own export: replaced
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="not a folder synthcv export wrote"):
        export(source, "yolo", foreign, fractions=SPLIT, overwrite=True)
    assert (foreign / "keep.txt").read_text() == "x"
    broken = tmp_path / "broken"
    broken.mkdir()
    doc = json.loads((source / "annotations.json").read_text())
    doc["annotations"][0]["area"] = -5
    (broken / "annotations.json").write_text(json.dumps(doc))
    (broken / "images").symlink_to(source / "images")
    with pytest.raises(UserError, match="not a valid dataset"):
        export(broken, "yolo", tmp_path / "z", fractions=SPLIT)
    assert not (tmp_path / "z").exists() and not list(tmp_path.glob(".z.*"))
    with pytest.raises(UserError, match="anomaly: no category has supercategory 'defect'"):
        export(source, "anomaly", tmp_path / "a", fractions=SPLIT)
