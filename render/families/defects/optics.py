"""Inspection optics and tiles of the defects family (config models and the pure
arithmetic of a machine-vision set-up).

A real station is specified from what it must see: the smallest defect width to
resolve (``resolve_mm``) spanning ``px_per_defect`` pixels fixes the object-space
pixel (``mm_per_px = resolve_mm / px_per_defect``); the sensor (pixel count and
pitch) then fixes the field of view (``width_px * mm_per_px``), and the lens
follows: a pinhole of focal length ``f`` at working distance ``d`` maps one sensor
pixel of pitch ``p`` onto ``p * d / f`` at the part, so ``d = f * mm_per_px / p``.
The focal length is drawn per scene where that distance lies in the configured
working distances; a config where none does is refused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from render.cfgtypes import Model

SENSORS: dict[str, tuple[int, int, float]] = {
    "5mp": (2448, 2048, 3.45),
    "12mp": (4096, 3000, 3.45),
}
"""Sensor presets: (width px, height px, pixel pitch um); Sony IMX264 / IMX304 class."""


class Optics(Model):
    """A machine-vision camera specified by what it must resolve: the sensor, and
    the smallest defect width to see with ``px_per_defect`` pixels across it; field
    of view, lens and working distance follow (within the camera's ranges)."""

    sensor: Literal["5mp", "12mp", "custom"] = Field(
        "12mp",
        description="5mp: 2448x2048 px at 3.45 um; 12mp: 4096x3000 px at 3.45 um; custom: "
        "width_px, height_px, pixel_um",
    )
    width_px: int | None = Field(None, ge=64, le=16384, description="custom sensor width")
    height_px: int | None = Field(None, ge=64, le=16384, description="custom sensor height")
    pixel_um: float | None = Field(None, gt=0, le=50, description="custom pixel pitch, um")
    resolve_mm: float = Field(0.1, gt=0, le=50, description="smallest defect width to resolve, mm")
    px_per_defect: float = Field(
        3.0, gt=0, le=50, description="pixels across the smallest defect width (3: a QC rule)"
    )

    @model_validator(mode="after")
    def _check(self) -> Optics:
        custom = (self.width_px, self.height_px, self.pixel_um)
        if self.sensor == "custom" and None in custom:
            raise ValueError("sensor: custom needs width_px, height_px and pixel_um")
        if self.sensor != "custom" and any(v is not None for v in custom):
            raise ValueError(
                f"sensor: {self.sensor} is a preset; use sensor: custom to set "
                "width_px, height_px or pixel_um"
            )
        return self

    def sensor_px(self) -> tuple[int, int, float]:
        """(width px, height px, pixel pitch um) of the sensor."""
        if self.sensor == "custom":
            assert self.width_px and self.height_px and self.pixel_um  # checked above
            return self.width_px, self.height_px, self.pixel_um
        return SENSORS[self.sensor]

    @property
    def mm_per_px(self) -> float:
        """Object-space pixel at the working distance, millimetres."""
        return self.resolve_mm / self.px_per_defect

    def field_of_view_mm(self) -> tuple[float, float]:
        """(width, height) of the image at the parts, millimetres."""
        w, h, _ = self.sensor_px()
        return w * self.mm_per_px, h * self.mm_per_px


def focal_range(
    optics: Optics, focal_mm: tuple[float, float], working_distance_mm: tuple[float, float]
) -> tuple[float, float]:
    """The focal lengths (mm) within ``focal_mm`` that put the parts at a working
    distance within ``working_distance_mm`` (``d = f * mm_per_px / pitch``); a
    ValueError naming both ranges when there are none."""
    pitch = optics.sensor_px()[2] / 1000.0
    per_mm = optics.mm_per_px / pitch  # distance per focal length
    lo = max(focal_mm[0], working_distance_mm[0] / per_mm)
    hi = min(focal_mm[1], working_distance_mm[1] / per_mm)
    if lo > hi:
        need = (working_distance_mm[0] / per_mm, working_distance_mm[1] / per_mm)
        raise ValueError(
            f"optics: {optics.mm_per_px * 1000:.1f} um per pixel needs a focal length of "
            f"{need[0]:.1f}-{need[1]:.1f} mm for working_distance_mm "
            f"{list(working_distance_mm)}, outside focal_length_mm {list(focal_mm)}"
        )
    return lo, hi


class TileConfig(Model):
    """Render only tiles of the frame: each product at native resolution with a
    margin (``focus: products``) or a square around each defect (``focus:
    defects``), plus background-only tiles; each tile is a dataset image."""

    enabled: bool = Field(False, description="render tiles instead of whole frames")
    focus: Literal["products", "defects"] = Field(
        "products",
        description="products: tiles cover every product whole (test sets: product-level "
        "accept/reject); defects: a side_px square around each defect, one on each product "
        "without one (around a nuisance where it has any) and product_squares more on "
        "every product, for training sets (a sixth to a quarter of the pixels)",
    )
    side_px: int = Field(512, ge=64, le=8192, description="a focus: defects tile's side")
    product_squares: int = Field(
        1,
        ge=0,
        le=16,
        description="focus: defects: squares at random places on every product besides "
        "those around its defects: its holes, edges and prints, which a model trained on "
        "defect squares alone takes for defects (docs/training.md, section 6); 0: none",
    )
    margin_px: int = Field(
        32,
        ge=0,
        le=4096,
        description="pixels around each product's box "
        "(focus: defects: between a defect and its square's edges)",
    )
    max_side_px: int = Field(
        1024, ge=64, le=8192, description="larger product areas are cut into tiles of at most this"
    )
    background_share: float = Field(
        0.25, ge=0, le=4, description="background-only tiles per product (or defect) tile "
        "(their size: the median tile's)",
    )  # fmt: skip
