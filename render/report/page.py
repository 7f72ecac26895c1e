"""The report's HTML: one self-contained page (styles inline, every image a
``data:`` URI, no script, nothing fetched), built from the dataset card, the
charts and the mosaics. Every value from the dataset is escaped."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import Any

from render.report.mosaics import TILE, Mosaic
from render.report.plots import Chart
from render.report.stats import Stats

GENERATOR = "synthcv report"
MAX_RECORD_CHARS = 200_000

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#f6f6f4}
header{background:#20262e;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#c8d0da}
main{padding:8px 28px 40px;max-width:1400px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
table.card{border-collapse:collapse;background:#fff}
table.card th{text-align:left;font-weight:600;padding:4px 16px 4px 8px;vertical-align:top;white-space:nowrap;color:#555}
table.card td{padding:4px 8px;font-family:ui-monospace,monospace;font-size:13px}
table.card tr:nth-child(odd){background:#fafafa}
table.classes{border-collapse:collapse;background:#fff;font-size:13px}
table.classes th,table.classes td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
table.classes th:first-child,table.classes td:first-child{text-align:left}
table.coverage{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0 12px}
table.coverage th,table.coverage td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
table.coverage th:first-child,table.coverage td:first-child{text-align:left}
.warn{background:#fff3cd;border:1px solid #e0c46c;padding:8px 12px;margin:12px 0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
figure{margin:0;background:#fff;border:1px solid #e2e2e2;padding:10px}
figure img,figure svg{max-width:100%;height:auto;display:block;margin:auto}
figcaption{color:#555;font-size:12.5px;margin-top:6px}
.mosaics{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
.mosaics section{background:#fff;border:1px solid #e2e2e2;padding:10px}
.mosaics h3{margin:0 0 8px;font-size:15px}
.mosaic{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:6px}
.mosaic figure{padding:0;border:0} .mosaic img{width:100%;height:auto}
.mosaic figcaption{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;margin-top:2px}
table.times{border-collapse:collapse;font-size:13px}
table.times td{padding:1px 12px 1px 0;font-family:ui-monospace,monospace}
table.times td.n{text-align:right}
details pre{background:#fff;border:1px solid #e2e2e2;padding:10px;overflow:auto;max-height:480px;font-size:12px}
"""


def esc(v: Any, limit: int = 400) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    if len(text) > limit:
        text = text[:limit] + " …"
    return html.escape(text)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _seconds(v: Any) -> str:
    if not isinstance(v, int | float) or isinstance(v, bool):
        return str(v)
    if v >= 3600:
        return f"{v / 3600:.2f} h"
    if v >= 120:
        return f"{v / 60:.1f} min"
    if v >= 1:
        return f"{v:.1f} s"
    return f"{v * 1000:.0f} ms" if v >= 0.001 else "<1 ms"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def render_times(total: dict[str, Any], mean: Any, images: int) -> str:
    """The render time as a small table, slowest stage first: stage, total, per
    image, share; stages that took no time and counters of 0 are left out, the
    other counters (views, passes) follow on one line. Returns escaped HTML."""
    mean = mean if isinstance(mean, dict) else {}
    timed = sorted(
        ((k, v) for k, v in total.items() if k.endswith("_s") and _number(v) and v > 0),
        key=lambda kv: -kv[1],
    )
    whole = sum(v for _, v in timed) or 1.0
    shown = [(k, v) for k, v in timed if v / whole >= 0.01]
    small = [(k, v) for k, v in timed if v / whole < 0.01]

    def row(name: str, v: float, per: Any) -> str:
        per_text = esc(_seconds(per)) if _number(per) else ""
        return (
            f"<tr><td>{esc(name)}</td><td class=n>{esc(_seconds(v))}</td>"
            f"<td class=n>{per_text}</td>"
            f"<td class=n>{f'{v / whole:.0%}' if v / whole >= 0.005 else '<1%'}</td></tr>"
        )

    rows = "".join(row(k.removesuffix("_s"), v, mean.get(k)) for k, v in shown)
    if small:  # under 1 % each: one line, named
        names = ", ".join(k.removesuffix("_s") for k, _ in small)
        rest = sum(v for _, v in small)
        rows += row(f"other ({names})", rest, rest / images if images else None)
    counts = ", ".join(
        f"{esc(k.replace('_', ' '))} {v:g}"
        for k, v in total.items()
        if not k.endswith("_s") and _number(v) and v
    )
    head = (
        "<tr><td></td><td class=n>total</td><td class=n>per image</td><td class=n>share</td></tr>"
    )
    table = f'<table class="times">{head}{rows}</table>' if timed else ""
    return table + (f"<div>{counts} (in {images:,} image(s))</div>" if counts else "")


def card_rows(meta: Any, doc: dict[str, Any], stats: Stats) -> list[tuple[str, str]]:
    """(label, value) rows of the dataset card from ``dataset.json`` (``meta``, any
    JSON or None) and the COCO document; unknown layouts show what they have."""
    rows: list[tuple[str, Any]] = []
    config = _get(meta, "config")
    if isinstance(config, dict):
        family = _get(config, "scene", "family") or "?"
        rows.append(("kind", f"rendered by synthcv: {family} family"))
        rows.append(("status", _get(meta, "status")))
        r = _get(config, "render") or {}
        if isinstance(r, dict):
            rows.append(
                (
                    "render settings",
                    f"{r.get('resolution')} px, {r.get('samples')} samples, denoiser "
                    f"{r.get('denoiser')}, {r.get('views_per_scene')} views/scene, "
                    f"device {r.get('device')}",
                )
            )
        rows.append(("scenes", _get(meta, "scenes")))
    elif _get(meta, "kind") == "augment":
        rows.append(("kind", f"augmented by synthcv from {_get(meta, 'source')}"))
        pipe = _get(meta, "pipeline", "transform", "transforms")
        if isinstance(pipe, list):
            names = [str(_get(t, "__class_fullname__") or "?").rsplit(".", 1)[-1] for t in pipe]
            rows.append(("pipeline", ", ".join(names)))
        rows.append(
            ("copies", f"{_get(meta, 'copies')} (originals kept: {_get(meta, 'keep_originals')})")
        )
        rows.append(("counts", _get(meta, "counts")))
    else:
        rows.append(("kind", "COCO dataset (no synthcv dataset.json)"))
        info = doc.get("info")
        if isinstance(info, dict):
            for k in ("description", "version", "year", "contributor", "url", "date_created"):
                if k in info:
                    rows.append((f"info.{k}", info[k]))
    if meta is not None:
        rows.append(("seed", _get(meta, "seed")))
        rows.append(("created", _get(meta, "created")))
    rows.append(("images", f"{stats.n_images:,}"))
    rows.append(("annotations", f"{stats.n_annotations:,}"))
    rows.append(("categories", f"{len(stats.classes):,}"))
    if stats.resolutions:
        common = ", ".join(f"{w}x{h} ({n:,})" for (w, h), n in stats.resolutions.most_common(4))
        more = len(stats.resolutions) - 4
        rows.append(("resolutions", common + (f", {more} more" if more > 0 else "")))
    if stats.nested:
        rows.append(
            (
                "nested instances",
                f"{stats.nested:,} (with a scene_parent, e.g. defects on products)",
            )
        )
    timings = _get(meta, "timings")
    html_rows: list[tuple[str, str]] = []
    if isinstance(timings, dict) and isinstance(config, dict):
        total = timings.get("total_s")
        if isinstance(total, dict) and total:
            html_rows.append(
                (
                    "render time",
                    render_times(total, timings.get("per_image_mean_s"), stats.n_images),
                )
            )
        rows.append(
            (
                "last run",
                f"{_seconds(timings.get('wall_s'))} wall, {timings.get('images_per_s')} images/s",
            )
        )
    elif isinstance(timings, dict):
        rows.append(("timings", timings))
    versions = _get(meta, "versions")
    if isinstance(versions, dict):
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    return [(k, esc(v)) for k, v in rows if v is not None] + html_rows


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _class_table(stats: Stats) -> str:
    rows = "".join(
        f"<tr><td>{esc(c.name)}</td><td>{c.id}</td><td>{esc(c.supercategory)}</td>"
        f"<td>{c.instances:,}</td><td>{c.crowd:,}</td><td>{c.images:,}</td>"
        f"<td>{len(c.keypoints) or ''}</td></tr>"
        for c in stats.classes
    )
    return (
        '<table class="classes"><tr><th>class</th><th>id</th><th>supercategory</th>'
        "<th>instances</th><th>crowd</th><th>images</th><th>keypoints</th></tr>"
        f"{rows}</table>"
    )


def page(
    title: str,
    subtitle: str,
    source: str,
    rows: Sequence[tuple[str, str]],
    stats: Stats,
    charts: Sequence[Chart],
    mosaics: Sequence[Mosaic],
    meta: Any,
    footer: str,
    coverage: str = "",
) -> str:
    """The whole HTML document; ``source``: the full path of the annotations, shown
    only in the fold-out (the header names the folder); ``coverage``: the coverage
    card's HTML (:mod:`render.report.coverage`), "" for none."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><main>",
        '<h2 id="card">Dataset card</h2><table class="card">',
        *(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows),
        "</table>",
    ]
    if stats.skipped:
        parts.append(
            f'<div class="warn">{stats.skipped:,} annotation(s) could not be used and are left '
            f"out of the charts (first: {esc(stats.skipped_reason)}); run "
            "<code>synthcv validate</code> on this dataset.</div>"
        )
    record = json.dumps(meta, indent=2, default=str) if meta is not None else ""
    cut = len(record) > MAX_RECORD_CHARS
    parts.append(
        "<details><summary>source and dataset.json (config, versions, timings)</summary>"
        f"<p>annotations: <code>{esc(source, 4096)}</code></p>"
        + (
            f"<pre>{html.escape(record[:MAX_RECORD_CHARS])}{' …' if cut else ''}</pre>"
            if meta is not None
            else ""
        )
        + "</details>"
    )
    parts += ['<h2 id="classes">Classes</h2>', _class_table(stats)]
    parts.append('<h2 id="charts">Distributions</h2><div class="charts">')
    for c in charts:
        parts.append(
            f'<figure id="chart-{c.key}" aria-label="{esc(c.title)}">{c.svg}'
            f"<figcaption><b>{esc(c.title)}.</b> {esc(c.caption)}</figcaption></figure>"
        )
    parts.append("</div>")
    if coverage:
        parts.append(coverage)
    if mosaics:
        parts.append('<h2 id="mosaics">Examples per class</h2><div class="mosaics">')
    for m in mosaics:
        parts.append(f'<section><h3>{esc(m.name)}</h3><div class="mosaic">')
        for t in m.tiles:
            parts.append(
                f'<figure title="{esc(t.title)}"><img alt="{esc(t.caption)}" width="{TILE}" '
                f'height="{TILE}" src="data:image/jpeg;base64,{_b64(t.jpeg)}">'
                f"<figcaption>{esc(t.caption)}</figcaption></figure>"
            )
        parts.append("</div></section>")
    if mosaics:
        parts.append("</div>")
    parts.append(f'<p style="color:#888;margin-top:32px">{esc(footer)}</p></main></body></html>')
    return "\n".join(parts)
