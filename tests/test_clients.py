"""Our output in the tools users feed it to: pycocotools (COCOeval of the ground
truth against itself), torchvision (CocoDetection + transforms v2 wrapper),
supervision (DetectionDataset.from_coco)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from render.config import load_config
from render.driver import run_render
from render.formats import coco

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["demo", "pedestrians"])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our output (real samplers and writer, the fake renderer): generic objects, or
    people with keypoints, amodal masks and visibility."""
    extra = [
        "scene.people.count=[4,4]",
        "scene.min_person_pixels=4",
        "render.resolution=[160, 120]",
    ]
    overrides = ["num_scenes=3", "annotation.min_pixels=4"] + (
        extra if request.param == "pedestrians" else ["render.resolution=[96, 72]"]
    )
    cfg = load_config(ROOT / "configs" / f"{request.param}.yaml", overrides)
    out = tmp_path_factory.mktemp(request.param) / "ds"
    run_render(cfg, out, renderer="tests.fake_renderer", progress=False)
    return out


def test_cocoeval_of_ground_truth_against_itself_is_perfect(rendered: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(rendered / "annotations.json"))
        anns = [dict(a, score=1.0) for a in gt.loadAnns(gt.getAnnIds())]
        assert anns
        dt = gt.loadRes(anns)
        kinds = ["bbox", "segm"] + (["keypoints"] if any("keypoints" in a for a in anns) else [])
        for kind in kinds:
            ev = COCOeval(gt, dt, kind)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            assert ev.stats[0] == pytest.approx(1.0), (kind, ev.stats[:3])


def test_torchvision_coco_detection_v2(rendered: Path) -> None:
    from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2

    doc = json.loads((rendered / "annotations.json").read_text())
    raw = CocoDetection(str(rendered), str(rendered / "annotations.json"))
    ds = wrap_dataset_for_transforms_v2(raw, target_keys=("image_id", "boxes", "labels", "masks"))
    assert len(ds) == len(doc["images"])
    for k in range(len(ds)):
        image, target = ds[k]
        img = doc["images"][k]
        anns = [a for a in doc["annotations"] if a["image_id"] == img["id"]]
        assert tuple(image.size) == (img["width"], img["height"])
        if not anns:
            continue
        xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
        np.testing.assert_allclose(target["boxes"].numpy(), xyxy, atol=1e-4)
        assert target["labels"].tolist() == [a["category_id"] for a in anns]
        for mask, a in zip(target["masks"].numpy(), anns, strict=True):
            assert (mask.astype(bool) == coco.decode(a["segmentation"])).all()
        # the wrapper has no keypoint target; the raw COCO target carries them
        assert [t.get("keypoints") for t in raw[k][1]] == [a.get("keypoints") for a in anns]


def test_supervision_from_coco(rendered: Path) -> None:
    import supervision as sv

    doc = json.loads((rendered / "annotations.json").read_text())
    ds = sv.DetectionDataset.from_coco(
        images_directory_path=str(rendered),
        annotations_path=str(rendered / "annotations.json"),
        force_masks=True,
    )
    assert len(ds) == len(doc["images"])
    by_name = {img["file_name"]: img for img in doc["images"]}
    for path, _, detections in ds:
        rel = str(Path(path).relative_to(rendered))
        img = by_name[rel]
        anns = [a for a in doc["annotations"] if a["image_id"] == img["id"] and not a["iscrowd"]]
        assert len(detections) == len(anns)
        if anns:
            want = sorted([x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns))
            got = sorted(detections.xyxy.tolist())
            np.testing.assert_allclose(got, want, atol=1e-3)
