"""Building blocks for the strict, frozen pydantic config models.

Interval parameters are named ``*_range`` or given as ``[min, max]``; a single
number means a fixed value. Validation errors are turned into one-line messages
by :func:`render.config.format_validation_error`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class Model(BaseModel):
    """Base for every config model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_range(value: Any, *, integer: bool) -> tuple[float, float] | tuple[int, int]:
    kind = "int" if integer else "number"
    if isinstance(value, bool):
        raise ValueError(f"expected [min, max] of {kind}s, got {value!r}")
    if isinstance(value, int | float):
        value = [value, value]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"expected [min, max] of {kind}s, got {value!r}")
    lo, hi = value
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"expected [min, max] of {kind}s, got {value!r}")
        if integer and float(v) != int(v):
            raise ValueError(f"expected [min, max] of {kind}s, got {value!r}")
    if lo > hi:
        raise ValueError(f"expected [min, max] with min <= max, got {list(value)!r}")
    if integer:
        return (int(lo), int(hi))
    return (float(lo), float(hi))


_RANGE = Field(json_schema_extra={"x-range": True})  # docs/config.md: "range of number"

FloatRange = Annotated[
    tuple[float, float], BeforeValidator(lambda v: _as_range(v, integer=False)), _RANGE
]
"""``[min, max]`` floats, min <= max; a scalar ``x`` means ``[x, x]``."""

IntRange = Annotated[tuple[int, int], BeforeValidator(lambda v: _as_range(v, integer=True)), _RANGE]
"""``[min, max]`` ints (inclusive), min <= max; a scalar ``n`` means ``[n, n]``."""


def check_nonneg(name: str, rng: tuple[float, float]) -> None:
    """Raise ValueError if a range has a negative lower bound."""
    if rng[0] < 0:
        raise ValueError(f"{name} must be >= 0, got {list(rng)}")
