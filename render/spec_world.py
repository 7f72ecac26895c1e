"""The SceneSpec's light and weather: lights, the world (sky, fog) and rain.
Part of :mod:`render.spec` (imported from there); see its frames and units."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from render.spec_material import Spec


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


class SkySpec(Spec):
    """Blender's Nishita sky (physically based daylight) as the world background.

    Angles in radians: ``sun_elevation`` above the horizon, ``sun_rotation`` about
    world +Z (Blender's convention: 0 puts the sun towards -Y... measured by the
    backend exactly as Blender's sky texture node takes it). The sun disc is off:
    direct sunlight comes from a SUN light in ``lights``, so shadows are sharp and
    sampled efficiently."""

    sun_elevation: float
    sun_rotation: float
    altitude: float = Field(0.0, ge=0, description="metres above sea level")
    air_density: float = Field(1.0, ge=0)
    dust_density: float = Field(1.0, ge=0)
    ozone_density: float = Field(1.0, ge=0)


class RainSpec(Spec):
    """Falling rain, drawn as streaks into the render's light (:mod:`render.weather`)."""

    rate_mm_h: float = Field(gt=0, description="rain rate, mm/h (Marshall-Palmer drop sizes)")
    near_m: float = Field(0.3, gt=0, description="drops from this distance to the camera")
    far_m: float = Field(20.0, gt=0, description="to this distance (beyond: unresolved)")
    streaks_m: float = Field(
        8.0, gt=0, description="drops nearer than this are drawn as streaks; farther, as a veil"
    )
    min_diameter_mm: float = Field(0.5, gt=0, description="smaller drops are left out")
    wind_mps: list[float] = Field(
        default_factory=lambda: [0.0, 0.0], min_length=2, max_length=2, description="world x, y"
    )
    drop_brightness: float = Field(
        1.0, gt=0, description="a drop's light over the light around it (it refracts ~165 deg)"
    )
    shutter_s: float = Field(
        1 / 60, gt=0, description="exposure at the render's own scale (auto exposure lengthens it)"
    )
    camera_velocity_mps: list[float] = Field(
        default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3,
        description="the camera's own motion, world m/s (a driving dashcam's streaks slant)",
    )  # fmt: skip
    seed: int = Field(0, ge=0)


class LensDropletsSpec(Spec):
    """Water drops on the lens or windscreen (:func:`render.weather.lens_droplets`)."""

    count: tuple[int, int] = (4, 16)
    radius_frac: tuple[float, float] = Field(
        (0.01, 0.05), description="droplet radius over the image's shorter side"
    )
    field: float = Field(2.5, gt=0, description="a droplet shows this many radii of the view")
    rim_darkening: float = Field(0.35, ge=0, le=1)
    seed: int = Field(0, ge=0)


class WorldSpec(Spec):
    """World light: a uniform ``color`` x ``strength`` background, or, with ``sky``,
    the sky texture x ``strength`` mixed towards ``color`` by ``overcast`` (0 = clear
    sky, 1 = uniform grey-ish overcast); ``fog_density`` fills the world with fog."""

    color: list[float] = Field(min_length=3, max_length=3)
    strength: float = 0.5
    sky: SkySpec | None = None
    overcast: float = Field(0.0, ge=0, le=1)
    fog_density: float = Field(
        0.0,
        ge=0,
        description="fog: a homogeneous scattering volume, extinction per metre (3.912 / "
        "visibility: 2 % contrast left at the visibility distance); 0: none",
    )
    fog_box: list[float] | None = Field(
        None,
        min_length=6,
        max_length=6,
        description="the fog's extent [x0, y0, z0, x1, y1, z1], metres: a box, so sunlight and "
        "the sky enter it from outside (a fog filling the whole world would absorb them)",
    )
    rain: RainSpec | None = Field(None, description="falling rain (streaks); None: none")
    lens_droplets: LensDropletsSpec | None = Field(
        None, description="drops on the lens; None: none"
    )
