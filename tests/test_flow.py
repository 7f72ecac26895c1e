"""Optical flow (render.flow): Cycles' vector pass against the analytic motion of
a moving cube and of a box whose mesh grows (a shape key, as a walking body's
limbs move), seen by a moving camera; the .flo codec against OpenCV's reader."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from render import camera as cm
from render.formats import flow as flo
from render.spec import GeometrySpec, NextPose
from tests.blender_helpers import cube_scene, euler_matrix, render_specs

RES = 96


def test_flo_files_read_back_in_opencv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 5, (7, 11, 2)).astype(np.float32)
    flow[0, 0] = 1e10
    path = tmp_path / "a.flo"
    path.write_bytes(flo.encode(flow))
    assert np.array_equal(cv2.readOpticalFlow(str(path)), flow)
    assert np.array_equal(flo.decode(path.read_bytes()), flow)
    assert flo.known(flow).sum() == 7 * 11 - 1
    with pytest.raises(ValueError, match="PIEH"):
        flo.decode(b"nope" + bytes(20))
    with pytest.raises(ValueError, match="11x7"):
        flo.decode(flo.encode(flow)[:-8])


def _object_matrix(location, rotation) -> np.ndarray:  # type: ignore[no-untyped-def]
    m = np.eye(4)
    m[:3, :3] = euler_matrix(*rotation)
    m[:3, 3] = location
    return m


@pytest.mark.blender
def test_flow_matches_the_analytic_motion(tmp_path: Path) -> None:
    """Interior pixels of each object: back-project with the rendered depth, move the
    point as the object moves (rigid: its next pose; the box: its next mesh, 1.5x
    larger about its centre), project with the camera's next pose. Cycles' flow
    must agree within 0.5 px."""
    spec, K, pose = cube_scene(size=0.4, location=(-0.35, 0.0, 0.4), res=RES, samples=1)
    cube = spec.objects[0]
    rot_now, rot_next = [0.3, 0.2, 0.5], [0.3, 0.2, 0.62]
    loc_now, loc_next = [-0.35, 0.0, 0.4], [-0.27, 0.05, 0.43]
    cube = cube.model_copy(
        update={
            "rotation_euler": rot_now,
            "next": NextPose(location=loc_next, rotation_euler=rot_next),
        }
    )
    box = GeometrySpec(kind="procedural", generator="box", params={"size": [0.4] * 3}, part="body")
    grown = box.model_copy(update={"params": {"size": [0.6] * 3}})
    loc_box = [0.3, -0.6, 0.35]
    growing = cube.model_copy(
        update={
            "name": "box", "instance_id": 2, "geometry": box, "location": loc_box,
            "rotation_euler": [0.0, 0.0, 0.4],
            "next": NextPose(location=loc_box, rotation_euler=[0.0, 0.0, 0.4], geometry=grown),
        }
    )  # fmt: skip
    pose_next = pose.copy()
    pose_next[:3, 3] += [0.03, -0.02, 0.01]
    spec = spec.model_copy(
        update={
            "objects": [cube, growing],
            "camera": spec.camera.model_copy(update={"next_poses": [pose_next.tolist()]}),
            "render": spec.render.model_copy(update={"flow": True}),
        }
    )
    data = render_specs([spec], tmp_path)
    flow, depth, inst = data["flow_0_0"], data["depth_0_0"], data["instance_0_0"]
    assert flow.shape == (RES, RES, 2)
    assert np.all(~flo.known(flow) == ~np.isfinite(depth))  # unknown exactly off the objects
    v, u = np.mgrid[0:RES, 0:RES]
    pix = np.stack([u + 0.5, v + 0.5, np.ones_like(u, dtype=float)], -1).reshape(-1, 3)
    rays = pix @ np.linalg.inv(K).T
    cam_pts = rays * np.where(np.isfinite(depth), depth, 0.0).reshape(-1, 1)
    world = np.c_[cam_pts, np.ones(len(cam_pts))] @ pose.T
    moves = {
        1: _object_matrix(loc_next, rot_next) @ np.linalg.inv(_object_matrix(loc_now, rot_now)),
        2: _object_matrix(loc_box, [0, 0, 0.4])
        @ np.diag([1.5, 1.5, 1.5, 1.0])
        @ np.linalg.inv(_object_matrix(loc_box, [0, 0, 0.4])),
    }
    for iid, move in moves.items():
        interior = binary_erosion(inst == iid, iterations=2).reshape(-1)
        assert interior.sum() > 30, f"object {iid}: too few interior pixels"
        moved = (world[interior] @ move.T)[:, :3]
        uv, _ = cm.project(moved, K, pose_next)
        expected = uv - pix[interior, :2]
        got = flow.reshape(-1, 2)[interior]
        err = np.linalg.norm(got - expected, axis=1)
        assert np.abs(expected).max() > 2.0  # it moved: the test measures something
        print(f"object {iid}: {interior.sum()} px, motion up to {np.abs(expected).max():.2f} px, "
              f"error max {err.max():.4f} px, mean {err.mean():.4f} px")  # fmt: skip
        assert err.max() < 0.5, f"object {iid}: flow off by up to {err.max():.3f} px"
