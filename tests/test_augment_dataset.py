"""augment.writer / augment.cli end to end on tiny on-disk COCO datasets."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from augment import cli
from augment.pipeline import load_pipeline, parse_pipeline
from augment.workers import CHUNK, chunked
from augment.writer import augment_dataset
from render.formats import UserError, coco
from render.formats.validate import validate_dataset
from tests.coco_fixtures import write_coco

ROOT = Path(__file__).resolve().parent.parent
QC = ROOT / "configs" / "augment" / "qc.yaml"


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args([*argv, "--quiet"]))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(
        tmp_path_factory.mktemp("src"), np.random.default_rng(0), n_images=4, height=48, width=64
    )


@pytest.fixture(scope="module")
def augmented(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The qc preset with 1 and 2 workers; the source's digest is checked unchanged."""
    before = tree_digest(source)
    outs = {}
    for workers in (1, 2):
        out = tmp_path_factory.mktemp(f"out{workers}") / "aug"
        augment_dataset(
            source, load_pipeline(QC), out, copies=3, seed=11, workers=workers, progress=False
        )
        outs[workers] = out
    assert tree_digest(source) == before, "the input dataset was modified"
    return outs


def test_output_is_a_valid_complete_dataset(source: Path, augmented: dict[int, Path]) -> None:
    out = augmented[1]
    assert validate_dataset(out) == []
    doc = json.loads((out / "annotations.json").read_text())
    src = json.loads((source / "annotations.json").read_text())
    assert len(doc["images"]) == 3 * len(src["images"])
    assert doc["categories"] == src["categories"]
    for img in doc["images"]:
        assert img["id"] == (img["augment_copy"] + 1) * 10 + img["augmented_from"]
        assert (out / img["file_name"]).is_file()
        assert img["file_name"].startswith("images/") and "_aug" in img["file_name"]
        assert "scene_id" in img
    for a in doc["annotations"]:
        assert a["area"] == coco.area(a["segmentation"]) >= 16
        assert a["bbox"] == coco.bbox(a["segmentation"])
        assert "instance_name" in a
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["seed"] == 11 and meta["copies"] == 3
    assert meta["pipeline"]["compose"]["transform"]["__class_fullname__"] == "Compose"
    assert {"albumentations", "numpy", "pycocotools"} <= set(meta["versions"])
    assert meta["timings"]["augmented_images_per_s"] > 0


def test_byte_identical_whatever_the_worker_count(augmented: dict[int, Path]) -> None:
    one, two = tree_digest(augmented[1]), tree_digest(augmented[2])
    one.pop("dataset.json")
    two.pop("dataset.json")
    assert one == two


@pytest.mark.parametrize(("n", "workers"), [(0, 2), (1, 2), (5, 3), (48, 2), (1000, 4)])
def test_pool_chunks_keep_order_and_shrink_at_the_end(n: int, workers: int) -> None:
    chunks = chunked(list(range(n)), workers)
    assert [t for c in chunks for t in c] == list(range(n))
    sizes = [len(c) for c in chunks]
    assert all(1 <= s <= CHUNK for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    if n >= 2 * workers:  # the last round hands each worker a single image
        assert sizes[-workers:] == [1] * workers


def test_camera_fields_are_dropped_only_where_geometry_changed(
    source: Path, tmp_path: Path
) -> None:
    """camera_K and camera_pose describe the rendered pixels: a copy whose pixels
    moved keeps neither (no pinhole camera makes a mirrored image)."""
    src = json.loads((source / "annotations.json").read_text())
    assert all("camera_K" in img and "camera_pose" in img for img in src["images"])
    photometric = parse_pipeline(["RandomBrightnessContrast", {"GaussNoise": {"p": 1.0}}])
    augment_dataset(source, photometric, tmp_path / "a", copies=1, seed=0, progress=False)
    doc = json.loads((tmp_path / "a" / "annotations.json").read_text())
    assert all("camera_K" in img and "camera_pose" in img for img in doc["images"])
    flips = parse_pipeline([{"HorizontalFlip": {"p": 1.0}}])
    augment_dataset(source, flips, tmp_path / "b", copies=1, seed=0, progress=False)
    doc = json.loads((tmp_path / "b" / "annotations.json").read_text())
    assert not any("camera_K" in img or "camera_pose" in img for img in doc["images"])


@pytest.mark.parametrize("seg", ["polygon", "uncompressed", "none"])
def test_other_segmentation_forms(seg: str, tmp_path: Path) -> None:
    src = write_coco(tmp_path / "src", np.random.default_rng(3), n_images=2, seg=seg)  # type: ignore[arg-type]
    out = tmp_path / "out"
    spec = parse_pipeline([{"Affine": {"rotate": [-20, 20], "p": 1.0}}, "HorizontalFlip"])
    augment_dataset(src, spec, out, copies=2, seed=1, progress=False)
    doc = json.loads((out / "annotations.json").read_text())
    assert doc["annotations"]
    if seg == "none":
        assert all("segmentation" not in a for a in doc["annotations"])
        assert all(
            a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3], abs=1e-2)
            for a in doc["annotations"]
        )
    else:
        assert all(isinstance(a["segmentation"]["counts"], str) for a in doc["annotations"])
        for a in doc["annotations"]:
            assert a["bbox"] == coco.bbox(a["segmentation"])
            assert a["area"] == coco.area(a["segmentation"])
        # polygons traced around disjoint masks rasterize a little larger, so they may
        # overlap in the source already; augmenting must not add any other problem
        problems = validate_dataset(out)
        assert all("overlap" in p for p in problems), problems
        if not validate_dataset(src):
            assert problems == []


def test_keep_originals_and_third_party_layout(tmp_path: Path) -> None:
    """A COCO file whose file_name has no images/ prefix, big ids, JPEG images."""
    src = write_coco(
        tmp_path / "coco", np.random.default_rng(5), n_images=2, ext=".jpg", first_id=397133
    )
    doc = json.loads((src / "annotations.json").read_text())
    (src / "depth").mkdir()
    for img in doc["images"]:
        img["file_name"] = img["file_name"].removeprefix("images/")
        img["depth_file"] = f"depth/{img['id']}.png"
        (src / img["depth_file"]).write_bytes(b"depth")
    (src / "annotations.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert (
        run_cli(
            [
                str(src),
                "--pipeline",
                str(QC),
                "--out",
                str(out),
                "--copies",
                "2",
                "--keep-originals",
            ]
        )
        == 0
    )
    res = json.loads((out / "annotations.json").read_text())
    ids = [img["id"] for img in res["images"]]
    assert ids == [397133, 1397133, 2397133, 397134, 1397134, 2397134]
    assert res["images"][0]["file_name"] == "images/397133.jpg"
    assert res["images"][1]["file_name"] == "images/397133_aug0.jpg"
    assert (out / "images" / "397133.jpg").read_bytes() == (
        src / "images" / "397133.jpg"
    ).read_bytes()
    assert (out / "depth" / "397133.png").read_bytes() == b"depth"
    assert res["images"][0]["depth_file"] == "depth/397133.png"
    assert res["images"][1]["depth_file"] is None
    assert validate_dataset(out) == []


def write_broken(root: Path, what: str) -> Path:
    write_coco(root, np.random.default_rng(1), n_images=1)
    ann = root / "annotations.json"
    if what == "no-annotations":
        ann.unlink()
    elif what == "broken-json":
        ann.write_text(ann.read_text()[:-5])
    elif what == "missing-image":
        next((root / "images").iterdir()).unlink()
    elif what == "bad-image-ref":
        doc = json.loads(ann.read_text())
        doc["annotations"][0]["image_id"] = 99
        ann.write_text(json.dumps(doc))
    elif what in ("rle-size", "rle-no-size"):
        doc = json.loads(ann.read_text())
        seg = doc["annotations"][0]["segmentation"]
        if what == "rle-size":
            seg["size"] = [seg["size"][0] + 1, seg["size"][1]]
        else:
            del seg["size"]
        ann.write_text(json.dumps(doc))
    return root


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("no-annotations", "annotations.json: annotations file not found"),
        ("broken-json", "annotations.json: invalid JSON at line 1"),
        ("missing-image", "000001.png: image file not found ("),
        ("bad-image-ref", "annotations[0].image_id: no image with id 99"),
        (
            "rle-size",
            "annotations.json: annotations[0] (id 1).segmentation: RLE size [49, 64] != image"
            " [height, width] [48, 64]",
        ),
        (
            "rle-no-size",
            "annotations.json: annotations[0] (id 1).segmentation: RLE size must be"
            " [height, width], got None",
        ),
    ],
)
def test_bad_input_is_one_line_user_error(
    what: str, expected: str, tmp_path: Path, capsys: Any
) -> None:
    src = write_broken(tmp_path / "src", what)
    rc = run_cli([str(src), "--pipeline", str(QC), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and err.count("\n") == 1, err


def test_output_directory_rules(source: Path, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert run_cli([str(source), "--pipeline", str(QC), "--out", str(out)]) == 2
    assert "directory is not empty (pass --overwrite" in capsys.readouterr().err
    assert run_cli([str(source), "--pipeline", str(QC), "--out", str(out), "--overwrite"]) == 2
    assert (
        "not an augment output (it holds no .synthcv.json: synthcv did not write it); refusing to delete it"
        in capsys.readouterr().err
    )
    assert (out / "keep.txt").exists()
    assert run_cli([str(source), "--pipeline", str(QC), "--out", str(source / "aug")]) == 2
    assert "must not be, contain or lie inside the input" in capsys.readouterr().err
    good = tmp_path / "good"
    assert run_cli([str(source), "--pipeline", str(QC), "--out", str(good)]) == 0
    assert (
        run_cli(
            [str(source), "--pipeline", str(QC), "--out", str(good), "--overwrite", "--seed", "2"]
        )
        == 0
    )
    assert (
        run_cli([str(source), "--pipeline", str(tmp_path / "nope.yaml"), "--out", str(good)]) == 2
    )
    assert "nope.yaml: pipeline file not found" in capsys.readouterr().err


def test_unknown_transform_fails_before_touching_out(
    source: Path, tmp_path: Path, capsys: Any
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- HorizontalFlip: {p: 0.5}\n- MotionBlurr: {}\n")
    rc = run_cli([str(source), "--pipeline", str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(
        f"synthcv: error: {bad}: transforms[1]: unknown transform 'MotionBlurr'; did you mean MotionBlur"
    )
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_cli_overrides_min_area(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        run_cli([str(source), "--pipeline", str(QC), "--out", str(out), "--min-area", "400"]) == 0
    )
    doc = json.loads((out / "annotations.json").read_text())
    assert all(a["area"] >= 400 for a in doc["annotations"])
    assert json.loads((out / "dataset.json").read_text())["pipeline"]["min_area"] == 400


def test_python_dash_m_augment(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "augment",
        str(source),
        "--pipeline",
        str(QC),
        "--out",
        str(out),
        "--workers",
        "2",
    ]
    res = subprocess.run([*cmd, "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert validate_dataset(out) == []


def test_online_dataset_uses_the_same_implementation(
    source: Path, augmented: dict[int, Path]
) -> None:
    """Item i of epoch e == copy e of image i written by the command (qc, seed 11)."""
    import cv2

    from augment.pipeline import build_pipeline
    from augment.torch_dataset import AugmentedCoco

    ds = AugmentedCoco(source, build_pipeline(load_pipeline(QC)), seed=11)
    out = augmented[1]
    doc = json.loads((out / "annotations.json").read_text())
    for epoch in (0, 2):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds.sample(i)
            src_id = ds.images[i]["id"]
            (entry,) = [
                e
                for e in doc["images"]
                if e["augmented_from"] == src_id and e["augment_copy"] == epoch
            ]
            written = cv2.cvtColor(cv2.imread(str(out / entry["file_name"])), cv2.COLOR_BGR2RGB)
            assert np.array_equal(s.image, written)  # PNG level 0 is lossless
            mine = [
                {k: v for k, v in a.items() if k not in ("id", "image_id")} for a in s.annotations
            ]
            theirs = [
                {k: v for k, v in a.items() if k not in ("id", "image_id")}
                for a in doc["annotations"]
                if a["image_id"] == entry["id"]
            ]
            assert mine == theirs
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(ImportError, match="needs torch"):
            ds[0]
    else:
        image, target = ds[0]
        assert tuple(image.shape[1:]) == ds.sample(0).image.shape[:2]
        assert target["boxes"].shape[1] == 4


def test_synthcv_augment_subcommand(source: Path, tmp_path: Path, capsys: Any) -> None:
    from render.cli import main

    out = tmp_path / "out"
    argv = ["augment", str(source), "--pipeline", str(QC), "--out", str(out), "--copies", "2"]
    assert main([*argv, "--no-progress"]) == 0
    assert validate_dataset(out) == []
    assert main([*argv, "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("synthcv: error: --out ")


def test_torch_dataset_split_matches_the_export_split(source: Path) -> None:
    """``split=`` keeps whole scenes, the same ones ``synthcv export --split`` puts there."""
    from augment.pipeline import build_pipeline
    from augment.torch_dataset import AugmentedCoco
    from render.formats.splits import split_images

    pipe = build_pipeline(load_pipeline(QC))
    fractions = {"train": 0.5, "val": 0.5}
    parts = {
        name: AugmentedCoco(source, pipe, seed=0, split=name, fractions=fractions, split_seed=4)
        for name in fractions
    }
    everything = AugmentedCoco(source, pipe, seed=0).images
    want = split_images(everything, fractions, 4)
    for name, ds in parts.items():
        assert [i["id"] for i in ds.images] == [
            i["id"] for i in everything if want[i["id"]] == name
        ]
    scenes = [{i["scene_id"] for i in ds.images} for ds in parts.values()]
    assert not scenes[0] & scenes[1]
    assert sum(len(ds) for ds in parts.values()) == len(everything)
    with pytest.raises(UserError, match="split 'test'"):
        AugmentedCoco(source, pipe, seed=0, split="test", fractions=fractions)


@pytest.mark.parametrize(
    "preset", sorted((ROOT / "configs" / "augment").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_preset_pipeline_writes_a_valid_dataset(
    preset: Path, source: Path, tmp_path: Path
) -> None:
    """Each shipped pipeline (qc, street, domain) loads, runs on masks, boxes and
    keypoints, and its output passes validate."""
    from render.cli import main

    out = tmp_path / preset.stem
    argv = ["augment", str(source), "--pipeline", str(preset), "--out", str(out), "--copies", "2"]
    assert main([*argv, "--no-progress"]) == 0
    assert validate_dataset(out) == []
    src = json.loads((source / "annotations.json").read_text())
    assert len(json.loads((out / "annotations.json").read_text())["images"]) == 2 * len(
        src["images"]
    )
