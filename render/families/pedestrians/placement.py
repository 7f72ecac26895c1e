"""Where people go in a street scene (pure numpy): on the sidewalks and crossings
the camera sees, sitting on benches, never overlapping each other or furniture.

Footprints are circles about each person's pelvis, as wide as their posed mesh;
furniture keeps the clearance :data:`render.families.pedestrians.street.FOOTPRINT`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from render import camera as cam_math
from render.families.common import uniform
from render.families.pedestrians.config import PedestriansScene
from render.families.pedestrians.setting import Shot
from render.families.pedestrians.street import FOOTPRINT, Street
from render.geometry import Mesh
from render.geometry.rotations import rot_z

if TYPE_CHECKING:
    from render.families.pedestrians.drafting import Draft


@dataclass(frozen=True)
class Placed:
    index: int
    location: np.ndarray
    yaw: float


def visible_height(shot: Shot, foot: np.ndarray, height: float) -> float:
    """Largest image size (pixels: the longer side of the projected box) of a person
    standing at ``foot``, a 0.5 m x 0.5 m x ``height`` box, over the views; 0 when
    it is outside every view. Seen from a drone a person is short but wide."""
    cam = shot.camera
    corners = np.array(
        [[x, y, z] for x in (-0.25, 0.25) for y in (-0.25, 0.25) for z in (0.0, height)]
    )
    best = 0.0
    for pose in cam.poses:
        uv, z = cam_math.project(foot + corners, np.asarray(cam.K), np.asarray(pose))
        if (z <= 0.3).any():
            continue
        (u0, v0), (u1, v1) = uv.min(axis=0), uv.max(axis=0)
        if u1 < 0 or u0 > cam.width or v1 < 0 or v0 > cam.height:
            continue
        best = max(best, float(max(u1 - u0, v1 - v0)))
    return best


def _along(shot: Shot, min_px: float, rng: np.random.Generator) -> float:
    """An x position along the street where the camera sees people: for a dashcam
    from 4 m ahead to where an adult is ``min_px`` tall (at most 40 m), more often
    near than far;
    else uniform within ``reach`` of the point the camera looks at."""
    if shot.rig == "dashcam":
        eye_x = float(np.asarray(shot.camera.poses[0])[0, 3])
        far = min(40.0, shot.focal_px * 1.7 / min_px)
        return eye_x + 4.0 + (far - 4.0) * float(rng.random()) ** 2.0
    return shot.focus[0] + uniform(rng, (-shot.reach, shot.reach))


def _clear(
    x: float, y: float, r: float, taken: list[tuple[float, float, float]], gap: float
) -> bool:
    return all(math.hypot(x - a, y - b) >= r + c + gap for a, b, c in taken)


def place_people(
    sc: PedestriansScene,
    street: Street,
    shot: Shot,
    drafts: list[Draft],
    meshes: list[Mesh],
    rng: np.random.Generator,
) -> tuple[list[Placed], dict[int, float]]:
    """Where each person goes (the ones no free spot was found for are left out),
    and the new seat height of benches people sit on (item index -> metres)."""
    taken = [(it.x, it.y, FOOTPRINT[it.kind]) for it in street.items if it.kind != "bench"]
    benches = [k for k, it in enumerate(street.items) if it.kind == "bench"]
    seats_used: dict[int, int] = {}
    seat_heights: dict[int, float] = {}
    min_px = sc.people.min_height_px * (0.3 if sc.crowd.enabled else 1.0)
    placed: list[Placed] = []
    half = street.length / 2 - 1.0
    order = sorted(range(len(drafts)), key=lambda i: drafts[i].person.pose.activity != "sit")
    for i in order:
        d, v = drafts[i], meshes[i].vertices
        radius = float(np.hypot(v[:, 0], v[:, 1]).max()) + 0.02
        height = float(v[:, 2].max() - v[:, 2].min())
        if d.person.pose.activity == "sit":
            spot = _seat(street, shot, benches, seats_used, v, height, rng)
            if spot is None:
                continue
            k, location, yaw, seat = spot
            seat_heights[k] = seat
            placed.append(Placed(i, location, yaw))
            taken.append((location[0], location[1], radius))
            continue
        for _ in range(120):
            on_crossing = street.crossing is not None and rng.random() < 0.2
            if on_crossing and street.crossing is not None:
                x = uniform(rng, street.crossing)
                y = uniform(rng, (-street.edge, street.edge))
            else:
                x = float(np.clip(_along(shot, min_px, rng), -half, half))
                # a camera looking at one sidewalk sees people there more often
                near = 1.0 if shot.focus[1] >= 0 else -1.0
                lean = 0.5 if shot.rig == "dashcam" else 0.8
                side = near if rng.random() < lean else -near
                y = side * uniform(rng, (street.edge + 0.3, street.facade - 0.3))
            if not _clear(x, y, radius, taken, sc.people.gap_m):
                continue
            ground = street.ground_z(y)
            if visible_height(shot, np.array([x, y, ground]), height) < min_px:
                continue
            if d.person.pose.activity == "stand":
                yaw = uniform(rng, (-math.pi, math.pi))
            elif on_crossing:
                yaw = (0.0 if rng.random() < 0.5 else math.pi) + uniform(rng, (-0.15, 0.15))
            else:
                yaw = (math.pi / 2 if rng.random() < 0.5 else -math.pi / 2) + uniform(
                    rng, (-0.15, 0.15)
                )
            location = np.array([x, y, ground - float(v[:, 2].min())])
            placed.append(Placed(i, location, yaw))
            taken.append((x, y, radius))
            break
    return sorted(placed, key=lambda p: p.index), seat_heights


def _seat(
    street: Street,
    shot: Shot,
    benches: list[int],
    used: dict[int, int],
    v: np.ndarray,
    height: float,
    rng: np.random.Generator,
) -> tuple[int, np.ndarray, float, float] | None:
    """A free seat on a bench the camera sees: (bench index, location, yaw, seat
    height so the feet reach the ground)."""
    near = v[np.hypot(v[:, 0], v[:, 1] - 0.05) < 0.22]
    buttocks = float(near[:, 2].min()) if len(near) else float(v[:, 2].min()) + 0.45
    seat = float(np.clip(buttocks - float(v[:, 2].min()), 0.32, 0.5))
    for k in rng.permutation(benches):
        item = street.items[int(k)]
        n = used.get(int(k), 0)
        if n >= 2:
            continue
        offset = (-0.45 + 0.9 * n) * item.params.get("length", 1.8) / 1.8
        r = rot_z(item.yaw)
        xy = np.array([item.x, item.y, 0.0]) + r @ np.array([offset, -0.06, 0.0])
        ground = street.ground_z(item.y)
        if visible_height(shot, np.array([xy[0], xy[1], ground]), height) <= 0:
            continue
        used[int(k)] = n + 1
        location = np.array([xy[0], xy[1], ground + seat - buttocks])
        return int(k), location, item.yaw, seat
    return None


# --------------------------------------------------------------------------- objects


def clear_view(street: Street, shot: Shot, path: Sequence[np.ndarray] = ()) -> Street:
    """The street without the items a camera would sit inside or right against (a
    CCTV camera in a tree crown, a dashcam behind a car): nothing within 3 m of a
    camera horizontally, or within a tree's crown reach. ``path``: further camera
    positions (x, y, ...) it passes through in a sequence (a dashcam driving on)."""
    eyes = [np.asarray(p)[:2, 3] for p in shot.camera.poses]
    route = [np.asarray(e)[:2] for e in path]
    keep = []
    for it in street.items:
        reach = 3.0 + (float(it.params.get("crown", 0.0)) if it.kind == "tree" else 0.0)
        # on its route a dashcam's car (half width 0.9 m) passes a parked car's side
        # (half width 0.9 m) or a pole with 0.3 m to spare
        passing = 2.1 if it.kind == "car" else 1.2
        if all(math.hypot(it.x - e[0], it.y - e[1]) > reach for e in eyes) and all(
            math.hypot(it.x - e[0], it.y - e[1]) > passing for e in route
        ):
            keep.append(it)
    return replace(street, items=keep)
