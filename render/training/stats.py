"""Step timing and bookkeeping of a training run (pure Python)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from render.versions import distribution_version, package_versions


class StepTimes:
    """Per-step data time (waiting for the loader), model time (forward, backward,
    optimizer step), images and losses, averaged over a window of steps."""

    def __init__(self) -> None:
        self.data_s: list[float] = []
        self.model_s: list[float] = []
        self.images = 0
        self.sums: dict[str, float] = {}

    def add(self, data_s: float, model_s: float, images: int, row: dict[str, float]) -> None:
        self.data_s.append(data_s)
        self.model_s.append(model_s)
        self.images += images
        for k, v in row.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def means(self) -> dict[str, float]:
        """Mean losses and lr of the window, its images/s, mean data and model s/step."""
        n = max(len(self.data_s), 1)
        busy = sum(self.data_s) + sum(self.model_s)
        out = {k: round(v / n, 6) for k, v in self.sums.items()}
        out["images_per_s"] = round(self.images / busy, 3) if busy else 0.0
        out["data_s"] = round(sum(self.data_s) / n, 4)
        out["model_s"] = round(sum(self.model_s) / n, 4)
        return out

    def summary(self) -> dict[str, Any]:
        """Throughput over all steps: images/s, mean and median data and model time per
        step (the first step of each epoch waits for the workers to start: the median
        shows the steady state), and whether the loader keeps up (median data time
        under a tenth of the model time)."""
        if not self.data_s:
            return {"steps": 0}
        data, model = np.array(self.data_s), np.array(self.model_s)
        busy = float(data.sum() + model.sum())
        return {
            "steps": len(data),
            "images": self.images,
            "images_per_s": round(self.images / busy, 3),
            "data_s_mean": round(float(data.mean()), 4),
            "data_s_median": round(float(np.median(data)), 4),
            "model_s_mean": round(float(model.mean()), 4),
            "model_s_median": round(float(np.median(model)), 4),
            "loader_keeps_up": bool(np.median(data) < 0.1 * np.median(model)),
        }


def versions() -> dict[str, Any]:
    """Package versions for checkpoints and ``train.json`` (torch's from metadata)."""
    out: dict[str, Any] = dict(package_versions())
    out["torch"] = distribution_version("torch")
    out["torchvision"] = distribution_version("torchvision")
    out["cpu_count"] = os.cpu_count()
    return out
