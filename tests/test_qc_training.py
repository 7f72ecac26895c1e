"""Issue 22, training and scoring at native resolution: crops of images and their
annotations, the crop dataset, windowed inference, and the QC metrics (product
accept/reject across tiles, escape rate at a fixed false-reject rate, ROC AUC)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.crops import CropPlan, Crops, choose_window, crop_annotations
from augment.torch_dataset import AugmentedCoco
from render.formats import coco
from render.training.qc import escape_rate, product_scores, qc_metrics, roc_auc
from render.training.windows import window_origins
from tests.coco_fixtures import write_coco


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(tmp_path_factory.mktemp("c") / "ds", np.random.default_rng(1), n_images=3,
                      height=96, width=128)  # fmt: skip


def test_crops_cut_masks_boxes_and_keypoints(ds: Path) -> None:
    doc = json.loads((ds / "annotations.json").read_text())
    img = doc["images"][0]
    anns = [a for a in doc["annotations"] if a["image_id"] == img["id"]]
    h, w = img["height"], img["width"]
    window = (20, 10, 64, 64)
    cut = crop_annotations(anns, h, w, window)
    by_id = {a["id"]: a for a in anns}
    assert cut
    for a in cut:
        full = coco.decode(coco.segmentation_to_rle(by_id[a["id"]]["segmentation"], h, w))
        want = full[10:74, 20:84]
        assert (coco.decode(a["segmentation"]) == want).all()
        assert a["area"] == int(want.sum()) >= 4 and a["bbox"] == coco.mask_bbox(want)
        assert not any(k.endswith("_amodal") for k in a)
        if a.get("keypoints"):
            old = np.asarray(by_id[a["id"]]["keypoints"]).reshape(-1, 3)
            new = np.asarray(a["keypoints"]).reshape(-1, 3)
            inside = new[:, 2] > 0
            assert np.allclose(new[inside, :2], old[inside, :2] - [20, 10])
            assert a["num_keypoints"] == int(inside.sum())
    gone = {a["id"] for a in anns} - {a["id"] for a in cut}
    for i in gone:  # dropped: fewer than 4 of its pixels in the window
        full = coco.decode(coco.segmentation_to_rle(by_id[i]["segmentation"], h, w))
        assert full[10:74, 20:84].sum() < 4


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(0, 3), size=st.integers(16, 200))
def test_positive_crops_hold_a_box_centre_negatives_avoid_them(
    seed: int, k: int, size: int
) -> None:
    anns = [{"bbox": [300.0, 200.0, 40.0, 10.0], "category_id": 1},
            {"bbox": [50.0, 60.0, 20.0, 20.0], "category_id": 2}]  # fmt: skip
    crops = Crops(size=size, per_image=4, negatives=0.25, around=frozenset({1}))
    rng = np.random.default_rng(seed)
    x, y, cw, ch, positive = choose_window(400, 600, anns, crops, k == 3, rng)
    assert (
        (cw, ch) == (min(size, 600), min(size, 400)) and 0 <= x <= 600 - cw and 0 <= y <= 400 - ch
    )
    assert positive == (k < 3)
    if positive:
        assert x <= 320 <= x + cw and y <= 205 <= y + ch
    elif size < 150:  # room to miss it: never on the box
        assert x + cw <= 300 or x >= 340 or y + ch <= 200 or y >= 210


def test_an_epoch_holds_the_negative_share_asked(ds: Path) -> None:
    """``negatives`` is the share of an epoch's crops, however few images have a box
    to centre on: with boxes on 3 of 9 images (a third of the tiles, as the defect
    sets) and 2 crops each, an epoch is 6 positives and 2 negatives, where the share
    was taken per image (round(0.25 x 2) = 0) and every crop of the 6 others was a
    negative (12 of 18). Negatives take every image in turn over the epochs."""
    crops = Crops(size=32, per_image=2, negatives=0.25)
    plan = CropPlan.of([True, False, False] * 3, crops, seed=0)
    assert len(plan) == 8 and plan.positive == (0, 3, 6)
    for epoch in range(3):
        items = [plan.item(i, epoch) for i in range(len(plan))]
        assert [i[2] for i in items].count(True) == 2
        assert [i[:2] for i in items[:6]] == [(0, 0), (0, 1), (3, 0), (3, 1), (6, 0), (6, 1)]
        assert len({(i[0], i[1]) for i in items}) == 8  # (image, k) keys a crop's stream
    seen = {plan.item(i, e)[0] for e in range(5) for i in (6, 7)}
    assert seen == set(range(9))  # 5 epochs x 2 negatives cover the 9 images
    assert len(CropPlan.of([False] * 4, crops, 0)) == 8  # no box: negatives only
    assert len(CropPlan.of([True] * 4, Crops(32, 2, 0.0), 0)) == 8  # no negatives
    assert len(CropPlan.of([True] * 4, Crops(32, 2, 1.0), 0)) == 8  # negatives only
    assert not any(CropPlan.of([True] * 4, Crops(32, 2, 0.0), 0).item(i, 0)[2] for i in range(8))


def test_crop_dataset_items(ds: Path) -> None:
    data = AugmentedCoco(ds, None, crops=Crops(size=48, per_image=3, negatives=1 / 3),
                         crop_around=["plate"], masks=True)  # fmt: skip
    plates = {a["image_id"] for a in data.source.coco["annotations"] if a["category_id"] == 1}
    assert data.plan is not None and len(data.plan.positive) == len(plates)
    assert len(data) == 3 * len(plates) + round(3 * len(plates) / 2)
    for i in range(len(data)):  # positives hold a plate; negatives none, where there is room
        _, _, negative = data._item(i)
        plate = [a for a in data.sample(i).annotations if a["category_id"] == 1]
        assert negative or plate
    a, b = data.sample(4), data.sample(4)
    assert (a.image == b.image).all() and a.annotations == b.annotations  # deterministic
    assert a.image.shape[:2] == (48, 48)
    t = data.target(4, a)
    assert t["image_id"] == data.entry(4)["id"] and t["masks"].shape[1:] == (48, 48)
    assert (t["boxes"][:, 2:] <= 48).all()
    data.set_epoch(1)
    assert (
        not np.array_equal(data.sample(4).image, a.image)
        or data.sample(4).annotations != a.annotations
    )


def test_window_origins_cover_with_overlap() -> None:
    assert window_origins(300, 512) == [0]
    o = window_origins(1100, 512, 64)
    assert o[0] == 0 and o[-1] == 1100 - 512
    assert all(b - a <= 512 - 64 for a, b in zip(o, o[1:], strict=False))
    small = window_origins(64, 32, 64)  # an overlap of the whole side: half the side at most
    assert small == [0, 16, 32]


def test_predict_native_moves_boxes_back_and_merges_windows() -> None:
    """A stub detector that finds one box at fixed window coordinates in each
    window: the boxes come back at window origin + that, and the copies found in
    two overlapping windows at the same image place are merged into one."""
    torch = pytest.importorskip("torch")
    from render.training.windows import predict_native

    image = torch.zeros((3, 100, 200))

    class Stub:
        class roi_heads:  # noqa: N801 - the attribute torchvision detectors have
            detections_per_img = 100

        def __call__(self, crops: list[Any]) -> list[dict[str, Any]]:
            return [{"boxes": torch.tensor([[10.0, 20.0, 30.0, 40.0], [70.0, 20.0, 90.0, 40.0]]),
                     "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([1, 1])}
                    for _ in crops]  # fmt: skip

    out = predict_native(Stub(), image, side=100, overlap=40)  # windows at x = 0, 60, 100
    boxes = sorted(out["boxes"].tolist())
    # window 0: 10-30, 70-90; window 60: 70-90 (merged), 130-150; window 100: 110-130, 170-190
    assert boxes == [[10.0, 20.0, 30.0, 40.0], [70.0, 20.0, 90.0, 40.0], [110.0, 20.0, 130.0, 40.0],
                     [130.0, 20.0, 150.0, 40.0], [170.0, 20.0, 190.0, 40.0]]  # fmt: skip


def test_roc_auc_and_escape_rate() -> None:
    rng = np.random.default_rng(0)
    pos, neg = rng.uniform(0.3, 1, 40), rng.uniform(0, 0.7, 60)
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert roc_auc(pos, neg) == pytest.approx(brute)
    assert roc_auc(np.array([0.5]), np.array([0.5])) == 0.5
    neg = np.array([0.0] * 95 + [0.2, 0.3, 0.4, 0.6, 0.9])
    pos = np.array([0.1, 0.35, 0.5, 0.7, 0.95])
    esc, thr = escape_rate(pos, neg, 0.01)  # 1 of 100 may be rejected: above 0.6
    assert thr == 0.6 and esc == pytest.approx(3 / 5)
    esc, thr = escape_rate(pos, neg, 0.05)  # 5 may be rejected: above 0.0
    assert thr == 0.0 and esc == 0.0


def _tiled_doc() -> dict[str, Any]:
    """One frame cut into two tiles; product 1 (defective, a reject scratch in the
    left tile) spans both; product 2 is good, in the right tile."""
    tile = {"view": 0, "frame_width": 200, "frame_height": 100, "kind": "product"}
    images = [{"id": 1, "scene_id": 0, "width": 100, "height": 100, "tile": {**tile, "x": 0, "y": 0}},
              {"id": 2, "scene_id": 0, "width": 100, "height": 100, "tile": {**tile, "x": 100, "y": 0}}]  # fmt: skip
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [50, 10, 50, 50], "scene_instance": 1,
         "truncated": 1, "bbox_amodal": [50, 10, 80, 50]},
        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 10, 30, 50], "scene_instance": 1,
         "truncated": 1, "bbox_amodal": [-50, 10, 80, 50]},
        {"id": 3, "image_id": 1, "category_id": 9, "bbox": [60, 20, 5, 5], "scene_instance": 3,
         "scene_parent": 1, "attributes": {"severity": "reject"}},
        {"id": 4, "image_id": 2, "category_id": 1, "bbox": [60, 60, 30, 30], "scene_instance": 2},
    ]  # fmt: skip
    cats = [{"id": 1, "name": "plate", "supercategory": "product"},
            {"id": 9, "name": "scratch", "supercategory": "defect"}]  # fmt: skip
    return {"images": images, "annotations": anns, "categories": cats}


def test_products_are_judged_once_across_tiles() -> None:
    doc = _tiled_doc()
    # a scratch found in the right tile, on product 1's part there (frame x 110-115)
    dets = [{"image_id": 2, "category_id": 9, "bbox": [10, 30, 5, 5], "score": 0.7},
            {"image_id": 2, "category_id": 9, "bbox": [70, 70, 5, 5], "score": 0.2}]  # fmt: skip
    rows = {r["instance"]: r for r in product_scores(doc, dets, {9})}
    assert set(rows) == {1, 2}  # two products, not three product annotations
    assert rows[1]["defective"] and rows[1]["score"] == 0.7
    assert not rows[2]["defective"] and rows[2]["score"] == 0.2
    qc = qc_metrics(doc, dets, {9})
    assert qc["overall"]["roc_auc"] == 1.0 and qc["overall"]["products"] == 2
    assert qc["per_product"]["plate"]["defective"] == 1


def test_detections_on_tiles_become_frame_detections() -> None:
    """A scratch found in both overlapping tiles is one detection on the frame."""
    from render.training.qc import frame_detections

    tile = {"view": 0, "frame_width": 200, "frame_height": 100, "kind": "product"}
    images = [{"id": 1, "scene_id": 0, "tile": {**tile, "x": 0, "y": 0}},
              {"id": 2, "scene_id": 0, "tile": {**tile, "x": 80, "y": 0}}]  # fmt: skip
    dets = [{"image_id": 1, "category_id": 9, "bbox": [90, 10, 8, 8], "score": 0.6},
            {"image_id": 2, "category_id": 9, "bbox": [10.5, 10, 8, 8], "score": 0.8},
            {"image_id": 2, "category_id": 9, "bbox": [60, 60, 8, 8], "score": 0.3}]  # fmt: skip
    out = frame_detections(images, dets)
    assert [(d["bbox"], d["score"], d["image_id"]) for d in out] == [
        ([90.5, 10.0, 8.0, 8.0], 0.8, 2), ([140.0, 60.0, 8.0, 8.0], 0.3, 2)]  # fmt: skip


def test_false_defects_on_nuisances_per_100_products() -> None:
    from render.training.qc import nuisance_false_positives

    doc = _tiled_doc()
    doc["categories"].append({"id": 21, "name": "dust", "supercategory": "nuisance"})
    doc["annotations"].append({"id": 5, "image_id": 2, "category_id": 21, "bbox": [60, 62, 4, 4],
                               "scene_instance": 5, "scene_parent": 2})  # fmt: skip
    dets = [{"image_id": 2, "category_id": 9, "bbox": [60, 62, 4, 4], "score": 0.9},   # on the dust
            {"image_id": 1, "category_id": 9, "bbox": [60, 20, 5, 5], "score": 0.9},   # a true scratch
            {"image_id": 2, "category_id": 9, "bbox": [61, 62, 3, 3], "score": 0.1}]  # below threshold  # fmt: skip
    assert nuisance_false_positives(doc, dets, {9}, 0.5, 2) == {"dust": 50.0}


def test_other_false_defects_on_products_and_elsewhere_per_100_products() -> None:
    """At the threshold: a detection on product 2's body is one on the products, one
    on the background one elsewhere; one on the true scratch, one on the dust and one
    below the threshold are not counted; the same false defect found by both
    overlapping tiles counts once."""
    from render.training.qc import qc_metrics, structure_false_positives

    doc = _tiled_doc()
    doc["images"][1]["tile"]["x"] = 90  # the tiles overlap on frame x 90-100
    doc["annotations"][1]["bbox_amodal"] = [-40, 10, 80, 50]
    doc["categories"].append({"id": 21, "name": "dust", "supercategory": "nuisance"})
    doc["annotations"].append({"id": 5, "image_id": 2, "category_id": 21, "bbox": [60, 62, 4, 4],
                               "scene_instance": 5, "scene_parent": 2})  # fmt: skip
    dets = [{"image_id": 2, "category_id": 9, "bbox": [70, 75, 6, 6], "score": 0.9},  # product 2
            {"image_id": 1, "category_id": 9, "bbox": [92, 30, 4, 4], "score": 0.8},  # product 1,
            {"image_id": 2, "category_id": 9, "bbox": [2, 30, 4, 4], "score": 0.7},   # both tiles
            {"image_id": 1, "category_id": 9, "bbox": [10, 80, 6, 6], "score": 0.9},  # background
            {"image_id": 1, "category_id": 9, "bbox": [60, 20, 5, 5], "score": 0.9},  # the scratch
            {"image_id": 2, "category_id": 9, "bbox": [60, 62, 4, 4], "score": 0.9},  # the dust
            {"image_id": 2, "category_id": 9, "bbox": [20, 80, 6, 6], "score": 0.1}]  # fmt: skip
    got = structure_false_positives(doc, dets, {9}, 0.5, 2)
    assert got == {"on_products": 100.0, "elsewhere": 50.0}
    qc = qc_metrics(doc, dets, {9})
    assert "other_fp_per_100_products_at_frr_0.05" in qc
    # at the fixed score 0.5 too: every false defect above is above it
    assert qc["other_fp_per_100_products_at_score_0.5"] == got
    assert qc["nuisance_fp_per_100_products_at_score_0.5"] == {"dust": 50.0}
