"""The torch Dataset (augment/torch_dataset.py): torchvision's detection targets from
any COCO directory, equal to the COCO annotations; a DataLoader with workers yields
every image once and the same items as the main process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from augment.pipeline import build_pipeline, load_pipeline
from augment.torch_dataset import AugmentedCoco, collate, data_loader
from render.config import load_config
from render.driver import run_render
from render.formats import DatasetError, coco
from tests.coco_fixtures import write_coco

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
QC = ROOT / "configs" / "augment" / "qc.yaml"


def fake_render(tmp: Path) -> Path:
    """Our writer's output with the fake renderer: products with nested defects."""
    cfg = load_config(
        ROOT / "configs" / "defects.yaml", ["num_scenes=4", "render.resolution=[64, 64]"]
    )
    run_render(cfg, tmp / "defects", renderer="tests.fake_renderer", progress=False)
    return tmp / "defects"


def check_round_trip(root: Path, ds: AugmentedCoco) -> int:
    """Every item's target equals its COCO annotations; returns the annotation count."""
    doc = json.loads((root / "annotations.json").read_text())
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    label = {c["id"]: k for k, c in enumerate(sorted(doc["categories"], key=lambda c: c["id"]), 1)}
    n = 0
    assert len(ds) == len(doc["images"])
    for i, img in enumerate(doc["images"]):
        image, t = ds[i]
        anns = by_image.get(img["id"], [])
        n += len(anns)
        assert image.dtype == torch.float32 and tuple(image.shape) == (
            3,
            img["height"],
            img["width"],
        )
        assert t["image_id"] == img["id"]
        xyxy = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
        assert t["boxes"].dtype == torch.float32
        assert t["boxes"].reshape(-1, 4).tolist() == xyxy
        assert t["labels"].tolist() == [label[a["category_id"]] for a in anns]
        assert t["area"].tolist() == [a["area"] for a in anns]
        assert t["iscrowd"].tolist() == [a["iscrowd"] for a in anns]
        assert t["masks"].dtype == torch.uint8
        assert tuple(t["masks"].shape) == (len(anns), img["height"], img["width"])
        for m, a in zip(t["masks"].numpy(), anns, strict=True):
            assert np.array_equal(m.astype(bool), coco.decode(a["segmentation"]))
        if ds.num_keypoints:
            want = [a.get("keypoints") or [0.0] * 3 * ds.num_keypoints for a in anns]
            want32 = np.asarray(want, np.float32).reshape(len(anns), ds.num_keypoints, 3)
            assert np.array_equal(t["keypoints"].numpy(), want32)
        else:
            assert "keypoints" not in t
    return n


def test_targets_round_trip_our_output(tmp_path: Path) -> None:
    root = fake_render(tmp_path)
    ds = AugmentedCoco(root)
    assert check_round_trip(root, ds) > 0 and ds.num_keypoints == 0


def test_targets_round_trip_keypoints(tmp_path: Path) -> None:
    """The fixture's person has the 17 COCO keypoints (``v`` 1 and 2); parts get
    ``v = 0`` rows."""
    root = write_coco(tmp_path / "k", np.random.default_rng(0), n_images=3)
    ds = AugmentedCoco(root)
    assert check_round_trip(root, ds) > 3 and ds.num_keypoints == 17


@pytest.mark.blender
def test_targets_round_trip_a_tiny_blender_render(tmp_path: Path) -> None:
    """A real render: products with defects (nested masks), 96x96, 2 samples; every
    product defective and small defects kept, so a nested mask is certain."""
    cfg = load_config(
        ROOT / "configs" / "defects.yaml",
        ["num_scenes=2", "render.resolution=[96, 96]", "render.samples=2",
         "render.denoiser=none", "scene.products_per_image=[2,2]", "scene.good_fraction=0",
         "scene.min_defect_pixels=4"],
    )  # fmt: skip
    run_render(cfg, tmp_path / "ds", workers=1, progress=False)
    doc = json.loads((tmp_path / "ds" / "annotations.json").read_text())
    assert any(a.get("scene_parent") for a in doc["annotations"]), "no nested defect rendered"
    assert check_round_trip(tmp_path / "ds", AugmentedCoco(tmp_path / "ds")) > 2


def test_other_segmentation_forms_and_categories(tmp_path: Path) -> None:
    """Polygons decode as pycocotools rasterizes them; ``categories`` picks and orders
    the labels; ``masks=False`` skips them; an unknown name is a one-line error."""
    root = write_coco(tmp_path / "p", np.random.default_rng(1), n_images=2, seg="polygon")
    doc = json.loads((root / "annotations.json").read_text())
    ds = AugmentedCoco(root, categories=["person", "plate"], masks=False)
    assert [c["name"] for c in ds.categories] == ["person", "plate"]
    for i, img in enumerate(doc["images"]):
        anns = [a for a in doc["annotations"] if a["image_id"] == img["id"]]
        keep = [a for a in anns if a["category_id"] in (3, 1)]
        _, t = ds[i]
        assert "masks" not in t
        assert t["labels"].tolist() == [1 if a["category_id"] == 3 else 2 for a in keep]
        assert tuple(t["keypoints"].shape) == (len(keep), 17, 3)
    _, t = AugmentedCoco(root)[0]
    anns = [a for a in doc["annotations"] if a["image_id"] == doc["images"][0]["id"]]
    for m, a in zip(t["masks"].numpy(), anns, strict=True):
        rle = coco.polygons_to_rle(a["segmentation"], 48, 64)
        assert np.array_equal(m.astype(bool), coco.decode(rle))
    with pytest.raises(DatasetError, match="no category named 'dog'"):
        AugmentedCoco(root, categories=["dog"])


def test_images_without_annotations_give_empty_targets(tmp_path: Path) -> None:
    root = write_coco(tmp_path / "e", np.random.default_rng(2), n_images=2)
    doc = json.loads((root / "annotations.json").read_text())
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != 1]
    (root / "annotations.json").write_text(json.dumps(doc))
    _, t = AugmentedCoco(root)[0]
    assert tuple(t["boxes"].shape) == (0, 4) and tuple(t["masks"].shape) == (0, 48, 64)
    assert tuple(t["keypoints"].shape) == (0, 17, 3) and t["labels"].dtype == torch.int64


def _items(loader: Any) -> dict[int, tuple[Any, dict[str, Any]]]:
    out: dict[int, tuple[Any, dict[str, Any]]] = {}
    for images, targets in loader:
        assert isinstance(images, tuple) and isinstance(targets, tuple)
        for image, t in zip(images, targets, strict=True):
            assert t["image_id"] not in out, f"image {t['image_id']} yielded twice"
            out[t["image_id"]] = (image, t)
    return out


def test_dataloader_with_two_workers_yields_every_sample_once(tmp_path: Path) -> None:
    """Online qc augmentation in 2 worker processes: each image once, and the same
    pixels and targets as in the main process (each item depends only on its seed)."""
    from torch.utils.data import DataLoader

    root = write_coco(tmp_path / "w", np.random.default_rng(3), n_images=7, height=40, width=48)
    ds = AugmentedCoco(root, build_pipeline(load_pipeline(QC)), seed=5)
    ds.set_epoch(1)
    kw: dict[str, Any] = {"batch_size": 3, "shuffle": True, "collate_fn": collate}
    two = _items(data_loader(ds, num_workers=2, **kw))
    zero = _items(DataLoader(ds, num_workers=0, **kw))
    ids = [img["id"] for img in ds.images]
    assert sorted(two) == sorted(zero) == sorted(ids)
    for iid in ids:
        assert torch.equal(two[iid][0], zero[iid][0])
        for key, value in zero[iid][1].items():
            other = two[iid][1][key]
            assert torch.equal(other, value) if torch.is_tensor(value) else other == value
    ds.set_epoch(2)  # another epoch is another augmented copy
    assert not torch.equal(ds[0][0], zero[ids[0]][0])


def test_loader_workers_start_after_opencv_ran_in_this_process() -> None:
    """A plain DataLoader forked while OpenCV's thread pool runs (any augmentation in
    the main process starts it) hangs in the worker's first OpenCV call (seen in the
    full suite: worker_init's cv2.setNumThreads never returned); data_loader stops
    the pool while its workers start. In a child process, bounded by a timeout."""
    code = (
        "import cv2, numpy as np\n"
        "from augment.torch_dataset import data_loader\n"
        "cv2.setNumThreads(2)\n"
        "big = np.ones((2000, 2000, 3), np.float32)\n"
        "for _ in range(3): cv2.GaussianBlur(big, (31, 31), 5)\n"
        "class D:\n"
        "    def __len__(self): return 4\n"
        "    def __getitem__(self, i):\n"
        "        return cv2.GaussianBlur(np.ones((8, 8), np.float32), (3, 3), 1).sum(), {}\n"
        "print(sum(len(x) for x, _ in data_loader(D(), batch_size=2, num_workers=2)),\n"
        "      cv2.getNumThreads())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["4", "2"]  # every item; the pool restored afterwards
