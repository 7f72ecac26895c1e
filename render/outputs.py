"""Where synthcv writes: one rule for every command that writes a file or a folder
(render, replay, preview, merge, augment, export, train, evaluate, report).

The rule (docs/cli.md, "Outputs: what synthcv replaces, and the lock"):

1. **Ownership.** A command writes into a folder only if it is new, empty, or an
   output of the same kind of command. Each output folder holds a marker,
   :data:`MARKER` (``.synthcv.json``), naming the kind, the command line and, for
   folders replaced as a whole (augment, export), every file written.
   ``--overwrite`` (and ``--resume``) accept only a folder of the same kind, and
   remove only what that kind writes (:data:`KINDS`: fixed name patterns, or the
   marker's file list); anything else there stays, or the command refuses with one
   line before it reads or writes anything.
2. **Apart from the inputs.** An output is never, contains, or lies inside one of
   the command's input datasets (:func:`check_apart`).
3. **One writer at a time.** :class:`OutputLock` holds an advisory lock on the
   output path (``.<name>.synthcv-lock`` beside it) for the whole run; a second
   writer is refused with one line naming the holder's pid and command. The
   kernel releases the lock of a process that dies, however it dies; the file it
   leaves is taken over (with a note) by the next run.
4. **Atomic, readable files.** :mod:`render.atomic` writes every file: a
   temporary file renamed over the target, with the permissions the umask gives
   (0644 under 022), as ``open()`` would.

Outputs written before markers existed are recognised by what they hold (a
render's ``dataset.json``, an augment's ``dataset.json`` of kind ``augment``, an
export's ``.synthcv-export``, a training run's ``train.json``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shlex
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from render.atomic import TMP_SUFFIX, atomic_write_json, file_mode
from render.errors import UserError

MARKER = ".synthcv.json"
LOCK_NAME = ".synthcv.lock"
LOCK_SUFFIX = ".synthcv-lock"
DOCS = "docs/cli.md#outputs"
"""Where the rule is written down; every writing command's --help points here."""
HELP = f"synthcv replaces only what it wrote and locks its output while it runs: {DOCS}"


# --------------------------------------------------------------------------- kinds


def _render_legacy(folder: Path) -> bool:
    meta = _json_object(folder / "dataset.json")
    return bool(meta) and isinstance(meta.get("config"), dict) and "versions" in meta


def _augment_legacy(folder: Path) -> bool:
    return _json_object(folder / "dataset.json").get("kind") == "augment"


def _export_legacy(folder: Path) -> bool:
    return (folder / ".synthcv-export").is_file()


def _train_legacy(folder: Path) -> bool:
    # a finished run wrote train.json; one killed mid-way has its checkpoint (a zip)
    try:
        with open(folder / "checkpoints" / "last.pt", "rb") as f:
            checkpoint = f.read(2) == b"PK"
    except OSError:
        checkpoint = False
    return checkpoint or bool(_json_object(folder / "train.json"))


@dataclass(frozen=True)
class Kind:
    """What one kind of command writes in its output folder.

    ``owned``: regular expressions of the relative paths it writes (``--overwrite``
    removes those only). ``whole``: the folder is built elsewhere and replaced as a
    whole at the end (augment, export): the marker then lists every file, and a
    folder holding any other file is refused. ``legacy``: recognises an output of
    this kind written before markers existed. ``busy``, ``foreign``: the refusals
    (``{out}``: the folder; ``{why}``: what it holds) for a non-empty folder without
    ``--overwrite``, and for a folder this kind did not write.
    """

    name: str
    owned: tuple[str, ...] = ()
    whole: bool = False
    legacy: Callable[[Path], bool] | None = None
    busy: str = "--out {out}: already exists; use --overwrite to replace an earlier output"
    foreign: str = "--out {out}: not replacing it: {why}"
    legacy_owned: tuple[str, ...] = ()
    """Kinds replaced as a whole: what an output written before markers (no file
    list) may hold; any other file there is someone else's."""

    def owns(self, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        if name == MARKER or (name.startswith(".") and name.endswith(TMP_SUFFIX)):
            return True
        return any(re.fullmatch(p, rel) for p in self.owned)


_SCENE = r"\d{6,}"
KINDS: dict[str, Kind] = {
    "render": Kind(
        "render",
        owned=(
            r"annotations\.json",
            r"dataset\.json",
            r"failures\.jsonl",
            rf"images/{_SCENE}_\d{{3}}\.(png|jpg)",
            rf"depth/{_SCENE}_\d{{3}}\.(png|npz)",
            rf"flow/{_SCENE}_\d{{3}}\.flo",
            rf"scenes/{_SCENE}\.json",
            rf"shards/{_SCENE}\.json",
            r"logs/worker-\d+\.log",
        ),
        legacy=_render_legacy,
        busy="{out}: output directory is not empty; use --resume to continue or --overwrite "
        "to replace it",
        foreign="{out}: not replacing it: {why}",
    ),
    "train": Kind(
        "train",
        owned=(
            r"recipe\.yaml",
            r"metrics\.jsonl",
            r"train\.json",
            r"model\.pt",
            r"\.model\.pt\.partial",
            r"checkpoints/(last|step_\d+)\.pt",
            r"checkpoints/\.(last|step_\d+)\.pt\.partial",
        ),
        legacy=_train_legacy,
        busy="--out {out}: not empty; use --resume to continue or --overwrite",
        foreign="--out {out}: holds no training run ({why}); not touching it",
    ),
    "evaluate": Kind(
        "evaluate",
        owned=(r"detections\.json", r"metrics\.json", r"frame_detections\.json"),
        foreign="--out {out}: holds no evaluate output ({why}); not writing into it",
    ),
    "augment": Kind(
        "augment",
        whole=True,
        legacy=_augment_legacy,
        busy="--out {out}: directory is not empty (pass --overwrite to replace it)",
        foreign="--out {out}: not an augment output ({why}); refusing to delete it",
        legacy_owned=(
            r"annotations\.json",
            r"dataset\.json",
            r"images/.+\.(png|jpg|jpeg|bmp|tif|tiff|webp)",
            r"depth/.+\.(png|npz)",
        ),
    ),
    "export": Kind(
        "export",
        whole=True,
        legacy=_export_legacy,
        busy="{out}: already exists; use --overwrite to replace an earlier export",
        foreign="{out}: not a folder synthcv export wrote ({why}); not replacing it",
        legacy_owned=(
            r"data\.yaml",
            r"\.synthcv-export",
            r"(images|labels)/(train|val|test)/[^/]+\.(png|jpg|jpeg|txt)",
            r"[^/]+/(train|test)/[^/]+/[^/]+\.png",
            r"[^/]+/ground_truth/[^/]+/[^/]+_mask\.png",
        ),
    ),
}
"""Every kind of output folder, by command (replay and preview --keep write renders)."""


def _json_object(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = f.read(64 << 20)
        doc = json.loads(data)
    except (OSError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def read_marker(folder: Path) -> dict[str, Any] | None:
    """``folder``'s marker (a dict with ``kind``), or None if it has none or it is
    not one of ours."""
    doc = _json_object(Path(folder) / MARKER)
    return doc if doc.get("synthcv") == "output" and doc.get("kind") in KINDS else None


def kind_of(folder: Path) -> str | None:
    """The kind of synthcv output ``folder`` holds (marker, or a legacy output), or None."""
    marker = read_marker(folder)
    if marker is not None:
        return str(marker["kind"])
    for kind in KINDS.values():
        if kind.legacy is not None and kind.legacy(Path(folder)):
            return kind.name
    return None


def command_line() -> str:
    """This process's command line as the user typed it (``synthcv ...``)."""
    args = sys.argv[1:] if sys.argv and sys.argv[0].endswith(("synthcv", "__main__.py")) else []
    return shlex.join(["synthcv", *args]) if args else shlex.join(sys.argv or ["python"])


def write_marker(folder: Path, kind: str, files: Iterable[str] | None = None) -> None:
    """Write ``folder``'s marker: the kind (the command that wrote it), the synthcv
    version and (``files``, for kinds replaced as a whole) every relative path
    written. Nothing that changes from run to run (a resumed run's output is byte
    for byte an uninterrupted one's; dates and command lines are in dataset.json)."""
    from render.versions import package_versions

    doc: dict[str, Any] = {
        "synthcv": "output",
        "kind": kind,
        "version": package_versions()["synthcv"],
    }
    if files is not None:
        doc["files"] = sorted(files)
    atomic_write_json(Path(folder) / MARKER, doc, indent=1)


def files_under(folder: Path) -> list[str]:
    """Every file under ``folder`` (not directories; not the lock), relative POSIX
    paths, sorted."""
    out = []
    for dirpath, _dirs, names in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        for name in names:
            if rel == "." and name == LOCK_NAME:
                continue
            out.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return sorted(out)


def is_empty(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but (perhaps) its lock."""
    return not any(p.name != LOCK_NAME for p in Path(folder).iterdir())


# --------------------------------------------------------------------------- the checks


def check_apart(out: Path, inputs: Iterable[tuple[str, Path]]) -> None:
    """Refuse an output that is, contains or lies inside one of ``inputs`` (pairs
    of how the user named the input, its path)."""
    dst = Path(out).resolve()
    for name, path in inputs:
        src = Path(path).resolve()
        if dst == src or src.is_relative_to(dst) or dst.is_relative_to(src):
            raise UserError(f"--out {out}: must not be, contain or lie inside the input {name}")


def _foreign(folder: Path, kind: Kind, marker: dict[str, Any] | None) -> list[str]:
    """Files in ``folder`` that ``kind`` did not write there."""
    files = files_under(folder)
    if kind.whole:
        if marker is None or not isinstance(marker.get("files"), list):  # a legacy output
            return [f for f in files if not any(re.fullmatch(p, f) for p in kind.legacy_owned)]
        listed = {str(f) for f in marker["files"]}
        return [f for f in files if f not in listed and not kind.owns(f)]
    return [f for f in files if not kind.owns(f)]


def _describe(folder: Path) -> str:
    other = kind_of(folder)
    if other is not None:
        return f"it holds a synthcv {other} output"
    return f"it holds no {MARKER}: synthcv did not write it"


def claim(
    out: Path,
    kind: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
    inputs: Iterable[tuple[str, Path]] = (),
    write_over: bool = False,
) -> bool:
    """May this ``kind`` of command write ``out``? Raises a one-line UserError if
    not, before anything is written.

    ``out`` may be new or empty; a folder holding an output of the same kind is
    accepted with ``resume`` (kept), ``write_over`` (kept; the command replaces its
    files one by one, as ``synthcv evaluate`` does) or ``overwrite`` (what that kind
    wrote is removed now, for pattern kinds; kinds replaced as a whole are only
    checked for files they did not write: they swap the folder at the end).
    Returns True if ``out`` holds an output of this kind that is kept."""
    spec = KINDS[kind]
    check_apart(out, inputs)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    if not out.is_dir() or is_empty(out):
        return False
    if not (overwrite or resume or write_over):
        raise UserError(spec.busy.format(out=out))
    if kind_of(out) != kind:
        raise UserError(f"{spec.foreign.format(out=out, why=_describe(out))} ({DOCS})")
    if resume or write_over:
        return True
    foreign = _foreign(out, spec, read_marker(out))
    if spec.whole and foreign:
        raise UserError(
            f"--overwrite: not replacing {out}: it holds {foreign[0]!r}"
            + (f" and {len(foreign) - 1} more file(s)" if len(foreign) > 1 else "")
            + f" that synthcv {kind} did not write; move them out first ({DOCS})"
        )
    if not spec.whole:
        remove_owned(out, spec)
    return False


def remove_owned(folder: Path, kind: Kind) -> None:
    """Remove every file in ``folder`` that ``kind`` writes, then the folders this
    left empty (never ``folder`` itself); other files stay where they are."""
    for rel in files_under(folder):
        if kind.owns(rel):
            (folder / rel).unlink(missing_ok=True)
    for dirpath, dirs, names in os.walk(folder, topdown=False):
        here = Path(dirpath)
        if here != folder and not dirs and not names:
            with contextlib.suppress(OSError):
                here.rmdir()


# --------------------------------------------------------------------------- the lock


def lock_path(out: Path, inside: bool) -> Path:
    """Where the lock of output ``out`` lives: ``out/.synthcv.lock`` for a folder
    written in place (``inside``), else ``.<name>.synthcv-lock`` beside ``out`` (a
    file, or a folder built beside it and swapped in)."""
    real = Path(out).resolve()
    return real / LOCK_NAME if inside else real.parent / f".{real.name}{LOCK_SUFFIX}"


class OutputLock:
    """An advisory lock on output ``out`` for as long as the ``with`` block runs.

    Refused (one-line :class:`UserError`) while another process holds it; released
    when the block ends, however it ends, and by the kernel when the process dies.
    A lock file left by a process that died is taken over; :attr:`stale` then says
    whose it was (a line for the run's log)."""

    def __init__(self, out: Path, *, inside: bool = True) -> None:
        self.out = Path(out)
        self.path = lock_path(self.out, inside)
        self.stale: str | None = None
        self.fd: int | None = None
        self.made: Path | None = None  # the folder this lock created, removed if left empty

    def __enter__(self) -> OutputLock:
        if self.path.parent == self.out.resolve() and self.out.exists() and not self.out.is_dir():
            raise UserError(f"--out {self.out}: exists and is not a directory")
        try:
            if not self.path.parent.is_dir():
                self.path.parent.mkdir(parents=True)
                self.made = self.path.parent
            self._acquire()
        except OSError as exc:
            raise UserError(
                f"--out {self.out}: cannot write the output (cannot create its lock "
                f"{self.path.name}): "
                f"{exc.strerror or exc}"
            ) from None
        return self

    def _acquire(self) -> None:
        for _ in range(20):  # the holder may remove the file between our open and lock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, file_mode())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise UserError(
                    f"--out {self.out}: in use by another synthcv run ({holder}); wait for it "
                    f"to finish or stop it ({DOCS})"
                ) from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            left = _read_lock(fd)
            if left.get("pid") and left.get("pid") != os.getpid():
                self.stale = (
                    f"took over the lock of {self.out} left by a run that stopped without "
                    f"cleaning up (pid {left.get('pid')}: {left.get('command', '?')})"
                )
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": command_line(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            self.fd = fd
            return
        raise OSError(errno.EAGAIN, "the lock file keeps changing")

    def __exit__(self, *exc: object) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still holding it: a waiter then sees a new file
        os.close(self.fd)
        self.fd = None
        if self.made is not None:
            with contextlib.suppress(OSError):
                self.made.rmdir()  # only if nothing was written into it


def _read_lock(fd: int) -> dict[str, Any]:
    try:
        doc = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _holder(fd: int) -> str:
    info = _read_lock(fd)
    if not info.get("pid"):
        return "holder unknown"
    where = "" if info.get("host") in (None, socket.gethostname()) else f" on {info['host']}"
    command = str(info.get("command", "?"))
    command = command if len(command) <= 160 else command[:157] + "..."
    return f"pid {info['pid']}{where}: {command}, since {info.get('since', '?')}"
