"""The run record (``DIR/dataset.json``) and the resume check against it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from render.config import Config
from render.errors import UserError
from render.formats.inputs import InputError, read_json
from render.versions import package_versions

KEYPOINT_CONVENTION = (
    "keypoints: [x, y, v] in COCO pixel-index coordinates (pixel centres at integers); "
    "v = 2 visible, 1 in the image but occluded, 0 outside the image (x = y = 0)"
)
CAMERA_CONVENTION = (
    "camera_pose: 4x4 camera-to-world, OpenCV (x right, y down, z forward), metres; "
    "camera_K: pixels, principal point at W/2,H/2"
)


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Dotted path of the first difference between two JSON values, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return sub
            found = first_difference(a[key], b[key], sub)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else (path or "<root>")


def check_resume_config(out_dir: Path, cfg: Config) -> None:
    """Refuse to resume a directory rendered with a different config (num_scenes aside)."""
    path = out_dir / "dataset.json"
    if not path.is_file():
        return
    try:
        doc = read_json(path, 64 << 20, "dataset.json")
    except InputError:
        return
    old = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(old, dict):
        return
    new = cfg.model_dump(mode="json")
    old = {k: v for k, v in old.items() if k != "num_scenes"}
    new = {k: v for k, v in new.items() if k != "num_scenes"}
    diff = first_difference(old, new)
    if diff:
        raise UserError(
            f"{path}: config differs from the one this directory was rendered with "
            f"(first difference: {diff}); use --overwrite or another --out"
        )


def _timing_summary(
    totals: dict[str, float], images: int, wall_s: float, run_images: int
) -> dict[str, Any]:
    """Totals and per-image means over every merged scene (seconds); ``wall_s`` and
    ``images_per_s`` are of the last run only (a resumed run skips committed scenes)."""
    return {
        "wall_s": round(wall_s, 3),
        "images_per_s": round(run_images / wall_s, 4) if wall_s > 0 else None,
        "total_s": {k: round(v, 4) for k, v in sorted(totals.items())},
        "per_image_mean_s": {
            k: round(v / images, 4) for k, v in sorted(totals.items()) if images > 0
        },
    }


def payload(
    cfg: Config,
    workers: dict[str, Any],
    merged: dict[str, Any],
    wall_s: float,
    status: str,
    this_run: dict[str, Any],
) -> dict[str, Any]:
    return {
        "status": status,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": cfg.seed,
        "config": cfg.model_dump(mode="json"),
        "camera_convention": CAMERA_CONVENTION,
        "keypoint_center": 0.0,
        "keypoint_convention": KEYPOINT_CONVENTION,
        "versions": package_versions(),
        "workers": workers,
        "scenes": merged.get("scenes", 0),
        "images": merged.get("images", 0),
        "annotations": merged.get("annotations", 0),
        "category_counts": merged.get("category_counts", {}),
        "timings": _timing_summary(
            merged.get("timings", {}), merged.get("images", 0), wall_s, this_run.get("images", 0)
        ),
        # counts, not scene lists: dataset.json stays small for runs of any size
        "this_run": {
            "rendered_scenes": len(this_run.get("rendered", [])),
            "skipped_scenes": len(this_run.get("skipped", [])),
            "images": this_run.get("images", 0),
            "wall_s": this_run.get("wall_s", 0.0),
        },
    }
