"""Pinhole camera math in numpy (no Blender).

Conventions: camera-to-world 4x4 poses in the **OpenCV** frame (x right, y down,
z forward). Blender cameras look down their local -Z with +Y up; convert with
:func:`opencv_to_blender`. Pixel (u, v) = (column, row); the centre of pixel
(0, 0) is at (0.5, 0.5), so the principal point of a W x H image is (W/2, H/2).
"""

from __future__ import annotations

import numpy as np

# Flip Y and Z: OpenCV camera axes <-> Blender (OpenGL) camera axes.
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def intrinsics(focal_mm: float, sensor_width_mm: float, width: int, height: int) -> np.ndarray:
    """3x3 K for a sensor whose width spans the image width (Blender's sensor_fit
    AUTO/HORIZONTAL for landscape images, square pixels)."""
    if focal_mm <= 0 or sensor_width_mm <= 0:
        raise ValueError(f"focal and sensor width must be > 0, got {focal_mm}, {sensor_width_mm}")
    f = focal_mm / sensor_width_mm * width
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """Camera-to-world (OpenCV) for a camera at ``eye`` looking at ``target``;
    image 'up' is as close as possible to world ``up`` (default +Z)."""
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    up = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, dtype=np.float64)
    z = target - eye
    n = np.linalg.norm(z)
    if n == 0:
        raise ValueError("eye and target coincide")
    z /= n
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking straight along `up`: pick any image x
        x = np.cross(z, np.array([0.0, 1.0, 0.0]))
        if np.linalg.norm(x) < 1e-9:
            x = np.cross(z, np.array([1.0, 0.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose


def roll(pose: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotate a camera about its optical axis by ``angle_rad``."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    r = np.eye(4)
    r[:2, :2] = [[c, -s], [s, c]]
    return pose @ r


def spherical_eye(
    target: np.ndarray, distance: float, elevation_rad: float, azimuth_rad: float
) -> np.ndarray:
    """A point at ``distance`` from ``target``, ``elevation`` above the XY plane."""
    ce = np.cos(elevation_rad)
    offset = np.array([ce * np.cos(azimuth_rad), ce * np.sin(azimuth_rad), np.sin(elevation_rad)])
    return np.asarray(target, dtype=np.float64) + distance * offset


def opencv_to_blender(pose_cv: np.ndarray) -> np.ndarray:
    """Camera-to-world in OpenCV convention -> Blender camera matrix_world."""
    return np.asarray(pose_cv) @ _CV_TO_GL


def blender_to_opencv(matrix_world: np.ndarray) -> np.ndarray:
    return np.asarray(matrix_world) @ _CV_TO_GL


def project(
    points_world: np.ndarray, K: np.ndarray, pose_cv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (N, 3) -> pixel coordinates (N, 2) (continuous, pixel
    centres at +0.5) and camera-frame depth z (N,)."""
    pts = np.asarray(points_world, dtype=np.float64)
    world_to_cam = np.linalg.inv(pose_cv)
    cam = pts @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    z = cam[:, 2]
    uvw = cam @ np.asarray(K).T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[:, :2] / uvw[:, 2:3]
    return uv, z


def focal_mm_from_K(K: np.ndarray, sensor_width_mm: float, width: int) -> float:
    return float(K[0][0]) * sensor_width_mm / width
