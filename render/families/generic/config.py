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
    """Pinhole camera looking at the scene centre from a sampled viewpoint."""

    focal_length_mm: FloatRange = (35.0, 35.0)
    sensor_width_mm: float = Field(36.0, gt=0)
    distance: FloatRange = Field((1.5, 2.5), description="metres from the look-at point")
    elevation_deg: FloatRange = (20.0, 70.0)
    azimuth_deg: FloatRange = (0.0, 360.0)
    roll_deg: FloatRange = (0.0, 0.0)
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

    count: IntRange = (1, 3)
    types: list[LightType] = Field(default_factory=lambda: list(_ALL_LIGHTS), min_length=1)
    power_w: FloatRange = Field((200.0, 1000.0), description="point/area/spot power, watts")
    sun_strength: FloatRange = Field((1.0, 4.0), description="sun irradiance, W/m^2")
    temperature_k: FloatRange = (2700.0, 7500.0)
    distance: FloatRange = (2.0, 5.0)
    elevation_deg: FloatRange = (25.0, 85.0)
    area_size: FloatRange = (0.2, 1.0)
    spot_angle_deg: FloatRange = (30.0, 80.0)

    @model_validator(mode="after")
    def _check(self) -> LightsConfig:
        if self.count[0] < 0:
            raise ValueError(f"count: must be >= 0, got {list(self.count)}")
        return self


class WorldConfig(Model):
    """Uniform world (environment) light."""

    strength: FloatRange = (0.2, 0.8)
    temperature_k: FloatRange = (5000.0, 8000.0)


class MaterialConfig(Model):
    """Procedural principled material: HSV base colour, roughness, metallic, noise bump."""

    hue: FloatRange = (0.0, 1.0)
    saturation: FloatRange = (0.2, 0.9)
    value: FloatRange = (0.2, 0.9)
    roughness: FloatRange = (0.1, 0.9)
    metallic: FloatRange = (0.0, 1.0)
    bump_strength: FloatRange = (0.0, 0.3)
    noise_scale: FloatRange = (5.0, 50.0)


class ShapeConfig(Model):
    """One kind of object: a Blender primitive or a mesh file, in one category."""

    category: str
    primitive: Literal["CUBE", "SPHERE", "CYLINDER", "CONE", "MONKEY"] | None = None
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
    size: float = Field(6.0, gt=0, description="edge length of the square ground plane, metres")
    material: MaterialConfig = MaterialConfig(metallic=(0.0, 0.1), saturation=(0.0, 0.3))


class GenericScene(SceneModel):
    """Generic family: objects on a ground plane (resting on a stable face, or dropped
    and settled by rigid-body physics)."""

    family: Literal["generic"] = "generic"
    camera: CameraConfig = CameraConfig()
    lights: LightsConfig = LightsConfig()
    world: WorldConfig = WorldConfig()
    objects: IntRange = (2, 5)
    shapes: list[ShapeConfig] = Field(min_length=1)
    spread: float = Field(0.5, gt=0, description="objects start within this xy radius, metres")
    drop_height: FloatRange = (0.1, 0.6)
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
