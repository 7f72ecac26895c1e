"""The material part of a SceneSpec (:mod:`render.spec`): a surface's colour,
roughness, texture, a film's opacity and pattern, and edge wear."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LayerSpec(Spec):
    """A film on a surface (stain, fingerprint, ink, crazed paint): its opacity and pattern.

    The mesh carries a point attribute ``fade`` (1 inside, falling to 0 at the
    film's outline). Opacity is ``opacity * smoothstep(0, falloff, fade)`` broken up
    by a noise of ``breakup`` (0..1) at ``breakup_scale`` (1/m), and never below
    ``floor`` on the mesh (so the instance pass, which counts surfaces at least 5 %
    opaque, sees the film's whole outline). ``pattern``:

    - ``none``: plain film; ``pitting``: rust, dark pits with a rough bumpy crust;
    - ``ring``: a drying water mark, more opaque at its rim (``ring`` 0..1);
    - ``ridges``: fingerprint ridges, ``pattern_scale`` metres apart;
    - ``film``: an oil film with thin-film interference colours (``film_nm``);
    - ``tint``: heat tint, base colour to ``color2`` from the outline to the centre;
    - ``crazing``: paint cracked into cells ``pattern_scale`` across where the
      point attribute ``strain`` (0..1) is high; opacity stays 1.
    """

    opacity: float = Field(1.0, ge=0, le=1)
    floor: float = Field(0.06, ge=0.05, le=1)
    falloff: float = Field(0.5, gt=0, le=1)
    breakup: float = Field(0.0, ge=0, le=1)
    breakup_scale: float = Field(300.0, gt=0)
    pattern: Literal["none", "pitting", "ring", "ridges", "film", "tint", "crazing"] = "none"
    pattern_scale: float = Field(5e-4, gt=0, description="metres (ridges, crazing cells)")
    ring: float = Field(0.0, ge=0, le=1)
    film_nm: float = Field(0.0, ge=0, description="oil film thickness, nanometres")


class WearSpec(Spec):
    """Edge wear: a product's coating worn through (or its surface polished) along
    its convex edges and corners.

    The mesh carries a point attribute ``edge``: 1 - (distance to the nearest
    convex edge) / ``reach``, clipped to [0, 1] (computed outside Blender; absent
    reads 0: no wear). The surface is worn where that distance is below ``width``
    metres, the band's border broken up by a noise of ``breakup`` (0..1) at
    ``breakup_scale`` (1/m); ``strength`` (0..1) blends the surface there towards
    the exposed material: ``color`` (linear RGB), ``roughness``, ``metallic``, no
    clear coat.
    """

    strength: float = Field(ge=0, le=1)
    width: float = Field(gt=0, description="metres")
    color: list[float] = Field(min_length=3, max_length=3)
    roughness: float = Field(0.4, ge=0, le=1)
    metallic: float = Field(0.0, ge=0, le=1)
    breakup: float = Field(0.5, ge=0, le=1)
    breakup_scale: float = Field(2000.0, gt=0)
    reach: float = Field(0.006, gt=0, description="metres (the ``edge`` attribute's scale)")


class MaterialSpec(Spec):
    """A Principled BSDF with optional procedural texture and bump.

    ``base_color`` is linear RGB in [0, 1]. ``texture``:

    - ``noise`` modulates colour and bump with a 3-D noise; ``brushed`` stretches it
      along the object's X axis (machined/brushed metal), ``strands`` along Z (hair);
    - ``stripes``: bands of ``base_color`` and ``color2`` along Z, ``pattern_scale``
      metres per pair; ``denim``: twill weave of ``base_color`` with faded noise;
      ``print``: ``color2`` dots/blobs on ``base_color``; ``bricks``: brick wall,
      ``color2`` = mortar; ``pattern_scale`` sets the size of every pattern.

    - machined surfaces (``noise_scale`` = marks per metre, ``bump_strength`` their
      relief): ``turned``: concentric lathe marks about the object's Z axis;
      ``milled``: the overlapping arcs of a face mill's passes along X; ``cast``:
      sand-cast pitting and mottled roughness.

    ``layer`` makes the material a partly transparent film (stains, fingerprints,
    ink); see :class:`LayerSpec`. ``wear``: edge wear, see :class:`WearSpec`.
    ``coordinates``: what drives the texture: ``object`` space, or the mesh's
    ``rest`` point attribute (rest-pose coordinates: patterns follow a posed body).
    ``inputs`` sets further Principled BSDF inputs by their Blender 4.2 names, e.g.
    ``{"Anisotropic": 0.7, "Coat Weight": 0.3}``.
    """

    base_color: list[float] = Field(min_length=3, max_length=3)
    roughness: float = 0.5
    metallic: float = 0.0
    texture: Literal[
        "none",
        "noise",
        "brushed",
        "strands",
        "stripes",
        "denim",
        "print",
        "bricks",
        "turned",
        "milled",
        "cast",
    ] = "noise"
    noise_scale: float = 20.0
    color_variation: float = 0.1
    bump_strength: float = 0.0
    color2: list[float] | None = Field(None, min_length=3, max_length=3)
    pattern_scale: float = Field(0.05, gt=0, description="metres per pattern repetition")
    coordinates: Literal["object", "rest"] = "object"
    inputs: dict[str, float] = Field(default_factory=dict)
    image: str | None = Field(None, description="optional image texture path (base colour)")
    layer: LayerSpec | None = Field(None, description="partial opacity and pattern of a film")
    wear: WearSpec | None = Field(None, description="edge wear (products)")
