"""Keypoint schemas: COCO's person keypoints and skeleton, and the left/right
mapping for mirrored images (COCO ``flip_idx``).

A mirror (horizontal or vertical flip, transpose, any transform with a negative
determinant) turns a person's left wrist into what looks like a right wrist, so
the keypoint slots must be permuted: ``kps_out = kps[flip_idx]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from render.errors import DatasetError

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
"""COCO's 17 person keypoints, in COCO order (``person_keypoints_*.json``)."""

COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7),
    (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5),
    (4, 6), (5, 7),
)  # fmt: skip
"""COCO's person skeleton: 1-based index pairs into :data:`COCO_KEYPOINTS`."""

_SIDE = re.compile(r"left|right", re.IGNORECASE)


def _swap_side(name: str) -> str:
    def repl(m: re.Match[str]) -> str:
        word = m.group(0)
        other = "right" if word.lower() == "left" else "left"
        if word.isupper():
            return other.upper()
        if word[0].isupper():
            return other.capitalize()
        return other

    return _SIDE.sub(repl, name)


def flip_index_from_names(names: Sequence[str]) -> list[int]:
    """Permutation swapping every ``*left*`` name with its ``*right*`` partner.

    ``left_eye`` <-> ``right_eye``, ``LeftHand`` <-> ``RightHand``, ``l_``/``r_``
    prefixes are not guessed. Names without a partner map to themselves.
    """
    index = {n: i for i, n in enumerate(names)}
    return [index.get(_swap_side(n), i) for i, n in enumerate(names)]


def flip_index(category: dict[str, Any]) -> list[int] | None:
    """The category's ``flip_idx`` (validated) or one derived from its ``keypoints``
    names; None when the category has no keypoints."""
    names = category.get("keypoints")
    given = category.get("flip_idx")
    cid = category.get("id")
    if names is not None and not isinstance(names, list):
        raise DatasetError(f"category {cid}: keypoints must be a list of names, got {names!r:.60}")
    if given is not None:
        n = len(names) if names else len(given) if isinstance(given, list) else 0
        if (
            not isinstance(given, list)
            or not all(type(i) is int for i in given)
            or sorted(given) != list(range(n))
        ):
            raise DatasetError(
                f"category {cid}: flip_idx must be a permutation of 0..{n - 1}, got {given!r:.80}"
            )
        return list(given)
    if not names:
        return None
    return flip_index_from_names([str(n) for n in names])
