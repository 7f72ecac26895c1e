"""Coverage targets of a pedestrians config (pure): the share of people each
group should have, as the sampler draws them, for ``synthcv report``'s coverage
card (:mod:`render.report.coverage`) and the sampling test.

- age: ``people.age_groups``; sex: ``people.female_share``;
- skin tone, by Monk step: ``people.monk_steps``, else the shares a uniform draw
  over ``people.skin_tone`` gives (steps 1 and 10 span half an interval);
- build: ``people.builds`` (None: anny's calibrated mix, no target);
- activity: ``people.activities`` (the sampler lets children run twice as often
  and seats at most two sitters per visible bench, so the rendered mix departs
  from it: the card shows by how much);
- occlusion: ``people.occlusion_target`` (not sampled: placement decides it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from render.families.pedestrians.config import PeopleConfig, monk_interval


def _normed(weights: Mapping[Any, float] | None) -> dict[str, float] | None:
    if weights is None:
        return None
    total = float(sum(weights.values()))
    return {str(k): float(v) / total for k, v in weights.items()}


def monk_shares(cfg: PeopleConfig) -> dict[str, float]:
    """Share of each Monk step ("Monk 1".."Monk 10") the sampler draws."""
    if cfg.monk_steps is not None:
        total = float(sum(cfg.monk_steps.values()))
        return {f"Monk {s}": cfg.monk_steps.get(s, 0.0) / total for s in range(1, 11)}
    lo, hi = cfg.skin_tone
    out = {}
    for step in range(1, 11):
        a, b = monk_interval(step)
        overlap = max(0.0, min(b, hi) - max(a, lo))
        out[f"Monk {step}"] = overlap / (hi - lo) if hi > lo else float(a <= lo <= b)
    return out


def targets(scene: Mapping[str, Any]) -> dict[str, dict[str, float] | None]:
    """Attribute -> group -> target share, from a pedestrians ``scene`` section (its
    JSON, as ``dataset.json`` records it); None where the config sets no target."""
    cfg = PeopleConfig.model_validate(scene.get("people") or {})
    sex = {"female": cfg.female_share, "male": 1.0 - cfg.female_share}
    return {
        "age": _normed(cfg.age_groups),
        "sex": sex,
        "Monk step": monk_shares(cfg),
        "build": _normed(cfg.builds),
        "activity": _normed(cfg.activities),
        "occlusion": _normed(cfg.occlusion_target),
    }


def within(shares: Mapping[str, float], target: Mapping[str, float], n: int) -> list[str]:
    """Groups whose share of ``n`` people is off its target by more than 4 binomial
    standard deviations (+0.005): what a sample of n from the target should never do."""
    bad = []
    for group, p in target.items():
        tol = 4 * np.sqrt(max(p * (1 - p), 1e-9) / n) + 0.005
        if abs(shares.get(group, 0.0) - p) > tol:
            bad.append(f"{group}: {shares.get(group, 0.0):.3f} vs {p:.3f} (tolerance {tol:.3f})")
    return bad
