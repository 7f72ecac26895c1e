"""The optical-flow pass of a sequence frame (``render.flow``): Cycles' vector pass
with the camera and every object with a ``next`` pose moved to where they are one
frame later.

After the image and the annotation passes (1 sample, no bounces, no motion blur,
no depth of field), the camera and each moving object get two CONSTANT keys:
frame 0 their pose in this frame, frame 1 their ``next`` pose; a body that moves
its limbs gets its next mesh as a shape key switched on at frame 1. With motion
blur off, Cycles evaluates the scene at frames -1 and +1 for the vector pass; its
last two channels hold, for each pixel's surface point, its raster position now
minus its position at frame +1 (Blender's raster y points up): negated and
flipped, the forward flow. Only frame 0 is rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy
import mathutils
import numpy as np

from render import camera as cam_math
from render.blender.passes import annotation_settings, render_views
from render.errors import RenderError
from render.families import build_geometry
from render.spec import ObjectSpec, SceneSpec

UNKNOWN = 1e10
"""Flow where no surface was hit (Middlebury's convention: above 1e9 is unknown)."""


def _constant(action: Any) -> None:
    for fcurve in action.fcurves if action else []:
        for point in fcurve.keyframe_points:
            point.interpolation = "CONSTANT"


def _key_transform(obj: Any, now: Any, later: Any) -> None:
    """Keys of ``obj``'s location and rotation: ``now`` at frame 0, ``later`` (both
    4x4 world matrices) at frame 1."""
    obj.animation_data_clear()
    obj.rotation_mode = "XYZ"
    for frame, matrix in ((0, now), (1, later)):
        obj.matrix_world = matrix
        obj.keyframe_insert(data_path="location", frame=frame)
        obj.keyframe_insert(data_path="rotation_euler", frame=frame)
    _constant(obj.animation_data.action)
    obj.matrix_world = now


def _key_shape(obj: Any, o: ObjectSpec) -> None:
    """The object's next mesh (same vertices, moved) as a shape key: 0 at frame 0, 1 at 1."""
    g = o.next.geometry if o.next else None
    if g is None:
        return
    if g.kind != "procedural" or not g.generator or not g.part:
        raise RenderError(f"{o.name}: next.geometry must be procedural with generator and part")
    part = build_geometry(g.generator, g.params).get(g.part)
    if part is None:
        raise RenderError(f"{o.name}: next.geometry has no part {g.part!r}")
    mesh = obj.data
    if len(part.vertices) != len(mesh.vertices):
        raise RenderError(
            f"{o.name}: next.geometry has {len(part.vertices)} vertices, the mesh "
            f"{len(mesh.vertices)}: a moved mesh must keep its vertices"
        )
    obj.shape_key_add(name="Basis", from_mix=False)
    key = obj.shape_key_add(name="next", from_mix=False)
    key.data.foreach_set("co", np.ascontiguousarray(part.vertices, dtype=np.float32).ravel())
    for frame, value in ((0, 0.0), (1, 1.0)):
        key.value = value
        key.keyframe_insert(data_path="value", frame=frame)
    _constant(mesh.shape_keys.animation_data.action)
    key.value = 0.0


def _output_node() -> list[Any]:
    """Vector pass -> (next x, next y, 0) in a 32-bit EXR registered as ``flow``."""
    from blenderproc.python.utility.Utility import Utility

    scene = bpy.context.scene
    scene.view_layers["ViewLayer"].use_pass_vector = True
    tree = scene.node_tree
    layers = Utility.get_the_one_node_with_type(tree.nodes, "CompositorNodeRLayers")
    split = tree.nodes.new("CompositorNodeSeparateColor")
    join = tree.nodes.new("CompositorNodeCombineColor")
    tree.links.new(layers.outputs["Vector"], split.inputs["Image"])
    tree.links.new(split.outputs["Blue"], join.inputs["Red"])
    tree.links.new(split.outputs["Alpha"], join.inputs["Green"])
    node = tree.nodes.new("CompositorNodeOutputFile")
    out_dir = Utility.get_temporary_directory()
    node.base_path = out_dir
    node.format.file_format = "OPEN_EXR"
    node.format.color_depth = "32"
    node.file_slots.values()[0].path = "flow_"
    tree.links.new(join.outputs["Image"], node.inputs["Image"])
    Utility.add_output_entry(
        {"key": "flow", "path": str(Path(out_dir) / "flow_") + "%04d.exr", "version": "2.0.0"}
    )
    return [split, join, node]


def flow_pass(spec: SceneSpec, objects: list[tuple[ObjectSpec, Any]]) -> list[np.ndarray]:
    """Each view's forward flow, float32 (H, W, 2) pixels ``(dx, dy)`` in image
    coordinates (x right, y down): the pixel's surface point is at ``(x + dx,
    y + dy)`` one frame later. :data:`UNKNOWN` where no surface was hit. Empty
    when ``spec.render.flow`` is off. Run it last: it changes the scene's keys."""
    c = spec.camera
    if not spec.render.flow:
        return []
    if len(c.poses) != 1 or c.tiles:
        raise RenderError("render.flow: needs one camera view per scene and no tiles")
    scene = bpy.context.scene
    scene.render.use_motion_blur = False
    scene.camera.data.dof.use_dof = False
    annotation_settings()
    scene.frame_set(0)
    later = c.next_poses[0] if c.next_poses else c.poses[0]
    _key_transform(
        scene.camera,
        mathutils.Matrix(cam_math.opencv_to_blender(np.asarray(c.poses[0])).tolist()),
        mathutils.Matrix(cam_math.opencv_to_blender(np.asarray(later)).tolist()),
    )
    for o, _ in objects:
        if o.next is None:
            continue
        obj = bpy.data.objects[o.name]  # physics' undo may have replaced the reference
        now = obj.matrix_world.copy()
        scale = mathutils.Matrix.Diagonal((*obj.scale, 1.0))
        rot = mathutils.Euler(o.next.rotation_euler, "XYZ").to_matrix().to_4x4()
        _key_transform(obj, now, mathutils.Matrix.Translation(o.next.location) @ rot @ scale)
        _key_shape(obj, o)
    scene.frame_set(0)
    nodes = _output_node()
    try:
        (data,) = render_views(spec, {"flow", "depth"})
    finally:
        for node in nodes:
            scene.node_tree.nodes.remove(node)
        scene.view_layers["ViewLayer"].use_pass_vector = False
    vec = np.asarray(data["flow"], dtype=np.float32)
    # Cycles stores where the point was minus where it will be, y up (measured:
    # tests/test_flow.py): negate x; y's two flips cancel
    flow = np.stack([-vec[..., 0], vec[..., 1]], axis=-1)
    depth = np.asarray(data["depth"], dtype=np.float32)
    depth = depth[..., 0] if depth.ndim == 3 else depth
    flow[depth >= c.clip_end * 0.999] = UNKNOWN
    return [np.ascontiguousarray(flow)]
