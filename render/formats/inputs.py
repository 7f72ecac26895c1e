"""Bounded reads of files we did not write: the one place that opens them, for
datasets, results files, job configs, ``--set`` values, training recipes, augment
pipelines and material presets alike.

Every read: the name is a relative path that stays inside its root once symlinks
are resolved; the file is opened without blocking (a named pipe cannot hang us)
and must be a regular file; its size is capped (:class:`Limits`); JSON must be
strict (no ``NaN``/``Infinity``, finite floats, nesting bounded); YAML
(:func:`read_yaml`, :func:`parse_yaml`) is read without tags, anchors or aliases
(a few lines of aliases expand into millions of nodes) and at most
:data:`MAX_DEPTH` levels deep. Problems raise :class:`InputError`, a one-line
:class:`~render.errors.DatasetError` naming the file (or the error class the
caller asks for, e.g. :class:`~render.errors.ConfigError`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from render.errors import DatasetError, UserError

MAX_DEPTH = 100
"""Deepest nesting of a YAML document (configs and pipelines need fewer than 10)."""
CONFIG_BYTES = 4 << 20
"""Largest config, recipe, pipeline or preset file (the shipped ones are < 20 kB)."""


@dataclass(frozen=True)
class Limits:
    """Caps on what one input may cost; ``--limit KEY=VALUE`` overrides them.

    ``json_mb``: an annotations file (parsing takes ~5x its size in memory);
    ``image_mb``: one image file; ``image_pixels``: width x height of one image
    (PIL's own decompression-bomb threshold); ``mask_cover``: the summed area of an
    image's masks over its pixel count (deeper overlap is not checked, an error);
    ``pipeline_kb``: a pipeline file.
    """

    json_mb: float = 1024.0
    image_mb: float = 256.0
    image_pixels: int = 89_478_485
    mask_cover: float = 64.0
    pipeline_kb: float = 1024.0

    @property
    def json_bytes(self) -> int:
        return int(self.json_mb * 2**20)

    @property
    def image_bytes(self) -> int:
        return int(self.image_mb * 2**20)

    def with_overrides(self, items: list[str]) -> Limits:
        """Apply ``["json_mb=4096", ...]``; a bad key or value is a one-line UserError."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for item in items:
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep or key not in fields:
                raise UserError(
                    f"--limit {item!r}: expected KEY=VALUE with KEY one of {', '.join(fields)}"
                )
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value <= 0:
                raise UserError(f"--limit {key}: expected a number > 0, got {text!r}")
            changes[key] = int(value) if fields[key].type in (int, "int") else value
        return dataclasses.replace(self, **changes)


def add_limit_argument(parser: argparse.ArgumentParser) -> None:
    """``--limit KEY=VALUE`` (repeatable), read by :meth:`Limits.with_overrides`."""
    defaults = ", ".join(
        f"{f.name} ({getattr(Limits(), f.name):g})" for f in dataclasses.fields(Limits)
    )
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"raise or lower a cap on the input: {defaults}; repeatable",
    )


class InputError(DatasetError):
    """An input file is missing, not a regular file, too large or malformed.
    ``path`` names it, ``detail`` says what is wrong (``str()`` joins them)."""

    def __init__(self, path: Path | str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path, self.detail = path, detail

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across worker processes
        return (type(self), (self.path, self.detail))


class JsonError(InputError):
    """The file was read but is not strict JSON."""


_KINDS = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words (``"a named pipe"``)."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def relative_name(name: Any, where: str) -> PurePosixPath:
    """``name`` as a relative POSIX path without ``..``; else an :class:`InputError`."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise InputError(where, f"expected a relative file name, got {name!r}")
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError(where, f"must be relative without '..', got {name!r}")
    return rel


def inside(root: Path, rel: PurePosixPath, where: str) -> Path:
    """``root / rel`` with symlinks resolved; an :class:`InputError` if that leaves
    ``root`` (a symlink pointing out of the dataset)."""
    return Resolver(root).resolve(str(rel), where)


class Resolver:
    """:func:`inside` for many names under one root: folders resolved once each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self._dirs: dict[str, str] = {"": self.real_root}

    def _check(self, real: str, rel: str, where: str) -> str:
        if real != self.real_root and not real.startswith(self.real_root.rstrip("/") + "/"):
            raise InputError(
                where, f"{rel} resolves to {real}, outside the dataset root {self.root}"
            )
        return real

    def resolve(self, rel: str, where: str) -> Path:
        """The real path of the relative name ``rel`` (from :func:`relative_name`)."""
        folder, _, name = rel.rpartition("/")
        real_dir = self._dirs.get(folder)
        if real_dir is None:
            real_dir = self._check(os.path.realpath(os.path.join(self.root, folder)), rel, where)
            self._dirs[folder] = real_dir
        path = os.path.join(real_dir, name)
        if name in ("", ".") or os.path.islink(path):
            path = self._check(os.path.realpath(path), rel, where)
        return Path(path)


def read_regular(path: Path, max_bytes: int, what: str, head: int | None = None) -> bytes:
    """All bytes of the regular file ``path`` (at most ``max_bytes``), or only its
    first ``head`` bytes.

    Opened with ``O_NONBLOCK`` and checked with ``fstat`` before reading, so a named
    pipe, device or directory is refused instead of blocking or streaming forever.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(path, f"{what} not found") from None
    except OSError as exc:
        raise InputError(path, f"cannot open {what}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(path, f"{what} is {file_kind(st.st_mode)}, not a regular file")
        if st.st_size > max_bytes:
            raise InputError(
                path, f"{what} is {st.st_size:,} bytes, more than the limit of {max_bytes:,} bytes"
            )
        if head is not None:
            return os.read(fd, head)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, max(st.st_size - total, 0) + 1)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise InputError(path, f"{what} grew past the limit of {max_bytes:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(path, f"cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number in strict JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def parse_json(data: bytes, path: Path | str, finite: bool = True) -> Any:
    """Strict JSON from ``data`` (UTF-8): a :class:`JsonError` naming ``path`` and the
    line for syntax errors, too deep nesting, huge integers, ``NaN``/``Infinity``
    and, if ``finite``, float literals that overflow (``1e999``; checking costs ~0.4
    us per float, so a reader that checks the floats it uses may skip it)."""
    hooks: dict[str, Any] = {"parse_constant": _no_constant}
    if finite:
        hooks["parse_float"] = _finite
    try:
        return json.loads(data, **hooks)
    except json.JSONDecodeError as exc:
        raise JsonError(path, f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise JsonError(
            path, f"invalid JSON: not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    except RecursionError:
        raise JsonError(path, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # _no_constant, _finite, int('9' * 5000)
        raise JsonError(path, f"invalid JSON: {exc}") from None


def read_json(path: Path, max_bytes: int, what: str, finite: bool = True) -> Any:
    """:func:`read_regular` then :func:`parse_json`."""
    return parse_json(read_regular(path, max_bytes, what), path, finite)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader (no tags that build objects) that refuses anchors and aliases and
    nesting deeper than :data:`MAX_DEPTH`."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if self.check_event(yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&, *) are not allowed", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_yaml(text: str, source: str, error: type[UserError] = DatasetError) -> Any:
    """The YAML (or JSON) document in ``text``; every problem is one line
    ``source: line L, column C: ...`` raised as ``error``."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader, bounded
    except RecursionError:
        raise error(f"{source}: YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{source}:{where} YAML syntax error: {problem}") from None


def read_yaml(
    path: Path,
    what: str,
    error: type[UserError] = DatasetError,
    max_bytes: int = CONFIG_BYTES,
) -> Any:
    """:func:`read_regular` then :func:`parse_yaml` (UTF-8); errors are ``error``."""
    try:
        data = read_regular(Path(path), max_bytes, what)
        text = data.decode("utf-8")
    except InputError as exc:
        raise error(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: cannot read {what}: not UTF-8 ({exc.reason})") from None
    return parse_yaml(text, str(path), error)
