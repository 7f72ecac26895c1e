"""What ``synthcv evaluate`` found (:class:`EvalReport`), as the tables it prints
(:func:`format_report`) and the files it writes (:func:`write_report`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render.atomic import atomic_write_json
from render.formats import coco
from render.training.pck import format_pck
from render.training.qc import format_qc
from render.training.recall import format_recall


@dataclass
class EvalReport:
    """What ``render.training.evaluate`` found: per IoU type the COCOeval result,
    the categories evaluated (COCO dicts) and where the files went."""

    results: dict[str, coco.EvalResult]
    categories: list[dict[str, Any]]
    images: int
    detections: int
    files: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    image_size: tuple[int, int] | None = None  # the model's (min_size, max_size)
    native: int | None = None  # windows of this side at native resolution (--native)
    qc: dict[str, Any] = field(default_factory=dict)  # product-level metrics (qc.py)
    frames: list[dict[str, Any]] | None = None  # tiled datasets: detections per whole frame
    recall: dict[str, Any] = field(default_factory=dict)  # by visibility, height, group
    pck: dict[str, Any] = field(default_factory=dict)  # per-joint PCK (keypoint models)


def format_report(report: EvalReport) -> str:
    """The standard COCOeval tables, then AP and AP50 per category (with their
    bootstrap intervals where asked), then the QC, recall and PCK tables."""
    names = {int(c["id"]): str(c.get("name")) for c in report.categories}
    width = max([8, *(len(n) for n in names.values())])
    lines: list[str] = []
    for kind, res in report.results.items():
        lines += [f"{kind}:", res.summary]
        ci = "bootstrap" in res.stats
        head = f"  {'category':<{width}}  {'n_gt':>5}  {'AP':>6}  {'AP50':>6}"
        lines.append(head + ("  AP50 95 % interval" if ci else ""))
        for cid, row in res.per_class.items():
            ap, ap50 = (f"{row[k]:6.3f}" if row[k] >= 0 else "   n/a" for k in ("AP", "AP50"))
            line = f"  {names.get(cid, str(cid)):<{width}}  {int(row['n_gt']):>5}  {ap}  {ap50}"
            lines.append(line + (f"  {_interval(row.get('AP50_ci'))}" if ci else ""))
        if ci:
            boot = res.stats["bootstrap"]
            lines.append(f"  mean AP50 {res.stats['AP50']:.3f}, 95 % interval "
                         f"{_interval(res.stats.get('AP50_ci'))} ({boot['n']} draws of the "
                         f"test {boot['unit']}s with replacement)")  # fmt: skip
    if report.qc:
        lines.append(format_qc(report.qc))
    if report.recall:
        lines.append(format_recall(report.recall))
    if report.pck:
        lines.append(format_pck(report.pck))
    return "\n".join(lines)


def _interval(ci: Sequence[float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"


def write_report(report: EvalReport, detections: list[dict[str, Any]], out: Path) -> None:
    """``out/detections.json`` (COCO results) and ``out/metrics.json``."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "detections.json", detections)
    metrics = {
        kind: {
            "stats": r.stats,
            "per_class": {
                str(c.get("name")): r.per_class[int(c["id"])]
                for c in report.categories
                if int(c["id"]) in r.per_class
            },
        }
        for kind, r in report.results.items()
    }
    doc = {"images": report.images, "detections": report.detections, "metrics": metrics,
           "categories": [c.get("name") for c in report.categories],
           "not_evaluated": report.skipped, "timings": report.timings}  # fmt: skip
    if report.image_size is not None:
        doc["image_size"] = {"min_size": report.image_size[0], "max_size": report.image_size[1]}
    if report.native is not None:
        doc["native_window"] = report.native
    if report.qc:
        doc["qc"] = report.qc
    if report.recall:
        doc["recall"] = report.recall
    if report.pck:
        doc["pck"] = report.pck
    atomic_write_json(out / "metrics.json", doc, indent=2)
    report.files = {
        "detections": str(out / "detections.json"),
        "metrics": str(out / "metrics.json"),
    }
    if report.frames is not None:
        atomic_write_json(out / "frame_detections.json", report.frames)
        report.files["frame_detections"] = str(out / "frame_detections.json")
