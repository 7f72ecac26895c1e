"""Scale-out on one machine (issue 12), with the fake renderer in real worker
processes: failures recorded and retried, GPU pinning, worker recycling, kill -9 of
the driver at random moments then --resume, compact ids through the merge, and the
``synthcv merge`` command."""

from __future__ import annotations

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

from render import merge, shards
from render.config import Config, load_config
from render.driver import RenderFailed, run_render
from render.executors import local
from render.formats.validate import validate_dataset

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
FAKE = "tests.fake_renderer"
TINY = ["--resolution", "64x48", "--set", "annotation.min_pixels=1", "--no-progress"]


def scale_config() -> Config:
    return load_config(
        DEMO, ["num_scenes=8", "render.resolution=[64, 48]", "annotation.min_pixels=1"]
    )


def reference_run(cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted single-worker run everything else is compared with."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    run_render(cfg, out, renderer=FAKE, progress=False, recycle_every=None)
    return out


cfg = pytest.fixture(scope="module")(scale_config)
reference = pytest.fixture(scope="module")(reference_run)


def same_output(a: Path, b: Path) -> None:
    """annotations.json, images, depth and scenes byte-identical."""
    assert (a / "annotations.json").read_bytes() == (b / "annotations.json").read_bytes()
    for folder in ("images", "depth", "scenes"):
        names = sorted(p.name for p in (a / folder).iterdir())
        assert names == sorted(p.name for p in (b / folder).iterdir()), folder
        for name in names:
            assert (a / folder / name).read_bytes() == (b / folder / name).read_bytes(), name


def cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "render.cli", *args, "--renderer", FAKE]


def test_compact_ids(reference: Path) -> None:
    coco = json.loads((reference / "annotations.json").read_text())
    assert [im["id"] for im in coco["images"]] == list(range(1, 17))
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
    keys = [(im["scene_id"], im["view_index"]) for im in coco["images"]]
    assert keys == sorted(keys)
    by_id = {im["id"]: im for im in coco["images"]}
    order = [(by_id[a["image_id"]]["scene_id"], by_id[a["image_id"]]["view_index"],
              a["scene_instance"]) for a in coco["annotations"]]  # fmt: skip
    assert order == sorted(order) and all(a["instance_name"] for a in coco["annotations"])
    assert validate_dataset(reference) == []


def test_broken_scene_is_recorded_and_the_others_complete(
    cfg: Config, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ds"
    monkeypatch.setenv("SYNTHCV_FAKE_ERROR", "3")
    with pytest.raises(RenderFailed, match=r"scene 3 failed: RuntimeError.*2 attempts.*failures"):
        run_render(cfg, out, renderer=FAKE, progress=False, workers=2, resume_command="X --resume")
    lines = (out / "failures.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["scene_index"] == 3 and record["seed"] == cfg.seed and record["attempts"] == 2
    assert isinstance(record["scene_seed"], int) and "fake renderer error" in record["error"]
    assert "Traceback" in record["traceback"] and "_maybe_fail" in record["traceback"]
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["status"] == "partial" and ds["scenes"] == 7
    assert validate_dataset(out) == []
    # --resume retries the failed scene; the result equals an uninterrupted run
    monkeypatch.delenv("SYNTHCV_FAKE_ERROR")
    result = run_render(cfg, out, renderer=FAKE, progress=False, resume=True)
    assert result["rendered"] == [3] and not (out / "failures.jsonl").exists()
    same_output(out, reference)


def test_retries_zero_and_several_failures(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHCV_FAKE_CRASH_ALWAYS", "5")
    monkeypatch.setenv("SYNTHCV_FAKE_ERROR", "1")
    out = tmp_path / "ds"
    with pytest.raises(RenderFailed, match=r"failed scenes: \[1, 5\]") as info:
        run_render(cfg, out, renderer=FAKE, progress=False, retries=0)
    assert "\n" not in str(info.value)
    records = [json.loads(x) for x in (out / "failures.jsonl").read_text().splitlines()]
    assert sorted(r["scene_index"] for r in records) == [1, 5]
    assert all(r["attempts"] == 1 for r in records)
    crash = next(r for r in records if r["scene_index"] == 5)
    assert "SIGSEGV" in crash["error"]


def test_gpu_pinning_one_worker_per_gpu(cfg: Config, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    env = {**os.environ, "SYNTHCV_FAKE_DELAY": "0.2"}
    args = cli("render", str(DEMO), "--out", str(out), "-n", "8", *TINY, "--gpus", "0,1",
               "--recycle-every", "2")  # fmt: skip
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ds = json.loads((out / "dataset.json").read_text())
    info = ds["workers"]["info"]
    assert ds["workers"]["count"] == 2 and ds["workers"]["started"] >= 4  # recycled
    seen = [w["cuda_visible_devices"] for w in info]
    assert set(seen) == {"0", "1"} and all(
        w["env_cuda_visible_devices"] in ("0", "1") for w in info
    )
    assert "cuda_visible_devices=0" in proc.stderr and "cuda_visible_devices=1" in proc.stderr
    assert (out / "annotations.json").read_bytes() == (reference / "annotations.json").read_bytes()


def test_gpu_slots_are_exclusive(tmp_path: Path) -> None:
    held = len(local._held)
    try:
        assert local.claim_gpu(["3", "5"], str(tmp_path)) == "3"
        assert local.claim_gpu(["3", "5"], str(tmp_path)) == "5"
        with pytest.raises(RuntimeError, match="no free GPU slot"):
            local.claim_gpu(["3", "5"], str(tmp_path), timeout_s=0.2)
        os.close(local._held.pop(held))  # the first worker exits: its slot is free again
        assert local.claim_gpu(["3", "5"], str(tmp_path)) == "3"
    finally:
        while len(local._held) > held:
            os.close(local._held.pop())


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--gpus", "0,1", "--workers", "3"], "--gpus runs one worker per listed GPU"),
        (["--gpus", "0,x"], "expected GPU indices like 0,1"),
        (["--gpus", "0", "--device", "cpu"], "render.device is cpu"),
        (["--retries", "-1"], "integer >= 0"),
        (["--gpus", "0", "--ray"], "--gpus and --ray"),
    ],
)
def test_scale_flags_errors(tmp_path: Path, extra: list[str], says: str) -> None:
    out = tmp_path / "o"
    proc = subprocess.run(cli("render", str(DEMO), "--out", str(out), *TINY, *extra),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("synthcv: error:") and says in proc.stderr
    assert not out.exists()


def test_recycling_and_threads_keep_output(cfg: Config, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = run_render(cfg, out, renderer=FAKE, progress=False, workers=2, recycle_every=1,
                        threads=1)  # fmt: skip
    assert result["scenes"] == 8
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["workers"]["started"] >= 8 and ds["workers"]["peak_rss_mib"] > 10
    assert {w["env_threads"] for w in ds["workers"]["info"]} == {"1"}
    same_output(out, reference)


def _kill_at(args: list[str], env: dict[str, str], after_s: float) -> None:
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_kill_9_at_random_moments_then_resume(reference: Path, tmp_path: Path) -> None:
    """The driver is killed (SIGKILL: no cleanup at all) three times at random
    moments; each --resume continues; the result equals an uninterrupted run."""
    out = tmp_path / "ds"
    env = {**os.environ, "SYNTHCV_FAKE_DELAY": "0.6"}
    base = cli("render", str(DEMO), "--out", str(out), "-n", "8", *TINY, "--workers", "2")
    moments = np.random.default_rng(12).uniform(1.0, 2.5, size=3)
    committed = []
    for k, t in enumerate(moments):
        _kill_at([*base, "--resume"] if k else base, env, float(t))
        committed.append(len(list((out / "shards").glob("*.json"))))
    assert committed == sorted(committed) and committed[-1] < 8, committed  # really cut short
    time.sleep(1.0)  # orphaned workers die with the driver (PR_SET_PDEATHSIG)
    done = subprocess.run([*base, "--resume"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    same_output(out, reference)
    assert validate_dataset(out) == []


def _shard(scene: int, anns: list[dict[str, Any]], cfg: Config) -> dict[str, Any]:
    images = [{"id": scene * 1000 + v + 1, "file_name": f"images/{scene:06d}_{v:03d}.png",
               "width": 4, "height": 4, "scene_id": scene, "view_index": v} for v in range(2)]  # fmt: skip
    return {"version": 2, "scene_index": scene, "images": images, "annotations": anns,
            "category_counts": {}, "timings": {"x_s": 1.0},
            "run": shards.run_identity(cfg.model_dump(mode="json"))}  # fmt: skip


def test_merge_keeps_crowd_keypoint_amodal_fields(cfg: Config, tmp_path: Path) -> None:
    """Only ``id`` and ``image_id`` change; a crowd region sorts at its lowest member;
    scene 300's shard ids (past 2^31) become small."""
    rle = {"size": [4, 4], "counts": "04"}
    person = {"category_id": 1, "segmentation": rle, "area": 4, "bbox": [0.0, 0.0, 1.0, 4.0],
              "iscrowd": 0, "keypoints": [1, 2, 2] * 17, "num_keypoints": 17,
              "segmentation_amodal": rle, "area_amodal": 4, "bbox_amodal": [0.0, 0.0, 1.0, 4.0],
              "visibility": 1.0}  # fmt: skip
    img = 300 * 1000 + 2  # view 1 of scene 300
    anns = [
        {**person, "id": img * 10000 + 5, "image_id": img, "scene_instance": 5, "instance_name": "p5"},
        {**person, "id": img * 10000 + 2, "image_id": img, "iscrowd": 1, "instance_name": "crowd_2",
         "attributes": {"members": [2, 3]}, "num_keypoints": 0},
        {**person, "id": img * 10000 + 1, "image_id": img, "scene_instance": 1, "instance_name": "p1"},
        {**person, "id": (img - 1) * 10000 + 9, "image_id": img - 1, "scene_instance": 9,
         "instance_name": "p9"},
    ]  # fmt: skip
    out = tmp_path / "ds"
    (out / "shards").mkdir(parents=True)
    for scene, a in ((300, anns), (7, [])):
        (out / "shards" / f"{scene:06d}.json").write_text(json.dumps(_shard(scene, a, cfg)))
    summary = merge.merge(out, cfg, {"description": "t"})
    assert summary["merged"] == [7, 300] and summary["images"] == 4
    doc = json.loads((out / "annotations.json").read_text())
    assert [im["id"] for im in doc["images"]] == [1, 2, 3, 4]
    assert [(a["id"], a["image_id"], a["instance_name"]) for a in doc["annotations"]] == [
        (1, 3, "p9"), (2, 4, "p1"), (3, 4, "crowd_2"), (4, 4, "p5")]  # fmt: skip
    for new in doc["annotations"]:
        old = next(a for a in anns if a["instance_name"] == new["instance_name"])
        assert {k: v for k, v in new.items() if k not in ("id", "image_id")} == {
            k: v for k, v in old.items() if k not in ("id", "image_id")}  # fmt: skip


def test_merge_command(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    subprocess.run(["cp", "-r", str(reference), str(out)], check=True)
    (out / "annotations.json").unlink()
    proc = subprocess.run([sys.executable, "-m", "render.cli", "merge", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "8 scenes, 16 images" in proc.stdout
    assert (out / "annotations.json").read_bytes() == (reference / "annotations.json").read_bytes()
    (out / "shards" / "000004.json").write_text('{"scene_index": 4, "images": [')
    proc = subprocess.run([sys.executable, "-m", "render.cli", "merge", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "000004.json: unreadable or malformed shard" in proc.stderr
    assert (out / "annotations.json").read_bytes() == (reference / "annotations.json").read_bytes()
