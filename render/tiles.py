"""Tiles of a virtual frame (pure numpy): which rectangles of a large camera frame
are rendered (:func:`plan_tiles`), and what a tile's image is as a camera view
(:func:`tile_K`) and which of its instances it cuts (:func:`truncation`).

A tile is a dataset image in its own right: the crop ``[x, x + w) x [y, y + h)``
of view ``view``'s whole frame, with the intrinsics shifted by the tile's origin
(``cx - x``, ``cy - y``: a world point projects to its frame pixel minus the origin)
and the view's pose; masks, depth, keypoints and boxes are computed on the tile as
on any image, so annotation code needs no special case. See docs/defects.md
("Inspection optics and tiles").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from render.formats.records import instance_of
from render.spec import TileSpec

Rect = tuple[int, int, int, int]
"""(x0, y0, x1, y1) whole pixels, exclusive ends."""
Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) continuous frame pixels."""


def tile_K(K: Sequence[Sequence[float]], tile: TileSpec | None) -> list[list[float]]:
    """The intrinsics of a tile's image: ``K`` with the principal point moved by
    the tile's origin (unchanged for a whole view)."""
    k = [list(map(float, row)) for row in K]
    if tile is not None:
        k[0][2] -= tile.x
        k[1][2] -= tile.y
    return k


def border_fractions(tile: TileSpec, width: int, height: int) -> tuple[float, float, float, float]:
    """Blender's render border (min_x, min_y, max_x, max_y) for exactly ``tile``'s pixels.

    Blender keeps the border as float32 fractions of the frame (y up) and truncates
    ``fraction * size`` to whole pixels, so ``x / width`` can land a pixel short
    (834 / 2448 * 2448 -> 833.99994 -> 833). A fraction at the pixel's middle,
    ``(x + 0.5) / size``, truncates to ``x`` (every edge checked up to 8192 px);
    the frame's far edge is 1.0 exactly (Blender clamps the border to [0, 1]).
    """

    def edge(px: int, size: int) -> float:
        return 1.0 if px >= size else (px + 0.5) / size

    bottom = height - tile.y - tile.height  # Blender counts rows from the bottom
    return (
        edge(tile.x, width),
        edge(bottom, height),
        edge(tile.x + tile.width, width),
        edge(height - tile.y, height),
    )


def _clip(rect: Rect, width: int, height: int) -> Rect | None:
    x0, y0 = max(rect[0], 0), max(rect[1], 0)
    x1, y1 = min(rect[2], width), min(rect[3], height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _overlap(a: Rect | Box, b: Rect | Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _merge(rects: list[Rect], limit: int) -> list[Rect]:
    """Union overlapping rectangles while the union stays within ``limit`` pixels
    a side (two products side by side render once, not twice)."""
    rects = list(rects)
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                if _overlap(a, b) and max(u[2] - u[0], u[3] - u[1]) <= limit:
                    rects[i] = u
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    return rects


def plan_tiles(
    boxes: Sequence[Sequence[tuple[float, float, float, float] | None]],
    width: int,
    height: int,
    margin: int,
    max_side: int,
    background: float,
    rng: np.random.Generator,
) -> list[TileSpec]:
    """The tiles of a scene: for each view, one tile per product box (continuous
    ``(x0, y0, x1, y1)`` in the frame, None where it is not seen) grown by
    ``margin`` pixels, clipped to the frame, overlapping ones merged while at most
    ``max_side`` a side (larger boxes are split into a grid of tiles of at most that
    side); then ``round(background * product tiles)`` background tiles (the median
    product tile's size) where they overlap no product tile, when such a place is
    found (20 tries each). ``boxes[p][v]``: product ``p`` in view ``v``. Draws only
    from ``rng`` (the background tiles' places)."""
    views = max((len(b) for b in boxes), default=0)
    out: list[TileSpec] = []
    for v in range(views):
        rects: list[Rect] = []
        for per_view in boxes:
            box = per_view[v] if v < len(per_view) else None
            if box is None:
                continue
            r = _clip(
                (
                    math.floor(box[0]) - margin,
                    math.floor(box[1]) - margin,
                    math.ceil(box[2]) + margin,
                    math.ceil(box[3]) + margin,
                ),
                width,
                height,
            )
            if r is not None:
                rects.append(r)
        for r in _merge(rects, max_side):
            for part in _split(r, max_side):
                out.append(_tile(v, part, "product"))
    return out + _background(out, views, width, height, background, rng)


def _background(
    tiles: list[TileSpec],
    views: int,
    width: int,
    height: int,
    share: float,
    rng: np.random.Generator,
    avoid: Sequence[tuple[int, Rect]] = (),
) -> list[TileSpec]:
    """``round(share * len(tiles))`` background tiles (the median tile's size), each
    where it overlaps none of ``tiles`` nor ``avoid`` (view, rect) in its view, when
    such a place is found (20 tries each)."""
    n_background = round(share * len(tiles))
    if not tiles or n_background == 0:
        return []
    sizes = sorted((t.width, t.height) for t in tiles)
    bw, bh = sizes[len(sizes) // 2]
    taken = [(t.view, (t.x, t.y, t.x + t.width, t.y + t.height)) for t in tiles] + list(avoid)
    out: list[TileSpec] = []
    for _ in range(n_background):
        for _try in range(20):
            v = int(rng.integers(views))
            x = int(rng.integers(0, max(width - bw, 0) + 1))
            y = int(rng.integers(0, max(height - bh, 0) + 1))
            r = _clip((x, y, x + bw, y + bh), width, height)
            if r is not None and not any(tv == v and _overlap(r, tr) for tv, tr in taken):
                out.append(_tile(v, r, "background"))
                taken.append((v, r))
                break
    return out


def _inside(box: Box, tile: TileSpec) -> bool:
    return (
        tile.x <= box[0] and tile.y <= box[1]
        and box[2] <= tile.x + tile.width and box[3] <= tile.y + tile.height
    )  # fmt: skip


def _around(
    box: Box, side: int, margin: int, width: int, height: int, rng: np.random.Generator
) -> list[Rect]:
    """A ``side`` x ``side`` square (smaller only where the frame is) holding ``box``
    with ``margin`` pixels, at a random place among those that do, kept in the
    frame; a box too large for one is grown by ``margin`` and cut into squares of at
    most ``side``."""
    x0, y0 = math.floor(box[0]) - margin, math.floor(box[1]) - margin
    x1, y1 = math.ceil(box[2]) + margin, math.ceil(box[3]) + margin
    if x1 - x0 > side or y1 - y0 > side:
        r = _clip((x0, y0, x1, y1), width, height)
        return [] if r is None else _split(r, side)

    def start(lo: int, hi: int, size: int) -> int:
        first = int(rng.integers(hi - side, lo + 1))  # every origin that holds [lo, hi)
        return min(max(first, 0), max(size - side, 0))

    x, y = start(x0, x1, width), start(y0, y1, height)
    r = _clip((x, y, x + side, y + side), width, height)
    return [] if r is None else [r]


def _point(box: Box, rng: np.random.Generator) -> Box:
    """A 2 px box around a uniformly random point of ``box``."""
    cx, cy = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
    return (cx - 1, cy - 1, cx + 1, cy + 1)


def plan_defect_tiles(
    products: Sequence[Sequence[Box | None]],
    defects: Sequence[Sequence[Sequence[Box | None]]],
    hard: Sequence[Sequence[Sequence[Box | None]]],
    width: int,
    height: int,
    side: int,
    margin: int,
    background: float,
    rng: np.random.Generator,
    product_squares: int = 0,
) -> list[TileSpec]:
    """Tiles that spend the render on defects (``tiles.focus: defects``): for each
    view, a ``side`` px square around each defect's projected box (``defects[p][k][v]``
    of product ``p``; the defect at a random place in it, ``margin`` px from its
    edges; one already inside an earlier defect tile gets none), kind ``defect``;
    for each product with no defect tile in that view, one square of the same size
    around one of its nuisances (``hard[p][k][v]``: the hard negatives) or, without
    any, at a random place on it (``products[p][v]``), kind ``product``; then
    ``product_squares`` more on every product, each centred on a random point of its
    box (its holes, edges and prints: the hard negatives a model trained on defect
    squares alone takes for defects), kind ``product``; then
    ``round(background * tiles)`` background tiles off the products. Boxes are
    continuous frame pixels, None where not seen; only those overlapping the frame
    count. Draws only from ``rng``."""
    frame = (0.0, 0.0, float(width), float(height))

    def seen(box: Box | None) -> Box | None:
        return box if box is not None and _overlap(box, frame) else None

    views = max((len(b) for b in products), default=0)
    out: list[TileSpec] = []
    for v in range(views):
        bare = []  # products with no defect tile in this view
        for p, per_view in enumerate(products):
            placed = 0
            for per_defect in defects[p] if p < len(defects) else []:
                box = seen(per_defect[v] if v < len(per_defect) else None)
                if box is None:
                    continue
                if any(t.view == v and t.kind == "defect" and _inside(box, t) for t in out):
                    placed += 1
                    continue
                for r in _around(box, side, margin, width, height, rng):
                    out.append(_tile(v, r, "defect"))
                    placed += 1
            whole = seen(per_view[v] if v < len(per_view) else None)
            if not placed and whole is not None:
                bare.append((p, whole))
        for p, whole in bare:
            nuisances = [b for b in (seen(n[v] if v < len(n) else None) for n in (hard[p] if p < len(hard) else [])) if b]  # fmt: skip
            if nuisances:
                target = nuisances[int(rng.integers(len(nuisances)))]
            else:  # a point of the product, the square's centre near it
                target = _point(whole, rng)
            for r in _around(target, side, 0, width, height, rng)[:1]:
                out.append(_tile(v, r, "product"))
        for per_view in products:  # drawn after the above: 0 squares plan as before
            whole = seen(per_view[v] if v < len(per_view) else None)
            if whole is None:
                continue
            in_frame = (
                max(whole[0], 0),
                max(whole[1], 0),
                min(whole[2], width),
                min(whole[3], height),
            )
            for _ in range(product_squares):
                for r in _around(_point(in_frame, rng), side, 0, width, height, rng)[:1]:
                    out.append(_tile(v, r, "product"))
    avoid: list[tuple[int, Rect]] = []
    for per_view in products:
        for v, box in enumerate(per_view):
            if box is None:
                continue
            clipped = _clip(
                (math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])),
                width, height,
            )  # fmt: skip
            if clipped is not None:
                avoid.append((v, clipped))
    return out + _background(out, views, width, height, background, rng, avoid)


def _split(r: Rect, max_side: int) -> list[Rect]:
    """``r`` cut into a grid of near-equal tiles of at most ``max_side`` a side."""
    nx = max(1, math.ceil((r[2] - r[0]) / max_side))
    ny = max(1, math.ceil((r[3] - r[1]) / max_side))
    xs = np.linspace(r[0], r[2], nx + 1).round().astype(int)
    ys = np.linspace(r[1], r[3], ny + 1).round().astype(int)
    return [
        (int(xs[i]), int(ys[j]), int(xs[i + 1]), int(ys[j + 1]))
        for j in range(ny)
        for i in range(nx)
    ]


def _tile(view: int, r: Rect, kind: str) -> TileSpec:
    return TileSpec(view=view, x=r[0], y=r[1], width=r[2] - r[0], height=r[3] - r[1], kind=kind)  # type: ignore[arg-type]


def truncation(extent: Sequence[float] | None, tile: TileSpec) -> tuple[bool, list[int] | None]:
    """Whether a tile cuts an instance whose whole-frame extent is ``extent``
    (continuous ``[x0, y0, x1, y1]``, None: unknown), and then its full-object box
    in the tile's pixels, ``[x, y, w, h]`` (COCO, whole pixels, reaching past the
    tile's edges)."""
    if extent is None:
        return False, None
    x0, y0 = math.floor(extent[0] - tile.x), math.floor(extent[1] - tile.y)
    x1, y1 = math.ceil(extent[2] - tile.x), math.ceil(extent[3] - tile.y)
    cut = x0 < 0 or y0 < 0 or x1 > tile.width or y1 > tile.height
    return cut, ([x0, y0, x1 - x0, y1 - y0] if cut else None)


def mark_truncated(
    anns: list[dict[str, Any]], extents: dict[int, list[Any]], pose: int, tile: TileSpec
) -> int:
    """Flag each annotation its tile cuts: ``truncated: 1`` and ``bbox_amodal`` the
    full object's box (tile pixels, past the edges); others get ``truncated: 0``.
    Returns how many were cut."""
    cut = 0
    for a in anns:
        inst = instance_of(a)
        per_pose = extents.get(int(inst)) if inst is not None else None
        extent = per_pose[pose] if per_pose is not None and pose < len(per_pose) else None
        is_cut, box = truncation(extent, tile)
        a["truncated"] = int(is_cut)
        if box is not None:
            a["bbox_amodal"] = box
            cut += 1
    return cut
