"""What one product carries, as sampled data: its materials, its defects' and
nuisances' generator params and materials (pure Python; used by ``sampler.py``).

Material slots: every product and every defect object carries the product's body
material (slot 0) and its secondary surface (slot 1: a can's label, a plate's
chamfers); groove strips add their walls' material (slot 2, ``steps.GROOVE_SLOT``),
so a groove's margins show the very surface it was cut into.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from render.families.common import integer, uniform, weighted_choice
from render.families.defects.config import VARIANTS, DefectsScene, DefectType, ProductChoice
from render.families.defects.geometry.edges import EDGE_REACH
from render.families.defects.materials import role, sample_material
from render.families.defects.qc_config import EdgeWearConfig
from render.spec import LayerSpec, MaterialSpec, WearSpec

MACHINING = {"plate": "milled", "gear": "turned", "washer": "turned", "hex_nut": "turned"}
"""The machining marks a family's ``machining`` materials get."""


def product_materials(
    choice: ProductChoice, presets: dict[str, dict[str, Any]], rng: np.random.Generator
) -> tuple[str, MaterialSpec, MaterialSpec]:
    """(preset name, body material, secondary-surface material) of one product."""
    name = str(rng.choice(choice.materials))
    body = sample_material(presets, name, rng)
    if role(presets, name, "machining") and choice.family in MACHINING:
        body = body.model_copy(
            update={
                "texture": MACHINING[choice.family],
                "noise_scale": uniform(rng, (2500.0, 6000.0)),  # marks per metre
                "bump_strength": uniform(rng, (0.05, 0.2)),
            }
        )
    if choice.secondary:
        second = sample_material(presets, str(rng.choice(choice.secondary)), rng)
    elif role(presets, name, "edge"):
        second = sample_material(presets, str(role(presets, name, "edge")), rng)
    else:
        second = body
    return name, body, second


def substrate(
    presets: dict[str, dict[str, Any]], product: str, rng: np.random.Generator
) -> MaterialSpec:
    """What a groove or a chip exposes under preset ``product`` (its ``substrate``,
    else freshly broken material of its own kind: rougher and lighter)."""
    under = role(presets, product, "substrate")
    if under:
        return sample_material(presets, str(under), rng)
    own = sample_material(presets, product, rng)
    return own.model_copy(
        update={
            "base_color": [min(1.0, c * 1.3 + 0.03) for c in own.base_color],
            "roughness": min(1.0, own.roughness + 0.25),
            "bump_strength": max(own.bump_strength, 0.3),
        }
    )


def edge_wear(
    cfg: EdgeWearConfig,
    presets: dict[str, dict[str, Any]],
    product: str,
    body: MaterialSpec,
    rng: np.random.Generator,
) -> WearSpec | None:
    """The edge wear of a product of preset ``product`` (``body``: its material), or
    None (no wear: ``cfg.probability``). Worn through to the preset's substrate
    (paint, anodic layer, glaze); without one, polished: lighter and smoother."""
    if cfg.probability <= 0 or rng.random() >= cfg.probability:
        return None
    under = role(presets, product, "substrate")
    if under:
        bare = sample_material(presets, str(under), rng)
        color, rough, metal = bare.base_color, bare.roughness, bare.metallic
    else:
        color = [min(1.0, c * 1.4 + 0.04) for c in body.base_color]
        rough, metal = body.roughness * 0.6, body.metallic
    return WearSpec(
        strength=uniform(rng, cfg.strength),
        width=uniform(rng, cfg.width_mm) / 1000,
        color=color,
        roughness=rough,
        metallic=metal,
        breakup=uniform(rng, cfg.breakup),
        breakup_scale=uniform(rng, (1000.0, 4000.0)),
        reach=EDGE_REACH,
    )


def defect_params(
    sc: DefectsScene,
    kind: str,
    extent: float,
    rng: np.random.Generator,
    pixel_m: float,
    brittle: bool,
) -> dict[str, Any]:
    """Generator params of one defect of type ``kind`` on a product whose visible
    face's smaller side is ``extent`` metres; ``pixel_m``: one pixel at the parts."""
    d = sc.defects[cast(DefectType, kind)]
    cap = 0.8 * extent if kind in ("scratch", "crack") else 0.4 * extent
    size = min(uniform(rng, d.size_mm) / 1000, cap)
    out: dict[str, Any] = {
        "type": kind,
        "seed": int(rng.integers(0, 2**31 - 1)),
        "size": size,
        "depth": uniform(rng, d.depth_mm) / 1000,
        "width": uniform(rng, d.width_mm) / 1000,
        "roughness": uniform(rng, d.roughness),
        "branches": integer(rng, d.branches),
    }
    if kind in VARIANTS:
        weights = d.variants or dict.fromkeys(VARIANTS[kind], 1.0)
        out["variant"] = str(weighted_choice(rng, {k: w for k, w in weights.items() if w > 0}))
    if kind == "crack":
        out["width"] = max(out["width"], pixel_m)  # a crack is at least a pixel wide
        out["open"] = bool(brittle and rng.random() < d.open_probability)
    if kind == "scratch":
        out["ductile"] = not brittle
    return out


def defect_material(
    sc: DefectsScene,
    kind: str,
    product: str,
    body: MaterialSpec,
    presets: dict[str, dict[str, Any]],
    rng: np.random.Generator,
) -> tuple[MaterialSpec, str | None, MaterialSpec | None]:
    """(the defect object's material, the stain variant or None, a groove's wall
    material or None) for a defect of type ``kind`` on preset ``product``."""
    d = sc.defects[cast(DefectType, kind)]
    chosen = str(rng.choice(d.materials)) if d.materials else None
    if kind in ("scratch", "crack"):
        walls = (
            sample_material(presets, chosen, rng) if chosen else substrate(presets, product, rng)
        )
        return body, None, walls
    if kind == "chip":
        if chosen:
            return sample_material(presets, chosen, rng), None, None
        # a fracture, not a cut: broken metal is dull grey (torn, oxidised), not a
        # groove's bright walls, and darker than the machined face around it
        under = substrate(presets, product, rng)
        if under.metallic > 0.5:
            under = under.model_copy(
                update={
                    "roughness": max(under.roughness, uniform(rng, (0.6, 0.8))),
                    "base_color": [c * uniform(rng, (0.5, 0.65)) for c in under.base_color],
                }
            )
        return under, None, None
    if kind == "stain":
        name = chosen or "rust"
        return sample_material(presets, name, rng), name.removesuffix("_stain"), None
    # dent: the product's own surface, its gloss changed, a coating crazed
    gloss = body.roughness * uniform(rng, (0.55, 1.5))
    layer = None
    if role(presets, product, "coating"):
        layer = LayerSpec(
            pattern="crazing",
            pattern_scale=uniform(rng, (2e-4, 6e-4)),
            breakup=uniform(rng, (0.2, 0.6)),
        )
    return body.model_copy(update={"roughness": min(1.0, gloss), "layer": layer}), None, None


def nuisance_params(
    sc: DefectsScene,
    family: str,
    rng: np.random.Generator,
    presets: dict[str, dict[str, Any]],
    glint_to: tuple[np.ndarray, np.ndarray] | None,
) -> list[tuple[dict[str, Any], MaterialSpec | None]]:
    """The nuisances one product of ``family`` carries: generator params and
    material each (None: a tool mark, cut into the product's own material). ``glint_to``: (a light, the camera) in the product's frame, for
    glints to mirror the one into the other."""
    out = []
    for kind, n in sc.nuisances.items():
        if n.probability <= 0 or (n.families and family not in n.families):
            continue
        if rng.random() >= n.probability:
            continue
        for _ in range(integer(rng, n.count)):
            p: dict[str, Any] = {
                "type": kind,
                "seed": int(rng.integers(0, 2**31 - 1)),
                "size": uniform(rng, n.size_mm) / 1000,
                "width": uniform(rng, n.width_mm) / 1000,
                "depth": uniform(rng, n.depth_mm) / 1000,
            }
            if kind == "droplet":
                p["contact_deg"] = uniform(rng, (35.0, 75.0))
            if kind == "glint":
                if glint_to is None:
                    continue
                p["light"], p["eye"] = (np.round(x, 9).tolist() for x in glint_to)
            names = n.materials or [str(kind)]
            out.append(
                (
                    p,
                    None
                    if kind == "tool_mark"
                    else sample_material(presets, str(rng.choice(names)), rng),
                )
            )
    return out


def to_local(point: list[float] | np.ndarray, location: list[float], rot: np.ndarray) -> np.ndarray:
    """A world point in a product's frame (``rot``: its 3x3 rotation)."""
    return np.asarray(rot.T @ (np.asarray(point, dtype=np.float64) - np.asarray(location)))


def camera_eye(pose: list[list[float]]) -> np.ndarray:
    """The camera centre (world) of a 4x4 camera-to-world pose."""
    return np.asarray(pose, dtype=np.float64)[:3, 3]
