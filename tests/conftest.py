"""Test tiers: pure tests (no marker), `blender` (tiny real renders, run in make test),
`gpu` (skipped unless a CUDA/OptiX GPU is visible)."""

from __future__ import annotations

import shutil
import subprocess

import pytest


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
