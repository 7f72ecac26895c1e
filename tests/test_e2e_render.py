"""End to end with real Blender: CLI render -> validate -> replay -> resume.

Tiny (64x64, 4 samples) but real: physics, several views per render call,
spawned workers. Scene i must not depend on the worker count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from render.formats.validate import validate_dataset

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "--resolution",
    "64x64",
    "--samples",
    "4",
    "--set",
    "render.views_per_scene=2",
    "--seed",
    "5",
    "--set",
    "render.denoiser=none",
]


def synthcv(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "render.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return proc


def _strip_info(path: Path) -> dict:
    data = json.loads(path.read_text())
    data.pop("info", None)
    return data


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    one = tmp / "w1"
    two = tmp / "w2"
    p1 = synthcv(
        "render", "configs/generic.yaml", "--out", str(one), "-n", "3", "--workers", "1", *TINY
    )
    assert p1.returncode == 0, p1.stderr[-3000:]
    p2 = synthcv(
        "render", "configs/generic.yaml", "--out", str(two), "-n", "2", "--workers", "2", *TINY
    )
    assert p2.returncode == 0, p2.stderr[-3000:]
    return tmp, one, two


def test_output_is_valid_coco_with_every_invariant(rendered):
    _, one, _ = rendered
    assert validate_dataset(one) == []
    data = json.loads((one / "annotations.json").read_text())
    assert len(data["images"]) == 6
    assert data["annotations"], "no annotations at all"
    for im in data["images"]:
        assert (one / im["file_name"]).is_file()
        assert len(im["camera_K"]) == 3 and len(im["camera_pose"]) == 4
    meta = json.loads((one / "dataset.json").read_text())
    assert "OpenCV" in meta["camera_convention"]


def test_scene_does_not_depend_on_worker_count(rendered):
    _, one, two = rendered
    a = {im["id"]: im for im in json.loads((one / "annotations.json").read_text())["images"]}
    b = json.loads((two / "annotations.json").read_text())
    # compact ids: scenes 0-1 come first in both, so they get the same ids
    anns_a = [
        x
        for x in json.loads((one / "annotations.json").read_text())["annotations"]
        if a[x["image_id"]]["scene_id"] < 2
    ]
    assert b["annotations"] == anns_a
    for im in b["images"]:
        assert im == a[im["id"]]
        assert (one / im["file_name"]).read_bytes() == (two / im["file_name"]).read_bytes()


def test_replay_reproduces_annotations(rendered):
    tmp, one, _ = rendered
    out = tmp / "replay"
    proc = synthcv("replay", str(one / "scenes" / "000001.json"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((out / "shards" / "000001.json").read_text())["annotations"]
    want = json.loads((one / "shards" / "000001.json").read_text())["annotations"]
    assert got == want and got
    # merged: the same entries; ids are the replay dataset's own (from 1)
    merged = json.loads((one / "annotations.json").read_text())
    scene_of = {im["id"]: im["scene_id"] for im in merged["images"]}
    ids = ("id", "image_id")
    got = json.loads((out / "annotations.json").read_text())["annotations"]
    want = [a for a in merged["annotations"] if scene_of[a["image_id"]] == 1]
    assert [{k: v for k, v in x.items() if k not in ids} for x in got] == [
        {k: v for k, v in x.items() if k not in ids} for x in want
    ]
    assert [x["id"] for x in got] == list(range(1, len(got) + 1))


def test_resume_renders_only_missing_scenes(rendered):
    _, _, two = rendered
    before = {p.name: p.stat().st_mtime_ns for p in (two / "images").iterdir()}
    proc = synthcv(
        "render", "configs/generic.yaml", "--out", str(two), "-n", "3", "--resume", *TINY
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = {p.name: p.stat().st_mtime_ns for p in (two / "images").iterdir()}
    assert {k: after[k] for k in before} == before, "resume rewrote committed scenes"
    assert len(after) == 6
    assert validate_dataset(two) == []


def test_refuses_non_empty_output_without_flag(rendered):
    _, one, _ = rendered
    before = (one / "annotations.json").read_bytes()
    proc = synthcv("render", "configs/generic.yaml", "--out", str(one), "-n", "1", *TINY)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert (one / "annotations.json").read_bytes() == before
