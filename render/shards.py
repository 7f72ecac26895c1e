"""The shard store of a rendered dataset: ``DIR/shards/NNNNNN.json``, one per
committed scene, written last by :func:`render.dataset.write_scene` (its presence
marks the scene committed), read by the driver (resume), the executors (a lost
result), :mod:`render.merge` and ``synthcv merge``.

Every shard records the run that wrote it (:func:`run_identity`: the family, the
seed and a hash of the resolved config, ``num_scenes`` aside), so a shard copied
in from another run is refused instead of merged (:func:`check_provenance`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from render.errors import DatasetError
from render.spec import scene_filename

SHARD_VERSION = 2
"""2: shards record their run (``run``); 1 did not."""
FOLDER = "shards"
_SHARD_NAME = re.compile(r"^(\d{6,})\.json$")


def shard_path(out_dir: Path, scene_index: int) -> Path:
    """``DIR/shards/NNNNNN.json`` of a scene."""
    return Path(out_dir) / FOLDER / scene_filename(scene_index)


def run_identity(config: dict[str, Any]) -> dict[str, Any]:
    """What identifies a render run, from its resolved config (as JSON): ``family``,
    ``seed`` and ``config_sha256`` (the canonical JSON without ``num_scenes``, which
    a run may grow)."""
    body = {k: v for k, v in config.items() if k != "num_scenes"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return {
        "family": (config.get("scene") or {}).get("family"),
        "seed": config.get("seed"),
        "config_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def shard_files(out_dir: Path) -> list[tuple[int, Path]]:
    """``(scene index, path)`` of every shard file in ``out_dir``, by scene."""
    folder = Path(out_dir) / FOLDER
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _SHARD_NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def read_shard(index: int, path: Path) -> dict[str, Any] | None:
    """The shard's content, or None if it is unreadable or not a shard of ``index``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("scene_index") != index
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        return None
    return data


def foreign(shard: dict[str, Any], run: dict[str, Any]) -> str | None:
    """Why ``shard`` is not of ``run`` (:func:`run_identity`), or None if it is."""
    have = shard.get("run")
    if not isinstance(have, dict):
        return (
            f"written by an older synthcv (shard version {shard.get('version', 1)}) or another tool"
        )
    if have == run:
        return None
    if have.get("family") != run.get("family") or have.get("seed") != run.get("seed"):
        return (
            f"from another run (family {have.get('family')}, seed {have.get('seed')}; "
            f"this dataset: family {run.get('family')}, seed {run.get('seed')})"
        )
    return "from a run with another config (its config hash differs)"


def completed_scenes(out_dir: Path) -> set[int]:
    """Scene indices whose shard exists and parses (committed scenes)."""
    return {i for i, p in shard_files(out_dir) if read_shard(i, p) is not None}


def check_provenance(
    out_dir: Path, run: dict[str, Any], scenes: Iterable[int] | None = None
) -> set[int]:
    """The committed scenes of ``out_dir`` (among ``scenes`` if given), after
    checking that every readable shard was written by ``run``; a shard of another
    run is a one-line DatasetError naming it."""
    wanted = None if scenes is None else set(scenes)
    done = set()
    for index, path in shard_files(out_dir):
        if wanted is not None and index not in wanted:
            continue
        shard = read_shard(index, path)
        if shard is None:
            continue
        why = foreign(shard, run)
        if why is not None:
            raise DatasetError(
                f"{path}: {why}; move it out of {Path(out_dir) / FOLDER} (a shard belongs "
                "to the dataset its run wrote)"
            )
        done.add(index)
    return done
