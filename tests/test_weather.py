"""Falling rain and lens droplets (render/weather.py): drop numbers and speeds as
the literature gives them, streaks as long as the fall during the shutter, hidden
behind nearer surfaces, a veil equal to rain's optical depth; droplets that show
an inverted view; and their sampling and records in the pedestrians family."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from render import camera as cm
from render.config import load_config
from render.sampling import sample_scene
from render.spec import LensDropletsSpec, RainSpec
from render.weather import (
    N0,
    drops_per_m3,
    lens_droplets,
    linear_to_srgb,
    rain_streaks,
    slope,
    srgb_to_linear,
    terminal_velocity,
)

ROOT = Path(__file__).resolve().parents[1]
W, H = 320, 240
K = cm.intrinsics(24.0, 36.0, W, H)
LEVEL = np.eye(4)
LEVEL[:3, :3] = np.column_stack([[0, -1, 0], [0, 0, -1], [1, 0, 0]])  # looking along +X, Z up


def _scene(dark: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """A dark ground (linear ``dark``) under a bright band (1.0) at the top; every
    surface 50 m away."""
    img = np.full((H, W, 3), dark, np.float32)
    img[: H // 4] = 1.0
    return img, np.full((H, W), 50.0, np.float32)


def test_drop_numbers_and_speeds_follow_marshall_palmer_and_atlas() -> None:
    lam = 4.1 * 10**-0.21
    assert slope(10.0) == pytest.approx(lam)
    assert drops_per_m3(10.0, 0.0) == pytest.approx(N0 / lam)  # all drops
    assert drops_per_m3(10.0, 0.5) == pytest.approx(N0 / lam * math.exp(-lam * 0.5))
    assert 800 < drops_per_m3(10.0, 0.5) < 1000 and drops_per_m3(25.0, 0.5) > drops_per_m3(2.0, 0.5)
    v = terminal_velocity(np.array([0.5, 1.0, 2.0, 5.0]))
    assert v[2] == pytest.approx(9.65 - 10.3 * math.exp(-1.2)) and np.all(np.diff(v) > 0)
    assert 6.0 < v[2] < 7.0 and 9.0 < v[3] < 9.7  # 2 mm: ~6.5 m/s, 5 mm: ~9.1 m/s


def test_streaks_last_the_shutter_and_hide_behind_surfaces() -> None:
    img, depth = _scene()
    rain = RainSpec(rate_mm_h=10.0, seed=3)
    _, short = rain_streaks(img, depth, K, LEVEL, rain, 1 / 120)
    _, long = rain_streaks(img, depth, K, LEVEL, rain, 1 / 30)
    assert short["drops"] == long["drops"] > 100_000
    assert long["streak_px"] == pytest.approx(4 * short["streak_px"], rel=0.15)
    # a wall 0.2 m in front of the camera: every drop is behind it
    out, _ = rain_streaks(img, np.full((H, W), 0.2, np.float32), K, LEVEL, rain, 1 / 60)
    assert np.array_equal(out, img)


def test_rain_veils_dark_ground_by_its_optical_depth() -> None:
    """Averaged over the frame, drops cover a pixel's ray by the rain's optical
    depth out to far_m: the cross-sections of the drops in that volume."""
    img, depth = _scene(dark=0.0)
    rain = RainSpec(rate_mm_h=10.0, seed=5)
    out, _ = rain_streaks(img, depth, K, LEVEL, rain, 1 / 60)
    veil = float(out[H // 2 :, :, 0].mean())  # the drops' light over a black ground, 1.0 bright
    lam, d0 = slope(10.0), rain.min_diameter_mm  # cross-section per m^3: int N(D) pi D^2 / 4
    cross_mm2 = (
        N0 * math.pi / 4 * math.exp(-lam * d0) * (d0**2 / lam + 2 * d0 / lam**2 + 2 / lam**3)
    )
    depth_optical = cross_mm2 * 1e-6 * (rain.far_m - rain.near_m)
    assert 0.01 < depth_optical < 0.05
    assert veil == pytest.approx(depth_optical, rel=0.25)


def test_streaks_fall_down_the_frame_and_slant_with_the_wind() -> None:
    img, depth = _scene(dark=0.0)
    calm = RainSpec(rate_mm_h=25.0, near_m=2.0, far_m=3.0, seed=1)
    windy = calm.model_copy(update={"wind_mps": [0.0, 8.0]})  # world +Y: the image's left
    for spec, sign in ((calm, 0), (windy, -1)):
        out, _ = rain_streaks(img, depth, K, LEVEL, spec, 1 / 15)
        lit = out[H // 3 :, :, 0]
        gy = np.abs(np.diff(lit, axis=1)).sum()  # vertical streaks: changes across x
        gx = np.abs(np.diff(lit, axis=0)).sum()
        if sign == 0:
            assert gy > 3 * gx
        else:  # slanted: the streak's direction mixes both
            assert gy < 3 * gx


def test_lens_droplets_show_the_view_upside_down() -> None:
    img = np.zeros((H, W, 3), np.float32)
    img[: H // 2] = 1.0  # bright top, dark bottom
    spec = LensDropletsSpec(count=(1, 1), radius_frac=(0.15, 0.15), seed=0)
    for seed in range(20):  # a droplet wholly inside, away from the bright/dark edge
        out, drops = lens_droplets(img, spec.model_copy(update={"seed": seed}))
        cx, cy, r = drops[0]
        if r < cx < W - r and r < cy < H - r and abs(cy - H / 2) < r / 4:
            break
    else:
        pytest.fail("no droplet over the middle")
    assert len(drops) == 1 and r == pytest.approx(0.15 * H, abs=0.1)
    top = out[int(cy - 0.6 * r), int(cx)].mean()
    bottom = out[int(cy + 0.5 * r), int(cx)].mean()
    assert top < 0.2 and bottom > 0.8  # inverted: the dark ground at its top
    far = np.ones((H, W), bool)
    yy, xx = np.mgrid[0:H, 0:W]
    far[np.hypot(xx - cx, (yy - cy)) < 1.5 * r] = False
    assert np.array_equal(out[far], img[far])


def test_srgb_round_trip() -> None:
    rgb = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    assert np.array_equal(linear_to_srgb(srgb_to_linear(rgb)), rgb)


def test_rain_is_sampled_in_wet_scenes_and_recorded() -> None:
    common = ["render.resolution=[320, 240]", "scene.people.count=[2, 2]",
              "scene.camera.rigs={dashcam: 1}", "scene.sky.rain_probability=1",
              "scene.sky.lens_droplet_probability=1", "scene.sky.rain_rate_mm_h=[5, 6]"]  # fmt: skip
    wet = sample_scene(
        load_config(ROOT / "configs/pedestrians.yaml", [*common, "scene.street.wet_probability=1"]),
        0,
    )
    cond = wet.meta["conditions"]
    assert cond["wet"] and 5 <= cond["rain_mm_h"] <= 6 and cond["lens_droplets"]
    assert wet.world.rain is not None and wet.world.rain.rate_mm_h == pytest.approx(
        cond["rain_mm_h"], abs=0.05
    )
    assert wet.world.lens_droplets is not None
    dry = sample_scene(
        load_config(ROOT / "configs/pedestrians.yaml", [*common, "scene.street.wet_probability=0"]),
        0,
    )
    assert dry.world.rain is None and dry.meta["conditions"]["rain_mm_h"] is None
    assert dry.world.lens_droplets is None and not dry.meta["conditions"]["lens_droplets"]
