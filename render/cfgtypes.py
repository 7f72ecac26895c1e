"""Building blocks for the strict, frozen pydantic config models.

Interval parameters are named ``*_range`` or given as ``[min, max]``; a single
number means a fixed value. Validation errors are turned into one-line messages
by :func:`render.config.format_validation_error`.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _numeric(annotation: Any) -> bool:
    """Whether a field's type takes numbers and not booleans (``int``, ``float``,
    ``list[int]``, ``int | None``, ...)."""
    if annotation in (int, float):
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:  # a type with its own validator (FloatRange) checks itself
        return not any(isinstance(m, BeforeValidator) for m in args[1:]) and _numeric(args[0])
    if origin in (typing.Union, types.UnionType):
        return bool not in args and any(_numeric(a) for a in args if a is not type(None))
    if origin in (list, tuple):
        return any(_numeric(a) for a in args if a is not Ellipsis)
    return False


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    return isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value)


class Model(BaseModel):
    """Base for every config model: unknown keys are errors, values are frozen, and
    numbers are numbers: ``true`` where a count or size belongs is refused (pydantic
    would read it as 1), as are NaN and infinities."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                value = data.get(name)
                own = any(isinstance(m, BeforeValidator) for m in field.metadata)  # FloatRange
                if _has_bool(value) and not own and _numeric(field.annotation):
                    raise ValueError(f"{name}: expected a number, got {_short_bool(value)}")
        return data


def _short_bool(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


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
        if not math.isfinite(v):
            raise ValueError(f"expected [min, max] of finite {kind}s, got {list(value)!r}")
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
