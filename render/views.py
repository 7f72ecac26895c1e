"""What a renderer returns for one camera view (pure data, no Blender)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from render.spec import SceneSpec


@dataclass
class ViewResult:
    """One rendered view.

    rgb: uint8 (H, W, 3), sRGB. depth: float32 (H, W), metres along the camera's
    optical axis (z-depth), ``inf`` where no surface. instance: int32 (H, W), the
    ``instance_id`` of the nearest surface (0 = background / not annotated).
    amodal: int32 (H, W) maps of the amodal passes (objects with ``amodal: true``
    rendered a few at a time, nothing else in the scene, so each shows every pixel
    of those objects, occluded or not); empty when the scene has none.
    behind: int32 (H, W) instance ids with every ``see_through`` object hidden (what
    lies behind a fingerprint's film or a water drop), or None when no such object
    lies over another instance in this scene.
    flow: float32 (H, W, 2) forward optical flow to the next frame in pixels (x
    right, y down; :data:`render.blender.flow.UNKNOWN` where no surface), or None.
    exposure: the camera's exposure record (:mod:`render.sensor`), or None.
    weather: rain and lens droplets drawn into the view (:mod:`render.weather`), or None.
    """

    rgb: np.ndarray
    depth: np.ndarray
    instance: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    amodal: list[np.ndarray] = field(default_factory=list)
    behind: np.ndarray | None = None
    flow: np.ndarray | None = None
    exposure: dict[str, Any] | None = None
    weather: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        h, w = self.instance.shape[:2]
        if self.rgb.shape != (h, w, 3) or self.rgb.dtype != np.uint8:
            raise ValueError(
                f"rgb must be uint8 ({h}, {w}, 3), got {self.rgb.dtype} {self.rgb.shape}"
            )
        if self.depth.shape != (h, w):
            raise ValueError(f"depth must be ({h}, {w}), got {self.depth.shape}")
        if self.instance.ndim != 2 or not np.issubdtype(self.instance.dtype, np.integer):
            raise ValueError(
                f"instance must be 2-D int, got {self.instance.dtype} {self.instance.shape}"
            )
        if self.flow is not None and self.flow.shape != (h, w, 2):
            raise ValueError(f"flow must be ({h}, {w}, 2), got {self.flow.shape}")
        if self.behind is not None and (
            self.behind.shape != (h, w) or not np.issubdtype(self.behind.dtype, np.integer)
        ):
            raise ValueError(
                f"behind must be int ({h}, {w}), got {self.behind.dtype} {self.behind.shape}"
            )
        for m in self.amodal:
            if m.shape != (h, w) or not np.issubdtype(m.dtype, np.integer):
                raise ValueError(f"amodal maps must be int ({h}, {w}), got {m.dtype} {m.shape}")


@dataclass
class SceneRender:
    """All views of one scene (``SceneSpec.camera.views()``, in order) plus what the
    renderer learned: settled object poses (name -> 4x4 object-to-world, after
    physics), for tiled scenes each annotated instance's extent in every pose's
    whole frame (``frame_extents``: instance id -> per pose ``[x0, y0, x1, y1]``
    continuous pixels or None), and timings in seconds."""

    views: list[ViewResult]
    object_poses: dict[str, list[list[float]]] = field(default_factory=dict)
    frame_extents: dict[int, list[list[float] | None]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


Renderer = Callable[[SceneSpec], SceneRender]
"""A function that renders every camera view of a SceneSpec."""
