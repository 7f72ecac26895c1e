"""Peak memory and time of augmenting one image with many masks (``augment_sample``).

``python scripts/bench_masks.py [--masks 5000] [--size 512] [--pipeline configs/augment/qc.yaml]``
prints JSON: the masks, image size, seconds for ``prepare_sample`` and one
``augment_sample`` copy, and the process's peak resident memory (``ru_maxrss``) before
and after, so the difference is what the masks cost.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from augment.apply import augment_sample, prepare_sample, sample_seed  # noqa: E402
from augment.pipeline import build_pipeline, load_pipeline  # noqa: E402
from render.formats import coco  # noqa: E402


def grid_rles(n: int, size: int) -> list[dict]:
    """``n`` disjoint squares tiling a ``size`` x ``size`` image (cells as large as fit)."""
    side = int(np.ceil(np.sqrt(n)))
    cell = size // side
    anns = []
    for k in range(n):
        y, x = divmod(k, side)
        m = np.zeros((size, size), np.uint8)
        m[y * cell + 1 : (y + 1) * cell - 1, x * cell + 1 : (x + 1) * cell - 1] = 1
        rle = coco.encode(m)
        anns.append({"id": k + 1, "category_id": 1, "segmentation": rle, "iscrowd": 0})
    return anns


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--masks", type=int, default=5000)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--pipeline", type=Path, default=ROOT / "configs" / "augment" / "qc.yaml")
    args = p.parse_args(argv)
    pipeline = build_pipeline(load_pipeline(args.pipeline))
    anns = grid_rles(args.masks, args.size)
    image = np.full((args.size, args.size, 3), 128, np.uint8)
    before = peak_mib()
    t0 = time.perf_counter()
    prep = prepare_sample(anns, args.size, args.size)
    t1 = time.perf_counter()
    out = augment_sample(image, prep, pipeline, sample_seed(0, 0, 0), flip_idx={})
    t2 = time.perf_counter()
    result = {
        "masks": args.masks,
        "size": [args.size, args.size],
        "pipeline": str(args.pipeline.name),
        "bit_packed": pipeline.bit_packed,
        "kept": len(out.annotations),
        "prepare_s": round(t1 - t0, 3),
        "augment_s": round(t2 - t1, 3),
        "peak_rss_before_mib": round(before, 1),
        "peak_rss_mib": round(peak_mib(), 1),
        "mib_per_1000_masks": round((peak_mib() - before) * 1000 / args.masks, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
