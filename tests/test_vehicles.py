"""Cyclists, wheelchair users and people pushing strollers (riding.py,
vehicles.py): the feet go round the crank circle, the bike and chair stand on the
ground under their rider, the categories and ids are right, and the pedals turn at
the gear's rate in a sequence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from render.config import load_config
from render.families.pedestrians import people as ppl
from render.families.pedestrians.body import load_model
from render.families.pedestrians.gait import stride_length
from render.families.pedestrians.motion import advance
from render.families.pedestrians.pose import PoseParams
from render.families.pedestrians.riding import (
    ANKLE_ABOVE_PEDAL,
    crank,
    metres_per_revolution,
    pedal,
)
from render.families.pedestrians.vehicles import vehicle_parts
from render.geometry.rotations import rot_z
from render.sampling import sample_scene

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "configs" / "scenarios"
SMALL = ["render.resolution=[320, 240]", "scene.people.count=[1, 2]"]
ADULT = (0.5, 0.5, 0.5, 0.5, 0.5, 0.5)


def test_a_cyclists_feet_go_round_the_crank_circle() -> None:
    model = load_model()
    phases = np.linspace(0.0, 1.0, 8, endpoint=False)
    people = [
        ppl.Person(
            phenotype=ADULT, pose=PoseParams(activity="cycle", arms="handlebar", phase=float(f))
        )
        for f in phases
    ]
    posed, _, bodies, _ = ppl.pose_people(people, model=model)
    bones = model.bones
    for k, f in enumerate(phases):
        heads = {b: bodies.bone_poses[k][bones.index(b), :3, 3] for b in bones}
        bb, rc = crank(heads)
        assert 0.14 < rc < 0.2
        for side, offset in (("L", 0.0), ("R", math.pi)):
            want = pedal(bb, rc, 2 * math.pi * f + offset) + [0, 0, ANKLE_ABOVE_PEDAL]
            got = heads[f"foot.{side}"]
            assert np.hypot(got[1] - want[1], got[2] - want[2]) < 0.02, (f, side)
        # hands forward of and below the (leaning) shoulders, well ahead of the hips
        for side in ("L", "R"):
            wrist, shoulder = heads[f"wrist.{side}"], heads[f"upperarm01.{side}"]
            assert wrist[1] < shoulder[1] - 0.15 and wrist[2] < shoulder[2] - 0.1
            assert wrist[1] < heads[f"upperleg01.{side}"][1] - 0.35
        assert posed[k].pose.arms == "handlebar"


def _world(o) -> np.ndarray:  # type: ignore[no-untyped-def]
    mesh = vehicle_parts(o.geometry.params)["body"]
    return mesh.vertices @ rot_z(o.rotation_euler[2]).T + np.asarray(o.location)


@pytest.mark.parametrize(
    ("preset", "kind", "rider"),
    [("cyclist_crossing", "bicycle", "rider"), ("wheelchair_crossing", "wheelchair", "person"),
     ("stroller_crossing", "stroller", "person")],
)  # fmt: skip
def test_vehicles_stand_on_the_ground_under_their_people(
    preset: str, kind: str, rider: str
) -> None:
    cfg = load_config(SCENARIOS / f"{preset}.yaml", SMALL)
    names = {c.id: c.name for c in cfg.categories}
    assert cfg.scene.category_names() == ["person", *(["rider"] if kind == "bicycle" else []), kind]
    spec = sample_scene(cfg, 0)
    (veh,) = [o for o in spec.objects if o.geometry.generator == "vehicle"]
    person = next(o for o in spec.objects if o.name == veh.name.rsplit("_", 1)[0])
    assert names[veh.category_id] == kind and names[person.category_id] == rider
    ids = [o.instance_id for o in spec.objects if o.instance_id]
    assert len(ids) == len(set(ids)) and veh.instance_id == max(ids)
    ground = veh.location[2]
    v = _world(veh)
    assert v[:, 2].min() == pytest.approx(ground, abs=0.01)  # wheels on the ground
    assert np.hypot(*(np.asarray(veh.location[:2]) - person.location[:2])) < 1e-9
    kp = np.asarray(person.keypoints.points)
    if kind == "bicycle":  # hips above the saddle, ankles near the pedals, not the ground
        hips = kp[11:13].mean(axis=0)
        assert hips[2] > v[:, 2].max() - 0.35 and kp[15:17, 2].min() > ground + 0.05
        assert person.info.activity == "cycle/handlebar"
    elif kind == "wheelchair":  # seated: hips about seat height up, knees forward
        assert 0.4 < kp[11:13, 2].mean() - ground < 0.75
        assert person.info.activity == "wheelchair/rims"
    else:  # walking behind the stroller, the feet on the ground
        assert kp[15:17, 2].min() - ground < 0.15 and person.info.activity == "walk/push"


def test_a_walking_actor_stands_on_the_ground() -> None:
    """Actors used to be placed with the body's origin (its pelvis) on the ground."""
    cfg = load_config(SCENARIOS / "stepping_off_kerb.yaml", SMALL)
    spec = sample_scene(cfg, 0)
    iid = spec.meta["scenario"]["actors"][0]["instance_id"]
    actor = next(o for o in spec.objects if o.instance_id == iid)
    ankles = np.asarray(actor.keypoints.points)[15:17, 2]
    assert 0.0 < ankles.min() < 0.35  # ankles a few cm above a road or sidewalk (was ~ -0.8)


def test_pedals_turn_at_the_gears_rate() -> None:
    assert stride_length("cycle", 5.0, 1.75) == pytest.approx(metres_per_revolution(1.75))
    assert 5.0 < metres_per_revolution(1.75) < 6.0  # 700c wheel, 2.6 turns per crank turn
    p = PoseParams(activity="cycle", arms="handlebar", phase=0.1, speed=5.5)
    later = advance(p, 0.25, 1.75)
    assert later.phase == pytest.approx((0.1 + 0.25 * 5.5 / metres_per_revolution(1.75)) % 1.0)
    assert stride_length("wheelchair", 1.0, 1.75) == 0.0


def test_a_crossing_cyclist_rides_down_off_the_kerb() -> None:
    """Over a sequence the bike leaves the sidewalk (curb height) for the road (0):
    it and its rider follow the ground instead of floating on at curb height."""
    cfg = load_config(SCENARIOS / "cyclist_crossing.yaml", SMALL)
    heights, lifts = set(), set()
    for i in range(cfg.render.frames):
        spec = sample_scene(cfg, i)
        street = spec.objects[0].geometry.params
        edge, curb = street["road_width"] / 2, street["curb_height"]
        (veh,) = [o for o in spec.objects if o.geometry.generator == "vehicle"]
        rider = next(o for o in spec.objects if o.name == veh.name.rsplit("_", 1)[0])
        ground = curb if abs(veh.location[1]) > edge else 0.0
        assert veh.location[2] == pytest.approx(ground, abs=1e-9), i
        lifts.add(round(rider.location[2] - veh.location[2], 6))  # the rider stays seated
        heights.add(round(ground, 6))
    assert heights == {0.0, round(curb, 6)}  # it did step down
    assert len(lifts) == 1 and lifts.pop() > 0.5
