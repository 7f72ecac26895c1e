"""render.driver with the pure fake renderer (tests/fake_renderer.py) in real
spawned worker processes: determinism across worker counts, resume, crash retry,
refusals. Real Blender renders are tested elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from render import shards
from render.config import Config, load_config
from render.driver import CAMERA_CONVENTION, RenderFailed, run_render
from render.errors import UserError
from render.formats.validate import validate_dataset

ROOT = Path(__file__).resolve().parents[1]
FAKE = "tests.fake_renderer"


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(
        ROOT / "configs" / "demo.yaml",
        ["num_scenes=4", "render.resolution=[64, 48]", "annotation.min_pixels=1"],
    )


def render(cfg: Config, out: Path, **kw: Any) -> dict[str, Any]:
    kw.setdefault("renderer", FAKE)
    kw.setdefault("progress", False)
    return run_render(cfg, out, **kw)


@pytest.fixture(scope="module")
def reference(cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean single-worker run everything else is compared with."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    result = render(cfg, out, workers=1)
    assert result["scenes"] == 4 and result["images"] == 8
    return out


def annotations_bytes(out: Path) -> bytes:
    return (out / "annotations.json").read_bytes()


def test_reference_output(reference: Path, cfg: Config) -> None:
    assert validate_dataset(reference) == []
    coco = json.loads(annotations_bytes(reference))
    assert len(coco["images"]) == 8 and coco["annotations"]
    assert [c["name"] for c in coco["categories"]] == [c.name for c in cfg.categories]
    ds = json.loads((reference / "dataset.json").read_text())
    assert ds["status"] == "complete"
    assert ds["seed"] == cfg.seed
    assert ds["config"] == cfg.model_dump(mode="json")
    assert ds["camera_convention"] == CAMERA_CONVENTION
    assert ds["versions"]["numpy"] and ds["versions"]["pydantic"] and "bpy" in ds["versions"]
    assert ds["workers"]["info"][0]["device"] == "fake-auto"
    assert ds["images"] == 8 and ds["annotations"] == len(coco["annotations"])
    assert sum(ds["category_counts"].values()) == ds["annotations"]
    assert set(ds["timings"]) >= {"wall_s", "images_per_s", "total_s", "per_image_mean_s"}
    assert "annotate_s" in ds["timings"]["per_image_mean_s"]
    assert ds["this_run"]["rendered_scenes"] == 4 and ds["this_run"]["skipped_scenes"] == 0
    assert sorted(p.name for p in (reference / "scenes").iterdir()) == [
        f"{i:06d}.json" for i in range(4)
    ]


def test_two_workers_identical(cfg: Config, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    render(cfg, out, workers=2)
    assert annotations_bytes(out) == annotations_bytes(reference)
    for i in range(4):
        name = f"scenes/{i:06d}.json"
        assert (out / name).read_bytes() == (reference / name).read_bytes()
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["workers"]["count"] == 2


def test_resume_after_partial_run(cfg: Config, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    first = render(cfg, out, scene_indices=[0, 2])
    assert first["scenes"] == 2
    partial = json.loads((out / "dataset.json").read_text())
    assert partial["scenes"] == 2 and partial["this_run"]["rendered_scenes"] == 2
    with pytest.raises(UserError, match="not empty; use --resume"):
        render(cfg, out)
    stamp = (out / "shards" / "000000.json").stat().st_mtime_ns
    result = render(cfg, out, resume=True)
    assert result["skipped"] == [0, 2] and result["rendered"] == [1, 3]
    assert (out / "shards" / "000000.json").stat().st_mtime_ns == stamp  # not re-rendered
    assert annotations_bytes(out) == annotations_bytes(reference)
    assert json.loads((out / "dataset.json").read_text())["status"] == "complete"


def test_resume_refuses_other_config(cfg: Config, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    render(cfg, out, scene_indices=[0])
    other = cfg.model_copy(update={"seed": cfg.seed + 1})
    with pytest.raises(UserError, match=r"config differs .*first difference: seed"):
        render(other, out, resume=True)
    # num_scenes may change on resume (render more scenes)
    more = cfg.model_copy(update={"num_scenes": 2})
    assert render(more, out, resume=True)["rendered"] == [1]


def test_crash_is_retried(
    cfg: Config, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "crashed-once"
    monkeypatch.setenv("SYNTHCV_FAKE_CRASH", f"2:{marker}")
    out = tmp_path / "ds"
    result = render(cfg, out, workers=2)
    assert marker.exists()  # the worker really died once
    assert result["scenes"] == 4
    assert annotations_bytes(out) == annotations_bytes(reference)


def test_repeated_crash_fails_naming_scene(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHCV_FAKE_CRASH_ALWAYS", "1")
    out = tmp_path / "ds"
    with pytest.raises(RenderFailed, match=r"scene 1 crashed the worker process 2 times") as info:
        render(cfg, out, workers=1)
    assert "--resume" in str(info.value) and "\n" not in str(info.value)
    # everything else was committed and merged
    assert shards.completed_scenes(out) == {0, 2, 3}
    coco = json.loads(annotations_bytes(out))
    assert {img["scene_id"] for img in coco["images"]} == {0, 2, 3}
    assert json.loads((out / "dataset.json").read_text())["status"] == "partial"


def test_python_error_fails_naming_scene(
    cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHCV_FAKE_ERROR", "0")
    with pytest.raises(RenderFailed, match="scene 0 failed: RuntimeError: fake renderer error"):
        render(cfg, tmp_path / "ds")


def test_renderer_init_error_is_reported(cfg: Config, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="could not start .*ModuleNotFoundError.*no_such_renderer"):
        render(cfg, tmp_path / "ds", renderer="tests.no_such_renderer")


def test_refuses_non_empty_dir(cfg: Config, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        render(cfg, out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    with pytest.raises(UserError, match="--workers: must be >= 1"):
        render(cfg, out, workers=0)


def test_overwrite_replaces(cfg: Config, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    render(cfg, out, scene_indices=[3])
    render(cfg, out, overwrite=True)
    assert annotations_bytes(out) == annotations_bytes(reference)


def test_specs_argument_renders_given_spec(cfg: Config, reference: Path, tmp_path: Path) -> None:
    from render.sampling import sample_scene

    out = tmp_path / "ds"
    result = render(cfg, out, specs=[sample_scene(cfg, 2)])
    assert result["scenes"] == 1
    new = json.loads((out / "shards" / "000002.json").read_text())
    old = json.loads((reference / "shards" / "000002.json").read_text())
    assert new["annotations"] == old["annotations"] and new["images"] == old["images"]
