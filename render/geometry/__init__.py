"""Procedural geometry as data: vertex and face arrays, pure numpy.

A scene family's generators (``render.families.FAMILIES[name].generators``)
return named :class:`Mesh` parts; the Blender backend turns each part referenced
by an :class:`~render.spec.ObjectSpec` (geometry kind ``procedural``) into a
Blender mesh object (:func:`render.families.build_geometry` finds the generator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in the object's local frame, metres.

    vertices: float64 (N, 3); faces: int64 (M, 3) vertex indices, counter-clockwise
    seen from outside (outward normals). ``smooth``: shade smooth in Blender.
    ``watertight``: the generator promises a closed 2-manifold.
    ``material_index``: optional int (M,) material slot per face (0 = the object's
    ``material``, k >= 1 = its ``material_slots[k - 1]``).
    ``point_attributes``: optional per-vertex float arrays (N,) or (N, 3), e.g.
    ``"rest"``: rest-pose coordinates, so textures follow a posed body; the
    backend exposes them to shaders under their names.
    ``measures``: physical measures of the part taken when it was built (metres,
    square metres), e.g. a defect's ``length``, ``width``, ``depth``, ``area``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    smooth: bool = False
    watertight: bool = False
    uv: np.ndarray | None = field(default=None, compare=False)
    material_index: np.ndarray | None = field(default=None, compare=False)
    point_attributes: dict[str, np.ndarray] = field(default_factory=dict, compare=False)
    measures: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"vertices must be (N, 3), got shape {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"faces must be (M, 3), got shape {self.faces.shape}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError(
                f"face indices must lie in [0, {len(self.vertices)}), got [{self.faces.min()}, {self.faces.max()}]"
            )
        if self.material_index is not None and self.material_index.shape != (len(self.faces),):
            raise ValueError(
                f"material_index must be ({len(self.faces)},), got {self.material_index.shape}"
            )
        for name, values in self.point_attributes.items():
            if values.shape[0] != len(self.vertices) or values.ndim not in (1, 2):
                raise ValueError(
                    f"point attribute {name!r} must be ({len(self.vertices)},) or "
                    f"({len(self.vertices)}, k), got {values.shape}"
                )
