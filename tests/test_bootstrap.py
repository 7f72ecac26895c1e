"""Bootstrap intervals of AP50 (render.formats.coco_bootstrap): every draw's AP50
is what COCOeval gives on a dataset that really holds the drawn scenes, copies and
all; scenes are drawn whole; ``synthcv evaluate --bootstrap`` and ``--categories``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from render.cli import main
from render.formats import coco, coco_bootstrap

CATS = [{"id": 1, "name": "scratch"}, {"id": 2, "name": "dent"}]


def _scene_doc(rng: np.random.Generator, scenes: int = 2, per_scene: int = 2) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """Images of ``scenes`` scenes with 3-5 instances each of two categories, and
    detections: shifted copies of most instances (some off by more than IoU 0.5),
    some false boxes; every score distinct (no ties for the order to decide)."""
    images, anns, dets = [], [], []
    scores = iter(rng.permutation(np.linspace(0.05, 0.99, 400)))
    for s in range(scenes):
        for _ in range(per_scene):
            iid = len(images) + 1
            images.append({"id": iid, "width": 200, "height": 200, "scene_id": s})
            for _ in range(int(rng.integers(3, 6))):
                x, y = (float(v) for v in rng.uniform(0, 150, 2))
                w, h = (float(v) for v in rng.uniform(10, 50, 2))
                cat = int(rng.integers(1, 3))
                anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": cat,
                             "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})  # fmt: skip
                if rng.random() < 0.8:
                    off = float(rng.choice([1.0, 2.0, 30.0]))
                    dets.append({"image_id": iid, "category_id": cat, "score": float(next(scores)),
                                 "bbox": [x + off, y, w, h]})  # fmt: skip
            for _ in range(2):
                dets.append({"image_id": iid, "category_id": int(rng.integers(1, 3)),
                             "score": float(next(scores)), "bbox": [5.0, 150.0, 20.0, 20.0]})  # fmt: skip
    return {"images": images, "annotations": anns, "categories": CATS}, dets


def _holding(doc: dict[str, Any], dets: list[dict[str, Any]], scenes: list[int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """The dataset made of ``scenes`` (repeats copied under new image ids, in order)."""
    images, anns, out = [], [], []
    for s in scenes:
        for img in (i for i in doc["images"] if i["scene_id"] == s):
            iid = len(images) + 1
            images.append({**img, "id": iid, "scene_id": len(images)})
            for a in (a for a in doc["annotations"] if a["image_id"] == img["id"]):
                anns.append({**a, "id": len(anns) + 1, "image_id": iid})
            out += [{**d, "image_id": iid} for d in dets if d["image_id"] == img["id"]]
    return {"images": images, "annotations": anns, "categories": CATS}, out


def test_one_scene_gives_cocoevals_ap50_in_every_draw() -> None:
    doc, dets = _scene_doc(np.random.default_rng(3), scenes=1, per_scene=4)
    res = coco.evaluate(doc, dets, "bbox", bootstrap=50)
    assert 0 < res.stats["AP50"] < 1
    for row in res.per_class.values():
        assert row["AP50_ci"] == [round(row["AP50"], 4)] * 2
    assert res.stats["AP50_ci"] == [round(res.stats["AP50"], 4)] * 2
    assert res.stats["bootstrap"] == {"n": 50, "unit": "scene", "level": 0.95}
    assert "AP50_ci" not in coco.evaluate(doc, dets, "bbox").stats  # only when asked


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_interval_spans_the_datasets_the_draws_can_be(seed: int) -> None:
    """Two scenes of two images: a draw is {A, A}, {A, B} or {B, B} (never half a
    scene), each at least a quarter of the time, so over 400 draws the interval's
    ends are the least and the most of COCOeval's AP50 on those three datasets."""
    doc, dets = _scene_doc(np.random.default_rng(seed))
    got = coco.evaluate(doc, dets, "bbox", bootstrap=400, seed=seed)
    cases = [coco.evaluate(*_holding(doc, dets, s), "bbox") for s in ([0, 0], [0, 1], [1, 1])]
    for cat in (1, 2):
        values = [c.per_class[cat]["AP50"] for c in cases if c.per_class[cat]["n_gt"]]
        assert got.per_class[cat]["AP50_ci"] == [round(min(values), 4), round(max(values), 4)]
    means = [c.stats["AP50"] for c in cases]
    assert got.stats["AP50_ci"] == [round(min(means), 4), round(max(means), 4)]


def test_draws_take_whole_scenes() -> None:
    members = coco_bootstrap.scenes([10, 11, 12, 13, 14], {10: "a", 11: "b", 12: "a", 13: "b"})
    assert members == [[0, 2], [1, 3], [4]]  # image 14 has no scene: one of its own
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        picked, i, drawn = coco_bootstrap.draw(rng, members), 0, []
        while i < len(picked):  # scene after scene, each whole
            g = next(g for g, m in enumerate(members) if m[0] == picked[i])
            assert picked[i : i + len(members[g])] == members[g]
            i, drawn = i + len(members[g]), [*drawn, g]
        assert len(drawn) == 3  # as many scenes as there are
        seen.add(tuple(sorted(drawn)))
    assert len(seen) > 3  # with replacement: repeats and misses
    assert coco_bootstrap.ap50([None, None], np.linspace(0, 1, 101)) is None  # no instance


def _dataset(root: Path) -> tuple[Path, Path]:
    doc, dets = _scene_doc(np.random.default_rng(5), scenes=3)
    (root / "images").mkdir(parents=True)
    for img in doc["images"]:
        img["file_name"] = f"images/{img['id']}.png"
        Image.new("RGB", (200, 200)).save(root / img["file_name"])
    doc["categories"] = [*CATS, {"id": 3, "name": "plate"}]  # a category nothing detects
    doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": 1, "category_id": 3,
                               "bbox": [0, 0, 200, 200], "area": 40000, "iscrowd": 0})  # fmt: skip
    (root / "annotations.json").write_text(json.dumps(doc))
    (root / "dets.json").write_text(json.dumps(dets))
    return root, root / "dets.json"


def test_evaluate_bootstrap_and_categories(tmp_path: Path, capsys: Any) -> None:
    root, results = _dataset(tmp_path / "ds")
    out = tmp_path / "ev"
    argv = ["evaluate", str(results), str(root), "--out", str(out), "--no-progress"]
    assert main([*argv, "--bootstrap", "200"]) == 0
    text = capsys.readouterr().out
    assert "AP50 95 % interval" in text and "(200 draws of the test scenes" in text
    every = json.loads((out / "metrics.json").read_text())["metrics"]["bbox"]
    assert set(every["per_class"]) == {"scratch", "dent", "plate"}
    lo, hi = every["stats"]["AP50_ci"]
    assert 0 <= lo <= hi <= 1 and every["per_class"]["plate"]["AP50_ci"] == [0.0, 0.0]
    # only the categories named: the mean is theirs, not pulled down by "plate"
    assert main([*argv, "--categories", "scratch,dent"]) == 0
    capsys.readouterr()
    two = json.loads((out / "metrics.json").read_text())["metrics"]["bbox"]
    assert set(two["per_class"]) == {"scratch", "dent"} and "AP50_ci" not in two["stats"]
    per = [two["per_class"][n]["AP50"] for n in ("scratch", "dent")]
    assert two["stats"]["AP50"] == pytest.approx(np.mean(per))
    assert every["stats"]["AP50"] < two["stats"]["AP50"]


def test_evaluate_bootstrap_errors_are_one_line(tmp_path: Path, capsys: Any) -> None:
    root, results = _dataset(tmp_path / "ds")
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"x")
    for args, needle in [
        ([str(results), str(root), "--categories", "scratch,nope"],
         "--categories: nope: not a category of"),
        ([str(ckpt), str(root), "--categories", "scratch"],
         "--categories: a checkpoint scores its own categories"),
        ([str(results), str(root), "--bootstrap", "100001"], "--bootstrap 100001: must be at most"),
    ]:  # fmt: skip
        assert main(["evaluate", *args, "--out", str(tmp_path / "ev"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("synthcv: error: ") and needle in err, err
        assert len(err.splitlines()) == 1 and "Traceback" not in err
