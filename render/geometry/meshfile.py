"""Checks of users' mesh files (OBJ, STL, PLY, GLB, GLTF) before anything renders.

A mesh named in a config is opened once when the config is loaded: it must be a
regular file of at most :data:`MAX_MESH_BYTES`, in a supported format, and load
with trimesh as at least one face with finite vertices, at most
:data:`MAX_MESH_FACES` faces. Each problem is a ValueError with one line.
"""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np

MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".gltf")
MAX_MESH_BYTES = 512 * 2**20
MAX_MESH_FACES = 5_000_000


def check_mesh_file(path: Path) -> None:
    """Raise ValueError naming what is wrong with the mesh file at ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise ValueError(f"unsupported mesh format {suffix!r}; use {', '.join(MESH_SUFFIXES)}")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ValueError("not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise ValueError("the file is empty")
    if size > MAX_MESH_BYTES:
        raise ValueError(
            f"{size / 2**20:.0f} MiB is more than the {MAX_MESH_BYTES // 2**20} MiB limit"
        )
    import trimesh

    try:
        loaded = trimesh.load(str(path), force="mesh")
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise ValueError(f"cannot read the mesh: {' '.join(str(exc).split())[:200]}") from None
    faces = getattr(loaded, "faces", None)
    verts = getattr(loaded, "vertices", None)
    if faces is None or verts is None or len(faces) == 0:
        raise ValueError("the file contains no faces")
    if len(faces) > MAX_MESH_FACES:
        raise ValueError(f"{len(faces):,} faces is more than the {MAX_MESH_FACES:,} limit")
    if not np.isfinite(np.asarray(verts, dtype=np.float64)).all():
        raise ValueError("the mesh has non-finite vertex coordinates")
