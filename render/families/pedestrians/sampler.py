"""Pedestrians family: config + scene index -> SceneSpec (pure Python, torch on the CPU).

A scene: a street (``street.py``), one camera rig and the light of a time of day
(``setting.py``), and people (``people.py``, looks from ``appearance.py``) placed
on the sidewalks and crossings the camera sees, on benches when they sit, never
overlapping each other or the furniture. Bodies are posed here (anny, batched)
so the SceneSpec carries each person's keypoints in world coordinates; the
Blender backend rebuilds the same meshes from the stored pose rotations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial import cKDTree

from render import camera as cam_math
from render.families.base import Job
from render.families.common import integer, render_spec, uniform, weighted_choice
from render.families.pedestrians import appearance as look
from render.families.pedestrians import people as ppl
from render.families.pedestrians.body import load_model
from render.families.pedestrians.config import PedestriansScene
from render.families.pedestrians.pose import ARM_ACTIONS, PoseParams
from render.families.pedestrians.regions import Outfit
from render.families.pedestrians.setting import Shot, sample_light, sample_shot
from render.families.pedestrians.street import FOOTPRINT, Street, sample_street
from render.geometry import Mesh
from render.seeding import stream
from render.spec import (
    GeometrySpec,
    KeypointsSpec,
    MaterialSpec,
    ObjectSpec,
    PersonInfo,
    SceneSpec,
)


@dataclass(frozen=True)
class Draft:
    """A person before placement: body and pose, what they look like."""

    person: ppl.Person
    years: float
    tone: float
    umbrella: bool
    materials: list[MaterialSpec]


def _draft(sc: PedestriansScene, sitting_ok: bool, rng: np.random.Generator) -> Draft:
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
    tone = uniform(rng, cfg.skin_tone)
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


# --------------------------------------------------------------------------- placement


@dataclass(frozen=True)
class Placed:
    index: int
    location: np.ndarray
    yaw: float


def _rot_z(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _visible_height(shot: Shot, foot: np.ndarray, height: float) -> float:
    """Largest image height (pixels) of a standing box at ``foot`` over the views,
    0 when it is outside every view."""
    cam = shot.camera
    best = 0.0
    for pose in cam.poses:
        pts = np.array([foot, foot + [0.0, 0.0, height]])
        uv, z = cam_math.project(pts, np.asarray(cam.K), np.asarray(pose))
        if (z <= 0.3).any():
            continue
        u, v = uv[:, 0], uv[:, 1]
        half = 0.25 * abs(v[1] - v[0])
        if u.max() + half < 0 or u.min() - half > cam.width or v.max() < 0 or v.min() > cam.height:
            continue
        best = max(best, float(abs(v[1] - v[0])))
    return best


def _along(shot: Shot, min_px: float, rng: np.random.Generator) -> float:
    """An x position along the street where the camera sees people: for a dashcam
    from 3 m ahead to where an adult is ``min_px`` tall, more often near than far;
    else uniform within ``reach`` of the point the camera looks at."""
    if shot.rig == "dashcam":
        eye_x = float(np.asarray(shot.camera.poses[0])[0, 3])
        far = min(60.0, shot.focal_px * 1.7 / min_px)
        return eye_x + 3.0 + (far - 3.0) * float(rng.random()) ** 1.6
    return shot.focus[0] + uniform(rng, (-shot.reach, shot.reach))


def _clear(
    x: float, y: float, r: float, taken: list[tuple[float, float, float]], gap: float
) -> bool:
    return all(math.hypot(x - a, y - b) >= r + c + gap for a, b, c in taken)


def _place(
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
                side = 1.0 if rng.random() < 0.5 else -1.0
                y = side * uniform(rng, (street.edge + 0.3, street.facade - 0.3))
            if not _clear(x, y, radius, taken, sc.people.gap_m):
                continue
            ground = street.ground_z(y)
            if _visible_height(shot, np.array([x, y, ground]), height) < min_px:
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
        r = _rot_z(item.yaw)
        xy = np.array([item.x, item.y, 0.0]) + r @ np.array([offset, -0.06, 0.0])
        ground = street.ground_z(item.y)
        if _visible_height(shot, np.array([xy[0], xy[1], ground]), height) <= 0:
            continue
        used[int(k)] = n + 1
        location = np.array([xy[0], xy[1], ground + seat - buttocks])
        return int(k), location, item.yaw, seat
    return None


# --------------------------------------------------------------------------- objects


def _mat(color: list[float], roughness: float, **kw: object) -> MaterialSpec:
    return MaterialSpec(base_color=color, roughness=roughness, **kw)  # type: ignore[arg-type]


_EXTRA_MATERIALS = {
    "lamp": lambda rng: _mat([1.0, 0.85, 0.6], 0.3),
    "lamp_lit": lambda rng: _mat([1.0, 0.85, 0.6], 0.3, inputs={"Emission Strength": 6.0}),
    "glass": lambda rng: _mat(
        [0.015, 0.017, 0.02], 0.04, texture="none", inputs={"Coat Weight": 1.0}
    ),
    "tyres": lambda rng: _mat([0.015, 0.015, 0.015], 0.7, texture="none"),
    "crown": lambda rng: _mat(
        [0.03 + 0.04 * float(rng.random()), 0.07 + 0.07 * float(rng.random()), 0.02],
        0.8,
        noise_scale=8.0,
        color_variation=0.5,
        bump_strength=0.8,
    ),
}


def _street_objects(
    street: Street, seats: dict[int, float], lit: bool, rng: np.random.Generator
) -> list[ObjectSpec]:
    """Road, sidewalks, markings, buildings, furniture and parked cars (instance 0)."""
    wet = street.wet
    asphalt = uniform(rng, (0.025, 0.06)) * (0.6 if wet else 1.0)
    objs = [
        ObjectSpec(
            name="road",
            instance_id=0,
            geometry=GeometrySpec(
                kind="procedural", generator="street", params=street.params(), part="road"
            ),
            material=_mat(
                [asphalt] * 3,
                0.28 if wet else 0.85,
                noise_scale=uniform(rng, (8.0, 20.0)),
                color_variation=0.35,
                bump_strength=0.25,
            ),
        ),
        ObjectSpec(
            name="sidewalks",
            instance_id=0,
            geometry=GeometrySpec(
                kind="procedural", generator="street", params=street.params(), part="sidewalks"
            ),
            material=_mat(
                [uniform(rng, (0.12, 0.3))] * 3,
                0.2 if wet else 0.8,
                texture="bricks",
                coordinates="rest",
                pattern_scale=uniform(rng, (0.3, 0.6)),
                color2=[0.08, 0.08, 0.08],
                color_variation=0.15,
                bump_strength=0.2,
            ),
        ),
        ObjectSpec(
            name="markings",
            instance_id=0,
            geometry=GeometrySpec(
                kind="procedural", generator="street", params=street.params(), part="markings"
            ),
            material=_mat([0.75, 0.75, 0.72], 0.5, color_variation=0.2),
        ),
    ]
    for k, b in enumerate(street.buildings):
        side = b["side"]
        base = [float(c) for c in rng.uniform(0.08, 0.5, 3) * np.array([1.0, 0.9, 0.8])]
        brick = rng.random() < 0.4
        pose = {
            "location": [b["x"], side * street.facade, street.curb_height],
            "rotation_euler": [0.0, 0.0, 0.0 if side > 0 else math.pi],
        }
        geo = {"kind": "procedural", "generator": "building", "params": b["params"]}
        wall = _mat(
            base,
            0.85,
            texture="bricks" if brick else "noise",
            coordinates="rest",
            pattern_scale=0.25,
            color2=[0.5, 0.48, 0.45],
            noise_scale=5.0,
            color_variation=0.15,
            bump_strength=0.1,
        )
        objs.append(
            ObjectSpec(
                name=f"building_{k}",
                instance_id=0,
                geometry=GeometrySpec(part="walls", **geo),
                material=wall,
                **pose,
            )
        )  # type: ignore[arg-type]
        glass = _mat([0.02, 0.025, 0.03], 0.05, texture="none", inputs={"Specular IOR Level": 0.8})
        objs.append(
            ObjectSpec(
                name=f"building_{k}_windows",
                instance_id=0,
                geometry=GeometrySpec(part="windows", **geo),
                material=glass,
                **pose,
            )
        )  # type: ignore[arg-type]
        objs.append(
            ObjectSpec(
                name=f"building_{k}_door",
                instance_id=0,
                geometry=GeometrySpec(part="door", **geo),
                material=_mat([0.05, 0.04, 0.03], 0.4),
                **pose,
            )
        )  # type: ignore[arg-type]
    for k, it in enumerate(street.items):
        params = {"kind": it.kind, **it.params}
        if k in seats:
            params["seat_height"] = seats[k]
        pose = {
            "location": [it.x, it.y, street.ground_z(it.y)],
            "rotation_euler": [0.0, 0.0, it.yaw],
        }
        color = (
            [float(c) for c in rng.uniform(0.05, 0.6, 3)]
            if it.kind in ("car", "bicycle", "bin")
            else [0.15, 0.16, 0.17]
        )
        item_geo = GeometrySpec(
            kind="procedural", generator="furniture", params=params, part="item"
        )
        objs.append(
            ObjectSpec(
                name=f"{it.kind}_{k}",
                instance_id=0,
                geometry=item_geo,
                material=_mat(
                    color,
                    0.35 if it.kind == "car" else 0.6,
                    metallic=0.6 if it.kind == "car" else 0.2,
                ),
                **pose,
            )
        )  # type: ignore[arg-type]
        for extra in {"streetlight": ("lamp",), "car": ("glass", "tyres"), "tree": ("crown",)}.get(
            it.kind, ()
        ):
            objs.append(
                ObjectSpec(
                    name=f"{it.kind}_{k}_{extra}",
                    instance_id=0,
                    geometry=GeometrySpec(
                        kind="procedural", generator="furniture", params=params, part=extra
                    ),
                    material=_EXTRA_MATERIALS["lamp_lit" if extra == "lamp" and lit else extra](
                        rng
                    ),
                    **pose,  # type: ignore[arg-type]
                )
            )
    return objs


def _clear_view(street: Street, shot: Shot) -> Street:
    """The street without the items a camera would sit inside or right against (a
    CCTV camera in a tree crown, a dashcam behind a car): nothing within 3 m of a
    camera horizontally, or within a tree's crown reach."""
    eyes = [np.asarray(p)[:2, 3] for p in shot.camera.poses]
    keep = []
    for it in street.items:
        reach = 3.0 + (float(it.params.get("crown", 0.0)) if it.kind == "tree" else 0.0)
        if all(math.hypot(it.x - e[0], it.y - e[1]) > reach for e in eyes):
            keep.append(it)
    return replace(street, items=keep)


def _keypoint_radius(keypoints: np.ndarray, vertices: np.ndarray) -> list[float]:
    """How deep each joint lies inside its body: 1.6 x the distance to the nearest
    vertex + 2 cm, within [3, 25] cm (see :mod:`render.keypoints`)."""
    dist, _ = cKDTree(vertices).query(keypoints)
    return [float(r) for r in np.clip(1.6 * dist + 0.02, 0.03, 0.25)]


def sample_pedestrians(cfg: Job, scene_index: int) -> SceneSpec:
    """Every random choice of scene ``scene_index`` of a ``family: pedestrians`` config."""
    sc = cfg.scene
    if not isinstance(sc, PedestriansScene):
        raise ValueError(f"sample_pedestrians needs scene.family 'pedestrians', got {sc.family!r}")
    model = load_model()
    street = sample_street(sc.street, stream(cfg.seed, scene_index, "street"))
    shot = sample_shot(sc.camera, cfg.render, street, stream(cfg.seed, scene_index, "camera"))
    street = _clear_view(street, shot)
    lights, world, when = sample_light(sc.sky, street, stream(cfg.seed, scene_index, "light"))
    r_people = stream(cfg.seed, scene_index, "people")
    benches_seen = sum(
        1
        for it in street.items
        if it.kind == "bench"
        and _visible_height(shot, np.array([it.x, it.y, street.curb_height]), 1.0) > 0
    )
    drafts: list[Draft] = []
    for _ in range(integer(r_people, sc.people.count)):
        sitting_ok = sum(d.person.pose.activity == "sit" for d in drafts) < 2 * benches_seen
        drafts.append(_draft(sc, sitting_ok, r_people))
    people, rotations, bodies, zero = ppl.pose_people([d.person for d in drafts], model=model)
    drafts = [replace(d, person=p) for d, p in zip(drafts, people, strict=True)]
    meshes = [
        ppl.person_mesh(model, bodies, i, p, rotations[i], zero) for i, p in enumerate(people)
    ]
    placed, seats = _place(
        sc, street, shot, drafts, meshes, stream(cfg.seed, scene_index, "placement")
    )

    objects = _street_objects(
        street, seats, when == "dusk", stream(cfg.seed, scene_index, "street_materials")
    )
    params = {
        "people": [
            ppl.person_to_params(drafts[p.index].person, rotations[p.index], model.bones)
            for p in placed
        ]
    }
    exposure = uniform(stream(cfg.seed, scene_index, "motion"), sc.camera.exposure_s)
    for k, p in enumerate(placed):
        d = drafts[p.index]
        r = _rot_z(p.yaw)
        kp_world = bodies.keypoints[p.index] @ r.T + p.location
        pose = d.person.pose
        velocity = None
        if shot.camera.motion_blur > 0 and pose.activity in ("walk", "run"):
            heading = r @ np.array([0.0, -1.0, 0.0])
            velocity = [float(c) for c in heading * pose.speed * exposure / shot.camera.motion_blur]
        objects.append(
            ObjectSpec(
                name=f"person_{k}",
                instance_id=k + 1,
                category_id=cfg.category_id(sc.category),
                geometry=GeometrySpec(
                    kind="procedural", generator="people", params=params, part=f"person_{k}"
                ),
                location=[float(c) for c in p.location],
                rotation_euler=[0.0, 0.0, p.yaw],
                material=d.materials[0],
                material_slots=d.materials[1:],
                velocity=velocity,
                min_pixels=sc.min_person_pixels,
                keypoints=KeypointsSpec(
                    points=kp_world.tolist(),
                    radius=_keypoint_radius(bodies.keypoints[p.index], meshes[p.index].vertices),
                ),
                amodal=sc.amodal,
                crowd_below_px=sc.crowd.max_height_px if sc.crowd.enabled else None,
                info=PersonInfo(
                    age_years=round(d.years, 1),
                    gender=round(d.person.phenotype[0], 3),
                    height_m=round(float(np.ptp(meshes[p.index].vertices[:, 2])), 3),
                    skin_tone=round(d.tone, 3),
                    activity=f"{pose.activity}/{pose.arms}",
                    clothing=[d.person.outfit.top, d.person.outfit.bottom, d.person.outfit.hair],
                    accessories=list(d.person.gear) + (["umbrella"] if d.umbrella else []),
                ),
            )
        )
        if d.umbrella:
            wrist = bodies.bone_poses[p.index][model.bones.index("wrist.L"), :3, 3]
            at = r @ wrist + p.location
            umbrella = GeometrySpec(
                kind="procedural", generator="furniture", params={"kind": "umbrella"}, part="canopy"
            )
            color = [float(c) for c in r_people.uniform(0.02, 0.5, 3)]
            for part in ("item", "canopy"):
                objects.append(
                    ObjectSpec(
                        name=f"person_{k}_umbrella_{part}",
                        instance_id=0,
                        geometry=umbrella.model_copy(update={"part": part}),
                        location=[float(c) for c in at],
                        rotation_euler=[0.0, 0.0, p.yaw],
                        material=_mat(color if part == "canopy" else [0.1, 0.1, 0.1], 0.5),
                    )
                )
    return SceneSpec(
        family="pedestrians",
        scene_index=scene_index,
        seed=cfg.seed,
        objects=objects,
        lights=lights,
        world=world,
        camera=shot.camera,
        render=render_spec(cfg, scene_index),
        meta={
            "rig": shot.rig,
            "time_of_day": when,
            "wet": street.wet,
            "people_drafted": len(drafts),
            "people_placed": len(placed),
        },
    )
