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

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from render.spec_material import LayerSpec, MaterialSpec, Spec, WearSpec
from render.spec_world import LensDropletsSpec, LightSpec, RainSpec, SkySpec, WorldSpec

__all__ = [  # materials live in render/spec_material.py, light and weather in
    # render/spec_world.py; both are part of the spec
    "LayerSpec", "MaterialSpec", "Spec", "WearSpec", "LensDropletsSpec", "LightSpec", "RainSpec",
    "SkySpec", "WorldSpec", "CameraSpec", "GeometrySpec", "ObjectSpec",
    "RenderSpec", "SceneSpec", "TileSpec", "NextPose", "SensorSpec",
]  # fmt: skip

SPEC_VERSION = 2


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


# --------------------------------------------------------------------------- per-family data


class ShapeInfo(Spec):
    """Generic family: which configured shape an object is."""

    kind: Literal["shape"] = "shape"
    shape: str


class ProductInfo(Spec):
    """Defects family: a product, its parametric family, and whether it is defect-free."""

    kind: Literal["product"] = "product"
    family: str
    good: bool
    defects: int = Field(ge=0)


class DefectInfo(Spec):
    """Defects family: one defect, its type, its variant and its size measured on the
    final geometry (millimetres; see docs/defects.md, "Measured defects").

    ``length_mm``: largest extent along the surface (Feret diameter of its
    footprint); ``width_mm``: a groove's or crack's widest opening, else the
    footprint's extent across the length; ``depth_mm``: deepest point below the
    original surface (grooves, cracks, dents, chips); ``area_mm2``: footprint area
    (a groove's or crack's opening, a stain's film). Unset until the geometry is
    built (the worker measures it). ``severity``: ``accept`` or ``reject`` from the
    product's acceptance limits; ``severity_ratio``: the largest measure / limit."""

    kind: Literal["defect"] = "defect"
    type: str
    variant: str | None = None
    length_mm: float | None = None
    width_mm: float | None = None
    depth_mm: float | None = None
    area_mm2: float | None = None
    severity: Literal["accept", "reject"] | None = None
    severity_ratio: float | None = None


class NuisanceInfo(Spec):
    """Defects family: something on a product that is not a defect (dust, a fibre, a
    fingerprint, a droplet, print, a glint, a tool mark)."""

    kind: Literal["nuisance"] = "nuisance"
    type: str


class PersonInfo(Spec):
    """Pedestrians family: who a person is and what they do (for filtering and stats)."""

    kind: Literal["person"] = "person"
    age_years: float
    gender: float = Field(ge=0, le=1, description="anny's gender: 0 male .. 1 female")
    height_m: float
    skin_tone: float = Field(ge=0, le=1, description="0 lightest .. 1 darkest")
    weight: float | None = Field(
        None, ge=0, le=1, description="anny's weight phenotype (0.5: the middle): the body build"
    )
    activity: str
    clothing: list[str] = Field(default_factory=list)
    accessories: list[str] = Field(default_factory=list)


ObjectInfo = Annotated[
    ShapeInfo | ProductInfo | DefectInfo | NuisanceInfo | PersonInfo, Field(discriminator="kind")
]


def info_attributes(info: ObjectInfo | None) -> dict[str, Any]:
    """What an annotation's ``attributes`` carry for ``info`` (its fields minus
    ``kind``, unset optional sizes left out)."""
    if info is None:
        return {}
    return info.model_dump(mode="json", exclude={"kind"}, exclude_none=True)


class KeypointsSpec(Spec):
    """Named 3-D keypoints of an instance (e.g. COCO's 17 person joints).

    ``points``: (K, 3) world coordinates in metres, in the order of the category's
    ``keypoints``. ``radius``: (K,) metres, how deep inside the body each point
    lies: the body's own surface up to this far in front of a joint does not hide
    it (see :mod:`render.keypoints`)."""

    points: list[list[float]]
    radius: list[float]

    @field_validator("points")
    @classmethod
    def _points(cls, v: list[list[float]]) -> list[list[float]]:
        if any(len(p) != 3 for p in v):
            raise ValueError("points must be [x, y, z] triples")
        return v


class NextPose(Spec):
    """Where an object is one frame later (a sequence's frame with ``render.flow``):
    the optical-flow pass moves it there. ``geometry``: its mesh one frame later
    (the same vertices, moved: a walking body), or None for a rigid object."""

    location: list[float] = Field(min_length=3, max_length=3)
    rotation_euler: list[float] = Field(min_length=3, max_length=3)
    geometry: GeometrySpec | None = None


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
    material_slots: list[MaterialSpec] = Field(
        default_factory=list,
        description="further materials, used by faces whose mesh material_index is k >= 1",
    )
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
    min_pixels: int | None = Field(
        None,
        ge=1,
        description="annotate only with at least this many visible pixels "
        "(default: the job's annotation.min_pixels)",
    )
    min_contrast: float | None = Field(
        None,
        ge=0,
        description="annotate only when the instance stands out from its parent's pixels "
        "around it by at least this contrast in the rendered image (render.visibility)",
    )
    annotate: bool = Field(
        True,
        description="false: no annotation of its own, but its pixels count in its "
        "ancestors' masks (dust on a product)",
    )
    keypoints: KeypointsSpec | None = None
    amodal: bool = Field(
        False,
        description="also render this instance's amodal (unoccluded) mask: annotations get "
        "segmentation_amodal, bbox_amodal, area_amodal and visibility",
    )
    see_through: bool = Field(
        False,
        description="a film or a drop the eye sees through (a fingerprint's oil, water): it "
        "hides nothing in the annotations; the instances behind it keep the pixels it covers "
        "in their masks (then two masks overlap there), from one more object-index pass "
        "rendered without it (only when its box overlaps another instance's in some view). "
        "Needs an instance_id",
    )
    crowd_below_px: float | None = Field(
        None,
        gt=0,
        description="when its visible box is shorter than this (pixels), the instance is "
        "annotated only as part of its category's iscrowd region in that image",
    )
    info: ObjectInfo | None = Field(None, description="family data copied to annotations")
    next: NextPose | None = Field(
        None, description="its pose one frame later, for the optical-flow pass (render.flow)"
    )


class TileSpec(Spec):
    """A rectangle of one camera view's frame, rendered alone (Cycles' border render,
    cropped to the border): pixels ``[x, x + width)`` x ``[y, y + height)`` of view
    ``view`` (a pose index), image coordinates (y down). Its image is that crop of
    the whole frame, with ``camera_K``'s principal point shifted by ``(-x, -y)``."""

    view: int = Field(0, ge=0)
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    kind: Literal["product", "defect", "background"] = Field(
        "product",
        description="product: covers products (with a margin), or, with tiles.focus "
        "defects, a square on a product with no defect; defect: a square around a "
        "defect; background: none",
    )


class CameraSpec(Spec):
    """The camera: a ``width`` x ``height`` frame (the virtual frame when tiled),
    intrinsics ``K``, one pose per view. With ``tiles`` only those rectangles are
    rendered, each as one dataset image; the whole frame never is."""

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
    tiles: list[TileSpec] = Field(default_factory=list)
    mm_per_px: float | None = Field(
        None, description="millimetres one pixel spans at the look-at distance (optics)"
    )
    velocity: list[float] | None = Field(
        None,
        min_length=3,
        max_length=3,
        description="metres per frame: with motion_blur > 0 and one pose, the camera moves this "
        "far per frame during the exposure, centred on its pose (a driving dashcam)",
    )
    next_poses: list[list[list[float]]] | None = Field(
        None, description="each pose one frame later (sequences with render.flow; None: static)"
    )

    def views(self) -> list[tuple[int, TileSpec | None]]:
        """The images a render gives, in order: ``(pose index, tile)``; every pose
        whole (tile None) when there are no tiles."""
        if self.tiles:
            return [(t.view, t) for t in self.tiles]
        return [(i, None) for i in range(len(self.poses))]


class SensorSpec(Spec):
    """A camera's auto exposure, noise and tone curve (:mod:`render.sensor`), applied
    to the render's linear light instead of Blender's fixed view transform."""

    metering: Literal["frame", "center"] = "center"
    target: float = Field(0.18, gt=0, description="linear grey the meter aims for")
    max_shutter_stops: float = Field(
        5.0, ge=0, description="longest shutter: stops above daylight's"
    )
    max_gain_db: float = Field(30.0, ge=0, description="highest gain, dB (6.02 dB a stop)")
    full_well: float = Field(10000.0, gt=0, description="electrons at linear 1.0 at gain 1")
    read_noise_e: float = Field(3.0, ge=0, description="read noise, electrons")
    seed: int = Field(0, ge=0, description="the noise's seed")


class RenderSpec(Spec):
    """Cycles settings of one scene (see :class:`render.settings.RenderConfig`)."""

    samples: int
    denoiser: Literal["oidn", "none", "oidn-compositor"] = Field(
        description="oidn: Cycles' integrated Open Image Denoise; oidn-compositor: OIDN as a "
        "compositor node after rendering (the path before 2026-12, slower; kept for "
        "scripts/bench_speed.py's comparison, never set by a config)"
    )
    denoise_quality: Literal["high", "balanced", "fast"] = "high"
    texture_detail: float = 16.0
    max_bounces: int = 4
    cycles_seed: int = 0
    persistent_data: bool = True
    noise_threshold: float = 0.0
    adaptive_min_samples: int = 0
    diffuse_bounces: int | None = None
    glossy_bounces: int | None = None
    transmission_bounces: int | None = None
    clamp_indirect: float = 0.0
    caustics: bool = True
    light_tree: bool = True
    denoise_prefilter: Literal["accurate", "fast", "none"] = "accurate"
    dither: float = Field(
        1.0,
        ge=0,
        description="Blender's dither when storing 8-bit images; it depends on the pixel's place "
        "in the rendered buffer, so a tile equals the crop of the whole frame exactly only at 0 "
        "(at 1: within 2 levels)",
    )
    sensor: SensorSpec | None = Field(
        None,
        description="auto exposure, noise and tone curve (render.sensor); None: Blender's view",
    )
    flow: bool = Field(
        False,
        description="render forward optical flow to the next frame (objects' and the "
        "camera's ``next`` poses) in a pass after the image",
    )
    border: tuple[float, float, float, float] | None = Field(
        None,
        description="render only this region (min_x, min_y, max_x, max_y in 0..1 of the image, "
        "y up as in Blender); the rest stays black. For benchmarks' reference renders, "
        "never set by a config",
    )


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
