"""Pedestrians family: config + scene index -> SceneSpec (pure Python, torch on the CPU).

A scene: a street (``street.py``), one camera rig and the light of a time of day
(``setting.py``), and people (``people.py``, looks from ``appearance.py``) placed
on the sidewalks and crossings the camera sees, on benches when they sit, never
overlapping each other or the furniture. Bodies are posed here (anny, batched)
so the SceneSpec carries each person's keypoints in world coordinates; the
Blender backend rebuilds the same meshes from the stored pose rotations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from render.families.base import Job
from render.families.common import integer, render_spec, uniform
from render.families.pedestrians import motion, scenario, vehicles
from render.families.pedestrians import people as ppl
from render.families.pedestrians.body import load_model
from render.families.pedestrians.config import ActorConfig, PedestriansScene
from render.families.pedestrians.drafting import Draft, draft
from render.families.pedestrians.placement import (
    Placed,
    clear_view,
    place_people,
    visible_height,
)
from render.families.pedestrians.scenery import plain_material, street_objects
from render.families.pedestrians.setting import (
    DRONE_MARGIN_M,
    Shot,
    headlights,
    sample_light,
    sample_shot,
    weather,
)
from render.families.pedestrians.street import sample_street
from render.geometry.rotations import rot_z
from render.seeding import derive_int, stream
from render.sequence import frame_of
from render.spec import (
    GeometrySpec,
    KeypointsSpec,
    NextPose,
    ObjectSpec,
    PersonInfo,
    SceneSpec,
    SensorSpec,
)

# --------------------------------------------------------------------------- placement


def _keypoint_radius(keypoints: np.ndarray, vertices: np.ndarray) -> list[float]:
    """How deep each joint lies inside its body: 1.6 x the distance to the nearest
    vertex + 2 cm, within [3, 25] cm (see :mod:`render.keypoints`)."""
    dist, _ = cKDTree(vertices).query(keypoints)
    return [float(r) for r in np.clip(1.6 * dist + 0.02, 0.03, 0.25)]


_State = tuple[list[Draft], np.ndarray, Any, Any, list[Any], list[Any], Shot]
"""(drafts, pose rotations, bodies, zero-pose bodies, meshes, placed people, shot)."""


def _at_time(
    first: _State,
    heights: list[float],
    v_cam: np.ndarray,
    t: float,
    model: Any,
    waits: dict[int, float],
    ground: Any,
) -> _State:
    """A sequence's first frame ``t`` seconds later: the camera moved, walkers moved
    on along their heading with their gait phase advanced (:mod:`.motion`), their
    feet following the ground (``ground``: y -> height; off the kerb, down onto the
    road); a person in ``waits`` (draft index -> seconds) stands (a rider stops)
    until then, then sets off."""
    drafts, _, _, _, _, placed, shot = first
    moved = []
    for i, d in enumerate(drafts):
        pose, wait = d.person.pose, waits.get(i, 0.0)
        if t < wait and pose.activity in ("cycle", "wheelchair"):
            pose = replace(pose, speed=0.0)
        elif t < wait:
            pose = replace(pose, activity="stand", arms="push" if pose.arms == "push" else "hang")
        else:
            pose = motion.advance(pose, t - wait, heights[i])
        moved.append(replace(d.person, pose=pose))
    people, rotations, bodies, zero = ppl.pose_people(moved, model=model)
    drafts = [replace(d, person=p) for d, p in zip(drafts, people, strict=True)]
    meshes = [
        ppl.person_mesh(model, bodies, i, p, rotations[i], zero) for i, p in enumerate(people)
    ]
    later = []
    for p in placed:
        pose = people[p.index].pose
        at = motion.walked(
            p.location, p.yaw, pose.activity, pose.speed, max(0.0, t - waits.get(p.index, 0.0))
        )
        at[2] += ground(float(at[1])) - ground(float(p.location[1]))
        later.append(replace(p, location=at))
    placed = later
    return drafts, rotations, bodies, zero, meshes, placed, motion.move_camera(shot, v_cam, t)


def actor_z(street: Any, q: np.ndarray, mesh: Any, actor: ActorConfig) -> float:
    """An actor's height: its feet on the ground at ``q``; one with a vehicle stays
    at the ground, :func:`.vehicles.fit` lifts it onto its seat."""
    z = street.ground_z(q[1])
    return float(z if actor.vehicle != "none" else z - mesh.vertices[:, 2].min())


def sample_pedestrians(cfg: Job, scene_index: int) -> SceneSpec:
    """Every random choice of scene ``scene_index`` of a ``family: pedestrians`` config."""
    if not isinstance(cfg.scene, PedestriansScene):
        raise ValueError(
            f"sample_pedestrians needs scene.family 'pedestrians', got {cfg.scene.family!r}"
        )
    sc = scenario.scene_for(cfg.scene)
    model = load_model()
    frame = frame_of(cfg.render.frames, cfg.render.fps, scene_index)
    key = frame.video if frame else scene_index  # a sequence's frames share every choice
    street = sample_street(sc.street, stream(cfg.seed, key, "street"))
    shot = sample_shot(sc.camera, cfg.render, street, stream(cfg.seed, key, "camera"))
    v_cam = np.zeros(3)
    path: list[np.ndarray] = []
    if frame is not None:  # nothing in the way of the camera over the whole sequence
        seconds = (frame.frames + 1) / frame.fps
        v_cam = motion.camera_velocity(shot, sc.camera, stream(cfg.seed, key, "sequence"),
                                       seconds, street.facade - DRONE_MARGIN_M)  # fmt: skip
        eye = np.asarray(shot.camera.poses[0])[:3, 3]
        metres = float(np.linalg.norm(v_cam)) * seconds
        path = [eye + v_cam * t for t in np.linspace(0.0, seconds, 2 + int(metres))]
    street = clear_view(street, shot, path)
    lights, world, when = sample_light(sc.sky, street, stream(cfg.seed, key, "light"))
    starts: list[tuple[ActorConfig, np.ndarray, float]] = []  # scenario actors
    if sc.scenario is not None:
        r_act = stream(cfg.seed, key, "scenario")
        pose0 = np.asarray(shot.camera.poses[0])
        forward = 1.0 if pose0[0, 2] >= 0 else -1.0
        at_crossing = [a for a in sc.scenario.actors if a.start == "crossing"]
        if at_crossing:
            street = scenario.crossing_ahead(
                street, at_crossing[0].ahead_m, float(pose0[0, 3]), forward, r_act
            )
        for actor in sc.scenario.actors:
            points, yaw = scenario.start_points(
                actor, integer(r_act, actor.count), pose0[:3, 3], forward, street.edge,
                street.crossing, r_act,
            )  # fmt: skip
            starts += [(actor, p, yaw) for p in points]
        street = scenario.without_items_at(street, [p for _, p, _ in starts])
        for a, q, _ in starts:
            if a.start == "bus_stop" and not any(it.kind == "shelter" for it in street.items):
                street = scenario.with_shelter(street, q)
    r_people = stream(cfg.seed, key, "people")
    benches_seen = sum(
        1
        for it in street.items
        if it.kind == "bench"
        and visible_height(shot, np.array([it.x, it.y, street.curb_height]), 1.0) > 0
    )
    drafts: list[Draft] = []
    for _ in range(integer(r_people, sc.people.count)):
        sitting_ok = sum(d.person.pose.activity == "sit" for d in drafts) < 2 * benches_seen
        drafts.append(draft(sc, sitting_ok, r_people))
    ambient = len(drafts)
    if starts:
        r_look = stream(cfg.seed, key, "scenario_people")
        for a, _, _ in starts:
            d = draft(scenario.actor_scene(sc, a), False, r_look)
            riding = a.vehicle != "none"
            drafts.append(
                replace(
                    d, person=scenario.ride(d.person, a.vehicle), umbrella=d.umbrella and not riding
                )
            )
    people, rotations, bodies, zero = ppl.pose_people([d.person for d in drafts], model=model)
    drafts = [replace(d, person=p) for d, p in zip(drafts, people, strict=True)]
    meshes = [
        ppl.person_mesh(model, bodies, i, p, rotations[i], zero) for i, p in enumerate(people)
    ]
    placed, seats = place_people(
        sc, street, shot, drafts[:ambient], meshes[:ambient], stream(cfg.seed, key, "placement")
    )
    if starts:  # the actors, last; nobody else stands where one starts
        placed = [
            p for p in placed
            if all(np.hypot(*(p.location[:2] - q)) > 1.0 for _, q, _ in starts)
        ]  # fmt: skip
        placed += [
            Placed(
                ambient + j,
                np.array([q[0], q[1], actor_z(street, q, meshes[ambient + j], a)]),
                yaw,
            )
            for j, (a, q, yaw) in enumerate(starts)
        ]
    heights = [float(np.ptp(m.vertices[:, 2])) for m in meshes]
    first = (drafts, rotations, bodies, zero, meshes, placed, shot)
    waits: dict[int, float] = {}  # actors with a trigger: seconds until the camera is near
    speed_cam = float(np.linalg.norm(v_cam))
    if frame is not None and speed_cam > 0:
        eye_x = float(np.asarray(shot.camera.poses[0])[0, 3])
        for j, (actor, q, _) in enumerate(starts):
            if actor.trigger_m is not None:
                gap = abs(float(q[0]) - eye_x) - actor.trigger_m
                waits[ambient + j] = max(0.0, gap / speed_cam)
    nxt = None
    if frame is not None:  # the sequence's first frame, t seconds on
        if frame.index > 0 or waits:
            drafts, rotations, bodies, zero, meshes, placed, shot = _at_time(
                first, heights, v_cam, frame.time_s, model, waits, street.ground_z
            )
        if cfg.render.flow:
            nxt = _at_time(
                first, heights, v_cam, frame.time_s + 1 / frame.fps, model, waits, street.ground_z
            )

    rides = {ambient + j: a.vehicle for j, (a, _, _) in enumerate(starts) if a.vehicle != "none"}
    fits = vehicles.fit(
        rides,
        bodies.bone_poses,
        meshes,
        {i: drafts[i].person.pose.phase for i in rides},
        heights,
        model.bones,
    )
    next_fits = (
        {}
        if nxt is None
        else vehicles.fit(
            rides,
            nxt[2].bone_poses,
            nxt[4],
            {i: nxt[0][i].person.pose.phase for i in rides},
            heights,
            model.bones,
        )
    )
    lift = {i: np.array([0.0, 0.0, f[1]]) for i, f in fits.items()}
    r_cars = stream(cfg.seed, key, "car_lights")
    lights_on = frozenset(
        k for k, it in enumerate(street.items)
        if it.kind == "car" and when in ("dusk", "night") and r_cars.random() < sc.sky.car_lights_share
    )  # fmt: skip
    objects = street_objects(
        street, seats, when in ("dusk", "night"), stream(cfg.seed, key, "street_materials"),
        lit_windows=sc.sky.lit_window_share if when == "night" else 0.0, lights_on=lights_on,
    )  # fmt: skip
    if when == "night":
        lights = [*lights, *headlights(shot, sc.sky.headlight_power_w)]
    exposure = uniform(stream(cfg.seed, key, "motion"), sc.camera.exposure_s)
    world, weathered = weather(
        sc.sky, street, world, v_cam, exposure, stream(cfg.seed, key, "fog"),
        derive_int(cfg.seed, scene_index, "weather"),
    )  # fmt: skip
    params = {
        "people": [
            ppl.person_to_params(drafts[p.index].person, rotations[p.index], model.bones)
            for p in placed
        ]
    }
    next_params = None
    if nxt is not None:
        next_params = {
            "people": [
                ppl.person_to_params(nxt[0][p.index].person, nxt[1][p.index], model.bones)
                for p in nxt[5]
            ]
        }
    for k, p in enumerate(placed):
        d = drafts[p.index]
        r = rot_z(p.yaw)
        up = lift.get(p.index, np.zeros(3))
        kp_world = bodies.keypoints[p.index] @ r.T + p.location + up
        pose = d.person.pose
        velocity = None
        if shot.camera.motion_blur > 0 and pose.activity in motion.MOVING:
            v = motion.velocity(p.yaw, pose.activity, pose.speed)
            velocity = [float(c) for c in v * exposure / shot.camera.motion_blur]
        objects.append(
            ObjectSpec(
                name=f"person_{k}",
                instance_id=k + 1,
                category_id=cfg.category_id(
                    sc.rider_category if rides.get(p.index) == "bicycle" else sc.category
                ),
                geometry=GeometrySpec(
                    kind="procedural", generator="people", params=params, part=f"person_{k}"
                ),
                location=[float(c) for c in p.location + up],
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
                next=None
                if nxt is None
                else NextPose(
                    location=[float(c) for c in nxt[5][k].location + up],
                    rotation_euler=[0.0, 0.0, p.yaw],
                    geometry=GeometrySpec(
                        kind="procedural",
                        generator="people",
                        params=next_params,
                        part=f"person_{k}",
                    ),  # fmt: skip
                ),
                info=PersonInfo(
                    age_years=round(d.years, 1),
                    gender=round(d.person.phenotype[0], 3),
                    height_m=round(heights[p.index], 3),
                    skin_tone=round(d.tone, 3),
                    weight=round(d.person.phenotype[3], 3),
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
                        material=plain_material(
                            color if part == "canopy" else [0.1, 0.1, 0.1], 0.5
                        ),
                    )
                )
    vehicle_ids = iter(range(len(placed) + 1, len(placed) + 1 + len(fits)))
    by_name = {o.name: o for o in objects}
    r_paint = stream(cfg.seed, key, "vehicles")
    for k, p in enumerate(placed):  # bicycles, wheelchairs, strollers: after every person
        if p.index not in fits:
            continue
        extra: dict[str, Any] = {"velocity": by_name[f"person_{k}"].velocity}
        if nxt is not None:
            geo = GeometrySpec(
                kind="procedural", generator="vehicle", params=next_fits[p.index][0], part="body"
            )
            loc = [float(c) for c in nxt[5][k].location]
            extra["next"] = NextPose(location=loc, rotation_euler=[0.0, 0.0, p.yaw], geometry=geo)
        objects.append(
            vehicles.vehicle_object(
                f"person_{k}_{rides[p.index]}", next(vehicle_ids), cfg.category_id(rides[p.index]),
                fits[p.index][0], [float(c) for c in p.location], p.yaw, r_paint,
                min_pixels=sc.min_person_pixels, amodal=sc.amodal, **extra,
            )
        )  # fmt: skip
    if sc.scenario is not None:
        eye = np.asarray(shot.camera.poses[0])[:3, 3]
        first_actor = len(placed) - len(starts)
        rows = []
        for k, p in enumerate(placed[first_actor:], first_actor):
            pose = drafts[p.index].person.pose
            vel = motion.velocity(p.yaw, pose.activity, pose.speed)
            rows.append((k + 1, np.asarray(p.location), vel))
        moving = frame is not None and shot.rig == "dashcam"
        scenario_meta = scenario.record(sc.scenario.name, rows, eye, v_cam if moving else None)
    rspec = render_spec(cfg, scene_index)
    if sc.camera.sensor.exposure == "auto":
        fields = sc.camera.sensor.model_dump(exclude={"exposure"})
        rspec = rspec.model_copy(
            update={
                "sensor": SensorSpec(**fields, seed=derive_int(cfg.seed, scene_index, "sensor"))
            }
        )
    camera = shot.camera
    if frame is not None and camera.motion_blur > 0 and np.any(v_cam):  # the car's own motion
        per_frame = v_cam * exposure / camera.motion_blur
        camera = camera.model_copy(update={"velocity": [float(c) for c in per_frame]})
    if nxt is not None:
        camera = camera.model_copy(update={"next_poses": nxt[6].camera.poses})
    return SceneSpec(
        family="pedestrians",
        scene_index=scene_index,
        seed=cfg.seed,
        objects=objects,
        lights=lights,
        world=world,
        camera=camera,
        render=rspec,
        meta={
            "rig": shot.rig,
            "time_of_day": when,
            "wet": street.wet,
            "people_drafted": len(drafts),
            "people_placed": len(placed),
            **({"scenario": scenario_meta} if sc.scenario is not None else {}),
            "conditions": {
                "rig": shot.rig,
                "time_of_day": when,
                "wet": street.wet,
                **weathered,
            },  # fmt: skip
            **({"sequence": frame.meta()} if frame else {}),
        },
    )
