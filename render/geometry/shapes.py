"""Small reference shapes used by tests and the generic family."""

from __future__ import annotations

from typing import Any

import numpy as np

from render.geometry import Mesh


def box(size: tuple[float, float, float]) -> Mesh:
    """An axis-aligned box centred at the origin with edge lengths ``size`` (metres)."""
    sx, sy, sz = (s / 2 for s in size)
    v = np.array(
        [[x, y, z] for x in (-sx, sx) for y in (-sy, sy) for z in (-sz, sz)], dtype=np.float64
    )
    # vertex index = 4*ix + 2*iy + iz
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], dtype=np.int64)
    return Mesh(v, faces, watertight=True)


def _box_generator(params: dict[str, Any]) -> dict[str, Mesh]:
    return {"body": box(tuple(params.get("size", (1.0, 1.0, 1.0))))}


GENERATORS = {"box": _box_generator}
