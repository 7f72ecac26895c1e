"""Pure tests of render.sampling and render.families.{common,generic} (no Blender)."""

from __future__ import annotations

import math
import random  # noqa: TID251 - only to check that sampling leaves the global state alone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render import camera as cam_math
from render.config import Config, load_config, validate_config
from render.errors import UserError
from render.families import common
from render.families.generic import sampler as generic
from render.families.generic.config import CameraConfig, LightsConfig, MaterialConfig
from render.families.generic.sampler import place_without_overlap, sample_generic
from render.geometry import rotations
from render.sampling import sample_scene
from render.settings import RenderConfig
from render.spec import SceneSpec

ROOT = Path(__file__).resolve().parents[1]


def make_cfg(**scene: Any) -> Config:
    data: dict[str, Any] = {
        "seed": 11,
        "render": {"resolution": [320, 240], "views_per_scene": 3},
        "categories": [{"id": 1, "name": "box"}, {"id": 7, "name": "ball"}],
        "scene": {
            "family": "generic",
            "objects": [2, 9],
            "shapes": [
                {"category": "box", "primitive": "CUBE", "size": [0.1, 0.3]},
                {"category": "ball", "primitive": "SPHERE", "size": [0.2, 0.2], "weight": 2},
            ],
            **scene,
        },
    }
    return validate_config(data)


CFG = make_cfg()
CFG_PHYSICS = make_cfg(placement="physics")


def test_same_index_gives_identical_json() -> None:
    a = sample_scene(CFG, 3).model_dump_json()
    b = sample_scene(make_cfg(), 3).model_dump_json()
    assert a == b


def test_different_index_or_seed_differs() -> None:
    assert sample_scene(CFG, 3).model_dump_json() != sample_scene(CFG, 4).model_dump_json()
    other = CFG.model_copy(update={"seed": 12})
    a, b = sample_scene(CFG, 3), sample_scene(other, 3)
    assert a.objects[1].location != b.objects[1].location
    assert a.render.cycles_seed != b.render.cycles_seed


def test_independent_of_order() -> None:
    alone = sample_scene(CFG, 5).model_dump_json()
    in_order = [sample_scene(CFG, i).model_dump_json() for i in range(6)]
    reversed_ = [sample_scene(CFG, i).model_dump_json() for i in reversed(range(6))]
    assert in_order[5] == alone == reversed_[0]


def test_json_round_trip() -> None:
    spec = sample_scene(CFG, 2)
    again = SceneSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert again.model_dump_json() == spec.model_dump_json()


def test_no_global_rng_use() -> None:
    np.random.seed(1234)  # noqa: NPY002, TID251 - set a known global state to compare against
    np_state = np.random.get_state()  # noqa: NPY002
    py_state = random.getstate()
    for i in range(3):
        sample_scene(CFG, i)
    after = np.random.get_state()  # noqa: NPY002
    assert all(np.array_equal(x, y) for x, y in zip(np_state, after, strict=True))
    assert random.getstate() == py_state


def test_stages_are_separate_streams() -> None:
    """Changing the object count must not move the camera or lights (named streams)."""
    few = sample_scene(make_cfg(objects=[1, 1]), 0)
    many = sample_scene(make_cfg(objects=[8, 8]), 0)
    assert few.camera.K == many.camera.K
    assert [lt.energy for lt in few.lights] == [lt.energy for lt in many.lights]
    assert few.world == many.world


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**40), index=st.integers(0, 10_000))
def test_ranges_respected(seed: int, index: int) -> None:
    cfg = CFG_PHYSICS.model_copy(update={"seed": seed})
    spec = sample_scene(cfg, index)
    assert spec.scene_index == index and spec.seed == seed and spec.family == "generic"
    assert spec.physics is True
    ground, objs = spec.objects[0], spec.objects[1:]
    assert ground.instance_id == 0 and ground.geometry.primitive == "PLANE"
    assert ground.geometry.size == cfg.scene.ground.size and ground.physics == "passive"
    assert 2 <= len(objs) <= 9
    assert [o.instance_id for o in objs] == list(range(1, len(objs) + 1))
    assert len({o.name for o in spec.objects}) == len(spec.objects)
    for o in objs:
        assert o.physics == "active" and o.rest is None
        assert o.category_id in (1, 7)
        size = o.geometry.size
        assert size is not None
        if o.geometry.primitive == "CUBE":
            assert o.category_id == 1 and 0.1 <= size <= 0.3
            assert o.name.startswith("cube_")
        else:
            assert o.geometry.primitive == "SPHERE" and o.category_id == 7 and size == 0.2
        r = size * math.sqrt(3) / 2
        assert math.hypot(o.location[0], o.location[1]) <= cfg.scene.spread + 1e-9
        assert o.location[2] >= cfg.scene.drop_height[0] + r - 1e-9
        assert all(0.0 <= c <= 1.0 for c in o.material.base_color)
        assert 0.0 <= o.material.metallic <= 1.0
    # start positions never interpenetrate (bounding spheres)
    for i, a in enumerate(objs):
        for b in objs[:i]:
            ra = a.geometry.size * math.sqrt(3) / 2  # type: ignore[operator]
            rb = b.geometry.size * math.sqrt(3) / 2  # type: ignore[operator]
            assert np.linalg.norm(np.subtract(a.location, b.location)) >= ra + rb - 1e-9
    cam = spec.camera
    assert (cam.width, cam.height) == (320, 240) and len(cam.poses) == 3
    f = np.asarray(cam.K)[0, 0]
    lo, hi = (
        fl / cfg.scene.camera.sensor_width_mm * 320 for fl in cfg.scene.camera.focal_length_mm
    )
    assert lo - 1e-9 <= f <= hi + 1e-9
    assert np.asarray(cam.K)[0, 2] == 160 and np.asarray(cam.K)[1, 2] == 120
    target = np.asarray(spec.meta["target"])
    for pose in cam.poses:
        p = np.asarray(pose)
        assert np.allclose(p[:3, :3] @ p[:3, :3].T, np.eye(3), atol=1e-9)
        assert np.isclose(np.linalg.det(p[:3, :3]), 1.0)
        d = np.linalg.norm(p[:3, 3] - target)
        jitter = cfg.scene.camera.look_at_jitter * math.sqrt(3)
        assert (
            cfg.scene.camera.distance[0] - jitter - 1e-9
            <= d
            <= cfg.scene.camera.distance[1] + jitter
        )
        # the target projects near the image centre
        uv, z = cam_math.project(target[None], np.asarray(cam.K), p)
        assert z[0] > 0
    assert cfg.scene.lights.count[0] <= len(spec.lights) <= cfg.scene.lights.count[1]
    assert 0 <= spec.render.cycles_seed < 2**31 - 1


def test_physics_off_and_mesh_shapes(tmp_path: Path) -> None:
    cfg = load_config(
        ROOT / "configs" / "generic.yaml",
        ["scene.placement=float", "scene.objects=[12,12]"],
    )
    meshes = 0
    for i in range(4):
        spec = sample_scene(cfg, i)
        assert spec.physics is False
        assert {o.physics for o in spec.objects} == {"none"}
        for o in spec.annotated():
            if o.geometry.kind == "mesh_file":
                meshes += 1
                assert o.geometry.path is not None and Path(o.geometry.path).is_absolute()
                assert Path(o.geometry.path).is_file()
                assert o.geometry.unit_scale == 1.0 and o.geometry.up_axis == "Z"
                assert o.name.split("_")[0] in ("torus", "bottle")
    assert meshes > 0


def test_shape_weights() -> None:
    cfg = make_cfg(
        objects=[5, 5],
        shapes=[
            {"category": "box", "primitive": "CUBE", "weight": 1e-12},
            {"category": "ball", "primitive": "SPHERE"},
        ],
    )
    prims = {o.geometry.primitive for i in range(30) for o in sample_scene(cfg, i).annotated()}
    assert prims == {"SPHERE"}


def _with_family(family: str) -> Config:
    # model_copy does not validate: enough to test the dispatch on `scene.family`
    return CFG.model_copy(update={"scene": SimpleNamespace(family=family)})


def test_sample_generic_rejects_other_family() -> None:
    cfg = _with_family("defects")
    with pytest.raises(TypeError, match="defects"):
        sample_generic(cfg, 0)


def test_unknown_family() -> None:
    with pytest.raises(UserError, match="unknown family 'people'"):
        sample_scene(_with_family("people"), 0)


def test_defects_dispatch() -> None:
    real = load_config(ROOT / "configs" / "defects.yaml")
    a, b = sample_scene(real, 1), sample_scene(real, 1)
    assert a.family == "defects" and a.scene_index == 1
    assert a.model_dump_json() == b.model_dump_json()


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_bad_scene_index(bad: Any) -> None:
    with pytest.raises(ValueError, match="scene_index"):
        sample_scene(CFG, bad)


# --------------------------------------------------------------------------- common helpers


def test_kelvin_to_rgb() -> None:
    for k in (1000, 2700, 5000, 6500, 9000, 40000, 60000):
        rgb = common.kelvin_to_rgb(k)
        assert max(rgb) == pytest.approx(1.0) and min(rgb) >= 0.0
    warm, white, cold = (common.kelvin_to_rgb(k) for k in (2700, 6600, 12000))
    assert warm[0] == 1.0 and warm[2] < 0.5  # reddish
    assert min(white) > 0.9  # near white at ~6600 K
    assert cold[2] == 1.0 and cold[0] < 0.9  # bluish
    blues = [common.kelvin_to_rgb(k)[2] for k in range(2000, 6601, 200)]
    assert blues == sorted(blues)
    with pytest.raises(ValueError, match="kelvin"):
        common.kelvin_to_rgb(-5)


@settings(max_examples=100, deadline=None)
@given(
    loc=st.tuples(*[st.floats(-10, 10, allow_nan=False)] * 3),
    tgt=st.tuples(*[st.floats(-10, 10, allow_nan=False)] * 3),
)
def test_aim_neg_z_points_at_target(
    loc: tuple[float, float, float], tgt: tuple[float, float, float]
) -> None:
    d = np.subtract(tgt, loc)
    if np.linalg.norm(d) < 1e-3:
        return
    r = rotations.euler_xyz_to_matrix(rotations.aim_neg_z(np.array(loc), np.array(tgt)))
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.allclose(r @ [0, 0, -1], d / np.linalg.norm(d), atol=1e-7)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_euler_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    e = rotations.random_rotation_euler(rng)
    r = rotations.euler_xyz_to_matrix(e)
    assert np.allclose(
        rotations.euler_xyz_to_matrix(rotations.matrix_to_euler_xyz(r)), r, atol=1e-9
    )


def test_euler_matches_scipy_convention() -> None:
    """Blender's 'XYZ' Euler is scipy's extrinsic 'xyz' (R = Rz Ry Rx)."""
    from scipy.spatial.transform import Rotation

    e = [0.3, -1.1, 2.0]
    assert np.allclose(
        rotations.euler_xyz_to_matrix(e), Rotation.from_euler("xyz", e).as_matrix(), atol=1e-12
    )


def test_sample_lights() -> None:
    cfg = LightsConfig(count=(3, 3), types=["SUN", "SPOT"], distance=(2, 3))
    target = np.array([0.1, -0.2, 0.15])
    lights = generic.sample_lights(cfg, np.random.default_rng(0), target)
    assert len(lights) == 3
    for light in lights:
        loc = np.asarray(light.location)
        assert 2 - 1e-9 <= np.linalg.norm(loc - target) <= 3 + 1e-9
        assert loc[2] > target[2]  # elevation 25..85 degrees: above the target
        r = rotations.euler_xyz_to_matrix(light.rotation_euler)
        aim = (target - loc) / np.linalg.norm(target - loc)
        assert np.allclose(r @ [0, 0, -1], aim, atol=1e-9)
        if light.type == "SUN":
            assert cfg.sun_strength[0] <= light.energy <= cfg.sun_strength[1]
        else:
            assert cfg.power_w[0] <= light.energy <= cfg.power_w[1]
            assert math.radians(30) <= light.spot_angle <= math.radians(80)
    assert generic.sample_lights(LightsConfig(count=0), np.random.default_rng(0), target) == []


def test_sample_material_ranges() -> None:
    cfg = MaterialConfig(value=(0.0, 0.0), roughness=(0.25, 0.25))
    m = generic.sample_material(cfg, np.random.default_rng(3))
    assert m.base_color == [0.0, 0.0, 0.0] and m.roughness == 0.25
    m = generic.sample_material(
        MaterialConfig(saturation=(0, 0), value=(1, 1)), np.random.default_rng(3)
    )
    assert m.base_color == pytest.approx([1.0, 1.0, 1.0])
    # sRGB 0.5 grey is linear ~0.214
    m = generic.sample_material(
        MaterialConfig(saturation=(0, 0), value=(0.5, 0.5)), np.random.default_rng(3)
    )
    assert m.base_color == pytest.approx([0.214, 0.214, 0.214], abs=1e-3)


def test_sample_cameras_fixed_view() -> None:
    cam = CameraConfig(
        focal_length_mm=50,
        distance=2,
        elevation_deg=90,
        azimuth_deg=0,
        roll_deg=0,
        look_at_jitter=0,
    )
    spec = generic.sample_cameras(
        cam,
        RenderConfig(resolution=(200, 100), views_per_scene=2),
        np.random.default_rng(0),
        np.array([0.0, 0.0, 0.5]),
    )
    assert np.allclose(spec.K, [[50 / 36 * 200, 0, 100], [0, 50 / 36 * 200, 50], [0, 0, 1]])
    for pose in spec.poses:
        p = np.asarray(pose)
        assert np.allclose(p[:3, 3], [0, 0, 2.5])
        assert np.allclose(p[:3, 2], [0, 0, -1])  # OpenCV z forward = looking down


def test_place_without_overlap_stacks() -> None:
    xy = np.zeros((3, 2))
    centres = place_without_overlap(xy, np.array([0.1, 0.1, 0.2]), np.zeros(3), gap=0.0)
    assert np.allclose(centres[:, 2], [0.1, 0.3, 0.6])
    apart = place_without_overlap(np.array([[0, 0], [1, 0]]), np.array([0.1, 0.1]), np.zeros(2))
    assert np.allclose(apart[:, 2], [0.1, 0.1])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**40), index=st.integers(0, 10_000))
def test_rest_placement_on_ground_without_overlap(seed: int, index: int) -> None:
    """Default placement: objects rest on the ground (z = 0 is the supporting plane),
    bounding circles disjoint, a stable-face choice recorded per object, no physics."""
    cfg = CFG.model_copy(update={"seed": seed})
    assert cfg.scene.placement == "rest"
    spec = sample_scene(cfg, index)
    assert spec.physics is False
    objs = spec.annotated()
    for o in objs:
        assert o.physics == "none" and o.location[2] == 0.0
        assert o.rest is not None and 0.0 <= o.rest.u < 1.0 and -math.pi <= o.rest.yaw <= math.pi
    for i, a in enumerate(objs):
        for b in objs[:i]:
            ra = a.geometry.size * math.sqrt(3) / 2  # type: ignore[operator]
            rb = b.geometry.size * math.sqrt(3) / 2  # type: ignore[operator]
            assert (
                math.hypot(a.location[0] - b.location[0], a.location[1] - b.location[1])
                >= ra + rb - 1e-9
            )
