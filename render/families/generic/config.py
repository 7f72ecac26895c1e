"""Config model of the generic family: primitives and meshes on a ground plane,
under random lights, seen by a pinhole camera from random viewpoints.

The family owns its ``camera``, ``lights`` and ``world`` sections (under ``scene``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from pydantic import Field, model_validator

from render.cfgtypes import FloatRange, IntRange, Model
from render.families.base import SceneModel


class CameraConfig(Model):
    """Pinhole camera looking at the centre of the objects from a sampled viewpoint.
    The focal length is drawn once per scene; distance, elevation, azimuth, roll and
    jitter once per view."""

    focal_length_mm: FloatRange = Field(
        (35.0, 35.0), description="lens focal length, millimetres (one per scene)"
    )
    sensor_width_mm: float = Field(
        36.0, gt=0, description="sensor width, millimetres; it spans the image width"
    )
    distance: FloatRange = Field((1.5, 2.5), description="metres from the look-at point")
    elevation_deg: FloatRange = Field(
        (20.0, 70.0), description="camera angle above the ground plane, degrees (-90..90)"
    )
    azimuth_deg: FloatRange = Field(
        (0.0, 360.0), description="camera direction around the vertical axis, degrees from +X"
    )
    roll_deg: FloatRange = Field((0.0, 0.0), description="rotation about the optical axis, degrees")
    look_at_jitter: float = Field(0.1, ge=0, description="metres, uniform in a cube")

    @model_validator(mode="after")
    def _check(self) -> CameraConfig:
        if self.distance[0] <= 0:
            raise ValueError(f"distance: must be > 0, got {list(self.distance)}")
        if self.focal_length_mm[0] <= 0:
            raise ValueError(f"focal_length_mm: must be > 0, got {list(self.focal_length_mm)}")
        if not (-90 <= self.elevation_deg[0] and self.elevation_deg[1] <= 90):
            raise ValueError(
                f"elevation_deg: must lie in [-90, 90], got {list(self.elevation_deg)}"
            )
        return self


LightType = Literal["POINT", "AREA", "SUN", "SPOT"]
_ALL_LIGHTS: tuple[LightType, ...] = ("POINT", "AREA", "SUN", "SPOT")


class LightsConfig(Model):
    """1..N lights of random type, power and colour temperature."""

    count: IntRange = Field((1, 3), description="lights per scene")
    types: list[LightType] = Field(
        default_factory=lambda: list(_ALL_LIGHTS),
        min_length=1,
        description="light types, each light picks one uniformly: POINT, AREA, SUN, SPOT",
    )
    power_w: FloatRange = Field((200.0, 1000.0), description="point/area/spot power, watts")
    sun_strength: FloatRange = Field((1.0, 4.0), description="sun irradiance, W/m^2")
    temperature_k: FloatRange = Field(
        (2700.0, 7500.0), description="light colour temperature, kelvin (per light)"
    )
    distance: FloatRange = Field((2.0, 5.0), description="metres from the objects' centre")
    elevation_deg: FloatRange = Field(
        (25.0, 85.0), description="angle above the ground plane, degrees; azimuth is uniform"
    )
    area_size: FloatRange = Field((0.2, 1.0), description="AREA lights: edge length, metres")
    spot_angle_deg: FloatRange = Field(
        (30.0, 80.0), description="SPOT lights: full cone angle, degrees"
    )

    @model_validator(mode="after")
    def _check(self) -> LightsConfig:
        if self.count[0] < 0:
            raise ValueError(f"count: must be >= 0, got {list(self.count)}")
        return self


class WorldConfig(Model):
    """Uniform world (environment) light."""

    strength: FloatRange = Field((0.2, 0.8), description="background strength (Blender units)")
    temperature_k: FloatRange = Field(
        (5000.0, 8000.0), description="background colour temperature, kelvin"
    )


class MaterialConfig(Model):
    """Procedural principled material, drawn per object: HSV base colour, roughness,
    metallic, noise bump."""

    hue: FloatRange = Field((0.0, 1.0), description="hue of the sRGB display colour, 0..1 (wraps)")
    saturation: FloatRange = Field((0.2, 0.9), description="saturation of the display colour, 0..1")
    value: FloatRange = Field(
        (0.2, 0.9), description="value (brightness) of the display colour, 0..1"
    )
    roughness: FloatRange = Field((0.1, 0.9), description="Principled BSDF roughness, 0..1")
    metallic: FloatRange = Field((0.0, 1.0), description="Principled BSDF metallic, 0..1")
    bump_strength: FloatRange = Field(
        (0.0, 0.3), description="strength of the noise bump on the surface (0 = smooth)"
    )
    noise_scale: FloatRange = Field(
        (5.0, 50.0), description="scale of the 3-D noise (colour variation, bump); higher = finer"
    )


class ShapeConfig(Model):
    """One kind of object: a Blender primitive or a mesh file, in one category."""

    category: str = Field(description="category name of these objects (must be in categories)")
    primitive: Literal["CUBE", "SPHERE", "CYLINDER", "CONE", "MONKEY"] | None = Field(
        None, description="Blender primitive (MONKEY: Suzanne); set this or mesh"
    )
    mesh: str | None = Field(
        None, description="OBJ/STL/PLY/GLB path; relative to the config or project root"
    )
    size: FloatRange = Field((0.15, 0.35), description="largest dimension in metres")
    weight: float = Field(1.0, gt=0, description="relative sampling weight")
    unit_scale: float = Field(1.0, gt=0, description="mesh only: metres per file unit (mm: 0.001)")
    up_axis: Literal["X", "Y", "Z", "-X", "-Y", "-Z"] = Field(
        "Z", description="mesh only: the file's up axis (many CAD/GLB exports use Y)"
    )
    name: str | None = Field(
        None, description="object name prefix; default: primitive name or mesh file stem"
    )

    @model_validator(mode="after")
    def _check(self) -> ShapeConfig:
        if (self.primitive is None) == (self.mesh is None):
            raise ValueError("set exactly one of primitive or mesh")
        if self.primitive is not None and (self.unit_scale != 1.0 or self.up_axis != "Z"):
            raise ValueError("unit_scale and up_axis apply to mesh shapes only")
        if self.size[0] <= 0:
            raise ValueError(f"size: must be > 0, got {list(self.size)}")
        return self


class GroundConfig(Model):
    """The square ground plane under the objects (not annotated)."""

    size: float = Field(6.0, gt=0, description="edge length of the square ground plane, metres")
    material: MaterialConfig = MaterialConfig(metallic=(0.0, 0.1), saturation=(0.0, 0.3))


class GenericScene(SceneModel):
    """Generic family: objects on a ground plane (resting on a stable face, or dropped
    and settled by rigid-body physics)."""

    family: Literal["generic"] = Field("generic", description="selects the generic family")
    camera: CameraConfig = CameraConfig()
    lights: LightsConfig = LightsConfig()
    world: WorldConfig = WorldConfig()
    objects: IntRange = Field((2, 5), description="objects per scene")
    shapes: list[ShapeConfig] = Field(
        min_length=1, description="kinds of object; each object picks one by weight"
    )
    spread: float = Field(0.5, gt=0, description="objects start within this xy radius, metres")
    drop_height: FloatRange = Field(
        (0.1, 0.6),
        description="physics/float: start gap between the ground and an object's bounding "
        "sphere, metres",
    )
    placement: Literal["rest", "physics", "float"] = Field(
        "rest",
        description="rest: each object lies on a stable face on the ground, no overlaps "
        "(deterministic, default); physics: dropped and settled by Bullet (BlenderProc) - "
        "not reproducible across processes, replay reuses the recorded poses; "
        "float: objects stay where sampled",
    )
    materials: MaterialConfig = MaterialConfig()
    ground: GroundConfig = GroundConfig()

    @model_validator(mode="after")
    def _check(self) -> GenericScene:
        if self.objects[0] < 1:
            raise ValueError(f"objects: must be >= 1, got {list(self.objects)}")
        return self

    def category_names(self) -> list[str]:
        """Category names this family annotates (each must be in ``categories``)."""
        return sorted({s.category for s in self.shapes})

    def asset_fields(self, data: dict[str, Any]) -> list[tuple[str, str, Callable[[str], None]]]:
        """(yaml path under scene, path value, setter) for every asset file in ``data``,
        the JSON dump of this model."""
        out: list[tuple[str, str, Callable[[str], None]]] = []
        for i, shape in enumerate(data["shapes"]):
            if shape.get("mesh"):
                out.append((f"shapes[{i}].mesh", shape["mesh"], partial(shape.__setitem__, "mesh")))
        return out
