"""Benchmark: the defects preset end to end on this machine (CPU unless told).

    python scripts/bench_defects.py [--config configs/defects.yaml] [-n 3] [--set k=v ...]

Renders ``n`` scenes of the preset (its resolution and samples, default 512x512)
with one worker through the real driver, and times separately, in this process,
what the pure-Python side costs per scene: sampling the SceneSpec and building
the product/defect geometry (the worker builds it again inside ``build_s``).

Prints one JSON object: seconds per image, Cycles' share (``render_s``), and the
share of per-image time spent outside the Cycles render (target <= 0.15).
Process start-up (``import bpy``, BlenderProc bootstrap) is reported apart: it
is paid once per worker, not per image.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from render.config import load_config
from render.families import build_geometry as build
from render.families.defects.assemblies import _cached
from render.sampling import sample_scene


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/defects.yaml")
    ap.add_argument("-n", type=int, default=3, help="scenes to render")
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    args = ap.parse_args(argv)
    from render.driver import run_render

    overrides = [f"num_scenes={args.n}", "render.views_per_scene=1", *args.set]
    cfg = load_config(args.config, overrides)

    # pure-Python side, timed alone: sampling + geometry of each scene
    t0 = time.perf_counter()
    specs = [sample_scene(cfg, i) for i in range(args.n)]
    t_sample = time.perf_counter() - t0
    _cached.cache_clear()
    t0 = time.perf_counter()
    for spec in specs:
        seen = set()
        for o in spec.objects:
            g = o.geometry
            key = json.dumps([g.generator, g.params], sort_keys=True)
            if g.kind == "procedural" and g.generator and key not in seen:
                seen.add(key)
                build(g.generator, g.params)
    t_geometry = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = run_render(cfg, Path(tmp) / "out", progress=False, workers=1)
        wall = time.perf_counter() - t0
    tm = out["timings"]
    images = max(1, int(out["images"]))
    render_s = float(tm.get("render_s", 0.0))
    other_worker = sum(
        float(tm.get(k, 0.0))
        for k in ("build_s", "readback_s", "annotate_s", "encode_s", "write_s")
    )
    sampling_per_image = t_sample / images
    per_image_outside = other_worker / images + sampling_per_image
    per_image_total = render_s / images + per_image_outside
    result = {
        "benchmark": "defects_preset",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "config": args.config,
        "resolution": list(cfg.render.resolution),
        "samples": cfg.render.samples,
        "denoiser": cfg.render.denoiser,
        "images": images,
        "seconds_per_image": round(per_image_total, 3),
        "cycles_render_s_per_image": round(render_s / images, 3),
        "outside_cycles_s_per_image": round(per_image_outside, 3),
        "share_outside_cycles": round(per_image_outside / per_image_total, 4),
        "target_share_outside_cycles": 0.15,
        "breakdown_per_image_s": {
            "sampling": round(sampling_per_image, 4),
            "geometry_alone": round(t_geometry / images, 4),
            **{
                k: round(float(tm.get(k, 0.0)) / images, 4)
                for k in ("build_s", "readback_s", "annotate_s", "encode_s", "write_s")
            },
        },
        "wall_s_including_startup": round(wall, 2),
        "startup_and_merge_s": round(wall - float(tm.get("render_s", 0.0)) - other_worker, 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
