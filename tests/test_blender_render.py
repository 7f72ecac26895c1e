"""Real tiny Cycles renders (64x64, 4 samples) checked against analytic geometry."""

from __future__ import annotations

import numpy as np
import pytest

from render import camera as cm
from render.formats import coco
from tests.blender_helpers import analytic_cube_mask, cube_scene, euler_matrix, render_specs

pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def cube_renders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cube")
    a, K, pose = cube_scene(seed=1)
    b, _, _ = cube_scene(seed=1)  # identical spec, rendered again in the same process
    c, _, _ = cube_scene(seed=2)  # only Cycles' seed differs
    d, K2, pose2 = cube_scene(
        location=(0.3, 0.1, 0.2), rotation=(1.1, 0.0, -0.7), eye=(-1.5, -2.5, 2.2)
    )
    data = render_specs([a, b, c, d], tmp)
    return data, [(a, K, pose), (d, K2, pose2)]


@pytest.mark.parametrize("which", [0, 1])
def test_cube_mask_matches_analytic_projection(cube_renders, which):
    data, scenes = cube_renders
    spec, K, pose = scenes[which]
    idx = 0 if which == 0 else 3
    inst = data[f"instance_{idx}_0"]
    obj = spec.objects[0]
    expected = analytic_cube_mask(
        obj.geometry.params["size"][0], obj.location, obj.rotation_euler, K, pose, 64
    )
    got = inst == 1
    assert set(np.unique(inst)) == {0, 1}
    rle_got, rle_exp = coco.encode(got), coco.encode(expected)
    iou = coco.iou(rle_got, rle_exp)
    assert iou >= 0.97, f"mask IoU {iou:.4f} < 0.97"
    box_got, box_exp = np.array(coco.bbox(rle_got)), np.array(coco.bbox(rle_exp))
    assert np.abs(box_got - box_exp).max() <= 1.0, f"bbox {box_got} vs analytic {box_exp}"


def test_depth_matches_analytic_plane(cube_renders):
    """Depth at the pixel through the centre of the cube's camera-facing face."""
    data, scenes = cube_renders
    spec, K, pose = scenes[0]
    obj = spec.objects[0]
    rot = euler_matrix(*obj.rotation_euler)
    centre = np.asarray(obj.location)
    cam_pos = pose[:3, 3]
    normals = np.concatenate([rot.T, -rot.T])  # rows: face normals in world
    facing = max(normals, key=lambda n: float(n @ (cam_pos - centre)))
    face_centre = centre + facing * 0.25
    uv, z = cm.project(face_centre[None], K, pose)
    u, v = (uv[0] - 0.5).round().astype(int)
    depth = data["depth_0_0"]
    assert depth[v, u] == pytest.approx(z[0], abs=0.02)
    assert np.isinf(depth[data["instance_0_0"] == 0]).all(), "background depth must be inf"


def test_same_spec_is_bit_identical_and_seed_changes_rgb_only(cube_renders):
    data, _ = cube_renders
    for key in ("rgb", "depth", "instance"):
        np.testing.assert_array_equal(data[f"{key}_0_0"], data[f"{key}_1_0"])
    np.testing.assert_array_equal(data["instance_0_0"], data["instance_2_0"])
    np.testing.assert_array_equal(data["depth_0_0"], data["depth_2_0"])
    assert not np.array_equal(data["rgb_0_0"], data["rgb_2_0"])


def test_worker_reports_device_and_versions(cube_renders):
    data, _ = cube_renders
    info = data["info"]["info"]
    assert info["device"] == "cpu"
    assert info["blender"].startswith("4.2.")
    assert info["blenderproc"] == "2.8.0"
    t = data["info"]["timings"][0]
    assert t["views"] == 1 and t["render_s"] > 0


def test_motion_blur_moves_objects_without_blending_views(tmp_path):
    """Views are animation frames: with the shutter open, a static scene must keep each
    view's own instance map (no ghost of the neighbouring view), while an object with a
    velocity is smeared in RGB; its mask and depth are those of its recorded pose (the
    middle of the exposure), crisp, not a speckle over the smear."""
    base, K, pose = cube_scene(samples=8)
    other = cm.look_at(np.array([-1.8, -2.4, 1.2]), np.array([0.0, 0.0, 0.4]))
    base.camera.poses = [pose.tolist(), other.tolist()]
    still = base.model_copy(deep=True)
    still.camera.motion_blur = 0.5
    moving = still.model_copy(deep=True)
    moving.objects[0].velocity = [0.8, 0.0, 0.0]  # 40 cm (~10 px) during the exposure
    data = render_specs([base, still, moving], tmp_path)
    for v in (0, 1):
        np.testing.assert_array_equal(data[f"instance_0_{v}"], data[f"instance_1_{v}"])
    sharp, blurred = data["rgb_0_0"].astype(int), data["rgb_2_0"].astype(int)
    changed = np.abs(sharp - blurred).max(axis=2) > 15  # cube vs grey world: low contrast
    assert changed.sum() > 20, "a moving object must be smeared"
    np.testing.assert_array_equal(data["instance_0_0"], data["instance_2_0"])
    np.testing.assert_array_equal(data["depth_0_0"], data["depth_2_0"])
    assert np.abs(data["rgb_0_1"].astype(int) - data["rgb_1_1"].astype(int)).max(axis=2).mean() < 3


def test_depth_of_field_blurs_the_image_not_the_masks(tmp_path):
    """A cube far out of focus (f/0.5, focused 2.9 m in front of it) is blurred in RGB,
    but its instance map and depth are those of the sharp render, pixel for pixel
    (Cycles alone writes them from one random lens point per pixel: a speckle)."""
    sharp, _, _ = cube_scene(samples=8)
    blurred = sharp.model_copy(deep=True)
    blurred.camera.fstop = 0.5
    blurred.camera.focus_distance = 0.3  # the cube is 3.2 m away: a ~14 px blur disc
    data = render_specs([sharp, blurred], tmp_path)
    diff = np.abs(data["rgb_0_0"].astype(int) - data["rgb_1_0"].astype(int)).max(axis=2)
    assert (diff > 20).sum() > 50, "the defocused cube must be blurred"
    np.testing.assert_array_equal(data["instance_0_0"], data["instance_1_0"])
    np.testing.assert_array_equal(data["depth_0_0"], data["depth_1_0"])
    assert data["info"]["timings"][1]["geometric_pass"] == 1
    assert data["info"]["timings"][0]["geometric_pass"] == 0
