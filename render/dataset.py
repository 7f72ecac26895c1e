"""Dataset writer: per-scene shards committed atomically, resume, linear merge.

Layout of an output directory ``DIR`` (public contract, see docs/dataset_format.md)::

    DIR/images/{scene:06d}_{view:03d}.png|.jpg   sRGB, 8-bit RGB
    DIR/depth/{scene:06d}_{view:03d}.png          uint16 millimetres, 0 = none (png16)
    DIR/depth/{scene:06d}_{view:03d}.npz          float32 metres, key "depth", inf = none (npz)
    DIR/flow/{scene:06d}_{view:03d}.flo           forward optical flow to the next frame, pixels
                                                  (render.flow; Middlebury .flo, render.formats.flow)
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
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from render.annotate import ViewMaps, annotate_maps
from render.atomic import TMP_SUFFIX, atomic_write_bytes, atomic_write_json, fsync_dir
from render.config import Config
from render.errors import DatasetError, UserError
from render.families import complete_spec
from render.formats import flow as flow_file
from render.formats import records
from render.outputs import claim, write_marker
from render.sequence import image_fields
from render.shards import SHARD_VERSION, run_identity
from render.spec import SceneSpec, scene_filename
from render.tiles import mark_truncated, tile_K
from render.views import SceneRender
from render.visibility import view_contrasts

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
    """Create ``out_dir`` and its subfolders, under the ownership rule of
    :mod:`render.outputs` (the caller holds the output's lock).

    A non-empty ``out_dir`` is refused unless it holds a synthcv render and
    ``resume`` (keep everything, drop stale temp files) or ``overwrite`` (remove
    only what a render writes there; other files stay). A folder that cannot be
    created or written is a one-line UserError.
    """
    out_dir = Path(out_dir)
    if resume and overwrite:
        raise UserError("--resume and --overwrite are mutually exclusive")
    try:
        kept = claim(out_dir, "render", overwrite=overwrite, resume=resume)
        if kept:
            for folder in (
                out_dir,
                *(out_dir / d for d in ("images", "depth", "flow", "scenes", "shards")),
            ):
                if folder.is_dir():
                    for tmp in folder.glob(f".*{TMP_SUFFIX}"):
                        tmp.unlink(missing_ok=True)
        for name in ("images", "scenes", "shards"):
            (out_dir / name).mkdir(parents=True, exist_ok=True)
        write_marker(out_dir, "render")
        probe = out_dir / "shards" / f".probe{TMP_SUFFIX}"
        probe.write_bytes(b"")  # writable? (a read-only folder fails here, not in a worker)
        probe.unlink()
    except OSError as exc:
        where = exc.filename or out_dir
        raise UserError(f"{where}: cannot write the output: {exc.strerror or exc}") from None


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


def pixel_sizes(anns: list[dict[str, Any]], mm_per_px: float) -> None:
    """Beside each measured size in millimetres (``attributes.length_mm``,
    ``width_mm``), the same in pixels of this image (``length_px``, ``width_px``),
    at the image's ``mm_per_px`` (at the look-at distance)."""
    for a in anns:
        attrs = a.get("attributes")
        if not isinstance(attrs, dict):
            continue
        for key in ("length", "width"):
            mm = attrs.get(f"{key}_mm")
            if isinstance(mm, int | float) and not isinstance(mm, bool):
                attrs[f"{key}_px"] = round(mm / mm_per_px, 2)


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
    layout = spec.camera.views()
    if len(result.views) != len(layout):
        what = f"{len(layout)} tiles" if spec.camera.tiles else f"{len(poses)} camera poses"
        raise ValueError(f"scene {scene}: renderer returned {len(result.views)} views for {what}")
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
    if any(v.flow is not None for v in result.views):
        (out_dir / "flow").mkdir(exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    visible_meta: dict[str, dict[str, int]] = {}
    annotated_meta: dict[str, list[int]] = {}
    contrast_meta: dict[str, dict[str, float | None]] = {}
    t_annotate = t_encode = t_write = 0.0
    written = 0
    mm_px = spec.camera.mm_per_px
    sequence_fields = image_fields(spec.meta)
    for v, (view, (p, tile)) in enumerate(zip(result.views, layout, strict=True)):
        h, w = view.instance.shape
        want = (tile.width, tile.height) if tile else (spec.camera.width, spec.camera.height)
        if (w, h) != want:
            raise ValueError(
                f"scene {scene} view {v}: rendered {w}x{h}, the camera's view is "
                f"{want[0]}x{want[1]}"
            )
        iid = image_id(scene, v)
        t0 = time.perf_counter()
        K = tile_K(spec.camera.K, tile)
        maps = ViewMaps(
            instance=view.instance,
            depth=view.depth,
            K=np.asarray(K, dtype=np.float64),
            pose=np.asarray(poses[p], dtype=np.float64),
            amodal=view.amodal,
            behind=view.behind,
        )
        contrast = view_contrasts(view.rgb, view.instance, spec.objects)
        anns, visible = annotate_maps(
            maps, spec.objects, iid, cfg.annotation.min_pixels, contrast=contrast
        )
        if tile is not None:
            mark_truncated(anns, result.frame_extents, p, tile)
        if mm_px:
            pixel_sizes(anns, mm_px)
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
        rel_flow = None
        if view.flow is not None:
            rel_flow = f"flow/{scene:06d}_{v:03d}.flo"
            flow_bytes = flow_file.encode(view.flow)
            atomic_write_bytes(out_dir / rel_flow, flow_bytes)
            written += len(flow_bytes)
        t3 = time.perf_counter()
        t_annotate, t_encode, t_write = t_annotate + t1 - t0, t_encode + t2 - t1, t_write + t3 - t2
        extra: dict[str, Any] = {}
        if tile is not None:
            extra["tile"] = {
                "view": p, "x": tile.x, "y": tile.y, "kind": tile.kind,
                "frame_width": spec.camera.width, "frame_height": spec.camera.height,
            }  # fmt: skip
        if mm_px:
            extra["mm_per_px"] = round(mm_px, 6)
        extra.update(sequence_fields)
        for key in ("conditions", "scenario"):  # a family's per-image records
            if isinstance(spec.meta.get(key), dict):
                extra[key] = spec.meta[key]
        if rel_flow:
            extra["flow_file"] = rel_flow
        if view.exposure is not None:
            extra["exposure"] = view.exposure
        if view.weather is not None:
            extra["weather"] = view.weather
        if sequence_fields:  # the instance's id in its sequence (render.sequence)
            for a in anns:
                if "scene_instance" in a:  # not the iscrowd region of far-away people
                    a["track_id"] = a["scene_instance"]
        images.append(
            records.image(
                iid,
                rel_img,
                w,
                h,
                scene_id=scene,
                view_index=v,
                camera_K=K,
                camera_pose=poses[p],
                depth_file=rel_depth,
                **extra,
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
        "run": run_identity(cfg.model_dump(mode="json")),
        "images": images,
        "annotations": annotations,
        "category_counts": counts,
        "timings": timings,
    }
    # The shard is the commit record: everything it references is already on disk.
    for folder in ("images", "depth", "flow", "scenes"):
        if (out_dir / folder).is_dir():
            fsync_dir(out_dir / folder)
    atomic_write_json(out_dir / "shards" / scene_filename(scene), shard)
    fsync_dir(out_dir / "shards")
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


# --------------------------------------------------------------------------- run record


def write_dataset_json(out_dir: Path, payload: dict[str, Any]) -> None:
    """Atomically write ``DIR/dataset.json`` (indented) with the driver's run record."""
    atomic_write_json(Path(out_dir) / "dataset.json", payload, indent=2)
