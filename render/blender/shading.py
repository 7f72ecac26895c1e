"""Materials, lights and the world (uniform or Nishita sky) from a SceneSpec.

Every node graph is a deterministic function of its spec: no random choice is
made here (procedural textures are seeded by their coordinates).
"""

from __future__ import annotations

import math
from typing import Any

import bpy

from render.blender import bootstrap, layers
from render.errors import RenderError
from render.spec import LightSpec, MaterialSpec, WorldSpec

_PATTERNS = ("stripes", "denim", "print", "bricks")
_MACHINED = ("turned", "milled", "cast")


def make_material(name: str, m: MaterialSpec, max_detail: float = 16.0) -> Any:
    """A Principled BSDF material for ``m`` (see :class:`~render.spec.MaterialSpec`);
    procedural noise textures get at most ``max_detail`` octaves."""
    mat = bpy.data.materials.new(f"{name}_mat")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes.get("Principled BSDF")
    base = (*m.base_color, 1.0)
    bsdf.inputs["Base Color"].default_value = base
    bsdf.inputs["Roughness"].default_value = m.roughness
    bsdf.inputs["Metallic"].default_value = m.metallic
    for key, value in m.inputs.items():
        if key not in bsdf.inputs:
            valid = sorted(i.name for i in bsdf.inputs if i.type == "VALUE")
            raise RenderError(
                f"material {name}: Principled BSDF has no input {key!r}; valid: {valid}"
            )
        bsdf.inputs[key].default_value = value
    if m.image:
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(m.image, check_existing=True)
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    elif m.texture in _PATTERNS:
        _pattern(mat, bsdf, m)
    elif m.texture in _MACHINED:
        layers.machined(mat, bsdf, m)
    elif m.texture != "none" and (m.color_variation > 0 or m.bump_strength > 0):
        _noise(mat, bsdf, m)
    if m.wear is not None:
        layers.edge_wear(mat, bsdf, m, m.wear)
    if m.layer is not None:
        layers.film(mat, bsdf, m, m.layer)
    for node in mat.node_tree.nodes:
        if node.bl_idname == "ShaderNodeTexNoise":
            detail = node.inputs["Detail"]
            detail.default_value = min(detail.default_value, max_detail)
    return mat


def _coordinates(mat: Any, m: MaterialSpec) -> Any:
    """The vector socket that drives a texture: object space, or the mesh's ``rest``
    point attribute (rest-pose body coordinates, wall coordinates of a facade)."""
    nodes = mat.node_tree.nodes
    if m.coordinates == "rest":
        attr = nodes.new("ShaderNodeAttribute")
        attr.attribute_type = "GEOMETRY"
        attr.attribute_name = "rest"
        return attr.outputs["Vector"]
    return nodes.new("ShaderNodeTexCoord").outputs["Object"]


def _noise(mat: Any, bsdf: Any, m: MaterialSpec) -> None:
    """Colour variation and bump from a 3-D noise, stretched along X (``brushed``)
    or Z (``strands``)."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    coord = _coordinates(mat, m)
    mapping = nodes.new("ShaderNodeMapping")
    s = m.noise_scale
    mapping.inputs["Scale"].default_value = {
        "brushed": (s * 0.02, s, s),
        "strands": (s, s, s * 0.02),
    }.get(m.texture, (s, s, s))
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Detail"].default_value = 8.0
    noise.inputs["Roughness"].default_value = 0.6
    links.new(coord, mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], noise.inputs["Vector"])
    if m.color_variation > 0:
        links.new(
            _ramp(mat, noise.outputs["Fac"], m.base_color, m.color_variation),
            bsdf.inputs["Base Color"],
        )
    if m.bump_strength > 0:
        _bump(mat, bsdf, noise.outputs["Fac"], m.bump_strength, 0.001)


def _ramp(mat: Any, fac: Any, color: list[float], variation: float) -> Any:
    """``color`` scaled by (1 - variation) .. (1 + variation) along ``fac``."""
    ramp = mat.node_tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = tuple(
        [max(0.0, c * (1 - variation)) for c in color] + [1.0]
    )
    ramp.color_ramp.elements[1].color = tuple(
        [min(1.0, c * (1 + variation)) for c in color] + [1.0]
    )
    mat.node_tree.links.new(fac, ramp.inputs["Fac"])
    return ramp.outputs["Color"]


def _bump(mat: Any, bsdf: Any, height: Any, strength: float, distance: float) -> None:
    bump = mat.node_tree.nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = strength
    bump.inputs["Distance"].default_value = distance
    mat.node_tree.links.new(height, bump.inputs["Height"])
    mat.node_tree.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])


def _socket(sockets: Any, identifier: str) -> Any:
    """A node socket by identifier (Mix nodes have several sockets named "A")."""
    return next(s for s in sockets if s.identifier == identifier)


def _mix(mat: Any, fac: Any, a: Any, b: Any) -> Any:
    """Colour ``a`` where ``fac`` is 0, ``b`` where it is 1 (sockets or RGB lists)."""
    node = mat.node_tree.nodes.new("ShaderNodeMix")
    node.data_type = "RGBA"
    mat.node_tree.links.new(fac, _socket(node.inputs, "Factor_Float"))
    for socket, value in (
        (_socket(node.inputs, "A_Color"), a),
        (_socket(node.inputs, "B_Color"), b),
    ):
        if isinstance(value, list | tuple):
            socket.default_value = (*value[:3], 1.0)
        else:
            mat.node_tree.links.new(value, socket)
    return _socket(node.outputs, "Result_Color")


def _math(mat: Any, op: str, a: Any, b: float) -> Any:
    node = mat.node_tree.nodes.new("ShaderNodeMath")
    node.operation = op
    mat.node_tree.links.new(a, node.inputs[0])
    node.inputs[1].default_value = b
    return node.outputs["Value"]


def _pattern(mat: Any, bsdf: Any, m: MaterialSpec) -> None:
    """Fabric and wall patterns (stripes, denim, print, bricks), ``pattern_scale``
    metres per repetition, with ``color_variation`` noise and ``bump_strength``."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    vec = _coordinates(mat, m)
    second = list(m.color2 or [c * 0.5 for c in m.base_color])
    scale = 1.0 / m.pattern_scale
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = m.noise_scale
    noise.inputs["Detail"].default_value = 4.0
    links.new(vec, noise.inputs["Vector"])
    base = _ramp(mat, noise.outputs["Fac"], m.base_color, m.color_variation)
    height = None
    if m.texture == "stripes":
        xyz = nodes.new("ShaderNodeSeparateXYZ")
        links.new(vec, xyz.inputs["Vector"])
        phase = _math(mat, "FRACT", _math(mat, "MULTIPLY", xyz.outputs["Z"], scale), 0.0)
        color = _mix(mat, _math(mat, "LESS_THAN", phase, 0.5), second, base)
    elif m.texture == "denim":
        wave = nodes.new("ShaderNodeTexWave")
        wave.wave_type = "BANDS"
        wave.bands_direction = "DIAGONAL"
        wave.inputs["Scale"].default_value = scale
        wave.inputs["Distortion"].default_value = 1.5
        links.new(vec, wave.inputs["Vector"])
        lighter = [min(1.0, c * 1.6 + 0.05) for c in m.base_color]
        fade = _math(mat, "MULTIPLY", noise.outputs["Fac"], 0.6)
        color = _mix(mat, _math(mat, "MULTIPLY", wave.outputs["Fac"], 0.35), base, lighter)
        color = _mix(mat, fade, color, lighter)
        height = wave.outputs["Fac"]
    elif m.texture == "print":
        vor = nodes.new("ShaderNodeTexVoronoi")
        vor.inputs["Scale"].default_value = scale
        links.new(vec, vor.inputs["Vector"])
        dots = _math(mat, "LESS_THAN", vor.outputs["Distance"], 0.3)
        color = _mix(mat, dots, base, second)
    else:  # bricks
        brick = nodes.new("ShaderNodeTexBrick")
        brick.inputs["Scale"].default_value = 1.0
        brick.inputs["Brick Width"].default_value = m.pattern_scale
        brick.inputs["Row Height"].default_value = m.pattern_scale * 0.35
        brick.inputs["Mortar Size"].default_value = m.pattern_scale * 0.04
        links.new(vec, brick.inputs["Vector"])
        brick.inputs["Color2"].default_value = (*[c * 0.75 for c in m.base_color], 1.0)
        brick.inputs["Mortar"].default_value = (*second, 1.0)
        links.new(base, brick.inputs["Color1"])
        color = brick.outputs["Color"]
        height = brick.outputs["Fac"]
    links.new(color, bsdf.inputs["Base Color"])
    if m.bump_strength > 0:
        _bump(mat, bsdf, height or noise.outputs["Fac"], m.bump_strength, 0.002)


# --------------------------------------------------------------------------- lights


def build_light(light: LightSpec) -> None:
    data = bpy.data.lights.new(name=f"light_{light.type.lower()}", type=light.type)
    data.energy = light.energy
    data.color = light.color
    if light.type in ("POINT", "SPOT"):
        data.shadow_soft_size = light.size
    if light.type == "SPOT":
        data.spot_size = light.spot_angle
        data.spot_blend = 0.3
    if light.type == "AREA":
        data.shape = light.shape
        data.size = light.size
        if light.shape in ("RECTANGLE", "ELLIPSE"):
            data.size_y = light.size_y if light.size_y is not None else light.size
    if light.type == "SUN":
        data.angle = min(light.size, math.pi)
    obj = bpy.data.objects.new(name=data.name, object_data=data)
    obj.location = light.location
    obj.rotation_euler = light.rotation_euler
    bpy.context.scene.collection.objects.link(obj)


# --------------------------------------------------------------------------- world


def setup_world(w: WorldSpec) -> None:
    """A uniform background (``color`` x ``strength``), or a Nishita sky mixed
    towards ``color`` by ``overcast`` (fog: :func:`build_fog`). Nodes from an
    earlier scene are removed; the "Background" node BlenderProc expects is kept."""
    bproc = bootstrap.import_blenderproc()
    world = bpy.context.scene.world
    world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    for node in list(nodes):
        if node.name not in ("Background", "World Output"):
            nodes.remove(node)
    bproc.renderer.set_world_background(list(w.color), strength=w.strength)
    if w.sky is None:
        return
    sky = nodes.new("ShaderNodeTexSky")
    sky.sky_type = "NISHITA"
    sky.sun_disc = False
    sky.sun_elevation = w.sky.sun_elevation
    sky.sun_rotation = w.sky.sun_rotation
    sky.altitude = w.sky.altitude
    sky.air_density = w.sky.air_density
    sky.dust_density = w.sky.dust_density
    sky.ozone_density = w.sky.ozone_density
    mix = nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    _socket(mix.inputs, "Factor_Float").default_value = w.overcast
    links.new(sky.outputs["Color"], _socket(mix.inputs, "A_Color"))
    _socket(mix.inputs, "B_Color").default_value = (*w.color, 1.0)
    links.new(_socket(mix.outputs, "Result_Color"), nodes["Background"].inputs["Color"])


def build_fog(w: WorldSpec) -> None:
    """Fog: a box (``w.fog_box``) of homogeneous scattering volume, extinction
    ``w.fog_density`` per metre, no surface: light is scattered and dimmed with the
    distance it travels inside, so far things fade into the fog's glow. Not an
    annotated object (instance 0): masks and depth keep the first surface."""
    if w.fog_density <= 0 or w.fog_box is None:
        return
    x0, y0, z0, x1, y1, z1 = w.fog_box
    mesh = bpy.data.meshes.new("fog")
    verts = [(x, y, z) for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(verts, [], faces)
    obj = bpy.data.objects.new("fog", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.pass_index = 0
    mat = bpy.data.materials.new("fog")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    for node in list(nodes):
        if node.bl_idname != "ShaderNodeOutputMaterial":
            nodes.remove(node)
    scatter = nodes.new("ShaderNodeVolumeScatter")
    scatter.inputs["Density"].default_value = w.fog_density
    out = next(n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    links.new(scatter.outputs["Volume"], out.inputs["Volume"])
    mesh.materials.append(mat)
