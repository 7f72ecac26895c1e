"""``synthcv render``'s scale-out options (executors, GPUs, recycling, retries,
Ray) and ``synthcv merge`` (merge a render's shards into annotations.json)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from render.cli.common import (
    DatasetError,
    UserError,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    read_json,
)
from render.config import Config
from render.outputs import HELP

DEFAULT_RENDERER = "render.blender.worker"


def _gpu_list(text: str) -> list[str]:
    gpus = [g.strip() for g in text.split(",")]
    if not gpus or not all(g.isdigit() for g in gpus):
        raise argparse.ArgumentTypeError(f"expected GPU indices like 0,1, got {text!r}")
    return gpus


def add_renderer(p: argparse.ArgumentParser) -> None:
    """The hidden ``--renderer MODULE``: tests select the pure-numpy fake renderer
    (tests/fake_renderer.py); it is passed to every task as an argument."""
    p.add_argument("--renderer", default=DEFAULT_RENDERER, help=argparse.SUPPRESS)


def add_scale_arguments(p: argparse.ArgumentParser) -> None:
    """--gpus, --threads, --recycle-every, --retries and the --ray options."""
    from render.executors import DEFAULT_RECYCLE_EVERY as RECYCLE_EVERY
    from render.executors import DEFAULT_RETRIES

    p.add_argument(
        "--gpus",
        type=_gpu_list,
        metavar="0,1",
        help="one worker per listed GPU, each with its own CUDA_VISIBLE_DEVICES "
        "(replaces --workers; each worker's device is logged)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        metavar="T",
        help="Cycles CPU threads per worker (default: all cores)",
    )
    p.add_argument(
        "--recycle-every",
        type=non_negative_int,
        default=RECYCLE_EVERY,
        metavar="K",
        help=f"replace each worker process by a fresh one after K scenes, so Blender's "
        f"memory stays flat (default {RECYCLE_EVERY}; 0: never)",
    )
    p.add_argument(
        "--retries",
        type=non_negative_int,
        default=DEFAULT_RETRIES,
        metavar="R",
        help=f"try a failing scene R more times, then record it in DIR/failures.jsonl "
        f"and go on (default {DEFAULT_RETRIES}); --resume retries recorded failures",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run scenes as Ray tasks: ADDRESS of a running cluster (host:port), 'auto' "
        "(the cluster this machine belongs to), or nothing (a Ray instance on this "
        "machine); DIR must be on a filesystem every node shares. Needs: pip install "
        "synthcv[cluster]",
    )
    p.add_argument(
        "--ray-cpus",
        type=non_negative_float,
        default=1.0,
        metavar="C",
        help="CPUs Ray reserves per task (default 1)",
    )
    p.add_argument(
        "--ray-gpus",
        type=non_negative_float,
        default=0.0,
        metavar="G",
        help="GPUs Ray reserves per task (default 0; Ray sets CUDA_VISIBLE_DEVICES)",
    )
    p.add_argument(
        "--ray-timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="seconds to wait for the --ray ADDRESS to answer before giving up (default 30)",
    )
    p.add_argument(
        "--ray-chunk",
        type=positive_int,
        default=4,
        metavar="S",
        help="scenes per Ray task (default 4)",
    )


def add_parsers(sub: Any) -> None:
    """Add ``synthcv merge`` to ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "merge",
        help="merge a render's shards into annotations.json",
        description="Merge DIR/shards/*.json (every committed scene) into DIR/annotations.json "
        "with compact ids (from 1, in scene, view, instance order), streamed: memory does "
        "not grow with the dataset. Every render does this at its end; run it after "
        "copying shards together or after an interrupted merge. Updates the counts in "
        "DIR/dataset.json. Refused: shards of another run (family, seed or config differ), "
        "scenes outside num_scenes, and scenes without a shard (unless --partial).",
        epilog=HELP,
    )
    p.add_argument("dataset", type=Path, metavar="DIR", help="rendered dataset directory")
    p.add_argument(
        "--partial",
        action="store_true",
        help="merge the committed scenes even if some have no shard (dataset.json then "
        "says status: partial)",
    )


def run_options(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    """``run_render`` keyword arguments from the scale-out flags: ``workers``,
    ``executor`` (a RayExecutor with --ray), ``gpus``, ``recycle_every``,
    ``threads``, ``retries``. Raises UserError for flags that contradict."""
    workers = args.workers
    if args.gpus is not None:
        if "--workers" in getattr(args, "argv", []) and args.workers != len(args.gpus):
            raise UserError(
                f"--workers {args.workers} and --gpus {','.join(args.gpus)}: --gpus runs one "
                "worker per listed GPU; leave out --workers"
            )
        if cfg.render.device == "cpu":
            raise UserError("--gpus: render.device is cpu; use --device auto, cuda or optix")
        workers = len(args.gpus)
    executor = None
    if args.ray is not None:
        if args.gpus is not None:
            raise UserError("--gpus and --ray: with Ray, use --ray-gpus (GPUs per task)")
        from render.executors.ray import RayExecutor

        executor = RayExecutor(
            None if args.ray == "local" else args.ray,
            args.renderer,
            cfg.render.device,
            args.out,
            cpus=args.ray_cpus,
            gpus=args.ray_gpus,
            chunk=args.ray_chunk,
            retries=args.retries,
            recycle_every=args.recycle_every or None,
            threads=args.threads,
            timeout=args.ray_timeout,
        )
    if args.gpus is not None:
        from render.machine import gpus_warning

        warning = gpus_warning(args.gpus)
        if warning is not None:
            print(f"synthcv: warning: {warning}", file=sys.stderr)
    return {
        "workers": workers,
        "executor": executor,
        "gpus": args.gpus,
        "recycle_every": args.recycle_every or None,
        "threads": args.threads,
        "retries": args.retries,
    }


def _cmd_merge(args: argparse.Namespace) -> int:
    from render.config import validate_config
    from render.merge import merge_dataset

    ds_path = args.dataset / "dataset.json"
    ds = read_json(ds_path, "dataset.json")
    if not isinstance(ds, dict) or not isinstance(ds.get("config"), dict):
        raise DatasetError(f"{ds_path}: has no 'config' mapping")
    cfg = validate_config(ds["config"], source=str(ds_path))
    summary = merge_dataset(args.dataset, cfg, ds, partial=args.partial)
    missing = summary["missing"]
    note = f" ({len(missing)} of {cfg.num_scenes} scenes missing: partial)" if missing else ""
    print(
        f"{args.dataset / 'annotations.json'}: {summary['scenes']} scenes, "
        f"{summary['images']} images, {summary['annotations']} annotations{note}"
    )
    return 0


COMMANDS = {"merge": _cmd_merge}
