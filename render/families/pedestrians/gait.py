"""The gait of walking and running people (pure): joint angles over the gait cycle
and how far one cycle carries the body.

:func:`gait_angles` gives the leg of :func:`~render.families.pedestrians.pose.pose_rotations`
at a phase of the cycle; :func:`stride_length` the distance that cycle covers, so a
sequence can advance the phase at the walking speed without the feet sliding
(:func:`render.families.pedestrians.motion.advance`).
"""

from __future__ import annotations

import math


def gait_amplitude(run: bool, speed: float) -> float:
    """Hip swing (radians) of the gait: grows with walking speed, fixed when running."""
    return math.radians(32 if run else 10 + 9 * min(speed, 2.0))


def stride_length(activity: str, speed: float, height_m: float) -> float:
    """Metres the body moves in one gait cycle (two steps): each step spans the
    chord between the feet at the hip swing's extremes, ``2 * leg * sin(amplitude)``,
    with the leg 0.53 x the body's height; a cyclist's crank revolution (its gear's
    development); 0 for people standing or sitting, wheelchair users included."""
    if activity == "cycle":  # one crank revolution per cycle
        from render.families.pedestrians.riding import metres_per_revolution

        return metres_per_revolution(height_m)
    if activity not in ("walk", "run"):
        return 0.0
    amp = gait_amplitude(activity == "run", speed)
    return 4.0 * 0.53 * height_m * math.sin(amp)


def gait_angles(phase: float, run: bool, amplitude: float) -> tuple[float, float, float]:
    """(hip flexion, knee flexion, ankle plantarflexion) at gait ``phase`` [0, 1),
    0 = heel strike of this leg; ``amplitude`` scales the hip swing with speed."""

    def bump(centre: float, width: float) -> float:
        d = (phase - centre + 0.5) % 1.0 - 0.5
        return math.exp(-0.5 * (d / width) ** 2)

    w = 2 * math.pi * phase
    if run:
        hip = amplitude * math.cos(w) + math.radians(12)
        knee = math.radians(35) * bump(0.2, 0.1) + math.radians(105) * bump(0.7, 0.14)
        ankle = math.radians(18) * bump(0.45, 0.08) - math.radians(10) * bump(0.05, 0.08)
    else:
        hip = amplitude * math.cos(w) + math.radians(4)
        knee = (
            math.radians(5)
            + math.radians(15) * bump(0.15, 0.07)
            + math.radians(58) * bump(0.72, 0.1)
        )
        ankle = math.radians(15) * bump(0.6, 0.06) - math.radians(8) * bump(0.35, 0.12)
    return hip, knee, ankle
