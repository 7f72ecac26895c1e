"""SceneSpec: every random choice of one scene, as JSON-serializable data.

This is the boundary between pure sampling and the Blender backend: the backend
builds and renders a SceneSpec and makes no random choice of its own (Cycles'
seed is in the spec too), so a saved ``scenes/NNNNNN.json`` re-renders bit for bit.

Frames and units: metres, radians; Blender's world frame (Z up). Object rotation
is Euler XYZ. Camera poses are 4x4 camera-to-world matrices in the **OpenCV**
convention (x right, y down, z forward); intrinsics ``K`` are 3x3 in pixels with
the principal point at the image centre (pixel centres at integer + 0.5).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = 1


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MaterialSpec(Spec):
    """A Principled BSDF with optional procedural texture and bump.

    ``base_color`` is linear RGB in [0, 1]. ``texture``: ``noise`` modulates colour
    and bump with a 3-D noise; ``brushed`` stretches it along the object's X axis
    (machined/brushed metal). ``inputs`` sets further Principled BSDF inputs by
    their Blender 4.2 names, e.g. ``{"Anisotropic": 0.7, "Coat Weight": 0.3}``.
    """

    base_color: list[float] = Field(min_length=3, max_length=3)
    roughness: float = 0.5
    metallic: float = 0.0
    texture: Literal["none", "noise", "brushed"] = "noise"
    noise_scale: float = 20.0
    color_variation: float = 0.1
    bump_strength: float = 0.0
    inputs: dict[str, float] = Field(default_factory=dict)
    image: str | None = Field(None, description="optional image texture path (base colour)")


class GeometrySpec(Spec):
    """Where an object's mesh comes from.

    - ``primitive``: a Blender primitive (CUBE, SPHERE, CYLINDER, CONE, MONKEY),
      scaled so its largest dimension is ``size`` metres.
    - ``mesh_file``: an OBJ/STL/PLY/GLB file, ``unit_scale`` metres per file unit,
      ``up_axis`` of the file; scaled so its largest dimension is ``size`` (if set).
    - ``procedural``: ``render.geometry.build(generator, params)`` returns named
      parts; this object is the part ``part``.
    """

    kind: Literal["primitive", "mesh_file", "procedural"]
    primitive: str | None = None
    path: str | None = None
    unit_scale: float = 1.0
    up_axis: Literal["X", "Y", "Z", "-X", "-Y", "-Z"] = "Z"
    size: float | None = None
    generator: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    part: str | None = None
    smooth: bool = False


class RestSpec(Spec):
    """Rest the object on the horizontal plane ``z = location[2]`` on a stable face of
    its convex hull (see :mod:`render.geometry.rest`): ``u`` in [0, 1) picks the face,
    ``yaw`` (radians) turns it about the vertical. Replaces ``rotation_euler``."""

    u: float = Field(ge=0.0, lt=1.0)
    yaw: float = 0.0


class ObjectSpec(Spec):
    """One object. ``instance_id`` >= 1 is annotated with ``category_id``; 0 means
    not annotated (ground, props). ``parent_id`` nests an instance in another's mask
    (a defect in its product)."""

    name: str
    instance_id: int = Field(ge=0)
    category_id: int = Field(0, ge=0)
    parent_id: int | None = None
    geometry: GeometrySpec
    location: list[float] = Field(
        default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3
    )
    rotation_euler: list[float] = Field(
        default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3
    )
    scale: list[float] = Field(default_factory=lambda: [1.0, 1.0, 1.0], min_length=3, max_length=3)
    material: MaterialSpec
    physics: Literal["active", "passive", "none"] = "none"
    rest: RestSpec | None = None
    velocity: list[float] | None = Field(
        None,
        min_length=3,
        max_length=3,
        description="metres per frame; with camera.motion_blur > 0 the object moves this far "
        "per frame during each view's exposure (a part on a running conveyor)",
    )
    visible: bool | None = Field(
        None,
        description="written into saved scenes: annotated in at least one view "
        "(false: too few visible pixels, e.g. below min_defect_pixels); the renderer ignores it",
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="family data copied to annotations"
    )


class LightSpec(Spec):
    type: Literal["POINT", "AREA", "SUN", "SPOT"]
    location: list[float] = Field(min_length=3, max_length=3)
    rotation_euler: list[float] = Field(
        default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3
    )
    energy: float = Field(description="watts for POINT/AREA/SPOT; W/m^2 for SUN")
    color: list[float] = Field(min_length=3, max_length=3)
    size: float = 0.1
    spot_angle: float = 1.0
    shape: Literal["SQUARE", "DISK", "RECTANGLE", "ELLIPSE"] = "SQUARE"
    size_y: float | None = None


class WorldSpec(Spec):
    color: list[float] = Field(min_length=3, max_length=3)
    strength: float = 0.5


class CameraSpec(Spec):
    width: int
    height: int
    K: list[list[float]]
    poses: list[list[list[float]]] = Field(description="camera-to-world 4x4, OpenCV convention")
    clip_start: float = 0.01
    clip_end: float = 100.0
    fstop: float | None = Field(None, description="depth of field if set")
    focus_distance: float | None = None
    motion_blur: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="shutter, in frames (0 = off): objects with a velocity move during the "
        "exposure [f, f + s] of each view f; views never blend into each other",
    )


class RenderSpec(Spec):
    samples: int
    denoiser: Literal["oidn", "none"]
    max_bounces: int = 4
    cycles_seed: int = 0
    persistent_data: bool = True


class SceneSpec(Spec):
    """One scene; ``objects`` includes un-annotated props (ground, conveyor)."""

    version: int = SPEC_VERSION
    family: str
    scene_index: int
    seed: int
    objects: list[ObjectSpec]
    lights: list[LightSpec]
    world: WorldSpec
    camera: CameraSpec
    render: RenderSpec
    physics: bool = Field(
        False,
        description="settle 'active' objects with Bullet (not reproducible across processes; "
        "replay reuses meta.settled_poses when present)",
    )
    meta: dict[str, Any] = Field(default_factory=dict)

    def annotated(self) -> list[ObjectSpec]:
        return [o for o in self.objects if o.instance_id > 0]


def scene_filename(scene_index: int) -> str:
    return f"{scene_index:06d}.json"
