"""Conditions of the pedestrians family: fog (a scattering volume that thickens
with distance, leaving masks and depth alone; rain and lens droplets leave them
alone too), night (dark sky, weak street
lights, headlights, lit windows) and their per-image records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from render.config import load_config
from render.families.pedestrians.setting import fog_density, headlights
from render.sampling import sample_scene
from render.spec import GeometrySpec, LensDropletsSpec, ObjectSpec, RainSpec
from tests.blender_helpers import cube_scene, render_specs

ROOT = Path(__file__).resolve().parents[1]
PEDESTRIANS = ROOT / "configs" / "pedestrians.yaml"


@pytest.mark.blender
def test_fog_thickens_with_distance_and_leaves_masks_alone(tmp_path: Path) -> None:
    """Two equal cubes, 3 m and 9 m from the camera, with and without fog (40 m
    visibility): the far one's colour moves further towards the fog's."""
    spec, _, pose = cube_scene(size=0.6, location=(0.0, 0.0, 0.4), res=64, samples=8)
    eye = np.asarray(pose)[:3, 3]
    ahead = np.array([0.0, 0.0, 0.4]) - eye
    ahead /= np.linalg.norm(ahead)
    right = np.asarray(pose)[:3, 0]
    near = spec.objects[0].model_copy(update={"location": (eye + 3 * ahead - 0.5 * right).tolist()})
    far = spec.objects[0].model_copy(
        update={"name": "far", "instance_id": 2, "scale": [2.0, 2.0, 2.0],
                "location": (eye + 9 * ahead + 1.5 * right).tolist()}
    )  # fmt: skip
    floor = ObjectSpec(
        name="floor", instance_id=0, material=spec.objects[0].material,
        geometry=GeometrySpec(kind="procedural", generator="box", params={"size": [60, 60, 0.1]},
                              part="body"),
        location=[0.0, 0.0, -3.0],
    )  # fmt: skip
    clear = spec.model_copy(update={"objects": [near, far, floor]})
    world = clear.world.model_copy(
        update={"fog_density": 3.912 / 40.0, "fog_box": [-50, -50, -1, 50, 50, 20]}
    )
    foggy = clear.model_copy(update={"world": world})
    rain = RainSpec(rate_mm_h=25.0, shutter_s=0.5, drop_brightness=3.0, seed=2)
    rainy = clear.model_copy(
        update={"world": clear.world.model_copy(
            update={"rain": rain, "lens_droplets": LensDropletsSpec(count=(3, 3), radius_frac=(0.2, 0.25), seed=1)})}
    )  # fmt: skip
    data = render_specs([clear, foggy, rainy], tmp_path)
    for key in ("instance", "depth"):
        assert np.array_equal(data[f"{key}_0_0"], data[f"{key}_1_0"]), key
        assert np.array_equal(data[f"{key}_0_0"], data[f"{key}_2_0"]), key
    # rain and droplets change the light, in the backend's readback, not the geometry
    assert np.abs(data["rgb_2_0"].astype(int) - data["rgb_0_0"].astype(int)).max() > 20
    shift = {}
    for iid in (1, 2):
        m = data["instance_0_0"] == iid
        assert m.sum() > 20
        a, b = data["rgb_0_0"][m].astype(float), data["rgb_1_0"][m].astype(float)
        shift[iid] = float(np.abs(b.mean(0) - a.mean(0)).mean())
    assert shift[2] > 1.5 * shift[1] > 0, shift


def test_fog_and_night_are_sampled_and_recorded() -> None:
    import math

    from render.config import load_config as load

    assert fog_density(load(PEDESTRIANS).scene.sky, np.random.default_rng(0)) in (
        0.0,
        pytest.approx(fog_density(load(PEDESTRIANS).scene.sky, np.random.default_rng(0))),
    )
    cfg = load_config(
        PEDESTRIANS,
        ["render.resolution=[320, 240]", "scene.sky.time_of_day={night: 1}",
         "scene.sky.fog_probability=1", "scene.camera.rigs={dashcam: 1}",
         "scene.people.count=[2, 2]"],
    )  # fmt: skip
    spec = sample_scene(cfg, 0)
    cond = spec.meta["conditions"]
    assert cond["time_of_day"] == "night" and 40 <= cond["fog_visibility_m"] <= 300
    assert spec.world.fog_density == pytest.approx(3.912 / cond["fog_visibility_m"], rel=1e-3)
    assert spec.world.sky is None and spec.world.strength <= 0.002
    spots = [lt for lt in spec.lights if lt.type == "SPOT"]
    heads = [lt for lt in spots if lt.energy == cfg.scene.sky.headlight_power_w]
    assert len(heads) == 2 and all(lt.energy <= 1.2 for lt in spots if lt not in heads)
    # the headlights sit below the camera and shine along its view, slightly down
    pose = np.asarray(spec.camera.poses[0])
    ahead = pose[:3, 2] * [1, 1, 0]
    ahead /= np.linalg.norm(ahead)
    for lt in headlights_of(spec):
        assert lt.location[2] == pytest.approx(pose[2, 3] - 0.6)
        rx, ry, rz = lt.rotation_euler
        from tests.blender_helpers import euler_matrix

        beam = -euler_matrix(rx, ry, rz)[:, 2]
        assert float(beam @ ahead) > math.cos(math.radians(4)) and beam[2] < 0
    assert headlights(type("S", (), {"rig": "cctv"})(), 1.5) == []  # type: ignore[arg-type]


def headlights_of(spec):  # type: ignore[no-untyped-def]
    return [lt for lt in spec.lights if lt.type == "SPOT" and lt.energy == 1.5]


def test_car_lights_glow_at_night_for_their_share_of_cars() -> None:
    from render.families.pedestrians.street import furniture_parts

    parts = furniture_parts({"kind": "car", "length": 4.2, "width": 1.8, "height": 1.45})
    body = parts["item"].vertices
    rear, front = parts["lamps_rear"].vertices, parts["lamps_front"].vertices
    assert rear[:, 0].max() < body[:, 0].min() + 0.05 < front[:, 0].min()  # at the tail, the nose
    assert 0.3 < rear[:, 2].min() < rear[:, 2].max() < 1.0
    base = ["render.resolution=[320, 240]", "scene.sky.time_of_day={night: 1}",
            "scene.people.count=[1, 1]"]  # fmt: skip
    for share in (0.0, 1.0):
        spec = sample_scene(
            load_config(PEDESTRIANS, [*base, f"scene.sky.car_lights_share={share}"]), 0
        )
        lamps = [o for o in spec.objects if "_lamps_" in o.name]
        assert lamps and len(lamps) % 2 == 0
        lit = [(o.material.inputs or {}).get("Emission Strength", 0) > 0 for o in lamps]
        assert all(lit) if share else not any(lit)
    day = sample_scene(load_config(PEDESTRIANS, [*base[:1], "scene.sky.time_of_day={day: 1}",
                                                 "scene.sky.car_lights_share=1"]), 0)  # fmt: skip
    assert not any((o.material.inputs or {}).get("Emission Strength", 0) for o in day.objects
                   if "_lamps_" in o.name)  # fmt: skip
