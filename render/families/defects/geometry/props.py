"""Inspection backgrounds as geometry data: conveyor belt, inspection table, tray.

Every prop's supporting surface (where products rest) is the plane z = 0 of its
local frame, except the ribbed belt, whose products rest on the ribs at
``rib_height`` (see :func:`support_height`). Metres, +Z up. Parts are closed
shells (boxes), so they are watertight.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from render.geometry import Mesh
from render.geometry.build import box_piece as _box
from render.geometry.build import merge
from render.geometry.build import strip as _strip


def _boxes(boxes: list[tuple[tuple[float, float, float], tuple[float, float, float]]]) -> Mesh:
    return merge([_box(np.array(lo), np.array(hi)) for lo, hi in boxes])


def support_height(kind: str, params: dict[str, Any]) -> float:
    """Height (metres) above the prop's z = 0 where products rest."""
    if kind == "conveyor" and float(params.get("rib_height", 0.0)) > 0:
        return float(params["rib_height"])
    return 0.0


def conveyor(params: dict[str, Any]) -> dict[str, Mesh]:
    """Belt of ``length`` (X) x ``width`` (Y), 5 mm thick, top at z = 0, with
    transverse ribs (``rib_height``, every ``rib_spacing``; none if height is 0)
    and two side rails. Parts: ``belt`` (belt and ribs), ``rails``."""
    length, width = float(params["length"]), float(params["width"])
    rib_h, spacing = float(params.get("rib_height", 0.0)), float(params.get("rib_spacing", 0.03))
    boxes = [((-length / 2, -width / 2, -0.005), (length / 2, width / 2, 0.0))]
    if rib_h > 0:
        for x in np.arange(-length / 2 + spacing / 2, length / 2, spacing):
            # ribs sink 0.1 mm into the belt: no coplanar faces
            boxes.append(((x - 0.001, -width / 2, -1e-4), (x + 0.001, width / 2, rib_h)))
    rail_h = float(params.get("rail_height", 0.03))
    rails = [
        (
            (-length / 2, s * width / 2 + (0.001 if s > 0 else -0.021), -0.02),
            (length / 2, s * width / 2 + (0.021 if s > 0 else -0.001), rail_h),
        )
        for s in (-1, 1)
    ]
    return {"belt": _boxes(boxes), "rails": _boxes(rails)}


def table(params: dict[str, Any]) -> dict[str, Mesh]:
    """Inspection table top: a slab of ``size`` x ``size``, 2 cm thick, top at z = 0."""
    s = float(params["size"])
    return {"table": _boxes([((-s / 2, -s / 2, -0.02), (s / 2, s / 2, 0.0))])}


def tray(params: dict[str, Any]) -> dict[str, Mesh]:
    """Open tray: floor top at z = 0, walls ``wall`` thick rising ``depth`` above it,
    inner size ``length`` x ``width``; one closed shell. Part: ``tray``."""
    length, width = float(params["length"]), float(params["width"])
    depth, wall = float(params.get("depth", 0.03)), float(params.get("wall", 0.004))
    floor = 0.004

    def rect(hx: float, hy: float, z: float) -> np.ndarray:
        return np.array([[-hx, -hy, z], [hx, -hy, z], [hx, hy, z], [-hx, hy, z]])

    ix, iy, ox, oy = length / 2, width / 2, length / 2 + wall, width / 2 + wall
    pieces = [
        _strip(rect(ix, iy, depth), rect(ox, oy, depth), flip=True),  # rim, +Z
        _strip(rect(ox, oy, depth), rect(ox, oy, -floor), flip=True),  # outer wall
        _strip(rect(ix, iy, 0.0), rect(ix, iy, depth), flip=True),  # inner wall
    ]
    bottom = rect(ox, oy, -floor)
    inner = rect(ix, iy, 0.0)
    pieces.append((bottom, np.array([[0, 2, 1], [0, 3, 2]])))
    pieces.append((inner, np.array([[0, 1, 2], [0, 2, 3]])))
    return {"tray": merge(pieces)}


PROPS = {"conveyor": conveyor, "table": table, "tray": tray}
