"""Procedural geometry as data: vertex and face arrays, pure numpy.

``build(generator, params)`` returns named mesh parts; the Blender backend turns
each part referenced by an :class:`~render.spec.ObjectSpec` (geometry kind
``procedural``) into a Blender mesh object. Generators are registered explicitly
in :data:`GENERATORS` (no import-time registration magic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in the object's local frame, metres.

    vertices: float64 (N, 3); faces: int64 (M, 3) vertex indices, counter-clockwise
    seen from outside (outward normals). ``smooth``: shade smooth in Blender.
    ``watertight``: the generator promises a closed 2-manifold.
    """

    vertices: np.ndarray
    faces: np.ndarray
    smooth: bool = False
    watertight: bool = False
    uv: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"vertices must be (N, 3), got shape {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"faces must be (M, 3), got shape {self.faces.shape}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError(
                f"face indices must lie in [0, {len(self.vertices)}), got [{self.faces.min()}, {self.faces.max()}]"
            )


Generator = Callable[[dict[str, Any]], dict[str, Mesh]]


def _registry() -> dict[str, Generator]:
    # Explicit imports keep the registry readable and free of import-time side effects.
    from render.geometry import shapes

    registry: dict[str, Generator] = dict(shapes.GENERATORS)
    try:
        from render.geometry import assemblies
    except ImportError:  # the defects family's generators are optional during development
        return registry
    registry.update(assemblies.GENERATORS)
    return registry


def build(generator: str, params: dict[str, Any]) -> dict[str, Mesh]:
    """Run generator ``generator`` on ``params``; KeyError lists the valid names."""
    registry = _registry()
    if generator not in registry:
        raise KeyError(f"unknown geometry generator {generator!r}; valid: {sorted(registry)}")
    return registry[generator](params)
