"""What ``synthcv evaluate`` reports beyond COCOeval, from a dataset and its
detections (pure numpy): the QC metrics of a defects dataset, the detections on
whole frames of a tiled one, recall by visibility, height and person group,
per-joint PCK of a keypoint detector."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from render.training.pck import pck_table
from render.training.qc import frame_detections, qc_metrics
from render.training.recall import recall_tables


def dataset_qc(dataset: Any, dets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The QC metrics (:mod:`render.training.qc`) of ``dets`` on the images of
    ``dataset`` (its split), when it has defect categories (supercategory
    ``defect``); else ``{}``."""
    cats = dataset.source.coco["categories"]
    defect_ids = {int(c["id"]) for c in cats if c.get("supercategory") == "defect"}
    if not defect_ids:
        return {}
    ids = {int(i["id"]) for i in dataset.images}
    doc = {
        "images": list(dataset.images),
        "annotations": [a for a in dataset.source.coco["annotations"] if a["image_id"] in ids],
        "categories": cats,
    }
    return qc_metrics(doc, dets, defect_ids)


def recall_of(
    annotations: Sequence[Mapping[str, Any]], dets: Sequence[Mapping[str, Any]], score_min: float
) -> dict[str, Any]:
    """Recall by visibility, height and group (:mod:`render.training.recall`) for a
    dataset whose annotations carry ``visibility`` or person attributes; else ``{}``."""
    keys = ("age_years", "skin_tone", "gender")
    if not any(
        "visibility" in a or any(k in (a.get("attributes") or {}) for k in keys)
        for a in annotations
    ):
        return {}
    return recall_tables(annotations, dets, score_min)


def tiled_frames(dataset: Any, dets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """For a dataset of tiles, the detections on each view's whole frame (qc.py)."""
    if not any(isinstance(i.get("tile"), dict) for i in dataset.images):
        return None
    return frame_detections(dataset.images, dets)


def pck_of(
    gt: Mapping[str, Any], dets: Sequence[Mapping[str, Any]], score_min: float
) -> dict[str, Any]:
    """Per-joint PCK (:mod:`render.training.pck`) when the detections carry keypoints
    and a category names its joints; else ``{}``."""
    names = next((c["keypoints"] for c in gt.get("categories", []) if c.get("keypoints")), None)
    if not names or not any(d.get("keypoints") for d in dets):
        return {}
    return pck_table(gt["annotations"], dets, names, score_min)
