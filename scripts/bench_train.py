"""Benchmark the training side on this machine's CPU (or GPU); prints JSON.

- ``loader``: images/s of :class:`augment.torch_dataset.AugmentedCoco` through a
  ``DataLoader`` (batch 4, the training collate), with 0 and 2 workers, without and
  with the ``qc`` pipeline online; each pass reads ``--loader-images`` images and
  includes the workers' start-up, as one training epoch does.
- ``step``: seconds per training step (forward, backward, SGD step) of each
  architecture x backbone in ``--models`` at ``--size`` px, batch ``--batch``, on
  real images of ``--data``, with the CPU recipe's heads
  (``configs/train/defects_cpu.yaml``); the median of ``--steps`` steps after one
  warm-up step; and the inference seconds per image (eval mode, the same batch).
- ``loader_keeps_up``: the loader's images/s with 2 workers against what the
  fastest model consumes: a loader faster than the model never makes it wait.

The machine may be shared (``load_average_1min`` tells); compare figures taken in
one run. torch's threads: its default unless ``--threads``.

Usage: ``python scripts/bench_train.py --data out/defects [--size 192] [--steps 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ("faster_rcnn:mobilenet_v3_large_fpn", "mask_rcnn:mobilenet_v3_large_fpn",
          "faster_rcnn:resnet50_fpn")  # fmt: skip


def bench_loader(data: Path, n_images: int, workers: int, pipeline: str | None) -> dict[str, Any]:
    """One pass over the first ``n_images`` images: images/s, workers' start-up included."""
    from torch.utils.data import Subset

    from augment.pipeline import build_pipeline, load_pipeline
    from augment.torch_dataset import AugmentedCoco, data_loader

    pipe = build_pipeline(load_pipeline(pipeline)) if pipeline else None
    ds = AugmentedCoco(data, pipe, 0, masks=False)
    sub = Subset(ds, range(min(n_images, len(ds))))
    loader = data_loader(sub, batch_size=4, num_workers=workers)
    t = time.perf_counter()
    seen = sum(len(images) for images, _ in loader)
    wall = time.perf_counter() - t
    return {"workers": workers, "pipeline": pipeline or "none", "images": seen,
            "wall_s": round(wall, 3), "images_per_s": round(seen / wall, 2)}  # fmt: skip


def bench_step(
    data: Path, arch: str, backbone: str, size: int, batch: int, steps: int
) -> dict[str, Any]:
    """Median training-step and inference time of one model on one real batch."""
    import torch

    from augment.torch_dataset import AugmentedCoco
    from render.training.data import model_target
    from render.training.models import build_model, count_parameters
    from render.training.recipe import load_recipe

    recipe = load_recipe(ROOT / "configs" / "train" / "defects_cpu.yaml")
    cfg = recipe.model.model_copy(
        update={"arch": arch, "backbone": backbone, "min_size": size, "max_size": size}
    )
    ds = AugmentedCoco(data, None, masks=arch == "mask_rcnn")
    items = [ds[i] for i in range(batch)]
    images = [im for im, _ in items]
    targets = [model_target(t, arch, "cpu") for _, t in items]
    torch.manual_seed(0)
    model = build_model(cfg, len(ds.categories) + 1)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.001,
                          momentum=0.9)  # fmt: skip
    model.train()
    times = []
    for n in range(steps + 1):
        t = time.perf_counter()
        loss = sum(model(images, targets).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        opt.step()
        if n:  # the first step allocates and tunes: left out
            times.append(time.perf_counter() - t)
    model.eval()
    infer = []
    with torch.inference_mode():
        for _ in range(2):
            t = time.perf_counter()
            model(images)
            infer.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    return {"arch": arch, "backbone": backbone, "size": size, "batch": batch,
            "parameters_m": round(count_parameters(model) / 1e6, 2),
            "step_s": round(step_s, 3), "train_images_per_s": round(batch / step_s, 2),
            "infer_s_per_image": round(min(infer) / batch, 3)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a COCO dataset directory")
    ap.add_argument("--size", type=int, default=192, help="model input size, px")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per model")
    ap.add_argument("--loader-images", type=int, default=48)
    ap.add_argument("--models", nargs="*", default=list(MODELS), metavar="ARCH:BACKBONE")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as synthcv train does
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    loader = [bench_loader(args.data, args.loader_images, w, p)
              for p in (None, str(ROOT / "configs" / "augment" / "qc.yaml")) for w in (0, 2)]  # fmt: skip
    steps = [bench_step(args.data, *m.split(":"), args.size, args.batch, args.steps)
             for m in args.models]  # fmt: skip
    fastest = max(s["train_images_per_s"] for s in steps)
    slowest_loader = min(r["images_per_s"] for r in loader if r["workers"] == 2)
    out = {
        "data": str(args.data),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "loader": loader,
        "step": steps,
        "loader_keeps_up": slowest_loader > fastest,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
