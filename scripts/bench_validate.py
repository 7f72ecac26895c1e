"""Time and peak memory of ``synthcv validate`` on synthetic datasets.

``python scripts/bench_validate.py [--images 10000 100000] [--dense 5000] [--workdir DIR]``
writes valid COCO datasets of N 64x48 PNG images with 10 RLE mask annotations each
(every file name is a hard link to one PNG, so 100k files cost little disk yet
each is opened and decoded), and one 1024x1024 image with ``--dense`` annotations;
runs ``synthcv validate`` on each in a child process and prints JSON: seconds
(including the interpreter's start), the child's peak resident memory (``VmHWM``),
and the growth in time and memory from the smallest to the largest dataset
relative to its size (1.0 = linear).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render.formats import coco  # noqa: E402

LINKS = 50_000
"""Hard links per master PNG."""


def _annotations(height: int, width: int, cells: int, cell: int) -> list[dict[str, Any]]:
    """``cells`` disjoint squares, one per ``cell``-pixel grid cell: valid annotations."""
    per_row = width // cell
    out = []
    for k in range(cells):
        y, x = divmod(k, per_row)
        m = np.zeros((height, width), bool)
        m[y * cell + 1 : (y + 1) * cell - 1, x * cell + 1 : (x + 1) * cell - 1] = True
        rle = coco.encode(m)
        out.append({"segmentation": rle, "area": coco.area(rle), "bbox": coco.bbox(rle)})
    return out


def write_dataset(root: Path, n_images: int, per_image: int, size: tuple[int, int]) -> int:
    """A valid dataset of ``n_images`` images of ``size`` (h, w); its JSON's bytes."""
    h, w = size
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    cell = 16 if per_image <= 10 else 14
    layout = _annotations(h, w, per_image, cell)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    masters: list[Path] = []
    for i in range(1, n_images + 1):
        if (i - 1) % LINKS == 0:  # ext4 allows 65,000 links to one file
            masters.append(root / "images" / f"master{len(masters)}.png")
            cv2.imwrite(str(masters[-1]), pixels)
        name = f"images/{i:07d}.png"
        os.link(masters[-1], root / name)
        images.append({"id": i, "file_name": name, "width": w, "height": h})
        for a in layout:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "iscrowd": 0, **a})
    for m in masters:
        m.unlink()
    doc = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "part"}]}
    data = json.dumps(doc, separators=(",", ":")).encode()
    (root / "annotations.json").write_bytes(data)
    return len(data)


_CHILD = """
import sys
from render.cli import main
rc = main(sys.argv[1:])
with open("/proc/self/status") as f:
    hwm = [line.split()[1] for line in f if line.startswith("VmHWM:")]
print("VmHWM_KiB", hwm[0] if hwm else -1, file=sys.stderr)
sys.exit(rc)
"""
"""Runs the command and reports its own peak RSS: VmHWM counts this process image
only, whereas ``ru_maxrss`` of a child also counts the parent it was forked from."""


def run_validate(root: Path) -> dict[str, Any]:
    """``synthcv validate root`` in a child process: exit code, seconds, peak RSS."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "validate", str(root)],
        capture_output=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - t0
    hwm = [ln.split()[1] for ln in proc.stderr.decode().splitlines() if ln.startswith("VmHWM_KiB")]
    out = proc.stdout.decode(errors="replace").splitlines()
    return {
        "exit": proc.returncode,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(int(hwm[0]) / 1024, 1) if hwm else None,
        "first_line": out[0][-80:] if out else proc.stderr.decode()[-200:],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--dense", type=int, default=5000, help="annotations on the one large image")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_validate_", dir=args.workdir))
    results = []
    try:
        cases = [(n, 10, (48, 64)) for n in args.images] + [(1, args.dense, (1024, 1024))]
        for n, per_image, size in cases:
            root = work / f"{n}x{per_image}"
            t0 = time.perf_counter()
            json_bytes = write_dataset(root, n, per_image, size)
            made = time.perf_counter() - t0
            row = {"images": n, "annotations": n * per_image, "image_size": list(size)}
            row |= {"json_mib": round(json_bytes / 2**20, 1), "build_s": round(made, 1)}
            row |= run_validate(root)
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small, large = results[0], results[len(args.images) - 1]
    scale = large["images"] / small["images"]
    summary = {
        "results": results,
        "time_growth_per_size_growth": round(large["seconds"] / small["seconds"] / scale, 2),
        "memory_growth_per_size_growth": round(
            large["peak_rss_mib"] / small["peak_rss_mib"] / scale, 2
        ),
    }
    print(json.dumps(summary, indent=1))
    return 0 if all(r["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
