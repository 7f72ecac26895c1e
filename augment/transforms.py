"""Transforms that albumentations 2.0.8 lacks; written as albumentations transforms.

This module imports albumentations (with :mod:`augment.pipeline`, the only ones
that do). Randomness is drawn only in ``get_params`` from the transform's own
generator, which :func:`augment.pipeline.reseed` sets per sample; the kernels
(:func:`vignette_gain`, :func:`apply_vignette`) are pure.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema, ImageOnlyTransform
from pydantic import model_validator


def vignette_gain(
    height: int, width: int, strength: float, center: tuple[float, float]
) -> np.ndarray:
    """Radial gain map, float32 of shape (H, W), in ``[1 - strength, 1]``.

    ``center`` is ``(cx, cy)`` as fractions of width/height; the gain falls off as
    ``1 - strength * (r / r_max)**2`` where ``r`` is the distance in pixels from the
    centre and ``r_max`` the distance to the farthest image corner (cos^4-like lens
    fall-off of an industrial camera, to second order).
    """
    cx, cy = center[0] * width, center[1] * height
    xs = (np.arange(width, dtype=np.float32) + 0.5 - cx) ** 2
    ys = (np.arange(height, dtype=np.float32) + 0.5 - cy) ** 2
    r_max2 = max(cx, width - cx) ** 2 + max(cy, height - cy) ** 2
    r2 = ys[:, None] + xs[None, :]  # the same float32 operations in place (no temporaries)
    np.divide(r2, np.float32(r_max2), out=r2)
    np.multiply(r2, strength, out=r2)
    return np.subtract(1.0, r2, out=r2).astype(np.float32, copy=False)


def apply_vignette(img: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Multiply an image (H, W) or (H, W, C), uint8 or float32, by a gain map (H, W)."""
    g = gain if img.ndim == 2 else gain[:, :, None]
    if img.dtype == np.uint8:  # float32 (x * g + 0.5) clipped and truncated, in place
        f = img.astype(np.float32)
        np.multiply(f, g, out=f)
        np.add(f, np.float32(0.5), out=f)
        np.clip(f, 0, 255, out=f)
        return f.astype(np.uint8)
    return (img * g).astype(img.dtype)


class Vignette(ImageOnlyTransform):
    """Darken the image towards its corners (lens vignetting).

    Args:
        strength_range: ``[min, max]`` fraction of brightness lost at the farthest
            corner, in [0, 1].
        center_jitter: the optical centre moves by up to this fraction of the image
            size from the image centre.
        p: probability of applying the transform.
    """

    class InitSchema(BaseTransformInitSchema):
        strength_range: tuple[float, float]
        center_jitter: float

        @model_validator(mode="after")
        def _check(self) -> Self:
            lo, hi = self.strength_range
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(
                    f"strength_range must satisfy 0 <= min <= max <= 1, got {[lo, hi]}"
                )
            if not 0.0 <= self.center_jitter <= 0.5:
                raise ValueError(f"center_jitter must be in [0, 0.5], got {self.center_jitter}")
            return self

    def __init__(
        self,
        strength_range: tuple[float, float] = (0.2, 0.5),
        center_jitter: float = 0.05,
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.strength_range = strength_range
        self.center_jitter = center_jitter

    def get_params(self) -> dict[str, Any]:
        j = self.center_jitter
        return {
            "strength": self.py_random.uniform(*self.strength_range),
            "center": (0.5 + self.py_random.uniform(-j, j), 0.5 + self.py_random.uniform(-j, j)),
        }

    def apply(
        self, img: np.ndarray, strength: float, center: tuple[float, float], **params: Any
    ) -> np.ndarray:
        gain = vignette_gain(img.shape[0], img.shape[1], strength, center)
        return apply_vignette(img, gain)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("strength_range", "center_jitter")


CUSTOM_TRANSFORMS: dict[str, type] = {"Vignette": Vignette}
"""Our transforms by the short name used in pipeline YAML."""
