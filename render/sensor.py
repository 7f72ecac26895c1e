"""A camera's exposure, noise and tone curve applied to a render's linear light
(pure numpy): what ``camera.sensor.exposure: auto`` does instead of Blender's fixed
view transform.

1. **Meter.** The log-average luminance of the frame (``frame``) or with its
   middle half weighted 3x (``center``), highlights above the 99th percentile
   left out (a street light does not darken the street).
2. **Expose.** The camera needs ``stops = log2(target / metered)`` more light than
   the render's own scale (0: a daylight scene as Blender's view shows it). It
   takes them from a longer shutter first (up to ``max_shutter_stops``), then from
   gain (up to ``max_gain_db``, 6.02 dB a stop); what is still missing stays
   missing (the frame is darker: the sensor's limit), and a too-bright scene gets a
   shorter shutter.
3. **Noise.** Shot noise and read noise in electrons: a pixel of linear value
   ``x`` (after exposure) collects ``x * full_well / gain`` electrons, Poisson;
   read noise ``read_noise_e`` electrons, Gaussian; both then scaled by the gain,
   so noise grows as the gain does (per pixel and channel, seeded).
4. **Tone curve.** Narkowicz's fit of the ACES filmic curve,
   ``y = x (2.51 x + 0.03) / (x (2.43 x + 0.59) + 0.14)`` of ``0.6 x``, clipped to
   1 (mid-grey 0.18 lands at sRGB 105 of 255), then the sRGB transfer function,
   8 bits.

Each image records ``ev_stops``, ``shutter_stops``, ``gain_db``,
``underexposed_stops`` (light the sensor could not make up), ``metered`` and
``noise_sigma`` (the noise's standard deviation at mid-grey, linear).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from render.spec import SensorSpec

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def meter(linear: np.ndarray, metering: str) -> float:
    """Log-average luminance of ``linear`` (H, W, 3), highlights above the 99th
    percentile left out; ``center`` weights the middle half of the frame 3x."""
    lum = np.maximum(linear.astype(np.float32) @ LUMA, 1e-6)
    h, w = lum.shape
    weights = np.ones((h, w), dtype=np.float32)
    if metering == "center":
        weights[h // 4 : h - h // 4, w // 4 : w - w // 4] = 3.0
    keep = lum <= np.percentile(lum, 99)
    return float(np.exp(np.sum(np.log(lum[keep]) * weights[keep]) / np.sum(weights[keep])))


def exposure(metered: float, s: SensorSpec) -> dict[str, float]:
    """How the camera exposes a frame metered at ``metered``."""
    need = math.log2(s.target / max(metered, 1e-9))
    shutter = min(need, s.max_shutter_stops)
    gain_stops = min(max(need - shutter, 0.0), s.max_gain_db / 6.02)
    return {
        "metered": round(metered, 6),
        "ev_stops": round(shutter + gain_stops, 4),
        "shutter_stops": round(shutter, 4),
        "gain_db": round(gain_stops * 6.02, 3),
        "underexposed_stops": round(max(need - shutter - gain_stops, 0.0), 4),
    }


def tone(x: np.ndarray) -> np.ndarray:
    """ACES filmic (Narkowicz) then sRGB: linear (>= 0) -> display [0, 1]."""
    x = 0.6 * np.maximum(x, 0.0)
    y = np.clip(x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0)
    return np.where(y <= 0.0031308, 12.92 * y, 1.055 * np.power(y, 1 / 2.4) - 0.055)


def develop(linear: np.ndarray, s: SensorSpec) -> tuple[np.ndarray, dict[str, Any]]:
    """uint8 sRGB (H, W, 3) of a linear render and its exposure record."""
    rec: dict[str, Any] = exposure(meter(linear, s.metering), s)
    gain = 2.0 ** (rec["gain_db"] / 6.02)
    x = linear.astype(np.float64) * 2.0 ** rec["ev_stops"]
    rng = np.random.default_rng(s.seed)
    electrons = rng.poisson(np.maximum(x, 0.0) * s.full_well / gain)
    electrons = electrons + rng.normal(0.0, s.read_noise_e, x.shape)
    noisy = electrons * gain / s.full_well
    mid = 0.18
    rec["noise_sigma"] = round(
        math.sqrt(mid * gain / s.full_well + (s.read_noise_e * gain / s.full_well) ** 2), 6
    )
    rgb = np.rint(tone(noisy) * 255.0).astype(np.uint8)
    return rgb, rec
