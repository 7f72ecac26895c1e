"""Pedestrians family, pure tier (anny on the CPU, no Blender): bodies, poses,
clothing, sampling, placement, keypoints, and no network."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from render.config import load_config, validate_config
from render.errors import ConfigError
from render.families import build_geometry
from render.families.pedestrians import appearance, body, people, pose, regions, setting
from render.families.pedestrians.config import AGE_YEARS, PeopleConfig
from render.families.pedestrians.street import street_parts
from render.geometry.rotations import euler_xyz_to_matrix
from render.keypoints import COCO_KEYPOINTS
from render.sampling import sample_scene
from render.spec import PersonInfo, SceneSpec

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "pedestrians.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG, ["render.resolution=[320, 240]", "scene.people.count=[2, 8]"])


@pytest.fixture(scope="module")
def model():
    return body.load_model()


def _people(spec: SceneSpec) -> list[Any]:
    return [o for o in spec.objects if isinstance(o.info, PersonInfo)]


def _world_vertices(spec: SceneSpec, o: Any) -> np.ndarray:
    mesh = build_geometry(o.geometry.generator, o.geometry.params)[o.geometry.part]
    return mesh.vertices @ euler_xyz_to_matrix(o.rotation_euler).T + np.asarray(o.location)


def test_no_network_and_no_smpl(monkeypatch, cfg) -> None:
    """Sampling and building people never opens a socket nor asks anny for its
    non-commercial (SMPL) data."""
    import anny.paths

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(anny.paths, "download_noncommercial_data", refuse)
    body.load_model.cache_clear()
    spec = sample_scene(cfg, 5)
    persons = _people(spec)
    assert persons
    parts = build_geometry("people", persons[0].geometry.params)
    assert len(parts) == len(persons)
    assert body.TOPOLOGY == "anny-full"
    assert not any(name.startswith("smplx") or name == "smplpytorch" for name in sys.modules)


def test_same_seed_same_bodies(cfg) -> None:
    a, b = sample_scene(cfg, 2), sample_scene(cfg, 2)
    assert a.model_dump_json() == b.model_dump_json()
    params = _people(a)[0].geometry.params
    v1 = people._people_parts.__wrapped__(  # type: ignore[attr-defined]
        __import__("json").dumps(params, sort_keys=True)
    )
    v2 = people.people_parts(params)
    for name in v1:
        np.testing.assert_array_equal(v1[name].vertices, v2[name].vertices)
    assert sample_scene(cfg, 3).model_dump_json() != a.model_dump_json()


def _random_people(n: int, seed: int) -> list[people.Person]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        activity = ("walk", "run", "stand", "sit")[i % 4]
        arms = pose.ARM_ACTIONS[activity][i // 4 % len(pose.ARM_ACTIONS[activity])]
        values, _ = appearance.sample_phenotype(PeopleConfig(), rng)
        if i % 5 == 0:  # heavy bodies are the hard case for arms
            values["weight"], values["muscle"] = 1.0, float(rng.random())
        out.append(
            people.Person(
                phenotype=tuple(
                    values[k]
                    for k in ("gender", "age", "muscle", "weight", "height", "proportions")
                ),
                pose=pose.PoseParams(activity=activity, arms=arms, phase=float(rng.random())),
                outfit=regions.Outfit(),
            )
        )
    return out


def test_arms_stay_out_of_the_torso(model) -> None:
    """Across activities, arm actions and builds, no arm sinks into the torso by more
    than the tolerance (soft tissue pressed, never crossed)."""
    final, _, bodies, _ = people.pose_people(_random_people(32, 7), model=model)
    depth = people.penetrations(model, bodies)
    assert depth.max() <= people.PENETRATION_TOLERANCE + 0.005, depth.max()
    # the check is real: unwidened crossed arms on a heavy body do sink in
    heavy = people.Person(
        phenotype=(0.0, 0.83, 0.3, 1.0, 0.5, 0.5),
        pose=pose.PoseParams(activity="stand", arms="crossed"),
    )
    _, _, raw, _ = people.pose_people([heavy], max_rounds=1, model=model)
    assert people.penetrations(model, raw).max() > people.PENETRATION_TOLERANCE


def test_phenotypes_follow_age(model) -> None:
    rng = np.random.default_rng(0)
    kids = PeopleConfig(age_groups={"child": 1.0})
    adults = PeopleConfig(age_groups={"adult": 1.0})
    k_years = [appearance.sample_phenotype(kids, rng)[1] for _ in range(20)]
    assert all(AGE_YEARS["child"][0] <= y <= AGE_YEARS["child"][1] for y in k_years)
    heights = {}
    for name, c in (("kids", kids), ("adults", adults)):
        values = [appearance.sample_phenotype(c, rng)[0] for _ in range(12)]
        pheno = np.array([[v[k] for k in model.phenotypes] for v in values])
        bodies = model.forward(pheno, np.zeros((len(pheno), len(model.bones), 3)))
        heights[name] = np.ptp(bodies.vertices[..., 2], axis=1)
    assert heights["kids"].max() < heights["adults"].min() + 0.1
    assert 1.45 < np.median(heights["adults"]) < 1.95 and 0.9 < np.median(heights["kids"]) < 1.6


def test_skin_tones_span_the_monk_scale() -> None:
    light, dark = appearance.skin_color(0.0), appearance.skin_color(1.0)
    assert min(light) > 0.7 and max(dark) < 0.03
    lum = [np.mean(appearance.skin_color(t)) for t in np.linspace(0, 1, 10)]
    assert all(a > b for a, b in zip(lum, lum[1:], strict=False))


def test_keypoints_are_coco_and_follow_the_body(cfg) -> None:
    spec = sample_scene(cfg, 1)
    for o in _people(spec):
        kp = np.asarray(o.keypoints.points)
        assert kp.shape == (17, 3) and len(o.keypoints.radius) == 17
        v = _world_vertices(spec, o)
        lo, hi = v.min(axis=0) - 0.02, v.max(axis=0) + 0.02
        assert ((kp >= lo) & (kp <= hi)).all(), o.name
        # in the body frame a person's left is +X: left joints have larger x than right ones
        local = (kp - np.asarray(o.location)) @ euler_xyz_to_matrix(o.rotation_euler)
        for k in range(1, 17, 2):
            assert COCO_KEYPOINTS[k].startswith("left") and COCO_KEYPOINTS[k + 1].startswith(
                "right"
            )
        assert local[5, 0] > local[6, 0] and local[11, 0] > local[12, 0]  # shoulders, hips


def test_people_stand_on_the_ground_apart_from_each_other(cfg) -> None:
    for index in (0, 4):
        spec = sample_scene(cfg, index)
        street = next(o for o in spec.objects if o.name == "sidewalks")
        curb = float(street.geometry.params["curb_height"])
        edge = float(street.geometry.params["road_width"]) / 2
        meshes = {o.name: _world_vertices(spec, o) for o in _people(spec)}
        for o in _people(spec):
            v = meshes[o.name]
            if o.info.activity.startswith("sit"):
                continue
            ground = curb if abs(o.location[1]) > edge else 0.0
            assert v[:, 2].min() == pytest.approx(ground, abs=1e-6)
        names = sorted(meshes)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                ca, cb = meshes[a][:, :2], meshes[b][:, :2]
                ra = np.linalg.norm(ca - np.asarray([_loc(spec, a)]), axis=1).max()
                rb = np.linalg.norm(cb - np.asarray([_loc(spec, b)]), axis=1).max()
                assert np.linalg.norm(_loc(spec, a) - _loc(spec, b)) >= ra + rb


def _loc(spec: SceneSpec, name: str) -> np.ndarray:
    return np.asarray(next(o for o in spec.objects if o.name == name).location[:2])


def test_clothing_regions(model) -> None:
    pheno = np.array([[0.0, 0.83, 0.5, 0.5, 0.5, 0.5]])
    bodies = model.forward(pheno, np.zeros((1, len(model.bones), 3)))
    parts = regions.vertex_parts(model.bones, model.dominant_bone)
    rest, kp = bodies.rest_vertices[0], bodies.rest_keypoints[0]
    centre_z = rest[model.faces].mean(axis=1)[:, 2]
    knee_z, ankle_z = kp[13:15, 2].mean(), kp[15:17, 2].mean()
    trousers = regions.face_slots(model.faces, parts, rest, kp, regions.Outfit(bottom="trousers"))
    shorts = regions.face_slots(model.faces, parts, rest, kp, regions.Outfit(bottom="shorts"))
    shin = (centre_z < knee_z - 0.05) & (centre_z > ankle_z + 0.06)
    shin &= (parts[model.faces] == regions.PART_NAMES.index("leg")).all(axis=1)
    assert shin.sum() > 200
    assert (trousers[shin] == regions.BOTTOM).all()
    assert (shorts[shin] == regions.SKIN).all()
    bald = regions.face_slots(model.faces, parts, rest, kp, regions.Outfit(hair="bald"))
    assert not (bald == regions.HAIR).any() and (trousers == regions.HAIR).sum() > 500
    skirt, slots = regions.shell_faces(
        model.helper_faces, rest, kp, regions.Outfit(bottom="skirt", skirt_length=1.0)
    )
    mini, _ = regions.shell_faces(
        model.helper_faces, rest, kp, regions.Outfit(bottom="skirt", skirt_length=0.0)
    )
    assert len(mini) < len(skirt) and (slots == regions.BOTTOM).all()


def test_config_needs_coco_keypoints_on_the_person_category() -> None:
    import yaml

    data = yaml.safe_load(CONFIG.read_text())
    data["categories"] = [{"id": 1, "name": "person"}]
    with pytest.raises(ConfigError, match="'person' needs keypoints"):
        validate_config(data)
    data = yaml.safe_load(CONFIG.read_text())
    data["camera"] = {"distance": 3}
    with pytest.raises(ConfigError, match="camera: this section moved under scene"):
        validate_config(data)


def test_street_generator_parts() -> None:
    parts = street_parts(
        {
            "length": 40.0,
            "road_width": 8.0,
            "sidewalk_width": 3.0,
            "curb_height": 0.12,
            "crossing": [0.0, 4.0],
        }
    )
    assert set(parts) == {"road", "sidewalks", "markings"}
    side = parts["sidewalks"].vertices
    assert side[:, 2].max() == pytest.approx(0.12) and np.abs(side[:, 1]).min() == pytest.approx(
        4.0
    )
    assert parts["markings"].vertices[:, 2].max() == pytest.approx(0.003)


@pytest.mark.parametrize(
    "people",
    [
        {},  # the preset's weights
        {"age_groups": {"child": 1, "teen": 1, "adult": 1, "senior": 1}, "female_share": 0.3,
         "monk_steps": dict.fromkeys(range(1, 11), 1.0),
         "builds": {"slim": 1, "average": 2, "heavy": 1},
         "activities": {"walk": 1, "stand": 1, "run": 0, "sit": 0}},
    ],
)  # fmt: skip
def test_1000_sampled_people_meet_the_coverage_targets(people: dict[str, Any]) -> None:
    """Draw 1,000 people as the sampler does (no rendering) and check each attribute's
    group shares against the coverage targets (within 4 binomial sigmas)."""
    from render.families.pedestrians.coverage import targets, within
    from render.families.pedestrians.drafting import draw_people
    from render.groups import activity, age_group, build_group, monk, sex_group
    from render.report.coverage import ATTRIBUTES

    cfg = load_config(CONFIG, [f"scene.people.{k}={v!r}".replace("'", '"') for k, v in
                               {k: v for k, v in people.items()}.items()])  # fmt: skip
    scene = cfg.scene.model_dump(mode="json")
    goal = targets(scene)
    n = 1000
    drawn = draw_people(cfg.scene, n, np.random.default_rng(7))
    of = {"age": age_group, "sex": sex_group, "Monk step": monk, "build": build_group,
          "activity": activity}  # fmt: skip
    assert set(of) | {"occlusion"} == set(ATTRIBUTES)
    checked = 0
    for name, group_of in of.items():
        if goal[name] is None:
            continue
        counts: dict[str, int] = {}
        for attrs in drawn:
            g = group_of(attrs)
            counts[g] = counts.get(g, 0) + 1
        shares = {g: c / n for g, c in counts.items()}
        assert not within(shares, goal[name], n), (name, within(shares, goal[name], n))
        checked += 1
    assert checked == (4 if not people else 5)
    if people:  # uniform over the 10 Monk steps, where a uniform tone gives the ends half
        assert goal["Monk step"]["Monk 1"] == pytest.approx(0.1)
    else:
        assert goal["Monk step"]["Monk 1"] == pytest.approx(1 / 18)


def test_a_drone_stays_between_the_facades(cfg) -> None:
    """A drone placed behind a facade hung inside a building: its frame came out
    black, every person with 0 visible pixels (9 of 60 drone test images). Now its
    eye stays between the facades, as far back from the same ground point (the tilt
    unchanged), and a yaw that already kept it there is kept."""
    from render.families.pedestrians.street import sample_street

    camera = cfg.scene.camera.model_copy(update={"rigs": {"dashcam": 0, "cctv": 0, "drone": 1}})
    moved = 0
    for i in range(400):
        rng = np.random.default_rng(i)
        street = sample_street(cfg.scene.street, rng)
        shot = setting.sample_shot(camera, cfg.render, street, rng)
        eye = np.asarray(shot.camera.poses[0])[:3, 3]
        assert abs(eye[1]) <= street.facade - setting.DRONE_MARGIN_M + 1e-9, (i, eye, street.facade)
        view = np.asarray(shot.camera.poses[0])[:3, 2]  # OpenCV: +Z looks ahead
        ground = eye - eye[2] / view[2] * view
        assert np.allclose(ground[:2], shot.focus, atol=1e-6)
        tilt = np.degrees(np.arctan2(eye[2], np.linalg.norm(eye[:2] - ground[:2])))
        assert (
            cfg.scene.camera.drone_tilt_deg[0] - 1e-6
            <= tilt
            <= cfg.scene.camera.drone_tilt_deg[1] + 1e-6
        )
    for yaw in np.linspace(-3.1, 3.1, 63):  # 4 m back from y = 0 between facades 9 m out
        assert setting._yaw_over_the_street(float(yaw), 0.0, 4.0, 8.0) == yaw
        fixed = setting._yaw_over_the_street(float(yaw), 7.0, 20.0, 8.0)
        assert -8.0 - 1e-9 <= 7.0 - 20.0 * np.sin(fixed) <= 8.0 + 1e-9
        assert np.sign(np.cos(fixed)) == np.sign(np.cos(yaw)) or abs(np.cos(yaw)) < 1e-9
        moved += fixed != yaw
    assert moved > 0
