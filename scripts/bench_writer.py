"""Benchmark: synthcv's annotation + shard writer vs BlenderProc's COCO writer.

Both get the same frames: 512x512 instance maps of ~10 overlapping irregular blobs
(unions of rotated ellipses, later ones occluding earlier ones) and the matching
RGB images (smooth shading + mild noise, like a denoised render). Frames come from
a pool that is reused cyclically, so generating them is not timed.

- ours, per frame (one view per scene): ``render.dataset.write_scene`` (annotate,
  PNG encode, atomic image/scene/shard writes with fsync), then one ``merge``.
- BlenderProc 2.8.0: ``write_coco_annotations(..., append_to_existing_output=True)``
  once per frame, as a per-frame render loop calls it; it re-reads and rewrites
  the whole ``coco_annotations.json`` each time, so its cost grows with N. Its
  cumulative time at N frames is the cost of writing an N-frame dataset. It is
  time-boxed; if the box ends before the largest N, the rest is extrapolated from
  a linear fit of per-frame time vs frame index (reported as such).

Prints one JSON object. Ratios are taken within this one run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from render import dataset, merge
from render.config import Config
from render.seeding import stream
from render.spec import (
    CameraSpec,
    GeometrySpec,
    MaterialSpec,
    ObjectSpec,
    RenderSpec,
    SceneSpec,
    WorldSpec,
)
from render.views import SceneRender, ViewResult

CATEGORIES = ["bolt", "nut", "washer"]


def make_frame(
    seed: int, index: int, size: int, instances: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(instance map int32 (size, size), rgb uint8 (size, size, 3), category per instance 1..n)."""
    rng = stream(seed, index, "bench_frame")
    inst = np.zeros((size, size), np.uint16)
    for k in range(1, instances + 1):
        cx, cy = rng.uniform(0.1 * size, 0.9 * size, 2)
        for _ in range(int(rng.integers(1, 4))):
            axes = (int(rng.uniform(0.03, 0.15) * size), int(rng.uniform(0.03, 0.15) * size))
            centre = (int(cx + rng.normal(0, 0.04 * size)), int(cy + rng.normal(0, 0.04 * size)))
            cv2.ellipse(inst, centre, axes, float(rng.uniform(0, 180)), 0, 360, k, thickness=-1)
    colours = rng.uniform(40, 220, size=(instances + 1, 3))
    yy, xx = np.mgrid[0:size, 0:size] / size
    shade = 0.7 + 0.3 * (0.6 * xx + 0.4 * yy)
    rgb = colours[inst] * shade[..., None] + rng.normal(0, 2.0, size=(size, size, 3))
    cats = [int(c) for c in rng.integers(1, len(CATEGORIES) + 1, size=instances)]
    return inst.astype(np.int32), np.clip(rgb, 0, 255).astype(np.uint8), cats


def make_config(size: int) -> Config:
    return Config.model_validate(
        {
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CATEGORIES)],
            "render": {"resolution": [size, size], "views_per_scene": 1, "depth_format": "none"},
            "scene": {
                "family": "generic",
                "shapes": [{"category": n, "primitive": "CUBE"} for n in CATEGORIES],
            },
        }
    )


def make_spec(index: int, size: int, cats: list[int]) -> SceneSpec:
    geometry = GeometrySpec(kind="primitive", primitive="CUBE")
    material = MaterialSpec(base_color=[0.5, 0.5, 0.5])
    objects = [ObjectSpec(name="ground", instance_id=0, geometry=geometry, material=material)]
    objects += [
        ObjectSpec(
            name=f"obj{k}", instance_id=k, category_id=c, geometry=geometry, material=material
        )
        for k, c in enumerate(cats, start=1)
    ]
    f = size * 35.0 / 36.0
    return SceneSpec(
        family="generic",
        scene_index=index,
        seed=0,
        objects=objects,
        lights=[],
        world=WorldSpec(color=[1.0, 1.0, 1.0]),
        camera=CameraSpec(
            width=size,
            height=size,
            K=[[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]],
            poses=[np.eye(4).tolist()],
        ),
        render=RenderSpec(samples=16, denoiser="oidn"),
    )


def bench_ours(out: Path, pool: list[Any], frames: int, size: int) -> dict[str, Any]:
    cfg = make_config(size)
    if out.exists():
        shutil.rmtree(out)
    dataset.prepare_output(out, resume=False, overwrite=False)
    jobs = []
    for i in range(frames):
        inst, rgb, cats = pool[i % len(pool)]
        depth = np.full(inst.shape, np.inf, np.float32)
        jobs.append(
            (
                make_spec(i, size, cats),
                SceneRender(views=[ViewResult(rgb=rgb, depth=depth, instance=inst)]),
            )
        )
    t0 = time.perf_counter()
    for spec, result in jobs:
        dataset.write_scene(out, spec, result, cfg)
    t1 = time.perf_counter()
    stats = merge.merge(out, cfg, {"description": "bench"})
    t2 = time.perf_counter()
    t = stats["timings"]
    return {
        "frames": frames,
        "seconds": round(t2 - t0, 3),
        "write_scenes_s": round(t1 - t0, 3),
        "merge_s": round(t2 - t1, 3),
        "ms_per_frame": round(1000 * (t2 - t0) / frames, 3),
        "annotate_ms_per_frame": round(1000 * t["annotate_s"] / frames, 3),
        "png_encode_ms_per_frame": round(1000 * t["encode_s"] / frames, 3),
        "annotations": stats["annotations"],
        "annotations_json_mb": round((out / "annotations.json").stat().st_size / 1e6, 2),
    }


def bench_blenderproc(
    out: Path, pool: list[Any], checkpoints: list[int], budget_s: float
) -> dict[str, Any]:
    from render.blender.bootstrap import import_blenderproc

    import_blenderproc()
    writer = importlib.import_module("blenderproc.python.writer.CocoWriterUtility")
    bpy = importlib.import_module("bpy")
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 0, 1  # the writer loops over [frame_start, frame_end)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    target = max(checkpoints)
    per_frame: list[float] = []
    measured: dict[int, float] = {}
    started = time.perf_counter()
    for i in range(target):
        inst, rgb, cats = pool[i % len(pool)]
        attrs = [{"idx": 0, "category_id": 0, "name": "background"}] + [
            {"idx": k, "category_id": c, "name": CATEGORIES[c - 1]}
            for k, c in enumerate(cats, start=1)
        ]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per call
            writer.write_coco_annotations(
                str(out),
                instance_segmaps=[inst],
                instance_attribute_maps=[attrs],
                colors=[rgb],
                color_file_format="PNG",
                append_to_existing_output=True,
            )
        per_frame.append(time.perf_counter() - t0)
        if i + 1 in checkpoints:
            measured[i + 1] = round(float(np.sum(per_frame)), 3)
        if time.perf_counter() - started > budget_s:
            break
    n_done = len(per_frame)
    result: dict[str, Any] = {
        "frames_measured": n_done,
        "seconds_at": {str(k): v for k, v in measured.items()},
        "ms_per_frame_first_50": round(1000 * float(np.mean(per_frame[:50])), 2),
        "ms_per_frame_last_50": round(1000 * float(np.mean(per_frame[-50:])), 2),
        "coco_annotations_json_mb": round((out / "coco_annotations.json").stat().st_size / 1e6, 2),
        "extrapolated": {},
    }
    # Per-frame time grows linearly with the file it re-reads and rewrites; fit
    # t_k = a + b k on the measured frames and integrate for the missing checkpoints.
    k = np.arange(n_done, dtype=np.float64)
    b, a = np.polyfit(k, np.asarray(per_frame), 1)
    result["fit_ms_per_frame"] = {
        "a_ms": round(1000 * a, 3),
        "b_ms_per_frame_index": round(1000 * b, 5),
    }
    # How well the model reproduces the checkpoints that were measured.
    result["fit_predicted_at_measured"] = {
        str(n): round(float(sum(a + b * j for j in range(n))), 1) for n in measured
    }
    for n in checkpoints:
        if n not in measured:
            result["extrapolated"][str(n)] = round(
                float(np.sum(per_frame) + sum(a + b * j for j in range(n_done, n))), 1
            )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--frames", type=int, nargs="+", default=[1000, 2000], help="ours: dataset sizes"
    )
    parser.add_argument(
        "--bp-frames", type=int, nargs="+", default=[250, 500, 1000], help="BlenderProc checkpoints"
    )
    parser.add_argument("--bp-budget-s", type=float, default=420.0, help="time box for BlenderProc")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--pool", type=int, default=64, help="distinct frames, reused cyclically")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="default: a temp dir, removed after"
    )
    parser.add_argument("--skip-blenderproc", action="store_true")
    args = parser.parse_args(argv)

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_writer_"))
    try:
        pool = [make_frame(args.seed, i, args.size, args.instances) for i in range(args.pool)]
        visible = float(np.mean([len(np.unique(p[0])) - 1 for p in pool]))
        report: dict[str, Any] = {
            "machine": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpu": platform.processor(),
            },
            "frames": {
                "size": args.size,
                "instances": args.instances,
                "mean_visible_instances": round(visible, 2),
            },
            "ours": [bench_ours(work / f"ours_{n}", pool, n, args.size) for n in args.frames],
        }
        if not args.skip_blenderproc:
            report["blenderproc"] = bench_blenderproc(
                work / "bproc", pool, args.bp_frames, args.bp_budget_s
            )
        ours = {r["frames"]: r["seconds"] for r in report["ours"]}
        ratios: dict[str, Any] = {}
        if 1000 in ours and 2000 in ours:
            ratios["ours_2000_over_1000"] = round(ours[2000] / ours[1000], 3)
        if "blenderproc" in report and 1000 in ours:
            bp = report["blenderproc"]
            bp1000 = bp["seconds_at"].get("1000", bp["extrapolated"].get("1000"))
            if bp1000 is not None:
                ratios["blenderproc_over_ours_1000"] = round(bp1000 / ours[1000], 1)
                ratios["blenderproc_1000_is_extrapolated"] = "1000" not in bp["seconds_at"]
        report["ratios"] = ratios
        report["targets"] = {"speedup_at_1000": ">= 20", "ours_2000_over_1000": "<= 2.2"}
        print(json.dumps(report, indent=2))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
