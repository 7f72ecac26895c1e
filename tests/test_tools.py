"""synthcv doctor and synthcv preview, run as users run them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from render import doctor
from render.cli import main
from render.preview import SOFTWARE
from tests.cli_run import synthcv

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "configs" / "demo.yaml")
FAKE = ("--renderer", "tests.fake_renderer")


def test_doctor_on_this_machine(tmp_path: Path) -> None:
    proc = synthcv("doctor", "--out", str(tmp_path / "not" / "yet"), timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    names = {line[6:].split()[0] for line in lines if line[:4] in ("ok  ", "WARN", "FAIL")}
    assert {"python", "machine", "blender", "cycles", "opencv", "torch", "disk"} <= names
    assert any("bpy 4.2." in x and "blenderproc 2.8.0" in x for x in lines)
    assert any("--device auto picks" in x for x in lines)
    assert any(f"free at {tmp_path.resolve()}" in x for x in lines)  # nearest existing folder
    assert lines[-1].startswith("ready to render")
    as_json = json.loads(synthcv("doctor", "--json", timeout=400).stdout)
    assert {f["status"] for f in as_json} <= {"ok", "warn", "fail"}
    assert any(f["name"] == "opencv exr" and f["status"] == "ok" for f in as_json)


def test_doctor_names_a_broken_blender_with_its_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(
        args: list[str], timeout: float, env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        if args[:2] == ["-m", "render.blender.probe"]:
            return 1, "", "Traceback ...\nModuleNotFoundError: No module named 'bpy'"
        return 0, "False\n", ""

    monkeypatch.setattr(doctor, "_run_python", broken)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  blender" in out and "No module named 'bpy'" in out
    assert "fix: make setup" in out
    assert "1 problem(s) stop rendering on this machine" in out


def _sheet(path: Path) -> Image.Image:
    img = Image.open(path)
    assert img.info.get("Software") == SOFTWARE
    return img


def test_preview_with_the_fake_renderer(tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    keep = tmp_path / "ds"
    proc = synthcv("preview", DEMO, "--out", str(out), "--keep", str(keep), "--no-progress",
                   *FAKE)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"preview: wrote {out} (4 images at ")
    doc = json.loads((keep / "annotations.json").read_text())
    assert len(doc["images"]) == 4 and doc["annotations"]
    w, h = doc["images"][0]["width"], doc["images"][0]["height"]
    assert max(w, h) <= 320
    meta = json.loads((keep / "dataset.json").read_text())
    assert meta["config"]["render"]["samples"] == 4
    img = _sheet(out)
    assert img.width == 2 * max(w, min(480, 2 * w))  # 2 x 2 tiles
    # foreign files are never replaced; our own preview is
    foreign = tmp_path / "mine.png"
    Image.new("RGB", (4, 4)).save(foreign)
    before = foreign.read_bytes()
    proc = synthcv("preview", DEMO, "--out", str(foreign), "-n", "1", *FAKE)
    assert proc.returncode == 2 and "not a synthcv preview" in proc.stderr
    assert foreign.read_bytes() == before
    proc = synthcv("preview", DEMO, "--out", str(out), "-n", "1", "--seed", "9", *FAKE)
    assert proc.returncode == 0 and _sheet(out).width < img.width


def test_preview_renders_with_blender(tmp_path: Path) -> None:
    out = tmp_path / "demo_preview.png"
    proc = synthcv("preview", DEMO, "--out", str(out), "-n", "2", "--max-side", "64",
                   "--samples", "2", "--no-progress", timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    pixels = np.asarray(_sheet(out).convert("RGB"))
    assert pixels.shape[1] == 2 * 128 and pixels.std() > 10


def test_closeup_sheet_takes_rows_from_several_datasets(tmp_path: Path) -> None:
    """scripts/closeup_sheet.py DIR DIR2: a row the first dataset has no instance of
    is filled from the second (labelled #b...), the others from the first."""
    import subprocess
    import sys

    from tests.coco_fixtures import write_coco

    rng = np.random.default_rng(3)
    a = write_coco(tmp_path / "a", rng, n_images=2, person=False)
    b = write_coco(tmp_path / "b", rng, n_images=2, person=True)
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "sheet.png"
    cmd = [sys.executable, str(root / "scripts" / "closeup_sheet.py"), str(a), str(b)]
    cmd += ["--out", str(out), "--rows", "plate,person", "--per-row", "1", "--zoom", "2"]
    subprocess.run(cmd, check=True, capture_output=True)
    sheet = np.asarray(Image.open(out).convert("L"))
    tile, label = 48 * 2, 14
    rows = [sheet[r * (tile + label + 6) : r * (tile + label + 6) + tile, 120:] for r in (0, 1)]
    assert all((row > 24).mean() > 0.2 for row in rows)  # both rows hold a crop
    only_a = tmp_path / "only_a.png"
    cmd[cmd.index(str(out))] = str(only_a)
    cmd.remove(str(b))
    subprocess.run(cmd, check=True, capture_output=True)
    person_row = np.asarray(Image.open(only_a).convert("L"))[tile + label + 6 :, 120:]
    assert (person_row > 24).mean() < 0.01  # without the second dataset: empty


def test_gpu_check_refuses_without_a_gpu(tmp_path: Path) -> None:
    """make gpu-check on a machine without an NVIDIA GPU: one line, exit 2, no JSON."""
    from render.machine import nvidia_gpus

    if shutil.which("nvidia-smi") or nvidia_gpus():
        pytest.skip("this machine has an NVIDIA GPU: make gpu-check runs for real")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--out", str(tmp_path / "g.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("gpu-check: no NVIDIA GPU on this machine")
    assert not (tmp_path / "g.json").exists()


def test_learn_defects_arms_are_valid_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/learn_defects.py runs for hours across sessions: every set of every arm
    must load as a config before the first render, and each arm must change what it
    says (the camera's px per defect, the defect mix, the nuisances)."""
    from render.config import load_config

    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import learn_defects as ld

    base = {n: load_config(ld.CONFIG, [*ld.COMMON, *sets]) for n, (_, _, sets) in ld.SETS.items()}
    assert base["train"].scene.camera.optics.px_per_defect == 3
    assert base["shift"].scene.lighting.presets != base["train"].scene.lighting.presets
    assert base["train2"].scene.defects_per_product == (2, 4)
    sq = base["shift_check"].scene  # squares under the shift: the shift's ranges, dense
    assert sq.lighting.presets == base["shift"].scene.lighting.presets
    assert sq.defects_per_product == (2, 4) and ld.SETS["shift_check"][0] not in {
        seed for name, (seed, _, _) in ld.SETS.items() if name != "shift_check"
    }
    for px in ld.OPTICS_PX:
        cfg = load_config(
            ld.CONFIG, [*ld.COMMON, *ld.TRAIN, f"scene.camera.optics.px_per_defect={px}"]
        )
        assert cfg.scene.camera.optics.px_per_defect == px
    tail = load_config(ld.CONFIG, [*ld.COMMON, *ld.TRAIN, *ld.frequencies(ld.LONG_TAIL)])
    assert min(ld.LONG_TAIL, key=ld.LONG_TAIL.__getitem__) == "chip"  # the rarest, scored
    assert {k: d.frequency for k, d in tail.scene.defects.items()} == ld.LONG_TAIL
    off = [f"scene.nuisances.{k}.probability=0" for k in ld.NUISANCES]
    quiet = load_config(ld.CONFIG, [*ld.COMMON, *ld.TRAIN, *off])
    assert set(quiet.scene.nuisances) == set(ld.NUISANCES)
    assert all(n.probability == 0 for n in quiet.scene.nuisances.values())
    focused = load_config(ld.CONFIG, [*ld.COMMON, *ld.TRAIN, "scene.camera.tiles.focus=defects",
                                      "scene.camera.tiles.product_squares=2"])  # fmt: skip
    assert focused.scene.camera.tiles.focus == "defects" and ld.TRAINING == ("train", "train2")
    assert focused.scene.camera.tiles.product_squares == 2
    assert ld.recipe_model() == ["model.norm=group", "model.fine_stride=8"]


def test_learn_defects_keeps_an_outs_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OUT started before --product-squares and before the recipe set GroupNorm and
    stride 8 keeps what it was rendered and trained with: another squares count is
    refused before anything runs, and its runs get BatchNorm and stride 32 back."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import learn_defects as ld

    out = tmp_path / "old"
    out.mkdir()
    old = {"scale": 1.0, "train_set": [], "focus": "defects", "train_scale": 4.0}
    (out / "state.json").write_text(json.dumps({"setup": old}))
    argv = ["--out", str(out), "--focus", "defects", "--train-scale", "4", "--parts", "base"]
    with pytest.raises(SystemExit, match="product_squares': 0"):
        ld.main(argv)
    seen: dict[str, Any] = {}

    def stop(name: str, *args: Any, **kwargs: Any) -> Any:
        seen.update(arm=name, sets=args[4], focus=kwargs["focus"])
        raise SystemExit(0)

    monkeypatch.setattr(ld, "arm", stop)
    with pytest.raises(SystemExit):
        ld.main([*argv, "--product-squares", "0"])
    assert seen["sets"] == ["model.norm=batch", "model.fine_stride=32"]
    assert seen["focus"] == [
        "scene.camera.tiles.focus=defects",
        "scene.camera.tiles.product_squares=0",
    ]
    new = tmp_path / "new"
    with pytest.raises(SystemExit):
        ld.main(["--out", str(new), "--focus", "defects", "--parts", "base"])
    assert seen["sets"] == ["model.norm=group", "model.fine_stride=8"]
    assert seen["focus"][-1] == "scene.camera.tiles.product_squares=1"
    assert json.loads((new / "state.json").read_text())["setup"]["product_squares"] == 1


def test_learn_defects_render_only_renders_every_set_and_trains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--render-only renders each arm's training sets (and the optics arms' own shifted
    sets, the shared test sets) and never trains or scores."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import learn_defects as ld

    rendered: list[str] = []
    squares: dict[str, bool] = {}

    def fake_render(
        name: str, out: Path, seed: int, n: int, sets: list[str], state: Any, workers: int = 1
    ) -> Path:
        rendered.append(name)
        assert workers == 2  # --render-workers reaches every set
        squares[name] = "scene.camera.tiles.focus=defects" in sets
        return out / "data" / name

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("--render-only trained or scored")

    monkeypatch.setattr(ld, "render", fake_render)
    monkeypatch.setattr(ld, "train", refuse)
    monkeypatch.setattr(ld, "score", refuse)
    argv = ["--out", str(tmp_path / "x"), "--focus", "defects", "--render-only",
            "--parts", "base,aug,optics,balance,nuisances", "--render-workers", "2"]  # fmt: skip
    assert ld.main(argv) == 0
    with pytest.raises(SystemExit, match="--render-workers 0"):
        ld.main([*argv[:-1], "0"])
    arms = ["", "_px1", "_px2", "_px4", "_longtail", "_balanced", "_nonuis"]
    want = {f"{n}{a}" for a in arms for n in ld.TRAINING}
    want |= {"shift", "indist", "check", "shift_check"}
    want |= {f"{t}_px{px}" for px in ld.OPTICS_PX for t in ("shift", "check")}
    assert set(rendered) == want  # a shared set's later calls are no-ops (state.json)
    # squares: the training sets and the check sets; whole products: shift, indist
    assert {k for k, v in squares.items() if v} == {
        k for k in want if k.startswith(("train", "check", "shift_check"))
    }


def test_learn_defects_optics_px_picks_the_optics_arms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--optics-px runs only the named optics arms (one can train while the next
    one's sets still render); a bad list is refused before anything runs."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import learn_defects as ld

    tags: list[str] = []

    def fake_arm(tag: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        tags.append(tag)
        return {}

    monkeypatch.setattr(ld, "arm", fake_arm)
    argv = ["--out", str(tmp_path / "x"), "--parts", "optics"]
    assert ld.main([*argv, "--optics-px", "2"]) == 0
    assert ld.main(argv) == 0
    assert tags == ["px2", "px1", "px2", "px4"]
    for bad in ("0", "1,x", ""):
        with pytest.raises(SystemExit, match="--optics-px"):
            ld.main([*argv, "--optics-px", bad])


def test_learn_defects_aug_pipeline_names_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--aug-pipeline continues base with another augmentation, as its own run."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import learn_defects as ld

    trained: dict[str, list[str]] = {}

    def fake_train(name: str, data: Any, out: Path, epochs: int, sets: list[str], state: Any,
                   init: Path | None = None) -> Path:  # fmt: skip
        trained[name] = sets
        assert init == out / "runs" / "base" / "model.pt" and epochs == 2
        return out / "runs" / name

    monkeypatch.setattr(ld, "arm", lambda *a, **k: {})
    monkeypatch.setattr(ld, "train", fake_train)
    monkeypatch.setattr(ld, "score", lambda run, test, state: {"AP50": 0.0})
    pipe = ROOT / "configs" / "augment" / "inspection.yaml"
    argv = ["--out", str(tmp_path / "o"), "--parts", "aug", "--aug-epochs", "2"]
    assert ld.main([*argv, "--aug-pipeline", str(pipe)]) == 0
    assert f"augment.pipeline={pipe}" in trained["aug_inspection"]
    assert ld.main(argv) == 0  # the recipe's own: no pipeline override
    assert not any(s.startswith("augment.pipeline") for s in trained["aug"])
    with pytest.raises(SystemExit, match="--aug-pipeline .*nope.yaml: no such file"):
        ld.main([*argv, "--aug-pipeline", str(tmp_path / "nope.yaml")])
