"""synthcv train / evaluate on tiny datasets (64x64) on the CPU: a detector overfits
4 images, a resumed run continues the same steps, --init fine-tunes onto another
class list, COCOeval of the ground truth as detections is 1.0, and nothing is
downloaded."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from render.cli import main
from render.errors import ConfigError
from render.formats import coco
from render.training.recipe import check_resume, load_recipe, recipe_difference, validate_recipe
from tests.coco_fixtures import write_coco

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = {
    "min_size": 64, "max_size": 64, "anchor_sizes": [8, 16, 32, 64, 128],
    "rpn_batch_size_per_image": 64, "box_batch_size_per_image": 16, "box_head_dim": 128,
    "rpn_post_nms_top_n_train": 64, "rpn_post_nms_top_n_test": 64,
    "mask_head_dim": 16, "keypoint_head_dim": 16, "keypoint_head_layers": 2,
}  # fmt: skip
"""Small heads and few proposals: a step takes ~0.2 s on 2 CPU cores."""


def recipe(root: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "data": {"train": str(root), "split": None, "workers": 0},
        "model": dict(TINY_MODEL),
        "train": {"batch_size": 4, "lr": 0.05, "warmup_steps": 3, "log_every": 1},
    }
    for key, value in sections.items():
        out[key] = {**out[key], **value}
    return out


def write_recipe(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def train_rows(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == "train"]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """One torch thread: the models are tiny, and a second thread spinning on a
    shared 2-core machine slows a step down many times over."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 images, 64x64: plates, washers and a person with 17 keypoints each."""
    return write_coco(
        tmp_path_factory.mktemp("tiny") / "ds", np.random.default_rng(0), n_images=4,
        height=64, width=64,
    )  # fmt: skip


@pytest.fixture(scope="module")
def overfit(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Faster R-CNN from scratch on the 4 images, 60 steps, a kept checkpoint at 50."""
    out = tmp_path_factory.mktemp("run") / "run"
    r = recipe(tiny, train={"epochs": 60, "checkpoint_every": 50, "keep_checkpoints": True})
    path = write_recipe(out.parent / "r.yaml", r)
    assert main(["train", str(path), "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    return out


def test_overfits_four_images(overfit: Path) -> None:
    """Loss falls by at least half within 60 steps."""
    losses = [r["loss"] for r in train_rows(overfit)]
    assert len(losses) == 60
    assert np.mean(losses[-5:]) <= 0.5 * losses[0], (losses[0], losses[-5:])
    summary = json.loads((overfit / "train.json").read_text())
    assert summary["steps"] == 60 and summary["device"] == "cpu"
    assert summary["this_session"]["images"] == 240
    assert {"data_s_median", "model_s_median", "images_per_s"} <= set(summary["this_session"])


def test_resume_may_lower_the_learning_rate(overfit: Path, tmp_path: Path) -> None:
    """After a diverged loss synthcv says: lower train.lr, then --resume. That resume
    is accepted, and the change is logged in metrics.jsonl."""
    out = tmp_path / "resumed"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copy(overfit / "checkpoints" / "step_0000050.pt", out / "checkpoints" / "last.pt")
    argv = ["train", str(overfit.parent / "r.yaml"), "--out", str(out), "--device", "cpu",
            "--no-progress", "--resume"]  # fmt: skip
    assert main([*argv, "--set", "train.lr=0.01", "--set", "train.warmup_steps=0"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0] == {"type": "resume", "step": 50, "changed": {
        "train.lr": [0.05, 0.01], "train.warmup_steps": [3, 0]}}  # fmt: skip
    assert max(r["lr"] for r in rows if r["type"] == "train") <= 0.01
    assert main([*argv, "--set", "train.momentum=0.5"]) == 2  # other keys still must match


def test_resume_continues_the_same_steps(overfit: Path, tmp_path: Path) -> None:
    """A run resumed from its step-50 checkpoint ends at step 60 with the same
    losses as the uninterrupted run (same data order, augmentation, random state)."""
    out = tmp_path / "resumed"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copy(overfit / "checkpoints" / "step_0000050.pt", out / "checkpoints" / "last.pt")
    recipe_path = overfit.parent / "r.yaml"
    argv = ["train", str(recipe_path), "--out", str(out), "--device", "cpu", "--no-progress"]
    assert main([*argv, "--resume"]) == 0
    resumed = train_rows(out)
    assert [r["step"] for r in resumed] == list(range(51, 61))
    full = {r["step"]: r for r in train_rows(overfit)}
    for r in resumed:
        assert r["loss"] == pytest.approx(full[r["step"]]["loss"], rel=1e-4), r["step"]
    assert json.loads((out / "train.json").read_text())["steps"] == 60


def test_an_experiment_stopped_before_its_first_checkpoint_starts_again(
    overfit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/bench_learn.py's ``run_train`` (every long experiment's training):
    a run stopped before its first checkpoint left a claimed, non-empty OUT with
    nothing to --resume; it starts again and trains all its steps. A non-empty
    folder synthcv did not write is still refused, and its file is kept."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import bench_learn

    stopped = tmp_path / "stopped"
    stopped.mkdir()
    for name in (".synthcv.json", "recipe.yaml"):
        shutil.copy(overfit / name, stopped / name)
    rows = (overfit / "metrics.jsonl").read_text().splitlines()
    (stopped / "metrics.jsonl").write_text("\n".join(rows[:7]) + "\n")  # 7 steps, then killed
    assert not (stopped / "checkpoints").exists()
    record = bench_learn.run_train(overfit.parent / "r.yaml", stopped, ["train.epochs=3"], None)
    assert record["steps"] == 3
    assert [r["step"] for r in train_rows(stopped)] == [1, 2, 3]  # not the stopped run's 7

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="synthcv did not write it"):
        bench_learn.run_train(overfit.parent / "r.yaml", foreign, ["train.epochs=3"], None)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_train_refuses_what_it_should(overfit: Path, tmp_path: Path, capsys: Any) -> None:
    recipe_path = str(overfit.parent / "r.yaml")
    cases = [
        (["--out", str(overfit)], "not empty; use --resume"),
        (["--out", str(tmp_path / "new"), "--resume"], "no checkpoint at"),
        (["--out", str(tmp_path / "x"), "--set", "model.archh=mask_rcnn"], "did you mean: arch"),
        (["--out", str(tmp_path / "x"), "--set", "train.epochs=0"], "train.epochs: must be >= 1"),
        (["--out", str(tmp_path / "x"), "--init", str(tmp_path / "no.pt")], "checkpoint not found"),
    ]
    for args, needle in cases:
        assert main(["train", recipe_path, *args, "--device", "cpu", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("synthcv: error: ") and needle in err and len(err.splitlines()) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    argv = ["train", recipe_path, "--out", str(tmp_path / "other"), "--overwrite"]
    assert main(argv) == 2 and "holds no training run" in capsys.readouterr().err
    bad = overfit.parent / "changed.yaml"
    before = load_recipe(recipe_path).model_dump()
    write_recipe(bad, {**before, "train": {**before["train"], "epochs": 61}})
    argv = ["train", str(bad), "--out", str(overfit), "--resume", "--no-progress"]
    assert main(argv) == 2  # the run's recipe.yaml is compared first, before any data is read
    err = capsys.readouterr().err
    assert (
        f"the recipe differs from the run's {overfit / 'recipe.yaml'} (train.epochs: 60 -> 61)"
        in err
    )
    assert "give the same --set overrides" in err and len(err.splitlines()) == 1
    # a resume that forgot the first session's data override: the recipe, not the data
    argv = ["train", recipe_path, "--out", str(overfit), "--resume", "--no-progress",
            "--set", f"data.train={tmp_path / 'nowhere'}"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "differs from the run's" in err and "data.train" in err and "not found" not in err
    # without the run's recipe.yaml the checkpoint's recipe is the reference
    bare = tmp_path / "bare"
    (bare / "checkpoints").mkdir(parents=True)
    shutil.copy(overfit / "checkpoints" / "last.pt", bare / "checkpoints" / "last.pt")
    argv = ["train", str(bad), "--out", str(bare), "--resume", "--no-progress"]
    assert main(argv) == 2
    assert "the recipe differs from the checkpoint's (train.epochs: 60 -> 61)" in capsys.readouterr().err  # fmt: skip


def test_a_run_from_before_a_new_recipe_key_resumes(overfit: Path, tmp_path: Path) -> None:
    """A run whose recipe.yaml predates a key (``model.fine_stride``, added later
    with the old behaviour as its default) is the same recipe: --resume goes on;
    a real change of that key is still refused, by name."""
    run = tmp_path / "old"
    run.mkdir()
    now = load_recipe(overfit / "recipe.yaml")
    before = now.model_dump(mode="json")
    del before["model"]["fine_stride"]
    write_recipe(run / "recipe.yaml", before)
    check_resume(now, run)  # no error
    assert recipe_difference(before, now.model_dump(mode="json")) is None
    finer = validate_recipe({**before, "model": {**before["model"], "fine_stride": 8}})
    with pytest.raises(ConfigError, match=r"model\.fine_stride: 32 -> 8"):
        check_resume(finer, run)


def test_init_fine_tunes_onto_another_class_list_and_evaluates(
    overfit: Path, tmp_path: Path, capsys: Any
) -> None:
    """A Mask R-CNN on the person class only, started from the 3-class Faster R-CNN:
    backbone, RPN and box head are loaded, the class-specific layers start fresh;
    evaluate prints bbox and segm tables and writes COCO results."""
    tiny = Path(load_recipe(overfit.parent / "r.yaml").data.train)
    r = recipe(tiny, model={"arch": "mask_rcnn"}, data={"categories": ["person"]},
               train={"epochs": 2})  # fmt: skip
    path = write_recipe(tmp_path / "ft.yaml", r)
    out = tmp_path / "ft"
    argv = ["train", str(path), "--out", str(out), "--init", str(overfit / "model.pt")]
    assert main([*argv, "--device", "cpu", "--no-progress"]) == 0
    init = json.loads((out / "train.json").read_text())["init"]
    assert init["from_categories"] == ["plate", "washer", "person"] and init["loaded"] > 100
    fresh = set(init["fresh"])
    assert "roi_heads.box_predictor.cls_score.weight" in fresh
    assert any(k.startswith("roi_heads.mask_") for k in fresh)
    assert not any(k.startswith(("backbone.", "rpn.")) for k in fresh)
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.pt"), str(tiny), "--workers", "0",
                 "--no-progress", "--out", str(tmp_path / "ev")]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "bbox:" in printed and "segm:" in printed and "Average Precision" in printed
    assert "not evaluated (the model has no such category): plate, washer" in printed
    dets = json.loads((tmp_path / "ev" / "detections.json").read_text())
    assert all(d["category_id"] == 3 and "segmentation" in d for d in dets)
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(metrics["metrics"]) == {"bbox", "segm"}
    assert list(metrics["metrics"]["bbox"]["per_class"]) == ["person"]


def test_evaluate_at_another_image_size(overfit: Path, tmp_path: Path) -> None:
    """--image-size replaces the recipe's test size: at the recipe's own 64 px the
    detections are the default run's, at 128 px they differ but stay in the
    dataset's 64x64 pixels; metrics.json says which size was used."""
    tiny = Path(load_recipe(overfit.parent / "r.yaml").data.train)
    runs: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}
    for name, extra in [("default", []), ("64", ["--image-size", "64"]),
                        ("128", ["--image-size", "128"])]:  # fmt: skip
        out = tmp_path / name
        argv = ["evaluate", str(overfit / "model.pt"), str(tiny), "--out", str(out)]
        assert main([*argv, "--workers", "0", "--device", "cpu", "--no-progress", *extra]) == 0
        runs[name] = (
            json.loads((out / "detections.json").read_text()),
            json.loads((out / "metrics.json").read_text()),
        )
    assert runs["default"][1]["image_size"] == {"min_size": 64, "max_size": 64}
    assert runs["128"][1]["image_size"] == {"min_size": 128, "max_size": 128}
    assert runs["64"][0] == runs["default"][0] and runs["default"][0]
    big = runs["128"][0]
    assert big and big != runs["default"][0]
    for d in big:
        x, y, w, h = d["bbox"]
        assert x >= 0 and y >= 0 and x + w <= 64 + 1e-3 and y + h <= 64 + 1e-3, d["bbox"]


def test_native_resolution_crops_and_windows(tiny: Path, tmp_path: Path) -> None:
    """data.crops trains on 32 px crops of the 64 px images (16 items an epoch: 2
    positives per image, and as many negatives for ``negatives: 0.5``), and evaluate
    --native scores the whole images in 32 px windows; the detections stay in the
    images and metrics.json records the window side."""
    r = recipe(tiny, model={"min_size": 32, "max_size": 32},
               data={"crops": {"size": 32, "per_image": 2, "negatives": 0.5}},
               train={"epochs": 1, "batch_size": 2})  # fmt: skip
    out = tmp_path / "crops"
    argv = ["train", str(write_recipe(tmp_path / "c.yaml", r)), "--out", str(out)]
    assert main([*argv, "--device", "cpu", "--no-progress"]) == 0
    summary = json.loads((out / "train.json").read_text())
    assert summary["train_images"] == 16 and summary["steps"] == 8
    ev = tmp_path / "ev"
    argv = ["evaluate", str(out / "model.pt"), str(tiny), "--out", str(ev), "--native"]
    assert main([*argv, "--workers", "0", "--device", "cpu", "--no-progress"]) == 0
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["native_window"] == 32 and metrics["images"] == 4
    for d in json.loads((ev / "detections.json").read_text()):
        x, y, w, h = d["bbox"]
        assert x >= 0 and y >= 0 and x + w <= 64 + 1e-3 and y + h <= 64 + 1e-3


def test_keypoint_rcnn_trains_and_evaluates(tiny: Path, tmp_path: Path, capsys: Any) -> None:
    r = recipe(tiny, model={"arch": "keypoint_rcnn"}, train={"epochs": 2})
    out = tmp_path / "kp"
    argv = ["train", str(write_recipe(tmp_path / "kp.yaml", r)), "--out", str(out)]
    assert main([*argv, "--device", "cpu", "--no-progress"]) == 0
    assert json.loads((out / "train.json").read_text())["categories"] == ["person"]
    capsys.readouterr()
    argv = ["evaluate", str(out / "model.pt"), str(tiny), "--workers", "0", "--json"]
    assert main([*argv, "--no-progress"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics["metrics"]) == {"bbox", "keypoints"}


def ground_truth_results(root: Path) -> list[dict[str, Any]]:
    doc = json.loads((root / "annotations.json").read_text())
    keys = ("image_id", "category_id", "bbox", "segmentation", "keypoints")
    return [{**{k: a[k] for k in keys if k in a}, "score": 1.0} for a in doc["annotations"]]


def test_ground_truth_as_detections_scores_one(tiny: Path, tmp_path: Path, capsys: Any) -> None:
    doc = json.loads((tiny / "annotations.json").read_text())
    dets = ground_truth_results(tiny)
    for kind in ("bbox", "segm", "keypoints"):
        res = coco.evaluate(doc, dets, kind)
        assert res.stats["AP"] == pytest.approx(1.0), (kind, res.stats)
        assert res.stats["AP50"] == pytest.approx(1.0)
        assert all(v["AP"] == pytest.approx(1.0) for v in res.per_class.values() if v["n_gt"])
        assert "Average Precision" in res.summary
    assert set(coco.evaluate(doc, dets, "keypoints").per_class) == {3}
    # the CLI scores a results file too, and writes it back with the metrics
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(dets))
    assert main(["evaluate", str(path), str(tiny), "--out", str(tmp_path / "ev")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all") == 3
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())["metrics"]
    for kind in ("bbox", "segm", "keypoints"):
        assert metrics[kind]["stats"]["AP"] == pytest.approx(1.0)
    assert coco.evaluate(doc, [], "bbox").stats["AP"] == 0.0  # no detections: AP 0


def test_evaluate_errors_are_one_line(tiny: Path, tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 1}]))
    notckpt = tmp_path / "x.pt"
    notckpt.write_bytes(b"garbage")
    for args, needle in [
        ([str(tmp_path / "none.pt"), str(tiny)], "checkpoint not found"),
        ([str(notckpt), str(tiny)], "not a readable checkpoint"),
        ([str(bad), str(tiny)], "[0]: expected image_id, category_id, score and bbox"),
        ([str(bad), str(tmp_path / "nods")], "dataset directory not found"),
        ([str(bad), str(tiny), "--fractions", "train=1"], "--fractions: give --split too"),
        ([str(bad), str(tiny), "--image-size", "64"], "--image-size: a results file is only"),
        ([str(notckpt), str(tiny), "--image-size", "16"], "--image-size 16: must be 32-4096"),
    ]:
        assert main(["evaluate", *args, "--no-progress"]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("synthcv: error: ") and needle in err, err
        assert len(err.splitlines()) == 1 and "Traceback" not in err
    # as a program too: exit code 2, one line on stderr, no traceback
    proc = subprocess.run(
        [sys.executable, "-m", "render.cli", "evaluate", str(notckpt), str(tiny)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("synthcv: error: "), proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "not a readable checkpoint" in proc.stderr


def test_trains_on_several_directories(tiny: Path, tmp_path: Path) -> None:
    """data.train lists two COCO directories: one dataset of both, labelled by the
    first's category names (the second lists its categories in another order, with
    other ids), each image once per epoch; a list needs a named val directory."""
    from render.training.data import build_datasets

    other = tmp_path / "other"
    shutil.copytree(tiny, other)
    doc = json.loads((other / "annotations.json").read_text())
    remap = {int(c["id"]): 100 + k for k, c in enumerate(reversed(doc["categories"]))}
    for c in doc["categories"]:
        c["id"] = remap[int(c["id"])]
    doc["categories"].reverse()
    for a in doc["annotations"]:
        a["category_id"] = remap[int(a["category_id"])]
    (other / "annotations.json").write_text(json.dumps(doc))
    r = validate_recipe(recipe(tiny, data={"train": [str(tiny), str(other)]}), "r.yaml")
    train, val = build_datasets(r)
    first = build_datasets(validate_recipe(recipe(tiny), "r.yaml"))[0]
    assert len(train) == 2 * len(first) and val is None
    assert [c["name"] for c in train.categories] == [c["name"] for c in first.categories]
    for i in range(len(first)):  # the copy's labels map back onto the same names
        a, b = first[i][1], train[len(first) + i][1]
        assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["boxes"], b["boxes"])
    with pytest.raises(ConfigError, match="r.yaml: data: train lists several directories"):
        validate_recipe(
            recipe(
                tiny, data={"train": [str(tiny), str(other)], "split": {"train": 0.5, "val": 0.5}}
            ),
            "r.yaml",
        )


def test_recipe_errors_name_the_key(tiny: Path) -> None:
    base = recipe(tiny)
    for change, needle in [
        ({"model": {**base["model"], "arch": "yolo"}}, "model.arch: Input should be"),
        (
            {"data": {**base["data"], "split": {"train": 0.5}}},
            "data.split: fractions must sum to 1",
        ),
        ({"data": {**base["data"], "split": {"tr": 1.0}}}, "data.split: 'tr' is not one of"),
        ({"model": {**base["model"], "max_size": 32}}, "model.max_size: must be >= min_size"),
        ({"train": {"optimiser": "sgd"}}, "train.optimiser: unknown key (did you mean: optimizer)"),
    ]:
        with pytest.raises(ConfigError) as err:
            validate_recipe({**base, **change}, "r.yaml")
        assert str(err.value).startswith("r.yaml: ") and needle in str(err.value), str(err.value)


def test_cli_imports_torch_only_when_training() -> None:
    """``synthcv --help`` and the recipe module stay free of torch (a core install
    without the [torch] extra keeps working)."""
    code = (
        "import sys, render.cli, render.training, render.training.recipe\n"
        "bad = [m for m in ('torch', 'torchvision') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "recipe", sorted((ROOT / "configs" / "train").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_shipped_recipe_loads(recipe: Path) -> None:
    """Each recipe in configs/train is valid, and its augmentation pipeline exists."""
    r = load_recipe(recipe)
    if r.augment.pipeline is not None:
        assert (ROOT / r.augment.pipeline).is_file()
