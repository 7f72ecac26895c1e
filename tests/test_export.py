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

from render.config import load_config
from render.driver import run_render
from render.errors import UserError
from render.export import export
from render.formats import coco
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
