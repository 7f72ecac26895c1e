"""Checkpoints of ``synthcv train``: one ``torch.save`` dict of plain values and
tensors, read back with ``torch.load(weights_only=True)`` (no code runs on load).

Keys: ``format`` ("synthcv-detector"), ``version``, ``recipe`` (the resolved recipe
as a dict), ``categories`` (COCO category dicts in label order: label ``k`` is
``categories[k - 1]``), ``model`` (state dict), ``optimizer``, ``scaler`` (None in
a final, weights-only checkpoint), ``step`` (optimizer steps done), ``epoch``
(the epoch in progress, 0-based) and ``epoch_step`` (its batches done), ``rng``
(torch's generator states), ``versions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from render.atomic import atomic_file
from render.errors import UserError

FORMAT = "synthcv-detector"
VERSION = 1


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically (a temporary file in the same folder, then a rename), so a
    kill while saving leaves the previous checkpoint."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, f)


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU; a missing file or another kind of file is a
    one-line :class:`UserError`."""
    import torch

    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not one
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: not a readable checkpoint ({first[:200]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path}: not a synthcv train checkpoint")
    if data.get("version") != VERSION:
        raise UserError(f"{path}: checkpoint version {data.get('version')}, expected {VERSION}")
    return data


def load_matching(model: Any, state: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Copy into ``model`` every tensor of ``state`` whose name and shape match
    (fine-tuning onto another class list or architecture: the class-specific heads
    differ and keep their fresh initialisation). Returns (loaded, skipped) names of
    the model's parameters and buffers."""
    own = model.state_dict()
    keep = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    model.load_state_dict(keep, strict=False)
    return sorted(keep), sorted(k for k in own if k not in keep)


def summarize_names(names: list[str], depth: int = 3) -> str:
    """``roi_heads.box_predictor.cls_score.weight, ...`` -> their distinct prefixes
    (``roi_heads.box_predictor.cls_score``), for a one-line message."""
    prefixes = sorted({".".join(n.split(".")[:depth]) for n in names})
    return ", ".join(prefixes) if prefixes else "nothing"
