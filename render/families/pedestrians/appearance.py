"""Who a person is and what they look like: phenotype, skin, hair, clothes, gear
(pure numpy draws from an explicit Generator).

Phenotypes follow anny's calibration data (``anny/data/shape_calibration``): for a
sex and an age, Beta distributions of height, weight, muscle and proportions fitted
to WHO growth data; ages map to anny's age axis through its morphological anchors.
Skin tones interpolate the 10 colours of the Monk Skin Tone scale (sRGB published
by Google, MST-1 lightest .. MST-10 darkest), converted to linear RGB.
"""

from __future__ import annotations

import colorsys
from functools import cache
from typing import Any

import numpy as np

from render.families.common import srgb_to_linear, uniform, weighted_choice
from render.families.pedestrians.config import (
    AGE_YEARS,
    ClothingConfig,
    PeopleConfig,
    monk_interval,
)
from render.groups import BUILDS
from render.spec import MaterialSpec

MONK = (
    "f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96",
    "a07e56", "825c43", "604134", "3a312a", "292420",
)  # fmt: skip
"""Monk Skin Tone scale, MST-1 .. MST-10, sRGB hex."""

_AGE_YEARS = (0.0, 1.0, 4.0, 11.0, 16.0, 18.0, 64.0, 110.0)
_AGE_ANNY = (0.0, 0.05, 0.215, 0.415, 0.67, 0.77, 0.83, 1.0)


def anny_age(years: float) -> float:
    """Age in years -> anny's age value (piecewise linear between its anchors)."""
    return float(np.interp(years, _AGE_YEARS, _AGE_ANNY))


@cache
def _calibration() -> dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """sex -> trait -> (age anchors, alpha anchors, beta anchors), from anny's files."""
    import anny.paths
    import torch

    folder = anny.paths.get_anny_root_dir() / "data" / "shape_calibration"
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for sex, name in (("male", "boys"), ("female", "girls")):
        data = torch.load(folder / f"{name}.pth", weights_only=True, map_location="cpu")
        out[sex] = {
            trait: tuple(
                np.asarray(data[f"conditional_{trait}_distribution"][k], dtype=np.float64)
                for k in ("age_anchors", "alpha_anchors", "beta_anchors")
            )  # type: ignore[misc]
            for trait in ("height", "weight", "muscle", "proportions")
        }
    return out


def sample_phenotype(cfg: PeopleConfig, rng: np.random.Generator) -> tuple[dict[str, float], float]:
    """anny phenotype values (``gender``, ``age``, ``muscle``, ``weight``, ``height``,
    ``proportions``, each in [0, 1]) and the age in years."""
    group = weighted_choice(rng, cfg.age_groups)
    years = uniform(rng, AGE_YEARS[group])
    female = bool(rng.random() < cfg.female_share)
    gender = 1.0 - 0.12 * float(rng.random()) if female else 0.12 * float(rng.random())
    age = anny_age(years)
    traits = _calibration()["female" if female else "male"]
    values = {"gender": gender, "age": age}
    for trait, (anchors, alphas, betas) in traits.items():
        a = max(float(np.interp(age, anchors, alphas)), 1e-3)
        b = max(float(np.interp(age, anchors, betas)), 1e-3)
        if trait == "weight" and cfg.builds is not None:
            values[trait] = _weight_of_build(weighted_choice(rng, cfg.builds), a, b, rng)
        else:
            values[trait] = float(np.clip(rng.beta(a, b), 0.0, 1.0))
    return values, years


def _weight_of_build(build: str, a: float, b: float, rng: np.random.Generator) -> float:
    """anny's weight phenotype within ``build``'s interval, from the calibrated
    Beta(a, b) restricted to it (inverse CDF); uniform in the interval where the
    calibration puts (almost) nothing there."""
    from scipy.stats import beta

    lo, hi = next((lo, hi) for name, lo, hi in BUILDS if name == build)
    hi = min(hi, 1.0)
    f_lo, f_hi = (float(v) for v in beta.cdf([lo, hi], a, b))
    if f_hi - f_lo < 1e-6:
        return float(rng.uniform(lo, hi))
    return float(np.clip(beta.ppf(rng.uniform(f_lo, f_hi), a, b), lo, np.nextafter(hi, lo)))


def sample_tone(cfg: PeopleConfig, rng: np.random.Generator) -> float:
    """A skin tone: uniform over ``skin_tone``, or by ``monk_steps`` (a step, then
    uniform over its interval within ``skin_tone``)."""
    if cfg.monk_steps is None:
        return uniform(rng, cfg.skin_tone)
    step = weighted_choice(rng, cfg.monk_steps)
    lo, hi = monk_interval(step)
    return uniform(rng, (max(lo, cfg.skin_tone[0]), min(hi, cfg.skin_tone[1])))


def skin_color(tone: float) -> list[float]:
    """Linear RGB of skin at ``tone`` in [0, 1] along the Monk scale."""
    x = float(np.clip(tone, 0.0, 1.0)) * (len(MONK) - 1)
    k = min(int(x), len(MONK) - 2)
    t = x - k
    a, b = (np.array([int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]) for h in MONK[k : k + 2])
    return [srgb_to_linear(float(c)) for c in (1 - t) * a + t * b]


def skin_material(tone: float, rng: np.random.Generator) -> MaterialSpec:
    return MaterialSpec(
        base_color=skin_color(tone),
        roughness=uniform(rng, (0.4, 0.55)),
        texture="noise",
        noise_scale=uniform(rng, (40.0, 80.0)),
        color_variation=0.06,
        bump_strength=0.05,
        coordinates="rest",
        inputs={"Subsurface Weight": uniform(rng, (0.08, 0.18)), "Subsurface Scale": 0.01},
    )


_HAIR = {  # linear-ish sRGB picks of natural hair colours, weight
    "black": ((0.02, 0.018, 0.016), 1.0),
    "dark_brown": ((0.06, 0.035, 0.02), 1.0),
    "brown": ((0.14, 0.08, 0.04), 0.8),
    "light_brown": ((0.3, 0.19, 0.1), 0.4),
    "blond": ((0.55, 0.42, 0.22), 0.35),
    "red": ((0.35, 0.1, 0.04), 0.12),
}


def hair_material(tone: float, years: float, rng: np.random.Generator) -> MaterialSpec:
    """Natural hair colour: darker skin tends to darker hair; grey and white with age."""
    weights = {
        k: w * (1.0 if k in ("black", "dark_brown") else (1 - tone) ** 2)
        for k, (_, w) in _HAIR.items()
    }
    color = np.array(_HAIR[weighted_choice(rng, weights)][0])
    grey = float(np.clip((years - 45) / 35, 0, 1)) * float(rng.random())
    color = (1 - grey) * color + grey * np.array([0.45, 0.44, 0.42])
    return MaterialSpec(
        base_color=[float(c) for c in color],
        roughness=uniform(rng, (0.35, 0.5)),
        texture="strands",
        noise_scale=uniform(rng, (60.0, 120.0)),
        color_variation=0.25,
        bump_strength=0.15,
        coordinates="rest",
        inputs={"Coat Weight": 0.2},
    )


def _garment_color(rng: np.random.Generator) -> list[float]:
    """Street clothing colours: mostly muted and dark, some saturated."""
    if rng.random() < 0.45:  # neutrals: black, grey, white, beige, navy
        v = float(rng.choice([0.06, 0.12, 0.25, 0.45, 0.75, 0.88]))
        h, s = float(rng.choice([0.08, 0.6, 0.62, 0.1])), uniform(rng, (0.0, 0.25))
    else:
        h, s, v = float(rng.random()), uniform(rng, (0.3, 0.85)), uniform(rng, (0.15, 0.8))
    return [srgb_to_linear(c) for c in colorsys.hsv_to_rgb(h, s, v)]


def garment_material(fabric: str, rng: np.random.Generator) -> MaterialSpec:
    """A fabric material (texture in rest-pose coordinates, so it follows the body)."""
    base = _garment_color(rng)
    common: dict[str, Any] = {
        "roughness": uniform(rng, (0.6, 0.95)),
        "coordinates": "rest",
        "noise_scale": uniform(rng, (60.0, 150.0)),
        "color_variation": 0.08,
        "inputs": {"Sheen Weight": uniform(rng, (0.1, 0.5))},
    }
    if fabric == "denim":
        blue = [
            srgb_to_linear(c)
            for c in colorsys.hsv_to_rgb(0.6, uniform(rng, (0.4, 0.7)), uniform(rng, (0.2, 0.55)))
        ]
        return MaterialSpec(
            base_color=blue, texture="denim", pattern_scale=0.004, bump_strength=0.2, **common
        )
    if fabric == "stripes":
        return MaterialSpec(
            base_color=base,
            texture="stripes",
            color2=_garment_color(rng),
            pattern_scale=uniform(rng, (0.02, 0.08)),
            **common,
        )
    if fabric == "print":
        return MaterialSpec(
            base_color=base,
            texture="print",
            color2=_garment_color(rng),
            pattern_scale=uniform(rng, (0.02, 0.06)),
            **common,
        )
    return MaterialSpec(base_color=base, texture="noise", bump_strength=0.08, **common)


def shoe_material(rng: np.random.Generator) -> MaterialSpec:
    v = float(rng.choice([0.03, 0.08, 0.2, 0.6, 0.85]))
    return MaterialSpec(
        base_color=[srgb_to_linear(v)] * 3,
        roughness=uniform(rng, (0.3, 0.7)),
        texture="noise",
        color_variation=0.05,
    )


def eye_material() -> MaterialSpec:
    return MaterialSpec(base_color=[0.05, 0.03, 0.02], roughness=0.1, texture="none")


def gear_material(rng: np.random.Generator) -> MaterialSpec:
    return MaterialSpec(
        base_color=_garment_color(rng),
        roughness=uniform(rng, (0.4, 0.8)),
        texture="noise",
        color_variation=0.05,
        coordinates="rest",
    )


def sample_outfit(
    cfg: ClothingConfig, years: float, female: bool, rng: np.random.Generator
) -> dict[str, Any]:
    """Kinds of top, bottom and hair (and the skirt length)."""
    bottoms = dict(cfg.bottoms)
    if not female:
        bottoms["skirt"] = bottoms.get("skirt", 0.0) * 0.05
    hair = dict(cfg.hair)
    if female or years < 18:
        hair["bald"] = hair.get("bald", 0.0) * 0.05
    if not female:
        hair["long"] = hair.get("long", 0.0) * 0.15
    return {
        "top": weighted_choice(rng, cfg.tops),
        "bottom": weighted_choice(rng, bottoms),
        "hair": weighted_choice(rng, hair),
        "skirt_length": float(rng.random()),
    }
