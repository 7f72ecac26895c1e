"""Benchmark: the defects preset end to end on this machine (CPU unless told).

    python scripts/bench_defects.py [--config configs/defects.yaml] [-n 3] [--set k=v ...]

Renders ``n`` scenes of the preset (its resolution and samples, default 512x512)
with one worker through the real driver, and times separately, in this process,
what the pure-Python side costs per scene: sampling the SceneSpec and building
the product/defect geometry (the worker builds it again inside ``build_s``).

Prints one JSON object: seconds per image, Cycles' share (``render_s`` plus the
annotation-only passes, ``amodal_s``: the pinhole pass of defocused or motion-
blurred scenes), and the share of per-image time spent outside Cycles (target
<= 0.15).
Process start-up (``import bpy``, BlenderProc bootstrap) is reported apart: it
is paid once per worker, not per image.

``--baseline FILE``: the JSON this script printed for an earlier version of the
project (e.g. before carved defects and nuisances); adds how much Cycles' time
per image grew against it (``cycles_growth_vs_baseline``, target <= 1.5). Scenes
differ between versions, so compare runs over the same seed and several scenes.
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
from render.families.defects.geometry.assemblies import _cached
from render.sampling import sample_scene


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/defects.yaml")
    ap.add_argument("-n", type=int, default=3, help="scenes to render")
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    ap.add_argument("--seed", type=int, default=None, help="dataset seed (default: the config's)")
    ap.add_argument("--baseline", type=Path, default=None, help="an earlier run's JSON output")
    ap.add_argument("--keep", type=Path, default=None, help="write the dataset here (kept)")
    args = ap.parse_args(argv)
    from render.driver import run_render

    overrides = [f"num_scenes={args.n}", "render.views_per_scene=1", *args.set]
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
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
        target = args.keep if args.keep is not None else Path(tmp) / "out"
        out = run_render(cfg, target, progress=False, workers=1)
        wall = time.perf_counter() - t0
    tm = out["timings"]
    images = max(1, int(out["images"]))
    # the main render plus the annotation-only passes (pinhole pass of defocused or
    # blurred scenes, amodal passes): all Cycles time
    render_s = float(tm.get("render_s", 0.0)) + float(tm.get("amodal_s", 0.0))
    # writer_s: all of writing a scene (the family's complete step, contrast,
    # annotation, encoding, files); older runs time only its parts
    writer = (
        float(tm["writer_s"])
        if "writer_s" in tm
        else sum(float(tm.get(k, 0.0)) for k in ("annotate_s", "encode_s", "write_s"))
    )
    other_worker = float(tm.get("build_s", 0.0)) + float(tm.get("readback_s", 0.0)) + writer
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
                for k in (
                    "render_s",
                    "amodal_s",
                    "build_s",
                    "readback_s",
                    "annotate_s",
                    "encode_s",
                    "write_s",
                    "writer_s",
                )  # fmt: skip
            },
        },
        "wall_s_including_startup": round(wall, 2),
        "startup_and_merge_s": round(wall - render_s - other_worker, 2),
    }
    if args.baseline is not None:
        text = args.baseline.read_text()  # the run's summary line may precede the JSON
        base = json.loads(text[text.index("{") :])
        before = float(base["cycles_render_s_per_image"])
        result["baseline_cycles_render_s_per_image"] = before
        result["cycles_growth_vs_baseline"] = round(render_s / images / before, 3)
        result["target_cycles_growth"] = 1.5
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
