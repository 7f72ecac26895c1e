"""Procedural poses for anny bodies (pure numpy): gait, standing, sitting, riding
(:mod:`.riding`: a bicycle, a wheelchair), arm actions.

A pose is described by a few numbers (:class:`PoseParams`: activity, gait phase
and speed, arm action, torso turn, head direction) and turned into anny's
per-bone rotation vectors by :func:`pose_rotations`, from the body's own rest
skeleton (:class:`Rig`), so the same description fits a child and a tall adult.

anny's "local-ref" parameterisation: each bone rotates about its head in
world-aligned rest axes, and a bone's world rotation is its parent's times its
own. So a bone's local rotation is expressed in the body frame as if its
parents were unrotated: Z up, the person faces -Y, +X is the person's left.
Angles in radians; flexion of a hip or shoulder moves the limb forward (-Y).

Arms either follow angles (hanging, swinging) or reach a wrist target by
two-bone inverse kinematics (phone, waving, pockets, crossed arms); either way
:func:`arm_penetration` measures how deep an arm passes into the torso, and the
sampler widens the arm until it stays within tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from render.families.pedestrians.gait import gait_amplitude, gait_angles

Activity = Literal["walk", "run", "stand", "sit", "cycle", "wheelchair"]
ArmAction = Literal[
    "swing", "hang", "phone_call", "phone_text", "carry", "wave", "pockets", "crossed",
    "handlebar", "rims", "push",
]  # fmt: skip
ARM_ACTIONS: dict[Activity, tuple[ArmAction, ...]] = {
    "walk": ("swing", "phone_call", "phone_text", "carry", "pockets"),
    "run": ("swing",),
    "stand": ("hang", "phone_call", "phone_text", "carry", "wave", "pockets", "crossed"),
    "sit": ("hang", "phone_text", "crossed"),
    "cycle": ("handlebar",),
    "wheelchair": ("rims",),
}
"""Which arm actions go with which activity ("hang" while sitting: hands on thighs;
``push``, a stroller's handle, is given to walkers by a scenario, :mod:`.riding`)."""

FORWARD = np.array([0.0, -1.0, 0.0])
UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class PoseParams:
    """What a person is doing.

    ``phase`` in [0, 1): gait cycle of the left leg (0 = left heel strike);
    ``speed`` m/s (walk/run); ``turn``: torso yaw relative to the hips;
    ``head_yaw``, ``head_pitch`` (down positive); ``arm_side``: +1 left, -1 right
    arm for one-handed actions; ``spread``: extra arm abduction added by the
    collision check (left, right)."""

    activity: Activity = "stand"
    arms: ArmAction = "hang"
    phase: float = 0.0
    speed: float = 1.3
    turn: float = 0.0
    head_yaw: float = 0.0
    head_pitch: float = 0.0
    arm_side: int = 1
    weight_shift: float = 0.0
    spread: tuple[float, float] = field(default=(0.0, 0.0))


# --------------------------------------------------------------------------- rotations


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` about unit ``axis`` (Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit direction ``a`` to unit direction ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        ortho = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(ortho) < 1e-6:
            ortho = np.cross(a, [0.0, 1.0, 0.0])
        return axis_angle(ortho, math.pi)
    return axis_angle(axis, math.atan2(s, c))


def rotvec(r: np.ndarray) -> np.ndarray:
    """3x3 rotation -> rotation vector (axis * angle, radians)."""
    from scipy.spatial.transform import Rotation

    return np.asarray(Rotation.from_matrix(r).as_rotvec(), dtype=np.float64)


def _rx(a: float) -> np.ndarray:
    return axis_angle(np.array([1.0, 0.0, 0.0]), a)


def _ry(a: float) -> np.ndarray:
    return axis_angle(np.array([0.0, 1.0, 0.0]), a)


def _rz(a: float) -> np.ndarray:
    return axis_angle(np.array([0.0, 0.0, 1.0]), a)


def _angle_between(a: np.ndarray, b: np.ndarray, axis: np.ndarray) -> float:
    """Signed angle from ``a`` to ``b`` about ``axis`` (all roughly perpendicular)."""
    return math.atan2(float(np.dot(np.cross(a, b), axis)), float(np.dot(a, b)))


# --------------------------------------------------------------------------- rig


@dataclass(frozen=True)
class Rig:
    """The rest skeleton and torso shape of one body, body frame, metres.

    heads: (104, 3) bone heads (anny's bone frames at the zero pose); bones: labels;
    keypoints: (17, 3) rest COCO keypoints; front / width: (Z,) the trunk's most
    forward y (its front surface) and its half-width max |x| per 1-cm height bin from
    ``z0`` (where an arm must go around the chest, belly and hips)."""

    heads: np.ndarray
    bones: tuple[str, ...]
    keypoints: np.ndarray
    front: np.ndarray
    width: np.ndarray
    z0: float

    def head(self, bone: str) -> np.ndarray:
        return self.heads[self.bones.index(bone)]

    def direction(self, start: str, end: str) -> np.ndarray:
        d = self.head(end) - self.head(start)
        return d / np.linalg.norm(d)

    def _at(self, profile: np.ndarray, z: float) -> float:
        k = int(np.clip(round((z - self.z0) / 0.01), 0, len(profile) - 1))
        return float(
            profile[max(k - 2, 0) : k + 3].min()
            if profile is self.front
            else profile[max(k - 2, 0) : k + 3].max()
        )

    def front_at(self, z: float) -> float:
        """y of the trunk's front surface near height ``z`` (most forward within 2 cm)."""
        return self._at(self.front, z)

    def width_at(self, z: float) -> float:
        """Half-width of the trunk near height ``z`` (widest within 2 cm)."""
        return self._at(self.width, z)


def rig_from(
    bone_poses: np.ndarray,
    bones: tuple[str, ...],
    keypoints: np.ndarray,
    vertices: np.ndarray,
    trunk: np.ndarray,
) -> Rig:
    """A :class:`Rig` from one body at the zero pose: bone frames (104, 4, 4), rest
    keypoints (17, 3), rest vertices (V, 3) and a (V,) mask of its trunk vertices."""
    pts = np.asarray(vertices)[trunk]
    z0 = float(pts[:, 2].min())
    bins = np.floor((pts[:, 2] - z0) / 0.01).astype(np.int64)
    n = int(bins.max()) + 1
    front = np.full(n, np.inf)
    width = np.zeros(n)
    np.minimum.at(front, bins, pts[:, 1])
    np.maximum.at(width, bins, np.abs(pts[:, 0]))
    front = np.where(np.isfinite(front), front, float(pts[:, 1].min()))
    return Rig(
        heads=np.asarray(bone_poses)[:, :3, 3].copy(),
        bones=bones,
        keypoints=keypoints,
        front=front,
        width=width,
        z0=z0,
    )


class _Pose:
    """Collects local rotations (3x3, rest axes) per bone."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.local: dict[str, np.ndarray] = {}

    def set(self, bone: str, r: np.ndarray) -> None:
        self.local[bone] = r

    def vectors(self) -> np.ndarray:
        out = np.zeros((len(self.rig.bones), 3))
        for bone, r in self.local.items():
            out[self.rig.bones.index(bone)] = rotvec(r)
        return out


# --------------------------------------------------------------------------- legs


def _leg(p: _Pose, side: str, hip: float, knee: float, ankle: float, abduct: float) -> None:
    """Thigh swung ``hip`` forward and ``abduct`` outward, knee flexed ``knee``, foot
    pitched so it stays parallel to the ground when the shin is vertical, then
    plantarflexed by ``ankle``."""
    rig, s = p.rig, 1.0 if side == "L" else -1.0
    thigh0 = rig.direction(f"upperleg01.{side}", f"lowerleg01.{side}")
    shin0 = rig.direction(f"lowerleg01.{side}", f"foot.{side}")
    x_axis, down = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0])
    rest_knee = _angle_between(thigh0, shin0, x_axis)
    target = _rx(-hip) @ _ry(-s * abduct) @ down
    p.set(f"upperleg01.{side}", swing(thigh0, target))
    p.set(f"lowerleg01.{side}", _rx(knee - rest_knee))
    # pitches are rotations about +X (backwards): the shin goes from its rest pitch to
    # knee - hip; the foot turns back by that change, then plantarflexes by ankle
    shin_rest = _angle_between(down, shin0, x_axis)
    p.set(f"foot.{side}", _rx(ankle + hip - knee + shin_rest))


# --------------------------------------------------------------------------- arms


def _arm_directions(p: _Pose, side: str, upper: np.ndarray, fore: np.ndarray) -> None:
    """Point the upper arm along ``upper`` and the forearm along ``fore`` (unit
    vectors in the torso's rest frame), keeping the elbow a hinge."""
    rig = p.rig
    r_u = rig.direction(f"upperarm01.{side}", f"lowerarm01.{side}")
    r_f = rig.direction(f"lowerarm01.{side}", f"wrist.{side}")
    hinge0 = np.cross(r_u, r_f)
    hinge0 /= np.linalg.norm(hinge0)
    rest_flex = math.acos(float(np.clip(np.dot(r_u, r_f), -1, 1)))
    sw = swing(r_u, upper)
    flex = math.acos(float(np.clip(np.dot(upper, fore), -1, 1)))
    hinge = np.cross(upper, fore)
    if np.linalg.norm(hinge) > 1e-6:
        hinge /= np.linalg.norm(hinge)
        twist = _angle_between(sw @ hinge0, hinge, upper)
    else:
        twist = 0.0
    p.set(f"upperarm01.{side}", axis_angle(upper, twist) @ sw)
    p.set(f"lowerarm01.{side}", axis_angle(hinge0, flex - rest_flex))


def _hanging(abduct: float, flex: float, elbow: float, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper arm ``abduct`` out and ``flex`` forward of vertical, forearm bent
    ``elbow`` further forward (and slightly inward)."""
    upper = _rx(-flex) @ _ry(-s * abduct) @ np.array([0.0, 0.0, -1.0])
    bend_axis = np.cross(upper, FORWARD - 0.25 * s * np.array([1.0, 0.0, 0.0]))
    bend_axis /= np.linalg.norm(bend_axis)
    fore = axis_angle(bend_axis, elbow) @ upper
    return upper, fore / np.linalg.norm(fore)


def _reach(
    rig: Rig, side: str, target: np.ndarray, pole: np.ndarray, hand: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone IK: upper arm and forearm directions that put the wrist (or, with
    ``hand`` = a fraction of the forearm, a point that far beyond the wrist: the
    palm) at ``target`` (clamped to reach), the elbow towards ``pole``."""
    shoulder = rig.head(f"upperarm01.{side}")
    l1 = float(np.linalg.norm(rig.head(f"lowerarm01.{side}") - shoulder))
    l2 = float(np.linalg.norm(rig.head(f"wrist.{side}") - rig.head(f"lowerarm01.{side}")))
    l2 *= 1.0 + hand
    to = target - shoulder
    d = float(np.clip(np.linalg.norm(to), abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3))
    u = to / np.linalg.norm(to)
    v = pole - np.dot(pole, u) * u
    if np.linalg.norm(v) < 1e-9:
        v = np.cross(u, [1.0, 0.0, 0.0])
    v /= np.linalg.norm(v)
    alpha = math.acos(float(np.clip((l1 * l1 + d * d - l2 * l2) / (2 * l1 * d), -1, 1)))
    elbow = shoulder + l1 * (math.cos(alpha) * u + math.sin(alpha) * v)
    upper = (elbow - shoulder) / l1
    fore = shoulder + d * u - elbow
    return upper, fore / np.linalg.norm(fore)


def _arm(p: _Pose, side: str, params: PoseParams, gait_phase: float) -> None:
    rig = p.rig
    s = 1.0 if side == "L" else -1.0
    spread = params.spread[0 if side == "L" else 1]
    out = spread * 0.3  # metres an IK target moves out per radian of spread
    kp = rig.keypoints
    acting = (params.arm_side > 0) == (side == "L")
    action = params.arms
    shoulder = rig.head(f"upperarm01.{side}")
    shoulder_z = float(kp[5:7, 2].mean())
    hip = kp[11 if side == "L" else 12]
    base_abduct = math.radians(7) + spread
    if action in ("phone_call", "carry", "wave", "umbrella") and not acting:
        action = "swing" if params.activity == "walk" else "hang"
    if action in ("handlebar", "rims", "push"):  # on a bicycle, a wheelchair, a stroller
        from render.families.pedestrians.riding import arm_target

        target, pole = arm_target(rig, side, action, out)
        upper, fore = _reach(rig, side, target, pole)
    elif params.activity == "sit" and action == "hang":  # hands resting on the thighs
        target = hip + np.array([s * (0.02 + out), -0.26, 0.1 + out])
        upper, fore = _reach(rig, side, target, np.array([s * 1.0, 0.6, -0.5]))
    elif action == "swing":
        run = params.activity == "run"
        amp = math.radians(38 if run else 8 + 10 * min(params.speed, 2.0))
        swing_angle = amp * math.cos(2 * math.pi * (gait_phase + 0.5))
        elbow = math.radians(88 if run else 14) + max(0.0, swing_angle) * (0.4 if run else 0.8)
        upper, fore = _hanging(
            base_abduct + (math.radians(6) if run else 0.0), swing_angle, elbow, s
        )
    elif action == "hang":
        upper, fore = _hanging(base_abduct, math.radians(3), math.radians(12), s)
    elif action == "carry":
        upper, fore = _hanging(base_abduct + math.radians(6), math.radians(2), math.radians(6), s)
    elif action == "phone_call":  # the palm at the ear
        ear = kp[3 if side == "L" else 4]
        target = ear + np.array([s * (0.03 + out), -0.015, -0.01])
        upper, fore = _reach(rig, side, target, np.array([s * 1.0, 0.3, -1.0]), hand=0.3)
    elif action == "phone_text":  # both hands hold the phone in front of the chest
        z = shoulder_z - 0.25
        target = np.array([s * (0.05 + out), rig.front_at(z) - 0.17, z])
        upper, fore = _reach(rig, side, target, np.array([s * 0.5, 0.5, -1.0]))
    elif action == "umbrella":  # the hand in front of the shoulder, forearm up
        z = shoulder_z - 0.05
        target = np.array([s * (0.1 + out), rig.front_at(z) - 0.2, z])
        upper, fore = _reach(rig, side, target, np.array([s * 1.0, 0.3, -1.0]))
    elif action == "wave":
        swing_x = 0.07 * math.sin(2 * math.pi * gait_phase)
        target = shoulder + np.array([s * (0.24 + swing_x + out), -0.1, 0.42])
        upper, fore = _reach(rig, side, target, np.array([s * 1.0, 0.2, -1.0]))
    elif action == "pockets":  # wrists at the front pockets, elbows out and back
        z = float(hip[2]) - 0.03
        target = np.array([s * (rig.width_at(z) - 0.01 + out), float(hip[1]) - 0.06, z])
        upper, fore = _reach(rig, side, target, np.array([s * 1.0, 1.0, 0.1]))
    else:  # crossed: each wrist towards the other side, in front of the chest
        over = 1.0 if side == "L" else 0.0
        z = shoulder_z - 0.2 + 0.035 * over
        target = np.array(
            [-s * 0.6 * rig.width_at(z), rig.front_at(z) - 0.06 - 0.045 * over - out, z]
        )
        upper, fore = _reach(rig, side, target, np.array([s * 1.0, 0.3, -1.0]))
    _arm_directions(p, side, upper, fore)


# --------------------------------------------------------------------------- whole body


def pose_rotations(rig: Rig, params: PoseParams) -> np.ndarray:
    """anny pose parameters (104, 3) rotation vectors for ``params`` on ``rig``."""
    p = _Pose(rig)
    act = params.activity
    if act in ("walk", "run"):
        run = act == "run"
        amp = gait_amplitude(run, params.speed)
        for side, phase in (("L", params.phase), ("R", (params.phase + 0.5) % 1.0)):
            hip, knee, ankle = gait_angles(phase, run, amp)
            _leg(p, side, hip, knee, ankle, math.radians(2))
        lean = math.radians(9 if run else 2)
        pelvis_yaw = math.radians(5 if run else 4) * math.cos(2 * math.pi * params.phase)
    elif act in ("cycle", "wheelchair"):
        from render.families.pedestrians.riding import legs

        lean = legs(p, params, _leg)
        pelvis_yaw = 0.0
    elif act == "sit":
        for side in ("L", "R"):
            _leg(p, side, math.radians(88), math.radians(92), 0.0, math.radians(6))
        lean = math.radians(-4)
        pelvis_yaw = 0.0
    else:
        w = params.weight_shift
        _leg(p, "L", math.radians(2), math.radians(3 + 6 * max(-w, 0)), 0.0, math.radians(4))
        _leg(p, "R", math.radians(2), math.radians(3 + 6 * max(w, 0)), 0.0, math.radians(4))
        lean = math.radians(1)
        pelvis_yaw = 0.0
    # torso: counter-rotation to the pelvis, a lean, and the requested turn, spread over
    # the five spine bones (each adds its share in its parent's frame)
    twist = params.turn - pelvis_yaw
    for bone in ("spine05", "spine04", "spine03", "spine02", "spine01"):
        p.set(bone, _rz(twist / 5) @ _rx(lean / 5))
    head_pitch = params.head_pitch + (math.radians(25) if params.arms == "phone_text" else 0.0)
    p.set("neck01", _rz(params.head_yaw * 0.5) @ _rx(head_pitch * 0.5))
    p.set("head", _rz(params.head_yaw * 0.5) @ _rx(head_pitch * 0.5))
    for side in ("L", "R"):
        gait_phase = params.phase if side == "L" else (params.phase + 0.5) % 1.0
        _arm(p, side, params, gait_phase)
    return p.vectors()


# --------------------------------------------------------------------------- checks


def arm_penetration(
    vertices: np.ndarray,
    normals: np.ndarray,
    part_names: np.ndarray,
    sides: np.ndarray,
    shoulders: np.ndarray,
) -> tuple[float, float]:
    """How deep (metres) the left and right arm pass into the torso of one posed body.

    vertices, normals: (V, 3) posed; part_names: (V,) str part of each vertex
    (:func:`render.families.pedestrians.regions.vertex_parts` names); sides: (V,)
    str "L", "R" or "" (the side of its dominant bone); shoulders: (2, 3) posed
    left and right shoulder joints. Arm vertices (upper arm, forearm) more than
    12 cm from their shoulder are tested against their nearest torso/pelvis vertex:
    the depth is how far behind that vertex's outward normal they lie.
    """
    from scipy.spatial import cKDTree

    trunk = np.isin(part_names, ("torso", "pelvis"))
    tree = cKDTree(vertices[trunk])
    trunk_normals = normals[trunk]
    out = []
    arm = np.isin(part_names, ("upperarm1", "upperarm2", "forearm"))
    for k, side in enumerate(("L", "R")):
        sel = arm & (sides == side)
        pts = vertices[sel]
        pts = pts[np.linalg.norm(pts - shoulders[k], axis=1) > 0.12]
        if len(pts) == 0:
            out.append(0.0)
            continue
        dist, idx = tree.query(pts, distance_upper_bound=0.08)
        ok = np.isfinite(dist)
        if not ok.any():
            out.append(0.0)
            continue
        depth = -np.einsum("ij,ij->i", pts[ok] - vertices[trunk][idx[ok]], trunk_normals[idx[ok]])
        out.append(float(max(depth.max(), 0.0)))
    return out[0], out[1]
