"""Config model of the defective-product family (sampled by ``sampler.py`` here).

Sizes in this section are millimetres (what a QC engineer measures); the
SceneSpec and geometry use metres. The family brings its own inspection camera,
lights and background: the top-level ``camera``, ``lights`` and ``world``
sections are not used by it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from render.cfgtypes import FloatRange, IntRange, Model
from render.families.base import SceneModel
from render.families.defects.optics import Optics, TileConfig, focal_range
from render.families.defects.qc_config import (
    AcceptanceLimits,
    EdgeWearConfig,
    NuisanceConfig,
    NuisanceType,
    default_acceptance,
    default_nuisances,
)

ProductFamily = Literal[
    "plate", "tile", "can", "bottle", "gear", "washer", "hex_nut", "pcb", "mesh"
]
DefectType = Literal["scratch", "dent", "crack", "stain", "chip"]
DEFECT_TYPES: tuple[DefectType, ...] = get_args(DefectType)
"""Every defect type, in the order used for balancing: the one list of them."""
VARIANTS: dict[str, tuple[str, ...]] = {
    "scratch": ("single", "parallel", "curved"),
    "crack": ("edge", "star"),
}
"""The variants of the defect types that have some (``DefectConfig.variants``)."""
ViewKind = Literal["top_down", "oblique"]
LightPreset = Literal["ring", "dome", "raking", "back"]
BackgroundKind = Literal["conveyor", "table", "tray"]


def _views() -> dict[ViewKind, float]:
    return {"top_down": 1.0, "oblique": 1.0}


def _presets() -> dict[LightPreset, float]:
    return {"ring": 1.0, "dome": 1.0, "raking": 1.0, "back": 0.3}


def _kinds() -> dict[BackgroundKind, float]:
    return {"conveyor": 1.0, "table": 1.0, "tray": 0.5}


class ProductChoice(Model):
    """One kind of product: a parametric family (or a user mesh), its COCO category,
    the material presets it may get (names of ``assets/materials/*.yaml``)."""

    family: ProductFamily = Field(
        description="parametric product generator, or mesh for a user's mesh file (docs/defects.md)"
    )
    category: str = Field(description="category name of this product (must be in categories)")
    weight: float = Field(1.0, gt=0, description="relative sampling weight")
    params: dict[str, FloatRange] = Field(
        default_factory=dict,
        description="narrow the family's parameter ranges (metres; counts as ints)",
    )
    materials: list[str] = Field(
        min_length=1, description="material presets; each product picks one uniformly"
    )
    mesh: str | None = Field(None, description="family 'mesh': OBJ/STL/PLY/GLB/GLTF path")
    unit_scale: float = Field(1.0, gt=0, description="family 'mesh': metres per file unit")
    up_axis: Literal["X", "Y", "Z", "-X", "-Y", "-Z"] = Field(
        "Z", description="family 'mesh': the file's up axis"
    )
    size_mm: FloatRange | None = Field(
        None, description="family 'mesh': largest dimension; unset = as is"
    )
    pose: Literal["flat", "side"] = Field(
        "flat", description="side: lying on its side (cans, bottles)"
    )
    secondary: list[str] = Field(
        default_factory=list,
        description="presets of its secondary surface (a can's or bottle's label, a plate's "
        "chamfers and countersinks); empty = its material's own edge preset, or itself",
    )
    acceptance: dict[DefectType, AcceptanceLimits] = Field(
        default_factory=dict,
        description="defect type -> this product's acceptance limits (replace scene.acceptance)",
    )
    edge_wear: EdgeWearConfig | None = Field(
        None, description="this product's edge wear (replaces scene.edge_wear); null = the scene's"
    )

    @model_validator(mode="after")
    def _check(self) -> ProductChoice:
        if (self.family == "mesh") != (self.mesh is not None):
            raise ValueError("mesh: set it exactly when family is 'mesh'")
        # Imported here: products pulls in scipy.sparse (~1 s), and every CLI call and
        # spawned worker imports this config module.
        from render.families.defects.geometry.products import PARAM_SPACE

        space = PARAM_SPACE.get(self.family, {})
        for key in self.params:
            if key not in space:
                raise ValueError(
                    f"params.{key}: not a parameter of {self.family!r}; valid: {sorted(space)}"
                )
        return self


class DefectConfig(Model):
    """One defect type. ``size_mm``: length (scratch, crack) or diameter (dent,
    stain, chip); ``depth_mm``: how deep a dent, chip, scratch groove or crack goes;
    ``width_mm``: a scratch groove's or a crack's opening (a crack's raised to one
    pixel); ``roughness``: stain outline and crack path irregularity;
    ``branches``: cracks only."""

    category: str = Field(description="category name of this defect type (must be in categories)")
    frequency: float = Field(1.0, ge=0, description="target share among defects (normalised)")
    size_mm: FloatRange = Field(
        (5.0, 20.0),
        description="length (scratch, crack) or diameter (dent, stain, chip), mm; capped to fit "
        "the product",
    )
    depth_mm: FloatRange = Field(
        (0.3, 1.0),
        description="depth of a dent, chip, scratch groove or crack, mm (capped by product "
        "thickness, defect size)",
    )
    width_mm: FloatRange = Field(
        (0.3, 0.8),
        description="opening of a scratch groove or crack, mm (a crack's raised to 1 px; the "
        "annotated mask is at least min_defect_width_px wide)",
    )
    roughness: FloatRange = Field(
        (0.3, 0.7), description="stain outline and crack path irregularity (higher = more jagged)"
    )
    branches: IntRange = Field((1, 3), description="side branches per crack")
    materials: list[str] = Field(
        default_factory=list,
        description="presets (scratch: groove walls, crack: its interior); empty = the "
        "product's substrate (bare metal under paint, body under glaze) or its own material",
    )
    variants: dict[str, float] = Field(
        default_factory=dict,
        description="variant -> weight; scratch: single, parallel (abrasion), curved "
        "(handling); crack: edge (from an edge or hole), star (from a stress point); "
        "empty = all equally",
    )
    open_probability: float = Field(
        0.5, ge=0, le=1, description="crack on a brittle material (ceramic, PCB): share that gape"
    )


def _defects() -> dict[DefectType, DefectConfig]:
    return {
        "scratch": DefectConfig(
            category="scratch", size_mm=(10.0, 40.0), width_mm=(0.04, 0.4), depth_mm=(0.01, 0.08)
        ),
        "dent": DefectConfig(category="dent", size_mm=(6.0, 16.0), depth_mm=(0.4, 1.2)),
        "crack": DefectConfig(
            category="crack",
            size_mm=(10.0, 30.0),
            width_mm=(0.1, 0.4),
            depth_mm=(0.2, 0.8),
            materials=["crack_dark"],
        ),
        "stain": DefectConfig(
            category="stain",
            size_mm=(5.0, 18.0),
            materials=["rust", "oil_stain", "water_stain", "discoloration"],
        ),
        "chip": DefectConfig(category="chip", size_mm=(3.0, 10.0), depth_mm=(0.5, 1.5)),
    }


class InspectionCamera(Model):
    """Machine-vision camera: lens focal length, sensor width (2/3" = 8.8 mm), and
    the field of view across the image at the products, which sets the distance.
    With ``optics`` the camera is a real set-up instead (sensor, smallest defect to
    resolve): it sets the image size, field of view and distance, and
    ``sensor_width_mm``, ``field_of_view_mm`` and ``render.resolution`` are not used."""

    optics: Optics | None = Field(
        None,
        description="a machine-vision set-up specified by what it must resolve "
        "(render/families/defects/optics.py); null: the field-of-view model",
    )
    tiles: TileConfig = Field(
        default_factory=TileConfig,
        description="render tiles of the frame (products at native resolution, some "
        "background) instead of whole frames",
    )

    focal_length_mm: FloatRange = Field(
        (8.0, 50.0), description="lens focal length, millimetres (one per scene)"
    )
    sensor_width_mm: float = Field(
        8.8, gt=0, description="sensor width, millimetres; it spans the image width"
    )
    field_of_view_mm: FloatRange = Field((110.0, 180.0), description="image width at the products")
    working_distance_mm: FloatRange = Field(
        (60.0, 1500.0), description="allowed lens-to-part distance"
    )
    views: dict[ViewKind, float] = Field(
        default_factory=_views, description="view kind -> weight, per view; keys: top_down, oblique"
    )
    top_down_tilt_deg: float = Field(
        4.0, ge=0, le=20, description="top_down views tilt up to this far from vertical, degrees"
    )
    oblique_elevation_deg: FloatRange = Field(
        (45.0, 70.0), description="oblique views: camera angle above the support plane, degrees"
    )
    defocus_probability: float = Field(
        0.2, ge=0, le=1, description="share of scenes with depth of field, focused on the products"
    )
    fstop: FloatRange = Field((4.0, 11.0), description="aperture f-number of defocused scenes")
    motion_blur_probability: float = Field(
        0.0, ge=0, le=1, description="share of scenes whose parts move during the exposure"
    )
    motion_blur_px: FloatRange = Field(
        (1.0, 4.0), description="blur length in pixels (distance a part travels while exposed)"
    )
    motion_blur_shutter: FloatRange = Field(
        (0.05, 0.2),
        description="shutter open time of blurred scenes, fraction of a frame (0..1 exclusive)",
    )

    @model_validator(mode="after")
    def _check(self) -> InspectionCamera:
        if self.motion_blur_shutter[0] <= 0 or self.motion_blur_shutter[1] >= 1:
            raise ValueError(
                f"motion_blur_shutter: must lie in (0, 1) frames, got {list(self.motion_blur_shutter)}"
            )
        if self.motion_blur_px[0] < 0:
            raise ValueError(f"motion_blur_px: must be >= 0, got {list(self.motion_blur_px)}")
        if self.focal_length_mm[0] <= 0 or self.field_of_view_mm[0] <= 0:
            raise ValueError("focal_length_mm and field_of_view_mm must be > 0")
        if not any(w > 0 for w in self.views.values()):
            raise ValueError(f"views: need a weight > 0, got {self.views}")
        if self.optics is not None:
            focal_range(self.optics, self.focal_length_mm, self.working_distance_mm)
        return self


class LightingConfig(Model):
    """Light presets (weights) and their power; ``ambient`` is the world light. Powers
    are for a 0.3 m working distance and scale with the distance squared."""

    presets: dict[LightPreset, float] = Field(
        default_factory=_presets, description="preset -> weight; keys: ring, dome, raking, back"
    )
    ring_power_w: FloatRange = Field(
        (0.08, 0.2), description="ring (and back's weak ring at 0.3x): watts per lamp of 12"
    )
    dome_power_w: FloatRange = Field(
        (1.0, 2.5), description="dome: watts per disk light of 5 (raking's fill light: 0.2x)"
    )
    raking_power_w: FloatRange = Field((1.5, 3.5), description="raking: watts per light bar (1-2)")
    raking_elevation_deg: FloatRange = Field(
        (5.0, 20.0), description="raking: light bar angle above the support plane, degrees"
    )
    back_emission: FloatRange = Field(
        (1.5, 3.0), description="back: emission strength of the back-light panel under the parts"
    )
    ambient: FloatRange = Field((0.03, 0.2), description="world (ambient) light strength")
    temperature_k: FloatRange = Field(
        (4500.0, 6500.0), description="colour temperature of every light and the ambient, kelvin"
    )


class BackgroundConfig(Model):
    """Backgrounds (weights) and their material presets."""

    kinds: dict[BackgroundKind, float] = Field(
        default_factory=_kinds,
        description="background -> weight; keys: conveyor, table, tray (back light: always table)",
    )
    conveyor_materials: list[str] = Field(
        default_factory=lambda: ["rubber_belt", "pvc_belt_green"],
        description="belt material presets, one picked uniformly",
    )
    table_materials: list[str] = Field(
        default_factory=lambda: ["esd_mat", "steel_table", "painted_steel"],
        description="table-top material presets, one picked uniformly (not with back light)",
    )
    tray_materials: list[str] = Field(
        default_factory=lambda: ["abs_plastic", "tray_black"],
        description="tray material presets, one picked uniformly",
    )
    rib_probability: float = Field(
        0.5, ge=0, le=1, description="share of conveyor belts with 1.5 mm transverse ribs"
    )


class DefectsScene(SceneModel):
    """Defective-product family: 1..N products on an inspection background, each
    good or with 1..K defects, seen by a machine-vision camera."""

    family: Literal["defects"] = Field("defects", description="selects the defects family")
    products: list[ProductChoice] = Field(
        min_length=1, description="kinds of product; each product picks one by weight"
    )
    products_per_image: IntRange = Field(
        (1, 3), description="products per scene; those that do not fit the area are left out"
    )
    allow_overlap: bool = Field(False, description="products may rest partly on each other")
    good_fraction: float = Field(0.2, ge=0, le=1, description="share of defect-free products")
    defects_per_product: IntRange = Field(
        (1, 3), description="defects on each defective product (at most 16)"
    )
    defects: dict[DefectType, DefectConfig] = Field(
        default_factory=_defects,
        description="defect type -> settings; keys: scratch, dent, crack, stain, chip "
        "(a type left out is never drawn)",
    )
    min_defect_pixels: int = Field(
        16, ge=1, description="smaller visible defects are not annotated"
    )
    min_defect_width_px: float = Field(
        2.0, ge=0.5, description="narrowest defect mask in the image, pixels"
    )
    min_defect_contrast: float = Field(
        3.0,
        ge=0,
        description="defects and nuisances standing out from their product around them by "
        "less are not annotated (CIE76 dE, see render/visibility.py; 0 = off)",
    )
    nuisances: dict[NuisanceType, NuisanceConfig] = Field(
        default_factory=default_nuisances,
        description="nuisance type -> settings; keys: dust, fibre, fingerprint, droplet, print, "
        "logo, glint, tool_mark (a type left out never appears)",
    )
    acceptance: dict[DefectType, AcceptanceLimits] = Field(
        default_factory=default_acceptance,
        description="defect type -> acceptance limits grading each defect accept/reject "
        "(a product's own acceptance replaces its type's)",
    )
    edge_wear: EdgeWearConfig = Field(
        default_factory=EdgeWearConfig,
        description="edge wear of products: coating worn at convex edges (not annotated)",
    )
    stratify: bool = Field(
        True, description="low-discrepancy class selection: counts track the targets"
    )
    camera: InspectionCamera = InspectionCamera()
    lighting: LightingConfig = LightingConfig()
    background: BackgroundConfig = BackgroundConfig()
    materials_dir: str = Field(
        "assets/materials", description="folder of material preset YAML files"
    )

    @model_validator(mode="after")
    def _check(self) -> DefectsScene:
        if self.products_per_image[0] < 1:
            raise ValueError(
                f"products_per_image: must be >= 1, got {list(self.products_per_image)}"
            )
        if self.defects_per_product[0] < 1:
            raise ValueError(
                f"defects_per_product: must be >= 1, got {list(self.defects_per_product)}"
            )
        if self.good_fraction < 1 and not any(d.frequency > 0 for d in self.defects.values()):
            raise ValueError("defects: every frequency is 0 but good_fraction < 1")
        for kind, d in self.defects.items():
            valid = VARIANTS.get(kind, ())
            for v in d.variants:
                if v not in valid:
                    raise ValueError(
                        f"defects.{kind}.variants: unknown {v!r}; valid: {list(valid)}"
                    )
            if d.variants and not any(w > 0 for w in d.variants.values()):
                raise ValueError(f"defects.{kind}.variants: need a weight > 0")
        defect_categories = {d.category for d in self.defects.values()}
        for what, n in self.nuisances.items():
            if n.category in defect_categories:
                raise ValueError(
                    f"nuisances.{what}.category: {n.category!r} is a defect category; a nuisance "
                    "is never annotated as a defect"
                )
            if n.size_mm[0] <= 0:
                raise ValueError(f"nuisances.{what}.size_mm: must be > 0, got {list(n.size_mm)}")
        return self

    def image_size(self, resolution: tuple[int, int]) -> tuple[int, int]:
        """The sensor's size with optics (a tile at most ``max_side_px`` a side when
        tiled, ``side_px`` with ``focus: defects``), else ``render.resolution``."""
        w, h = resolution if self.camera.optics is None else self.camera.optics.sensor_px()[:2]
        t = self.camera.tiles
        if t.enabled:
            side = t.side_px if t.focus == "defects" else t.max_side_px
            w, h = min(w, side), min(h, side)
        return w, h

    def category_names(self) -> list[str]:
        """Every product and (enabled) defect category this family annotates."""
        names = {p.category for p in self.products}
        names |= {d.category for d in self.defects.values() if d.frequency > 0}
        names |= {n.category for n in self.nuisances.values() if n.category and n.probability > 0}
        if any(p.family == "pcb" for p in self.products):
            names.add("component")
        return sorted(names)

    def asset_fields(self, data: dict[str, Any]) -> list[tuple[str, str, Callable[[str], None]]]:
        """(yaml path under scene, path value, setter) for every user mesh in ``data``."""
        out: list[tuple[str, str, Callable[[str], None]]] = []
        for i, product in enumerate(data["products"]):
            if product.get("mesh"):
                out.append(
                    (f"products[{i}].mesh", product["mesh"], partial(product.__setitem__, "mesh"))
                )
        return out
