"""Issue 20: synthcv never deletes or mixes what it did not write. Every command
that writes a folder marks it, ``--overwrite`` removes only what a command of the
same kind wrote, outputs stay apart from inputs, one writer holds a lock on each
output, shards carry their run, and output files follow the umask. Each case was
reproduced on the code before this change (the issue lists them)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from render import atomic, outputs
from render.errors import UserError
from tests.cli_run import one_line_error
from tests.cli_run import synthcv as cli
from tests.coco_fixtures import write_coco

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
GENERIC = ROOT / "configs" / "generic.yaml"
TINY = ["--resolution", "64x48", "--set", "annotation.min_pixels=1", "--no-progress"]
FAKE = ["--renderer", "tests.fake_renderer"]


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def render(
    out: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return cli("render", str(DEMO), "--out", str(out), "-n", "2", *TINY, *FAKE, *extra, env=env)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real render output (fake renderer, 2 scenes), never modified by the tests."""
    out = tmp_path_factory.mktemp("rendered") / "ds"
    proc = render(out)
    assert proc.returncode == 0, proc.stderr
    return out


# --------------------------------------------------------------------------- render


def test_render_overwrite_refuses_a_folder_another_tool_wrote(tmp_path: Path) -> None:
    out = tmp_path / "realcoco"
    (out / "images").mkdir(parents=True)
    (out / "annotations.json").write_text('{"images": [], "annotations": [], "categories": []}')
    (out / "images" / "README.txt").write_text("hand-labelled data")
    (out / "images" / "000000_000.png").write_bytes(b"not ours")
    before = tree(out)
    proc = render(out, "--overwrite")
    one_line_error(proc, "not replacing it", "synthcv did not write it")
    assert tree(out) == before


def test_render_overwrite_removes_only_what_a_render_wrote(rendered: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    subprocess.run(["cp", "-r", str(rendered), str(out)], check=True)
    (out / "images" / "README.txt").write_text("mine")
    (out / "notes.md").write_text("mine too")
    (out / "images" / "000000_000.png").write_bytes(b"an old image")
    proc = render(out, "--overwrite", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert (out / "images" / "README.txt").read_text() == "mine"
    assert (out / "notes.md").read_text() == "mine too"
    assert (out / "images" / "000000_000.png").read_bytes() != b"an old image"
    assert json.loads((out / "dataset.json").read_text())["seed"] == 3
    assert outputs.read_marker(out)["kind"] == "render"  # type: ignore[index]


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    """Two renders into one --out (the second with --overwrite): the second is
    refused naming the first's pid and command; the first finishes unmixed."""
    out = tmp_path / "ds"
    first = subprocess.Popen(
        [sys.executable, "-m", "render.cli", "render", str(DEMO), "--out", str(out), "-n", "3",
         "--seed", "1", *TINY, *FAKE],
        cwd=ROOT, env={**os.environ, "SYNTHCV_FAKE_DELAY": "1.5"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and not (out / outputs.LOCK_NAME).exists():
        time.sleep(0.05)
    assert (out / outputs.LOCK_NAME).exists(), "the first render did not start"
    second = render(out, "--overwrite", "--seed", "2")
    line = one_line_error(second, "in use by another synthcv run", f"pid {first.pid}", "render")
    assert "--seed 1" in line
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["seed"] == 1 and ds["scenes"] == 3 and ds["status"] == "complete"
    assert not (out / outputs.LOCK_NAME).exists()  # released at the end


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    proc = subprocess.Popen(
        [sys.executable, "-m", "render.cli", "render", str(DEMO), "--out", str(out), "-n", "4",
         *TINY, *FAKE],
        cwd=ROOT, env={**os.environ, "SYNTHCV_FAKE_DELAY": "30"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "dataset.json").exists():
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    assert (out / outputs.LOCK_NAME).exists()  # SIGKILL: nobody cleaned up
    with outputs.OutputLock(out) as lock:
        assert lock.stale is not None and f"pid {proc.pid}" in lock.stale
    resumed = render(out, "--resume", "-n", "4")
    assert resumed.returncode == 0, resumed.stderr


def test_lock_in_process() -> None:
    """A second lock on the same output, even in one process, is refused."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x"
        with outputs.OutputLock(out), pytest.raises(UserError, match="in use by another"):
            with outputs.OutputLock(out):
                pass
        assert not out.exists()  # the lock made the folder, nothing was written: removed
        with outputs.OutputLock(out, inside=False):
            pass
        assert not list(Path(tmp).iterdir())


# --------------------------------------------------------------------------- merge


def test_merge_refuses_a_shard_of_another_run_and_names_missing_scenes(
    rendered: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    subprocess.run(["cp", "-r", str(rendered), str(out)], check=True)
    other = tmp_path / "people"
    proc = cli("render", str(GENERIC), "--out", str(other), "-n", "5", *TINY, *FAKE)
    assert proc.returncode == 0, proc.stderr
    before = (out / "annotations.json").read_bytes()
    foreign = other / "shards" / "000000.json"
    (out / "shards" / "000000.json").write_bytes(foreign.read_bytes())
    one_line_error(cli("merge", str(out)), "000000.json", "from another run")
    (out / "shards" / "000004.json").write_bytes((other / "shards" / "000004.json").read_bytes())
    (out / "shards" / "000000.json").unlink()
    one_line_error(cli("merge", str(out)), "000004.json", "outside this run's 2 scenes")
    (out / "shards" / "000004.json").unlink()
    assert (out / "annotations.json").read_bytes() == before
    line = one_line_error(cli("merge", str(out)), "1 of 2 scenes have no committed shard")
    assert "(scene 0)" in line and "--resume" in line and "--partial" in line
    proc = cli("merge", str(out), "--partial")
    assert proc.returncode == 0 and "1 of 2 scenes missing" in proc.stdout, proc.stderr
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["status"] == "partial" and ds["scenes"] == 1


def test_resume_refuses_a_shard_of_another_run(rendered: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    subprocess.run(["cp", "-r", str(rendered), str(out)], check=True)
    shard = json.loads((out / "shards" / "000001.json").read_text())
    shard["run"]["seed"] = 99
    (out / "shards" / "000001.json").write_text(json.dumps(shard))
    one_line_error(render(out, "--resume", "-n", "3"), "000001.json", "seed 99")


# --------------------------------------------------------------------------- export, train, eval


def test_export_refuses_an_out_that_holds_its_source(rendered: Path, tmp_path: Path) -> None:
    old = tmp_path / "oldexp"
    assert cli("export", str(rendered), "--format", "yolo", "--out", str(old)).returncode == 0
    subprocess.run(["cp", "-r", str(rendered), str(old / "ds")], check=True)
    before = tree(old)
    proc = cli("export", str(old / "ds"), "--format", "yolo", "--out", str(old), "--overwrite")
    one_line_error(proc, "must not be, contain or lie inside the input")
    assert tree(old) == before
    # an export holding a file export did not write is not replaced either
    (old / "ds").rename(tmp_path / "ds")
    (old / "my_notes.txt").write_text("mine")
    proc = cli("export", str(tmp_path / "ds"), "--format", "yolo", "--out", str(old), "--overwrite")
    one_line_error(proc, "'my_notes.txt'", "did not write")
    (old / "my_notes.txt").unlink()
    proc = cli("export", str(tmp_path / "ds"), "--format", "yolo", "--out", str(old), "--overwrite")
    assert proc.returncode == 0, proc.stderr


def test_outputs_are_readable_by_others(rendered: Path, tmp_path: Path) -> None:
    """Under umask 022 every file a render writes is 0644, and a YOLO export of it
    (hard links) too; a source narrower than that is copied, not linked."""
    assert atomic.UMASK == 0o022, "the test assumes the usual umask"
    files = [p for p in rendered.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in files) and any(p.name == "dataset.json" for p in files)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    src = tmp_path / "src"
    subprocess.run(["cp", "-r", str(rendered), str(src)], check=True)
    narrow = next((src / "images").iterdir())
    narrow.chmod(0o600)
    out = tmp_path / "y"
    assert cli("export", str(src), "--format", "yolo", "--out", str(out)).returncode == 0
    exported = [p for p in out.rglob("*") if p.is_file()]
    for p in exported:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    assert stat.S_IMODE(narrow.stat().st_mode) == 0o600  # the source is left as it was
    linked = [p for p in exported if p.suffix == ".png" and p.stat().st_nlink > 1]
    assert len(linked) == len([p for p in exported if p.suffix == ".png"]) - 1


@pytest.fixture(scope="module")
def tiny_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_coco(tmp_path_factory.mktemp("coco") / "ds", np.random.default_rng(0), n_images=2)


def test_train_never_replaces_its_recipe_or_foreign_files(tiny_coco: Path, tmp_path: Path) -> None:
    exp = tmp_path / "exp1"
    (exp / "checkpoints").mkdir(parents=True)
    recipe = exp / "recipe.yaml"
    text = f"# my recipe, with comments\ndata: {{train: {tiny_coco}, split: null}}\n"
    recipe.write_text(text)
    (exp / "checkpoints" / "my_other_model.ckpt").write_bytes(b"weights")
    proc = cli("train", str(recipe), "--out", str(exp), "--overwrite", "--device", "cpu")
    one_line_error(proc, "which is the recipe you gave")
    assert recipe.read_text() == text
    other = tmp_path / "r.yaml"
    other.write_text(text)
    proc = cli("train", str(other), "--out", str(exp), "--overwrite")
    one_line_error(proc, "holds no training run")
    assert (exp / "checkpoints" / "my_other_model.ckpt").read_bytes() == b"weights"


def test_evaluate_checks_its_out_before_inference(tiny_coco: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": 1, "category_id": 1, "score": 0.9,
                                    "bbox": [0, 0, 4, 4]}]))  # fmt: skip
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("my metrics")
    one_line_error(cli("evaluate", str(results), str(tiny_coco), "--out", str(mine)),
                   "holds no evaluate output")  # fmt: skip
    assert (mine / "metrics.json").read_text() == "my metrics"
    t = time.perf_counter()
    one_line_error(cli("evaluate", str(results), str(tiny_coco), "--out", str(results)),
                   "exists and is not a directory")  # fmt: skip
    assert time.perf_counter() - t < 30
    out = tmp_path / "eval"
    assert cli("evaluate", str(results), str(tiny_coco), "--out", str(out)).returncode == 0
    assert cli("evaluate", str(results), str(tiny_coco), "--out", str(out)).returncode == 0
    assert outputs.read_marker(out)["kind"] == "evaluate"  # type: ignore[index]


def test_results_file_of_another_dataset_is_named(tiny_coco: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": 999, "category_id": 1, "score": 0.9,
                                    "bbox": [0, 0, 4, 4]}]))  # fmt: skip
    one_line_error(cli("evaluate", str(results), str(tiny_coco), "--out", str(tmp_path / "e")),
                   "no detection has an image_id of this dataset")  # fmt: skip
    results.write_text(json.dumps([
        {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [0, 0, 4, 4]},
        {"image_id": 999, "category_id": 1, "score": 0.9, "bbox": [0, 0, 4, 4]},
    ]))  # fmt: skip
    proc = cli("evaluate", str(results), str(tiny_coco), "--out", str(tmp_path / "e"))
    assert proc.returncode == 0, proc.stderr
    assert "1 detection(s) name an image and 0 a category not in this dataset" in proc.stderr
