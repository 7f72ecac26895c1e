"""Atomic, readable files: the one way synthcv writes a file (:mod:`render.outputs`
says where it may).

:func:`atomic_file` writes a temporary file in the target's folder, flushes it to
disk and renames it over the target, so a reader sees the old file or the whole
new one, never a torn one; the file gets the permissions the umask gives (0644
under 022), as ``open()`` would (``mkstemp``'s 0600 would hide a dataset from
everyone else on a shared cluster folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TMP_SUFFIX = ".synthcv-tmp"
"""Suffix of the temporary files; a killed run may leave ``.<name>.*.synthcv-tmp``."""


# --------------------------------------------------------------------------- permissions


def _read_umask() -> int:
    try:  # Linux: no need to change the process umask to read it
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


UMASK = _read_umask()
"""The process umask, read once at import."""


def file_mode() -> int:
    """The mode ``open()`` gives a new file under the umask (0644 under 022)."""
    return 0o666 & ~UMASK


# --------------------------------------------------------------------------- atomic files


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; when the block ends
    without an exception it is flushed to disk, given :func:`file_mode` and renamed
    over ``path`` (a reader sees the old file or the whole new one). On an
    exception the temporary file is removed. ``mode``: ``"wb"`` or ``"w"`` (UTF-8)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600: nobody else could read outputs
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_file`)."""
    with atomic_file(path) as f:
        f.write(data)


def _json_default(value: Any) -> Any:
    # numpy scalars/arrays that slip into timings or poses (duck-typed: no numpy import)
    if type(value).__module__ == "numpy":
        if hasattr(value, "tolist"):
            return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def json_text(obj: Any, *, indent: int | None = None) -> str:
    """Strict JSON text (no NaN), compact unless ``indent``; numpy values as numbers."""
    separators = (",", ":") if indent is None else None
    return json.dumps(
        obj, indent=indent, separators=separators, allow_nan=False, default=_json_default
    )


def atomic_write_json(path: Path, obj: Any, *, indent: int | None = None) -> None:
    """Atomically write ``obj`` as UTF-8 JSON (compact unless ``indent``)."""
    atomic_write_bytes(path, json_text(obj, indent=indent).encode("utf-8"))


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically write ``text`` as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(path: Path) -> None:
    """Make the renames in ``path`` durable; not every platform can open a directory."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
