"""Executors run scene lists and report results; the driver plans (render/driver.py).

An executor has ``run(plan, spec_json, cfg_json, events)``: it pulls scene indices
from ``plan.next()`` (None: nothing more for now), renders each with
:func:`render.executors.task.render_scene` wherever it runs (worker processes on
this machine: :mod:`render.executors.local`; Ray tasks on a cluster:
:mod:`render.executors.ray`, the only module that imports ``ray``), and reports to
``events``. It returns when the plan is exhausted and nothing is in flight. The
driver decides everything else: which scenes, retries, failures, the merge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

DEFAULT_RETRIES = 1
"""Extra attempts for a failing scene before it is recorded as failed."""
DEFAULT_RECYCLE_EVERY = 200
"""Scenes per worker process before a fresh one replaces it. Measured over 200 small
scenes in one Blender worker (docs/benchmarks.md, "Scale-out"): resident memory
grows 3.5 % (generic) and 5.8 % (pedestrians, 0.32 MiB/scene) after warm-up, so a
worker stays within +10 % for about 450 scenes; 200 keeps it well inside that for
one Blender start-up (~4 s) per 200 scenes."""


class Plan(Protocol):
    """Where an executor pulls scenes from: ``next()`` gives a scene index or None."""

    def next(self) -> int | None: ...


class Events(Protocol):
    """What an executor reports to the driver."""

    def result(self, scene: int, result: dict[str, Any]) -> None:
        """A task's result (see :func:`render.executors.task.render_scene`)."""

    def lost(self, scene: int, why: str, attempts: int) -> None:
        """The scene's result was lost (its worker died); ``attempts`` it used up
        (0: it had not started; the driver queues it again or gives up)."""

    def worker(self, info: dict[str, Any]) -> None:
        """A worker started (``pid``, the renderer's init info, its device)."""

    def log(self, message: str) -> None:
        """A line for the user."""


class Executor(Protocol):
    """A way to run scenes (see the module docstring)."""

    name: str
    workers: int

    def run(
        self, plan: Plan, spec_json: Callable[[int], str], cfg_json: str, events: Events
    ) -> None: ...


class ExecutorError(Exception):
    """The executor cannot go on (e.g. every worker dies before rendering a scene);
    the message says why, in words for the user."""
