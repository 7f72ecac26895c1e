"""How sure an AP50 is: a percentile bootstrap over a test set's scenes.

A test set of 25 products with 3 chips gives a chip AP50, but not how far another
25 products would move it. Here the test set's scenes are drawn with replacement
``n`` times (all images of a scene together: its tiles and views are not
independent), and each draw's AP50 per category and mean over the categories is
computed from the per-image matches of one ``COCOeval.evaluate()``: the same
greedy matching at IoU 0.5 (OKS 0.5 for keypoints), area ``all``, the last
``maxDets``, and the interpolation of ``COCOeval.accumulate()`` (101 recall
points, precision made monotone). With every scene drawn once it reproduces
COCOeval's AP50 exactly (tested). pycocotools cannot do this itself: it
de-duplicates the image ids it is given.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL = 0.95
"""The interval's coverage: its ends are the 2.5th and 97.5th percentiles."""


@dataclass
class _Matches:
    """One category's detections on one image: scores, whether each is a true
    positive at the first IoU threshold (ignored detections dropped; the rest are
    false positives), true instances."""

    scores: np.ndarray
    tp: np.ndarray
    n_gt: int


def _matches(ev: Any) -> dict[int, list[_Matches | None]]:
    """Category id -> per image of ``ev.params.imgIds`` its matches (None: no
    ground truth and no detection there), from an evaluated ``COCOeval``."""
    p = ev.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    max_det = p.maxDets[-1]
    out: dict[int, list[_Matches | None]] = {}
    for k, cat in enumerate(p.catIds):
        rows: list[_Matches | None] = []
        for i in range(n_img):
            e = ev.evalImgs[k * n_area * n_img + i]  # area index 0: "all"
            if e is None:
                rows.append(None)
                continue
            scores = np.asarray(e["dtScores"][:max_det], dtype=np.float64)
            matched = np.asarray(e["dtMatches"][0, :max_det]) > 0
            ignored = np.asarray(e["dtIgnore"][0, :max_det]).astype(bool)
            keep = ~ignored
            n_gt = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
            rows.append(_Matches(scores[keep], matched[keep], n_gt))
        out[int(cat)] = rows
    return out


def ap50(rows: Sequence[_Matches | None], rec_thrs: np.ndarray) -> float | None:
    """AP of the pooled matches of ``rows`` as ``COCOeval.accumulate()`` computes
    it (None: no true instance among them)."""
    got = [r for r in rows if r is not None]
    n_gt = sum(r.n_gt for r in got)
    if n_gt == 0:
        return None
    if not got or not sum(len(r.scores) for r in got):
        return 0.0
    scores = np.concatenate([r.scores for r in got])
    order = np.argsort(-scores, kind="mergesort")
    hit = np.concatenate([r.tp for r in got])[order]
    tp = np.cumsum(hit, dtype=np.float64)
    fp = np.cumsum(~hit, dtype=np.float64)
    recall = tp / n_gt
    precision = np.maximum.accumulate((tp / (tp + fp + np.spacing(1)))[::-1])[::-1]
    at = np.searchsorted(recall, rec_thrs, side="left")
    q = np.zeros(len(rec_thrs))
    ok = at < len(precision)
    q[ok] = precision[at[ok]]
    return float(q.mean())


def scenes(image_ids: Sequence[int], groups: Mapping[int, Hashable]) -> list[list[int]]:
    """Positions in ``image_ids`` of each scene's images (``groups``: image id ->
    scene; an image missing there is a scene of its own), scenes in first-seen order."""
    members: dict[Hashable, list[int]] = {}
    for pos, i in enumerate(image_ids):
        members.setdefault(groups.get(i, ("image", i)), []).append(pos)
    return list(members.values())


def draw(rng: np.random.Generator, members: Sequence[Sequence[int]]) -> list[int]:
    """One bootstrap sample: as many scenes as there are, with replacement; the
    positions of their images, scene after scene."""
    return [pos for g in rng.integers(0, len(members), len(members)) for pos in members[g]]


def intervals(ev: Any, groups: Mapping[int, Hashable], n: int, seed: int = 0) -> dict[str, Any]:
    """Percentile intervals (:data:`LEVEL`) of AP50 per category and of its mean
    over categories, from ``n`` draws of ``groups`` (image id -> scene) with
    replacement, for an evaluated ``COCOeval`` ``ev``. ``{"per_class": {cat id:
    [lo, hi] or None}, "mean": [lo, hi] or None}`` and :func:`about`'s keys; None
    where no draw had a true instance of the category."""
    members = scenes([int(i) for i in ev.params.imgIds], groups)
    rec_thrs = np.asarray(ev.params.recThrs)
    matches = _matches(ev)
    rng = np.random.default_rng(seed)
    draws: dict[int, list[float]] = {c: [] for c in matches}
    means: list[float] = []
    for _ in range(n):
        picked = draw(rng, members)
        aps = [(c, ap50([rows[pos] for pos in picked], rec_thrs)) for c, rows in matches.items()]
        for c, v in aps:
            if v is not None:
                draws[c].append(v)
        if got := [v for _, v in aps if v is not None]:
            means.append(float(np.mean(got)))
    return {
        "per_class": {c: _interval(v) for c, v in draws.items()},
        "mean": _interval(means),
        **about(n),
    }


def about(n: int) -> dict[str, Any]:
    """What an interval rests on: ``n`` draws of whole scenes, its coverage."""
    return {"n": n, "unit": "scene", "level": LEVEL}


def _interval(values: Sequence[float]) -> list[float] | None:
    if not values:
        return None
    tail = (1 - LEVEL) / 2 * 100
    lo, hi = np.percentile(np.asarray(values), [tail, 100 - tail])
    return [round(float(lo), 4), round(float(hi), 4)]
