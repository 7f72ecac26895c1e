"""People on and with wheels (pure numpy): a cyclist's legs on the pedals, a
wheelchair user's seat and hands on the push rims, a parent's hands on a
stroller's handle. :func:`~render.families.pedestrians.pose.pose_rotations` calls
these for the activities ``cycle`` and ``wheelchair`` and the arm actions
``handlebar``, ``rims`` and ``push``; :mod:`.vehicles` builds the bicycle,
wheelchair and stroller around the posed body.

Body frame as in :mod:`.pose`: Z up, the person faces -Y, +X is their left.

A cyclist's bottom bracket (the crank's axle) sits ahead of and below the hips
where a bike fitter puts it: the leg reaches 96 % of its length at the bottom of
the stroke, the bracket 0.24 leg lengths ahead of the hip; cranks are 170 mm for a
0.9 m leg. Each leg reaches its pedal by two-bone inverse kinematics in its own
sagittal plane, so the feet go round the crank circle as the phase turns (one
revolution per phase cycle).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from render.families.pedestrians.pose import PoseParams, Rig, _Pose

RIDING_ACTIVITIES = ("cycle", "wheelchair")
ANKLE_ABOVE_PEDAL = 0.07
GEAR_DEVELOPMENT = 2.6  # wheel turns per crank turn: metres per revolution / wheel circumference


def leg_lengths(heads: dict[str, np.ndarray], side: str) -> tuple[float, float]:
    """Thigh and shin length of one side, from bone heads (rest or posed: the same)."""
    hip, knee, ankle = (heads[f"{b}.{side}"] for b in ("upperleg01", "lowerleg01", "foot"))
    return float(np.linalg.norm(knee - hip)), float(np.linalg.norm(ankle - knee))


def crank(heads: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """The bottom bracket (body frame, x = 0) and the crank length of a cyclist."""
    l1, l2 = leg_lengths(heads, "L")
    leg = l1 + l2
    hip = (heads["upperleg01.L"] + heads["upperleg01.R"]) / 2
    rc = 0.17 * leg / 0.9
    ahead = 0.24 * leg
    drop = math.sqrt((0.96 * leg) ** 2 - ahead**2) - rc + ANKLE_ABOVE_PEDAL
    return np.array([0.0, float(hip[1]) - ahead, float(hip[2]) - drop]), rc


def pedal(bb: np.ndarray, rc: float, angle: float) -> np.ndarray:
    """A pedal's centre at crank ``angle`` (0: forward, pi/2: up), body frame."""
    return bb + rc * np.array([0.0, -math.cos(angle), math.sin(angle)])


def wheel_radius(height_m: float) -> float:
    """A bike's wheel for a rider of ``height_m``: 0.34 m (700c) for adults, down to
    0.25 m (20 inch) for children."""
    return float(np.clip(0.34 * height_m / 1.7, 0.25, 0.34))


def metres_per_revolution(height_m: float) -> float:
    """How far one crank revolution carries the bike (its gear's development)."""
    return 2 * math.pi * wheel_radius(height_m) * GEAR_DEVELOPMENT


def _ik_leg(rig: Rig, side: str, target: np.ndarray) -> tuple[float, float]:
    """(hip flexion, knee flexion) that put the ankle at ``target``, in the leg's
    sagittal plane, the knee forward."""
    h = rig.head(f"upperleg01.{side}")
    l1 = float(np.linalg.norm(rig.head(f"lowerleg01.{side}") - h))
    l2 = float(np.linalg.norm(rig.head(f"foot.{side}") - rig.head(f"lowerleg01.{side}")))
    dy, dz = float(target[1] - h[1]), float(target[2] - h[2])
    d = float(np.clip(math.hypot(dy, dz), abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3))
    phi = math.atan2(-dy, -dz)  # from straight down towards forward (-Y)
    hip = phi + math.acos(float(np.clip((l1 * l1 + d * d - l2 * l2) / (2 * l1 * d), -1, 1)))
    ky, kz = -l1 * math.sin(hip), -l1 * math.cos(hip)  # the knee, relative to the hip
    shin = math.atan2(-(dy - ky), -(dz - kz))
    return hip, hip - shin


def legs(p: _Pose, params: PoseParams, leg: Callable[..., None]) -> float:
    """Set a rider's legs (``leg``: :func:`.pose._leg`); returns the torso's lean."""
    rig = p.rig
    if params.activity == "cycle":
        heads = {
            b: rig.head(b) for b in rig.bones if b.startswith(("upperleg01", "lowerleg01", "foot."))
        }
        bb, rc = crank(heads)
        for side, offset in (("L", 0.0), ("R", math.pi)):
            angle = 2 * math.pi * params.phase + offset
            target = pedal(bb, rc, angle) + np.array([0.0, 0.0, ANKLE_ABOVE_PEDAL])
            hip, knee = _ik_leg(rig, side, target)
            leg(p, side, hip, knee, 0.15 * math.sin(angle), math.radians(3))
        return math.radians(28)
    for side in ("L", "R"):  # wheelchair: seated upright, feet forward on the footrest
        leg(p, side, math.radians(84), math.radians(70), 0.0, math.radians(5))
    return math.radians(-2)


def arm_target(rig: Rig, side: str, action: str, out: float) -> tuple[np.ndarray, np.ndarray]:
    """Wrist target and elbow pole (torso rest frame) for ``handlebar``, ``rims``
    and ``push``; ``out``: metres the collision check moved the arm outward."""
    s = 1.0 if side == "L" else -1.0
    kp = rig.keypoints
    shoulder = rig.head(f"upperarm01.{side}")
    arm = float(
        np.linalg.norm(rig.head(f"lowerarm01.{side}") - shoulder)
        + np.linalg.norm(rig.head(f"wrist.{side}") - rig.head(f"lowerarm01.{side}"))
    )
    hip = kp[11 if side == "L" else 12]
    if action == "handlebar":  # forward and down of the shoulder; the torso's lean adds more
        target = shoulder + np.array([s * (0.06 + out), -0.78 * arm, -0.38 * arm])
        return target, np.array([s * 1.0, 0.2, -0.6])
    if action == "rims":  # beside the hip, at the top-front of the wheel's push rim
        z = float(hip[2]) + 0.02
        target = np.array([s * (rig.width_at(z) + 0.09 + out), float(hip[1]) - 0.06, z])
        return target, np.array([s * 1.0, 1.0, 0.2])
    z = float(hip[2]) + 0.1  # push: both hands on a stroller's handle ahead of the belly
    return np.array([s * (0.2 + out), rig.front_at(z) - 0.3, z]), np.array([s * 1.0, 0.5, -0.8])
