"""Small reference shapes used by tests and the generic family."""

from __future__ import annotations

from typing import Any

import numpy as np

from render.geometry import Mesh
from render.geometry.build import box_piece


def box(size: tuple[float, float, float]) -> Mesh:
    """An axis-aligned box centred at the origin with edge lengths ``size`` (metres)."""
    half = np.asarray(size, dtype=np.float64) / 2
    v, f = box_piece(-half, half)
    return Mesh(v, f, watertight=True)


def box_generator(params: dict[str, Any]) -> dict[str, Mesh]:
    """Generator ``box``: one part ``body``, a box of ``size`` [x, y, z] metres."""
    return {"body": box(tuple(params.get("size", (1.0, 1.0, 1.0))))}
