"""Benchmark ``synthcv augment`` against a plain albumentations loop; prints JSON.

The plain loop calls the same albumentations transforms (the ``qc`` preset by
default) on the same decoded images and instance masks already in memory: no
reading, no RLE, no writing, no bookkeeping. Ours is the whole
:func:`augment.writer.augment_dataset` run, reading PNGs and COCO RLE and writing
PNGs, RLE and ``annotations.json`` (pool start-up included for 2 workers).

Baselines (each timing the best of ``--repeats`` interleaved runs; medians too):

- ``plain``: the loop doing the same random work as ours. Before each sample the
  transforms are reseeded exactly as ours are (:func:`augment.pipeline.reseed` with
  :func:`augment.apply.sample_seed`, inside the timed loop), so the same transforms
  fire with the same parameters on the same images. OpenCV's default threads, as
  a user gets them. The ratios use this one.
- ``plain_1thread``: the same with ``cv2.setNumThreads(1)``, one core like each
  of our workers.
- ``plain_2proc``: ``plain_1thread`` split over two forked processes (even and odd
  images), timed from a barrier to the last one done: what two processes give on
  this machine with no I/O and no overhead at all, the ceiling for our 2 workers.
- ``ceiling_ratio_2_workers``: two cores used perfectly, each image costing
  ``plain_1thread``'s CPU plus only the PNG read/encode/write that ours cannot
  skip (``io_ms_per_image``, timed alone), against ``plain``.
- ``plain_seed0``: ``A.Compose(transforms, seed=0)`` left to draw on its own.
  ``Compose.set_random_seed`` hands every transform the *same* seed, so their
  streams start identical and their draws are correlated, and the expensive
  transforms (ISONoise, Defocus) fire a different number of times than with ours:
  ``transform_calls`` counts both schemes (an untimed pass). Its ratio is reported
  but measures seed luck as much as overhead.

The process tunes glibc's allocator first (:mod:`augment.allocator`), as
``synthcv augment`` does, so the plain loops run with it too. Compare ratios
taken within one run, not absolute numbers across machines; the machine may be
shared (``load_average_1min`` tells).

Usage: ``python scripts/bench_augment.py [--images 48] [--copies 2] [--size 512]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from augment.allocator import tune_allocator  # noqa: E402
from augment.apply import sample_seed  # noqa: E402
from augment.dataset_io import encode_image, read_image  # noqa: E402
from augment.pipeline import Pipeline, build_pipeline, load_pipeline, reseed  # noqa: E402
from augment.writer import augment_dataset  # noqa: E402
from render.formats import coco  # noqa: E402
from tests.coco_fixtures import write_coco  # noqa: E402

Sample = tuple[int, np.ndarray, np.ndarray]  # image id, RGB image, (M, H, W) masks


class PlainLoop:
    """A bare ``A.Compose(image=, masks=)`` loop over images and masks held in memory."""

    def __init__(self, spec_path: Path, src: Path) -> None:
        import albumentations as A

        self.pipeline: Pipeline = build_pipeline(load_pipeline(spec_path))
        self.compose = A.Compose(
            self.pipeline.compose.transforms, mask_interpolation=cv2.INTER_NEAREST, seed=0
        )
        doc = json.loads((src / "annotations.json").read_text())
        self.data: list[Sample] = []
        for img in doc["images"]:
            image = read_image(src / img["file_name"], img["width"], img["height"])
            rles = [a["segmentation"] for a in doc["annotations"] if a["image_id"] == img["id"]]
            masks = np.stack([coco.decode(r) for r in rles]).astype(np.uint8)
            self.data.append((img["id"], image, masks))

    def run(
        self, copies: int, same_draws: bool, threads: int | None, part: tuple[int, int] = (0, 1)
    ) -> tuple[float, float]:
        """(wall, CPU) seconds of the loop over every ``part[1]``-th image from
        ``part[0]``; ``same_draws``: reseed per sample like ours (seed 0), else
        ``Compose(seed=0)``'s own streams; ``threads``: OpenCV threads (None: default)."""
        data = self.data[part[0] :: part[1]]
        default = cv2.getNumThreads()
        if threads is not None:
            cv2.setNumThreads(threads)
        if not same_draws:  # restart Compose(seed=0)'s streams (reseed replaces them)
            self.compose.set_random_seed(0)
        try:
            t, c = time.perf_counter(), time.process_time()
            for copy in range(copies):
                for image_id, image, masks in data:
                    if same_draws:
                        reseed(self.pipeline, sample_seed(0, image_id, copy))
                    self.compose(image=image, masks=masks)
            return time.perf_counter() - t, time.process_time() - c
        finally:
            cv2.setNumThreads(default)

    def run_2proc(self, copies: int) -> float:
        """Wall seconds of ``run(same_draws=True, threads=1)`` split over two forked
        processes, from a common start (barrier) until both are done."""
        ctx = mp.get_context("fork")
        barrier, queue = ctx.Barrier(3), ctx.Queue()

        def child(k: int) -> None:
            cv2.setNumThreads(1)
            barrier.wait()
            start = time.perf_counter()
            self.run(copies, True, 1, (k, 2))
            queue.put((start, time.perf_counter()))

        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # no OpenCV pool threads while forking
        try:
            procs = [ctx.Process(target=child, args=(k,)) for k in (0, 1)]
            for p in procs:
                p.start()
        finally:
            cv2.setNumThreads(threads)
        barrier.wait()
        spans = [queue.get() for _ in procs]
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"plain_2proc child exited with {p.exitcode}")
        return max(e for _, e in spans) - min(s for s, _ in spans)

    def transform_calls(self, copies: int, same_draws: bool) -> dict[str, int]:
        """How often each transform was applied (counted on the image), untimed."""
        counts: Counter[str] = Counter()
        wrapped = []
        for t in self.pipeline.nodes:
            if hasattr(t, "apply_with_params") and not hasattr(t, "transforms"):
                orig = t.apply_with_params

                def counted(params: Any, *a: Any, _t: Any = t, _o: Any = orig, **k: Any) -> Any:
                    counts[type(_t).__name__] += 1
                    return _o(params, *a, **k)

                t.apply_with_params = counted
                wrapped.append(t)
        try:
            self.run(copies, same_draws, None)
        finally:
            for t in wrapped:
                del t.apply_with_params
        return dict(sorted(counts.items()))


def io_ms_per_image(src: Path, out: Path, copies: int) -> dict[str, float]:
    """CPU milliseconds per augmented image of the I/O that ours does and the plain
    loop does not, timed alone with one OpenCV thread: decoding a source PNG (shared
    by its ``copies``), encoding an output PNG as ours does, writing it to a new file."""
    doc = json.loads((src / "annotations.json").read_text())
    entries = [(src / e["file_name"], e["width"], e["height"]) for e in doc["images"]]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        c = time.process_time()
        images = [read_image(p, w, h) for p, w, h in entries]
        read = time.process_time() - c
        c = time.process_time()
        blobs = [encode_image(im, ".png", 95, 0) for im in images]
        encode = time.process_time() - c
        out.mkdir()
        c = time.process_time()
        for k, b in enumerate(blobs):
            (out / f"{k}.png").write_bytes(b)
        write = time.process_time() - c
    finally:
        cv2.setNumThreads(threads)
        shutil.rmtree(out, ignore_errors=True)
    n = len(entries)
    return {
        "read": 1000 * read / (n * copies),
        "encode": 1000 * encode / n,
        "write": 1000 * write / n,
    }


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", type=Path, default=ROOT / "configs" / "augment" / "qc.yaml")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    tuned = tune_allocator()  # as `synthcv augment` does; the plain loops get it too

    with tempfile.TemporaryDirectory() as tmp:
        src = write_coco(Path(tmp) / "src", np.random.default_rng(0), n_images=args.images,
                         height=args.size, width=args.size)  # fmt: skip
        n_inst = len(json.loads((src / "annotations.json").read_text())["annotations"])
        plain = PlainLoop(args.pipeline, src)
        variants = {"plain": (True, None), "plain_1thread": (True, 1), "plain_seed0": (False, None)}
        keys = [*variants, "plain_2proc", "ours_1", "ours_2"]
        times: dict[str, list[float]] = {k: [] for k in keys}
        cpu: dict[str, list[float]] = {k: [] for k in variants}
        phases: dict[str, list[dict[str, Any]]] = {"ours_1": [], "ours_2": []}
        io: list[dict[str, float]] = []
        for _ in range(args.repeats):  # interleaved, so drifting load hits all alike
            for key, (same, threads) in variants.items():
                wall, seconds = plain.run(args.copies, same, threads)
                times[key].append(wall)
                cpu[key].append(seconds)
            times["plain_2proc"].append(plain.run_2proc(args.copies))
            for w in (1, 2):
                seconds, timing = ours(args.pipeline, src, Path(tmp) / f"out{w}", args.copies, w)
                times[f"ours_{w}"].append(seconds)
                phases[f"ours_{w}"].append(timing)
            io.append(io_ms_per_image(src, Path(tmp) / "io", args.copies))
        calls = {
            "same_draws": plain.transform_calls(args.copies, True),
            "seed0": plain.transform_calls(args.copies, False),
        }
    n = args.images * args.copies
    best = {k: min(v) for k, v in times.items()}
    rate = {k: n / v for k, v in best.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_ms = {k: 1000 * min(v) / n for k, v in cpu.items()}
    cpu_ms |= {k: 1000 * min(p["cpu_s"] for p in v) / n for k, v in phases.items()}

    def r(x: float) -> float:
        return round(x, 3)

    io_ms = {k: min(x[k] for x in io) for k in io[0]}
    # 2 perfectly used cores, each image costing the bare transform (one thread) plus
    # only the unavoidable PNG read/encode/write: the most 2 workers could reach
    ceiling = 2000 / (cpu_ms["plain_1thread"] + sum(io_ms.values()))

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
        "allocator_tuned": tuned,
        "images_per_s": {k: round(v, 2) for k, v in rate.items()},
        "ratio_1_worker": r(rate["ours_1"] / rate["plain"]),
        "ratio_2_workers": r(rate["ours_2"] / rate["plain"]),
        "median_ratio_1_worker": r(med["plain"] / med["ours_1"]),
        "median_ratio_2_workers": r(med["plain"] / med["ours_2"]),
        "targets": {"ratio_1_worker": 0.8, "ratio_2_workers": 1.6},
        # one core, same work: how much our I/O and bookkeeping cost
        "ratio_1_worker_vs_plain_1thread": r(rate["ours_1"] / rate["plain_1thread"]),
        "ratio_2_workers_vs_plain_1thread": r(rate["ours_2"] / rate["plain_1thread"]),
        # what 2 processes give with zero overhead, and ours against that ceiling
        "plain_2proc_vs_plain": r(rate["plain_2proc"] / rate["plain"]),
        "ours_2_vs_plain_2proc": r(rate["ours_2"] / rate["plain_2proc"]),
        "io_ms_per_image": {k: round(v, 2) for k, v in io_ms.items()},
        "ceiling_ratio_2_workers": r(ceiling / rate["plain"]),
        # Compose(seed=0)'s own draws: a different amount of work (see transform_calls)
        "ratio_1_worker_vs_plain_seed0": r(rate["ours_1"] / rate["plain_seed0"]),
        "ratio_2_workers_vs_plain_seed0": r(rate["ours_2"] / rate["plain_seed0"]),
        "transform_calls": calls,
        "cpu_ms_per_image": {k: round(v, 2) for k, v in cpu_ms.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
        "seconds_all_repeats": {k: [r(x) for x in v] for k, v in times.items()},
        "ours_phases_all_repeats": phases,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
