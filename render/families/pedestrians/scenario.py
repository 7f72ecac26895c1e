"""Scenarios: actors placed and moved relative to the camera (``scene.scenario``),
the rare, dangerous situations fleets seldom record (pure Python).

An actor (or a group of ``count``) starts ``ahead_m`` metres ahead of the camera
along the street at the first frame, at the kerb, between the parked cars, at
the zebra crossing or at a bus stop (a shelter behind it), on the ``side`` asked for, and crosses the road at
``speed_mps`` (walking or running): with ``render.frames`` the sequence shows them
step into the lane. Everything else in the scene (street, light, other people) is
sampled as usual; parked cars and people where an actor starts are left out.

An actor with ``trigger_m`` stands still until a driving dashcam is that close
(along the street), then sets off. Each frame records the scenario's name and,
per actor, its ``instance_id``, whether it is ``moving``, its distance to the
camera (``distance_m``, on the ground) and, for a moving camera,
``ttc_s``: the time to the closest approach of actor and camera at the current
speeds when they would come within 1.2 m of each other (a car's half width and a
person's), else None.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from render.families.pedestrians.config import ActorConfig, PedestriansScene
from render.families.pedestrians.street import Item, Street

COLLISION_M = 1.2


def start_points(
    actor: ActorConfig,
    n: int,
    eye: np.ndarray,
    forward: float,
    edge: float,
    crossing: tuple[float, float] | None,
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], float]:
    """Ground points (x, y) where ``n`` members of ``actor`` start, and the yaw that
    makes them cross the road. ``eye``: the camera's (x, y); ``forward``: +1 or -1,
    the direction along X the camera looks; ``edge``: |y| of the kerb."""
    if actor.side == "either":
        side = 1.0 if rng.random() < 0.5 else -1.0
    else:  # left of a camera looking along +X is +Y
        side = (1.0 if actor.side == "left" else -1.0) * forward
    if actor.start == "crossing" and crossing is not None:
        x = (crossing[0] + crossing[1]) / 2
    else:
        x = float(eye[0]) + forward * float(rng.uniform(*actor.ahead_m))
    y = side * {"kerb": edge + 0.4, "parked_cars": edge - 1.1, "crossing": edge + 0.4,
                "bus_stop": edge + 0.4}[actor.start]  # fmt: skip
    points = [np.array([x + (k - (n - 1) / 2) * actor.spacing_m, y]) for k in range(n)]
    yaw = 0.0 if side > 0 else math.pi  # bodies face -Y at yaw 0: towards the other side
    return points, yaw


def ttc(
    actor_xy: np.ndarray, actor_v: np.ndarray, cam_xy: np.ndarray, cam_v: np.ndarray
) -> float | None:
    """Seconds to the closest approach at constant velocities, when it comes within
    :data:`COLLISION_M`; None when they never come that close (or it is past)."""
    p = np.asarray(actor_xy, float) - np.asarray(cam_xy, float)
    v = np.asarray(actor_v, float) - np.asarray(cam_v, float)
    vv = float(v @ v)
    if vv < 1e-12:
        return None
    t = -float(p @ v) / vv
    if t <= 0 or float(np.linalg.norm(p + v * t)) > COLLISION_M:
        return None
    return t


def scene_for(sc: PedestriansScene) -> PedestriansScene:
    """``sc`` as its scenario needs it: the scenario's rig and time of day (the
    weighted draws then have one choice), a zebra crossing when an actor starts at
    one. Unchanged without a scenario."""
    s = sc.scenario
    if s is None:
        return sc
    camera, sky, street = sc.camera, sc.sky, sc.street
    if s.rig is not None:
        camera = camera.model_copy(update={"rigs": {s.rig: 1.0}})
    if s.time_of_day is not None:
        sky = sky.model_copy(update={"time_of_day": {s.time_of_day: 1.0}})
    if any(a.start == "crossing" for a in s.actors):
        street = street.model_copy(update={"crossing_probability": 1.0})
    return sc.model_copy(update={"camera": camera, "sky": sky, "street": street})


def actor_scene(sc: PedestriansScene, actor: ActorConfig) -> PedestriansScene:
    """``sc`` whose people are all like ``actor``: its age group, activity, speed."""
    speeds = {"walk_speed_mps": actor.speed_mps} if actor.activity == "walk" else {
        "run_speed_mps": actor.speed_mps}  # fmt: skip
    people = sc.people.model_copy(
        update={"age_groups": {actor.age_group: 1.0}, "activities": {actor.activity: 1.0}, **speeds}
    )
    return sc.model_copy(update={"people": people})


def crossing_ahead(
    street: Street,
    ahead: tuple[float, float],
    eye_x: float,
    forward: float,
    rng: np.random.Generator,
) -> Street:
    """``street`` with its zebra crossing moved ``ahead`` metres ahead of the camera
    (an actor starting at the crossing must be seen), 3-5 m wide; parked cars and
    furniture on or next to it are left out, as the street keeps them off a crossing."""
    x0 = eye_x + forward * float(rng.uniform(*ahead))
    x1 = x0 + float(rng.uniform(3.0, 5.0))
    keep = [it for it in street.items if not x0 - 4.0 < it.x < x1 + 4.0 or it.kind == "streetlight"]
    return replace(street, crossing=(x0, x1), items=keep)


def without_items_at(street: Street, points: list[np.ndarray], reach: float = 1.6) -> Street:
    """``street`` without the parked cars and furniture an actor would start inside."""
    keep = [
        it for it in street.items
        if all(math.hypot(it.x - p[0], it.y - p[1]) > reach for p in points)
    ]  # fmt: skip
    return replace(street, items=keep)


def with_shelter(street: Street, at: np.ndarray) -> Street:
    """``street`` with a bus shelter on the sidewalk behind the point ``at`` (an actor
    at the kerb), open to the road; furniture it would stand in is left out."""
    side = 1.0 if at[1] > 0 else -1.0
    y = side * (street.edge + 1.5)
    keep = [
        it for it in street.items if not (abs(it.x - at[0]) < 2.6 and it.y * side > street.edge)
    ]
    shelter = Item("shelter", float(at[0]), y, 0.0 if side > 0 else math.pi)
    return replace(street, items=[*keep, shelter])


def record(
    name: str,
    actors: list[tuple[int, np.ndarray, np.ndarray]],
    eye: np.ndarray,
    v_cam: np.ndarray | None,
) -> dict[str, Any]:
    """A frame's ``scenario`` record: ``actors`` are (instance id, location, velocity)."""
    rows = []
    for iid, loc, vel in actors:
        row: dict[str, Any] = {
            "instance_id": iid,
            "distance_m": round(float(np.hypot(*(loc[:2] - eye[:2]))), 3),
            "moving": bool(np.any(vel[:2] != 0)),
        }
        if v_cam is not None:
            t = ttc(loc[:2], vel[:2], eye[:2], v_cam[:2])
            row["ttc_s"] = None if t is None else round(t, 3)
        rows.append(row)
    return {"name": name, "actors": rows}


RIDES: dict[str, tuple[str, str]] = {
    "bicycle": ("cycle", "handlebar"),
    "wheelchair": ("wheelchair", "rims"),
    "stroller": ("walk", "push"),
}
"""A vehicle's pose: (activity, arm action); see :mod:`.riding`."""


def ride(person: Any, vehicle: str) -> Any:
    """``person`` (a :class:`~.people.Person`) on or with ``vehicle``: its activity and
    grip; no bag or umbrella in the hands. Unchanged for ``none``."""
    if vehicle == "none":
        return person
    activity, arms = RIDES[vehicle]
    gear = tuple(g for g in person.gear if g in ("backpack", "hat"))
    return replace(person, pose=replace(person.pose, activity=activity, arms=arms), gear=gear)
