"""``synthcv doctor``, ``cache`` and ``schema``: the machine and the config."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands to ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "doctor",
        help="check this machine: Blender, Cycles devices, OpenEXR, disk, extras",
        description="One screen on whether this machine can render: Python, bpy and "
        "BlenderProc versions, the Cycles devices found and which one --device auto "
        "picks, OpenEXR support in OpenCV, memory, free disk at --out, the body model "
        "cache and optional extras (torch, ray). Each problem comes with its fix. "
        "Exit 1 if something stops rendering.",
    )
    p.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR",
        help="where you will render (free disk is checked there; default: here)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the findings as JSON")

    p = sub.add_parser(
        "cache",
        help="show or build per-machine model caches",
        description="Per-machine caches live outside the repository in $SYNTHCV_CACHE_DIR "
        "(default ~/.cache/synthcv). 'status' shows them; 'build' builds the anny body "
        "model the pedestrians family needs (once, 1-6 minutes; a render builds it too).",
    )
    p.add_argument("action", nargs="?", choices=("status", "build"), default="status")
    p.add_argument(
        "--rebuild", action="store_true", help="build: remove the cache and build it again"
    )

    p = sub.add_parser(
        "schema",
        help="print the config's JSON schema (or its Markdown reference)",
        description="Print the JSON schema of render configs (every key, type, default), "
        "or with --markdown the reference in docs/config.md.",
    )
    p.add_argument("--markdown", action="store_true", help="the Markdown reference instead")


def _cmd_doctor(args: argparse.Namespace) -> int:
    from render.doctor import format_findings, run_checks, to_json

    findings = run_checks(args.out)
    print(to_json(findings) if args.json else format_findings(findings))
    return 1 if any(f.status == "fail" for f in findings) else 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from render.families.pedestrians import body

    if args.action == "build":
        folder = body.build_cache(
            lambda m: print(f"synthcv: {m}", file=sys.stderr), rebuild=args.rebuild
        )
        print(f"anny body model: ready in {folder}")
        return 0
    folder = body.cache_dir()
    state = "ready" if body.cache_ready(folder) else "missing (run: synthcv cache build)"
    print(f"anny body model ({body.TOPOLOGY}): {state}: {folder}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from render.config import config_schema

    if args.markdown:
        from render.config_docs import config_markdown

        sys.stdout.write(config_markdown(config_schema()))
        return 0
    print(json.dumps(config_schema(), indent=2))
    return 0


COMMANDS = {
    "doctor": _cmd_doctor,
    "cache": _cmd_cache,
    "schema": _cmd_schema,
}
