"""Class balance of the defects family: which products are good, which type each
defect slot gets.

With ``stratify`` (default) both come from low-discrepancy (Weyl) sequences over
the scene index, so class counts track the configured targets closely at any
dataset size, while each scene still depends only on (seed, scene index).
"""

from __future__ import annotations

import math

import numpy as np

from render.families.defects.config import DEFECT_TYPES, DefectsScene
from render.seeding import stream

_ALPHA_GOOD = (math.sqrt(5) - 1) / 2  # Weyl steps: 1, these three are rationally independent
_ALPHA_TYPE = math.sqrt(2) - 1
_ALPHA_SLOT = math.sqrt(3) - 1
MAX_DEFECT_SLOTS = 16


def _frac(x: float) -> float:
    return x - math.floor(x)


def balance_offsets(seed: int) -> tuple[float, float]:
    """Per-dataset offsets of the Weyl sequences (depend on the seed only)."""
    rng = stream(seed, 0, "balance")
    return float(rng.random()), float(rng.random())


def is_good(
    sc: DefectsScene, seed: int, scene_index: int, product: int, rng: np.random.Generator
) -> bool:
    """Whether product ``product`` of a scene is defect-free."""
    if not sc.stratify:
        return bool(rng.random() < sc.good_fraction)
    base, _ = balance_offsets(seed)
    return _frac(base + scene_index * _ALPHA_GOOD + product * _ALPHA_SLOT) < sc.good_fraction


def defect_type(
    sc: DefectsScene, seed: int, scene_index: int, slot: int, rng: np.random.Generator
) -> str:
    """The type of defect slot ``slot`` (product * MAX_DEFECT_SLOTS + k) of a scene,
    drawn with the configured target frequencies."""
    types = [t for t in DEFECT_TYPES if t in sc.defects and sc.defects[t].frequency > 0]
    weights = np.array([sc.defects[t].frequency for t in types], dtype=np.float64)
    cdf = np.cumsum(weights / weights.sum())
    if sc.stratify:
        _, base = balance_offsets(seed)
        u = _frac(base + scene_index * _ALPHA_TYPE + slot * _ALPHA_SLOT)
    else:
        u = float(rng.random())
    return types[min(int(np.searchsorted(cdf, u, side="right")), len(types) - 1)]
