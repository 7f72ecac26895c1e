"""Blender objects from a SceneSpec's ObjectSpecs: primitives, mesh files and
procedural meshes (vertex/face arrays from the families' generators), with their
poses, material slots and rigid bodies. Geometry itself is computed outside
Blender (:func:`render.families.build_geometry`); this module only copies arrays
into Blender data blocks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from render.blender import bootstrap
from render.blender.shading import make_material
from render.errors import RenderError
from render.families import build_geometry
from render.geometry import Mesh
from render.geometry.rotations import euler_xyz_to_matrix
from render.spec import GeometrySpec, ObjectSpec, SceneSpec


def build_objects(spec: SceneSpec) -> list[tuple[ObjectSpec, Any]]:
    """Create every object of ``spec`` (geometry, pose, materials, rigid bodies);
    returns (spec object, Blender object) pairs in spec order."""
    bproc = bootstrap.import_blenderproc()
    from blenderproc.python.types.MeshObjectUtility import MeshObject

    names = [o.name for o in spec.objects]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise RenderError(f"scene {spec.scene_index}: object names must be unique, repeated: {dup}")
    parts_cache: dict[str, dict[str, Mesh]] = {}
    built: list[tuple[ObjectSpec, Any]] = []
    for o in spec.objects:
        obj = _make_geometry(o, parts_cache)
        obj.name = o.name
        if obj.name != o.name:
            raise RenderError(f"object name {o.name!r} is taken in Blender (got {obj.name!r})")
        obj.location = o.location
        obj.rotation_euler = o.rotation_euler
        obj.scale = [a * b for a, b in zip(obj.scale, o.scale, strict=True)]
        obj.pass_index = o.instance_id
        if len(obj.data.materials):  # clear() also resets every face's material index
            obj.data.materials.clear()
        for k, m in enumerate([o.material, *o.material_slots]):
            name = f"{o.name}_{k}" if k else o.name
            obj.data.materials.append(make_material(name, m, spec.render.texture_detail))
        mo = MeshObject(obj)
        if o.physics != "none":
            mo.enable_rigidbody(
                active=o.physics == "active",
                collision_shape="CONVEX_HULL" if o.physics == "active" else "MESH",
                friction=0.8,
                linear_damping=0.1,
                angular_damping=0.2,
            )
        built.append((o, obj))
    bpy.context.view_layer.update()
    del bproc
    return built


def _make_geometry(o: ObjectSpec, cache: dict[str, dict[str, Mesh]]) -> Any:
    g = o.geometry
    if g.kind == "primitive":
        return _primitive(g)
    if g.kind == "mesh_file":
        return _mesh_file(g, o.name)
    if g.kind == "procedural":
        if not g.generator or not g.part:
            raise RenderError(f"{o.name}: procedural geometry needs generator and part")
        key = g.generator + repr(sorted(g.params.items()))
        if key not in cache:
            try:
                cache[key] = build_geometry(g.generator, g.params)
            except KeyError as exc:
                raise RenderError(f"{o.name}: {exc.args[0]}") from None
        parts = cache[key]
        if g.part not in parts:
            raise RenderError(
                f"{o.name}: generator {g.generator!r} has no part {g.part!r}; parts: {sorted(parts)}"
            )
        return _mesh_object(o.name, parts[g.part], smooth=g.smooth or parts[g.part].smooth)
    raise RenderError(f"{o.name}: unknown geometry kind {g.kind!r}")


_PRIMITIVES = {
    "PLANE": lambda: bpy.ops.mesh.primitive_plane_add(size=2.0),
    "CUBE": lambda: bpy.ops.mesh.primitive_cube_add(size=2.0),
    "SPHERE": lambda: bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, segments=48, ring_count=24),
    "CYLINDER": lambda: bpy.ops.mesh.primitive_cylinder_add(radius=1.0, depth=2.0, vertices=64),
    "CONE": lambda: bpy.ops.mesh.primitive_cone_add(radius1=1.0, depth=2.0, vertices=64),
    "MONKEY": lambda: bpy.ops.mesh.primitive_monkey_add(size=2.0),
}


def _primitive(g: GeometrySpec) -> Any:
    name = (g.primitive or "").upper()
    if name not in _PRIMITIVES:
        raise RenderError(f"unknown primitive {g.primitive!r}; valid: {sorted(_PRIMITIVES)}")
    _PRIMITIVES[name]()
    obj = bpy.context.active_object
    if name in ("SPHERE", "MONKEY"):
        obj.data.shade_smooth()
    elif name in ("CYLINDER", "CONE"):
        _smooth_by_angle(obj)
    if name == "MONKEY":
        sub = obj.modifiers.new("subsurf", "SUBSURF")
        sub.levels = sub.render_levels = 1
    if g.size:
        _fit_size(obj, g.size)
    return obj


def _smooth_by_angle(obj: Any, angle_deg: float = 35.0) -> None:
    # Flat caps, smooth sides: split normals by face angle (4.1+ replaced auto-smooth).
    obj.data.shade_smooth()
    mesh = obj.data
    mesh.set_sharp_from_angle(angle=math.radians(angle_deg))


def _fit_size(obj: Any, size: float) -> None:
    """Scale the mesh data so its largest bounding-box dimension is ``size`` metres."""
    v = np.array([vtx.co[:] for vtx in obj.data.vertices])
    extent = float((v.max(axis=0) - v.min(axis=0)).max()) if len(v) else 0.0
    if extent <= 0:
        raise RenderError(f"{obj.name}: mesh has zero extent")
    s = size / extent
    for vtx in obj.data.vertices:
        vtx.co = (vtx.co[0] * s, vtx.co[1] * s, vtx.co[2] * s)
    obj.data.update()


_UP_ROTATIONS = {  # rotate the file's up axis onto +Z
    "Z": (0.0, 0.0, 0.0),
    "-Z": (math.pi, 0.0, 0.0),
    "Y": (math.pi / 2, 0.0, 0.0),
    "-Y": (-math.pi / 2, 0.0, 0.0),
    "X": (0.0, -math.pi / 2, 0.0),
    "-X": (0.0, math.pi / 2, 0.0),
}


def _mesh_file(g: GeometrySpec, name: str) -> Any:
    """Load OBJ/STL/PLY/GLB/GLTF as one mesh object, axes converted, centred on its
    bounding box bottom-centre... no: centred on its bounding-box centre."""
    if not g.path:
        raise RenderError(f"{name}: mesh_file geometry needs a path")
    path = Path(g.path)
    suffix = path.suffix.lower()
    before = set(bpy.data.objects)
    if suffix == ".obj":
        bpy.ops.wm.obj_import(
            filepath=str(path), forward_axis="Y", up_axis="Z", validate_meshes=True
        )
    elif suffix == ".stl":
        bpy.ops.wm.stl_import(filepath=str(path), forward_axis="Y", up_axis="Z")
    elif suffix == ".ply":
        bpy.ops.wm.ply_import(filepath=str(path), forward_axis="Y", up_axis="Z")
    elif suffix in (".glb", ".gltf"):
        bpy.ops.import_scene.gltf(filepath=str(path))
    else:
        raise RenderError(
            f"{path}: unsupported mesh format {suffix!r}; use .obj, .stl, .ply, .glb or .gltf"
        )
    new = [o for o in bpy.data.objects if o not in before and o.type == "MESH"]
    for o in bpy.data.objects:
        if o not in before and o.type != "MESH":
            bpy.data.objects.remove(o, do_unlink=True)
    if not new:
        raise RenderError(f"{path}: the file contains no mesh")
    verts: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    offset = 0
    for o in new:
        o.data.calc_loop_triangles()
        mw = np.asarray(o.matrix_world)
        v = np.array([vtx.co[:] for vtx in o.data.vertices], dtype=np.float64)
        v = v @ mw[:3, :3].T + mw[:3, 3]
        t = np.array([tri.vertices[:] for tri in o.data.loop_triangles], dtype=np.int64).reshape(
            -1, 3
        )
        verts.append(v)
        faces.append(t + offset)
        offset += len(v)
        bpy.data.objects.remove(o, do_unlink=True)
    v = np.concatenate(verts) * g.unit_scale
    rot = euler_xyz_to_matrix(list(_UP_ROTATIONS[g.up_axis]))
    v = v @ rot.T
    v -= (v.max(axis=0) + v.min(axis=0)) / 2
    if g.size:
        v *= g.size / float((v.max(axis=0) - v.min(axis=0)).max())
    return _mesh_object(name, Mesh(v, np.concatenate(faces)), smooth=g.smooth)


def _mesh_object(name: str, mesh: Mesh, smooth: bool) -> Any:
    data = bpy.data.meshes.new(name)
    # what Mesh.from_pydata does, from numpy buffers instead of Python tuples (a
    # carved product has ~10^5 faces: the tuples cost ~0.1 s per part)
    faces = np.ascontiguousarray(mesh.faces, dtype=np.int32)
    data.vertices.add(len(mesh.vertices))
    data.loops.add(faces.size)
    data.polygons.add(len(faces))
    data.vertices.foreach_set("co", np.ascontiguousarray(mesh.vertices, dtype=np.float32).ravel())
    data.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    data.polygons.foreach_set("vertices", faces.ravel())
    data.shade_flat()
    if len(faces):
        data.update(calc_edges=True)
    data.validate(clean_customdata=False)
    if mesh.material_index is not None and len(data.polygons) == len(mesh.faces):
        data.polygons.foreach_set("material_index", mesh.material_index.astype(np.int32))
    for attr_name, values in mesh.point_attributes.items():
        if len(data.vertices) != len(mesh.vertices):
            raise RenderError(f"{name}: mesh validation removed vertices; attributes would not fit")
        kind, key = ("FLOAT", "value") if values.ndim == 1 else ("FLOAT_VECTOR", "vector")
        attr = data.attributes.new(attr_name, kind, "POINT")
        attr.data.foreach_set(key, np.ascontiguousarray(values, dtype=np.float32).ravel())
    data.update()
    if smooth:
        data.shade_smooth()
        data.set_sharp_from_angle(angle=math.radians(40.0))
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    return obj
