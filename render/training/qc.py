"""The metrics QC engineers use, from a defect detector's COCO results on a
defects dataset (pure numpy; whole images or tiles alike).

A product is **rejected** when the model finds a defect on it: its score is the
highest score of a predicted defect whose box centre falls on the product (its
frame box: tiles are mapped back to their view's whole frame through their
``tile`` origin, so a product cut into several tiles is judged once, from all of
them). The truth: a product is **defective** when it carries a defect whose
severity (attributes, from the acceptance limits) is ``reject``; every other
product, defects within limits included, should pass. Then:

- **escape rate** at a fixed **false-reject rate**: the threshold that rejects at
  most 1 % (5 %) of the good products lets this share of the defective ones pass;
- **ROC AUC** of the product scores (the chance a defective product scores above
  a good one; ties count half);

overall and per product type (category name); and the **false positives on
nuisances**: predicted defects at the 5 %-false-reject threshold whose box centre
lies on a nuisance (dust, fibre, fingerprint, droplet, print, ...: categories of
supercategory ``nuisance``) and on no true defect, per 100 products and nuisance
type; and the **other false defects** at that threshold, per 100 products: those on
a product (its holes, edges, prints: structure the model takes for a defect) and
those elsewhere (background), each counted once on the frame where tiles overlap.
Both counts also at a fixed score of 0.5: a weak model's 5 % threshold sits near
1.0, where every count is 0 and two models cannot be told apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from render.formats.records import instance_of, parent_of

FALSE_REJECT_RATES = (0.01, 0.05)
FIXED_SCORE = 0.5  # the false defects are counted at the 5 % threshold and at this score


def _frame_box(img: Mapping[str, Any], box: Sequence[float]) -> tuple[float, float, float, float]:
    """An image's ``[x, y, w, h]`` box as ``(x0, y0, x1, y1)`` in its view's frame."""
    tile = img.get("tile") or {}
    ox, oy = float(tile.get("x", 0)), float(tile.get("y", 0))
    x, y, w, h = (float(v) for v in box)
    return x + ox, y + oy, x + ox + w, y + oy + h


def _frame_key(img: Mapping[str, Any]) -> tuple[Any, Any]:
    tile = img.get("tile")
    view = tile.get("view", 0) if isinstance(tile, dict) else img.get("view_index", img["id"])
    return img.get("scene_id", img["id"]), view


def products(
    doc: Mapping[str, Any], defect_ids: set[int]
) -> dict[tuple[Any, Any, Any], dict[str, Any]]:
    """Every product of a defects document, once per view (across tiles): key
    ``(scene, view, instance)`` -> ``{"name", "box" (frame x0, y0, x1, y1, the union
    of what its images show, or its full box where a tile cuts it), "defective"}``."""
    cats = {int(c["id"]): str(c.get("name")) for c in doc["categories"]}
    images = {int(i["id"]): i for i in doc["images"]}
    out: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    reject: set[tuple[Any, Any, Any]] = set()
    for a in doc["annotations"]:
        img = images.get(int(a["image_id"]))
        if img is None or a.get("iscrowd"):
            continue
        scene, view = _frame_key(img)
        cid = int(a["category_id"])
        if cid in defect_ids:
            parent = parent_of(a)
            severity = (a.get("attributes") or {}).get("severity")
            if parent is not None and severity == "reject":
                reject.add((scene, view, parent))
            continue
        if parent_of(a) is not None:
            continue  # a component of a board, a nuisance: not a product
        inst = instance_of(a)
        key = (scene, view, inst if inst is not None else a["id"])
        box = _frame_box(img, a.get("bbox_amodal") if a.get("truncated") else a["bbox"])
        p = out.setdefault(key, {"name": cats.get(cid, str(cid)), "box": box})
        b = p["box"]
        p["box"] = (min(b[0], box[0]), min(b[1], box[1]), max(b[2], box[2]), max(b[3], box[3]))
    for key, p in out.items():
        p["defective"] = key in reject
    return out


def product_scores(
    doc: Mapping[str, Any], detections: Sequence[Mapping[str, Any]], defect_ids: set[int]
) -> list[dict[str, Any]]:
    """Each product with its score: the highest score of a predicted defect whose
    box centre (in the frame) lies inside the product's box; 0 when none does."""
    prods = products(doc, defect_ids)
    images = {int(i["id"]): i for i in doc["images"]}
    by_frame: dict[tuple[Any, Any], list[tuple[float, float, float]]] = {}
    for d in detections:
        img = images.get(int(d["image_id"]))
        if img is None or int(d["category_id"]) not in defect_ids:
            continue
        x0, y0, x1, y1 = _frame_box(img, d["bbox"])
        by_frame.setdefault(_frame_key(img), []).append(
            ((x0 + x1) / 2, (y0 + y1) / 2, float(d["score"]))
        )
    rows = []
    for (scene, view, inst), p in sorted(prods.items(), key=lambda kv: str(kv[0])):
        x0, y0, x1, y1 = p["box"]
        found = [
            s for cx, cy, s in by_frame.get((scene, view), []) if x0 <= cx <= x1 and y0 <= cy <= y1
        ]
        rows.append({"scene": scene, "view": view, "instance": inst, "product": p["name"],
                     "defective": p["defective"], "score": max(found, default=0.0)})  # fmt: skip
    return rows


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression of (N, 4) x0, y0, x1, y1 boxes: kept indices."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.asarray(order)
        w = np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])
        h = np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        union = area[i] + area[rest] - inter
        order = [
            int(j) for j, o in zip(rest, inter / np.maximum(union, 1e-9), strict=True) if o <= iou
        ]
    return keep


def frame_detections(
    images: Sequence[Mapping[str, Any]], detections: Sequence[Mapping[str, Any]], iou: float = 0.5
) -> list[dict[str, Any]]:
    """Detections on tiles as detections on their views' whole frames: boxes moved
    by each tile's origin, and where tiles overlap, the same object found twice
    merged (class-wise NMS at ``iou``). Each: ``scene_id``, ``view``, ``category_id``,
    ``bbox`` ``[x, y, w, h]`` in frame pixels, ``score``, ``image_id`` (its tile)."""
    by_id = {int(i["id"]): i for i in images}
    groups: dict[tuple[Any, Any, int], list[dict[str, Any]]] = {}
    for d in detections:
        img = by_id.get(int(d["image_id"]))
        if img is None:
            continue
        scene, view = _frame_key(img)
        x0, y0, x1, y1 = _frame_box(img, d["bbox"])
        row = {"scene_id": scene, "view": view, "category_id": int(d["category_id"]),
               "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
               "score": float(d["score"]), "image_id": int(d["image_id"])}  # fmt: skip
        groups.setdefault((scene, view, row["category_id"]), []).append(row)
    out = []
    for rows in groups.values():
        boxes = np.array([[r["bbox"][0], r["bbox"][1], r["bbox"][0] + r["bbox"][2],
                           r["bbox"][1] + r["bbox"][3]] for r in rows])  # fmt: skip
        out += [rows[k] for k in _nms(boxes, np.array([r["score"] for r in rows]), iou)]
    return sorted(out, key=lambda r: (str(r["scene_id"]), str(r["view"]), -r["score"]))


def roc_auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """P(a positive scores above a negative), ties half (Mann-Whitney); None
    without both classes."""
    if not len(pos) or not len(neg):
        return None
    pos, neg = np.sort(pos), np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def escape_rate(pos: np.ndarray, neg: np.ndarray, frr: float) -> tuple[float | None, float | None]:
    """(escape rate, threshold): a product is rejected when its score is above the
    threshold; the threshold is the lowest that rejects at most ``frr`` of the
    negatives, and the escape rate the share of positives at or below it."""
    if not len(pos) or not len(neg):
        return None, None
    candidates = np.unique(np.concatenate([[0.0], neg]))
    for t in candidates:  # ascending: the first that meets the false-reject budget
        if float((neg > t).mean()) <= frr:
            return float((pos <= t).mean()), float(t)
    return float((pos <= candidates[-1]).mean()), float(candidates[-1])


def _summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    pos = np.array([r["score"] for r in rows if r["defective"]], dtype=np.float64)
    neg = np.array([r["score"] for r in rows if not r["defective"]], dtype=np.float64)
    out: dict[str, Any] = {"products": len(rows), "defective": len(pos), "good": len(neg),
                           "roc_auc": roc_auc(pos, neg)}  # fmt: skip
    for frr in FALSE_REJECT_RATES:
        esc, thr = escape_rate(pos, neg, frr)
        out[f"escape_at_frr_{frr:g}"] = esc
        out[f"threshold_at_frr_{frr:g}"] = thr
    return out


def _marked_boxes(
    doc: Mapping[str, Any], defect_ids: set[int]
) -> tuple[dict[int, Any], set[int], dict[tuple[Any, Any], list[tuple[str, tuple[float, ...]]]]]:
    """The categories by id, the nuisance category ids, and every true defect's and
    nuisance's frame box by frame: ``(kind, box)``, kind ``"defect"`` or the
    nuisance's name."""
    cats = {int(c["id"]): c for c in doc["categories"]}
    nuisance = {cid for cid, c in cats.items() if c.get("supercategory") == "nuisance"}
    images = {int(i["id"]): i for i in doc["images"]}
    boxes: dict[tuple[Any, Any], list[tuple[str, tuple[float, ...]]]] = {}
    for a in doc["annotations"]:
        img = images.get(int(a["image_id"]))
        cid = int(a["category_id"])
        if img is None or (cid not in nuisance and cid not in defect_ids):
            continue
        kind = "defect" if cid in defect_ids else str(cats[cid].get("name"))
        boxes.setdefault(_frame_key(img), []).append((kind, _frame_box(img, a["bbox"])))
    return cats, nuisance, boxes


def nuisance_false_positives(
    doc: Mapping[str, Any],
    detections: Sequence[Mapping[str, Any]],
    defect_ids: set[int],
    threshold: float,
    products: int,
) -> dict[str, float]:
    """Predicted defects scoring above ``threshold`` whose box centre (in the frame)
    lies inside a nuisance's box and inside no true defect's, per 100 of
    ``products``, by nuisance category name (each detection counted once, for the
    first nuisance it falls on)."""
    cats, nuisance, boxes = _marked_boxes(doc, defect_ids)
    images = {int(i["id"]): i for i in doc["images"]}
    counts = {str(cats[c].get("name")): 0 for c in sorted(nuisance)}
    for d in detections:
        img = images.get(int(d["image_id"]))
        if img is None or int(d["category_id"]) not in defect_ids or float(d["score"]) <= threshold:
            continue
        x0, y0, x1, y1 = _frame_box(img, d["bbox"])
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        under = [
            k
            for k, b in boxes.get(_frame_key(img), [])
            if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]
        ]
        if under and "defect" not in under:
            counts[under[0]] += 1
    return {k: round(100.0 * v / max(products, 1), 2) for k, v in counts.items()}


def _inside(c: tuple[float, float], boxes: Sequence[Sequence[float]]) -> bool:
    return any(b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3] for b in boxes)


def structure_false_positives(
    doc: Mapping[str, Any],
    detections: Sequence[Mapping[str, Any]],
    defect_ids: set[int],
    threshold: float,
    products_n: int,
) -> dict[str, float]:
    """Predicted defects scoring above ``threshold`` whose box centre lies on no true
    defect's box and no nuisance's, per 100 of ``products_n``: ``on_products`` (the
    centre inside a product's box) and ``elsewhere``. Detections on overlapping
    tiles are merged on the frame first (:func:`frame_detections`)."""
    taken = {k: [b for _, b in v] for k, v in _marked_boxes(doc, defect_ids)[2].items()}
    boxes: dict[tuple[Any, Any], list[tuple[float, ...]]] = {}
    for (scene, view, _), p in products(doc, defect_ids).items():
        boxes.setdefault((scene, view), []).append(p["box"])
    counts = {"on_products": 0, "elsewhere": 0}
    for d in frame_detections(doc["images"], detections):
        if d["category_id"] not in defect_ids or d["score"] <= threshold:
            continue
        x, y, w, h = d["bbox"]
        c, key = (x + w / 2, y + h / 2), (d["scene_id"], d["view"])
        if not _inside(c, taken.get(key, [])):
            counts["on_products" if _inside(c, boxes.get(key, [])) else "elsewhere"] += 1
    return {k: round(100.0 * v / max(products_n, 1), 2) for k, v in counts.items()}


def qc_metrics(
    doc: Mapping[str, Any], detections: Sequence[Mapping[str, Any]], defect_ids: set[int]
) -> dict[str, Any]:
    """Product-level accept/reject metrics, overall and per product type, and the
    false positives on nuisances (see the module docstring); ``{}`` when the
    document has no products."""
    rows = product_scores(doc, detections, defect_ids)
    if not rows:
        return {}
    per = {
        name: _summary([r for r in rows if r["product"] == name])
        for name in sorted({r["product"] for r in rows})
    }
    overall = _summary(rows)
    out = {"overall": overall, "per_product": per}
    thresholds = {
        "frr_0.05": overall.get("threshold_at_frr_0.05"),
        f"score_{FIXED_SCORE:g}": FIXED_SCORE,
    }
    for name, threshold in thresholds.items():
        if threshold is not None:
            out[f"nuisance_fp_per_100_products_at_{name}"] = nuisance_false_positives(
                doc, detections, defect_ids, threshold, len(rows)
            )
            out[f"other_fp_per_100_products_at_{name}"] = structure_false_positives(
                doc, detections, defect_ids, threshold, len(rows)
            )
    return out


def format_qc(qc: Mapping[str, Any]) -> str:
    """The QC table: products, defective, AUC, escape rates at 1 % and 5 % false reject."""
    if not qc:
        return ""

    def pct(v: Any) -> str:
        return "   n/a" if v is None else f"{100 * v:5.1f}%"

    def auc(v: Any) -> str:
        return "  n/a" if v is None else f"{v:.3f}"

    lines = ["QC (product level: a predicted defect on a product rejects it):",
             f"  {'product':<12} {'n':>5} {'defect.':>7} {'AUC':>6} {'escape@1%FR':>12} {'escape@5%FR':>12}"]  # fmt: skip
    for name, s in [("all", qc["overall"]), *qc["per_product"].items()]:
        lines.append(f"  {name:<12} {s['products']:>5} {s['defective']:>7} {auc(s['roc_auc']):>6} "
                     f"{pct(s['escape_at_frr_0.01']):>12} {pct(s['escape_at_frr_0.05']):>12}")  # fmt: skip
    fp = qc.get("nuisance_fp_per_100_products_at_frr_0.05")
    if fp:
        shown = ", ".join(f"{k} {v:g}" for k, v in fp.items())
        lines.append(f"  false defects on nuisances per 100 products (5 % false reject): {shown}")
    other = qc.get("other_fp_per_100_products_at_frr_0.05")
    if other:
        lines.append(f"  other false defects per 100 products (5 % false reject): on the products "
                     f"{other['on_products']:g}, elsewhere {other['elsewhere']:g}")  # fmt: skip
    fixed = qc.get(f"nuisance_fp_per_100_products_at_score_{FIXED_SCORE:g}")
    other = qc.get(f"other_fp_per_100_products_at_score_{FIXED_SCORE:g}")
    if fixed is not None and other is not None:
        lines.append(f"  false defects per 100 products at score {FIXED_SCORE:g}: on nuisances "
                     f"{sum(fixed.values()):g}, on the "
                     f"products {other['on_products']:g}, elsewhere {other['elsewhere']:g}")  # fmt: skip
    return "\n".join(lines)
