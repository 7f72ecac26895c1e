"""Benchmark: seconds per image at equal quality, per preset family.

    python scripts/bench_speed.py [--families generic,defects,pedestrians] [--views 3]
        [--size 512] [--ref-samples 1024] [--crop 0.3] [--variants preset,s8,...]
        [--cache DIR] [--threads 0]

For each family, the first ``--views`` scenes of its preset config at
``--size`` x ``--size`` (one view each) are rendered in this process with every
variant of the Cycles settings below, interleaved (view 1: every variant, view 2:
every variant, ...) so a busy machine slows them alike. Each image is compared
with a reference render of the same view: ``--ref-samples`` samples without a
denoiser, of a centred region ``--crop`` of the image wide (a border render, so
the reference costs a fraction of a full frame); references are cached in
``--cache``. Quality is PSNR and SSIM over that region (8-bit sRGB, as written).

Prints one JSON object: per family and variant, mean Cycles seconds per image
(``render_s``, wall, denoising included), mean CPU seconds of the render
(``cpu_s``, all threads: the ratios use these, since other work on a shared
machine inflates wall time unevenly), mean PSNR/SSIM, and the speed-up over the
``old`` variant (the presets as they rendered before: OIDN as a compositor node).
The figure of merit: seconds per image at a PSNR no worse than ``old``'s.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import platform
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render.config import load_config  # noqa: E402
from render.sampling import sample_scene  # noqa: E402
from render.settings import QUALITY_PRESETS  # noqa: E402
from render.spec import SceneSpec  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    # the presets as they rendered before this benchmark: OIDN as a compositor node
    "old": {"denoiser": "oidn-compositor"},
    # Cycles' integrated OIDN (the config default now), then cheaper settings
    "high": {},
    "balanced": {"denoise_quality": "balanced"},
    "fast": {"denoise_quality": "fast"},
    "prefilter_fast": {"denoise_prefilter": "fast"},
    "s8": {"samples": 8},
    "s8_balanced": {"samples": 8, "denoise_quality": "balanced"},
    "s12_balanced": {"samples": 12, "denoise_quality": "balanced"},
    "clamp": {"clamp_indirect": 10.0, "caustics": False},
    "bounces2": {"diffuse_bounces": 2, "glossy_bounces": 2},
    "adaptive": {"samples": 32, "noise_threshold": 0.1, "adaptive_min_samples": 4},
    "detail4": {"texture_detail": 4.0},
    "detail3": {"texture_detail": 3.0},
    "detail4_balanced_s12": {"texture_detail": 4.0, "denoise_quality": "balanced", "samples": 12},
    "prefilter_none": {"denoise_prefilter": "none"},
    "no_light_tree": {"light_tree": False},
    "lean": {
        "texture_detail": 4.0,
        "diffuse_bounces": 2,
        "glossy_bounces": 2,
        "light_tree": False,
    },  # fmt: skip
    "lean_pf_fast": {
        "texture_detail": 4.0,
        "diffuse_bounces": 2,
        "glossy_bounces": 2,
        "light_tree": False,
        "denoise_prefilter": "fast",
    },  # fmt: skip
    "lean_s12": {
        "texture_detail": 4.0,
        "diffuse_bounces": 2,
        "glossy_bounces": 2,
        "light_tree": False,
        "samples": 12,
    },  # fmt: skip
}

# render.quality: draft and final as the config maps them (default = "high")
VARIANTS.update({f"quality_{q}": dict(p) for q, p in QUALITY_PRESETS.items() if p})


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def _region(size: int, crop: float) -> tuple[slice, slice, tuple[float, float, float, float]]:
    """Pixel slices (rows, cols) of the centred crop and its Blender border (y up)."""
    side = max(16, round(size * crop))
    lo = (size - side) // 2
    hi = lo + side
    border = (lo / size, (size - hi) / size, hi / size, (size - lo) / size)
    return slice(lo, hi), slice(lo, hi), border


_STAGE = re.compile(r"^( *)(.+?)\s+: Total\s+([\d.]+)% \(([\d.]+)s\)")
_COST = re.compile(r"^  (\S+)\s+: ([\d.]+)s \(Relative cost")
_UPDATE = re.compile(r"^    Total time: ([\d.]+)s")


def parse_cycles_stats(text: str) -> dict[str, Any]:
    """Cycles' printed statistics (``--cycles-print-stats``) of ONE render: scene
    update seconds, kernel seconds by top-level stage, the costliest shaders."""
    update = sum(float(m.group(1)) for line in text.splitlines() if (m := _UPDATE.match(line)))
    stages: dict[str, float] = {}
    shaders: dict[str, float] = {}
    section, parent = "", ""
    for line in text.splitlines():
        if line.endswith("statistics:"):
            section = line.strip()
            continue
        if section == "Kernel statistics:" and (m := _STAGE.match(line)):
            depth = len(m.group(1)) // 2  # "Total render time" 1, its stages 2, theirs 3
            name = m.group(2).strip()
            if depth == 2:
                parent = name
            elif depth == 3:
                name = f"{parent} / {name}"
            if depth <= 3:
                stages[name] = stages.get(name, 0.0) + float(m.group(4))
        elif section == "Shader statistics:" and (m := _COST.match(line)):
            shaders[m.group(1)] = shaders.get(m.group(1), 0.0) + float(m.group(2))
    return {"scene_update_s": update, "kernel_s": stages, "shader_s": shaders}


def _cpu_s() -> float:
    """CPU seconds of this process, every thread (Cycles renders in-process): the
    work an image costs, which a busy machine changes far less than wall time."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _one_view(spec: SceneSpec) -> SceneSpec:
    cam = spec.camera.model_copy(update={"poses": spec.camera.poses[:1]})
    return spec.model_copy(update={"camera": cam})


def _with(spec: SceneSpec, **render: Any) -> SceneSpec:
    return spec.model_copy(update={"render": spec.render.model_copy(update=render)})


def _profile(
    args: argparse.Namespace, worker: Any, info: dict[str, Any], err: Any
) -> dict[str, Any]:
    """Render each family's preset views with Cycles' statistics on and sum them."""
    from render.blender import backend

    backend.enable_cycles_stats()
    log = Path(info["log"])
    report: dict[str, Any] = {"size": args.size, "families": {}}
    for family in args.families.split(","):
        cfg = load_config(
            ROOT / "configs" / f"{family}.yaml",
            [f"render.resolution=[{args.size}, {args.size}]", f"num_scenes={args.views}"],
        )
        total = {"render_s": 0.0, "scene_update_s": 0.0, "denoise_s": 0.0}
        kernel: dict[str, float] = {}
        shaders: dict[str, float] = {}
        for i in range(args.views):
            spec = _one_view(sample_scene(cfg, i))
            for denoiser in ("none", spec.render.denoiser):
                start = log.stat().st_size
                done = worker.render(_with(spec, denoiser=denoiser))
                ctypes.CDLL(None).fflush(None)  # Cycles prints with C stdio
                with log.open() as f:
                    f.seek(start)
                    stats = parse_cycles_stats(f.read())
                if denoiser == "none":
                    plain = done.timings["render_s"]
                    continue
                total["render_s"] += done.timings["render_s"]
                total["denoise_s"] += done.timings["render_s"] - plain
                total["scene_update_s"] += stats["scene_update_s"]
                for k, v in stats["kernel_s"].items():
                    kernel[k] = kernel.get(k, 0.0) + v
                for k, v in stats["shader_s"].items():
                    key = re.sub(r"_\d+_mat$|\.\d+$", "", k)  # per object -> per kind
                    shaders[key] = shaders.get(key, 0.0) + v
            print(
                f"profile {family} view {i}: {done.timings['render_s']:.1f} s", file=err, flush=True
            )
        n = args.views
        ktotal = kernel.get("Total render time", 0.0) or 1.0
        report["families"][family] = {
            "render_s_per_image": round(total["render_s"] / n, 2),
            "path_tracing_cpu_s_per_image": round(ktotal / n, 2),  # summed over threads
            "denoise_s_per_image": round(total["denoise_s"] / n, 2),
            "scene_update_s_per_image": round(total["scene_update_s"] / n, 3),
            "path_tracing_share": {
                k: round(v / ktotal, 3)
                for k, v in sorted(kernel.items(), key=lambda kv: -kv[1])
                if k != "Total render time" and v / ktotal >= 0.005
            },
            "costliest_shaders_s_per_image": {
                k: round(v / n, 2) for k, v in sorted(shaders.items(), key=lambda kv: -kv[1])[:6]
            },
        }
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="generic,defects,pedestrians")
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--ref-samples", type=int, default=1024)
    ap.add_argument("--crop", type=float, default=0.3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "synthcv" / "bench_speed"
    )
    ap.add_argument(
        "--profile", action="store_true",
        help="instead: where the preset's Cycles time goes (Cycles' own statistics)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    variants = {name: VARIANTS[name] for name in args.variants.split(",")}
    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SYNTHCV_LOG_DIR", str(args.cache / "logs"))

    from render.blender import worker

    # the worker sends fds 1 and 2 (Blender's chatter) to a log: keep ours
    out = os.fdopen(os.dup(1), "w")
    err = os.fdopen(os.dup(2), "w")
    t0 = time.perf_counter()
    info = worker.init("cpu")
    startup = time.perf_counter() - t0
    if args.profile:
        print(json.dumps(_profile(args, worker, info, err), indent=2), file=out, flush=True)
        return 0
    rows, cols, border = _region(args.size, args.crop)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "blender": info.get("blender"),
        "size": args.size,
        "ref_samples": args.ref_samples,
        "crop_px": rows.stop - rows.start,
        "startup_s": round(startup, 2),
        "families": {},
    }
    for family in args.families.split(","):
        cfg = load_config(
            ROOT / "configs" / f"{family}.yaml",
            [f"render.resolution=[{args.size}, {args.size}]", f"num_scenes={args.views}"],
        )
        per: dict[str, dict[str, list[float]]] = {
            v: {"s": [], "cpu": [], "psnr": [], "ssim": []} for v in variants
        }
        ref_s: list[float] = []
        for i in range(args.views):
            spec = _one_view(sample_scene(cfg, i))
            ref_spec = _with(spec, samples=args.ref_samples, denoiser="none", border=border,
                             noise_threshold=0.0)  # fmt: skip
            key = hashlib.sha1(ref_spec.model_dump_json().encode()).hexdigest()[:16]
            ref_file = args.cache / f"{family}_{i}_{key}.npy"
            if ref_file.exists():
                ref = np.load(ref_file)
            else:
                t = time.perf_counter()
                ref = worker.render(ref_spec).views[0].rgb[rows, cols]
                ref_s.append(time.perf_counter() - t)
                np.save(ref_file, ref)
            for name, change in variants.items():
                cpu0 = _cpu_s()
                done = worker.render(_with(spec, **change))
                per[name]["cpu"].append(_cpu_s() - cpu0)
                rgb = done.views[0].rgb[rows, cols]
                per[name]["s"].append(done.timings["render_s"])
                per[name]["psnr"].append(_psnr(rgb, ref))
                per[name]["ssim"].append(_ssim(rgb, ref))
                print(f"{family} view {i} {name}: {done.timings['render_s']:.2f} s "
                      f"({per[name]['cpu'][-1]:.1f} CPU s), "
                      f"PSNR {per[name]['psnr'][-1]:.2f}", file=err, flush=True)  # fmt: skip
        base = float(np.mean(per["old"]["cpu"])) if "old" in per else None
        result["families"][family] = {
            "reference_render_s": [round(x, 1) for x in ref_s],
            "preset_settings": cfg.render.model_dump(
                include={"samples", "denoiser", "max_bounces", "noise_threshold"}
            ),
            "variants": {
                name: {
                    "settings": variants[name],
                    "render_s": round(float(np.mean(v["s"])), 3),
                    "cpu_s": round(float(np.mean(v["cpu"])), 3),
                    "psnr_db": round(float(np.mean(v["psnr"])), 2),
                    "ssim": round(float(np.mean(v["ssim"])), 4),
                    "speedup_vs_old": round(base / float(np.mean(v["cpu"])), 2) if base else None,
                }
                for name, v in per.items()
            },
        }
        print(json.dumps({family: result["families"][family]}), file=err, flush=True)
    print(json.dumps(result, indent=2), file=out, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
