"""Scenarios (scene.scenario, configs/scenarios/): actors placed relative to the
camera, crossing the road over a sequence, with distance and time to collision per
frame; configs that build on the preset (base:)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from render.config import load_config
from render.errors import ConfigError
from render.export import export
from render.families.pedestrians.scenario import ttc
from render.formats.validate import validate_dataset
from render.sampling import sample_scene
from render.spec import SceneSpec

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "configs" / "scenarios").glob("*.yaml"))
SMALL = ["render.resolution=[160, 120]", "scene.people.count=[1, 3]"]


def test_ttc() -> None:
    # straight at a camera driving at 10 m/s, 20 m ahead: 2 s
    assert ttc(np.array([20.0, 0.0]), np.zeros(2), np.zeros(2), np.array([10.0, 0.0])) == 2.0
    # 2 m to the side of its path: never within 1.2 m
    assert ttc(np.array([20.0, 2.0]), np.zeros(2), np.zeros(2), np.array([10.0, 0.0])) is None
    # walking into its path at 0.5 m/s from 1 m to the side: they meet after 2 s
    t = ttc(np.array([20.0, 1.0]), np.array([0.0, -0.5]), np.zeros(2), np.array([10.0, 0.0]))
    assert t == pytest.approx(2.0)
    assert ttc(np.array([-5.0, 0.0]), np.zeros(2), np.zeros(2), np.array([10.0, 0.0])) is None


def test_a_config_builds_on_its_base(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(f"base: {ROOT / 'configs' / 'pedestrians.yaml'}\nscene:\n  camera:\n"
                     "    rigs: {dashcam: 1, cctv: 0, drone: 0}\n")  # fmt: skip
    cfg = load_config(child)
    assert cfg.scene.camera.rigs == {"dashcam": 1, "cctv": 0, "drone": 0}
    assert cfg.scene.people.count == (3, 20)  # from the base
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_config(loop)
    (tmp_path / "gone.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="no such config file: nowhere.yaml"):
        load_config(tmp_path / "gone.yaml")


def _actors(spec: SceneSpec) -> list[tuple[dict, object]]:  # type: ignore[type-arg]
    rows = spec.meta["scenario"]["actors"]
    return [(r, next(o for o in spec.objects if o.instance_id == r["instance_id"])) for r in rows]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_presets_place_actors_that_cross_ahead_of_the_dashcam(preset: Path) -> None:
    cfg = load_config(preset, SMALL)
    sc = cfg.scene.scenario
    n, fps = cfg.render.frames, cfg.render.fps
    assert sc is not None and n >= 16
    first, prev, last = (sample_scene(cfg, i) for i in (0, n - 2, n - 1))
    for spec in (first, prev, last):
        assert spec.meta["scenario"]["name"] == sc.name == preset.stem
        assert spec.meta["conditions"]["rig"] == "dashcam"
        if sc.time_of_day:
            assert spec.meta["conditions"]["time_of_day"] == sc.time_of_day
    eye = np.asarray(first.camera.poses[0])[:3, 3]
    actor = sc.actors[0]
    rows = [_actors(s) for s in (first, prev, last)]
    lo, hi = actor.count
    assert lo <= len(rows[0]) == len(rows[1]) == len(rows[2]) <= hi
    edge = float(first.objects[0].geometry.params["road_width"]) / 2
    for (row0, a0), (_, a1), (row2, a2) in zip(*rows, strict=True):
        y0, y2 = a0.location[1], a2.location[1]
        if actor.start == "parked_cars":
            assert edge - 2.0 < abs(y0) < edge
        else:
            assert abs(y0) > edge
        assert a0.location[0] > eye[0]  # ahead of the dashcam (it looks along +X here)
        assert row0["distance_m"] == pytest.approx(
            math.hypot(a0.location[0] - eye[0], a0.location[1] - eye[1]), abs=1e-3
        )
        eye2 = np.asarray(last.camera.poses[0])[:3, 3]
        assert row2["distance_m"] == pytest.approx(
            math.hypot(a2.location[0] - eye2[0], a2.location[1] - eye2[1]), abs=1e-3
        )
        assert "ttc_s" in row0 and row0["moving"] == (actor.trigger_m is None)
        assert row2["moving"]  # every preset's actor is on its way by the last frame
        assert abs(y2) < abs(y0) or np.sign(y2) != np.sign(y0)  # crossing to the other side
        speed = math.hypot(a2.location[0] - a1.location[0], y2 - a1.location[1]) * fps
        assert actor.speed_mps[0] - 1e-6 <= speed <= actor.speed_mps[1] + 1e-6
        assert abs(a2.location[0] - a0.location[0]) < 1e-6  # straight across the street
        if actor.age_group == "child":
            assert a0.info.age_years < 13


def test_a_triggered_actor_waits_for_the_camera() -> None:
    """child_runs_out: the child stands between the cars until the dashcam is 10 m
    away (along the street), then runs: still before, moving from the first frame
    the car is within 10 m plus one frame's drive."""
    cfg = load_config(ROOT / "configs" / "scenarios" / "child_runs_out.yaml", SMALL)
    trigger = cfg.scene.scenario.actors[0].trigger_m
    seen_moving = False
    start = None
    for i in range(cfg.render.frames):
        spec = sample_scene(cfg, i)
        ((row, child),) = _actors(spec)
        eye = np.asarray(spec.camera.poses[0])[:3, 3]
        gap = abs(child.location[0] - eye[0])
        start = child.location if start is None else start
        if not row["moving"]:
            assert not seen_moving and child.location == start
            assert child.info.activity.startswith("stand") and gap > trigger - 1e-6
        else:
            seen_moving = True
            assert child.info.activity.startswith("run") and gap <= trigger + 1e-6
    assert seen_moving


@pytest.mark.blender
def test_each_preset_renders_validates_and_exports_to_mot(tmp_path: Path) -> None:
    import motmetrics as mm

    for preset in PRESETS:
        out = tmp_path / preset.stem
        cfg = load_config(preset, ["render.resolution=[64, 48]", "render.samples=1",
                                   "render.denoiser=none", "render.frames=2", "num_scenes=2",
                                   "scene.people.count=[1, 2]", "scene.min_person_pixels=4",
                                   "annotation.min_pixels=4"])  # fmt: skip
        from render.driver import run_render

        run_render(cfg, out, progress=False)
        assert validate_dataset(out) == []
        doc = json.loads((out / "annotations.json").read_text())
        assert all(i["scenario"]["name"] == preset.stem for i in doc["images"])
        export(out, "mot", tmp_path / f"{preset.stem}_mot", fractions={"train": 1.0})
        (gt,) = (tmp_path / f"{preset.stem}_mot").glob("train/*/gt/gt.txt")
        frames = mm.io.loadtxt(str(gt), fmt="mot15-2D", min_confidence=1)
        assert len(frames) == sum(1 for a in doc["annotations"] if not a.get("iscrowd"))


def test_a_bus_stop_actor_starts_in_front_of_a_shelter() -> None:
    cfg = load_config(ROOT / "configs" / "scenarios" / "stepping_off_kerb.yaml", SMALL)
    assert cfg.scene.scenario.actors[0].start == "bus_stop"
    spec = sample_scene(cfg, 0)
    ((_, actor),) = _actors(spec)
    (shelter,) = [
        o for o in spec.objects if o.name.startswith("shelter_") and "_glass" not in o.name
    ]
    edge = float(spec.objects[0].geometry.params["road_width"]) / 2
    sx, sy = shelter.location[:2]
    assert abs(sx - actor.location[0]) < 1e-6  # right behind the actor, further from the road
    assert abs(sy) > abs(actor.location[1]) > edge and np.sign(sy) == np.sign(actor.location[1])
    glass = next(o for o in spec.objects if o.name == f"{shelter.name}_glass")
    assert glass.location == shelter.location


def test_the_training_preset_is_what_bench_learn_measured() -> None:
    """configs/pedestrians_train.yaml is configs/pedestrians.yaml with the two render
    keys of bench_learn.py's draft_320 setting, and nothing else (docs/training.md 4b
    measured exactly that)."""
    preset = load_config(ROOT / "configs" / "pedestrians_train.yaml")
    measured = load_config(ROOT / "configs" / "pedestrians.yaml",
                           ["render.quality=draft", "render.resolution=[320, 240]"])  # fmt: skip
    assert preset.model_dump() == measured.model_dump()
    assert (preset.render.resolution, preset.render.quality, preset.render.samples) == (
        (320, 240),
        "draft",
        8,
    )
    assert load_config(ROOT / "configs" / "pedestrians.yaml").render.resolution == (640, 480)
