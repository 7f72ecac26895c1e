"""People as data: pose a batch of bodies, check their arms, dress them, build their
meshes (pure Python with torch on the CPU, through :mod:`.body`).

The sampler calls :func:`pose_people` (rest skeletons, procedural poses, the arm
collision check, keypoints); the Blender backend calls the ``people`` generator
(:func:`people_parts`) with the pose rotations the sampler stored in the
SceneSpec, which gives the same bodies again, dressed, as one mesh part each.

A person's mesh: the anny body (clothing as material slots, garments pushed out a
few millimetres), the skirt and long-hair shells when worn, and worn gear
(backpack, shoulder bag, handbag, hat) attached to its bones; point attribute
``rest`` holds each vertex's rest-pose position, so fabric patterns follow the
body. Body frame: Z up, facing -Y, metres, origin at the pelvis.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from functools import cache, lru_cache
from typing import Any, Literal

import numpy as np

from render.families.pedestrians import regions
from render.families.pedestrians.body import Bodies, BodyModel, load_model
from render.families.pedestrians.pose import (
    ArmAction,
    PoseParams,
    arm_penetration,
    pose_rotations,
    rig_from,
)
from render.geometry import Mesh
from render.geometry.build import box_piece, cylinder_piece, merge, vertex_normals

Gear = Literal["backpack", "shoulder_bag", "handbag", "hat"]
GEAR_SLOT = len(regions.SLOTS)
"""Material slot of worn gear (after the body's slots)."""
PENETRATION_TOLERANCE = 0.02
"""Metres an arm may sink into the torso (soft tissue is pressed, not crossed)."""
_SPREAD_STEP = 0.07  # radians an arm moves out per failed check


@dataclass(frozen=True)
class Person:
    """One person: phenotype (anny's six values in :attr:`BodyModel.phenotypes`
    order), pose description, outfit, worn gear."""

    phenotype: tuple[float, ...]
    pose: PoseParams = field(default_factory=PoseParams)
    outfit: regions.Outfit = field(default_factory=regions.Outfit)
    gear: tuple[Gear, ...] = ()


@cache
def _parts(model: BodyModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per vertex: part index, part name ("helper" for helper-shell vertices, which
    no body face uses), side ("L", "R" or "") of the dominant bone."""
    parts = regions.vertex_parts(model.bones, model.dominant_bone)
    names = np.array(regions.PART_NAMES + ("helper",))[parts]
    body = np.zeros(len(parts), dtype=bool)
    body[np.unique(model.faces)] = True
    names[~body] = "helper"
    labels = np.array(model.bones)[model.dominant_bone]
    sides = np.array([b[-1] if b.endswith((".L", ".R")) else "" for b in labels])
    sides[~body] = ""
    return parts, names, sides


def _shoulders(model: BodyModel, bone_poses: np.ndarray) -> np.ndarray:
    idx = [model.bones.index("upperarm01.L"), model.bones.index("upperarm01.R")]
    return bone_poses[idx, :3, 3]


def penetrations(model: BodyModel, bodies: Bodies) -> np.ndarray:
    """(B, 2) how deep each body's left and right arm pass into its torso, metres."""
    _, names, sides = _parts(model)
    out = np.zeros((len(bodies.vertices), 2))
    for i, v in enumerate(bodies.vertices):
        normals = vertex_normals(v, model.faces)
        out[i] = arm_penetration(v, normals, names, sides, _shoulders(model, bodies.bone_poses[i]))
    return out


def pose_people(
    people: list[Person], max_rounds: int = 10, model: BodyModel | None = None
) -> tuple[list[Person], np.ndarray, Bodies, Bodies]:
    """Pose a batch of people. An arm that sinks deeper than
    :data:`PENETRATION_TOLERANCE` into its torso is moved out (``pose.spread``) and
    that body posed again; after ``max_rounds // 2`` rounds a person whose arms
    still sink in drops the arm action for a relaxed one ("hang", or "swing" when
    walking or running). Only the failing bodies are posed again each round.

    Returns the people (with their final ``spread`` and arm action), their pose
    rotations (B, 104, 3), the posed bodies and the same bodies at the zero pose."""
    model = model or load_model()
    if not people:
        empty = np.zeros((0, 0, 3))
        none = Bodies(empty, empty, empty, empty, empty)
        return [], np.zeros((0, len(model.bones), 3)), none, none
    pheno = np.array([p.phenotype for p in people], dtype=np.float64)
    rest = model.forward(pheno, np.zeros((len(people), len(model.bones), 3)))
    _, names, _ = _parts(model)
    trunk = np.isin(names, ("torso", "pelvis"))
    rigs = [
        rig_from(rest.bone_poses[i], model.bones, rest.keypoints[i], rest.vertices[i], trunk)
        for i in range(len(people))
    ]
    people = list(people)
    rotations = np.stack([pose_rotations(r, p.pose) for r, p in zip(rigs, people, strict=True)])
    bodies = model.forward(pheno, rotations)
    todo = np.arange(len(people))
    for round_ in range(max_rounds):
        depth = penetrations(model, _subset(bodies, todo))
        bad = depth > PENETRATION_TOLERANCE
        todo = todo[bad.any(axis=1)]
        bad = bad[bad.any(axis=1)]
        if len(todo) == 0:
            break
        for i, sides in zip(todo, bad, strict=True):
            p = people[i].pose
            holding = ("hang", "swing", "handlebar", "rims", "push")  # riders keep their grip
            if round_ == max_rounds // 2 and p.arms not in holding:
                relaxed: ArmAction = "swing" if p.activity in ("walk", "run") else "hang"
                people[i] = replace(people[i], pose=replace(p, arms=relaxed, spread=(0.0, 0.0)))
                continue
            spread = (p.spread[0] + _SPREAD_STEP * sides[0], p.spread[1] + _SPREAD_STEP * sides[1])
            people[i] = replace(people[i], pose=replace(p, spread=spread))
        rotations[todo] = np.stack([pose_rotations(rigs[i], people[i].pose) for i in todo])
        again = model.forward(pheno[todo], rotations[todo])
        for field_name in ("vertices", "keypoints", "bone_poses"):
            getattr(bodies, field_name)[todo] = getattr(again, field_name)
    return people, rotations, bodies, rest


def _subset(bodies: Bodies, index: np.ndarray) -> Bodies:
    return Bodies(
        *(
            getattr(bodies, f)[index]
            for f in ("vertices", "keypoints", "bone_poses", "rest_vertices", "rest_keypoints")
        )
    )


# --------------------------------------------------------------------------- gear


def world_rotations(parents: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """(104, 3, 3) each bone's rotation relative to the rest pose: its parent's
    times its own local rotation (anny's local-ref parameterisation)."""
    from scipy.spatial.transform import Rotation

    local = Rotation.from_rotvec(rotations).as_matrix()
    world = np.empty_like(local)
    for b, parent in enumerate(parents):
        world[b] = local[b] if parent < 0 else world[parent] @ local[b]
    return world


def _gear_pieces(
    kind: Gear,
    zero_v: np.ndarray,
    trunk: np.ndarray,
    heads_rest: dict[str, np.ndarray],
    heads: dict[str, np.ndarray],
    rot: dict[str, np.ndarray],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gear meshes (vertices, faces) in the posed body frame. Each is placed on the
    body at the zero pose (``zero_v``, sizes follow its height), then moves with one
    bone: ``p = head + R (p_zero - head_zero)``."""
    rest_v = zero_v
    height = float(rest_v[:, 2].max() - rest_v[:, 2].min())
    k = height / 1.75

    def follow(bone: str, piece: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        v, f = piece
        return (v - heads_rest[bone]) @ rot[bone].T + heads[bone], f

    if kind == "backpack":
        w, d, h = 0.3 * k, 0.13 * k, 0.4 * k
        z = float(heads_rest["spine02"][2]) + 0.02 * k
        band = trunk & (np.abs(rest_v[:, 2] - z) < 0.06)
        back = float(rest_v[band, 1].max())
        lo, hi = np.array([-w / 2, back + 0.005, z - h / 2]), np.array([w / 2, back + d, z + h / 2])
        return [follow("spine02", box_piece(lo, hi))]
    if kind == "hat":
        head = rest_v[:, 2] > float(heads_rest["head"][2])
        top = float(rest_v[head, 2].max())
        cy = float(rest_v[head & (rest_v[:, 2] > top - 0.06), 1].mean())
        r = 0.8 * float(np.abs(rest_v[head & (rest_v[:, 2] > top - 0.08), 0]).max())
        crown = cylinder_piece(r * 1.08, top - 0.05 * k, top + 0.05 * k, 20, (0.0, cy))
        brim = cylinder_piece(r * 1.7, top - 0.05 * k, top - 0.043 * k, 24, (0.0, cy))
        return [follow("head", crown), follow("head", brim)]
    if kind == "handbag":  # hangs straight down from the left hand
        w, d, h = 0.26 * k, 0.1 * k, 0.2 * k
        hand = heads["wrist.L"] + np.array([0.0, 0.0, -0.09 * k])
        lo, hi = hand + [-d / 2, -w / 2, -h], hand + [d / 2, w / 2, 0.0]
        return [box_piece(lo, hi)]
    # shoulder bag at the left hip
    w, d, h = 0.25 * k, 0.08 * k, 0.2 * k
    z = float(heads_rest["upperleg01.L"][2]) + 0.03 * k
    band = trunk & (np.abs(rest_v[:, 2] - z) < 0.05)
    side = float(rest_v[band, 0].max())
    lo, hi = np.array([side, -w / 2, z - h / 2]), np.array([side + d, w / 2, z + h / 2])
    return [follow("spine05", box_piece(lo, hi))]


# --------------------------------------------------------------------------- meshes


def person_mesh(
    model: BodyModel,
    bodies: Bodies,
    i: int,
    person: Person,
    rotations: np.ndarray,
    zero: Bodies,
) -> Mesh:
    """The dressed mesh of body ``i`` of ``bodies``, posed by ``rotations`` (104, 3);
    ``zero``: the same bodies at the zero pose (gear is fitted there). Material
    slots per face (:data:`regions.SLOTS`, then :data:`GEAR_SLOT`), attribute ``rest``
    (anny's rest-pose position of each vertex: texture coordinates)."""
    parts, _, _ = _parts(model)
    rest_v, rest_kp = bodies.rest_vertices[i], bodies.rest_keypoints[i]
    body_slots = regions.face_slots(model.faces, parts, rest_v, rest_kp, person.outfit)
    verts = regions.dress(bodies.vertices[i], model.faces, body_slots)
    shell, shell_slots = regions.shell_faces(model.helper_faces, rest_v, rest_kp, person.outfit)
    faces = np.concatenate([model.faces, shell])
    slots = np.concatenate([body_slots, shell_slots])
    used, inverse = np.unique(faces, return_inverse=True)
    verts, rest, faces = verts[used], rest_v[used], inverse.reshape(-1, 3)
    if person.gear:
        _, names, _ = _parts(model)
        trunk = np.isin(names, ("torso", "pelvis"))
        bones = ("spine02", "spine05", "head", "wrist.L", "upperleg01.L")
        idx = {b: model.bones.index(b) for b in bones}
        world = world_rotations(model.parents, rotations)
        gear = merge(
            [
                piece
                for kind in person.gear
                for piece in _gear_pieces(
                    kind,
                    zero.vertices[i],
                    trunk,
                    {b: zero.bone_poses[i][j, :3, 3] for b, j in idx.items()},
                    {b: bodies.bone_poses[i][j, :3, 3] for b, j in idx.items()},
                    {b: world[j] for b, j in idx.items()},
                )
            ]
        )
        faces = np.concatenate([faces, gear.faces + len(verts)])
        slots = np.concatenate([slots, np.full(len(gear.faces), GEAR_SLOT)])
        verts = np.concatenate([verts, gear.vertices])
        rest = np.concatenate([rest, gear.vertices])
    return Mesh(
        verts,
        faces.astype(np.int64),
        smooth=True,
        material_index=slots.astype(np.int64),
        point_attributes={"rest": rest},
    )


def person_to_params(
    person: Person, rotations: np.ndarray, bones: tuple[str, ...]
) -> dict[str, Any]:
    """The JSON params the ``people`` generator rebuilds one person from: phenotype,
    the non-zero pose rotations by bone name, outfit, gear."""
    pose = {
        bones[b]: [float(x) for x in rotations[b]]
        for b in np.flatnonzero(np.abs(rotations).sum(axis=1) > 0)
    }
    return {
        "phenotype": [float(x) for x in person.phenotype],
        "pose": pose,
        "outfit": asdict(person.outfit),
        "gear": list(person.gear),
    }


@lru_cache(maxsize=4)
def _people_parts(key: str) -> dict[str, Mesh]:
    params = json.loads(key)
    model = load_model()
    people = params["people"]
    if not people:
        return {}
    rotations = np.zeros((len(people), len(model.bones), 3))
    for i, p in enumerate(people):
        for bone, rv in p["pose"].items():
            rotations[i, model.bones.index(bone)] = rv
    pheno = np.array([p["phenotype"] for p in people], dtype=np.float64)
    bodies = model.forward(pheno, rotations)
    zero = model.forward(pheno, np.zeros_like(rotations))
    out = {}
    for i, p in enumerate(people):
        person = Person(
            phenotype=tuple(p["phenotype"]),
            outfit=regions.Outfit(**p["outfit"]),
            gear=tuple(p["gear"]),
        )
        out[f"person_{i}"] = person_mesh(model, bodies, i, person, rotations[i], zero)
    return out


def people_parts(params: dict[str, Any]) -> dict[str, Mesh]:
    """Generator ``people``: ``params["people"]`` is a list of
    :func:`person_to_params` dicts; parts ``person_0`` .. ``person_{n-1}``, each in
    its own body frame (one batched forward pass for all of them)."""
    return _people_parts(json.dumps(params, sort_keys=True))
