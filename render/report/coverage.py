"""The report's coverage card: how the people of a dataset divide into groups
(age, sex, Monk skin-tone step, build, activity, occlusion), each group's share
against the config's target (the family's ``coverage`` function reads it from
``dataset.json``), and each attribute crossed with the images' conditions (time of
day, camera rig) as counts. Pure; the groups are :mod:`render.groups`'.

People are the non-crowd annotations whose ``attributes`` carry ``age_years``;
each annotation counts (a person seen in 16 frames counts 16 times, as a detector
sees them).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from render import groups

ATTRIBUTES: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "age": lambda a: groups.age_group(a.get("attributes") or {}),
    "sex": lambda a: groups.sex_group(a.get("attributes") or {}),
    "Monk step": lambda a: groups.monk(a.get("attributes") or {}),
    "build": lambda a: groups.build_group(a.get("attributes") or {}),
    "activity": lambda a: groups.activity(a.get("attributes") or {}),
    "occlusion": groups.occlusion,
}
CONDITIONS = ("time_of_day", "rig")


@dataclass
class Table:
    """One attribute: counts per group, the target shares (None: no target) and the
    counts per group under each value of each condition."""

    attribute: str
    counts: dict[str, int]
    target: dict[str, float] | None
    crossed: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def share(self, group: str) -> float:
        return self.counts.get(group, 0) / self.n if self.n else 0.0

    def groups(self) -> list[str]:
        names = list(self.target or {})
        return names + sorted(g for g in self.counts if g not in names)


def targets_of(meta: Any) -> dict[str, dict[str, float] | None]:
    """The family's coverage targets from a ``dataset.json`` record ({} when it has
    none, or the record has no such config)."""
    from render.families import FAMILIES, load_function

    scene = meta.get("config", {}).get("scene") if isinstance(meta, dict) else None
    fam = FAMILIES.get(str(scene.get("family"))) if isinstance(scene, dict) else None
    if fam is None or fam.coverage is None:
        return {}
    try:
        return load_function(fam.coverage)(scene)  # type: ignore[no-any-return]
    except ValueError:  # a config this version does not read: no targets, still the shares
        return {}


def tables(doc: Mapping[str, Any], targets: Mapping[str, Any]) -> list[Table]:
    """The coverage tables of a COCO ``doc``; [] when it has no people."""
    people = [
        a
        for a in doc.get("annotations", [])
        if isinstance(a, dict)
        and not a.get("iscrowd")
        and isinstance(a.get("attributes"), dict)
        and "age_years" in a["attributes"]
    ]
    if not people:
        return []
    conditions = {
        img.get("id"): img.get("conditions") or {}
        for img in doc.get("images", [])
        if isinstance(img, dict)
    }
    out = []
    for name, group_of in ATTRIBUTES.items():
        counts: Counter[str] = Counter()
        crossed: dict[str, dict[str, Counter[str]]] = {c: {} for c in CONDITIONS}
        for a in people:
            g = group_of(a)
            if g is None:
                continue
            counts[g] += 1
            cond = conditions.get(a.get("image_id"), {})
            for c in CONDITIONS:
                if isinstance(cond.get(c), str):
                    crossed[c].setdefault(cond[c], Counter())[g] += 1
        if counts:
            out.append(Table(name, dict(counts), targets.get(name),
                             {c: {k: dict(v) for k, v in t.items()} for c, t in crossed.items() if t}))  # fmt: skip
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def section(found: list[Table]) -> str:
    """The HTML of the coverage card ("" when the dataset has no people)."""
    if not found:
        return ""
    esc = html.escape
    parts = [
        '<h2 id="coverage">Coverage (people)</h2>',
        "<p>Person annotations per group against the config's target (Δ: share minus "
        "target), then each attribute under each condition (counts, and the share within "
        "the condition).</p>",
    ]
    for t in found:
        rows = []
        for g in t.groups():
            target = (t.target or {}).get(g)
            delta = "" if target is None else f"{100 * (t.share(g) - target):+.1f}"
            rows.append(
                f"<tr><td>{esc(g)}</td><td>{t.counts.get(g, 0):,}</td><td>{_pct(t.share(g))}</td>"
                f"<td>{'' if target is None else _pct(target)}</td><td>{delta}</td></tr>"
            )
        note = "" if t.target else " (no target in the config)"
        parts.append(
            f'<h3 id="coverage-{esc(t.attribute.replace(" ", "-"))}">{esc(t.attribute)}{note}</h3>'
            '<table class="coverage"><tr><th>group</th><th>people</th><th>share</th>'
            f"<th>target</th><th>Δ (points)</th></tr>{''.join(rows)}</table>"
        )
        for cond, by_value in t.crossed.items():
            values = sorted(by_value)
            head = "".join(f"<th>{esc(v)}</th>" for v in values)
            body = []
            for g in t.groups():
                cells = []
                for v in values:
                    n_v = sum(by_value[v].values())
                    k = by_value[v].get(g, 0)
                    cells.append(f"<td>{k:,} ({_pct(k / n_v) if n_v else '-'})</td>")
                body.append(f"<tr><td>{esc(g)}</td>{''.join(cells)}</tr>")
            parts.append(
                f'<table class="coverage crossed"><tr><th>{esc(t.attribute)} × {esc(cond)}</th>'
                f"{head}</tr>{''.join(body)}</table>"
            )
    return "\n".join(parts)
