"""``synthcv report``: one self-contained HTML page that shows what a COCO dataset
holds: the dataset card (config, seed, versions, counts, render time), per-class
counts, box size and aspect histograms, the object-centre heatmap, visibility,
defect-size and keypoint-visibility distributions where the dataset has them, and
per-class mosaics with masks, boxes and keypoints drawn.

It works on datasets rendered or augmented by synthcv and on third-party COCO
files (a folder with ``annotations.json``, or the JSON file itself with images
relative to its folder). It depends on :mod:`render.formats` only.

    stats.py    the numbers (pure)
    plots.py    matplotlib charts
    mosaics.py  example crops per class
    page.py     the HTML
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from render.atomic import atomic_write_bytes
from render.errors import UserError
from render.formats.inputs import InputError, Limits, read_json, read_regular
from render.outputs import OutputLock

GENERATOR_TAG = b'<meta name="generator" content="synthcv report">'


@dataclass(frozen=True)
class ReportResult:
    path: Path
    bytes: int
    images: int
    annotations: int
    classes: int
    charts: int
    tiles: int
    unreadable_tiles: int


def _sources(dataset: Path) -> tuple[Path, Path]:
    """(annotations file, image root) of ``dataset`` (a folder or a COCO json)."""
    if dataset.is_dir():
        return dataset / "annotations.json", dataset
    if dataset.suffix.lower() == ".json" and dataset.exists():
        return dataset, dataset.parent
    raise UserError(f"{dataset}: not a dataset folder (with annotations.json) or a COCO .json file")


def _meta(root: Path) -> tuple[Any, str | None]:
    """``root/dataset.json`` (any JSON) or None, and why it could not be read."""
    path = root / "dataset.json"
    if not path.exists():
        return None, None
    try:
        return read_json(path, 64 << 20, "dataset.json"), None
    except InputError as exc:
        return None, str(exc)


def _check_target(out: Path) -> None:
    """Refuse to replace a file that is not an earlier synthcv report."""
    if out.is_dir():
        raise UserError(
            f"--out {out}: is a directory; give a file name such as {out / 'report.html'}"
        )
    if out.exists():
        try:
            head = read_regular(out, 1 << 30, "report", head=4096)
        except InputError as exc:
            raise UserError(f"--out {out}: {exc.detail}") from None
        if GENERATOR_TAG not in head:
            raise UserError(
                f"{out}: exists and is not a synthcv report; not replacing it (use --out)"
            )
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")


def _write(out: Path, text: str) -> int:
    data = text.encode("utf-8")
    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return len(data)


def build_report(
    dataset: Path,
    out: Path | None = None,
    *,
    limits: Limits | None = None,
    seed: int = 0,
    per_class: int = 6,
    progress: bool = False,
) -> ReportResult:
    """Write the report of ``dataset`` to ``out`` (default ``DIR/report.html``),
    holding its lock; an existing file is replaced only if it is a synthcv report."""
    limits = limits or Limits()
    ann_file, root = _sources(Path(dataset))
    out = Path(out) if out is not None else root / "report.html"
    _check_target(out)
    with OutputLock(out, inside=False):
        return _build(ann_file, root, out, limits, seed, per_class, progress)


def _build(
    ann_file: Path, root: Path, out: Path, limits: Limits, seed: int, per_class: int, progress: bool
) -> ReportResult:
    from render import __version__
    from render.progress import Progress
    from render.report import coverage, mosaics, page, plots, stats

    doc = read_json(ann_file, limits.json_bytes, "annotations file", finite=False)
    if not isinstance(doc, dict):
        raise UserError(f"{ann_file}: expected a COCO JSON object, got {type(doc).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise UserError(f"{ann_file}: '{key}' must be a list")
    meta, meta_problem = _meta(root)
    s = stats.compute(doc)
    charts = plots.charts(s)
    total = min(len([c for c in s.classes if c.instances]), mosaics.MAX_CLASSES) * per_class
    bar = Progress(progress, total, "report")
    try:
        tiles = mosaics.mosaics(doc, root, limits, seed=seed, per_class=per_class,
                                tick=lambda: bar.advance(1))  # fmt: skip
    finally:
        bar.stop()
    rows = page.card_rows(meta, doc, s)
    if meta_problem:
        rows.insert(0, ("dataset.json", page.esc(f"not read: {meta_problem}")))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    text = page.page(
        title=f"{root.resolve().name}: dataset report",
        subtitle=f"{root.resolve().name}/{ann_file.name}",
        source=str(ann_file.resolve()),
        rows=rows,
        stats=s,
        charts=charts,
        mosaics=tiles,
        meta=meta,
        coverage=coverage.section(coverage.tables(doc, coverage.targets_of(meta))),
        footer=f"Generated by synthcv {__version__} on {now} (mosaic seed {seed}).",
    )
    size = _write(out, text)
    flat = [t for m in tiles for t in m.tiles]
    return ReportResult(
        path=out,
        bytes=size,
        images=s.n_images,
        annotations=s.n_annotations,
        classes=len(s.classes),
        charts=len(charts),
        tiles=len(flat),
        unreadable_tiles=sum(not t.ok for t in flat),
    )
