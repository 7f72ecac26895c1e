"""Clothing as material regions and shells on an anny body (pure numpy).

Every body vertex belongs to a *part* by its dominant skinning bone (head, torso,
upper arm, thigh, foot, ...). An outfit maps parts, cut by heights measured on
the body's own rest pose (hips, knees, ankles, eyes, ears from its keypoints),
to material slots: :data:`SLOTS`. Garments are shells too: clothed regions are
pushed out along the normals by a few millimetres (a garment's thickness, so
sleeves and trouser legs end in a visible step), the skirt and long hair are
anny's helper shells, cut to length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from render.geometry.build import vertex_normals

SLOTS = ("skin", "top", "bottom", "shoes", "hair", "eyes")
"""Material slot order of a person's mesh: slot 0 is the object's ``material``
(skin), slot k >= 1 its ``material_slots[k - 1]``."""
SKIN, TOP, BOTTOM, SHOES, HAIR, EYES = range(len(SLOTS))

Top = Literal["long", "short", "tank"]
Bottom = Literal["trousers", "shorts", "skirt"]
Hair = Literal["short", "long", "bald"]

THICKNESS = {TOP: 0.008, BOTTOM: 0.012, SHOES: 0.008, HAIR: 0.005}
"""Metres a clothed region stands off the skin, per slot."""

_PARTS = (
    ("eye", ("eye.",)),
    ("head", ("head", "neck02", "neck03")),
    ("neck", ("neck01",)),
    ("hand", ("wrist", "finger", "metacarpal")),
    ("forearm", ("lowerarm",)),
    ("upperarm2", ("upperarm02",)),
    ("upperarm1", ("upperarm01",)),
    ("torso", ("spine", "clavicle", "shoulder", "breast")),
    ("pelvis", ("pelvis", "root")),
    ("leg", ("upperleg", "lowerleg")),
    ("foot", ("foot", "toe")),
)
PART_NAMES = tuple(name for name, _ in _PARTS)


def vertex_parts(bones: tuple[str, ...], dominant_bone: np.ndarray) -> np.ndarray:
    """int (V,) index into :data:`PART_NAMES` of each vertex, from its dominant bone."""
    part_of_bone = np.zeros(len(bones), dtype=np.int64)
    for b, label in enumerate(bones):
        for k, (_, prefixes) in enumerate(_PARTS):
            if label.startswith(prefixes):
                part_of_bone[b] = k
                break
        else:
            raise ValueError(f"bone {label!r} belongs to no body part")
    return part_of_bone[dominant_bone]


@dataclass(frozen=True)
class Outfit:
    """What a person wears. ``skirt_length``: 0 (mini, mid-thigh) .. 1 (ankle)."""

    top: Top = "long"
    bottom: Bottom = "trousers"
    hair: Hair = "short"
    skirt_length: float = 0.5


def _part(name: str) -> int:
    return PART_NAMES.index(name)


def face_slots(
    faces: np.ndarray, parts: np.ndarray, rest: np.ndarray, rest_kp: np.ndarray, outfit: Outfit
) -> np.ndarray:
    """int (F,) material slot of each body triangle for ``outfit``.

    faces: (F, 3); parts: (V,) vertex parts from :func:`vertex_parts`; rest: (V, 3)
    rest-pose vertices; rest_kp: (17, 3) rest-pose COCO keypoints of the same body
    (metres). A face belongs to the part most of its vertices have; height cuts
    (waist, hems, hairline) test the face's centre, so hems are straight."""
    fp = parts[faces]
    part = np.where((fp[:, 1] == fp[:, 2]) & (fp[:, 0] != fp[:, 1]), fp[:, 1], fp[:, 0])
    centre = rest[faces].mean(axis=1)
    x, y, z = centre[:, 0], centre[:, 1], centre[:, 2]
    eye_z = rest_kp[1:3, 2].mean()
    ear_z, ear_y = rest_kp[3:5, 2].mean(), rest_kp[3:5, 1].mean()
    ear_x = np.abs(rest_kp[3:5, 0]).mean()
    hip_z, knee_z = rest_kp[11:13, 2].mean(), rest_kp[13:15, 2].mean()
    ankle_z, shoulder_z = rest_kp[15:17, 2].mean(), rest_kp[5:7, 2].mean()
    waist_z = hip_z + 0.2 * (shoulder_z - hip_z)
    is_ = {name: part == _part(name) for name in PART_NAMES}
    slots = np.full(len(faces), SKIN, dtype=np.int64)

    trunk = is_["torso"] | is_["pelvis"]
    sleeves = {"long": ("upperarm1", "upperarm2", "forearm"), "short": ("upperarm1",), "tank": ()}
    top = trunk & (z > waist_z)
    for p in sleeves[outfit.top]:
        top |= is_[p]
    if outfit.top == "tank":
        top &= ~(is_["torso"] & (z > shoulder_z - 0.03) & (np.abs(x) > 0.06))
    slots[top] = TOP

    legs = is_["leg"] | is_["foot"]
    cut = {
        "trousers": ankle_z + 0.03,
        "shorts": hip_z - 0.55 * (hip_z - knee_z),
        "skirt": hip_z - 0.12 * (hip_z - knee_z),  # briefs under the skirt shell
    }[outfit.bottom]
    slots[(trunk & (z <= waist_z)) | (legs & (z > cut))] = BOTTOM
    slots[legs & (z <= ankle_z + 0.03)] = SHOES
    slots[is_["eye"]] = EYES
    if outfit.hair != "bald":
        back = np.clip((y - (ear_y - 0.02)) / 0.08, 0.0, 1.0)
        line = np.where(y < ear_y - 0.02, eye_z + 0.055, ear_z + 0.03 - 0.09 * back)
        ears = (np.abs(np.abs(x) - ear_x) < 0.025) & (np.abs(z - ear_z) < 0.04)
        slots[is_["head"] & (z > line) & ~ears] = HAIR
    return slots


def shell_faces(
    helper_faces: dict[str, np.ndarray], rest: np.ndarray, rest_kp: np.ndarray, outfit: Outfit
) -> tuple[np.ndarray, np.ndarray]:
    """Triangles (Q, 3) and their slots (Q,) of the helper shells the outfit wears:
    the skirt cut at ``skirt_length`` and long hair with the face left free."""
    pieces, labels = [], []
    if outfit.bottom == "skirt":
        f = helper_faces["helper-skirt"]
        hip_z, ankle_z = rest_kp[11:13, 2].mean(), rest_kp[15:17, 2].mean()
        length = 0.3 + 0.7 * float(np.clip(outfit.skirt_length, 0.0, 1.0))
        keep = rest[f, 2].min(axis=1) >= hip_z - length * (hip_z - ankle_z)
        pieces.append(f[keep])
        labels.append(np.full(int(keep.sum()), BOTTOM))
    if outfit.hair == "long":
        f = helper_faces["helper-hair"]
        eye_z, nose_y = rest_kp[1:3, 2].mean(), rest_kp[0, 1]
        centre = rest[f].mean(axis=1)
        face_front = (centre[:, 1] < nose_y + 0.07) & (centre[:, 2] < eye_z + 0.06)
        face_front &= np.abs(centre[:, 0]) < 0.075
        pieces.append(f[~face_front])
        labels.append(np.full(int((~face_front).sum()), HAIR))
    if not pieces:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    return np.concatenate(pieces), np.concatenate(labels)


def dress(vertices: np.ndarray, body_faces: np.ndarray, body_slots: np.ndarray) -> np.ndarray:
    """Posed vertices (V, 3) with clothed regions pushed out by :data:`THICKNESS`
    along the body's normals; a vertex takes the largest thickness of its faces,
    so the surface stays closed and a garment's edge is a small step."""
    thickness = np.zeros(len(vertices))
    for slot, t in THICKNESS.items():
        touched = np.unique(body_faces[body_slots == slot])
        thickness[touched] = np.maximum(thickness[touched], t)
    normals = vertex_normals(vertices, body_faces)
    return vertices + normals * thickness[:, None]
