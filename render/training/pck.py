"""Per-joint PCK of a keypoint detector (pure numpy): the Percentage of Correct
Keypoints, each joint's share of the labelled keypoints that the detector puts
within ``alpha`` times the person's size of the truth.

- Every non-crowd annotation with labelled keypoints (``v > 0``) counts, whether
  the detector found the person or not: a missed person's joints are all wrong,
  so PCK measures the whole system, not only the poses of people it found.
- A person is matched to a detection of its category scoring at least
  ``score_min`` with box IoU >= 0.5, greedily, highest score first
  (:func:`render.training.recall.matched`, COCOeval's rule).
- A keypoint is correct when the matched detection's keypoint of the same joint is
  within ``alpha * max(w, h)`` pixels of it, with ``w, h`` the annotation's box
  (the amodal box when it has one: the whole person), for each ``alpha`` of
  ``ALPHAS`` (0.1 and 0.2, as in Yang and Ramanan's PCK).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from render.training.recall import matched

ALPHAS = (0.1, 0.2)


def pck_table(
    annotations: Sequence[Mapping[str, Any]],
    detections: Sequence[Mapping[str, Any]],
    joint_names: Sequence[str],
    score_min: float = 0.5,
    alphas: Sequence[float] = ALPHAS,
) -> dict[str, Any]:
    """``{"people", "matched", "alphas", "joints": {name: {"n", "pck@a"...}}, "all"}``;
    ``{}`` when no annotation has labelled keypoints."""
    people = [
        a for a in annotations
        if not a.get("iscrowd") and a.get("keypoints") and any(v > 0 for v in a["keypoints"][2::3])
    ]  # fmt: skip
    if not people:
        return {}
    pairs = matched(people, detections, score_min)
    n_j = len(joint_names)
    total = np.zeros(n_j, dtype=np.int64)
    hits = np.zeros((len(alphas), n_j), dtype=np.int64)
    for a in people:
        gt = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3)[:n_j]
        labelled = gt[:, 2] > 0
        total[: len(gt)] += labelled
        det = pairs.get(a["id"])
        if det is None or not det.get("keypoints"):
            continue
        pred = np.asarray(det["keypoints"], dtype=np.float64).reshape(-1, 3)[: len(gt), :2]
        box = a.get("bbox_amodal") or a["bbox"]
        size = max(float(box[2]), float(box[3]))
        dist = np.linalg.norm(pred - gt[:, :2], axis=1)
        for k, alpha in enumerate(alphas):
            hits[k, : len(gt)] += labelled & (dist <= alpha * size)

    def share(h: int, n: int) -> float | None:
        return round(h / n, 4) if n else None

    joints = {
        name: {
            "n": int(total[j]),
            **{f"pck@{a:g}": share(int(hits[k, j]), int(total[j])) for k, a in enumerate(alphas)},
        }  # fmt: skip
        for j, name in enumerate(joint_names)
    }
    n_all = int(total.sum())
    overall = {
        "n": n_all,
        **{f"pck@{a:g}": share(int(hits[k].sum()), n_all) for k, a in enumerate(alphas)},
    }
    return {"people": len(people), "matched": len(pairs), "score_min": score_min,
            "alphas": list(alphas), "joints": joints, "all": overall}  # fmt: skip


def format_pck(table: Mapping[str, Any]) -> str:
    """The PCK table as text (``synthcv evaluate``)."""
    if not table:
        return ""
    alphas = table["alphas"]
    lines = [
        f"keypoints PCK ({table['people']} people, {table['matched']} matched by a detection "
        f"scoring >= {table['score_min']:g}; a missed person's joints count as wrong):",
        f"  {'joint':<15} {'n':>6} " + " ".join(f"{'@' + format(a, 'g'):>7}" for a in alphas),
    ]

    def row(label: str, r: Mapping[str, Any]) -> str:
        vals = " ".join(
            "    n/a" if r[f"pck@{a:g}"] is None else f"{r[f'pck@{a:g}']:7.3f}" for a in alphas
        )
        return f"  {label:<15} {r['n']:>6} {vals}"

    lines += [row(name, r) for name, r in table["joints"].items()]
    lines.append(row("all", table["all"]))
    return "\n".join(lines)
