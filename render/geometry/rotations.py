"""Rotations, in one pure place: elementary rotations, Blender's Euler ``XYZ``
convention (``R = Rz @ Ry @ Rx``, radians), aiming, uniform random rotations.

Used by the samplers (products, people, props), the rest poses and the Blender
backend, which only copies the angles onto objects. Frames: right-handed, Blender
world (Z up); matrices act on column vectors (``p_world = R @ p_local``).
"""

from __future__ import annotations

import math

import numpy as np


def rot_x(angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about +X."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about +Y."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about +Z (a yaw)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def euler_xyz_to_matrix(euler: list[float]) -> np.ndarray:
    """Blender Euler ``XYZ`` (radians) -> 3x3 rotation ``Rz @ Ry @ Rx``."""
    a, b, c = euler
    return rot_z(c) @ rot_y(b) @ rot_x(a)


def matrix_to_euler_xyz(r: np.ndarray) -> list[float]:
    """3x3 rotation -> Blender Euler ``XYZ`` angles (radians), i.e. ``R = Rz @ Ry @ Rx``."""
    r = np.asarray(r, dtype=np.float64)
    if r.shape != (3, 3):
        raise ValueError(f"rotation must be (3, 3), got shape {r.shape}")
    sy = -float(r[2, 0])
    b = math.asin(min(max(sy, -1.0), 1.0))
    if abs(math.cos(b)) > 1e-9:
        a = math.atan2(r[2, 1], r[2, 2])
        c = math.atan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: only a - c (or a + c) is defined; put it all in a
        a = math.atan2(-r[1, 2], r[1, 1])
        c = 0.0
    return [a, b, c]


def aim_neg_z(location: np.ndarray, target: np.ndarray) -> list[float]:
    """Euler XYZ that turns an object's local -Z towards ``target`` (Blender lights
    and cameras point down -Z), with local +Y as close to world +Z as possible."""
    d = np.asarray(target, dtype=np.float64) - np.asarray(location, dtype=np.float64)
    n = np.linalg.norm(d)
    if n < 1e-12:
        raise ValueError(f"light at {list(location)} coincides with its target")
    z_axis = -d / n
    x_axis = np.cross([0.0, 0.0, 1.0], z_axis)
    if np.linalg.norm(x_axis) < 1e-9:  # pointing straight up or down
        x_axis = np.array([1.0, 0.0, 0.0])
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    return matrix_to_euler_xyz(np.stack([x_axis, y_axis, z_axis], axis=1))


def random_rotation_euler(rng: np.random.Generator) -> list[float]:
    """A rotation uniform on SO(3) (normalised Gaussian quaternion) as Euler XYZ."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    r = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
    return matrix_to_euler_xyz(r)
