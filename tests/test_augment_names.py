"""augment output names: distinct source files never share an output file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from augment.pipeline import parse_pipeline
from augment.writer import augment_dataset
from render.formats.validate import validate_dataset
from tests.coco_fixtures import write_coco

FLIP = parse_pipeline([{"HorizontalFlip": {"p": 1.0}}])


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def colliding_source(root: Path) -> Path:
    """Four images named ``a.png``, ``images/a.png``, ``images/b.PNG``, ``images/b.png``."""
    write_coco(root, np.random.default_rng(4), n_images=4)
    doc = json.loads((root / "annotations.json").read_text())
    names = ["a.png", "images/a.png", "images/b.PNG", "images/b.png"]
    for img, name in zip(doc["images"], names, strict=True):
        (root / img["file_name"]).rename(root / f"{name}.tmp")
        img["file_name"] = name
    for name in names:
        (root / f"{name}.tmp").rename(root / name)
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def test_same_stem_in_other_folders_or_case_gets_distinct_outputs(tmp_path: Path) -> None:
    src = colliding_source(tmp_path / "src")
    out = tmp_path / "out"
    augment_dataset(src, FLIP, out, copies=2, seed=0, keep_originals=True, progress=False)
    doc = json.loads((out / "annotations.json").read_text())
    names = [img["file_name"] for img in doc["images"]]
    assert len(names) == 12
    assert len({n.casefold() for n in names}) == 12, names  # distinct even case-insensitively
    source = {
        img["id"]: img for img in json.loads((src / "annotations.json").read_text())["images"]
    }
    for img in doc["images"]:
        origin = source[img.get("augmented_from", img["id"])]
        pixels = read_rgb(src / origin["file_name"])
        if "augmented_from" in img:
            pixels = pixels[:, ::-1]
        assert np.array_equal(read_rgb(out / img["file_name"]), pixels), img["file_name"]
    assert validate_dataset(out) == []


def test_names_are_deterministic_and_unchanged_without_collisions(tmp_path: Path) -> None:
    src = colliding_source(tmp_path / "src")
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        augment_dataset(src, FLIP, out, copies=1, seed=0, progress=False)
    names = [img["file_name"] for img in json.loads((a / "annotations.json").read_text())["images"]]
    assert names == [
        img["file_name"] for img in json.loads((b / "annotations.json").read_text())["images"]
    ]
    # the first of each colliding group keeps the plain name
    assert names[0] == "images/a_aug0.png" and names[2] == "images/b_aug0.png"
