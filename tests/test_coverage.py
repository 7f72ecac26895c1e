"""The report's coverage card on a hand-made dataset whose answers are known."""

from __future__ import annotations

from typing import Any

import pytest

from render.report import coverage


def _doc() -> dict[str, Any]:
    images = [
        {"id": 1, "conditions": {"time_of_day": "day", "rig": "cctv"}},
        {"id": 2, "conditions": {"time_of_day": "dusk", "rig": "cctv"}},
    ]
    people = [  # image, age, gender, tone, weight, activity, visibility
        (1, 8, 0.9, 0.0, 0.2, "run/swing", 1.0),
        (1, 30, 0.1, 1.0, 0.5, "walk/swing", 0.6),
        (1, 70, 0.95, 0.55, 0.8, "stand/hang", 0.3),
        (2, 40, 0.05, 0.12, 0.5, "walk/carry", 0.1),
    ]
    anns = [
        {"id": k, "image_id": i, "iscrowd": 0, "visibility": v,
         "attributes": {"age_years": age, "gender": g, "skin_tone": t, "weight": w, "activity": a}}
        for k, (i, age, g, t, w, a, v) in enumerate(people, 1)
    ]  # fmt: skip
    anns.append({"id": 9, "image_id": 2, "iscrowd": 1, "attributes": {"age_years": 5}})
    anns.append({"id": 10, "image_id": 2, "iscrowd": 0, "attributes": {"type": "scratch"}})
    return {"images": images, "annotations": anns, "categories": []}


def test_counts_shares_targets_and_conditions() -> None:
    meta = {"config": {"scene": {"family": "pedestrians", "people": {"female_share": 0.25}}}}
    goal = coverage.targets_of(meta)
    assert goal["sex"] == {"female": 0.25, "male": 0.75} and goal["build"] is None
    by = {t.attribute: t for t in coverage.tables(_doc(), goal)}
    assert set(by) == {"age", "sex", "Monk step", "build", "activity", "occlusion"}
    assert by["age"].counts == {"child": 1, "adult": 2, "senior": 1}  # the crowd is left out
    assert by["sex"].share("female") == 0.5 and by["sex"].target == {"female": 0.25, "male": 0.75}
    assert by["Monk step"].counts == {"Monk 1": 1, "Monk 10": 1, "Monk 6": 1, "Monk 2": 1}
    assert by["build"].counts == {"slim": 1, "average": 2, "heavy": 1}
    assert by["activity"].counts == {"run": 1, "walk": 2, "stand": 1}
    assert by["occlusion"].counts == {"75-100%": 1, "50-75%": 1, "25-50%": 1, "0-25%": 1}
    assert by["sex"].crossed["time_of_day"] == {
        "day": {"female": 2, "male": 1},
        "dusk": {"male": 1},
    }
    assert by["age"].crossed["rig"] == {"cctv": {"child": 1, "adult": 2, "senior": 1}}
    html = coverage.section(list(by.values()))
    assert '<h2 id="coverage">' in html and "sex × time_of_day" in html
    assert "<td>female</td><td>2</td><td>50.0%</td><td>25.0%</td><td>+25.0</td>" in html
    assert "<td>1 (100.0%)</td>" in html  # dusk: the one man


@pytest.mark.parametrize("meta", [None, {}, {"config": {"scene": {"family": "generic"}}}])
def test_no_people_or_no_targets(meta: Any) -> None:
    assert coverage.targets_of(meta) == {}
    assert coverage.tables({"images": [], "annotations": []}, {}) == []
    assert coverage.section([]) == ""
    (t, *_) = coverage.tables(_doc(), {})
    assert t.target is None and "(no target in the config)" in coverage.section([t])
