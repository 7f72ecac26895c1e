"""Named, derived random streams.

Every random choice draws from a ``numpy.random.Generator`` built by
:func:`stream`. A stream depends only on (seed, scene index, stage name), so scene
``i`` is identical whatever the worker count or order, and adding a stage does not
shift the others (Infinigen's idea, without global state).
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(name: str) -> int:
    """A 32-bit hash of ``name`` that is stable across processes and Python runs
    (unlike ``hash()``, which is salted per process)."""
    return int.from_bytes(hashlib.blake2s(name.encode("utf-8"), digest_size=4).digest(), "little")


def stream(seed: int, scene_index: int, name: str) -> np.random.Generator:
    """The generator for stage ``name`` of scene ``scene_index`` under ``seed``."""
    if seed < 0 or scene_index < 0:
        raise ValueError(f"seed and scene_index must be >= 0, got {seed}, {scene_index}")
    return np.random.default_rng(np.random.SeedSequence([seed, scene_index, stable_hash(name)]))


def derive_int(seed: int, scene_index: int, name: str, high: int = 2**31 - 1) -> int:
    """A derived integer seed in ``[0, high)``, e.g. for Cycles' own sampling seed."""
    return int(stream(seed, scene_index, name).integers(0, high))
