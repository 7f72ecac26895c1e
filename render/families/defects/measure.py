"""Physical size of each defect, measured on its final geometry, and its severity
against the product's acceptance limits (pure numpy).

Measures (metres, square metres, on a plane across the defect's normal):

- ``length``: the largest distance between two points of its footprint (Feret
  diameter), what a QC engineer's calipers or a vision tool's max-dimension give;
- ``width``: a groove's or crack's widest opening (between its rims, measured per
  station on the final vertices); else the footprint's extent across ``length``;
- ``depth``: deepest point below the original surface (grooves, cracks, dents,
  chips);
- ``area``: footprint area (a groove's or crack's opening, not its strip's
  margins; a stain's whole film; a dent's or chip's displaced region).

:func:`complete_defects` is the family's ``complete`` step: it copies the measures
of the built parts into each defect's :class:`~render.spec.DefectInfo`, in
millimetres, with a severity grade.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from render.families.defects.geometry import surface as dg
from render.spec import DefectInfo, ObjectSpec, ProductInfo, SceneSpec


def _plane(points: np.ndarray, normal: np.ndarray) -> np.ndarray:
    t1, t2 = dg.tangent_frame(normal / np.linalg.norm(normal))
    return np.stack([points @ t1, points @ t2], 1)


def feret(points2d: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest pairwise distance of 2-D points (P, 2) and its unit direction."""
    if len(points2d) < 2:
        return 0.0, np.array([1.0, 0.0])
    try:
        hull = points2d[ConvexHull(points2d).vertices]
    except (QhullError, ValueError):  # collinear or too few points
        hull = points2d
    d = hull[:, None, :] - hull[None, :, :]
    dist = np.linalg.norm(d, axis=-1)
    i, j = np.unravel_index(int(np.argmax(dist)), dist.shape)
    length = float(dist[i, j])
    return length, (d[i, j] / length if length > 0 else np.array([1.0, 0.0]))


def footprint(v: np.ndarray, f: np.ndarray, normal: np.ndarray) -> dict[str, float]:
    """``length``, ``width`` (extent across the length) and ``area`` of faces
    ``f`` of ``v`` projected on the plane across ``normal``."""
    if len(f) == 0:
        return {"length": 0.0, "width": 0.0, "area": 0.0}
    p = _plane(v, normal)
    used = np.unique(f)
    length, direction = feret(p[used])
    across = p[used] @ np.array([-direction[1], direction[0]])
    a, b, c = p[f[:, 0]], p[f[:, 1]], p[f[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    return {
        "length": length,
        "width": float(np.ptp(across)),
        # signed: where the surface folds over itself (a chip's fracture) the
        # folded-back faces cancel the overlap, so this is the covered area
        "area": float(0.5 * abs(cross.sum())),
    }


# --------------------------------------------------------------------------- severity


def severity(
    measured_mm: dict[str, float], limits: dict[str, float]
) -> tuple[str | None, float | None]:
    """(``accept`` | ``reject``, largest measure / limit) against acceptance
    ``limits`` (e.g. ``{"length_mm": 5.0}``: reject when longer); (None, None)
    without limits for the measures at hand."""
    ratios = [
        measured_mm[k] / lim if lim > 0 else float("inf")
        for k, lim in limits.items()
        if measured_mm.get(k) is not None
    ]
    if not ratios:
        return None, None
    worst = max(ratios)
    return ("reject" if worst > 1 else "accept"), round(min(worst, 1e6), 3)


def _limits(scene: Any, job: Any, product: ObjectSpec, kind: str) -> dict[str, float]:
    """The acceptance limits of defect type ``kind`` on ``product``: the product
    choice's own (matched by category and family), else the family-wide ones."""
    out: dict[str, float] = {}
    base = scene.acceptance.get(kind)
    if base is not None:
        out.update(base.limits())
    info = product.info
    for choice in scene.products:
        if (
            isinstance(info, ProductInfo)
            and choice.family == info.family
            and job.category_id(choice.category) == product.category_id
        ):
            own = choice.acceptance.get(kind)
            if own is not None:
                out = own.limits()
            break
    return out


def complete_defects(spec: SceneSpec, job: Any) -> SceneSpec:
    """``spec`` with every defect's measured size (mm) and severity filled in from
    its built geometry (the generator is cached: in the worker that rendered the
    scene this costs nothing)."""
    from render.families import build_geometry

    scene = job.scene
    by_id = {o.instance_id: o for o in spec.objects if o.instance_id > 0}
    objects = []
    for o in spec.objects:
        info = o.info
        g = o.geometry
        if not isinstance(info, DefectInfo) or g.generator is None or g.part is None:
            objects.append(o)
            continue
        m = build_geometry(g.generator, g.params)[g.part].measures
        mm = {
            "length_mm": round(m["length"] * 1e3, 3) if "length" in m else None,
            "width_mm": round(m["width"] * 1e3, 3) if "width" in m else None,
            "depth_mm": round(m["depth"] * 1e3, 3) if "depth" in m else None,
            "area_mm2": round(m["area"] * 1e6, 3) if "area" in m else None,
        }
        grade, ratio = (None, None)
        parent = by_id.get(o.parent_id) if o.parent_id is not None else None
        if parent is not None and m:
            grade, ratio = severity(
                {k: v for k, v in mm.items() if v is not None},
                _limits(scene, job, parent, info.type),
            )
        new = info.model_copy(update={**mm, "severity": grade, "severity_ratio": ratio})
        objects.append(o.model_copy(update={"info": new}))
    return spec.model_copy(update={"objects": objects})
