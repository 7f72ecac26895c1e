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
        "(default ~/.cache/synthcv). 'status' shows each scene family's one-time assets; "
        "'build' builds them (the pedestrians family's anny body model: once, 1-6 minutes; "
        "a render builds it too).",
    )
    p.add_argument("action", nargs="?", choices=("status", "build"), default="status")
    p.add_argument(
        "--rebuild", action="store_true", help="build: remove the caches and build them again"
    )
    p.add_argument("--family", metavar="NAME", help="only this scene family's assets")

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
    from render.errors import UserError
    from render.families import FAMILIES, assets_status, build_assets, family

    if args.family is not None:
        try:
            families = [family(args.family)]
        except KeyError as exc:
            raise UserError(f"--family: {exc.args[0]}") from None
    else:
        families = [f for f in FAMILIES.values() if f.assets is not None]
    for fam in families:
        if fam.assets is None:
            print(f"{fam.name} family: no one-time assets")
        elif args.action == "build":
            log = lambda m: print(f"synthcv: {m}", file=sys.stderr)  # noqa: E731
            where = build_assets(fam, log, rebuild=args.rebuild)
            print(f"{fam.assets.name}: ready in {where}")
        else:
            ready, where = assets_status(fam) or (False, None)
            state = "ready" if ready else "missing (run: synthcv cache build)"
            print(f"{fam.assets.name} ({fam.name} family): {state}: {where}")
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
