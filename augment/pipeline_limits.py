"""Pipeline files from outside, bounded: read as every config is
(:func:`render.formats.inputs.read_yaml`: a regular file of capped size, YAML
without anchors and aliases, nesting bounded), and transforms that set the output
size kept to sane sizes.

A pipeline is code we run on every image, so its size arguments are bounded
here, before anything is read or written: every number under an argument that
sets a size in pixels is at most :data:`MAX_SIDE`, and factors that grow the
image (``RandomScale.scale_limit``, ``CropAndPad.percent``, ``scale`` of a
transform with ``fit_output``) at most :data:`MAX_GROWTH`. The writer also refuses
an augmented image above the pixel limit (``--limit image_pixels``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from render.formats import ConfigError
from render.formats.inputs import read_yaml

MAX_SIDE = 8192
"""Largest size argument, pixels (8192 x 8192 stays under the default pixel limit)."""
MAX_GROWTH = 4.0
"""Largest factor by which a transform may grow the image along one side."""
SIZE_ARGS = frozenset(
    "height width size max_size max_size_hw min_height min_width min_max_height max_height"
    " max_width target_size padding px x_max y_max pad_height_divisor pad_width_divisor".split()
)
"""Arguments that set an output size or padding in pixels (albumentations 2.0.8)."""


def load_yaml(path: Path, max_bytes: int) -> Any:
    """The YAML (or JSON) document in ``path``; every problem is a one-line ConfigError
    (:func:`render.formats.inputs.read_yaml`: bounded, no anchors or aliases)."""
    return read_yaml(path, "pipeline file", ConfigError, max_bytes)


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _numbers(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    return []


def check_growth(short: str, args: dict[str, Any], where: str, source: str) -> None:
    """Refuse size arguments of transform ``short`` that would make huge images."""
    for key, value in args.items():
        if key in SIZE_ARGS and any(abs(v) > MAX_SIDE for v in _numbers(value)):
            raise ConfigError(
                f"{source}: {where}.{short}: {key} {value!r:.60} is larger than {MAX_SIDE} pixels"
            )
    growth = {"RandomScale": "scale_limit", "CropAndPad": "percent"}.get(short)
    if args.get("fit_output"):
        growth = "scale"
    if growth in args:
        factors = _numbers(args[growth])
        limit = MAX_GROWTH - 1 if growth in ("scale_limit", "percent") else MAX_GROWTH
        if any(v > limit for v in factors):
            raise ConfigError(
                f"{source}: {where}.{short}: {growth} {args[growth]!r:.60} would grow the image"
                f" more than {MAX_GROWTH:g} times"
            )
