"""Falling rain and drops on the lens, added to a render's linear light (pure numpy).

**Falling rain** (``RainSpec``) follows Garg and Nayar's photometric model of rain
streaks ("Photorealistic rendering of rain streaks", SIGGRAPH 2006, simplified):

- Drops fill the camera's view from ``near_m`` to ``far_m`` at the Marshall-Palmer
  number density of a rain rate R (mm/h): diameters D are exponential with
  ``Lambda = 4.1 R**-0.21`` per mm, ``N0 = 8000`` per m^3 per mm, counted from
  ``min_diameter_mm``; so 10 mm/h brings ~890 drops of 0.5 mm or more per m^3.
- Each falls at its terminal velocity ``v(D) = 9.65 - 10.3 exp(-0.6 D)`` m/s
  (Atlas et al. 1973) plus the wind, relative to the camera's own motion, and
  draws a streak from where it is when the shutter opens to where it is when it
  closes (pinhole projection with ``K`` and the camera pose).
- A drop's image covers ``a = pi/4 (D f / z)^2`` pixels during the whole
  exposure ``T``; along a streak of n pixels each pixel is covered for 1/n of it,
  so its light moves towards the drop's own radiance by ``a / n`` (at most 1):
  ``I' = I + sum(a / n) (E_drop - I)``. Averaged over the frame, rain so veils a
  pixel by its optical depth out to ``far_m`` (the drops' cross-sections: 1.5 per
  km at 10 mm/h, 1-3 % at 20 m), as measured visibility in rain says. A near
  drop's streak is drawn one pixel wide, its light kept. A drop
  refracts a ~165 degree cone of its surroundings, the bright sky and lamps
  included, so ``E_drop`` is ``drop_brightness`` times the frame's 90th
  percentile light, or the mean over a window a quarter of the frame wide where
  that is brighter (near a street light, drops glow).
- Drops are hidden behind surfaces nearer than themselves (the depth map).
- Only drops nearer than ``streaks_m`` (8 m) are drawn one by one: they are 6 %
  of those out to 20 m (density grows as z^2) and make the visible streaks.
  Farther drops are sub-pixel and faint; they are added as their mean, a veil of
  the rain's optical depth from ``streaks_m`` to the surface or ``far_m``. On a
  640x480 view at 25 mm/h that drew 0.39 instead of 6.1 million drops, 0.19 s
  instead of 5.3 s, and left the mean change of light as it was (0.0444 both).

So rain is faint where it is faint in a photograph (a few percent on a bright
wall at 1/60 s) and shows against dark backgrounds and near lights.
Annotations do not change: the masks are the geometry's.

**Lens droplets** (``LensDropletsSpec``): water on the lens or windscreen, far
out of focus. Each droplet is a disc that refracts a wider patch of the view,
upside down and blurred (``render.weather.lens_droplets``), with a soft, slightly
darker rim. Each image records the droplets (centre and radius in pixels) so
that a user can mask them out or study them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage

from render.sensor import exposure, meter
from render.spec import LensDropletsSpec, RainSpec, SceneSpec

N0 = 8000.0  # Marshall-Palmer, per m^3 per mm of diameter


def slope(rate_mm_h: float) -> float:
    """Marshall-Palmer's Lambda, per mm, at a rain rate in mm/h."""
    return 4.1 * rate_mm_h**-0.21


def drops_per_m3(rate_mm_h: float, min_diameter_mm: float) -> float:
    """Drops of diameter >= ``min_diameter_mm`` per cubic metre."""
    lam = slope(rate_mm_h)
    return N0 / lam * math.exp(-lam * min_diameter_mm)


def cross_section(rate_mm_h: float, min_diameter_mm: float) -> float:
    """The drops' summed cross-section per cubic metre (m^2 / m^3): the optical depth
    of rain per metre of path, integral of N(D) pi D^2 / 4 over D >= the minimum."""
    lam, d0 = slope(rate_mm_h), min_diameter_mm
    mm2 = N0 * math.pi / 4 * math.exp(-lam * d0) * (d0**2 / lam + 2 * d0 / lam**2 + 2 / lam**3)
    return mm2 * 1e-6


def terminal_velocity(d_mm: np.ndarray) -> np.ndarray:
    """Fall speed of drops of diameter ``d_mm``, m/s (Atlas et al. 1973), >= 0.5."""
    return np.maximum(9.65 - 10.3 * np.exp(-0.6 * np.asarray(d_mm)), 0.5)


def _sample_drops(
    rain: RainSpec, K: np.ndarray, w: int, h: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Drop centres in camera coordinates (n, 3; OpenCV: x right, y down, z ahead)
    and diameters (n, mm), uniform over the view's frustum between near and far."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    # frustum volume: integral of (w/fx)(h/fy) z^2 dz
    near, far = rain.near_m, min(rain.far_m, rain.streaks_m)
    area = (w / fx) * (h / fy)
    volume = area * max(far**3 - near**3, 0.0) / 3.0
    n = int(rng.poisson(drops_per_m3(rain.rate_mm_h, rain.min_diameter_mm) * volume))
    u = rng.random(n)
    z = np.cbrt(near**3 + u * (far**3 - near**3))  # density ~ z^2
    px, py = rng.random(n) * w, rng.random(n) * h
    pts = np.column_stack([(px - cx) / fx * z, (py - cy) / fy * z, z])
    d = rain.min_diameter_mm + rng.exponential(1.0 / slope(rain.rate_mm_h), n)
    return pts, d


def rain_streaks(
    linear: np.ndarray,
    depth: np.ndarray,
    K: np.ndarray,
    pose: np.ndarray,
    rain: RainSpec,
    shutter_s: float,
    chunk: int = 400_000,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``linear`` (H, W, 3) with falling rain over ``shutter_s`` seconds, and a record
    (drops drawn, the streaks' mean length in pixels, the mean change of light).
    ``pose``: camera-to-world 4x4 (OpenCV)."""
    h, w = depth.shape
    rng = np.random.default_rng(rain.seed)
    K = np.asarray(K, dtype=np.float64)
    pose = np.asarray(pose, dtype=np.float64)
    rot = pose[:3, :3]
    pts, d_mm = _sample_drops(rain, K, w, h, rng)
    wind = np.array([rain.wind_mps[0], rain.wind_mps[1], 0.0])
    cam_v = np.asarray(rain.camera_velocity_mps, dtype=np.float64)
    v_fall = terminal_velocity(d_mm)
    cover = np.zeros(h * w, dtype=np.float64)
    lengths = []
    f = float(K[0, 0])
    for s in range(0, len(d_mm), chunk):
        p0, dd, vf = pts[s : s + chunk], d_mm[s : s + chunk] / 1000.0, v_fall[s : s + chunk]
        vel_world = wind[None, :] - cam_v[None, :]
        vel_world = np.repeat(vel_world, len(dd), axis=0)
        vel_world[:, 2] -= vf
        p1 = p0 + (vel_world @ rot) * shutter_s  # world velocity into camera axes
        z0, z1 = p0[:, 2], np.maximum(p1[:, 2], 1e-3)
        u0 = K[0, 0] * p0[:, 0] / z0 + K[0, 2]
        v0 = K[1, 1] * p0[:, 1] / z0 + K[1, 2]
        u1 = K[0, 0] * p1[:, 0] / z1 + K[0, 2]
        v1 = K[1, 1] * p1[:, 1] / z1 + K[1, 2]
        length = np.hypot(u1 - u0, v1 - v0)
        lengths.append(length)
        n_steps = np.maximum(np.ceil(length), 1).astype(np.int64)
        zm = (z0 + z1) / 2
        area = math.pi / 4 * (dd * f / zm) ** 2  # the drop's image, in pixels
        alpha = area / n_steps  # the shutter's time, spread along the streak
        idx = np.repeat(np.arange(len(dd)), n_steps)
        first = np.repeat(np.cumsum(n_steps) - n_steps, n_steps)
        t = (np.arange(len(idx)) - first + 0.5) / n_steps[idx]
        us = u0[idx] + (u1[idx] - u0[idx]) * t
        vs = v0[idx] + (v1[idx] - v0[idx]) * t
        zs = z0[idx] + (z1[idx] - z0[idx]) * t
        inside = (us >= 0) & (us < w) & (vs >= 0) & (vs < h)
        pix = vs[inside].astype(np.int64) * w + us[inside].astype(np.int64)
        seen = zs[inside] < depth.reshape(-1)[pix]  # behind a surface: hidden
        weight = np.minimum(alpha[idx][inside][seen], 1.0)
        cover += np.bincount(pix[seen], weights=weight, minlength=h * w)
    # beyond streaks_m the drops are sub-pixel and faint: their mean, a veil as deep
    # as the rain between there and the surface (or far_m)
    path = np.clip(np.minimum(depth, rain.far_m) - rain.streaks_m, 0.0, None)
    cover += (cross_section(rain.rate_mm_h, rain.min_diameter_mm) * path).reshape(-1)
    a = np.minimum(cover, 1.0).reshape(h, w, 1)
    size = max(3, min(h, w) // 4)
    around = ndimage.uniform_filter(linear.astype(np.float64), size=(size, size, 1), mode="reflect")
    flat = linear.reshape(-1, linear.shape[-1]).astype(np.float64)
    bright = np.percentile(flat, 90, axis=0)  # the sky and lamps a drop's wide cone takes in
    e_drop = rain.drop_brightness * np.maximum(around, bright)
    out = linear + a * (e_drop - linear)
    all_len = np.concatenate(lengths) if lengths else np.zeros(0)
    record = {
        "rate_mm_h": round(rain.rate_mm_h, 2),
        "drops": len(d_mm),  # drawn one by one, out to streaks_m
        "streak_px": round(float(np.median(all_len)), 2) if len(all_len) else 0.0,
        "shutter_s": round(shutter_s, 5),
        "mean_change": round(float(np.mean(np.abs(out - linear)) / max(np.mean(linear), 1e-9)), 5),
    }
    return out.astype(np.float32), record


def lens_droplets(
    linear: np.ndarray, spec: LensDropletsSpec
) -> tuple[np.ndarray, list[list[float]]]:
    """``linear`` (H, W, 3) seen through droplets on the lens, and the droplets
    ``[cx, cy, radius]`` in pixels. Inside a droplet of radius r the view is that of
    a small lens: the surroundings within ``spec.field`` x r, upside down, blurred
    (sigma r / 6, the droplet is far out of focus), edged by a soft rim
    ``spec.rim_darkening`` darker."""
    h, w = linear.shape[:2]
    rng = np.random.default_rng(spec.seed)
    n = int(rng.integers(spec.count[0], spec.count[1] + 1))
    out = linear.astype(np.float64).copy()
    drops = []
    scale = min(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    for _ in range(n):
        r = float(rng.uniform(*spec.radius_frac)) * scale
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        squash = float(rng.uniform(0.75, 1.0))  # drops sag: a little wider than tall
        x0, x1 = int(max(cx - r - 2, 0)), int(min(cx + r + 2, w))
        y0, y1 = int(max(cy - r - 2, 0)), int(min(cy + r + 2, h))
        if x1 <= x0 or y1 <= y0:
            continue
        dx, dy = xx[y0:y1, x0:x1] - cx, (yy[y0:y1, x0:x1] - cy) / squash
        rho = np.hypot(dx, dy) / r
        inside = rho < 1.0
        if not inside.any():
            continue
        # a droplet is a small lens: it shows a wider field, inverted, out of focus
        sx = np.clip(cx - dx * spec.field, 0, w - 1).astype(np.int64)
        sy = np.clip(cy - dy * squash * spec.field, 0, h - 1).astype(np.int64)
        pad = int(r / 2) + 1  # blur only the patch the droplet shows (3 sigma around it)
        bx0, bx1 = max(int(sx.min()) - pad, 0), min(int(sx.max()) + pad + 1, w)
        by0, by1 = max(int(sy.min()) - pad, 0), min(int(sy.max()) + pad + 1, h)
        src = linear[by0:by1, bx0:bx1].astype(np.float64)
        blur = ndimage.gaussian_filter(src, sigma=(r / 6, r / 6, 0), mode="nearest")
        seen = blur[sy - by0, sx - bx0]
        rim = 1.0 - spec.rim_darkening * np.clip((rho - 0.7) / 0.3, 0.0, 1.0) ** 2
        edge = np.clip((1.0 - rho) * r / 1.5, 0.0, 1.0)[..., None]  # ~1.5 px soft edge
        patch = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = patch + edge * (seen * rim[..., None] - patch)
        drops.append([round(cx, 1), round(cy, 1), round(r, 1)])
    return out.astype(np.float32), drops


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB -> linear float32."""
    x = rgb.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """linear -> uint8 sRGB (clipped)."""
    x = np.clip(x, 0.0, 1.0)
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.rint(y * 255.0).astype(np.uint8)


def weather_view(
    colors: np.ndarray, depth: np.ndarray, spec: SceneSpec, view: int
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """View ``view`` of ``spec`` with its world's rain and lens droplets: ``colors``
    is linear light when the camera develops it (``render.sensor``), else 8-bit
    sRGB (taken back to linear and returned as 8-bit). The streaks last the
    rain's shutter, times 2**shutter_stops that auto exposure will choose."""
    world = spec.world
    if world.rain is None and world.lens_droplets is None:
        return colors, None
    sensor = spec.render.sensor
    linear = colors.astype(np.float32) if sensor is not None else srgb_to_linear(colors)
    record: dict[str, Any] = {}
    if world.rain is not None:
        pose_index, tile = spec.camera.views()[view]
        K = np.asarray(spec.camera.K, dtype=np.float64).copy()
        if tile is not None:
            K[0, 2] -= tile.x
            K[1, 2] -= tile.y
        shutter = world.rain.shutter_s
        if sensor is not None:
            shutter *= 2.0 ** exposure(meter(linear, sensor.metering), sensor)["shutter_stops"]
        linear, record["rain"] = rain_streaks(
            linear, depth, K, np.asarray(spec.camera.poses[pose_index]), world.rain, shutter
        )
    if world.lens_droplets is not None:
        linear, record["lens_droplets"] = lens_droplets(linear, world.lens_droplets)
    return (linear if sensor is not None else linear_to_srgb(linear)), record
