"""Per-joint PCK (issue 24) on a hand-made dataset whose answers are known: three
people with three labelled joints (nose, left wrist, right ankle), one of them
missed by the detector, keypoints placed at known distances from the truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from render.cli import main
from render.formats.keypoints import COCO_KEYPOINTS
from render.training.pck import pck_table

NOSE, L_WRIST, R_ANKLE = 0, 9, 16


def _kps(points: dict[int, tuple[float, float, int]]) -> list[float]:
    out = [0.0] * (3 * len(COCO_KEYPOINTS))
    for j, (x, y, v) in points.items():
        out[3 * j : 3 * j + 3] = [x, y, v]
    return out


def _case() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    anns = [
        # A: box 100 x 50 (size 100); its right ankle is not labelled
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 50], "iscrowd": 0,
         "keypoints": _kps({NOSE: (20, 20, 2), L_WRIST: (60, 30, 1), R_ANKLE: (90, 50, 0)})},
        # B: visible box 40 x 80 but amodal 40 x 100: size 100, not 80
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [150, 10, 40, 80], "iscrowd": 0,
         "bbox_amodal": [150, 10, 40, 100],
         "keypoints": _kps({NOSE: (160, 20, 2), L_WRIST: (170, 50, 2), R_ANKLE: (175, 85, 2)})},
        # C: never detected; two labelled joints
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [210, 10, 30, 60], "iscrowd": 0,
         "keypoints": _kps({NOSE: (220, 20, 2), L_WRIST: (230, 40, 2)})},
        # a crowd region with keypoints: left out
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [250, 10, 30, 60], "iscrowd": 1,
         "keypoints": _kps({NOSE: (260, 20, 2)})},
    ]  # fmt: skip
    dets = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [10, 10, 100, 50],
         "keypoints": _kps({NOSE: (25, 20, 1), L_WRIST: (60, 45, 1), R_ANKLE: (0, 0, 1)})},
        {"image_id": 1, "category_id": 1, "score": 0.8, "bbox": [150, 10, 40, 80],
         "keypoints": _kps({NOSE: (169, 20, 1), L_WRIST: (170, 80, 1), R_ANKLE: (175, 85, 1)})},
    ]  # fmt: skip
    for a in anns:
        x, y, w, h = a["bbox"]
        a["area"] = w * h
        a["num_keypoints"] = sum(1 for v in a["keypoints"][2::3] if v > 0)
    return anns, dets


def test_pck_gives_the_known_answers() -> None:
    anns, dets = _case()
    t = pck_table(anns, dets, COCO_KEYPOINTS, score_min=0.5)
    assert t["people"] == 3 and t["matched"] == 2 and t["alphas"] == [0.1, 0.2]
    j = t["joints"]
    # nose: A 5 px of 100 (right at both), B 9 px of 100 (right: the amodal size), C missed
    assert j["nose"] == {"n": 3, "pck@0.1": pytest.approx(2 / 3, abs=1e-4),
                         "pck@0.2": pytest.approx(2 / 3, abs=1e-4)}  # fmt: skip
    # left wrist: A 15 px (right only at 0.2), B 30 px (wrong), C missed
    assert j["left_wrist"] == {"n": 3, "pck@0.1": 0.0, "pck@0.2": pytest.approx(1 / 3, abs=1e-4)}
    # right ankle: A not labelled, B exact; C has none
    assert j["right_ankle"] == {"n": 1, "pck@0.1": 1.0, "pck@0.2": 1.0}
    assert j["left_eye"] == {"n": 0, "pck@0.1": None, "pck@0.2": None}
    assert t["all"] == {"n": 7, "pck@0.1": pytest.approx(3 / 7, abs=1e-4),
                        "pck@0.2": pytest.approx(4 / 7, abs=1e-4)}  # fmt: skip
    # a detection below the score threshold finds nobody: every joint is wrong
    low = [{**d, "score": 0.3} for d in dets]
    assert pck_table(anns, low, COCO_KEYPOINTS, score_min=0.5)["all"]["pck@0.2"] == 0.0
    assert pck_table([{**a, "keypoints": None} for a in anns], dets, COCO_KEYPOINTS) == {}


def test_evaluate_prints_and_writes_pck(tmp_path: Path, capsys: Any) -> None:
    anns, dets = _case()
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (320, 160)).save(root / "images" / "1.png")
    doc = {"images": [{"id": 1, "file_name": "images/1.png", "width": 320, "height": 160}],
           "annotations": anns,
           "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS),
                           "skeleton": []}]}  # fmt: skip
    (root / "annotations.json").write_text(json.dumps(doc))
    results = tmp_path / "results.json"
    results.write_text(json.dumps(dets))
    out = tmp_path / "ev"
    assert main(["evaluate", str(results), str(root), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "keypoints PCK (3 people, 2 matched" in text and "left_wrist" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pck"]["all"]["n"] == 7
    assert metrics["pck"]["joints"]["right_ankle"]["pck@0.1"] == 1.0
