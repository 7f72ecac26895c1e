"""Installed package versions, recorded in every ``dataset.json`` (no imports of
the packages themselves: bpy takes seconds to import and may not be installed)."""

from __future__ import annotations

import platform
from importlib import metadata

# key in dataset.json -> distribution names to try, first found wins
PACKAGES: dict[str, tuple[str, ...]] = {
    "synthcv": ("synthcv",),
    "bpy": ("bpy",),
    "blenderproc": ("blenderproc",),
    "numpy": ("numpy",),
    "pycocotools": ("pycocotools",),
    "opencv": (
        "opencv-python-headless",
        "opencv-python",
        "opencv-contrib-python-headless",
        "opencv-contrib-python",
    ),
    "albumentations": ("albumentations",),
    "pydantic": ("pydantic",),
}


def distribution_version(*names: str) -> str | None:
    """Version of the first installed distribution among ``names``, else None."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def package_versions() -> dict[str, str | None]:
    """``{"python": "3.11.7", "platform": ..., "synthcv": "0.1.0", "bpy": ..., ...}``;
    None for a package that is not installed."""
    out: dict[str, str | None] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for key, names in PACKAGES.items():
        out[key] = distribution_version(*names)
    return out
