"""Sampling helpers shared by the scene families: draws, colours, rotations, Cycles
settings. Config-free: each family's own sections are sampled in its folder.

Every function takes its ``numpy.random.Generator`` explicitly and makes no other
random choice; callers draw each stage from its own named stream
(``render.seeding.stream(cfg.seed, scene_index, "lights")``) so adding a draw to
one stage never shifts another.

Frames and units: Blender world frame (Z up), metres, radians. Colours are linear
RGB in [0, 1]. Camera poses are 4x4 camera-to-world in the OpenCV convention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from render.families.base import Job
from render.seeding import derive_int
from render.spec import RenderSpec


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """One float drawn uniformly from ``[lo, hi]`` (``lo == hi`` gives ``lo``).

    Always consumes exactly one draw, so fixed ranges do not shift later draws."""
    lo, hi = bounds
    return float(lo + (hi - lo) * rng.random())


def integer(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    """One int drawn uniformly from the inclusive range ``[lo, hi]``."""
    lo, hi = bounds
    return int(rng.integers(lo, hi + 1))


def srgb_to_linear(c: float) -> float:
    """sRGB-encoded channel in [0, 1] -> linear channel in [0, 1] (IEC 61966-2-1)."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def kelvin_to_rgb(kelvin: float) -> list[float]:
    """Black-body colour of ``kelvin`` (1000..40000 K, clamped) as linear RGB whose
    largest channel is 1.

    Uses Tanner Helland's fit of the CIE black-body locus in sRGB, then removes the
    sRGB transfer curve (Blender's light and world colours are linear)."""
    if not math.isfinite(kelvin) or kelvin <= 0:
        raise ValueError(f"colour temperature must be a positive number of kelvin, got {kelvin}")
    t = min(max(kelvin, 1000.0), 40000.0) / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    srgb = [min(max(x / 255.0, 0.0), 1.0) for x in (r, g, b)]
    lin = [srgb_to_linear(c) for c in srgb]
    peak = max(lin)
    return [c / peak for c in lin]


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


def euler_xyz_to_matrix(euler: list[float]) -> np.ndarray:
    """Blender Euler ``XYZ`` (radians) -> 3x3 rotation ``Rz @ Ry @ Rx``."""
    a, b, c = euler
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


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


def render_spec(cfg: Job, scene_index: int) -> RenderSpec:
    """Cycles settings of one scene; its sampling seed is derived, not shared."""
    r = cfg.render
    return RenderSpec(
        samples=r.samples,
        denoiser=r.denoiser,
        max_bounces=r.max_bounces,
        cycles_seed=derive_int(cfg.seed, scene_index, "cycles"),
        persistent_data=r.persistent_data,
        noise_threshold=r.noise_threshold,
        adaptive_min_samples=r.adaptive_min_samples,
        diffuse_bounces=r.diffuse_bounces,
        glossy_bounces=r.glossy_bounces,
        transmission_bounces=r.transmission_bounces,
        clamp_indirect=r.clamp_indirect,
        caustics=r.caustics,
        light_tree=r.light_tree,
        denoise_prefilter=r.denoise_prefilter,
        denoise_quality=r.denoise_quality,
        texture_detail=r.texture_detail,
    )


def weighted_choice(rng: np.random.Generator, weights: Mapping[Any, float]) -> Any:
    """One key of ``weights`` (key -> weight >= 0), drawn with probability
    proportional to its weight; keys of weight 0 are never drawn."""
    names = [k for k, w in weights.items() if w > 0]
    if not names:
        raise ValueError(f"weights: need a weight > 0, got {dict(weights)}")
    w = np.array([weights[k] for k in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]
