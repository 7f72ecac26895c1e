"""Test tiers: pure tests (no marker), `blender` (tiny real renders, run in make test),
`gpu` (skipped unless a CUDA/OptiX GPU is visible)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

# Idle OpenMP threads sleep instead of spinning (before any test imports torch), as
# synthcv train sets it: spinning threads on a shared 2-core machine slow torch
# down many times over.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _gpu_visible() -> bool:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def pytest_collection_modifyitems(config, items):
    if _gpu_visible():
        return
    skip = pytest.mark.skip(reason="no CUDA/OptiX GPU visible (nvidia-smi -L)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
