"""Deterministic train/val/test splits by scene (pure).

Views of one scene never straddle splits: every image with the same ``scene_id``
(synthcv's image key; images of other datasets without it are their own group)
lands in one split, and so does every frame of one sequence (``video_id``). A group's split comes from a hash of (seed, group key), not
from its position in the dataset, so it does not change when scenes are added,
removed or reordered, and the shares converge to the requested fractions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from render.errors import UserError

SPLIT_NAMES = ("train", "val", "test")


def parse_fractions(text: str) -> dict[str, float]:
    """``train=0.8,val=0.2`` -> {"train": 0.8, "val": 0.2}; they must sum to 1."""
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in SPLIT_NAMES:
            raise UserError(
                f"--split: expected NAME=FRACTION with NAME in {', '.join(SPLIT_NAMES)}, got {part!r}"
            )
        if name in out:
            raise UserError(f"--split: {name} given twice")
        try:
            fraction = float(value)
        except ValueError:
            raise UserError(f"--split: {name}: expected a number, got {value!r}") from None
        if not 0 <= fraction <= 1:
            raise UserError(f"--split: {name}: expected a fraction in [0, 1], got {value}")
        out[name] = fraction
    if abs(sum(out.values()) - 1.0) > 1e-6:
        raise UserError(f"--split: fractions must sum to 1, got {sum(out.values()):g} ({text})")
    return out


def group_key(image: Mapping[str, Any]) -> str:
    """What keeps images together: the sequence (``video_id``: its frames are
    separate scenes), else the scene, else the image itself."""
    video = image.get("video_id")
    if video is not None:
        return f"video:{video}"
    scene = image.get("scene_id")
    return f"scene:{scene}" if scene is not None else f"image:{image.get('id')}"


def unit_interval(seed: int, key: str) -> float:
    """A number in [0, 1) that depends only on (seed, key)."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def split_of(seed: int, key: str, fractions: Mapping[str, float]) -> str:
    """The split of group ``key``: the first whose cumulative fraction exceeds its
    hash (fractions in :data:`SPLIT_NAMES` order)."""
    u = unit_interval(seed, key)
    total = 0.0
    last = next(n for n in reversed(SPLIT_NAMES) if fractions.get(n, 0) > 0)
    for name in SPLIT_NAMES:
        total += fractions.get(name, 0.0)
        if u < total:
            return name
    return last


def split_images(
    images: Iterable[Mapping[str, Any]], fractions: Mapping[str, float], seed: int
) -> dict[Any, str]:
    """image id -> split name, whole scenes at a time."""
    return {img["id"]: split_of(seed, group_key(img), fractions) for img in images}
