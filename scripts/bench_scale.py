"""Benchmark the scale-out work (issue 12); prints one JSON object.

Parts (``--parts``, default all):

- ``throughput``: real Blender renders of ``configs/generic.yaml`` scenes through
  the local executor, W=1 and W=2 workers, each with Blender's default thread
  count (all cores) and with ``--threads 1``; images/s over the whole run
  (worker start-up included), and W=2/W=1 with the best setting of each.
- ``rss``: one real Blender worker renders ``--rss-scenes`` small scenes (64x64,
  2 samples); its resident set after every scene, without recycling and with
  ``--recycle-every K``: growth after warm-up (the first 20 scenes).
- ``merge``: synthetic shards (2 views x 10 annotations with realistic RLE
  strings per scene) for each of ``--merge-images``; the streaming merge timed in
  a child process whose peak RSS is read from ``getrusage``.
- ``ray``: the same real scenes through the local executor (2 workers) and
  through a local Ray instance (2 CPUs, 1 CPU per task) started before timing.

``python scripts/bench_scale.py [--parts throughput,rss,merge,ray] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from render import dataset, merge  # noqa: E402
from render.config import Config, load_config  # noqa: E402
from render.driver import run_render  # noqa: E402
from render.executors.local import LocalExecutor  # noqa: E402
from render.sampling import sample_scene  # noqa: E402

GENERIC = ROOT / "configs" / "generic.yaml"


def _render_rate(cfg: Config, out: Path, **kw: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the render's summary line: stdout is JSON
        result = run_render(cfg, out, progress=False, overwrite=True, recycle_every=None, **kw)
    wall = time.perf_counter() - t0
    return {"images": result["images"], "wall_s": round(wall, 2),
            "images_per_s": round(result["images"] / wall, 4)}  # fmt: skip


def bench_throughput(work: Path, scenes: int, size: int, samples: int) -> dict[str, Any]:
    cfg = load_config(GENERIC, [f"num_scenes={scenes}", f"render.resolution=[{size}, {size}]",
                                f"render.samples={samples}", "render.device=cpu"])  # fmt: skip
    runs: dict[str, Any] = {}
    for workers in (1, 2):
        for threads in (None, 1):
            key = f"w{workers}_threads_{threads or 'auto'}"
            runs[key] = _render_rate(cfg, work / key, workers=workers, threads=threads)
            print(f"throughput {key}: {runs[key]}", file=sys.stderr)
    best = {w: max((r for k, r in runs.items() if k.startswith(f"w{w}_")),
                   key=lambda r: r["images_per_s"]) for w in (1, 2)}  # fmt: skip
    best_key = {w: next(k for k, r in runs.items() if r is best[w]) for w in (1, 2)}
    ratio = best[2]["images_per_s"] / best[1]["images_per_s"]
    return {"scenes": scenes, "resolution": size, "samples": samples, "cpus": os.cpu_count(),
            "runs": runs, "best": best_key, "w2_over_w1": round(ratio, 3),
            "efficiency_per_worker": round(ratio / 2, 3)}  # fmt: skip


class _Collect:
    """Events that keep each scene's worker RSS (and fail loudly on errors)."""

    def __init__(self) -> None:
        self.rss: list[tuple[int, int, float]] = []  # (scene, pid, MiB)

    def result(self, scene: int, result: dict[str, Any]) -> None:
        if not result.get("ok"):
            raise RuntimeError(f"scene {scene}: {result.get('error')}")
        self.rss.append((scene, result["worker"]["pid"], result["summary"]["rss_mib"]))

    def lost(self, scene: int, why: str, attempts: int) -> None:
        raise RuntimeError(f"scene {scene}: {why}")

    def worker(self, info: dict[str, Any]) -> None:
        pass

    def log(self, message: str) -> None:
        print(message, file=sys.stderr)


class _Range:
    def __init__(self, n: int) -> None:
        self.it = iter(range(n))

    def next(self) -> int | None:
        return next(self.it, None)


def _rss_run(cfg: Config, out: Path, scenes: int, recycle: int | None) -> dict[str, Any]:
    dataset.prepare_output(out, resume=False, overwrite=True)
    events = _Collect()
    executor = LocalExecutor(1, "render.blender.worker", "cpu", out, recycle_every=recycle)
    t0 = time.perf_counter()
    executor.run(_Range(scenes), lambda i: sample_scene(cfg, i).model_dump_json(),
                 cfg.model_dump_json(), events)  # fmt: skip
    series = [mib for _, _, mib in sorted(events.rss)]
    warm = 20
    after = series[warm - 1]
    return {
        "recycle_every": recycle,
        "wall_s": round(time.perf_counter() - t0, 1),
        "workers": len({pid for _, pid, _ in events.rss}),
        "rss_first_mib": series[0],
        "rss_after_warmup_mib": after,
        "rss_last_mib": series[-1],
        "rss_max_after_warmup_mib": max(series[warm:]),
        "growth_after_warmup": round(max(series[warm:]) / after - 1, 4),
        "slope_mib_per_scene": round((series[-1] - after) / (len(series) - warm), 3),
        "series_every_10": series[::10],
    }


def bench_rss(work: Path, scenes: int, recycle: int, config: Path) -> dict[str, Any]:
    cfg = load_config(config, [f"num_scenes={scenes}", "render.resolution=[64, 64]",
                                "render.samples=2", "render.denoiser=none",
                                "render.device=cpu", "render.views_per_scene=1"])  # fmt: skip
    out: dict[str, Any] = {"scenes": scenes, "config": config.name}
    for recycle_every in (None, recycle) if recycle else (None,):
        key = f"recycle_{recycle_every or 'never'}"
        out[key] = _rss_run(cfg, work / key, scenes, recycle_every)
        print(f"rss {key}: {json.dumps(out[key])[:300]}", file=sys.stderr)
    return out


def _rle_counts(k: int) -> str:
    # a plausible compressed-RLE string of ~60 characters (content is never decoded)
    return ("PQ5a0m1O1N2O0O1O2N1O001N10000O10O2N1N2M3M2N2O1O0O2N1O1N" + str(k))[:64]


def make_shards(folder: Path, images: int, per_image: int = 10, views: int = 2) -> None:
    """Shards as write_scene makes them: ``images / views`` scenes."""
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    for scene in range(images // views):
        imgs, anns = [], []
        for v in range(views):
            iid = dataset.image_id(scene, v)
            imgs.append({"id": iid, "file_name": f"images/{scene:06d}_{v:03d}.png", "width": 256,
                         "height": 256, "scene_id": scene, "view_index": v,
                         "camera_K": [[280.0, 0.0, 128.0], [0.0, 280.0, 128.0], [0.0, 0.0, 1.0]],
                         "camera_pose": [[1.0, 0.0, 0.0, 0.1], [0.0, -1.0, 0.0, 0.2],
                                         [0.0, 0.0, -1.0, 2.5], [0.0, 0.0, 0.0, 1.0]],
                         "depth_file": f"depth/{scene:06d}_{v:03d}.png"})  # fmt: skip
            for inst in range(1, per_image + 1):
                anns.append({"id": iid * 10000 + inst, "image_id": iid, "category_id": 1 + inst % 5,
                             "segmentation": {"size": [256, 256], "counts": _rle_counts(inst)},
                             "area": 1000 + inst, "bbox": [10.0, 20.0, 30.0, 40.0], "iscrowd": 0,
                             "instance_name": f"cube_{inst}", "scene_instance": inst,
                             "attributes": {"shape": "cube"}})  # fmt: skip
        shard = {"version": 1, "scene_index": scene, "images": imgs, "annotations": anns,
                 "category_counts": {}, "timings": {"render_s": 1.0}}  # fmt: skip
        (folder / "shards" / f"{scene:06d}.json").write_text(
            json.dumps(shard, separators=(",", ":"))
        )


def _merge_child(folder: Path) -> int:
    cfg = load_config(GENERIC)
    t0 = time.perf_counter()
    summary = merge.merge(folder, cfg, {"description": "bench"})
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"wall_s": wall, "images": summary["images"],
                      "annotations": summary["annotations"], "peak_rss_mib": round(peak)}))  # fmt: skip
    return 0


def bench_merge(work: Path, sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in sizes:
        folder = work / f"merge-{n}"
        t0 = time.perf_counter()
        make_shards(folder, n)
        made = time.perf_counter() - t0
        proc = subprocess.run([sys.executable, __file__, "--merge-child", str(folder)],
                              capture_output=True, text=True, check=True)  # fmt: skip
        result = json.loads(proc.stdout)
        size = (folder / "annotations.json").stat().st_size
        out[str(n)] = {**result, "wall_s": round(result["wall_s"], 2),
                       "us_per_image": round(result["wall_s"] / n * 1e6, 1),
                       "annotations_json_mib": round(size / 2**20, 1),
                       "make_shards_s": round(made, 1)}  # fmt: skip
        print(f"merge {n}: {out[str(n)]}", file=sys.stderr)
        shutil.rmtree(folder)
    if len(sizes) >= 2:
        a, b = out[str(sizes[0])], out[str(sizes[-1])]
        out["per_image_time_ratio"] = round(b["us_per_image"] / a["us_per_image"], 3)
    return out


def _ray_vs_local(cfg: Config, work: Path, renderer: str, chunk: int) -> dict[str, Any]:
    import ray  # noqa: TID251 - the benchmark measures the Ray executor

    from render.executors.ray import RayExecutor

    local = _render_rate(cfg, work / "local", workers=2, renderer=renderer)
    print(f"ray: local {local}", file=sys.stderr)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0
    try:
        executor = RayExecutor(None, renderer, "cpu", work / "ray", chunk=chunk)
        on_ray = _render_rate(cfg, work / "ray", executor=executor)
    finally:
        ray.shutdown()
    same = (work / "ray/annotations.json").read_bytes() == (
        work / "local/annotations.json"
    ).read_bytes()
    return {"scenes": cfg.num_scenes, "chunk": chunk, "local": local, "ray": on_ray,
            "ray_init_s": round(init_s, 2),
            "ray_over_local": round(on_ray["images_per_s"] / local["images_per_s"], 3),
            "identical_annotations": same}  # fmt: skip


def bench_ray(work: Path, scenes: int, size: int, samples: int) -> dict[str, Any]:
    """Real Blender scenes; then the fake renderer sleeping 0.5 s per scene, which
    isolates the executors' own overhead from CPU contention."""
    cfg = load_config(GENERIC, [f"num_scenes={scenes}", f"render.resolution=[{size}, {size}]",
                                f"render.samples={samples}", "render.device=cpu"])  # fmt: skip
    blender = _ray_vs_local(cfg, work / "blender", "render.blender.worker", 2)
    return {"blender": blender, "fake_sleep_0.5s": bench_ray_fake_only(work)}


def bench_ray_fake_only(work: Path) -> dict[str, Any]:
    os.environ["SYNTHCV_FAKE_DELAY"] = "0.5"
    try:
        cfg = load_config(GENERIC, ["num_scenes=40", "render.resolution=[64, 64]"])
        return _ray_vs_local(cfg, work / "fake", "tests.fake_renderer", 1)
    finally:
        del os.environ["SYNTHCV_FAKE_DELAY"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", default="throughput,rss,merge,ray")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--scenes", type=int, default=8, help="throughput/ray scenes (2 views)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--rss-scenes", type=int, default=200)
    p.add_argument("--recycle-every", type=int, default=50)
    p.add_argument("--rss-config", type=Path, default=ROOT / "configs" / "pedestrians.yaml")
    p.add_argument("--merge-images", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--merge-child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.merge_child is not None:
        return _merge_child(args.merge_child)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                          "load_avg_start": os.getloadavg()}}  # fmt: skip
    try:
        if "throughput" in parts:
            report["throughput"] = bench_throughput(work, args.scenes, args.size, args.samples)
        if "rss" in parts:
            report["rss"] = bench_rss(work, args.rss_scenes, args.recycle_every, args.rss_config)
        if "merge" in parts:
            report["merge"] = bench_merge(work, args.merge_images)
        if "ray-fake" in parts:
            report["ray_fake"] = bench_ray_fake_only(work)
        if "ray" in parts:
            report["ray"] = bench_ray(work, args.scenes, args.size, args.samples)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report["machine"]["load_avg_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
