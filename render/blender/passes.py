"""Rendering a scene's views (:func:`render_views`: every camera pose whole, or
each tile of the frame alone with Cycles' border render cropped to it), and the
passes rendered after the image, for its annotations only: 1 sample, no bounces,
no denoiser; only the object-index (and depth) passes are read.

- :func:`geometric_pass`: with depth of field or motion blur, Cycles writes the
  index and depth passes from one random lens point and shutter time per pixel,
  so a defocused or moving object's mask comes out speckled over its blur (a
  defocused 2 mm droplet: a cloud of dots); in fog, from paths that may scatter
  before they reach a surface. This pass renders them again through the pinhole,
  without the fog, each moving object at its recorded pose (mid-exposure): masks
  and depth are the scene's geometry, the image keeps its blur and its fog.
- :func:`see_through_pass`: the object-index pass once more without the
  ``see_through`` objects (a fingerprint's film, a water drop), for the masks of
  what lies behind them.
- :func:`amodal_passes`: objects with ``amodal: true`` a few at a time, nothing
  else in the scene (see :mod:`render.amodal`).
"""

from __future__ import annotations

from typing import Any

import bpy
import mathutils
import numpy as np

from render import camera as cam_math
from render.amodal import boxes_overlap, plan_groups, projected_box, projected_extent
from render.annotate import ancestry
from render.blender import bootstrap
from render.errors import RenderError
from render.spec import ObjectSpec, SceneSpec
from render.tiles import border_fractions
from render.views import ViewResult


def render_views(
    spec: SceneSpec, keys: set[str], verbose: bool = False
) -> list[dict[str, np.ndarray]]:
    """Render every view of ``spec`` with the current settings and load ``keys`` of
    each: one render of all camera poses (animation frames), or with tiles one
    border render per tile (its pose's frame only, cropped to the tile; Cycles'
    persistent data keeps the scene between them)."""
    bproc = bootstrap.import_blenderproc()
    from blenderproc.python.writer.WriterUtility import _WriterUtility

    scene = bpy.context.scene
    c = spec.camera
    if not c.tiles:
        bproc.renderer.render(return_data=False, verbose=verbose)
        data = _WriterUtility.load_registered_outputs(keys)
        return [{k: data[k][i] for k in keys} for i in range(len(c.poses))]
    first, end = scene.frame_start, scene.frame_end
    r = scene.render
    use_border, crop = r.use_border, r.use_crop_to_border
    border = (r.border_min_x, r.border_min_y, r.border_max_x, r.border_max_y)
    out = []
    try:
        r.use_border = r.use_crop_to_border = True
        for t in c.tiles:
            scene.frame_start, scene.frame_end = t.view, t.view + 1  # end is exclusive here
            # float32 fractions of the frame that truncate to the tile's pixels exactly
            (r.border_min_x, r.border_min_y,
             r.border_max_x, r.border_max_y) = border_fractions(t, c.width, c.height)  # fmt: skip
            bproc.renderer.render(return_data=False, verbose=verbose)
            data = _WriterUtility.load_registered_outputs(keys)
            view = {k: np.asarray(data[k][0]) for k in keys}
            for k, v in view.items():
                if v.shape[:2] != (t.height, t.width):
                    raise RenderError(
                        f"tile {t.x},{t.y} {t.width}x{t.height}: Cycles returned {k} of "
                        f"{v.shape[1]}x{v.shape[0]}"
                    )
            out.append(view)
    finally:
        scene.frame_start, scene.frame_end = first, end
        r.use_border, r.use_crop_to_border = use_border, crop
        r.border_min_x, r.border_min_y, r.border_max_x, r.border_max_y = border
    return out


def annotation_settings() -> None:
    """1 sample, no denoiser, no bounces: only the data passes matter."""
    bproc = bootstrap.import_blenderproc()
    bproc.renderer.set_max_amount_of_samples(1)
    bproc.renderer.set_denoiser(None)
    bpy.context.scene.cycles.use_denoising = False
    bproc.renderer.set_light_bounces(
        diffuse_bounces=0, glossy_bounces=0, max_bounces=0, transmission_bounces=0
    )


def geometric_pass(spec: SceneSpec, views: list[ViewResult]) -> bool:
    """With depth of field, motion blur or fog, replace every view's ``instance`` and
    ``depth`` by a pinhole render without fog, each moving object at its recorded
    pose (the middle of its exposure), and leave all three off for the passes after
    it. Returns whether it rendered."""
    scene = bpy.context.scene
    cam = scene.camera.data
    fog = bpy.data.objects.get("fog")
    if not (cam.dof.use_dof or scene.render.use_motion_blur or fog is not None):
        return False
    cam.dof.use_dof = False
    scene.render.use_motion_blur = False
    if fog is not None:  # fog is light, not geometry: a path that scatters in it misses surfaces
        fog.hide_render = True
    if spec.camera.velocity is not None and len(spec.camera.poses) == 1:
        # the camera's keys run over the exposure; its pose is the middle
        scene.camera.animation_data_clear()
        blender = cam_math.opencv_to_blender(np.asarray(spec.camera.poses[0]))
        scene.camera.matrix_world = mathutils.Matrix(blender.tolist())
    for o in spec.objects:
        if o.velocity is not None:  # its keys run over the exposure; the pose is the middle
            obj = bpy.data.objects[o.name]
            obj.animation_data_clear()
            obj.location = tuple(o.location)
    annotation_settings()
    for view, data in zip(views, render_views(spec, {"depth", "instance"}), strict=True):
        view.instance = instance_map(data)
        view.depth = depth_map(data, spec.camera.clip_end)
    return True


def depth_map(data: dict[str, Any], clip_end: float) -> np.ndarray:
    """float32 (H, W) z-depth of a view's loaded outputs, ``inf`` where nothing was hit."""
    depth = np.asarray(data["depth"], dtype=np.float32)
    if depth.ndim == 3:
        depth = depth[..., 0]
    return np.where(depth >= clip_end * 0.999, np.inf, depth).astype(np.float32)


def instance_map(data: dict[str, Any]) -> np.ndarray:
    """int32 (H, W) instance ids of a view's loaded outputs."""
    inst = np.asarray(data["instance"])
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


def frame_extents(
    spec: SceneSpec, objects: list[tuple[ObjectSpec, Any]]
) -> dict[int, list[list[float] | None]]:
    """Tiled scenes: each annotated object's extent in every view's whole frame,
    ``[x0, y0, x1, y1]`` (continuous pixels, not clipped; None when it is behind the
    camera), from its world vertices: what decides whether a tile cuts it."""
    c = spec.camera
    if not c.tiles:
        return {}
    out: dict[int, list[list[float] | None]] = {}
    for o, obj in objects:
        if o.instance_id <= 0 or obj.type != "MESH":
            continue
        pts = _world_vertices(obj)
        boxes: list[list[float] | None] = []
        for pose in c.poses:
            box = projected_extent(pts, c.K, pose)
            boxes.append(None if box is None else [round(v, 4) for v in box])
        out[o.instance_id] = boxes
    return out


def _view_boxes(spec: SceneSpec, obj: Any) -> list[Any]:
    """A mesh object's box in every camera pose's whole frame (clipped; None where it
    misses the frame), from its world vertices."""
    c, pts = spec.camera, _world_vertices(obj)
    return [projected_box(pts, c.K, pose, c.width, c.height) for pose in c.poses]


def see_through_pass(
    spec: SceneSpec, objects: list[tuple[ObjectSpec, Any]], views: list[ViewResult]
) -> bool:
    """When a ``see_through`` object's box overlaps, in some view, the box of an
    annotated object that is not its ancestor, render every view's object-index pass
    without the see-through objects into ``view.behind`` (1 sample, like the other
    annotation passes, so it agrees with the main pass pixel for pixel wherever
    they hide nothing). Returns whether it rendered."""
    see = [(o, obj) for o, obj in objects
           if o.see_through and o.instance_id > 0 and obj.type == "MESH"]  # fmt: skip
    if not see:
        return False
    chains = ancestry([o for o, _ in objects if o.instance_id > 0])
    others = [(o.instance_id, _view_boxes(spec, obj)) for o, obj in objects
              if o.instance_id > 0 and not o.see_through and obj.type == "MESH"]  # fmt: skip
    if not any(
        a is not None and b is not None and boxes_overlap(a, b)
        for o, mine in ((o, _view_boxes(spec, obj)) for o, obj in see)
        for other, theirs in others
        if other not in chains[o.instance_id]  # not its product
        for a, b in zip(mine, theirs, strict=True)
    ):
        return False
    annotation_settings()
    hidden = {obj.name: obj.hide_render for _, obj in see}
    try:
        for _, obj in see:
            obj.hide_render = True
        for view, data in zip(views, render_views(spec, {"instance"}), strict=True):
            view.behind = instance_map(data)
    finally:
        for _, obj in see:
            obj.hide_render = hidden[obj.name]
    return True


def amodal_passes(
    spec: SceneSpec, objects: list[tuple[ObjectSpec, Any]], views: list[ViewResult]
) -> int:
    """Render the amodal passes (see :mod:`render.amodal`) and append their instance
    maps to each view's ``amodal``. 1 sample, no bounces, no denoiser: only the
    object-index pass matters. Returns the number of passes."""
    amodal = [(o, obj) for o, obj in objects if o.amodal and o.instance_id > 0]
    if not amodal:
        return 0
    groups = plan_groups({o.name: _view_boxes(spec, obj) for o, obj in amodal})
    if not groups:
        return 0
    scene = bpy.context.scene
    annotation_settings()
    everything = list(scene.objects)
    hidden = {ob.name: ob.hide_render for ob in everything}
    try:
        for group in groups:
            show = set(group)
            for ob in everything:
                ob.hide_render = ob.type != "CAMERA" and ob.name not in show
            for view, data in zip(views, render_views(spec, {"instance"}), strict=True):
                view.amodal.append(instance_map(data))
    finally:
        for ob in everything:
            ob.hide_render = hidden[ob.name]
    return len(groups)
