"""Pedestrians in a sequence (``render.frames > 1``): where the camera and the
people are ``t`` seconds after a sequence's first frame (pure numpy).

People who walk or run keep their heading and speed (the gait phase advances at
the rate :func:`advance` gives, so feet do not slide); people standing or sitting stay. The dashcam drives straight ahead along
its view's ground direction at a speed drawn per sequence, a drone drifts, a
CCTV camera stays put. See :mod:`render.sequence`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from render.families.common import uniform
from render.families.pedestrians.config import StreetCamera
from render.families.pedestrians.gait import stride_length
from render.families.pedestrians.pose import FORWARD, PoseParams
from render.families.pedestrians.setting import Shot
from render.geometry.rotations import rot_z

MOVING = ("walk", "run", "cycle", "wheelchair")


def camera_velocity(
    shot: Shot,
    cfg: StreetCamera,
    rng: np.random.Generator,
    seconds: float = 0.0,
    limit: float = math.inf,
) -> np.ndarray:
    """World velocity (m/s) of the camera over a sequence of ``seconds``, drawn once
    per sequence. A drone's drift across the street is clipped so that every view's
    eye stays within ``|y| <= limit`` (between the facades) for the whole sequence:
    drifting through one it hung inside a building; a drift that stays is kept."""
    if shot.rig == "dashcam":
        pose = np.asarray(shot.camera.poses[0], dtype=np.float64)
        ahead = pose[:3, 2].copy()  # OpenCV: the optical axis
        ahead[2] = 0.0
        return ahead / np.linalg.norm(ahead) * uniform(rng, cfg.dashcam_speed_mps)
    if shot.rig == "drone":
        angle = uniform(rng, (0.0, 2 * math.pi))
        speed = uniform(rng, cfg.drone_drift_mps)
        v = np.array([math.cos(angle), math.sin(angle), 0.0]) * speed
        if seconds > 0:
            ys = [float(np.asarray(pose)[1, 3]) for pose in shot.camera.poses]
            lo, hi = (-limit - min(ys)) / seconds, (limit - max(ys)) / seconds
            if lo <= hi:  # (the sampler puts every eye inside, so 0 is in [lo, hi])
                v[1] = min(max(v[1], lo), hi)
        return v
    return np.zeros(3)


def move_camera(shot: Shot, velocity: np.ndarray, seconds: float) -> Shot:
    """``shot`` with every pose translated by ``velocity * seconds`` (orientation kept)."""
    if seconds == 0 or not np.any(velocity):
        return shot
    poses = []
    for pose in shot.camera.poses:
        m = np.asarray(pose, dtype=np.float64).copy()
        m[:3, 3] += velocity * seconds
        poses.append(m.tolist())
    camera = shot.camera.model_copy(update={"poses": poses})
    focus = (shot.focus[0] + velocity[0] * seconds, shot.focus[1] + velocity[1] * seconds)
    return replace(shot, camera=camera, focus=focus)


def velocity(yaw: float, activity: str, speed: float) -> np.ndarray:
    """World velocity (m/s) of a person facing ``yaw``: ``speed`` along their heading
    when they walk, run, cycle or roll a wheelchair, else zero."""
    if activity not in MOVING:
        return np.zeros(3)
    return rot_z(yaw) @ FORWARD * speed


def walked(
    location: np.ndarray, yaw: float, activity: str, speed: float, seconds: float
) -> np.ndarray:
    """Where a person placed at ``location`` facing ``yaw`` is ``seconds`` later."""
    return np.asarray(location, dtype=np.float64) + velocity(yaw, activity, speed) * seconds


def advance(params: PoseParams, seconds: float, height_m: float) -> PoseParams:
    """``params`` ``seconds`` later: the gait phase moved on by ``speed / stride``
    cycles per second (:func:`~render.families.pedestrians.gait.stride_length`)."""
    stride = stride_length(params.activity, params.speed, height_m)
    if stride <= 0 or seconds == 0:
        return params
    return replace(params, phase=(params.phase + seconds * params.speed / stride) % 1.0)
