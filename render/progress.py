"""The driver's progress display: a rich bar on stderr, or plain log lines."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """A rich progress bar on stderr (images done/total, images/s, ETA), or nothing."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.bar: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("images"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.start = time.perf_counter()
        self.task = self.bar.add_task(label, total=total, rate="-- img/s")
        self.bar.start()

    def advance(self, images: int) -> None:
        if self.bar is None:
            return
        self.bar.advance(self.task, images)
        done = self.bar.tasks[0].completed
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        self.bar.update(self.task, rate=f"{rate:.2f} img/s")

    def log(self, message: str) -> None:
        if self.bar is not None:
            self.bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=sys.stderr)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
