"""A person before placement (pure Python, numpy): body, pose and looks drawn from
the ``people`` and ``clothing`` config; :func:`draw_people` gives what the
coverage targets govern without rendering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from render.families.common import uniform, weighted_choice
from render.families.pedestrians import appearance as look
from render.families.pedestrians import people as ppl
from render.families.pedestrians.config import PedestriansScene
from render.families.pedestrians.pose import ARM_ACTIONS, PoseParams
from render.families.pedestrians.regions import Outfit
from render.spec import MaterialSpec


@dataclass(frozen=True)
class Draft:
    """A person before placement: body and pose, what they look like."""

    person: ppl.Person
    years: float
    tone: float
    umbrella: bool
    materials: list[MaterialSpec]


def draft(sc: PedestriansScene, sitting_ok: bool, rng: np.random.Generator) -> Draft:
    cfg = sc.people
    values, years = look.sample_phenotype(cfg, rng)
    activities = dict(cfg.activities)
    if not sitting_ok:
        activities["sit"] = 0.0
    if years < 13:
        activities["run"] = activities.get("run", 0.0) * 2
    activity = weighted_choice(rng, activities)
    female = values["gender"] > 0.5
    gear = [g for g, p in sc.people.gear.items() if rng.random() < p]
    arms = str(rng.choice(ARM_ACTIONS[activity]))
    umbrella = "umbrella" in gear and activity in ("walk", "stand")
    if umbrella:
        arms = "umbrella"
    if "handbag" in gear and activity in ("walk", "stand") and not umbrella:
        arms = "carry"
    gear = [
        g
        for g in gear
        if g in ("backpack", "shoulder_bag", "hat") or (g == "handbag" and arms == "carry")
    ]
    speed = uniform(rng, cfg.run_speed_mps if activity == "run" else cfg.walk_speed_mps)
    outfit = look.sample_outfit(sc.clothing, years, female, rng)
    if activity in ("run", "sit") and outfit["bottom"] == "skirt":
        outfit["skirt_length"] = min(outfit["skirt_length"], 0.3)  # the shell does not stretch
    pose = PoseParams(
        activity=activity,
        arms=arms,  # type: ignore[arg-type]
        phase=float(rng.random()),
        speed=speed,
        turn=uniform(rng, (-0.25, 0.25)),
        head_yaw=uniform(rng, (-0.5, 0.5)),
        head_pitch=uniform(rng, (-0.1, 0.15)),
        arm_side=1,  # the handbag hangs on the left hand
        weight_shift=uniform(rng, (-1.0, 1.0)),
    )
    tone = look.sample_tone(cfg, rng)
    fabrics = sc.clothing.fabrics
    materials = [
        look.skin_material(tone, rng),
        look.garment_material(weighted_choice(rng, fabrics), rng),
        look.garment_material(weighted_choice(rng, fabrics), rng),
        look.shoe_material(rng),
        look.hair_material(tone, years, rng),
        look.eye_material(),
        look.gear_material(rng),
    ]
    phenotype = tuple(
        values[k] for k in ("gender", "age", "muscle", "weight", "height", "proportions")
    )
    person = ppl.Person(
        phenotype=phenotype,
        pose=pose,
        outfit=Outfit(**outfit),
        gear=tuple(gear),  # type: ignore[arg-type]
    )
    return Draft(person, years, tone, umbrella, materials)


def draw_people(sc: PedestriansScene, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The attributes of ``n`` people as the sampler drafts them (before placement,
    no rendering): what the coverage targets govern."""
    out = []
    for _ in range(n):
        d = draft(sc, True, rng)
        out.append({
            "age_years": d.years, "gender": d.person.phenotype[0], "skin_tone": d.tone,
            "weight": d.person.phenotype[3], "activity": f"{d.person.pose.activity}/x",
        })  # fmt: skip
    return out
