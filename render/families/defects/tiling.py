"""Which tiles of a defects scene's virtual frame are rendered (pure numpy):
``tiles.focus: products`` covers each product's projected box whole (with a
margin); ``tiles.focus: defects`` spends the render on the defects, a square
around each defect's projected mesh, one on each product without one (around a
nuisance, a hard negative, where it has any), ``product_squares`` more at random
places on every product (its holes, edges, prints), plus background. The geometry is
the same generator call the renderer makes (``product_with_defects``), so a
defect's tile is planned from the mesh that will be rendered. See render/tiles.py
and docs/defects.md ("Inspection optics and tiles")."""

from __future__ import annotations

from typing import Any

import numpy as np

from render.amodal import projected_extent
from render.families import build_geometry
from render.families.defects.config import DefectsScene
from render.geometry.rotations import euler_xyz_to_matrix
from render.spec import ObjectSpec, ProductInfo, TileSpec
from render.tiles import Box, plan_defect_tiles, plan_tiles


def part_points(product: ObjectSpec, prefix: str) -> list[np.ndarray]:
    """World vertices (N, 3) of each of ``product``'s parts named ``prefix_k``
    (``defect``, ``nuisance``), in order; a part its generator left empty is an
    empty array."""
    params = product.geometry.params
    n = len(params.get(f"{prefix}s", []))
    if n == 0:
        return []
    parts = build_geometry(product.geometry.generator or "", params)
    rot = euler_xyz_to_matrix(product.rotation_euler) * np.asarray(product.scale)
    loc = np.asarray(product.location)
    out = []
    for k in range(n):
        mesh = parts.get(f"{prefix}_{k}")
        v = np.zeros((0, 3)) if mesh is None else np.asarray(mesh.vertices)
        out.append(v @ rot.T + loc)
    return out


def scene_tiles(
    sc: DefectsScene,
    camera: Any,
    corners: list[np.ndarray],
    objects: list[ObjectSpec],
    rng: np.random.Generator,
) -> list[TileSpec]:
    """The tiles of a tiled scene; ``corners``: each placed product's 8 world box
    corners, in the order of the ``ProductInfo`` objects in ``objects``."""
    t = sc.camera.tiles

    def boxes(points: np.ndarray) -> list[Box | None]:
        if len(points) == 0:
            return [None] * len(camera.poses)
        return [projected_extent(points, camera.K, pose) for pose in camera.poses]

    products = [boxes(c) for c in corners]
    if t.focus == "products":
        return plan_tiles(
            products, camera.width, camera.height, t.margin_px, t.max_side_px,
            t.background_share, rng,
        )  # fmt: skip
    placed = [o for o in objects if isinstance(o.info, ProductInfo)]
    defects = [[boxes(p) for p in part_points(o, "defect")] for o in placed]
    hard = [[boxes(p) for p in part_points(o, "nuisance")] for o in placed]
    return plan_defect_tiles(
        products, defects, hard, camera.width, camera.height, t.side_px, t.margin_px,
        t.background_share, rng, t.product_squares,
    )  # fmt: skip
