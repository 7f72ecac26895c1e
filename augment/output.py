"""Where ``synthcv augment`` writes: a staging folder next to ``--out``, renamed
into place when complete, so ``--out`` only ever holds nothing, the previous
complete output, or the new complete output.

``.<out>.synthcv-partial/`` holds the images as they are written, a marker file
naming the run (:data:`MARKER`: a fingerprint of everything that decides the
output bytes) and a journal (:data:`JOURNAL`: one JSON line per finished source
image, appended after its files are written). A killed run leaves that folder;
``--resume`` checks the fingerprint, keeps the journaled images and redoes the
rest (each image's output depends only on its own seed), ``--overwrite`` deletes
it. At the end the marker and journal are removed and the folder is renamed to
``--out`` (swapped atomically with an old one under ``--overwrite``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from render.formats import UserError
from render.outputs import check_apart, claim, files_under, write_marker

SUFFIX = ".synthcv-partial"
MARKER = ".synthcv-augment.json"
JOURNAL = ".synthcv-journal.jsonl"
Result = tuple[list[dict[str, Any]], list[dict[str, Any]], int]
"""One source image's ``(image entries, annotations, dropped count)``."""


def staging_path(out: Path) -> Path:
    """The staging folder of ``out``: a hidden sibling, on the same file system."""
    return out.parent / f".{out.name}{SUFFIX}"


def fingerprint_of(fields: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``fields``."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _marker(staging: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((staging / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("fields"), dict) else None


def _ours(staging: Path) -> bool:
    """A folder at the staging path that an augment run left: its marker, or (killed
    between swap and cleanup) an old augment output."""
    if _marker(staging) is not None:
        return True
    try:
        meta = json.loads((staging / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("kind") == "augment"


def check_output(out: Path, source: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse an ``--out`` this run may not use, before anything is read or written
    (the rule of :mod:`render.outputs`; the caller holds the lock of ``out``)."""
    check_apart(out, [(str(source), source)])
    dst = out.resolve()
    if dst.exists() and not dst.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    staging = staging_path(dst)
    if staging.exists() and not resume:
        if not overwrite:
            raise UserError(
                f"--out {out}: an interrupted augment run left {staging}; pass --resume to"
                " continue it or --overwrite to start again"
            )
        if not _ours(staging):
            raise UserError(f"{staging}: not left by synthcv augment; refusing to delete it")
    if not resume:
        claim(out, "augment", overwrite=overwrite)


def completed(out: Path, fingerprint: str) -> dict[str, Any] | None:
    """``out``'s dataset.json if it is this very run, already complete (for --resume)."""
    try:
        meta = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(meta, dict) and meta.get("fingerprint") == fingerprint:
        return meta
    return None


@dataclass
class Staging:
    """An open staging folder; ``replace`` if it may replace a complete ``out``."""

    path: Path
    out: Path
    replace: bool

    def journal(self) -> Path:
        return self.path / JOURNAL

    def discard(self) -> None:
        """Remove the staging folder (a run that failed on its input)."""
        shutil.rmtree(self.path, ignore_errors=True)


def open_staging(
    out: Path, fields: dict[str, Any], *, overwrite: bool, resume: bool
) -> tuple[Staging, bool]:
    """Create (or, with ``resume``, reopen) the staging folder of ``out`` for the run
    described by ``fields``; returns it and whether it was resumed."""
    out = out.resolve()
    staging = staging_path(out)
    try:
        if staging.exists():
            marker = _marker(staging)
            if resume and marker is not None:
                _same_run(staging, marker["fields"], fields)
                return Staging(staging, out, bool(marker.get("overwrite")) or overwrite), True
            if not _ours(staging):
                raise UserError(f"{staging}: not left by synthcv augment; refusing to delete it")
            shutil.rmtree(staging)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        doc = {"fields": fields, "overwrite": overwrite}
        (staging / MARKER).write_text(json.dumps(doc, default=str), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create {staging}: {exc.strerror or exc}") from None
    return Staging(staging, out, overwrite), False


def _same_run(staging: Path, before: dict[str, Any], now: dict[str, Any]) -> None:
    for key in sorted(set(before) | set(now)):
        if json.dumps(before.get(key), default=str) != json.dumps(now.get(key), default=str):
            raise UserError(
                f"--resume: the run left in {staging} used another {key}; run it with the same"
                " arguments, or use --overwrite to start again"
            )


def read_journal(staging: Staging) -> dict[int, Result]:
    """The results journaled by an earlier run: source index -> result. A torn last
    line (the run was killed while appending it) is cut off."""
    path = staging.journal()
    if not path.exists():
        return {}
    data = path.read_bytes()
    done: dict[int, Result] = {}
    good = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            index, images, anns, dropped = json.loads(line)
        except (ValueError, TypeError):
            break
        if all((staging.path / img["file_name"]).is_file() for img in images):
            done[int(index)] = (images, anns, int(dropped))
        good += len(line)
    if good != len(data):
        with open(path, "r+b") as f:
            f.truncate(good)
    return done


def append_journal(handle: Any, index: int, result: Result) -> None:
    """Record that source image ``index`` is complete (its files are written)."""
    images, anns, dropped = result
    line = json.dumps([index, images, anns, dropped], separators=(",", ":"), allow_nan=False)
    handle.write(line.encode("utf-8") + b"\n")
    handle.flush()


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    res = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return res == 0


def commit(staging: Staging) -> None:
    """Put the finished staging folder in place of ``staging.out``."""
    for name in (MARKER, JOURNAL):
        (staging.path / name).unlink(missing_ok=True)
    out = staging.out
    try:
        write_marker(staging.path, "augment", files_under(staging.path))
        if out.exists() and (staging.replace or not any(out.iterdir())):
            if _exchange(staging.path, out):
                shutil.rmtree(staging.path)  # the old output, now at the staging path
                return
            old = out.parent / f".{out.name}.synthcv-old"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
            os.rename(staging.path, out)
            shutil.rmtree(old)
            return
        if out.exists():
            raise UserError(
                f"--out {out}: was filled by someone else meanwhile; output kept in {staging.path}"
            )
        os.rename(staging.path, out)
    except OSError as exc:
        raise UserError(
            f"--out {out}: cannot move {staging.path} into place: {exc.strerror}"
        ) from None
