"""The passes rendered after a scene's image, for its annotations only: 1 sample,
no bounces, no denoiser; only the object-index (and depth) passes are read.

- :func:`geometric_pass`: with depth of field or motion blur, Cycles writes the
  index and depth passes from one random lens point and shutter time per pixel,
  so a defocused or moving object's mask comes out speckled over its blur (a
  defocused 2 mm droplet: a cloud of dots). This pass renders them again through
  the pinhole, each moving object at its recorded pose (mid-exposure): masks and
  depth are the scene's geometry, the image keeps its blur.
- :func:`amodal_passes`: objects with ``amodal: true`` a few at a time, nothing
  else in the scene (see :mod:`render.amodal`).
"""

from __future__ import annotations

from typing import Any

import bpy
import numpy as np

from render.amodal import plan_groups, projected_box
from render.blender import bootstrap
from render.spec import ObjectSpec, SceneSpec
from render.views import ViewResult


def _annotation_settings() -> None:
    """1 sample, no denoiser, no bounces: only the data passes matter."""
    bproc = bootstrap.import_blenderproc()
    bproc.renderer.set_max_amount_of_samples(1)
    bproc.renderer.set_denoiser(None)
    bpy.context.scene.cycles.use_denoising = False
    bproc.renderer.set_light_bounces(
        diffuse_bounces=0, glossy_bounces=0, max_bounces=0, transmission_bounces=0
    )


def geometric_pass(spec: SceneSpec, views: list[ViewResult]) -> bool:
    """With depth of field or motion blur on, replace every view's ``instance`` and
    ``depth`` by a pinhole render with each moving object at its recorded pose (the
    middle of its exposure), and leave both off for the passes after it. Returns
    whether it rendered."""
    scene = bpy.context.scene
    cam = scene.camera.data
    if not (cam.dof.use_dof or scene.render.use_motion_blur):
        return False
    from blenderproc.python.writer.WriterUtility import _WriterUtility

    cam.dof.use_dof = False
    scene.render.use_motion_blur = False
    for o in spec.objects:
        if o.velocity is not None:  # its keys run over the exposure; the pose is the middle
            obj = bpy.data.objects[o.name]
            obj.animation_data_clear()
            obj.location = tuple(o.location)
    _annotation_settings()
    bootstrap.import_blenderproc().renderer.render(return_data=False, verbose=False)
    data = _WriterUtility.load_registered_outputs({"depth", "instance"})
    for i, view in enumerate(views):
        view.instance = instance_map(data, i)
        view.depth = depth_map(data, i, spec.camera.clip_end)
    return True


def depth_map(data: dict[str, Any], view: int, clip_end: float) -> np.ndarray:
    """float32 (H, W) z-depth of a view, ``inf`` where nothing was hit."""
    depth = np.asarray(data["depth"][view], dtype=np.float32)
    if depth.ndim == 3:
        depth = depth[..., 0]
    return np.where(depth >= clip_end * 0.999, np.inf, depth).astype(np.float32)


def instance_map(data: dict[str, Any], view: int) -> np.ndarray:
    inst = np.asarray(data["instance"][view])
    if inst.ndim == 3:
        inst = inst[..., 0]
    return np.rint(inst).astype(np.int32)


def _world_vertices(obj: Any) -> np.ndarray:
    """(N, 3) float64 world coordinates of a mesh object's vertices."""
    mesh = obj.data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
    mesh.vertices.foreach_get("co", co)
    mw = np.asarray(obj.matrix_world, dtype=np.float64)
    return co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]


def amodal_passes(
    spec: SceneSpec, objects: list[tuple[ObjectSpec, Any]], views: list[ViewResult]
) -> int:
    """Render the amodal passes (see :mod:`render.amodal`) and append their instance
    maps to each view's ``amodal``. 1 sample, no bounces, no denoiser: only the
    object-index pass matters. Returns the number of passes."""
    amodal = [(o, obj) for o, obj in objects if o.amodal and o.instance_id > 0]
    if not amodal:
        return 0
    bproc = bootstrap.import_blenderproc()
    from blenderproc.python.writer.WriterUtility import _WriterUtility

    c = spec.camera
    boxes = {
        o.name: [
            projected_box(_world_vertices(obj), c.K, pose, c.width, c.height) for pose in c.poses
        ]
        for o, obj in amodal
    }
    groups = plan_groups(boxes)
    if not groups:
        return 0
    scene = bpy.context.scene
    _annotation_settings()
    everything = list(scene.objects)
    hidden = {ob.name: ob.hide_render for ob in everything}
    try:
        for group in groups:
            show = set(group)
            for ob in everything:
                ob.hide_render = ob.type != "CAMERA" and ob.name not in show
            bproc.renderer.render(return_data=False, verbose=False)
            data = _WriterUtility.load_registered_outputs({"instance"})
            for i, view in enumerate(views):
                view.amodal.append(instance_map(data, i))
    finally:
        for ob in everything:
            ob.hide_render = hidden[ob.name]
    return len(groups)
