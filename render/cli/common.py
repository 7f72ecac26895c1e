"""What the subcommand modules share: argument types, reading our own JSON files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from render.errors import DatasetError, UserError

__all__ = [
    "DatasetError",
    "UserError",
    "non_negative_int",
    "positive_int",
    "read_json",
    "resolution",
]


def resolution(text: str) -> list[int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 512x384, got {text!r}")
    return [int(parts[0]), int(parts[1])]


def names(text: str) -> list[str]:
    """A comma-separated list of names, none empty."""
    got = [n.strip() for n in text.split(",")]
    if not all(got):
        raise argparse.ArgumentTypeError(f"expected NAME[,NAME...], got {text!r}")
    return got


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):  # NaN too
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def read_json(path: Path, what: str) -> Any:
    """A JSON file synthcv wrote (dataset.json, a scene, a shard), read as every
    input is (:func:`render.formats.inputs.read_json`: bounded, strict)."""
    from render.formats.inputs import Limits
    from render.formats.inputs import read_json as bounded

    return bounded(path, Limits().json_bytes, what)
