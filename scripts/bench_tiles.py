"""Tiles vs the whole frame (issue 22): a 5 MP virtual frame with 3 products,
rendered as product tiles and as the whole frame, each against a high-sample
reference of the tiles' pixels (another Cycles seed). Prints JSON: seconds, pixels
rendered, and the PSNR of the tiles and of the whole frame's same pixels against
the reference. Dither is off (it depends on a pixel's place in the buffer).

    python scripts/bench_tiles.py [--samples 16] [--ref-samples 128] [--scene K]

One Blender process renders everything (this one), on the CPU unless --device.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OVERRIDES = [
    "scene.camera.optics.sensor=5mp",  # 2448 x 2048 px at 3.45 um
    "scene.camera.optics.resolve_mm=0.3",  # 0.1 mm per pixel: a 245 x 205 mm field
    "scene.products_per_image=[3, 3]",
    "scene.camera.tiles.background_share=0",
    "scene.camera.views={top_down: 1.0}",
    "render.views_per_scene=1",
    "render.dither=0",  # Blender's dither depends on the buffer: the same pixels either way
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=16, help="samples of the compared renders")
    p.add_argument("--ref-samples", type=int, default=128, help="samples of the reference")
    p.add_argument(
        "--scene", type=int, default=None, help="scene index (default: the first with 3 products)"
    )
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    # the worker sends Blender's console (fds 1 and 2) to its log: keep ours for the JSON
    report = os.fdopen(os.dup(1), "w")
    status = os.fdopen(os.dup(2), "w")

    from render.config import load_config
    from render.sampling import sample_scene

    cfg = load_config(ROOT / "configs" / "defects_tiles.yaml",
                      [*OVERRIDES, f"render.samples={args.samples}"])  # fmt: skip
    index = args.scene
    if index is None:
        index = next(
            i for i in range(50)
            if sum(o.name.count("_") == 1 and o.name.startswith("product_") for o in sample_scene(cfg, i).objects) == 3
        )  # fmt: skip
    tiled = sample_scene(cfg, index)
    whole = tiled.model_copy(update={"camera": tiled.camera.model_copy(update={"tiles": []})})
    # the reference: many more samples and another seed, so its noise is correlated
    # with neither render (with the same seed its first samples would be theirs)
    ref = tiled.model_copy(
        update={"render": tiled.render.model_copy(
            update={"samples": args.ref_samples, "cycles_seed": tiled.render.cycles_seed + 1})}
    )  # fmt: skip
    from render.blender import worker

    info = worker.init(args.device)
    rows = {}
    images = {}
    for name, spec in (("tiles", tiled), ("whole", whole), ("reference", ref)):
        t = time.perf_counter()
        result = worker.render(spec)
        wall = time.perf_counter() - t
        images[name] = [v.rgb for v in result.views]
        pixels = sum(v.rgb.shape[0] * v.rgb.shape[1] for v in result.views)
        rows[name] = {"wall_s": round(wall, 2),
                      "render_s": round(float(result.timings.get("render_s", 0.0)), 2),
                      "pixels": pixels, "images": len(result.views)}  # fmt: skip
        print(json.dumps({name: rows[name]}), file=status, flush=True)
    c = tiled.camera
    tile_err, whole_err = [], []
    for k, t in enumerate(c.tiles):
        crop = images["whole"][0][t.y : t.y + t.height, t.x : t.x + t.width]
        r = images["reference"][k].astype(np.float64)
        tile_err.append(((images["tiles"][k] - r) ** 2).ravel())
        whole_err.append(((crop - r) ** 2).ravel())
    psnr = {
        name: round(10 * math.log10(255.0**2 / float(np.mean(np.concatenate(err)))), 3)
        for name, err in (("tiles", tile_err), ("whole_same_pixels", whole_err))
    }
    out = {
        "scene": index,
        "frame": [c.width, c.height],
        "frame_pixels": c.width * c.height,
        "tiles": [[t.x, t.y, t.width, t.height] for t in c.tiles],
        "samples": args.samples,
        "reference_samples": args.ref_samples,
        "device": info.get("device"),
        "tiles_run": rows["tiles"],
        "whole_run": rows["whole"],
        "reference_run": rows["reference"],
        "pixel_share": round(rows["tiles"]["pixels"] / (c.width * c.height), 4),
        "speedup_render": round(
            rows["whole"]["render_s"] / max(rows["tiles"]["render_s"], 1e-9), 3
        ),
        "speedup_wall": round(rows["whole"]["wall_s"] / max(rows["tiles"]["wall_s"], 1e-9), 3),
        "psnr_db": psnr,
        "psnr_difference_db": round(psnr["tiles"] - psnr["whole_same_pixels"], 3),
    }
    print(json.dumps(out, indent=1), file=report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
