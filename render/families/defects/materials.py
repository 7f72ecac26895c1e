"""Material presets of the defects family: ``assets/materials/*.yaml`` -> MaterialSpec.

A preset is a YAML mapping of MaterialSpec fields; a list value ``[lo, hi]`` is
drawn uniformly per object, ``color_jitter`` scales ``base_color`` per channel.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from render.errors import ConfigError
from render.families.common import uniform
from render.paths import PROJECT_ROOT
from render.spec import MaterialSpec


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
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of material fields")
        presets[path.stem] = data
    return presets


def _value(rng: np.random.Generator, v: Any) -> float:
    return uniform(rng, (float(v[0]), float(v[1]))) if isinstance(v, list) else float(v)


def sample_material(
    presets: dict[str, dict[str, Any]], name: str, rng: np.random.Generator
) -> MaterialSpec:
    """A MaterialSpec from preset ``name``: list values ``[lo, hi]`` are drawn
    uniformly; ``base_color`` (linear RGB) is scaled per channel by 1 +- ``color_jitter``."""
    if name not in presets:
        raise ConfigError(f"material preset {name!r} not found; available: {sorted(presets)}")
    p = presets[name]
    jitter = float(p.get("color_jitter", 0.0))
    color = [
        min(1.0, max(0.0, float(c) * (1 + jitter * (2 * rng.random() - 1))))
        for c in p["base_color"]
    ]
    return MaterialSpec(
        base_color=color,
        roughness=_value(rng, p.get("roughness", 0.5)),
        metallic=_value(rng, p.get("metallic", 0.0)),
        texture=p.get("texture", "noise"),
        noise_scale=_value(rng, p.get("noise_scale", 20.0)),
        color_variation=_value(rng, p.get("color_variation", 0.05)),
        bump_strength=_value(rng, p.get("bump_strength", 0.0)),
        inputs={k: _value(rng, v) for k, v in p.get("inputs", {}).items()},
    )
