"""The report's charts: matplotlib figures (no pyplot state) rendered to SVG that
the page inlines, so a browser lays out (and a test can measure) every artist.
Each function returns None when the dataset has nothing to show for it.

Names from the dataset are drawn as written (:func:`label`: a ``$`` would start
matplotlib's math text); the SVG keeps text as paths and holds no comments, so no
string of the dataset reaches the page through a chart."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from render.report.stats import Stats

TOP = 8  # classes drawn separately in per-class histograms; the rest are "other"
DPI = 100
INK = "#333333"


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    caption: str
    svg: str
    """An ``<svg>`` element (no XML prolog, no comments), sized in points."""


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_COMMENTS = re.compile(r"<!--.*?-->\s*", re.S)


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return _COMMENTS.sub("", _PROLOG.sub("", buf.getvalue(), count=1)).strip()


def label(name: str) -> str:
    """A dataset's name as matplotlib text that is drawn as written."""
    return name.replace("$", r"\$")


def _figure(w: float = 6.0, h: float = 3.4) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def _top_classes(stats: Stats, values_class: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(label, boolean selector) for the TOP most frequent classes in
    ``values_class`` and one "other" group for the rest."""
    counts = np.bincount(values_class, minlength=len(stats.classes))
    order = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    groups = [(label(stats.classes[i].name), values_class == i) for i in order[:TOP]]
    if len(order) > TOP:
        groups.append((f"other {len(order) - TOP} classes", np.isin(values_class, order[TOP:])))
    return groups


def class_counts(stats: Stats) -> Chart | None:
    shown = [c for c in stats.classes if c.instances or c.crowd]
    if not shown:
        return None
    shown = sorted(shown, key=lambda c: -(c.instances + c.crowd))
    rest = shown[60:]
    shown = shown[:60]
    names = [label(c.name) for c in shown]
    inst = np.array([c.instances for c in shown], dtype=float)
    crowd = np.array([c.crowd for c in shown], dtype=float)
    if rest:
        names.append(f"{len(rest)} more classes")
        inst = np.append(inst, sum(c.instances for c in rest))
        crowd = np.append(crowd, sum(c.crowd for c in rest))
    fig = _figure(6.0, max(1.6, 0.28 * len(names) + 0.9))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    ax.barh(y, inst, color="#4477aa", label="instances")
    if crowd.any():
        ax.barh(y, crowd, left=inst, color="#cc6677", label="crowd regions")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlabel("annotations")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for yi, n in zip(y, inst + crowd, strict=True):
        ax.text(n, yi, f" {int(n):,}", va="center", fontsize=7, color=INK)
    ax.margins(x=0.12)
    return Chart(
        "counts",
        "Instances per class",
        "Annotations per category (crowd regions stacked).",
        _svg(fig),
    )


def box_sizes(stats: Stats) -> Chart | None:
    if not len(stats.boxes):
        return None
    side = np.sqrt(stats.boxes[:, 2] * stats.boxes[:, 3])
    lo, hi = max(side.min(), 0.5), max(side.max(), 1.0)
    bins = np.geomspace(lo, hi * 1.0001, 40) if hi > lo else np.array([lo * 0.9, hi * 1.1])
    fig = _figure()
    ax = fig.add_subplot()
    for name, sel in _top_classes(stats, stats.box_class):
        ax.hist(side[sel], bins=bins.tolist(), histtype="step", linewidth=1.4, label=name)
    ax.set_xscale("log")
    for px, what in ((32, "COCO small < 32²"), (96, "large > 96²")):
        if lo < px < hi:
            ax.axvline(px, color="#999999", linestyle=":", linewidth=1)
            ax.text(px, ax.get_ylim()[1] * 0.95, f" {what}", fontsize=7, color="#777777", va="top")
    ax.set_xlabel("box size √(w·h) [px]")
    ax.set_ylabel("instances")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    small = float((side < 32).mean())
    return Chart(
        "box_size",
        "Box sizes",
        f"Geometric mean of box width and height; {small:.0%} of instances are COCO-small.",
        _svg(fig),
    )


def aspect_ratios(stats: Stats) -> Chart | None:
    if not len(stats.boxes):
        return None
    ratio = np.log2(stats.boxes[:, 2] / stats.boxes[:, 3])
    lim = max(1.0, float(np.abs(ratio).max()))
    bins = np.linspace(-lim, lim, 41)
    fig = _figure()
    ax = fig.add_subplot()
    for name, sel in _top_classes(stats, stats.box_class):
        ax.hist(ratio[sel], bins=bins.tolist(), histtype="step", linewidth=1.4, label=name)
    ticks = [t for t in range(-8, 9) if -lim <= t <= lim]
    ax.set_xticks(ticks, [f"{2.0**t:g}" for t in ticks])
    ax.set_xlabel("aspect ratio w / h (log scale)")
    ax.set_ylabel("instances")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    return Chart("aspect", "Box aspect ratios", "Width over height of each box.", _svg(fig))


def centre_heatmap(stats: Stats) -> Chart | None:
    if not len(stats.boxes):
        return None
    cx = (stats.boxes[:, 0] + stats.boxes[:, 2] / 2) / stats.image_size[:, 0]
    cy = (stats.boxes[:, 1] + stats.boxes[:, 3] / 2) / stats.image_size[:, 1]
    aspect = float(np.median(stats.image_size[:, 1] / stats.image_size[:, 0]))
    nx = int(np.clip(2 * np.sqrt(len(cx)), 8, 48))  # coarser grids for few boxes
    ny = max(8, round(nx * aspect))
    grid, _, _ = np.histogram2d(cy.clip(0, 1), cx.clip(0, 1), bins=(ny, nx), range=((0, 1), (0, 1)))
    fig = _figure(5.2, 4.6 * aspect + 0.9)
    ax = fig.add_subplot()
    # both axes span 0..1: an aspect of H/W draws the map with the images' shape
    im = ax.imshow(grid, extent=(0, 1, 1, 0), cmap="magma", interpolation="nearest", aspect=aspect)
    im.set_gid("centres-map")
    # below the map: a side bar would follow the axes box, not the map's height
    fig.colorbar(im, ax=ax, label="instances", orientation="horizontal", shrink=0.6, aspect=30)
    ax.set_xlabel("centre x / width")
    ax.set_ylabel("centre y / height")
    return Chart(
        "centres",
        "Object centres",
        "Where box centres fall, in image-relative coordinates (all classes).",
        _svg(fig),
    )


def objects_per_image(stats: Stats) -> Chart | None:
    if not len(stats.per_image):
        return None
    n = stats.per_image
    fig = _figure()
    ax = fig.add_subplot()
    top = int(n.max())
    bins = np.arange(-0.5, top + 1.5, max(1, (top + 1) // 40))
    ax.hist(n, bins=bins.tolist(), color="#4477aa")
    ax.set_xlabel("annotations per image")
    ax.set_ylabel("images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    empty = int((n == 0).sum())
    return Chart(
        "per_image",
        "Annotations per image",
        f"Mean {n.mean():.1f}, max {top}; {empty:,} image(s) without annotations.",
        _svg(fig),
    )


def visibility(stats: Stats) -> Chart | None:
    if not len(stats.visibility):
        return None
    fig = _figure()
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 21)
    for name, sel in _top_classes(stats, stats.visibility_class):
        ax.hist(
            stats.visibility[sel], bins=bins.tolist(), histtype="step", linewidth=1.4, label=name
        )
    ax.set_xlabel("visible fraction (area / amodal area)")
    ax.set_ylabel("instances")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    occluded = float((stats.visibility < 0.95).mean())
    return Chart(
        "visibility",
        "Visibility",
        f"{len(stats.visibility):,} instances state it; {occluded:.0%} are more than 5% occluded.",
        _svg(fig),
    )


def defect_sizes(stats: Stats) -> Chart | None:
    if not stats.defect_sizes:
        return None
    kinds = sorted(stats.defect_sizes)
    fig = _figure(6.0, max(1.8, 0.4 * len(kinds) + 1.0))
    ax = fig.add_subplot()
    ax.boxplot(
        [stats.defect_sizes[k] for k in kinds],
        orientation="horizontal",
        tick_labels=[label(k) for k in kinds],
        whis=(0, 100),
    )
    ax.set_xlabel("defect length [mm]")
    counts = ", ".join(f"{k} {len(stats.defect_sizes[k]):,}" for k in kinds)
    return Chart(
        "defect_size",
        "Defect sizes",
        "Length per defect type, measured on the final geometry (attributes.length_mm; "
        f"older datasets: the nominal size_mm; whiskers: min to max). Counts: {counts}.",
        _svg(fig),
    )


def keypoint_visibility(stats: Stats) -> Chart | None:
    if not stats.keypoint_visible:
        return None
    name, table = max(stats.keypoint_visible.items(), key=lambda kv: int(kv[1].sum()))
    cls = next(c for c in stats.classes if c.name == name)
    total = table.sum(axis=1, keepdims=True).clip(min=1)
    frac = table / total
    fig = _figure(6.0, max(2.0, 0.22 * len(cls.keypoints) + 1.0))
    ax = fig.add_subplot()
    y = np.arange(len(cls.keypoints))[::-1]
    left = np.zeros(len(y))
    for v, what, col in (
        (2, "visible", "#228833"),
        (1, "occluded", "#ccbb44"),
        (0, "not labelled", "#bbbbbb"),
    ):
        ax.barh(y, frac[:, v], left=left, color=col, label=what)
        left += frac[:, v]
    for k, patch in enumerate(p for c in ax.containers for p in c):
        patch.set_gid(f"kp-bar-{k}")
    ax.set_yticks(y, [label(str(k)) for k in cls.keypoints], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of instances")
    # above the axes, so it never covers a bar
    leg = ax.legend(
        fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False
    )
    leg.set_gid("kp-legend")
    return Chart(
        "keypoints",
        f"Keypoint visibility ({name})",
        "Per keypoint: v = 2 visible, v = 1 labelled but occluded, v = 0 not labelled.",
        _svg(fig),
    )


ALL = (
    class_counts,
    box_sizes,
    aspect_ratios,
    centre_heatmap,
    objects_per_image,
    visibility,
    defect_sizes,
    keypoint_visibility,
)


def charts(stats: Stats) -> list[Chart]:
    """Every chart that has data, in report order."""
    return [c for c in (f(stats) for f in ALL) if c is not None]
