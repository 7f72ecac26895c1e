"""``synthcv`` command line.

    synthcv render | preview | replay        render_cmds.py (the commands that run Blender)
    synthcv merge                            scale.py (render's scale-out flags; shard merge)
    synthcv validate | report | augment | export   data_cmds.py (commands on datasets)
    synthcv train | evaluate                 train_cmds.py (torchvision detectors; torch lazily)
    synthcv doctor | cache | schema          tool_cmds.py (the machine and the config)

Each module adds its subparsers (``add_parsers``) and maps names to functions
(``COMMANDS``); this module builds the parser, runs a command and turns errors
into one line. Every user error (bad config, argument, dataset) is printed as
``synthcv: error: <message>`` on stderr with exit code 2 and no traceback; a
mistyped command or flag gets a "did you mean". Ctrl-C during ``render`` exits
130 after keeping the committed scenes; a closed stdout pipe exits 141 quietly.

For tests: the hidden option ``--renderer MODULE`` of ``render``, ``preview`` and
``replay`` names the renderer module the workers use instead of
``render.blender.worker`` (passed to every task as an argument).
"""

from __future__ import annotations

import argparse
import difflib
import os
import platform
import sys
from collections.abc import Callable
from typing import NoReturn

from render import __version__
from render.cli import data_cmds, render_cmds, scale, tool_cmds, train_cmds
from render.errors import UserError

MODULES = (render_cmds, scale, data_cmds, train_cmds, tool_cmds)
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    name: fn for m in MODULES for name, fn in m.COMMANDS.items()
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line through UserError (exit 2), with a
    "did you mean" for a mistyped command or flag."""

    def error(self, message: str) -> NoReturn:
        prefix = self.prog.removeprefix("synthcv").strip()
        if "invalid choice" in message and message.startswith("argument COMMAND"):
            message += _did_you_mean(message.split("'")[1], list(COMMANDS))
        raise UserError(f"{prefix}: {message}" if prefix else message)


def _did_you_mean(word: str, candidates: list[str]) -> str:
    """`` (did you mean --num-scenes?)`` for the closest candidate, or ``""``."""
    key = word.split("=", 1)[0]
    norm = {c.replace("_", "-"): c for c in candidates}
    hits = difflib.get_close_matches(key.replace("_", "-"), list(norm), n=1, cutoff=0.6)
    return f" (did you mean {norm[hits[0]]}?)" if hits else ""


def _flags(parser: argparse.ArgumentParser, command: str) -> list[str]:
    """Every option string of ``command``'s parser."""
    sub = next(
        a
        for a in parser._actions
        if isinstance(a, argparse._SubParsersAction)  # noqa: SLF001
    ).choices[command]
    return [f for a in sub._actions for f in a.option_strings]  # noqa: SLF001


def _mistyped_flag(parser: argparse.ArgumentParser, argv: list[str]) -> str:
    """For "the following arguments are required": the first flag of ``argv`` the
    command does not know, with a "did you mean" (``--fromat`` -> ``--format``)."""
    command = next((a for a in argv if a in COMMANDS), None)
    if command is None:
        return ""
    known = _flags(parser, command)
    for token in argv:
        flag = token.split("=", 1)[0]
        if flag.startswith("-") and flag not in known and flag != "-":
            return f"; unrecognized {flag}{_did_you_mean(flag, known)}"
    return ""


def _unknown_arguments(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> str:
    """The one-line error for arguments ``command``'s parser does not know."""
    flags = _flags(parser, command)
    first = next((e for e in extra if e.startswith("-")), extra[0])
    hint = _did_you_mean(first, flags) if first.startswith("-") else ""
    return f"{command}: unrecognized arguments: {' '.join(extra)}{hint}"


def _version_text() -> str:
    from render.versions import distribution_version

    parts = [
        f"bpy {distribution_version('bpy')}",
        f"blenderproc {distribution_version('blenderproc')}",
    ]
    return f"synthcv {__version__} ({', '.join(parts)}, python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="synthcv",
        description="Synthetic computer-vision datasets: render procedural scenes with "
        "Blender/Cycles, write pixel-perfect COCO annotations, augment them.",
        epilog="'synthcv COMMAND --help' describes a command; docs/cli.md all of them.",
    )
    parser.add_argument("--version", action="version", version=_version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``synthcv`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = build_parser()
        if not argv:
            parser.print_help(sys.stderr)
            print("\nsynthcv: give a COMMAND; 'synthcv COMMAND --help' describes one "
                  "(start with: make demo, or synthcv preview configs/demo.yaml)", file=sys.stderr)  # fmt: skip
            return 2
        try:
            args, extra = parser.parse_known_args(argv)
        except UserError as exc:
            if "the following arguments are required" not in str(exc):
                raise
            raise UserError(f"{exc}{_mistyped_flag(parser, argv)}") from None
        if args.command is None:
            raise UserError("give a COMMAND first; see synthcv --help")
        if extra:
            raise UserError(_unknown_arguments(parser, args.command, extra))
        args.argv = argv
        return COMMANDS[args.command](args)
    except UserError as exc:
        message = " ".join(str(exc).split())  # always exactly one line
        if type(exc).__name__ == "Interrupted" and type(exc).__module__ == "render.driver":
            print(f"synthcv: {message}", file=sys.stderr)
            return 130
        print(f"synthcv: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synthcv: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (synthcv schema | head): quiet, as a C tool killed by SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        if exc.errno is None:
            raise
        # the file system said no (a name too long, no permission, no space, ...):
        # one line naming the file, as for any other bad input
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        where = where if len(where) <= 160 else f"{where[:80]}...{where[-60:]}"
        print(f"synthcv: error: {where + ': ' if where else ''}{exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 2
