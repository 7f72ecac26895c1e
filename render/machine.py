"""Limits that follow the machine: CPUs and memory this process may use, worker
counts capped to them, and a refusal with an estimate, before any work starts,
when a job would not fit in memory."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from render.errors import UserError


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask; at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            return int(text)
    return None


def available_memory() -> int | None:
    """Bytes of memory new processes can use now, together: ``MemAvailable``
    (Linux), capped by the cgroup's limit; None where it cannot be read."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        return None
    limit = _cgroup_limit()
    if avail is not None and limit is not None:
        avail = min(avail, limit)
    return avail


def process_memory_cap() -> int | None:
    """The most memory one process (and each child it starts) may map: the smaller
    of ``RLIMIT_AS`` and ``RLIMIT_DATA``; None when unlimited."""
    import resource

    caps = []
    for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
        soft, _hard = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY:
            caps.append(int(soft))
    return min(caps) if caps else None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_memory(need: float, what: str, fix: str, *, per_process: float | None = None) -> None:
    """Refuse (one-line UserError, before any work) when the job would not fit:
    ``need`` bytes in all against the memory available now, and the largest single
    process (``per_process``, default ``need``) against a per-process limit
    (ulimit). ``what`` says what needs it, ``fix`` how to make it smaller."""
    avail = available_memory()
    if avail is not None and need > avail:
        raise UserError(
            f"{what} needs about {gib(need)} of memory; this machine has {gib(avail)} "
            f"available; {fix}"
        )
    cap = process_memory_cap()
    biggest = need if per_process is None else per_process
    if cap is not None and biggest > cap:
        raise UserError(
            f"{what} needs about {gib(biggest)} in one process; this process may use "
            f"{gib(cap)} (ulimit -v / -d); {fix}"
        )


def cap_workers(
    requested: int, work: int | None, flag: str, note: Callable[[str], None] | None = None
) -> int:
    """``requested`` workers, capped at ``work`` (the items to do) and at the CPUs
    of this machine, with a note saying so."""
    say = note or (lambda m: print(f"synthcv: note: {m}", file=sys.stderr))
    n = requested
    if work is not None and n > max(1, work):
        say(f"{flag} {requested}: only {max(1, work)} item(s) to do; using {max(1, work)}")
        n = max(1, work)
    cpus = cpu_count()
    if n > cpus:
        say(f"{flag} {n}: this machine has {cpus} CPU(s); using {cpus}")
        n = cpus
    return n


def nvidia_gpus() -> int:
    """NVIDIA GPUs the driver shows on this machine (``/proc/driver/nvidia/gpus``;
    0 without the driver). Cheap: no subprocess, no CUDA."""
    folder = Path("/proc/driver/nvidia/gpus")
    try:
        return sum(1 for _ in folder.iterdir())
    except OSError:
        return 0


def gpus_warning(gpus: list[str], found: int | None = None) -> str | None:
    """A warning when ``--gpus`` lists devices this machine does not have."""
    have = nvidia_gpus() if found is None else found
    if have == 0:
        return (
            f"--gpus {','.join(gpus)}: no NVIDIA GPU on this machine "
            "(/proc/driver/nvidia/gpus is empty or missing); the workers will render on the CPU"
        )
    absent = [g for g in gpus if int(g) >= have]
    if absent:
        return f"--gpus {','.join(gpus)}: this machine has {have} GPU(s) (0-{have - 1}); {','.join(absent)} do not exist"
    return None


def threads_from_env(environ: dict[str, str] | None = None) -> int | None:
    """``SYNTHCV_THREADS`` (Cycles threads per worker, as ``--threads``), checked: an
    integer >= 1, or unset/empty (None). Anything else is a one-line UserError."""
    env = os.environ if environ is None else environ
    text = env.get("SYNTHCV_THREADS", "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(
            f"SYNTHCV_THREADS={text[:40]!r}: expected an integer >= 1 (Cycles threads per "
            "worker); unset it or use --threads"
        )
    return value


BLENDER_WORKER_BYTES = 0.63e9
"""A Blender worker rendering a small generic scene (measured: 598 MiB peak RSS at 256x256)."""
PIXEL_BYTES = 130
"""Worker memory per pixel of one view: Cycles' buffers, the passes read back, our
arrays (measured: 598 MiB at 256x256, 1083 MiB at 2048x2048)."""


def check_render_memory(cfg: Any, workers: int, local: bool = True) -> None:
    """Refuse a render job that would not fit in memory, before any work starts:
    the driver samples scenes (the family's estimate) while ``workers`` Blender
    workers render (``local``: on this machine; else only each process is checked)."""
    w, h = cfg.scene.image_size(tuple(cfg.render.resolution))
    sample, extra = cfg.scene.memory_estimate()
    worker = BLENDER_WORKER_BYTES + PIXEL_BYTES * w * h + extra
    need = sample + (workers * worker if local else 0)
    what = f"rendering {cfg.scene.family} scenes at {w}x{h}" + (
        f" with {workers} worker(s)" if local else ""
    )
    check_memory(
        need,
        what,
        "lower render.resolution, the objects or people per scene, or --workers",
        per_process=max(sample, worker),
    )
