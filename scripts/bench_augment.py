"""Benchmark ``synthcv augment`` against a plain albumentations loop; prints JSON.

The plain loop calls the same albumentations transforms (the ``qc`` preset by
default) on the same decoded images and instance masks already in memory: no
reading, no RLE, no writing, no bookkeeping. Ours is the whole
:func:`augment.writer.augment_dataset` run, reading PNGs and COCO RLE and writing
PNGs, RLE and ``annotations.json`` (pool start-up included for ``--workers 2``).
Each timing is the best of ``--repeats`` interleaved runs (medians reported too;
the machine may be shared; ``load_average_1min`` tells);
compare the ratios, taken within one run, not absolute numbers across machines.

Extra baselines (the ``plain_*`` fields keep their meaning): ``plain_1thread`` is the
same loop with ``cv2.setNumThreads(1)``, a one-core baseline like each of our
workers; ``plain_same_draws`` reseeds the transforms per sample exactly as ours
does (:func:`augment.pipeline.reseed` with :func:`augment.apply.sample_seed`,
inside the timed loop), so both do the same random work. ``Compose(seed=0)`` in
the plain loop hands every transform the same stream, so e.g. both flips always
fire together and the expensive transforms fire a different number of times.

Usage: ``python scripts/bench_augment.py [--images 48] [--copies 2] [--size 512]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from augment.apply import sample_seed  # noqa: E402
from augment.dataset_io import read_image  # noqa: E402
from augment.pipeline import build_pipeline, load_pipeline, reseed  # noqa: E402
from augment.writer import augment_dataset  # noqa: E402
from render import coco  # noqa: E402
from tests.coco_fixtures import write_coco  # noqa: E402


def plain_loop(
    spec_path: Path, src: Path, copies: int, threads: int | None = None, same_draws: bool = False
) -> tuple[float, float]:
    """(wall, CPU) seconds for ``copies`` passes of a bare ``A.Compose(image=, masks=)`` loop;
    ``threads``: OpenCV threads during the loop (None: OpenCV's default, as a user gets);
    ``same_draws``: reseed per sample like ours (seed 0), else ``Compose(seed=0)``'s stream."""
    import albumentations as A

    pipeline = build_pipeline(load_pipeline(spec_path))
    transforms = pipeline.compose.transforms
    compose = A.Compose(transforms, mask_interpolation=cv2.INTER_NEAREST, seed=0)
    doc = json.loads((src / "annotations.json").read_text())
    data = []
    for img in doc["images"]:
        image = read_image(src / img["file_name"], img["width"], img["height"])
        rles = [a["segmentation"] for a in doc["annotations"] if a["image_id"] == img["id"]]
        data.append((img["id"], image, np.stack([coco.decode(r) for r in rles]).astype(np.uint8)))
    default = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(threads)
    try:
        t, c = time.perf_counter(), time.process_time()
        n = 0
        for copy in range(copies):
            for image_id, image, masks in data:
                if same_draws:
                    reseed(pipeline, sample_seed(0, image_id, copy))
                out = compose(image=image, masks=masks)
                n += int(out["image"].shape[0] > 0)
        return time.perf_counter() - t, time.process_time() - c
    finally:
        cv2.setNumThreads(default)


def ours(
    spec_path: Path, src: Path, out: Path, copies: int, workers: int
) -> tuple[float, dict[str, Any]]:
    """Wall seconds for the whole run into a fresh ``out`` (deleted afterwards,
    untimed), and its timings with the CPU seconds of this process and its workers."""
    t, c0 = time.perf_counter(), _cpu()
    info = augment_dataset(
        src, load_pipeline(spec_path), out, copies=copies, seed=0, workers=workers, progress=False
    )
    seconds = time.perf_counter() - t
    shutil.rmtree(out)
    return seconds, {**info["timings"], "cpu_s": round(_cpu() - c0, 3)}


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its reaped children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=ROOT / "configs" / "augment" / "qc.yaml")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        src = write_coco(Path(tmp) / "src", np.random.default_rng(0), n_images=args.images,
                         height=args.size, width=args.size)  # fmt: skip
        n_inst = len(json.loads((src / "annotations.json").read_text())["annotations"])
        plains = {
            "plain": (None, False),
            "plain_1thread": (1, False),
            "plain_same_draws": (None, True),
            "plain_same_draws_1thread": (1, True),
        }
        times: dict[str, list[float]] = {k: [] for k in [*plains, "ours_1", "ours_2"]}
        phases: dict[str, list[dict[str, Any]]] = {"ours_1": [], "ours_2": []}
        plain_cpu: dict[str, list[float]] = {k: [] for k in plains}
        for _ in range(args.repeats):  # interleaved, so drifting load hits all alike
            for key, (threads, same) in plains.items():
                wall, cpu = plain_loop(args.pipeline, src, args.copies, threads, same)
                times[key].append(wall)
                plain_cpu[key].append(cpu)
            for w in (1, 2):
                seconds, timing = ours(args.pipeline, src, Path(tmp) / f"out{w}", args.copies, w)
                times[f"ours_{w}"].append(seconds)
                phases[f"ours_{w}"].append(timing)
    n = args.images * args.copies
    best = {k: min(v) for k, v in times.items()}
    rate = {k: n / v for k, v in best.items()}
    result: dict[str, Any] = {
        "pipeline": str(args.pipeline.relative_to(ROOT))
        if args.pipeline.is_relative_to(ROOT)
        else str(args.pipeline),
        "image_size": [args.size, args.size],
        "source_images": args.images,
        "instances": n_inst,
        "copies": args.copies,
        "augmented_images": n,
        "cpu_count": os.cpu_count(),
        "opencv_threads_main": cv2.getNumThreads(),
        "plain_images_per_s": round(rate["plain"], 2),
        "ours_1_worker_images_per_s": round(rate["ours_1"], 2),
        "ours_2_workers_images_per_s": round(rate["ours_2"], 2),
        "ratio_1_worker": round(rate["ours_1"] / rate["plain"], 3),
        "ratio_2_workers": round(rate["ours_2"] / rate["plain"], 3),
        "median_ratio_1_worker": round(
            statistics.median(times["plain"]) / statistics.median(times["ours_1"]), 3
        ),
        "median_ratio_2_workers": round(
            statistics.median(times["plain"]) / statistics.median(times["ours_2"]), 3
        ),
        "targets": {"ratio_1_worker": 0.8, "ratio_2_workers": 1.6},
        # the same plain loop pinned to cv2.setNumThreads(1): a one-core baseline (our
        # workers each run OpenCV single-threaded; "1.6x with 2 workers" presumes this)
        "plain_1thread_images_per_s": round(rate["plain_1thread"], 2),
        "ratio_1_worker_vs_plain_1thread": round(rate["ours_1"] / rate["plain_1thread"], 3),
        "ratio_2_workers_vs_plain_1thread": round(rate["ours_2"] / rate["plain_1thread"], 3),
        # the plain loop doing the same random work as ours (same transforms fire with
        # the same parameters): the ratios then measure our overhead, not seed luck
        "plain_same_draws_images_per_s": round(rate["plain_same_draws"], 2),
        "plain_same_draws_1thread_images_per_s": round(rate["plain_same_draws_1thread"], 2),
        "ratio_1_worker_vs_plain_same_draws": round(rate["ours_1"] / rate["plain_same_draws"], 3),
        "ratio_2_workers_vs_plain_same_draws_1thread": round(
            rate["ours_2"] / rate["plain_same_draws_1thread"], 3
        ),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_ms_per_image": {
            "plain": round(1000 * min(plain_cpu["plain"]) / n, 2),
            **{k: round(1000 * min(v) / n, 2) for k, v in plain_cpu.items() if k != "plain"},
            "ours_1": round(1000 * min(p["cpu_s"] for p in phases["ours_1"]) / n, 2),
            "ours_2": round(1000 * min(p["cpu_s"] for p in phases["ours_2"]) / n, 2),
        },
        "seconds_all_repeats": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "ours_phases_all_repeats": phases,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
