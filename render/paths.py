"""Where synthcv finds its own files and keeps its per-machine caches."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (assets/, configs/ live here)."""


def cache_root() -> Path:
    """Per-machine cache folder, outside the repository: ``$SYNTHCV_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/synthcv``, else ``~/.cache/synthcv``. Not created here."""
    explicit = os.environ.get("SYNTHCV_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "synthcv"
