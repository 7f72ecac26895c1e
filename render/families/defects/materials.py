"""Material presets of the defects family: ``assets/materials/*.yaml`` -> MaterialSpec.

A preset is a YAML mapping of MaterialSpec fields; a list value ``[lo, hi]`` is
drawn uniformly per object, ``color_jitter`` scales ``base_color`` per channel,
``lightness_jitter`` all its channels by one factor (lighter or darker, same hue).
Product presets may also say what lies under them and how they wear
(:data:`ROLE_KEYS`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from render.errors import ConfigError
from render.families.common import uniform
from render.formats.inputs import read_yaml
from render.paths import PROJECT_ROOT
from render.spec import LayerSpec, MaterialSpec


@lru_cache(maxsize=8)
def load_presets(directory: str) -> dict[str, dict[str, Any]]:
    """Material presets: file stem -> the YAML mapping of ``directory/*.yaml``."""
    folder = Path(directory)
    if not folder.is_absolute():
        folder = PROJECT_ROOT / folder
    if not folder.is_dir():
        raise ConfigError(f"scene.materials_dir: folder not found: {directory}")
    presets = {}
    for path in sorted(folder.glob("*.yaml")):
        data = read_yaml(path, "material preset", ConfigError)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of material fields")
        presets[path.stem] = data
    return presets


def _value(rng: np.random.Generator, v: Any) -> float:
    return uniform(rng, (float(v[0]), float(v[1]))) if isinstance(v, list) else float(v)


ROLE_KEYS = ("substrate", "edge", "brittle", "coating", "machining")
"""Preset keys that tell the sampler how a product material behaves (not shader
inputs): ``substrate`` (preset under it: what a groove or chip exposes), ``edge``
(preset of machined chamfers and countersinks), ``brittle`` (cracks may gape),
``coating`` (paint, anodic layer, glaze: a dent crazes it), ``machining`` (gets
the product family's machining marks)."""
_KEYS = {
    "base_color", "color_jitter", "lightness_jitter", "roughness", "metallic", "texture", "noise_scale",
    "color_variation", "bump_strength", "inputs", "color2", "pattern_scale", "layer",
    *ROLE_KEYS,
}  # fmt: skip


def _jitter(color: list[float], jitter: float, rng: np.random.Generator) -> list[float]:
    return [min(1.0, max(0.0, float(c) * (1 + jitter * (2 * rng.random() - 1)))) for c in color]


def sample_material(
    presets: dict[str, dict[str, Any]], name: str, rng: np.random.Generator
) -> MaterialSpec:
    """A MaterialSpec from preset ``name``: list values ``[lo, hi]`` are drawn
    uniformly (also inside ``layer``); ``base_color`` and ``color2`` (linear RGB)
    are scaled per channel by 1 +- ``color_jitter``, ``base_color`` then as a whole
    by 1 +- ``lightness_jitter``."""
    if name not in presets:
        raise ConfigError(f"material preset {name!r} not found; available: {sorted(presets)}")
    p = presets[name]
    unknown = sorted(set(p) - _KEYS)
    if unknown:
        raise ConfigError(
            f"material preset {name!r}: unknown keys {unknown}; valid: {sorted(_KEYS)}"
        )
    jitter = float(p.get("color_jitter", 0.0))
    color = _jitter(p["base_color"], jitter, rng)
    if "lightness_jitter" in p:  # all channels by one factor: lighter or darker, same hue
        k = 1 + float(p["lightness_jitter"]) * (2 * rng.random() - 1)
        color = [min(1.0, c * k) for c in color]
    layer = None
    if p.get("layer") is not None:
        layer = LayerSpec(
            **{k: (v if isinstance(v, str) else _value(rng, v)) for k, v in p["layer"].items()}
        )
    return MaterialSpec(
        base_color=color,
        roughness=_value(rng, p.get("roughness", 0.5)),
        metallic=_value(rng, p.get("metallic", 0.0)),
        texture=p.get("texture", "noise"),
        noise_scale=_value(rng, p.get("noise_scale", 20.0)),
        color_variation=_value(rng, p.get("color_variation", 0.05)),
        bump_strength=_value(rng, p.get("bump_strength", 0.0)),
        inputs={k: _value(rng, v) for k, v in p.get("inputs", {}).items()},
        color2=_jitter(p["color2"], jitter, rng) if p.get("color2") else None,
        pattern_scale=_value(rng, p.get("pattern_scale", 0.05)),
        layer=layer,
    )


def role(presets: dict[str, dict[str, Any]], name: str, key: str) -> Any:
    """A preset's ``ROLE_KEYS`` value (None if unset)."""
    if key not in ROLE_KEYS:
        raise KeyError(f"{key!r} is not a role key; valid: {list(ROLE_KEYS)}")
    return presets.get(name, {}).get(key)
