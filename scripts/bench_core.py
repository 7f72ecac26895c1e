"""Core pipeline benchmark (issue 2). Prints JSON.

Parts (all on CPU, in one run so ratios share the same machine load):
- ``pipeline``: the real driver renders the generic preset at 512x512, 32 samples;
  per image: scene build, Cycles render, EXR/PNG read-back, annotation, encoding
  and writing; ``overhead_ratio = worker total / Cycles render`` (target <= 1.15),
  and the same including process start-up and merge (``wall_ratio``).
- ``writer``: our annotation + writing vs BlenderProc's ``write_coco_annotations``
  per frame on the same segmentation maps (see scripts/bench_writer.py).
- ``quality``: PSNR of 8/16/32/64 samples, with and without OpenImageDenoise,
  against a 1024-sample reference of the same scene, and seconds per image.

Usage: python scripts/bench_core.py [--parts pipeline,writer,quality] [--scenes N]
       [--quality-resolution 512] [--writer-frames 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render.config import load_config  # noqa: E402
from render.sampling import sample_scene  # noqa: E402
from render.spec import SceneSpec  # noqa: E402


def bench_pipeline(scenes: int, views: int, resolution: int, samples: int) -> dict[str, Any]:
    from render import driver

    overrides = [
        f"num_scenes={scenes}",
        f"render.resolution=[{resolution},{resolution}]",
        f"render.samples={samples}",
        f"render.views_per_scene={views}",
        "render.denoiser=oidn",
        "render.device=cpu",
    ]
    cfg = load_config(ROOT / "configs" / "generic.yaml", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout pure JSON
            driver.run_render(cfg, out, workers=1, progress=False)
        wall = time.perf_counter() - t0
        shards = [json.loads(p.read_text()) for p in sorted((out / "shards").glob("*.json"))]
    images = sum(len(s["images"]) for s in shards)
    tot: dict[str, float] = {}
    for s in shards:
        for k, v in s["timings"].items():
            if k.endswith("_s"):
                tot[k] = tot.get(k, 0.0) + float(v)
    per_image = {k: v / images for k, v in sorted(tot.items())}
    render_s = tot["render_s"]
    ours = tot.get("build_s", 0) + tot.get("readback_s", 0) + tot.get("writer_s", 0)
    return {
        "resolution": [resolution, resolution],
        "samples": samples,
        "scenes": scenes,
        "views_per_scene": views,
        "images": images,
        "seconds_per_image": per_image,
        "worker_total_per_image": (render_s + ours) / images,
        "overhead_ratio": (render_s + ours) / render_s,
        "wall_seconds": wall,
        "wall_ratio": wall / render_s,
        "target_overhead_ratio": 1.15,
    }


# --------------------------------------------------------------------------- quality


def _init_worker() -> None:
    from render.blender import worker

    worker.init("cpu")


def _render_rgb(spec_json: str) -> tuple[np.ndarray, float]:
    from render.blender import worker

    spec = SceneSpec.model_validate_json(spec_json)
    result = worker.render(spec)
    return result.views[0].rgb, float(result.timings["render_s"])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def bench_quality(
    resolution: int, sample_counts: list[int], reference_samples: int
) -> dict[str, Any]:
    cfg = load_config(
        ROOT / "configs" / "generic.yaml",
        [f"render.resolution=[{resolution},{resolution}]", "render.views_per_scene=1"],
    )
    base = sample_scene(cfg, 0)

    def variant(samples: int, denoiser: str) -> str:
        spec = base.model_copy(deep=True)
        spec.render.samples = samples
        spec.render.denoiser = denoiser  # type: ignore[assignment]
        return spec.model_dump_json()

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_worker) as pool:
        ref, ref_s = pool.submit(_render_rgb, variant(reference_samples, "none")).result()
        rows = []
        for denoiser in ("none", "oidn"):
            for n in sample_counts:
                rgb, secs = pool.submit(_render_rgb, variant(n, denoiser)).result()
                rows.append(
                    {
                        "samples": n,
                        "denoiser": denoiser,
                        "psnr_db": psnr(rgb, ref),
                        "render_s": secs,
                    }
                )
    return {
        "resolution": [resolution, resolution],
        "reference": {"samples": reference_samples, "denoiser": "none", "render_s": ref_s},
        "curve": rows,
    }


def bench_writer(frames: int) -> dict[str, Any]:
    """Run scripts/bench_writer.py (ours vs BlenderProc's per-frame COCO writer)."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_writer.py"), "--frames", str(frames)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--parts",
        default="pipeline,quality",
        help="comma-separated: pipeline, quality, writer (writer runs scripts/bench_writer.py, ~10 min)",
    )
    p.add_argument("--scenes", type=int, default=3)
    p.add_argument("--views", type=int, default=2)
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--quality-resolution", type=int, default=512)
    p.add_argument("--reference-samples", type=int, default=1024)
    p.add_argument("--writer-frames", type=int, default=1000)
    args = p.parse_args(argv)
    parts = args.parts.split(",")
    out: dict[str, Any] = {"machine": {"cpus": multiprocessing.cpu_count()}}
    if "pipeline" in parts:
        out["pipeline"] = bench_pipeline(args.scenes, args.views, args.resolution, args.samples)
    if "writer" in parts:
        out["writer"] = bench_writer(args.writer_frames)
    if "quality" in parts:
        out["quality"] = bench_quality(
            args.quality_resolution, [8, 16, 32, 64], args.reference_samples
        )
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
