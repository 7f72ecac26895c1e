"""Recall of a detector by occlusion, size and group (pure numpy): which instances
it finds, in bins of the annotations' ``visibility`` and box height, and per
person group from their attributes (age, skin tone, sex), with the largest gap
between the groups of each attribute.

An instance is **found** when a detection of its category scoring at least
``score_min`` overlaps its box with IoU >= 0.5; detections are matched greedily,
highest score first, each to at most one instance (COCOeval's rule). Crowd regions
are left out. The height is the amodal box's where the annotation has one (how
tall the person is), else the visible box's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from render.groups import GROUPS

IOU = 0.5
VISIBILITY_BINS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))
HEIGHT_BINS = ((0, 32), (32, 64), (64, 128), (128, 256), (256, float("inf")))


def _iou(box: Sequence[float], boxes: np.ndarray) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    ix = np.minimum(x + w, boxes[:, 0] + boxes[:, 2]) - np.maximum(x, boxes[:, 0])
    iy = np.minimum(y + h, boxes[:, 1] + boxes[:, 3]) - np.maximum(y, boxes[:, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    return inter / np.maximum(w * h + boxes[:, 2] * boxes[:, 3] - inter, 1e-12)


def found(
    annotations: Sequence[Mapping[str, Any]],
    detections: Sequence[Mapping[str, Any]],
    score_min: float,
) -> set[Any]:
    """Ids of the (non-crowd) annotations a detection finds (see the module docstring)."""
    return set(matched(annotations, detections, score_min))


def matched(
    annotations: Sequence[Mapping[str, Any]],
    detections: Sequence[Mapping[str, Any]],
    score_min: float,
) -> dict[Any, Mapping[str, Any]]:
    """Annotation id -> the detection that finds it (see the module docstring)."""
    gts: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for a in annotations:
        if not a.get("iscrowd"):
            gts.setdefault((a["image_id"], a["category_id"]), []).append(a)
    dets = sorted(
        (d for d in detections if float(d["score"]) >= score_min), key=lambda d: -float(d["score"])
    )
    taken: dict[Any, Mapping[str, Any]] = {}
    for d in dets:
        cands = [a for a in gts.get((d["image_id"], d["category_id"]), []) if a["id"] not in taken]
        if not cands:
            continue
        ious = _iou(d["bbox"], np.array([a["bbox"] for a in cands], dtype=np.float64))
        k = int(np.argmax(ious))
        if ious[k] >= IOU:
            taken[cands[k]["id"]] = d
    return taken


def _height(a: Mapping[str, Any]) -> float:
    box = a.get("bbox_amodal") or a["bbox"]
    return float(box[3])


def _row(n: int, hits: int) -> dict[str, Any]:
    return {"n": n, "found": hits, "recall": round(hits / n, 4) if n else None}


def recall_tables(
    annotations: Sequence[Mapping[str, Any]],
    detections: Sequence[Mapping[str, Any]],
    score_min: float = 0.5,
) -> dict[str, Any]:
    """Recall by visibility bin, height bin and group (``{}`` parts are left out when
    no annotation carries the field); each row ``{"n", "found", "recall"}``, each
    group attribute with ``gap``: its largest minus its smallest recall."""
    anns = [a for a in annotations if not a.get("iscrowd")]
    hit = found(anns, detections, score_min)
    out: dict[str, Any] = {"score_min": score_min, "iou": IOU, "all": _row(len(anns), len(hit))}
    vis = [a for a in anns if isinstance(a.get("visibility"), int | float)]
    if vis:
        out["visibility"] = {}
        for k, (lo, hi) in enumerate(VISIBILITY_BINS):
            last = k == len(VISIBILITY_BINS) - 1
            sel = [a for a in vis if lo <= a["visibility"] < hi or (last and a["visibility"] == hi)]
            out["visibility"][f"{lo:g}-{hi:g}"] = _row(len(sel), sum(a["id"] in hit for a in sel))
    out["height_px"] = {}
    for lo, hi in HEIGHT_BINS:
        sel = [a for a in anns if lo <= _height(a) < hi]
        label = f"{lo}-{hi:g}" if hi != float("inf") else f">={lo}"
        out["height_px"][label] = _row(len(sel), sum(a["id"] in hit for a in sel))
    for attr, group_of in GROUPS.items():
        rows: dict[str, list[Mapping[str, Any]]] = {}
        for a in anns:
            g = group_of(a.get("attributes") or {})
            if g is not None:
                rows.setdefault(g, []).append(a)
        if not rows:
            continue
        table = {
            g: _row(len(sel), sum(a["id"] in hit for a in sel)) for g, sel in sorted(rows.items())
        }
        recalls = [r["recall"] for r in table.values() if r["recall"] is not None]
        out[attr] = {
            "groups": table,
            "gap": round(max(recalls) - min(recalls), 4) if recalls else None,
        }
    return out


def format_recall(tables: Mapping[str, Any]) -> str:
    """The recall tables as text (``synthcv evaluate``)."""
    if not tables:
        return ""
    lines = [f"recall at IoU {tables['iou']:g}, detections scoring >= {tables['score_min']:g}:"]

    def row(label: str, r: Mapping[str, Any]) -> str:
        rec = "   n/a" if r["recall"] is None else f"{r['recall']:6.3f}"
        return f"  {label:<20} {r['n']:>6} {r['found']:>6} {rec}"

    lines.append(f"  {'':<20} {'n':>6} {'found':>6} {'recall':>6}")
    lines.append(row("all", tables["all"]))
    for part, title in (("visibility", "visibility"), ("height_px", "height px")):
        for label, r in (tables.get(part) or {}).items():
            lines.append(row(f"{title} {label}", r))
    for attr in GROUPS:
        if attr in tables:
            for g, r in tables[attr]["groups"].items():
                lines.append(row(g, r))
            gap = tables[attr]["gap"]
            lines.append(f"  {attr} gap: {'n/a' if gap is None else f'{gap:.3f}'}")
    return "\n".join(lines)
