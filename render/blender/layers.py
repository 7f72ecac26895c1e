"""Node graphs of machined surfaces (turned, milled, cast) and of films (stains,
fingerprints, ink, crazed paint) for :func:`render.blender.shading.make_material`.

Deterministic functions of their MaterialSpec: patterns are procedural textures
of object coordinates and of the mesh's point attributes ``fade`` and
``strain`` (computed outside Blender, see ``render/families/defects``).
"""

from __future__ import annotations

import math
from typing import Any

from render.spec import LayerSpec, MaterialSpec, WearSpec


def _node(mat: Any, kind: str, **inputs: Any) -> Any:
    node = mat.node_tree.nodes.new(kind)
    for key, value in inputs.items():
        node.inputs[key].default_value = value
    return node


def _link(mat: Any, a: Any, b: Any) -> None:
    mat.node_tree.links.new(a, b)


def _math(mat: Any, op: str, a: Any, b: Any = 0.0, clamp: bool = False) -> Any:
    node = mat.node_tree.nodes.new("ShaderNodeMath")
    node.operation = op
    node.use_clamp = clamp
    for i, v in enumerate((a, b)):
        if isinstance(v, int | float):
            node.inputs[i].default_value = float(v)
        else:
            _link(mat, v, node.inputs[i])
    return node.outputs["Value"]


def _range(mat: Any, value: Any, lo: float, hi: float, smooth: bool = True) -> Any:
    """``value`` mapped from [lo, hi] to [0, 1], clamped (smoothstep by default)."""
    node = mat.node_tree.nodes.new("ShaderNodeMapRange")
    node.interpolation_type = "SMOOTHSTEP" if smooth else "LINEAR"
    node.clamp = True
    node.inputs["From Min"].default_value = lo
    node.inputs["From Max"].default_value = hi
    _link(mat, value, node.inputs["Value"])
    return node.outputs["Result"]


def _attribute(mat: Any, name: str) -> Any:
    node = mat.node_tree.nodes.new("ShaderNodeAttribute")
    node.attribute_type = "GEOMETRY"
    node.attribute_name = name
    return node.outputs["Fac"]


def _object_coords(mat: Any) -> Any:
    return mat.node_tree.nodes.new("ShaderNodeTexCoord").outputs["Object"]


def _mix_color(mat: Any, fac: Any, a: Any, b: Any) -> Any:
    node = mat.node_tree.nodes.new("ShaderNodeMix")
    node.data_type = "RGBA"
    sockets = {s.identifier: s for s in node.inputs}
    _link(mat, fac, sockets["Factor_Float"])
    for key, value in (("A_Color", a), ("B_Color", b)):
        if isinstance(value, list | tuple):
            sockets[key].default_value = (*value[:3], 1.0)
        else:
            _link(mat, value, sockets[key])
    return next(s for s in node.outputs if s.identifier == "Result_Color")


def _bump(mat: Any, bsdf: Any, height: Any, strength: float, distance: float) -> None:
    bump = _node(mat, "ShaderNodeBump", Strength=strength, Distance=distance)
    _link(mat, height, bump.inputs["Height"])
    old = bsdf.inputs["Normal"].links
    if old:  # chain onto an existing bump (e.g. the material's micro-bump)
        _link(mat, old[0].from_socket, bump.inputs["Normal"])
    _link(mat, bump.outputs["Normal"], bsdf.inputs["Normal"])


def machined(mat: Any, bsdf: Any, m: MaterialSpec) -> None:
    """Machining marks, ``m.noise_scale`` marks per metre: ``turned`` (concentric
    lathe rings about the object's Z axis), ``milled`` (a face mill's arcs, the
    cutter centred off the part), ``cast`` (sand-cast pits, mottled roughness)."""
    coord = _object_coords(mat)
    base = list(m.base_color)
    if m.texture in ("turned", "milled"):
        wave = mat.node_tree.nodes.new("ShaderNodeTexWave")
        wave.wave_type = "RINGS"
        wave.rings_direction = "Z"
        wave.wave_profile = "SAW"
        vec = coord
        if m.texture == "milled":  # rings of a large cutter whose centre is off the part
            mapping = _node(mat, "ShaderNodeMapping")
            mapping.inputs["Location"].default_value = (0.0, 0.09, 0.0)
            _link(mat, coord, mapping.inputs["Vector"])
            vec = mapping.outputs["Vector"]
        _link(mat, vec, wave.inputs["Vector"])
        # Blender's rings: phase = 20 x radius x scale; one mark per 1 / noise_scale m
        wave.inputs["Scale"].default_value = 2 * math.pi * m.noise_scale / 20.0
        wave.inputs["Distortion"].default_value = 0.6
        wave.inputs["Detail"].default_value = 1.0
        height = wave.outputs["Fac"]
        _bump(mat, bsdf, height, m.bump_strength, 2e-5)
        fac = _math(mat, "MULTIPLY", height, 0.5)
        ramp = _mix_color(mat, fac, [c * (1 - m.color_variation) for c in base], base)
        _link(mat, ramp, bsdf.inputs["Base Color"])
        if "Anisotropic" not in m.inputs:  # marks along the rings: a stretched highlight
            bsdf.inputs["Anisotropic"].default_value = 0.6
            tangent = mat.node_tree.nodes.new("ShaderNodeTangent")
            tangent.direction_type = "RADIAL"
            tangent.axis = "Z"
            _link(mat, tangent.outputs["Tangent"], bsdf.inputs["Tangent"])
        return
    # cast: pits (Voronoi) and a mottled roughness
    vor = _node(mat, "ShaderNodeTexVoronoi", Scale=m.noise_scale)
    _link(mat, coord, vor.inputs["Vector"])
    noise = _node(mat, "ShaderNodeTexNoise", Scale=m.noise_scale / 8, Detail=6.0)
    _link(mat, coord, noise.inputs["Vector"])
    _bump(mat, bsdf, vor.outputs["Distance"], m.bump_strength, 1e-4)
    rough = _math(mat, "MULTIPLY", noise.outputs["Fac"], 0.5)
    _link(mat, _math(mat, "ADD", rough, m.roughness - 0.25, clamp=True), bsdf.inputs["Roughness"])
    ramp = _mix_color(mat, noise.outputs["Fac"], [c * (1 - m.color_variation) for c in base], base)
    _link(mat, ramp, bsdf.inputs["Base Color"])


def film(mat: Any, bsdf: Any, m: MaterialSpec, layer: LayerSpec) -> None:
    """Opacity and pattern of a film (see :class:`render.spec.LayerSpec`)."""
    coord = _object_coords(mat)
    if layer.pattern == "crazing":
        _crazing(mat, bsdf, m, layer, coord)
        return
    fade = _attribute(mat, "fade")
    alpha = _range(mat, fade, 0.0, layer.falloff)
    if layer.pattern == "ring":  # minerals dry out at the rim: opaque ring, faint inside
        rim = _math(mat, "SUBTRACT", 1.0, _range(mat, fade, 0.04, 0.22))
        edge = _range(mat, fade, 0.0, 0.03)
        ring = _math(mat, "ADD", _math(mat, "MULTIPLY", rim, 2.2 * layer.ring), 0.35)
        alpha = _math(mat, "MULTIPLY", ring, edge)
    if layer.breakup > 0:
        noise = _node(mat, "ShaderNodeTexNoise", Scale=layer.breakup_scale, Detail=5.0)
        _link(mat, coord, noise.inputs["Vector"])
        keep = _range(mat, noise.outputs["Fac"], 0.3, 0.7)
        patchy = _math(mat, "ADD", _math(mat, "MULTIPLY", keep, layer.breakup), 1 - layer.breakup)
        alpha = _math(mat, "MULTIPLY", alpha, patchy)
    if layer.pattern == "ridges":
        # fingerprint ridges: distorted concentric ovals about the print's core, in
        # the mesh's ``whorl`` coordinates (the print's own frame, see nuisances.py)
        whorl = mat.node_tree.nodes.new("ShaderNodeAttribute")
        whorl.attribute_type = "GEOMETRY"
        whorl.attribute_name = "whorl"
        wave = mat.node_tree.nodes.new("ShaderNodeTexWave")
        wave.wave_type = "RINGS"
        wave.rings_direction = "SPHERICAL"
        wave.inputs["Scale"].default_value = 2 * math.pi / layer.pattern_scale / 20.0
        wave.inputs["Distortion"].default_value = 3.0
        wave.inputs["Detail Scale"].default_value = 0.4
        _link(mat, whorl.outputs["Vector"], wave.inputs["Vector"])
        ridge = _range(mat, wave.outputs["Fac"], 0.35, 0.75)
        alpha = _math(
            mat, "MULTIPLY", alpha, _math(mat, "ADD", _math(mat, "MULTIPLY", ridge, 0.7), 0.3)
        )
    if layer.pattern == "pitting":  # rust: dark pits in an orange crust, bumpy
        vor = _node(mat, "ShaderNodeTexVoronoi", Scale=1.0 / layer.pattern_scale)
        _link(mat, coord, vor.inputs["Vector"])
        pit = _math(mat, "SUBTRACT", 1.0, _range(mat, vor.outputs["Distance"], 0.05, 0.35))
        dark = [c * 0.25 for c in m.base_color]
        color = bsdf.inputs["Base Color"].links
        base = color[0].from_socket if color else list(m.base_color)
        _link(mat, _mix_color(mat, pit, base, dark), bsdf.inputs["Base Color"])
        _bump(mat, bsdf, _math(mat, "SUBTRACT", 1.0, pit), 0.6, 1e-4)
        alpha = _math(mat, "MAXIMUM", alpha, _math(mat, "MULTIPLY", pit, _range(mat, fade, 0, 0.3)))
    if layer.pattern == "film":  # oil: interference colours, thicker towards the middle
        noise = _node(mat, "ShaderNodeTexNoise", Scale=layer.breakup_scale / 2, Detail=3.0)
        _link(mat, coord, noise.inputs["Vector"])
        thick = _math(mat, "MULTIPLY", _math(mat, "ADD", noise.outputs["Fac"], fade), layer.film_nm)
        _link(mat, thick, bsdf.inputs["Thin Film Thickness"])
        bsdf.inputs["Thin Film IOR"].default_value = 1.47
    if layer.pattern == "tint":  # heat tint: base colour at the outline to color2 inside
        second = list(m.color2 or [c * 0.5 for c in m.base_color])
        _link(mat, _mix_color(mat, fade, list(m.base_color), second), bsdf.inputs["Base Color"])
    alpha = _math(mat, "MULTIPLY", alpha, layer.opacity)
    _link(mat, _math(mat, "MAXIMUM", alpha, layer.floor), bsdf.inputs["Alpha"])


def _crazing(mat: Any, bsdf: Any, m: MaterialSpec, layer: LayerSpec, coord: Any) -> None:
    """Paint or glaze cracked into cells where the point attribute ``strain`` is high."""
    vor = mat.node_tree.nodes.new("ShaderNodeTexVoronoi")
    vor.feature = "DISTANCE_TO_EDGE"
    vor.inputs["Scale"].default_value = 1.0 / layer.pattern_scale
    vor.inputs["Randomness"].default_value = 0.9
    _link(mat, coord, vor.inputs["Vector"])
    line = _math(mat, "SUBTRACT", 1.0, _range(mat, vor.outputs["Distance"], 0.0, 0.06))
    strain = _attribute(mat, "strain")
    noise = _node(mat, "ShaderNodeTexNoise", Scale=layer.breakup_scale, Detail=4.0)
    _link(mat, coord, noise.inputs["Vector"])
    where = _range(
        mat,
        _math(mat, "ADD", strain, _math(mat, "MULTIPLY", noise.outputs["Fac"], layer.breakup)),
        0.7,
        1.0,
    )
    crack = _math(mat, "MULTIPLY", line, where)
    color = bsdf.inputs["Base Color"].links
    base = color[0].from_socket if color else list(m.base_color)
    dark = [c * 0.3 for c in m.base_color]
    _link(mat, _mix_color(mat, crack, base, dark), bsdf.inputs["Base Color"])
    _bump(mat, bsdf, _math(mat, "SUBTRACT", 1.0, crack), 0.8, 5e-5)


def _blend_float(mat: Any, bsdf: Any, name: str, fac: Any, target: float) -> None:
    """Input ``name`` of ``bsdf`` moved towards ``target`` by ``fac`` (0..1), whether
    it is a constant or already driven by a texture."""
    socket = bsdf.inputs[name]
    current = socket.links[0].from_socket if socket.links else socket.default_value
    node = mat.node_tree.nodes.new("ShaderNodeMix")
    node.data_type = "FLOAT"
    sockets = {s.identifier: s for s in node.inputs}
    _link(mat, fac, sockets["Factor_Float"])
    if isinstance(current, int | float):
        sockets["A_Float"].default_value = float(current)
    else:
        _link(mat, current, sockets["A_Float"])
    sockets["B_Float"].default_value = target
    _link(mat, next(s for s in node.outputs if s.identifier == "Result_Float"), socket)


def edge_wear(mat: Any, bsdf: Any, m: MaterialSpec, wear: WearSpec) -> None:
    """The surface worn to ``wear``'s exposed material within ``wear.width`` of a
    convex edge (point attribute ``edge``, see :class:`render.spec.WearSpec`)."""
    dist = _math(mat, "MULTIPLY", _math(mat, "SUBTRACT", 1.0, _attribute(mat, "edge")), wear.reach)
    noise = _node(mat, "ShaderNodeTexNoise", Scale=wear.breakup_scale, Detail=4.0)
    _link(mat, _object_coords(mat), noise.inputs["Vector"])
    # the band's width varies with the noise: (1 - breakup) .. (1 + breakup) x width
    jitter = _math(mat, "MULTIPLY", _math(mat, "SUBTRACT", noise.outputs["Fac"], 0.5), 2.0)
    band = _math(mat, "MULTIPLY", _math(mat, "MULTIPLY", jitter, wear.breakup), wear.width)
    ratio = _math(mat, "DIVIDE", dist, _math(mat, "ADD", band, wear.width))
    worn = _math(mat, "SUBTRACT", 1.0, _range(mat, ratio, 0.7, 1.0))
    fac = _math(mat, "MULTIPLY", worn, wear.strength)
    color = bsdf.inputs["Base Color"].links
    base = color[0].from_socket if color else list(m.base_color)
    _link(mat, _mix_color(mat, fac, base, list(wear.color)), bsdf.inputs["Base Color"])
    _blend_float(mat, bsdf, "Roughness", fac, wear.roughness)
    _blend_float(mat, bsdf, "Metallic", fac, wear.metallic)
    _blend_float(mat, bsdf, "Coat Weight", fac, 0.0)  # the clear coat wore off with the paint
