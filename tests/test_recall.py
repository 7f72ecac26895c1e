"""Recall by occlusion, size and person group (issue 24) on a hand-made dataset
whose answers are known: 8 people in 2 images, 5 of them found by the results
file (one only by a low-scoring detection, one by a box that misses at IoU 0.5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from render.cli import main
from render.groups import skin_group
from render.training.recall import found, recall_tables

PEOPLE = [
    # id, image, bbox, visibility, amodal height, age, skin_tone, gender, detection score (None: none)
    (1, 1, [10, 10, 20, 60], 1.0, 60, 30, 0.0, 0.0, 0.9),
    (2, 1, [40, 10, 20, 60], 0.8, 70, 8, 0.2, 1.0, 0.8),
    (3, 1, [70, 10, 20, 30], 0.4, 75, 70, 0.5, 1.0, 0.3),    # found only below 0.5
    (4, 1, [100, 10, 10, 20], 0.1, 200, 15, 0.9, 0.0, None),
    (5, 2, [10, 10, 30, 130], 1.0, 130, 40, 1.0, 1.0, 0.95),
    (6, 2, [50, 10, 30, 300], 0.6, 300, 40, 0.6, 0.0, 0.7),
    (7, 2, [90, 10, 12, 20], 0.3, 40, 66, 0.4, 1.0, 0.6),    # its detection is off: IoU < 0.5
    (8, 2, [120, 10, 20, 40], 0.9, 44, 25, 0.8, 0.0, 0.55),
]  # fmt: skip


def _dataset(root: Path) -> tuple[Path, Path]:
    (root / "images").mkdir(parents=True)
    for iid in (1, 2):
        Image.new("RGB", (160, 320)).save(root / "images" / f"{iid}.png")
    anns, dets = [], []
    for pid, iid, box, vis, amodal_h, age, tone, gender, score in PEOPLE:
        x, y, w, h = box
        anns.append({
            "id": pid, "image_id": iid, "category_id": 1, "bbox": box, "area": w * h,
            "iscrowd": 0, "visibility": vis, "bbox_amodal": [x, y, w, amodal_h],
            "attributes": {"age_years": age, "skin_tone": tone, "gender": gender},
        })  # fmt: skip
        if score is not None:
            shift = 0.6 * w if pid == 7 else 0.0
            dets.append({"image_id": iid, "category_id": 1, "score": score,
                         "bbox": [x + shift, y, w, h]})  # fmt: skip
    doc = {"images": [{"id": i, "file_name": f"images/{i}.png", "width": 160, "height": 320}
                      for i in (1, 2)],
           "annotations": anns, "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    (root / "annotations.json").write_text(json.dumps(doc))
    results = root.parent / "results.json"
    results.write_text(json.dumps(dets))
    return root, results


def test_found_matches_greedily_at_iou_half() -> None:
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [2, 0, 10, 10]}]  # fmt: skip
    dets = [{"image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "score": 0.9}]
    assert len(found(anns, dets, 0.5)) == 1  # one detection finds one instance
    assert found(anns, [{**dets[0], "category_id": 2}], 0.5) == set()


def test_recall_tables_give_the_known_answers(tmp_path: Path) -> None:
    root, results = _dataset(tmp_path / "ds")
    doc = json.loads((root / "annotations.json").read_text())
    t = recall_tables(doc["annotations"], json.loads(results.read_text()), 0.5)
    assert t["all"] == {"n": 8, "found": 5, "recall": 0.625}  # 1, 2, 5, 6, 8; 3 below 0.5; 7 off
    vis = {k: (r["n"], r["found"]) for k, r in t["visibility"].items()}
    assert vis == {"0-0.25": (1, 0), "0.25-0.5": (2, 0), "0.5-0.75": (1, 1), "0.75-1": (4, 4)}
    height = {k: (r["n"], r["found"]) for k, r in t["height_px"].items()}
    assert height == {"0-32": (0, 0), "32-64": (3, 2), "64-128": (2, 1), "128-256": (2, 1),
                      ">=256": (1, 1)}  # fmt: skip
    ages = {g: (r["n"], r["found"]) for g, r in t["age"]["groups"].items()}
    assert ages == {"adult": (4, 4), "child": (1, 1), "senior": (2, 0), "teen": (1, 0)}
    assert t["age"]["gap"] == 1.0
    skins = {g: (r["n"], r["found"]) for g, r in t["skin_tone"]["groups"].items()}
    assert skins == {"Monk 1-3": (2, 2), "Monk 4-7": (3, 1), "Monk 8-10": (3, 2)}
    assert t["skin_tone"]["gap"] == pytest.approx(1 - 1 / 3, abs=1e-4)
    sexes = {g: (r["n"], r["found"]) for g, r in t["sex"]["groups"].items()}
    assert sexes == {"female": (4, 2), "male": (4, 3)}


def test_skin_groups_follow_the_monk_scale() -> None:
    # skin_tone t is Monk 1 + round(9 t): Monk 4 from t = 0.278, Monk 8 from t = 0.722
    assert [skin_group({"skin_tone": v}) for v in (0.0, 0.27, 0.28, 0.72, 0.73, 1.0)] == [
        "Monk 1-3", "Monk 1-3", "Monk 4-7", "Monk 4-7", "Monk 8-10", "Monk 8-10"]  # fmt: skip


def test_evaluate_prints_and_writes_the_tables(tmp_path: Path, capsys: Any) -> None:
    root, results = _dataset(tmp_path / "ds")
    out = tmp_path / "ev"
    assert main(["evaluate", str(results), str(root), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "recall at IoU 0.5, detections scoring >= 0.5:" in text and "age gap: 1.000" in text
    rows = {line.split("  ")[1].strip(): line.split()[-3:] for line in text.splitlines()
            if line.startswith("  visibility ") or line.startswith("  height px ")}  # fmt: skip
    assert rows["visibility 0.25-0.5"] == ["2", "0", "0.000"]  # labels whole, not cut
    assert rows["height px 128-256"] == ["2", "1", "0.500"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["recall"]["all"]["found"] == 5
    assert main(["evaluate", str(results), str(root), "--out", str(out), "--no-progress",
                 "--recall-score", "0.2"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["recall"]["all"]["found"] == 6 and metrics["recall"]["score_min"] == 0.2
    assert np.isclose(metrics["recall"]["all"]["recall"], 0.75)
