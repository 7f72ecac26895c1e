"""anny body model: one-time cache build, loading, and batched forward passes.

anny (PyPI ``anny``, Apache-2.0 code, CC0 MakeHuman data in the wheel) turns six
phenotype values and per-bone rotations into a skinned mesh. We use its
``anny-full`` topology (the body plus MakeHuman's helper shells: skirt, hair,
tights, which follow phenotype and pose) with linear blend skinning, and its
COCO keypoint regressor. Never its SMPL/SMPL-X topologies or wrappers: those
download non-commercial data; a test fails if any code path touches the network.

The first ``anny.Anny(...)`` on a machine builds model data for minutes and
writes ~1 GB of cache; only the compact model file (~72 MB) is needed
afterwards. :func:`build_cache` does that once per machine into
``<cache root>/anny-<version>`` (see :func:`render.paths.cache_root`), keeps only
what later loads need and writes a marker; :func:`load_model` refuses to run
without the marker, so a render never rebuilds it.

Frames: anny's body frame is Blender's: Z up, the person faces -Y, +X is the
person's left; metres; the origin is at the pelvis.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from render.atomic import atomic_write_text
from render.errors import UserError
from render.paths import cache_root

TOPOLOGY = "anny-full"
MARKER = "synthcv-ready.json"
HELPER_GROUPS = ("helper-skirt", "helper-hair")
"""MakeHuman helper shells we use: an ankle-length skirt and a hair cap."""


def anny_version() -> str:
    try:
        return metadata.version("anny")
    except metadata.PackageNotFoundError:
        raise UserError(
            "the pedestrians family needs the anny package: pip install -e . (it is a core "
            "dependency)"
        ) from None


def cache_dir() -> Path:
    """Where the anny model cache of this anny version lives on this machine."""
    return cache_root() / f"anny-{anny_version()}"


def cache_ready(folder: Path | None = None) -> bool:
    """True when :func:`build_cache` finished in ``folder`` (default :func:`cache_dir`)
    and its files are still there at the sizes it recorded (a truncated file is not
    ready: it is rebuilt)."""
    folder = folder or cache_dir()
    marker = folder / MARKER
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
        files, sizes = doc["files"], doc.get("sizes") or {}
        return bool(files) and all(
            (folder / f).is_file() and (f not in sizes or (folder / f).stat().st_size == sizes[f])
            for f in files
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _damaged(folder: Path, exc: BaseException) -> UserError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return UserError(
        f"the anny body model cache at {folder} is damaged ({type(exc).__name__}: {first}); "
        "rebuild it: synthcv cache build --rebuild"
    )


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_cache(log: Callable[[str], None] = print, *, rebuild: bool = False) -> Path:
    """Build the model cache once (minutes, ~2 GB of RAM at peak), then keep only
    the compact model data. Safe to call from several processes (file lock);
    returns immediately when the cache is ready (``rebuild``: build it again). A
    folder that cannot be written is a one-line UserError naming the fix."""
    folder = cache_dir()
    if cache_ready(folder) and not rebuild:
        return folder
    try:
        return _build_cache(folder, log, rebuild)
    except OSError as exc:
        raise UserError(
            f"cannot write the anny body model cache at {exc.filename or folder}: "
            f"{exc.strerror or exc}; set SYNTHCV_CACHE_DIR to a writable folder"
        ) from None


def _build_cache(folder: Path, log: Callable[[str], None], rebuild: bool) -> Path:
    with _locked(folder):
        if cache_ready(folder) and not rebuild:
            return folder
        (folder / MARKER).unlink(missing_ok=True)
        for path in folder.rglob("*.safetensors"):
            path.unlink()  # a damaged or partial build: start from scratch
        log(
            f"building the anny body model once for this machine into {folder} "
            "(1-6 minutes; later runs load it in about a second)"
        )
        t0 = time.perf_counter()
        _construct(folder)
        kept = []
        for path in sorted(folder.rglob("*.safetensors")):
            if path.name.startswith("build_compact_model_data_"):
                kept.append(str(path.relative_to(folder)))
            else:
                path.unlink()  # intermediate build data: ~1 GB nobody reads again
        for sub in folder.iterdir():
            if sub.is_dir() and not any(sub.iterdir()):
                shutil.rmtree(sub)
        sizes = {f: (folder / f).stat().st_size for f in kept}
        marker = {"anny": anny_version(), "topology": TOPOLOGY, "files": kept, "sizes": sizes}
        atomic_write_text(folder / MARKER, json.dumps(marker, indent=2))
        log(f"anny body model ready in {time.perf_counter() - t0:.0f} s: {folder}")
    return folder


def cache_status() -> tuple[bool, Path]:
    """The family's assets status: ``(ready, folder)``."""
    folder = cache_dir()
    return cache_ready(folder), folder


def _construct(folder: Path) -> Any:
    """``anny.Anny`` for our topology with its cache in ``folder`` (builds if missing)."""
    import anny
    import anny.paths
    import torch

    anny.paths.set_anny_cache_path(folder)
    os.environ["ANNY_CACHE_DIR"] = str(folder)
    return anny.Anny(topology=TOPOLOGY, skinning_method="lbs").to(dtype=torch.float32)


@dataclass(frozen=True)
class Bodies:
    """A batch of B posed bodies (float64, metres, body frame).

    vertices: (B, V, 3) posed; keypoints: (B, 17, 3) COCO order, regressed from the
    posed vertices; bone_poses: (B, 104, 4, 4) bone frames (Y runs head to tail);
    rest_vertices, rest_keypoints: the same bodies in anny's rest A-pose.
    """

    vertices: np.ndarray
    keypoints: np.ndarray
    bone_poses: np.ndarray
    rest_vertices: np.ndarray
    rest_keypoints: np.ndarray


@dataclass(frozen=True, eq=False)  # hashed by identity: one per process
class BodyModel:
    """The loaded model and what we derive from it once per process.

    ``faces``: int64 (F, 3) body triangles; ``helper_faces``: name -> int64 (Q, 3)
    triangles of a helper shell (indices into the same vertices); ``bones``: bone
    labels (104); ``parents``: int (104,) parent bone index, -1 for the root;
    ``dominant_bone``: int (V,) the bone with the largest skinning weight per
    vertex; ``phenotypes``: anny's phenotype labels, in the order
    :meth:`forward` takes them.
    """

    model: Any
    regressor: Any
    faces: np.ndarray
    helper_faces: dict[str, np.ndarray]
    bones: tuple[str, ...]
    parents: np.ndarray
    dominant_bone: np.ndarray
    phenotypes: tuple[str, ...]

    @property
    def vertex_count(self) -> int:
        return int(self.dominant_bone.shape[0])

    def forward(self, phenotype: np.ndarray, pose: np.ndarray) -> Bodies:
        """Posed bodies.

        phenotype: (B, 6) in :attr:`phenotypes` order, each in [0, 1]; pose: (B, 104, 3)
        rotation vectors, anny's "local-ref" parameterisation (each bone rotates about
        its head in world-aligned rest axes, composed down the chain: a bone's world
        rotation is its parent's times its own).
        """
        import roma
        import torch

        phenotype = np.asarray(phenotype, dtype=np.float32)
        pose = np.asarray(pose, dtype=np.float32)
        b = phenotype.shape[0]
        if phenotype.shape != (b, len(self.phenotypes)) or pose.shape != (b, len(self.bones), 3):
            raise ValueError(
                f"phenotype must be (B, {len(self.phenotypes)}) and pose (B, {len(self.bones)}, 3), "
                f"got {phenotype.shape} and {pose.shape}"
            )
        with torch.no_grad():
            mats = torch.eye(4).repeat(b, len(self.bones), 1, 1)
            mats[..., :3, :3] = roma.rotvec_to_rotmat(torch.from_numpy(pose))
            kwargs = {k: torch.from_numpy(phenotype[:, i]) for i, k in enumerate(self.phenotypes)}
            out = self.model(pose_parameters=mats, phenotype_kwargs=kwargs)
            keypoints = self.regressor(out)[:, :17]
            rest_keypoints = self.regressor({"vertices": out["rest_vertices"]})[:, :17]
        return Bodies(
            vertices=out["vertices"].numpy().astype(np.float64),
            keypoints=keypoints.numpy().astype(np.float64),
            bone_poses=out["bone_poses"].numpy().astype(np.float64),
            rest_vertices=out["rest_vertices"].numpy().astype(np.float64),
            rest_keypoints=rest_keypoints.numpy().astype(np.float64),
        )


def _helper_faces(model: Any) -> dict[str, np.ndarray]:
    """Triangles of MakeHuman's helper shells, read from anny's ``base.obj`` and
    mapped to model vertex indices through ``base_mesh_vertex_indices``."""
    import anny.paths

    base = anny.paths.get_anny_root_dir() / "data" / "mpfb2" / "3dobjs" / "base.obj"
    to_model = {int(b): i for i, b in enumerate(model.base_mesh_vertex_indices.tolist())}
    quads: dict[str, list[list[int]]] = {g: [] for g in HELPER_GROUPS}
    group = ""
    with open(base, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("g "):
                group = line.split()[1]
            elif line.startswith("f ") and group in quads:
                quads[group].append([to_model[int(t.split("/")[0]) - 1] for t in line.split()[1:]])
    out = {}
    for name, faces in quads.items():
        q = np.asarray(faces, dtype=np.int64)
        out[name] = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    return out


@cache
def load_model() -> BodyModel:
    """The body model, loaded once per process from the ready cache (about a
    second); a UserError naming the fix when the cache was never built."""
    folder = cache_dir()
    if not cache_ready(folder):
        raise UserError(
            f"the anny body model cache is missing at {folder}: run `synthcv cache build` "
            "(once per machine, 1-6 minutes) or render with the pedestrians family, which "
            "builds it before starting workers"
        )
    import anny
    import torch

    try:
        model = _construct(folder)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:  # safetensors, torch
        raise _damaged(folder, exc) from None
    except Exception as exc:  # noqa: BLE001 - SafetensorError is not one of the above
        if type(exc).__name__ != "SafetensorError":
            raise
        raise _damaged(folder, exc) from None
    regressor = anny.KeypointsRegressor.coco(model).to(dtype=torch.float32)
    weights = model.vertex_bone_weights.numpy()
    indices = model.vertex_bone_indices.numpy()
    dominant = indices[np.arange(len(indices)), weights.argmax(axis=1)]
    return BodyModel(
        model=model,
        regressor=regressor,
        faces=model.faces.numpy().astype(np.int64),
        helper_faces=_helper_faces(model),
        bones=tuple(model.bone_labels),
        parents=np.asarray(model.bone_parents, dtype=np.int64),
        dominant_bone=dominant.astype(np.int64),
        phenotypes=tuple(model.phenotype_labels),
    )
