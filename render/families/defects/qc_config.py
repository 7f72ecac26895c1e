"""Config of what a QC line sees besides defects: nuisances (the hard negatives) and
the acceptance limits that grade each defect (fields of ``config.DefectsScene``).

Sizes are millimetres, as a QC engineer measures them.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field

from render.cfgtypes import FloatRange, IntRange, Model

NuisanceType = Literal[
    "dust", "fibre", "fingerprint", "droplet", "print", "logo", "glint", "tool_mark"
]
NUISANCE_TYPES: tuple[NuisanceType, ...] = get_args(NuisanceType)
SEE_THROUGH: frozenset[NuisanceType] = frozenset({"fingerprint", "droplet"})
"""Nuisances the eye sees through (an oil film, water): a defect under one stays
visible, so it keeps those pixels in its mask (``ObjectSpec.see_through``)."""


class NuisanceConfig(Model):
    """One kind of nuisance: something on a product that is not a defect. Each
    product gets, with ``probability``, ``count`` of them; each is one instance,
    annotated as ``category`` (its own, never a defect's) or not at all (null)."""

    category: str | None = Field(
        None,
        description="category to annotate it as (must be in categories and not a defect "
        "category); null: not annotated (its pixels still count in its product's mask)",
    )
    probability: float = Field(0.3, ge=0, le=1, description="share of products that get any")
    count: IntRange = Field((1, 1), description="how many a product gets, when it gets any")
    size_mm: FloatRange = Field(
        (0.2, 1.0),
        description="dust/glint: across; fibre/tool_mark: length; fingerprint: length; "
        "droplet: diameter; print: character height; logo: width",
    )
    width_mm: FloatRange = Field((0.03, 0.1), description="fibre and tool_mark width")
    depth_mm: FloatRange = Field((0.002, 0.008), description="tool_mark depth")
    materials: list[str] = Field(default_factory=list, description="presets; empty = built-in")
    families: list[str] = Field(
        default_factory=list, description="product families that get it; empty = all"
    )


def default_nuisances() -> dict[NuisanceType, NuisanceConfig]:
    metals = ["plate", "gear", "washer", "hex_nut", "can", "mesh"]
    return {
        "dust": NuisanceConfig(
            probability=0.5, count=(1, 6), size_mm=(0.2, 0.9), materials=["dust"]
        ),
        "fibre": NuisanceConfig(
            probability=0.25,
            count=(1, 2),
            size_mm=(2.0, 8.0),
            width_mm=(0.04, 0.1),
            materials=["fibre"],
        ),
        "fingerprint": NuisanceConfig(
            probability=0.2, size_mm=(11.0, 16.0), materials=["fingerprint"]
        ),
        "droplet": NuisanceConfig(
            probability=0.12, count=(1, 4), size_mm=(1.0, 4.0), materials=["water"]
        ),
        "print": NuisanceConfig(
            probability=0.3,
            size_mm=(1.5, 3.0),
            materials=["ink_black", "ink_white"],
            families=["can", "bottle", "plate", "pcb", "tile", "mesh"],
        ),
        "glint": NuisanceConfig(
            probability=0.25,
            count=(1, 3),
            size_mm=(0.25, 0.7),
            materials=["glint_flake"],
            families=metals,
        ),
        "tool_mark": NuisanceConfig(
            probability=0.25,
            size_mm=(10.0, 40.0),
            width_mm=(0.3, 1.2),
            depth_mm=(0.002, 0.008),
            families=["plate", "gear", "washer", "hex_nut", "mesh"],
        ),
        "logo": NuisanceConfig(
            probability=0.2,
            size_mm=(4.0, 12.0),
            materials=["ink_black", "ink_white"],
            families=["can", "bottle", "plate", "pcb", "tile", "mesh"],
        ),
    }


class EdgeWearConfig(Model):
    """Edge wear of products (surface realism, never annotated): the coating worn
    through along convex edges and corners, showing what is under it (the material
    preset's ``substrate``), or, without one, the surface polished lighter."""

    probability: float = Field(
        0.0, ge=0, le=1, description="share of products with worn edges (0 = off)"
    )
    strength: FloatRange = Field(
        (0.5, 1.0), description="how far the worn band goes to the exposed material (0..1)"
    )
    width_mm: FloatRange = Field(
        (0.15, 0.8), description="width of the worn band from the edge, millimetres"
    )
    breakup: FloatRange = Field((0.3, 0.8), description="how irregular the band's border is (0..1)")


class AcceptanceLimits(Model):
    """Largest acceptable measures of one defect type (unset: no limit on that
    measure). A defect over any limit grades ``reject``, else ``accept``."""

    length_mm: float | None = Field(None, ge=0, description="longest acceptable length, mm")
    width_mm: float | None = Field(None, ge=0, description="widest acceptable width, mm")
    depth_mm: float | None = Field(None, ge=0, description="deepest acceptable depth, mm")
    area_mm2: float | None = Field(None, ge=0, description="largest acceptable area, mm^2")

    def limits(self) -> dict[str, float]:
        """``{"length_mm": 5.0, ...}`` for the limits that are set."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


def default_acceptance() -> dict[Any, AcceptanceLimits]:
    return {
        # limits near the middle of the default size ranges (DefectConfig), so a
        # dataset holds both grades; a real line sets its own
        "scratch": AcceptanceLimits(length_mm=20.0, width_mm=0.2),
        "dent": AcceptanceLimits(depth_mm=0.8),
        "crack": AcceptanceLimits(length_mm=12.0),
        "stain": AcceptanceLimits(area_mm2=60.0),
        "chip": AcceptanceLimits(length_mm=5.0, depth_mm=1.0),
    }
