"""Dataset writer: per-scene shards committed atomically, resume, linear merge.

Layout of an output directory ``DIR`` (public contract, see docs/dataset_format.md)::

    DIR/images/{scene:06d}_{view:03d}.png|.jpg   sRGB, 8-bit RGB
    DIR/depth/{scene:06d}_{view:03d}.png          uint16 millimetres, 0 = none (png16)
    DIR/depth/{scene:06d}_{view:03d}.npz          float32 metres, key "depth", inf = none (npz)
    DIR/scenes/{scene:06d}.json                   SceneSpec + meta.settled_poses/visible_pixels/annotated
    DIR/shards/{scene:06d}.json                   this scene's COCO images + annotations; written
                                                  LAST: its presence marks the scene committed
    DIR/annotations.json                          merged COCO (``merge``)
    DIR/dataset.json                              run record (``write_dataset_json``)

Every file is written to a temporary name in its own directory, flushed to disk,
then renamed over the target (``os.replace``), so a reader sees either the old file
or the whole new one. A scene whose shard is missing or unreadable is not complete
and is rendered again on ``--resume``; its other files are then simply replaced.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from render.annotate import ViewMaps, annotate_maps
from render.config import Config
from render.errors import DatasetError, UserError
from render.families import complete_spec
from render.formats import records
from render.spec import SceneSpec, scene_filename
from render.views import SceneRender
from render.visibility import view_contrasts

SHARD_VERSION = 1
OWNED_DIRS = ("images", "depth", "scenes", "shards", "logs")
OWNED_FILES = ("annotations.json", "dataset.json")
TMP_SUFFIX = ".synthcv-tmp"
_SHARD_NAME = re.compile(r"^(\d{6,})\.json$")


# --------------------------------------------------------------------------- atomic files


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync,
    ``os.replace``. The temp file is removed if anything fails."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any, *, indent: int | None = None) -> None:
    """Atomically write ``obj`` as UTF-8 JSON (compact unless ``indent``)."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(
        obj, indent=indent, separators=separators, allow_nan=False, default=_json_default
    )
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    # numpy scalars/arrays that slip into timings or poses
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _fsync_dir(path: Path) -> None:
    # Makes the renames in ``path`` durable; not every platform can open a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- layout


def image_path(scene_index: int, view: int, image_format: str) -> str:
    """Path of a view's image relative to DIR, e.g. ``images/000012_001.png``."""
    ext = {"png": "png", "jpeg": "jpg"}[image_format]
    return f"images/{scene_index:06d}_{view:03d}.{ext}"


def depth_path(scene_index: int, view: int, depth_format: str) -> str | None:
    """Path of a view's depth file relative to DIR, or None for ``depth_format: none``."""
    ext = {"png16": "png", "npz": "npz", "none": None}[depth_format]
    return None if ext is None else f"depth/{scene_index:06d}_{view:03d}.{ext}"


def image_id(scene_index: int, view: int) -> int:
    """COCO image id of a view: ``scene_index * 1000 + view + 1`` (ids start at 1)."""
    return scene_index * 1000 + view + 1


def prepare_output(out_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Create ``out_dir`` and its subfolders.

    A non-empty ``out_dir`` is refused unless ``resume`` (keep everything, drop
    stale temp files) or ``overwrite`` (remove only what synthcv writes: images/,
    depth/, scenes/, shards/, annotations.json, dataset.json; other files stay).
    A folder that cannot be created or written is a one-line UserError.
    """
    out_dir = Path(out_dir)
    try:
        _prepare_output(out_dir, resume=resume, overwrite=overwrite)
    except OSError as exc:
        where = exc.filename or out_dir
        raise UserError(f"{where}: cannot write the output: {exc.strerror or exc}") from None


def _prepare_output(out_dir: Path, *, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise UserError("--resume and --overwrite are mutually exclusive")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: output path exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (resume or overwrite):
            raise UserError(
                f"{out_dir}: output directory is not empty; use --resume to continue "
                "or --overwrite to replace it"
            )
        if overwrite:
            for name in OWNED_DIRS:
                target = out_dir / name
                if target.is_symlink() or target.is_file():
                    target.unlink()
                elif target.is_dir():
                    shutil.rmtree(target)
            for name in OWNED_FILES:
                (out_dir / name).unlink(missing_ok=True)
        for folder in (out_dir, *(out_dir / d for d in OWNED_DIRS)):
            if folder.is_dir():
                for tmp in folder.glob(f".*{TMP_SUFFIX}"):
                    tmp.unlink(missing_ok=True)
    for name in ("images", "scenes", "shards"):
        (out_dir / name).mkdir(parents=True, exist_ok=True)
    probe = out_dir / "shards" / f".probe{TMP_SUFFIX}"
    probe.write_bytes(b"")  # writable? (a read-only folder fails here, not in a worker)
    probe.unlink()


# --------------------------------------------------------------------------- encoding


def encode_image(rgb: np.ndarray, image_format: str, jpeg_quality: int) -> bytes:
    """uint8 (H, W, 3) sRGB RGB -> PNG or JPEG bytes (OpenCV wants BGR)."""
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if image_format == "png":
        ok, buf = cv2.imencode(".png", bgr)
    elif image_format == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)])
    else:
        raise ValueError(f"image_format must be png or jpeg, got {image_format!r}")
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {rgb.shape} image as {image_format}")
    return buf.tobytes()


def depth_to_mm(depth: np.ndarray) -> np.ndarray:
    """float (H, W) metres -> uint16 millimetres, rounded; 0 where no surface
    (inf/nan/<= 0) or beyond 65.535 m."""
    with np.errstate(invalid="ignore", over="ignore"):
        mm = np.rint(np.asarray(depth, dtype=np.float64) * 1000.0)
    valid = np.isfinite(mm) & (mm > 0) & (mm <= 65535)
    return np.where(valid, mm, 0).astype(np.uint16)


def encode_depth(depth: np.ndarray, depth_format: str) -> bytes:
    """Depth (H, W) float metres (inf = no surface) -> file bytes for ``depth_format``."""
    if depth_format == "png16":
        ok, buf = cv2.imencode(".png", depth_to_mm(depth))
        if not ok:
            raise RuntimeError(f"OpenCV could not encode a {depth.shape} uint16 PNG")
        return buf.tobytes()
    if depth_format == "npz":
        out = io.BytesIO()
        np.savez_compressed(out, depth=np.asarray(depth, dtype=np.float32))
        return out.getvalue()
    raise ValueError(f"depth_format must be png16 or npz, got {depth_format!r}")


def read_depth(path: Path) -> np.ndarray:
    """Read a depth file written by this module -> float32 (H, W) metres, inf = none."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as data:
            return np.asarray(data["depth"], dtype=np.float32)
    mm = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mm is None or mm.dtype != np.uint16 or mm.ndim != 2:
        raise DatasetError(f"{path}: not a 16-bit single-channel depth PNG")
    out = mm.astype(np.float32) / 1000.0
    out[mm == 0] = np.inf
    return out


# --------------------------------------------------------------------------- writing


def _instances_of(ann: dict[str, Any]) -> list[int]:
    """Instance ids an annotation stands for: its own, or a crowd region's members."""
    instance = records.instance_of(ann)
    if instance is not None:
        return [int(instance)]
    return [int(i) for i in ann.get("attributes", {}).get("members", [])]


def write_scene(out_dir: Path, spec: SceneSpec, result: SceneRender, cfg: Config) -> dict[str, Any]:
    """Annotate and write every view of one rendered scene, then commit its shard.

    The family's ``complete`` step first fills in what only the built geometry
    tells (the defects family: measured defect sizes and severities). Writes
    images, depth (per ``cfg.render.depth_format``), ``scenes/NNNNNN.json`` (the
    SceneSpec with ``meta.settled_poses`` = ``result.object_poses``,
    ``meta.visible_pixels`` = ``{view: {instance_id: pixels}}`` own + descendants,
    ``meta.annotated`` = ``{view: [instance_id, ...]}``, ``meta.contrast`` =
    ``{view: {instance_id: contrast}}`` for objects with ``min_contrast``), and last
    ``shards/NNNNNN.json``. Returns ``{"scene_index", "images", "annotations",
    "category_counts": {name: n}, "timings": {name: seconds}, "bytes": written}``.
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    spec = complete_spec(spec, cfg)
    scene = spec.scene_index
    poses = spec.camera.poses
    if len(result.views) != len(poses):
        raise ValueError(
            f"scene {scene}: renderer returned {len(result.views)} views for {len(poses)} camera poses"
        )
    names = {c.id: c.name for c in cfg.categories}
    for o in spec.annotated():
        if o.category_id not in names:
            raise ValueError(
                f"scene {scene}: object {o.name!r} has category_id {o.category_id}, "
                f"not in categories {sorted(names)}"
            )
    fmt, depth_fmt = cfg.render.image_format, cfg.render.depth_format
    if depth_fmt != "none":
        (out_dir / "depth").mkdir(exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    visible_meta: dict[str, dict[str, int]] = {}
    annotated_meta: dict[str, list[int]] = {}
    contrast_meta: dict[str, dict[str, float | None]] = {}
    t_annotate = t_encode = t_write = 0.0
    written = 0
    for v, view in enumerate(result.views):
        h, w = view.instance.shape
        if (w, h) != (spec.camera.width, spec.camera.height):
            raise ValueError(
                f"scene {scene} view {v}: rendered {w}x{h}, camera is "
                f"{spec.camera.width}x{spec.camera.height}"
            )
        iid = image_id(scene, v)
        t0 = time.perf_counter()
        maps = ViewMaps(
            instance=view.instance,
            depth=view.depth,
            K=np.asarray(spec.camera.K, dtype=np.float64),
            pose=np.asarray(poses[v], dtype=np.float64),
            amodal=view.amodal,
        )
        contrast = view_contrasts(view.rgb, view.instance, spec.objects)
        anns, visible = annotate_maps(
            maps, spec.objects, iid, cfg.annotation.min_pixels, contrast=contrast
        )
        t1 = time.perf_counter()
        img_bytes = encode_image(view.rgb, fmt, cfg.render.jpeg_quality)
        rel_depth = depth_path(scene, v, depth_fmt)
        depth_bytes = encode_depth(view.depth, depth_fmt) if rel_depth else None
        t2 = time.perf_counter()
        rel_img = image_path(scene, v, fmt)
        atomic_write_bytes(out_dir / rel_img, img_bytes)
        written += len(img_bytes)
        if rel_depth and depth_bytes is not None:
            atomic_write_bytes(out_dir / rel_depth, depth_bytes)
            written += len(depth_bytes)
        t3 = time.perf_counter()
        t_annotate, t_encode, t_write = t_annotate + t1 - t0, t_encode + t2 - t1, t_write + t3 - t2
        images.append(
            records.image(
                iid,
                rel_img,
                w,
                h,
                scene_id=scene,
                view_index=v,
                camera_K=spec.camera.K,
                camera_pose=poses[v],
                depth_file=rel_depth,
            )
        )
        annotations.extend(anns)
        visible_meta[str(v)] = {str(k): n for k, n in visible.items()}
        if contrast:
            contrast_meta[str(v)] = {str(k): c for k, c in contrast.items()}
        annotated_meta[str(v)] = sorted(i for a in anns for i in _instances_of(a))
    counts: dict[str, int] = {}
    for a in annotations:
        counts[names[a["category_id"]]] = counts.get(names[a["category_id"]], 0) + 1
    t3 = time.perf_counter()
    meta = {
        **spec.meta,
        "settled_poses": result.object_poses,
        "visible_pixels": visible_meta,
        "annotated": annotated_meta,
    }
    if contrast_meta:
        meta["contrast"] = contrast_meta
    scene_doc = spec.model_dump(mode="json")
    scene_doc["meta"] = meta
    shown = {i for ids in annotated_meta.values() for i in ids}
    for obj in scene_doc["objects"]:
        if obj["instance_id"] > 0:
            obj["visible"] = obj["instance_id"] in shown
    atomic_write_json(out_dir / "scenes" / scene_filename(scene), scene_doc)
    timings: dict[str, float] = dict(result.timings)
    for view in result.views:
        for key, value in view.timings.items():
            timings[f"view_{key}"] = timings.get(f"view_{key}", 0.0) + float(value)
    timings.update(
        annotate_s=t_annotate,
        encode_s=t_encode,
        write_s=t_write + time.perf_counter() - t3,
    )
    timings["writer_s"] = time.perf_counter() - t_start
    shard = {
        "version": SHARD_VERSION,
        "scene_index": scene,
        "images": images,
        "annotations": annotations,
        "category_counts": counts,
        "timings": timings,
    }
    # The shard is the commit record: everything it references is already on disk.
    for folder in ("images", "depth", "scenes"):
        if (out_dir / folder).is_dir():
            _fsync_dir(out_dir / folder)
    atomic_write_json(out_dir / "shards" / scene_filename(scene), shard)
    _fsync_dir(out_dir / "shards")
    return {
        "scene_index": scene,
        "images": len(images),
        "annotations": len(annotations),
        "category_counts": counts,
        "timings": timings,
        "bytes": written
        + (out_dir / "scenes" / scene_filename(scene)).stat().st_size
        + (out_dir / "shards" / scene_filename(scene)).stat().st_size,
    }


# --------------------------------------------------------------------------- resume and merge


def _shard_files(out_dir: Path) -> list[tuple[int, Path]]:
    folder = Path(out_dir) / "shards"
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _SHARD_NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def _read_shard(index: int, path: Path) -> dict[str, Any] | None:
    """The shard's content, or None if it is unreadable or not a shard of ``index``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("scene_index") != index
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        return None
    return data


def completed_scenes(out_dir: Path) -> set[int]:
    """Scene indices whose shard exists and parses (committed scenes)."""
    return {i for i, p in _shard_files(out_dir) if _read_shard(i, p) is not None}


def merge(
    out_dir: Path, cfg: Config, info: dict[str, Any], *, scenes: Collection[int] | None = None
) -> dict[str, Any]:
    """Merge shards into ``DIR/annotations.json``: :func:`render.merge.merge`
    (streamed, compact ids from 1 in (scene, view, instance) order)."""
    from render.merge import merge as merge_shards

    return merge_shards(out_dir, cfg, info, scenes=scenes)


def write_dataset_json(out_dir: Path, payload: dict[str, Any]) -> None:
    """Atomically write ``DIR/dataset.json`` (indented) with the driver's run record."""
    atomic_write_json(Path(out_dir) / "dataset.json", payload, indent=2)
