"""Person groups from annotation attributes (pure): age group, Monk skin-tone step
and group, sex, body build, activity, occlusion. One definition for the sampler's
coverage targets (:mod:`render.families.pedestrians.coverage`), the report's
coverage card and the recall tables of ``synthcv evaluate``
(:mod:`render.training.recall`).

Each function takes an annotation's ``attributes`` (or the annotation, for
occlusion) and returns the group's name, or None when the field is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

AGE_GROUPS = (("child", 0, 13), ("teen", 13, 20), ("adult", 20, 65), ("senior", 65, 200))
"""Age in years: [lo, hi)."""
BUILDS = (("slim", 0.0, 0.35), ("average", 0.35, 0.65), ("heavy", 0.65, 1.0001))
"""anny's ``weight`` phenotype (0..1, 0.5 = the population's middle): [lo, hi)."""
VISIBILITY = (("0-25%", 0.0, 0.25), ("25-50%", 0.25, 0.5), ("50-75%", 0.5, 0.75),
              ("75-100%", 0.75, 1.0001))  # fmt: skip
"""Visible share of a person (the annotation's ``visibility``): [lo, hi)."""


def _number(attrs: Mapping[str, Any], key: str) -> float | None:
    v = attrs.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _bin(value: float | None, bins: tuple[tuple[str, float, float], ...]) -> str | None:
    if value is None:
        return None
    return next((name for name, lo, hi in bins if lo <= value < hi), None)


def age_group(attrs: Mapping[str, Any]) -> str | None:
    return _bin(_number(attrs, "age_years"), AGE_GROUPS)


def monk_step(tone: float) -> int:
    """Monk scale step 1..10 of a ``skin_tone`` in [0, 1] (0 = Monk 1, 1 = Monk 10)."""
    return 1 + int(round(9 * min(max(float(tone), 0.0), 1.0)))


def monk(attrs: Mapping[str, Any]) -> str | None:
    """The Monk step, as ``"Monk 7"``."""
    tone = _number(attrs, "skin_tone")
    return None if tone is None else f"Monk {monk_step(tone)}"


def skin_group(attrs: Mapping[str, Any]) -> str | None:
    """Monk scale group of ``skin_tone``: 1-3, 4-7, 8-10."""
    tone = _number(attrs, "skin_tone")
    if tone is None:
        return None
    step = monk_step(tone)
    return "Monk 1-3" if step <= 3 else "Monk 4-7" if step <= 7 else "Monk 8-10"


def sex_group(attrs: Mapping[str, Any]) -> str | None:
    """anny's ``gender`` (0 male .. 1 female), split at 0.5."""
    g = _number(attrs, "gender")
    return None if g is None else "female" if g >= 0.5 else "male"


def build_group(attrs: Mapping[str, Any]) -> str | None:
    return _bin(_number(attrs, "weight"), BUILDS)


def activity(attrs: Mapping[str, Any]) -> str | None:
    """``walk``, ``run``, ``stand``, ``sit`` (scenario riders: ``cycle``, ``wheelchair``):
    the part of ``activity`` before ``/``."""
    a = attrs.get("activity")
    return a.split("/")[0] if isinstance(a, str) and a else None


def occlusion(annotation: Mapping[str, Any]) -> str | None:
    """Visibility bin of an annotation (its ``visibility`` field)."""
    return _bin(_number(annotation, "visibility"), VISIBILITY)


GROUPS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "age": age_group,
    "skin_tone": skin_group,
    "sex": sex_group,
}
"""The groups ``synthcv evaluate`` reports recall for."""
