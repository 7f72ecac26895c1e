"""Benchmark: the pedestrians preset end to end on this machine (CPU unless told).

    python scripts/bench_pedestrians.py [-n 3] [--crowds 1,5,10,20,30] [--set k=v ...]

Part 1 renders ``n`` scenes of configs/pedestrians.yaml at its preset size and
samples (640x480, 16 + OIDN) with one worker through the real driver. Image time
is everything per image: the driver's sampling (bodies posed and dressed to
place people and compute keypoints), the worker's scene build (bodies rebuilt
from the stored pose), the Cycles render, the amodal passes, read-back,
annotation, encoding and writing. Body generation (sampling + rebuilding the
people meshes, timed alone in this process) must stay <= 10 % of it, the amodal
passes <= 20 %.

Part 2 samples one scene with 30 people and renders it with only its first n
people (``--crowds``): same street, camera and light, so the difference is the
people; it reports seconds per image, amodal passes and a linear fit per person.

Part 3 (``--frames N``) compares N stills with one sequence of N frames
(``render.frames``) and with the same sequence plus optical flow (``render.flow``),
same settings: seconds per image and per stage. A sequence's frames are separate
scenes sharing the sequence's choices, so each frame is sampled (people posed
again at its time), built and rendered like a still.

Part 4 renders the same ``n`` scenes (street, people, camera) by day, at dusk,
at night, by day in fog, by day on wet ground and by day in rain (wet ground,
falling rain and lens droplets): seconds per image and the ratio to day
(``--conditions`` picks some).

``--parts`` picks the parts (default all: preset,crowds,sequences,conditions).

Prints one JSON object. Process start-up is reported apart (paid once per worker).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from render.config import Config, load_config
from render.families import build_geometry
from render.families.pedestrians import people
from render.sampling import sample_scene
from render.spec import PersonInfo, SceneSpec

STAGES = (
    "build_s", "render_s", "amodal_s", "flow_s", "readback_s", "annotate_s", "encode_s", "write_s",
)  # fmt: skip


def _body_time(cfg: Config, scenes: list[int]) -> tuple[float, float, int]:
    """(sampling seconds, people-geometry seconds, people) over ``scenes``, alone."""
    t0 = time.perf_counter()
    specs = [sample_scene(cfg, i) for i in scenes]
    t_sample = time.perf_counter() - t0
    t_build, persons = 0.0, 0
    for spec in specs:
        crowd = [o for o in spec.objects if isinstance(o.info, PersonInfo)]
        persons += len(crowd)
        if crowd:
            people._people_parts.cache_clear()
            t0 = time.perf_counter()
            build_geometry("people", crowd[0].geometry.params)
            t_build += time.perf_counter() - t0
    return t_sample, t_build, persons


def _render(cfg: Config) -> tuple[dict[str, Any], float]:
    return _render_specs(cfg, None)


def _render_specs(cfg: Config, specs: list[SceneSpec] | None) -> tuple[dict[str, Any], float]:
    from render.driver import run_render

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        t0 = time.perf_counter()
        out = run_render(cfg, Path(tmp) / "out", progress=False, workers=1, specs=specs)
        return out, time.perf_counter() - t0


def _first_people(spec: SceneSpec, n: int) -> SceneSpec:
    """``spec`` with only its first ``n`` people (and their umbrellas), their meshes
    built from a people list of just them."""
    crowd = [o for o in spec.objects if isinstance(o.info, PersonInfo)]
    kept = crowd[:n]
    params = crowd[0].geometry.params["people"]
    subset = {"people": [params[int(o.geometry.part.split("_")[1])] for o in kept]}
    names = {o.name: j for j, o in enumerate(kept)}
    dropped = {o.name for o in crowd[n:]}
    objects = []
    for o in spec.objects:
        owner = o.name.split("_umbrella")[0]
        if o.name in dropped or owner in dropped:
            continue
        if o.name in names:
            geo = o.geometry.model_copy(
                update={"params": subset, "part": f"person_{names[o.name]}"}
            )
            o = o.model_copy(update={"geometry": geo})
        objects.append(o)
    return spec.model_copy(update={"objects": objects})


def _per_image(out: dict[str, Any], sampling_s: float) -> dict[str, float]:
    images = max(1, int(out["images"]))
    tm = out["timings"]
    stages = {k: float(tm.get(k, 0.0)) / images for k in STAGES}
    stages["sampling_s"] = sampling_s / images
    stages["total_s"] = sum(stages.values())
    return stages


def _sampled_and_rendered(cfg: Config, n: int) -> tuple[dict[str, float], float]:
    """Per-image stage seconds of scenes 0..n-1 (their sampling timed alone in this
    process, then the render), and the render's wall time with start-up."""
    t0 = time.perf_counter()
    for i in range(n):
        sample_scene(cfg, i)
    t_sample = time.perf_counter() - t0
    result, wall = _render(cfg)
    return _per_image(result, t_sample), wall


def _sequences(config: str, frames: int, sets: list[str]) -> dict[str, Any]:
    """N stills vs a sequence of N frames vs the sequence with optical flow."""
    runs = {
        "stills": [f"num_scenes={frames}"],
        "sequence": [f"num_scenes={frames}", f"render.frames={frames}"],
        "sequence_with_flow": [
            f"num_scenes={frames}",
            f"render.frames={frames}",
            "render.flow=true",
        ],
    }
    out: dict[str, Any] = {"frames": frames}
    for name, extra in runs.items():
        stage, wall = _sampled_and_rendered(
            load_config(config, ["render.views_per_scene=1", *extra, *sets]), frames
        )
        out[name] = {
            "seconds_per_image": round(stage["total_s"], 3),
            "per_image_s": {k: round(v, 4) for k, v in stage.items()},
            "wall_s_including_startup": round(wall, 2),
        }
    base = out["stills"]["seconds_per_image"]
    out["frame_vs_still"] = round(out["sequence"]["seconds_per_image"] / base, 3)
    out["flow_frame_vs_still"] = round(out["sequence_with_flow"]["seconds_per_image"] / base, 3)
    return out


CONDITIONS = {
    "day": ["scene.sky.time_of_day={day: 1}", "scene.street.wet_probability=0"],
    "dusk": ["scene.sky.time_of_day={dusk: 1}", "scene.street.wet_probability=0"],
    "night": ["scene.sky.time_of_day={night: 1}", "scene.street.wet_probability=0"],
    "fog": ["scene.sky.time_of_day={day: 1}", "scene.sky.fog_probability=1",
            "scene.street.wet_probability=0"],
    "wet": ["scene.sky.time_of_day={day: 1}", "scene.street.wet_probability=1",
            "scene.sky.rain_probability=0"],
    "rain": ["scene.sky.time_of_day={day: 1}", "scene.street.wet_probability=1",
             "scene.sky.rain_probability=1", "scene.sky.lens_droplet_probability=1"],
}  # fmt: skip


def _conditions(config: str, n: int, sets: list[str], names: list[str]) -> dict[str, Any]:
    """The same n scenes (street, people, camera) under each condition: s per image."""
    out: dict[str, Any] = {"scenes": n}
    chosen = {k: v for k, v in CONDITIONS.items() if k in names or k == "day"}
    for name, extra in chosen.items():
        cfg = load_config(
            config, [f"num_scenes={n}", "render.views_per_scene=1", "scene.sky.fog_probability=0",
                     *extra, *sets],
        )  # fmt: skip
        stage, _ = _sampled_and_rendered(cfg, n)
        out[name] = {
            "seconds_per_image": round(stage["total_s"], 3),
            "render_s": round(stage["render_s"], 3),
            "build_s": round(stage["build_s"], 3),
        }
    base = out["day"]["seconds_per_image"]
    for name in chosen:
        out[name]["vs_day"] = round(out[name]["seconds_per_image"] / base, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/pedestrians.yaml")
    ap.add_argument("-n", type=int, default=3, help="scenes for part 1")
    ap.add_argument("--crowds", default="1,5,10,20,30", help="people per scene for part 2")
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    ap.add_argument("--frames", type=int, default=8, help="frames for part 3 (sequences)")
    ap.add_argument("--parts", default="preset,crowds,sequences,conditions", help="parts to run")
    ap.add_argument(
        "--conditions", default=",".join(CONDITIONS), help="part 4's conditions (day always)"
    )
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {
        "benchmark": "pedestrians_preset",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
    }
    if parts & {"preset", "crowds"}:
        result.update(_preset_and_crowds(args, parts))
    if "sequences" in parts:
        people.load_model()
        result["sequences"] = _sequences(args.config, args.frames, args.set)
    if "conditions" in parts:
        people.load_model()
        result["conditions"] = _conditions(
            args.config, args.n, args.set, args.conditions.split(",")
        )
    print(json.dumps(result, indent=2))
    return 0


def _preset_and_crowds(args: argparse.Namespace, parts: set[str]) -> dict[str, Any]:
    """Parts 1 and 2 (part 2 only when ``crowds`` is in ``parts``)."""
    cfg = load_config(args.config, [f"num_scenes={args.n}", "render.views_per_scene=1", *args.set])
    people.load_model()  # model load is per process start-up, not per image
    t_sample, t_build, persons = _body_time(cfg, list(range(args.n)))
    out, wall = _render(cfg)
    stage = _per_image(out, t_sample)
    images = max(1, int(out["images"]))
    body = (t_sample + t_build) / images
    preset = {
        "images": images,
        "people": persons,
        "seconds_per_image": round(stage["total_s"], 3),
        "per_image_s": {k: round(v, 4) for k, v in stage.items()},
        "body_generation_s_per_image": round(body, 4),
        "body_generation_share": round(body / stage["total_s"], 4),
        "target_body_generation_share": 0.10,
        "amodal_share": round(stage["amodal_s"] / stage["total_s"], 4),
        "target_amodal_share": 0.20,
        "amodal_passes_per_image": round(
            float(out["timings"].get("amodal_passes", 0.0)) / images, 2
        ),
        "wall_s_including_startup": round(wall, 2),
    }

    if "crowds" not in parts:
        return {"resolution": list(cfg.render.resolution), "samples": cfg.render.samples,
                "denoiser": cfg.render.denoiser, "preset": preset}  # fmt: skip
    # part 2: the same street, camera and light; the first n of 30 sampled people
    full_cfg = load_config(
        args.config,
        ["num_scenes=1", "render.views_per_scene=1", "scene.people.count=[30,30]", *args.set],
    )
    full = sample_scene(full_cfg, 0)
    crowds = []
    for n in (int(c) for c in args.crowds.split(",")):
        spec = _first_people(full, n)
        t0 = time.perf_counter()
        people._people_parts.cache_clear()
        crowd = [o for o in spec.objects if isinstance(o.info, PersonInfo)]
        build_geometry("people", crowd[0].geometry.params)
        t_build = time.perf_counter() - t0
        out, _ = _render_specs(full_cfg, [spec])
        stage = _per_image(out, 0.0)
        crowds.append(
            {
                "people": len(crowd),
                "seconds_per_image": round(stage["total_s"], 3),
                "render_s": round(stage["render_s"], 3),
                "amodal_s": round(stage["amodal_s"], 3),
                "amodal_passes": int(out["timings"].get("amodal_passes", 0)),
                "people_mesh_build_s": round(t_build, 3),
            }
        )
    xs = np.array([c["people"] for c in crowds], dtype=float)
    slope = {
        key: round(float(np.polyfit(xs, [c[key] for c in crowds], 1)[0]), 4)
        for key in ("seconds_per_image", "render_s", "amodal_s", "people_mesh_build_s")
    }

    return {
        "resolution": list(cfg.render.resolution),
        "samples": cfg.render.samples,
        "denoiser": cfg.render.denoiser,
        "preset": preset,
        "crowds": crowds,
        "per_person_s_linear_fit": slope,
    }


if __name__ == "__main__":
    sys.exit(main())
