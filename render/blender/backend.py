"""Build a SceneSpec in Blender and render all its views in one call.

Makes no random choice: everything comes from the spec (Cycles' seed included),
so a spec re-renders bit for bit on the same machine and device.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from render import camera as cam_math
from render import geometry
from render.blender import bootstrap
from render.spec import GeometrySpec, LightSpec, MaterialSpec, ObjectSpec, SceneSpec
from render.views import SceneRender, ViewResult

_DEVICE_TYPES = {"auto": ["OPTIX", "CUDA", "HIP"], "cuda": ["CUDA"], "optix": ["OPTIX"], "cpu": []}
_state: dict[str, Any] = {"outputs": False, "device": None}


class RenderError(RuntimeError):
    """The backend cannot build or render what the spec asks for."""


# --------------------------------------------------------------------------- setup


def setup(device: str) -> dict[str, Any]:
    """Initialise BlenderProc once per process and pick the render device.

    ``device``: auto (GPU when Cycles sees one, else CPU) | cpu | cuda | optix.
    Returns what was chosen, for logging: ``{"device": ..., "gpus": [...], "blender": ...}``.
    """
    bproc = bootstrap.init()
    info = _select_device(device)
    if not _state["outputs"]:
        bproc.renderer.enable_depth_output(activate_antialiasing=False)
        _enable_instance_output()
        bproc.renderer.set_output_format(
            file_format="PNG", color_depth=8, enable_transparency=False
        )
        _state["outputs"] = True
    info.update(bootstrap.versions())
    _state["device"] = info
    return info


def _select_device(device: str) -> dict[str, Any]:
    if device not in _DEVICE_TYPES:
        raise RenderError(f"device must be one of {sorted(_DEVICE_TYPES)}, got {device!r}")
    scene = bpy.context.scene
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for dtype in _DEVICE_TYPES[device]:
        try:
            prefs.compute_device_type = dtype
        except TypeError:  # this build has no such backend
            continue
        prefs.refresh_devices()
        gpus = [d for d in prefs.get_devices_for_type(dtype) if d.type != "CPU"]
        if gpus:
            for d in prefs.devices:
                d.use = d in gpus
            scene.cycles.device = "GPU"
            return {"device": dtype.lower(), "gpus": [d.name for d in gpus]}
    if device in ("cuda", "optix"):
        raise RenderError(f"--device {device}: Cycles sees no {device.upper()} GPU on this machine")
    prefs.compute_device_type = "NONE"
    scene.cycles.device = "CPU"
    return {"device": "cpu", "gpus": []}


def _enable_instance_output() -> None:
    """Object-index (instance id) pass to a 32-bit float EXR, read back as 'instance'.

    Unlike ``bproc.renderer.enable_segmentation_output`` this does not renumber
    ``pass_index``: we set it to each object's ``instance_id`` when building, so
    objects created later are never silently background (BLENDER_NOTES pitfall).
    """
    from blenderproc.python.utility.Utility import Utility

    scene = bpy.context.scene
    scene.render.use_compositing = True
    scene.use_nodes = True
    scene.view_layers["ViewLayer"].use_pass_object_index = True
    tree = scene.node_tree
    layers = Utility.get_the_one_node_with_type(tree.nodes, "CompositorNodeRLayers")
    out_dir = Utility.get_temporary_directory()
    node = tree.nodes.new("CompositorNodeOutputFile")
    node.base_path = out_dir
    node.format.file_format = "OPEN_EXR"
    node.format.color_depth = "32"  # half floats are exact only up to 2048
    node.file_slots.values()[0].path = "instance_"
    combine = tree.nodes.new("CompositorNodeCombineColor")
    combine.mode = "HSV"  # grey RGB = V: EXR readers prefer 3 channels
    tree.links.new(layers.outputs["IndexOB"], combine.inputs[2])
    tree.links.new(combine.outputs["Image"], node.inputs["Image"])
    Utility.add_output_entry(
        {
            "key": "instance",
            "path": str(Path(out_dir) / "instance_") + "%04d.exr",
            "version": "2.0.0",
            "trim_redundant_channels": True,
        }
    )
    scene.view_layers["ViewLayer"].pass_alpha_threshold = 0.05


# --------------------------------------------------------------------------- render


def render_spec(spec: SceneSpec) -> SceneRender:
    """Build ``spec`` and render every camera view. Requires :func:`setup` first."""
    if _state["device"] is None:
        raise RenderError("backend.setup(device) must run before render_spec")
    bproc = bootstrap.import_blenderproc()
    from blenderproc.python.writer.WriterUtility import _WriterUtility

    t0 = time.perf_counter()
    bproc.clean_up(clean_up_camera=False)
    _purge_orphans()
    _reset_physics_world()
    objects = _build_objects(spec)
    for light in spec.lights:
        _build_light(light)
    bproc.renderer.set_world_background(list(spec.world.color), strength=spec.world.strength)
    _rest_objects(objects)
    settled = spec.meta.get("settled_poses") if isinstance(spec.meta, dict) else None
    if spec.physics and any(o.physics == "active" for o in spec.objects):
        if settled:  # replay: Bullet is not reproducible across processes, reuse the record
            _apply_poses(settled)
        else:
            bproc.object.simulate_physics_and_fix_final_poses(
                min_simulation_time=1.0, max_simulation_time=6.0, check_object_interval=1.0
            )
    _setup_camera(spec)
    _setup_render(spec)
    t_build = time.perf_counter() - t0

    t1 = time.perf_counter()
    bproc.renderer.render(return_data=False, verbose=False)
    t_render = time.perf_counter() - t1

    t2 = time.perf_counter()
    data = _WriterUtility.load_registered_outputs({"colors", "depth", "instance"})
    views = []
    for i in range(len(spec.camera.poses)):
        rgb = np.ascontiguousarray(data["colors"][i][..., :3]).astype(np.uint8, copy=False)
        depth = np.asarray(data["depth"][i], dtype=np.float32)
        if depth.ndim == 3:
            depth = depth[..., 0]
        depth = np.where(depth >= spec.camera.clip_end * 0.999, np.inf, depth).astype(np.float32)
        inst = np.asarray(data["instance"][i])
        if inst.ndim == 3:
            inst = inst[..., 0]
        views.append(ViewResult(rgb=rgb, depth=depth, instance=np.rint(inst).astype(np.int32)))
    t_read = time.perf_counter() - t2

    # Physics runs under Blender's undo, which invalidates Python references: look up by name.
    poses = {o.name: np.asarray(bpy.data.objects[o.name].matrix_world).tolist() for o, _ in objects}
    n = len(views)
    return SceneRender(
        views=views,
        object_poses=poses,
        timings={"build_s": t_build, "render_s": t_render, "readback_s": t_read, "views": n},
        info=dict(_state["device"]),
    )


def _rest_objects(objects: list[tuple[ObjectSpec, Any]]) -> None:
    """Put objects with a RestSpec on their supporting plane (deterministic)."""
    import mathutils

    from render.geometry.rest import rest_pose

    depsgraph = bpy.context.evaluated_depsgraph_get()
    for o, obj in objects:
        if o.rest is None:
            continue
        evaluated = obj.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        verts = np.array([v.co[:] for v in mesh.vertices], dtype=np.float64) * np.asarray(obj.scale)
        evaluated.to_mesh_clear()
        rot, dz = rest_pose(verts, o.rest.u, o.rest.yaw)
        obj.rotation_euler = mathutils.Matrix(rot.tolist()).to_euler("XYZ")
        obj.location = (o.location[0], o.location[1], o.location[2] + dz)
    bpy.context.view_layer.update()


def _apply_poses(poses: dict[str, Any]) -> None:
    import mathutils

    for name, matrix in poses.items():
        obj = bpy.data.objects.get(name)
        if obj is not None:
            obj.matrix_world = mathutils.Matrix(matrix)
    bpy.context.view_layer.update()


def _reset_physics_world() -> None:
    """A fresh rigid-body world per scene: Bullet's state must not depend on which
    scenes this process rendered before (scene i is the same whatever the worker count)."""
    scene = bpy.context.scene
    if scene.rigidbody_world is not None:
        bpy.ops.rigidbody.world_remove()
    scene.frame_set(0)


def _purge_orphans() -> None:
    # clean_up removes objects; meshes/materials/images created per scene would pile up.
    for coll in (
        bpy.data.meshes,
        bpy.data.materials,
        bpy.data.lights,
        bpy.data.images,
        bpy.data.node_groups,
    ):
        for block in list(coll):
            if block.users == 0:
                coll.remove(block)


def _setup_camera(spec: SceneSpec) -> None:
    bproc = bootstrap.import_blenderproc()
    c = spec.camera
    K = np.asarray(c.K, dtype=np.float64).copy()
    # Our K puts pixel centres at +0.5 (cx = W/2 when centred); BlenderProc's puts them
    # at integers (cx = (W-1)/2 when centred). Convert at the boundary.
    K[0, 2] -= 0.5
    K[1, 2] -= 0.5
    bproc.camera.set_intrinsics_from_K_matrix(
        K, c.width, c.height, clip_start=c.clip_start, clip_end=c.clip_end
    )
    cam = bpy.context.scene.camera
    if c.fstop is not None:
        cam.data.dof.use_dof = True
        cam.data.dof.aperture_fstop = c.fstop
        cam.data.dof.focus_distance = c.focus_distance or 1.0
    else:
        cam.data.dof.use_dof = False
    for frame, pose in enumerate(c.poses):
        bproc.camera.add_camera_pose(cam_math.opencv_to_blender(np.asarray(pose)), frame=frame)
    _setup_motion_blur(spec)


def _set_interpolation(obj: Any, kind: str) -> None:
    action = obj.animation_data.action if obj.animation_data else None
    for fcurve in action.fcurves if action else []:
        for point in fcurve.keyframe_points:
            point.interpolation = kind


def _setup_motion_blur(spec: SceneSpec) -> None:
    """Views are animation frames 0..n-1. The shutter opens at each view frame f
    (position START) and stays open for s < 1 frames; the camera holds each view's
    pose over [f, f + 1) (CONSTANT keys), so views never blend into each other.
    Objects with a velocity move linearly over [f, f + s], centred on their pose."""
    scene = bpy.context.scene
    s = spec.camera.motion_blur
    scene.render.use_motion_blur = s > 0
    if s <= 0:
        return
    scene.render.motion_blur_shutter = s
    scene.render.motion_blur_position = "START"
    _set_interpolation(scene.camera, "CONSTANT")
    for o in spec.objects:
        if o.velocity is None:
            continue
        obj = bpy.data.objects[o.name]
        base = np.asarray(obj.location, dtype=np.float64)
        v = np.asarray(o.velocity, dtype=np.float64)
        for f in range(len(spec.camera.poses)):
            for t in (0.0, s):
                obj.location = tuple(base + v * (t - s / 2))
                obj.keyframe_insert(data_path="location", frame=f + t)
        _set_interpolation(obj, "LINEAR")
        obj.location = tuple(base)


def _setup_render(spec: SceneSpec) -> None:
    bproc = bootstrap.import_blenderproc()
    r = spec.render
    scene = bpy.context.scene
    bproc.renderer.set_max_amount_of_samples(r.samples)
    bproc.renderer.set_noise_threshold(0.0)  # fixed sample count: deterministic, comparable
    bproc.renderer.set_denoiser("INTEL" if r.denoiser == "oidn" else None)
    bproc.renderer.set_light_bounces(
        diffuse_bounces=r.max_bounces,
        glossy_bounces=r.max_bounces,
        max_bounces=r.max_bounces,
        transmission_bounces=r.max_bounces,
        transparent_max_bounces=max(8, r.max_bounces),
    )
    scene.cycles.seed = r.cycles_seed
    scene.render.use_persistent_data = r.persistent_data


# --------------------------------------------------------------------------- objects


def _build_objects(spec: SceneSpec) -> list[tuple[ObjectSpec, Any]]:
    bproc = bootstrap.import_blenderproc()
    from blenderproc.python.types.MeshObjectUtility import MeshObject

    names = [o.name for o in spec.objects]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise RenderError(f"scene {spec.scene_index}: object names must be unique, repeated: {dup}")
    parts_cache: dict[str, dict[str, geometry.Mesh]] = {}
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
        mat = _make_material(o.name, o.material)
        obj.data.materials.clear()
        obj.data.materials.append(mat)
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


def _make_geometry(o: ObjectSpec, cache: dict[str, dict[str, geometry.Mesh]]) -> Any:
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
            cache[key] = geometry.build(g.generator, g.params)
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
    rx, ry, rz = _UP_ROTATIONS[g.up_axis]
    rot = _euler_matrix(rx, ry, rz)
    v = v @ rot.T
    v -= (v.max(axis=0) + v.min(axis=0)) / 2
    if g.size:
        v *= g.size / float((v.max(axis=0) - v.min(axis=0)).max())
    return _mesh_object(name, geometry.Mesh(v, np.concatenate(faces)), smooth=g.smooth)


def _euler_matrix(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = (
        math.cos(rx),
        math.sin(rx),
        math.cos(ry),
        math.sin(ry),
        math.cos(rz),
        math.sin(rz),
    )
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


def _mesh_object(name: str, mesh: geometry.Mesh, smooth: bool) -> Any:
    data = bpy.data.meshes.new(name)
    data.from_pydata(mesh.vertices.tolist(), [], mesh.faces.tolist())
    data.validate(clean_customdata=False)
    data.update()
    if smooth:
        data.shade_smooth()
        data.set_sharp_from_angle(angle=math.radians(40.0))
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    return obj


# --------------------------------------------------------------------------- materials


def _make_material(name: str, m: MaterialSpec) -> Any:
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
    elif m.texture != "none" and (m.color_variation > 0 or m.bump_strength > 0):
        coord = nodes.new("ShaderNodeTexCoord")
        mapping = nodes.new("ShaderNodeMapping")
        s = m.noise_scale
        mapping.inputs["Scale"].default_value = (
            (s * 0.02, s, s) if m.texture == "brushed" else (s, s, s)
        )
        noise = nodes.new("ShaderNodeTexNoise")
        noise.inputs["Detail"].default_value = 8.0
        noise.inputs["Roughness"].default_value = 0.6
        links.new(coord.outputs["Object"], mapping.inputs["Vector"])
        links.new(mapping.outputs["Vector"], noise.inputs["Vector"])
        if m.color_variation > 0:
            ramp = nodes.new("ShaderNodeValToRGB")
            v = m.color_variation
            ramp.color_ramp.elements[0].color = tuple(
                [max(0.0, c * (1 - v)) for c in m.base_color] + [1.0]
            )
            ramp.color_ramp.elements[1].color = tuple(
                [min(1.0, c * (1 + v)) for c in m.base_color] + [1.0]
            )
            links.new(noise.outputs["Fac"], ramp.inputs["Fac"])
            links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
        if m.bump_strength > 0:
            bump = nodes.new("ShaderNodeBump")
            bump.inputs["Strength"].default_value = m.bump_strength
            bump.inputs["Distance"].default_value = 0.001
            links.new(noise.outputs["Fac"], bump.inputs["Height"])
            links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return mat


# --------------------------------------------------------------------------- lights


def _build_light(light: LightSpec) -> None:
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
