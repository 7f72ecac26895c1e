"""Deterministic resting poses on a plane (pure)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render.geometry.rest import rest_pose, stable_faces
from render.geometry.shapes import box


def test_box_has_six_equally_likely_faces():
    faces = stable_faces(box((1.0, 1.0, 1.0)).vertices)
    assert len(faces) == 6
    assert all(p == pytest.approx(1 / 6) for _, p in faces)


def test_flat_box_lands_mostly_on_its_big_faces():
    faces = stable_faces(box((1.0, 1.0, 0.1)).vertices)
    big = sum(p for n, p in faces if abs(n[2]) > 0.99)
    assert big > 0.8


def test_cone_tip_is_not_stable():
    # A tall cone: apex up, circular base. It can rest on its base or its side, never on the apex.
    k = 64
    ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
    base = np.stack([np.cos(ang), np.sin(ang), np.zeros(k)], axis=1)
    verts = np.vstack([base, [[0.0, 0.0, 1.0]]])
    for n, _ in stable_faces(verts):
        assert n[2] < 0.99  # no face pointing up along the axis


@settings(max_examples=40, deadline=None)
@given(
    sx=st.floats(0.05, 2.0),
    sy=st.floats(0.05, 2.0),
    sz=st.floats(0.05, 2.0),
    u=st.floats(0.0, 0.999999),
    yaw=st.floats(-np.pi, np.pi),
)
def test_rest_pose_touches_plane_and_is_a_rotation(sx, sy, sz, u, yaw):
    verts = box((sx, sy, sz)).vertices
    rot, dz = rest_pose(verts, u, yaw)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    z = (verts @ rot.T)[:, 2] + dz
    assert z.min() == pytest.approx(0.0, abs=1e-9)
    # a box resting on a face has 4 vertices on the plane
    assert int((np.abs(z) < 1e-7).sum()) == 4


def test_same_inputs_same_pose():
    verts = box((0.3, 0.2, 0.1)).vertices
    a = rest_pose(verts, 0.37, 1.0)
    b = rest_pose(verts, 0.37, 1.0)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


def test_bad_u_rejected():
    with pytest.raises(ValueError, match="u must lie"):
        rest_pose(box((1, 1, 1)).vertices, 1.0, 0.0)
