"""What ``synthcv augment`` shows and records besides the dataset: the progress
bar and the package versions written to ``dataset.json``."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from typing import Any


def versions() -> dict[str, str]:
    """Python and the packages that decide the output bytes."""
    out = {"python": platform.python_version()}
    for pkg in ("synthcv", "albumentations", "numpy", "opencv-python-headless", "pycocotools"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


class Progress:
    """A rich progress bar with images/s; a no-op when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda n: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("augment"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} images/s"),
            TimeElapsedColumn(),
        )
        self.bar.start()
        task = self.bar.add_task("augment", total=self.total, rate=0.0)
        start, done = time.perf_counter(), [0]

        def advance(n_images: int) -> None:
            done[0] += n_images
            rate = done[0] / max(time.perf_counter() - start, 1e-9)
            self.bar.update(task, advance=1, rate=rate)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
