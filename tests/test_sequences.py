"""Sequences (render.frames > 1): frames share a scene's choices and move time on
(people walk without sliding, the dashcam drives), track ids stay with their
instance (also across an occlusion), and the MOT export reads back in motmetrics
with ground truth scoring MOTA 1 and IDF1 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from render.config import load_config
from render.driver import run_render
from render.errors import ConfigError
from render.export import export
from render.formats import mot
from render.formats.validate import validate_dataset
from render.sampling import sample_scene
from render.sequence import frame_of
from render.spec import GeometrySpec, ObjectSpec, PersonInfo, SceneSpec
from tests.blender_helpers import cube_scene

ROOT = Path(__file__).resolve().parents[1]
PEDESTRIANS = ROOT / "configs" / "pedestrians.yaml"
GENERIC = ROOT / "configs" / "generic.yaml"


def test_scene_indices_are_frames_of_sequences() -> None:
    assert frame_of(1, 10.0, 7) is None
    f = frame_of(4, 8.0, 7)
    assert f is not None and (f.video, f.index, f.time_s) == (1, 3, 0.375)
    assert f.meta()["video_id"] == 1 and f.meta()["frame_index"] == 3


@pytest.mark.parametrize(
    ("config", "overrides", "message"),
    [
        (GENERIC, ["render.frames=4", "num_scenes=8"], "renders stills only"),
        (PEDESTRIANS, ["render.frames=4", "num_scenes=6"], "num_scenes: 6 is not a whole number"),
        (PEDESTRIANS, ["render.frames=4", "num_scenes=8", "render.views_per_scene=2"],
         "needs views_per_scene 1"),
        (PEDESTRIANS, ["render.flow=true"], "flow needs a sequence"),
    ],
)  # fmt: skip
def test_bad_sequence_configs_are_one_line_errors(
    config: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(config, overrides)
    assert "\n" not in str(err.value)


def _person(spec: SceneSpec, name: str) -> ObjectSpec:
    return next(o for o in spec.objects if o.name == name)


def test_frames_share_the_scene_and_move_time_on() -> None:
    n, fps = 30, 30.0
    cfg = load_config(
        PEDESTRIANS,
        ["render.resolution=[320, 240]", f"render.frames={n}", f"num_scenes={n}",
         f"render.fps={fps}", "scene.camera.rigs={dashcam: 1}", "scene.people.count=[5, 5]",
         "scene.people.activities={walk: 2, run: 1, stand: 1}"],
    )  # fmt: skip
    specs = [sample_scene(cfg, i) for i in range(n)]
    still = sample_scene(load_config(PEDESTRIANS, ["render.resolution=[320, 240]",
                         "scene.camera.rigs={dashcam: 1}", "scene.people.count=[5, 5]",
                         "scene.people.activities={walk: 2, run: 1, stand: 1}"]), 0)  # fmt: skip
    # frame 0 of sequence 0 is still scene 0 (but for street items on the dashcam's route)
    people0 = [o.model_dump() for o in specs[0].objects if isinstance(o.info, PersonInfo)]
    assert people0 == [o.model_dump() for o in still.objects if isinstance(o.info, PersonInfo)]
    assert specs[0].camera.poses == still.camera.poses and specs[0].lights == still.lights
    assert len({s.render.cycles_seed for s in specs}) == n  # sensor noise differs per frame
    eyes = np.array([np.asarray(s.camera.poses[0])[:3, 3] for s in specs])
    steps = np.diff(eyes, axis=0)
    assert (
        np.allclose(steps, steps[0], atol=1e-9) and 4 / fps <= np.linalg.norm(steps[0]) <= 14 / fps
    )
    for spec in specs:  # the dashcam's car never drives into a parked one
        eye = np.asarray(spec.camera.poses[0])[:2, 3]
        cars = [o for o in spec.objects if o.name.startswith("car_")]
        assert cars and all(np.hypot(*(np.asarray(o.location[:2]) - eye)) > 2.1 for o in cars)
    people = [o.name for o in specs[0].objects if isinstance(o.info, PersonInfo)]
    walkers = 0
    for name in people:
        track = [_person(s, name) for s in specs]
        assert all(o.info == track[0].info and o.instance_id == track[0].instance_id for o in track)
        activity = track[0].info.activity.split("/")[0]
        locs = np.array([o.location for o in track])
        if activity == "stand":
            assert np.allclose(locs, locs[0])
            continue
        walkers += 1
        step = np.linalg.norm(np.diff(locs, axis=0), axis=1)
        assert np.allclose(step, step[0]) and 0.5 / fps < step[0] < 6 / fps
        # feet do not slide: of the two ankles, the one on the ground moves far
        # less than the hips (a gait phase advancing at the wrong rate: ~0.5-1x)
        kps = np.array([o.keypoints.points for o in track])
        ankles = np.linalg.norm(np.diff(kps[:, [15, 16], :2], axis=0), axis=-1).min(axis=1)
        hips = np.linalg.norm(np.diff(kps[:, [11, 12], :2].mean(axis=1), axis=0), axis=-1)
        assert np.median(ankles) < 0.35 * hips.mean(), name
    assert walkers >= 2


def test_a_drifting_drone_stays_between_the_facades() -> None:
    """A drone drifts up to 1 m/s; over a long sequence that carried it from its
    place between the facades into a building (docs/pedestrians.md). Its drift
    across the street is now clipped so that its eye stays between them from the
    first frame to the last, and a drift that already did is kept as drawn."""
    from render.families.pedestrians import motion, setting
    from render.families.pedestrians.street import sample_street

    cfg = load_config(PEDESTRIANS, ["render.resolution=[320, 240]",
                                    "scene.camera.rigs={drone: 1}"])  # fmt: skip
    camera = cfg.scene.camera
    seconds, clipped = 30.0, 0
    for i in range(300):
        rng = np.random.default_rng(i)
        street = sample_street(cfg.scene.street, rng)
        shot = setting.sample_shot(camera, cfg.render, street, rng)
        limit = street.facade - setting.DRONE_MARGIN_M
        free = motion.camera_velocity(shot, camera, np.random.default_rng(1000 + i))
        v = motion.camera_velocity(shot, camera, np.random.default_rng(1000 + i), seconds, limit)
        eye = np.asarray(shot.camera.poses[0])[:3, 3]
        for t in (0.0, seconds / 2, seconds):
            assert abs(eye[1] + v[1] * t) <= limit + 1e-9, (i, eye, v, street.facade)
        assert v[0] == free[0] and v[2] == 0.0 and np.linalg.norm(v) <= camera.drone_drift_mps[1]
        if abs(eye[1] + free[1] * seconds) <= limit:
            assert np.array_equal(v, free)
        else:
            clipped += 1
    assert clipped > 0  # 30 s at up to 1 m/s does leave the street unclipped


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "render.cli", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )  # fmt: skip


def _scores(export_dir: Path, swap_in_frame: int | None = None) -> list[dict[str, Any]]:
    """Every exported sequence read by motmetrics' MOT reader and scored by its
    accumulator, with the ground truth as the tracker's output (``swap_in_frame``:
    the tracker swaps the first two ids in that frame). The IoU matrix comes from
    pycocotools: motmetrics 1.4.0's ``iou_matrix`` calls ``np.asfarray``, gone in
    numpy 2."""
    import motmetrics as mm
    from pycocotools import mask as mask_utils

    out = []
    for gt_file in sorted(export_dir.glob("*/*/gt/gt.txt")):
        gt = mm.io.loadtxt(str(gt_file), fmt="mot15-2D", min_confidence=1)
        acc = mm.MOTAccumulator(auto_id=False)
        for frame, rows in gt.groupby(level=0):
            ids = rows.index.get_level_values(1).to_numpy()
            hyp = ids.copy()
            if frame == swap_in_frame and len(hyp) > 1:
                hyp[[0, 1]] = hyp[[1, 0]]
            boxes = rows[["X", "Y", "Width", "Height"]].to_numpy(dtype=np.float64).tolist()
            dist = 1.0 - np.asarray(mask_utils.iou(boxes, boxes, [0] * len(boxes)), dtype=float)
            dist[dist > 0.5] = np.nan
            acc.update(ids, hyp, dist, frameid=frame)
        summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_objects"])
        out.append({k: float(summary[k].iloc[0]) for k in ("mota", "idf1", "num_objects")})
    return out


@pytest.mark.blender
def test_a_pedestrian_sequence_renders_tracks_and_exports_to_mot(tmp_path: Path) -> None:
    out, mot_dir = tmp_path / "seq", tmp_path / "mot"
    proc = _run_cli(
        "render", str(PEDESTRIANS), "--out", str(out), "-n", "6", "--resolution", "112x84",
        "--samples", "2", "--set", "render.denoiser=none", "--set", "render.frames=3",
        "--set", "scene.people.count=[5,5]", "--set", "scene.camera.rigs={cctv: 1}",
        "--set", "scene.min_person_pixels=8", "--set", "annotation.min_pixels=8",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert validate_dataset(out) == []
    doc = json.loads((out / "annotations.json").read_text())
    frames = {i["id"]: (i["video_id"], i["frame_index"]) for i in doc["images"]}
    assert sorted(frames.values()) == [(v, f) for v in range(2) for f in range(3)]
    names: dict[tuple[int, int], str] = {}
    for a in doc["annotations"]:  # a track id is one person of its sequence, in every frame
        key = (frames[a["image_id"]][0], a["track_id"])
        assert names.setdefault(key, a["instance_name"]) == a["instance_name"]
        assert a["instance_name"] == f"person_{a['track_id'] - 1}"
    assert len(names) >= 4
    proc = _run_cli("export", str(out), "--format", "mot", "--out", str(mot_dir), "--split",
                    "train=1.0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    seqs = sorted(mot_dir.glob("train/*/seqinfo.ini"))
    assert len(seqs) == 2
    info = seqs[0].read_text()
    assert "seqLength=3" in info and "imWidth=112" in info and "frameRate=10" in info
    assert len(list(seqs[0].parent.glob("img1/00000[1-3].png"))) == 3
    scores = _scores(mot_dir)
    assert sum(s["num_objects"] for s in scores) == len(doc["annotations"])
    assert all(s["mota"] == 1.0 and s["idf1"] == 1.0 for s in scores), scores


def _occlusion_specs() -> list[SceneSpec]:
    """A cube passing behind a wall (halfway between it and a still camera, facing
    the camera) as a 7-frame sequence, and a second cube that stays in view."""
    base, _, pose = cube_scene(size=0.3, location=(0.0, 0.0, 0.4), res=64, samples=1)
    eye, target = np.asarray(pose)[:3, 3], np.array([0.0, 0.0, 0.4])
    view = target - eye
    across = np.array([-view[1], view[0], 0.0]) / np.linalg.norm(view[:2])
    cube = base.objects[0]
    wall = ObjectSpec(
        name="wall", instance_id=0,
        geometry=GeometrySpec(kind="procedural", generator="box",
                              params={"size": [0.05, 0.45, 0.45]}, part="body"),
        location=(eye + 0.5 * view).tolist(),
        rotation_euler=[0.0, 0.0, float(np.arctan2(view[1], view[0]))], material=cube.material,
    )  # fmt: skip
    still = cube.model_copy(
        update={"name": "still", "instance_id": 2, "location": (target + 0.9 * across).tolist()}
    )
    specs = []
    for f in range(7):
        moving = cube.model_copy(update={"location": (target + (f - 3) * 0.2 * across).tolist()})
        meta = {"sequence": {"video_id": 0, "frame_index": f, "frames": 7, "fps": 10.0,
                             "time_s": f / 10}}  # fmt: skip
        specs.append(base.model_copy(update={
            "scene_index": f, "objects": [moving, wall, still], "meta": meta,
            "render": base.render.model_copy(update={"cycles_seed": f}),
        }))  # fmt: skip
    return specs


@pytest.mark.blender
def test_track_ids_survive_an_occlusion(tmp_path: Path) -> None:
    cfg = load_config(GENERIC, ["num_scenes=7", "render.views_per_scene=1",
                                "render.resolution=[64, 64]"])  # fmt: skip
    out = tmp_path / "occ"
    run_render(cfg, out, specs=_occlusion_specs(), progress=False)
    doc = json.loads((out / "annotations.json").read_text())
    frame = {i["id"]: i["frame_index"] for i in doc["images"]}
    seen: dict[int, list[int]] = {}
    for a in doc["annotations"]:
        seen.setdefault(a["track_id"], []).append(frame[a["image_id"]])
        assert a["track_id"] == a["scene_instance"]
    moving = sorted(seen[1])
    gaps = sorted(set(range(7)) - set(moving))
    assert moving[0] < gaps[0] <= gaps[-1] < moving[-1], seen  # hidden, then seen again
    assert sorted(seen[2]) == list(range(7))
    export(out, "mot", tmp_path / "mot", fractions={"train": 1.0})
    lines = (tmp_path / "mot" / "train" / "synthcv-0000" / "gt" / "gt.txt").read_text().split()
    ids = {(int(ln.split(",")[0]), int(ln.split(",")[1])) for ln in lines}
    assert {f for f, i in ids if i == 1} == {f + 1 for f in moving}  # MOT frames from 1
    (score,) = _scores(tmp_path / "mot")
    assert score["mota"] == 1.0 and score["idf1"] == 1.0
    (swapped,) = _scores(tmp_path / "mot", swap_in_frame=1)  # the scorer can tell
    assert swapped["mota"] < 1.0 and swapped["idf1"] < 1.0


def test_mot_refuses_a_dataset_without_sequences() -> None:
    with pytest.raises(ValueError, match="not a sequence dataset"):
        mot.sequences([{"id": 1, "file_name": "a.png"}])
    frames = [{"id": k, "video_id": 0, "frame_index": k} for k in (0, 2)]
    with pytest.raises(ValueError, match="frame 1 is missing"):
        mot.sequences(frames)


@pytest.mark.blender
def test_a_driving_camera_blurs_the_image_not_the_masks(tmp_path: Path) -> None:
    """Motion blur follows the camera's own motion (a driving dashcam): moving
    sideways during a half-frame shutter smears the cube's vertical edges, and the
    masks, rendered through the pinhole at the middle of the exposure, equal the
    still camera's."""
    from tests.blender_helpers import render_specs

    spec, _, pose = cube_scene(size=0.5, location=(0.0, 0.0, 0.4), res=64, samples=16)
    blur = spec.camera.model_copy(update={"motion_blur": 0.5})
    right = np.asarray(pose)[:3, 0]
    still = spec.model_copy(update={"camera": blur})
    driving = spec.model_copy(
        update={"camera": blur.model_copy(update={"velocity": (0.6 * right).tolist()})}
    )
    data = render_specs([still, driving], tmp_path)
    assert np.array_equal(data["instance_0_0"], data["instance_1_0"])
    assert np.array_equal(data["depth_0_0"], data["depth_1_0"])

    def edges(rgb: np.ndarray) -> float:
        grey = rgb.astype(float).mean(axis=2)
        return float((np.diff(grey, axis=1) ** 2).sum())  # a smeared step spreads thin

    assert edges(data["rgb_1_0"]) < 0.6 * edges(data["rgb_0_0"])
