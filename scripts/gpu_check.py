"""``make gpu-check``: what synthcv does on an NVIDIA GPU, measured in one run.

On a machine with an NVIDIA GPU: runs the ``gpu`` tests, renders a few images of
each family's preset on the GPU (OptiX, then CUDA) and on the CPU, times a few
training steps of each recipe (mixed precision on the GPU) on those renders, and
writes one JSON (``--out``, default ``gpu_check.json``) with seconds per image,
images per second and the device of each. Sized for under 8 minutes on one
H100-class GPU. Without a GPU it prints one line and exits 2.

    python scripts/gpu_check.py [--out gpu_check.json] [--images N] [--devices optix,cuda,cpu]

Whoever runs it on a GPU puts the figures into docs/benchmarks.md ("GPU").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render.machine import nvidia_gpus  # noqa: E402

FAMILIES = {"generic": "configs/generic.yaml", "defects": "configs/defects.yaml",
            "pedestrians": "configs/pedestrians.yaml"}  # fmt: skip
RECIPES = {"defects_cpu": ("configs/train/defects_cpu.yaml", "defects"),
           "defects_gpu": ("configs/train/defects_gpu.yaml", "defects"),
           "pedestrians_cpu": ("configs/train/pedestrians_cpu.yaml", "pedestrians")}  # fmt: skip


def _gpu_names() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [ln.strip() for ln in out.stdout.splitlines() if ln.startswith("GPU")]


def _run(cmd: list[str], timeout: float) -> tuple[int, float, str]:
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        rc, err = 124, f"timed out after {timeout:.0f} s"
    tail = err.strip().splitlines()[-1] if err.strip() else ""
    return rc, round(time.perf_counter() - t, 2), tail


def render(family: str, device: str, out: Path, images: int) -> dict[str, Any]:
    """``images`` scenes of the family's preset on ``device``; seconds per image."""
    cmd = [sys.executable, "-m", "render.cli", "render", FAMILIES[family], "--out", str(out),
           "-n", str(images), "--device", device, "--set", "render.views_per_scene=1",
           "--no-progress", "--overwrite"]  # fmt: skip
    rc, wall, tail = _run(cmd, 300)
    row: dict[str, Any] = {"family": family, "device": device, "rc": rc, "wall_s": wall}
    if rc != 0:
        return {**row, "error": tail}
    ds = json.loads((out / "dataset.json").read_text())
    info = (ds["workers"].get("info") or [{}])[0]
    n = ds["images"]
    row.update(
        images=n,
        resolution=ds["config"]["render"]["resolution"],
        samples=ds["config"]["render"]["samples"],
        s_per_image=round(ds["this_run"]["wall_s"] / max(n, 1), 3),
        images_per_s=ds["timings"]["images_per_s"],
        device_used=info.get("device"),
        gpus=info.get("gpus"),
    )
    return row


def train(name: str, data: Path, out: Path, device: str) -> dict[str, Any]:
    """10 optimizer steps (5 epochs of the 4 images, 2 per step) of a recipe on a
    rendered dataset, mixed precision on the GPU; images per second."""
    recipe, _ = RECIPES[name]
    cmd = [sys.executable, "-m", "render.cli", "train", recipe, "--out", str(out),
           "--set", f"data.train={data}", "--set", "data.split=null", "--set", "data.val=null",
           "--set", "train.epochs=5", "--set", "train.batch_size=2", "--set", "train.log_every=1",
           "--set", "data.workers=2", "--device", device, "--no-progress", "--overwrite"]  # fmt: skip
    rc, wall, tail = _run(cmd, 300)
    row: dict[str, Any] = {"recipe": name, "device": device, "rc": rc, "wall_s": wall}
    if rc != 0:
        return {**row, "error": tail}
    summary = json.loads((out / "train.json").read_text())
    s = summary["this_session"]
    row.update(steps=summary["steps"], amp=summary["amp"], device_used=summary["device"],
               images_per_s=s.get("images_per_s"), s_per_step=s.get("model_s_median"))  # fmt: skip
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    p.add_argument("--images", type=int, default=4, help="images per family and device (4)")
    p.add_argument("--devices", default="optix,cuda,cpu", help="render devices, in order")
    args = p.parse_args(argv)
    gpus = _gpu_names()
    if not gpus and not nvidia_gpus():
        print("gpu-check: no NVIDIA GPU on this machine (nvidia-smi -L lists none); run it "
              "where one is", file=sys.stderr)  # fmt: skip
        return 2
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "gpus": gpus,
        "host": platform.node(),
        "python": platform.python_version(),
    }
    rc, wall, tail = _run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests"], 300)
    report["gpu_tests"] = {"rc": rc, "wall_s": wall, "summary": tail}
    work = Path(tempfile.mkdtemp(prefix="synthcv-gpu-check-"))
    try:
        report["render"] = []
        for family in FAMILIES:
            for device in args.devices.split(","):
                row = render(family, device, work / f"{family}-{device}", args.images)
                report["render"].append(row)
                print(json.dumps(row), file=sys.stderr)
        report["train"] = []
        for name, (_, family) in RECIPES.items():
            data = next((work / f"{family}-{d}" for d in args.devices.split(",")
                         if (work / f"{family}-{d}" / "annotations.json").is_file()), None)  # fmt: skip
            if data is None:
                report["train"].append({"recipe": name, "error": "no rendered dataset"})
                continue
            for device in ("cuda", "cpu"):
                row = train(name, data, work / f"train-{name}-{device}", device)
                report["train"].append(row)
                print(json.dumps(row), file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(report, indent=2)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if report["gpu_tests"]["rc"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main())
