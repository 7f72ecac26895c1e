"""synthcv augment on hostile inputs and machines: it checks its input before
writing, writes into a staging folder renamed into place at the end, resumes a
killed run to byte-identical output, and every refusal is one line (exit 2)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from render.formats.validate import validate_dataset
from tests.cli_run import ROOT, synthcv
from tests.coco_fixtures import edit_annotations as edit
from tests.coco_fixtures import write_coco

QC = ROOT / "configs" / "augment" / "qc.yaml"


def augment(
    src: Path, out: Path, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return synthcv(
        "augment",
        str(src),
        "--pipeline",
        str(QC),
        "--out",
        str(out),
        "--quiet",
        *extra,
        timeout=timeout,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("synthcv: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and str(p.relative_to(root)) not in skip
    }


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return write_coco(tmp_path / "src", np.random.default_rng(0), n_images=4)


def test_bad_image_mid_run_leaves_nothing(src: Path, tmp_path: Path) -> None:
    f = src / "images" / "000004.png"  # the last image: the others are written first
    f.write_bytes(f.read_bytes()[:-300])
    before = listing(tmp_path)
    proc = augment(src, tmp_path / "out")
    one_line_error(proc, "000004.png", "cannot decode image")
    assert listing(tmp_path) == before  # no --out, no staging folder


def test_failed_overwrite_keeps_the_previous_output(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert augment(src, out).returncode == 0
    previous = digest(out)
    f = src / "images" / "000004.png"
    f.write_bytes(f.read_bytes()[:-300])
    one_line_error(augment(src, out, "--overwrite", "--seed", "3"), "cannot decode image")
    assert digest(out) == previous
    assert listing(tmp_path) == ["out", "src"]


def start_killable(src: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "render.cli", "augment", str(src), "--pipeline", str(QC),
           "--out", str(out), "--quiet", "--copies", "3", *extra]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def kill_mid_run(proc: subprocess.Popen[bytes], staging: Path, rng: np.random.Generator) -> None:
    """kill -9 the command (only its own pid) once it has committed an image, after a
    random extra delay; then wait for its workers to go too."""
    journal = staging / ".synthcv-journal.jsonl"
    deadline = time.monotonic() + 60
    while not (journal.exists() and journal.stat().st_size) and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never committed an image"
        time.sleep(0.005)
    time.sleep(float(rng.uniform(0, 0.15)))
    assert proc.poll() is None, "the run finished before it could be killed; use more images"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(200):  # workers die with their parent (PR_SET_PDEATHSIG)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("worker processes outlived the killed command")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_kill_9_then_resume_gives_byte_identical_output(tmp_path: Path, workers: str) -> None:
    src = write_coco(tmp_path / "src", np.random.default_rng(1), n_images=40, height=96, width=128)
    reference, out = tmp_path / "reference", tmp_path / "out"
    assert augment(src, reference, "--copies", "3", "--workers", workers).returncode == 0
    rng = np.random.default_rng(int(workers))
    proc = start_killable(src, out, "--workers", workers)
    staging = tmp_path / ".out.synthcv-partial"
    kill_mid_run(proc, staging, rng)
    assert not out.exists() and staging.is_dir()
    again = augment(src, out, "--copies", "3", "--workers", workers)  # without --resume: refused
    one_line_error(again, "--resume", "--overwrite")
    resumed = augment(src, out, "--copies", "3", "--workers", workers, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not staging.exists()
    assert digest(out, skip=("dataset.json",)) == digest(reference, skip=("dataset.json",))
    assert json.loads((out / "dataset.json").read_text())["resumed"] is True
    assert validate_dataset(out) == []


def test_resume_refuses_another_command_and_overwrite_starts_again(tmp_path: Path) -> None:
    src = write_coco(tmp_path / "src", np.random.default_rng(1), n_images=40, height=96, width=128)
    out, staging = tmp_path / "out", tmp_path / ".out.synthcv-partial"
    kill_mid_run(start_killable(src, out), staging, np.random.default_rng(5))
    one_line_error(
        augment(src, out, "--copies", "3", "--seed", "9", "--resume"), "--resume", "seed"
    )
    proc = augment(src, out, "--copies", "1", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert not staging.exists() and validate_dataset(out) == []
    assert augment(src, out, "--copies", "1", "--resume").returncode == 0  # complete: nothing to do


def test_overwrite_refuses_what_is_not_ours(src: Path, tmp_path: Path) -> None:
    staging = tmp_path / ".out.synthcv-partial"
    staging.mkdir()
    (staging / "mine.txt").write_text("x")
    one_line_error(augment(src, tmp_path / "out", "--overwrite"), "not left by synthcv augment")
    assert (staging / "mine.txt").exists()


def test_duplicate_annotation_ids_are_refused(src: Path, tmp_path: Path) -> None:
    edit(src, lambda d: d["annotations"][4].__setitem__("id", d["annotations"][1]["id"]))
    one_line_error(
        augment(src, tmp_path / "out"),
        "annotations[4].id: duplicate annotation id 2 (also annotations[1])",
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("polygon", "needle"),
    [([[3.0, 4.0]], "has 1 point(s); a polygon needs 3"), ([[3, 4, 9, 9]], "has 2 point(s)")],
)
def test_degenerate_polygon_is_a_one_line_error(
    src: Path, tmp_path: Path, polygon: Any, needle: str
) -> None:
    edit(src, lambda d: d["annotations"][2].__setitem__("segmentation", polygon))
    one_line_error(augment(src, tmp_path / "out"), "annotations[2] (id 3).segmentation", needle)
    assert listing(tmp_path) == ["src"]


def test_read_only_out_parent_is_a_one_line_error(src: Path, tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    if subprocess.run(["chattr", "+i", str(parent)], capture_output=True).returncode:
        pytest.skip("chattr +i not available (needs root and ext4/xfs)")
    try:
        one_line_error(augment(src, parent / "out"), "--out", "cannot create")
        assert listing(parent) == []
    finally:
        subprocess.run(["chattr", "-i", str(parent)], check=True)


def hostile(src: Path, tmp_path: Path, what: str) -> None:
    images = src / "images"
    if what == "fifo-image":
        (images / "000003.png").unlink()
        os.mkfifo(images / "000003.png")
    elif what == "fifo-annotations":
        (src / "annotations.json").unlink()
        os.mkfifo(src / "annotations.json")
    elif what == "symlink-out":
        (tmp_path / "secret.png").write_bytes((images / "000002.png").read_bytes())
        (images / "000002.png").unlink()
        (images / "000002.png").symlink_to(tmp_path / "secret.png")
    elif what == "depth-escape":
        edit(src, lambda d: d["images"][0].__setitem__("depth_file", "../secret.png"))
        (tmp_path / "secret.png").write_bytes(b"x")
    elif what == "nan":
        text = (src / "annotations.json").read_text().replace('"iscrowd": 0', '"iscrowd": NaN', 1)
        (src / "annotations.json").write_text(text)
    elif what == "huge-number":
        edit(src, lambda d: d["images"][0].__setitem__("camera_K", "HUGE"))
        text = (src / "annotations.json").read_text().replace('"HUGE"', "1e999")
        (src / "annotations.json").write_text(text)
    elif what == "keypoints":
        edit(src, lambda d: d["annotations"][0].__setitem__("keypoints", ["a", 1, 2]))
    elif what == "category":
        edit(src, lambda d: d["annotations"][0].__setitem__("category_id", "one"))
    elif what == "flip_idx":
        edit(src, lambda d: d["categories"][2].__setitem__("flip_idx", ["a", 1]))
    elif what == "size-lie":
        edit(src, lambda d: d["images"][1].__setitem__("width", 65))
    elif what == "huge-size":
        edit(src, lambda d: d["images"][1].update(width=100000, height=100000))
    elif what == "rle-overflow":
        edit(
            src,
            lambda d: d["annotations"][0]["segmentation"].__setitem__(
                "counts", "0" + "]" * 6 + "0"
            ),
        )
    elif what == "json-size":
        pass


HOSTILE = [
    ("fifo-image", ["000003.png", "named pipe"]),
    ("fifo-annotations", ["annotations.json", "named pipe"]),
    ("symlink-out", ["outside the dataset root"]),
    ("depth-escape", ["depth_file", "must be relative without '..'"]),
    ("nan", ["NaN is not a number in strict JSON"]),
    ("huge-number", ["out of range"]),
    ("keypoints", ["annotations[0] (id 1).keypoints"]),
    ("category", ["annotations[0] (id 1).category_id"]),
    ("flip_idx", ["category 3: flip_idx"]),
    ("size-lie", ["000002.png: image is 64x48, annotations say 65x48"]),
    ("huge-size", ["images[1]", "more than the limit"]),
    ("rle-overflow", ["annotations[0] (id 1).segmentation", "RLE"]),
    ("json-size", ["annotations file is", "more than the limit of 1,024 bytes"]),
]


@pytest.mark.parametrize(("what", "needles"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_is_refused_before_writing(
    src: Path, tmp_path: Path, what: str, needles: list[str]
) -> None:
    hostile(src, tmp_path, what)
    extra = ["--keep-originals"] if what == "depth-escape" else []
    extra += ["--limit", "json_mb=0.0009765625"] if what == "json-size" else []
    before = listing(tmp_path)
    one_line_error(augment(src, tmp_path / "out", *extra, timeout=60), *needles)
    assert listing(tmp_path) == before


def test_pipeline_file_is_read_bounded(src: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "p.yaml"
    os.mkfifo(fifo)
    proc = synthcv(
        "augment", str(src), "--pipeline", str(fifo), "--out", str(tmp_path / "o"), timeout=60
    )
    one_line_error(proc, "p.yaml", "named pipe")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [1, 2]\nb: &b [*a, *a]\ntransforms: [*b]\n")
    proc = synthcv("augment", str(src), "--pipeline", str(bomb), "--out", str(tmp_path / "o"))
    one_line_error(proc, "bomb.yaml", "aliases")
    huge = tmp_path / "huge.yaml"
    huge.write_text("- Resize: {height: 100000, width: 100000, p: 1}\n")
    proc = synthcv("augment", str(src), "--pipeline", str(huge), "--out", str(tmp_path / "o"))
    one_line_error(proc, "huge.yaml", "transforms[0].Resize", "height")
    assert not (tmp_path / "o").exists()
