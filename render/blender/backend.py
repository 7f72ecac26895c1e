"""Build a SceneSpec in Blender and render all its views in one call.

Makes no random choice: everything comes from the spec (Cycles' seed included),
so a spec re-renders bit for bit on the same machine and device.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from render import camera as cam_math
from render.blender import bootstrap
from render.blender.flow import flow_pass
from render.blender.objects import build_objects
from render.blender.passes import (
    amodal_passes,
    depth_map,
    frame_extents,
    geometric_pass,
    instance_map,
    render_views,
    see_through_pass,
)
from render.blender.shading import build_fog, build_light, setup_world
from render.errors import RenderError
from render.sensor import develop
from render.spec import ObjectSpec, SceneSpec
from render.views import SceneRender, ViewResult
from render.weather import weather_view

_DEVICE_TYPES = {"auto": ["OPTIX", "CUDA", "HIP"], "cuda": ["CUDA"], "optix": ["OPTIX"], "cpu": []}
_state: dict[str, Any] = {"outputs": False, "device": None}


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
    t0 = time.perf_counter()
    bproc.clean_up(clean_up_camera=False)
    _purge_orphans()
    _reset_physics_world()
    objects = build_objects(spec)
    for light in spec.lights:
        build_light(light)
    setup_world(spec.world)
    build_fog(spec.world)
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
    # verbose: BlenderProc otherwise sends fd 1 to /dev/null while rendering
    loaded = render_views(spec, {"colors", "depth", "instance"}, _state.get("stats", False))
    t_render = time.perf_counter() - t1

    t2 = time.perf_counter()
    views = []
    for i, data in enumerate(loaded):
        colors = np.ascontiguousarray(data["colors"][..., :3])
        depth = depth_map(data, spec.camera.clip_end)
        colors, weather = weather_view(colors, depth, spec, i)  # rain, lens droplets
        record = None
        if spec.render.sensor is not None:  # linear light from the EXR: the camera develops it
            rgb, record = develop(colors.astype(np.float32), spec.render.sensor)
        else:
            rgb = colors.astype(np.uint8, copy=False)
        views.append(
            ViewResult(
                rgb=rgb, depth=depth, instance=instance_map(data), exposure=record, weather=weather
            )
        )
    t_read = time.perf_counter() - t2

    t3 = time.perf_counter()
    sharp = geometric_pass(spec, views)
    t_behind = time.perf_counter()
    behind = see_through_pass(spec, objects, views)
    t_behind = time.perf_counter() - t_behind
    passes = amodal_passes(spec, objects, views)
    t_amodal = time.perf_counter() - t3 - t_behind  # the geometric and amodal passes
    t4 = time.perf_counter()
    for view, flow in zip(views, flow_pass(spec, objects), strict=False):
        view.flow = flow
    t_flow = time.perf_counter() - t4

    # Physics runs under Blender's undo, which invalidates Python references: look up by name.
    poses = {o.name: np.asarray(bpy.data.objects[o.name].matrix_world).tolist() for o, _ in objects}
    n = len(views)
    return SceneRender(
        views=views,
        object_poses=poses,
        frame_extents=frame_extents(spec, objects),
        timings={
            "build_s": t_build,
            "render_s": t_render,
            "readback_s": t_read,
            "amodal_s": t_amodal,
            "see_through_s": t_behind,
            "flow_s": t_flow,
            "amodal_passes": passes,
            "geometric_pass": int(sharp),
            "see_through_pass": int(behind),
            "views": n,
        },
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
    Objects with a velocity move linearly over [f, f + s], centred on their pose; so
    does a one-view camera with a ``velocity`` (a driving dashcam)."""
    scene = bpy.context.scene
    s = spec.camera.motion_blur
    scene.render.use_motion_blur = s > 0
    if s <= 0:
        return
    scene.render.motion_blur_shutter = s
    scene.render.motion_blur_position = "START"
    _set_interpolation(scene.camera, "CONSTANT")
    cam_v = spec.camera.velocity
    if cam_v is not None and len(spec.camera.poses) == 1:  # the camera itself moves
        cam = scene.camera
        base = np.asarray(cam.location, dtype=np.float64)
        for t in (0.0, s):
            cam.location = tuple(base + np.asarray(cam_v) * (t - s / 2))
            cam.keyframe_insert(data_path="location", frame=t)
        _set_interpolation(cam, "LINEAR")
        cam.location = tuple(base)
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
    """Every Cycles setting a scene's image depends on, set anew for each scene (the
    amodal passes and earlier scenes change some of them)."""
    bproc = bootstrap.import_blenderproc()
    r = spec.render
    scene = bpy.context.scene
    cy = scene.cycles
    bproc.renderer.set_max_amount_of_samples(r.samples)
    bproc.renderer.set_noise_threshold(r.noise_threshold)  # 0: fixed sample count
    cy.adaptive_min_samples = r.adaptive_min_samples
    # "oidn": Cycles' integrated denoiser with its own albedo/normal guides (one pass
    # of OIDN at denoise_quality); "oidn-compositor": BlenderProc's compositor node
    bproc.renderer.set_denoiser("INTEL" if r.denoiser == "oidn-compositor" else None)
    for node in scene.node_tree.nodes if scene.node_tree else []:
        if node.bl_idname == "CompositorNodeDenoise":
            node.prefilter = r.denoise_prefilter.upper()
    builtin = r.denoiser == "oidn"
    cy.use_denoising = builtin
    bpy.context.view_layer.cycles.use_denoising = builtin
    if builtin:
        cy.denoiser = "OPENIMAGEDENOISE"
        cy.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        cy.denoising_prefilter = r.denoise_prefilter.upper()
        cy.denoising_quality = r.denoise_quality.upper()
    bproc.renderer.set_light_bounces(
        diffuse_bounces=r.max_bounces if r.diffuse_bounces is None else r.diffuse_bounces,
        glossy_bounces=r.max_bounces if r.glossy_bounces is None else r.glossy_bounces,
        max_bounces=r.max_bounces,
        transmission_bounces=(
            r.max_bounces if r.transmission_bounces is None else r.transmission_bounces
        ),
        transparent_max_bounces=max(8, r.max_bounces),
    )
    cy.sample_clamp_indirect = r.clamp_indirect
    cy.caustics_reflective = cy.caustics_refractive = r.caustics
    cy.use_light_tree = r.light_tree
    cy.seed = r.cycles_seed
    _color_output("OPEN_EXR" if r.sensor is not None else "PNG")
    scene.render.use_persistent_data = r.persistent_data
    scene.render.dither_intensity = r.dither
    scene.render.use_border = r.border is not None
    scene.render.use_crop_to_border = False
    if r.border is not None:
        (scene.render.border_min_x, scene.render.border_min_y,
         scene.render.border_max_x, scene.render.border_max_y) = r.border  # fmt: skip


def _color_output(file_format: str) -> None:
    """Colours as 8-bit PNG through Blender's view transform, or (a scene with a
    sensor) as 32-bit EXR: scene-linear light for :func:`render.sensor.develop`.
    BlenderProc refuses a second ``colors`` output at another path, so the old entry
    goes when the format changes."""
    from blenderproc.python.utility.GlobalStorage import GlobalStorage

    settings = bpy.context.scene.render.image_settings
    if settings.file_format == file_format:
        return
    if GlobalStorage.is_in_storage("output"):
        outputs = GlobalStorage.get("output")
        outputs[:] = [o for o in outputs if o.get("key") != "colors"]
    bproc = bootstrap.import_blenderproc()
    bproc.renderer.set_output_format(
        file_format=file_format, color_depth=32 if file_format == "OPEN_EXR" else 8
    )


# --------------------------------------------------------------------------- objects


def enable_cycles_stats() -> None:
    """Make Cycles print its statistics (scene update times, kernel time by stage,
    memory) after every render, to the worker's stdout (its log), as Blender's
    ``--cycles-print-stats`` does. For ``scripts/bench_speed.py --profile``."""
    import _cycles

    _cycles.enable_print_stats()
    _state["stats"] = True
