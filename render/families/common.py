"""Sampling helpers shared by the scene families: draws, colours, Cycles settings
(rotations: :mod:`render.geometry.rotations`). Config-free: each family's own
sections are sampled in its folder.

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
        dither=r.dither,
        flow=r.flow,
    )


def weighted_choice(rng: np.random.Generator, weights: Mapping[Any, float]) -> Any:
    """One key of ``weights`` (key -> weight >= 0), drawn with probability
    proportional to its weight; keys of weight 0 are never drawn."""
    names = [k for k, w in weights.items() if w > 0]
    if not names:
        raise ValueError(f"weights: need a weight > 0, got {dict(weights)}")
    w = np.array([weights[k] for k in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]
