"""``synthcv`` command line: render, merge, validate, augment, replay, report, cache, schema.

Every user error (bad config, argument, dataset) is printed as one line
``synthcv: error: <message>`` on stderr with exit code 2 and no traceback.
Ctrl-C during ``render`` exits 130 after keeping the committed scenes.

For tests: the hidden option ``--renderer MODULE`` of ``render`` and ``replay``
names the renderer module the workers use instead of ``render.blender.worker``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

from render import cli_scale, inputs
from render.errors import DatasetError, UserError

DEFAULT_RENDERER = "render.blender.worker"
# Keys write_scene adds to a saved scene's meta that are outputs, not inputs. The
# settled poses stay: physics (Bullet) is not reproducible across processes, so the
# backend reuses the recorded poses when it replays a physics scene.
SCENE_META_FROM_WRITER = ("visible_pixels", "annotated")


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line through UserError (exit 2)."""

    def error(self, message: str) -> NoReturn:
        prefix = self.prog.removeprefix("synthcv").strip()
        raise UserError(f"{prefix}: {message}" if prefix else message)


def _resolution(text: str) -> list[int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 512x384, got {text!r}")
    return [int(parts[0]), int(parts[1])]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="synthcv",
        description="Synthetic computer-vision datasets: render procedural scenes with "
        "Blender/Cycles, write pixel-perfect COCO annotations, augment them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "render",
        help="render a dataset from a config file",
        description="Render num_scenes scenes (x render.views_per_scene images) of CONFIG into "
        "DIR: images/, depth/, scenes/, annotations.json (COCO), dataset.json. -n, --seed, "
        "--resolution, --samples and --device are shorthands for --set overrides, so "
        "errors name the config field.",
    )
    p.add_argument("config", type=Path, metavar="CONFIG", help="YAML config (configs/*.yaml)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("-n", "--num-scenes", type=int, metavar="N", help="= --set num_scenes=N")
    p.add_argument("--seed", type=int, metavar="S", help="= --set seed=S")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="W",
        help="worker processes, each running its own Blender (default 1)",
    )
    p.add_argument(
        "--resolution", type=_resolution, metavar="WxH", help="= --set render.resolution=[W,H]"
    )
    p.add_argument("--samples", type=int, metavar="N", help="= --set render.samples=N")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "optix"),
        help="= --set render.device=...; auto uses a GPU when one is visible",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set camera.distance=[1,2] or "
        "--set scene.shapes.0.size=0.2 (list items by index); repeatable",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in DIR, skipping committed scenes",
    )
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="replace what synthcv wrote in a non-empty DIR (other files stay)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    cli_scale.add_scale_arguments(p)
    cli_scale.add_renderer(p, DEFAULT_RENDERER)
    cli_scale.add_merge_parser(sub)

    p = sub.add_parser(
        "validate",
        help="check a dataset's COCO annotations against its images",
        description="Check DIR/annotations.json (or a COCO json file): ids, references, "
        "image files (decoded in full), RLE masks vs bbox/area, overlaps. One line per "
        "problem; errors give exit 1, warnings alone (category id 0, images without "
        "annotations, shared files) exit 0.",
    )
    p.add_argument("dataset", type=Path, metavar="DIR", help="dataset directory or COCO json")
    p.add_argument(
        "--max-problems",
        type=_positive_int,
        default=50,
        metavar="N",
        help="print at most N errors and N warnings, then how many more (default 50)",
    )
    inputs.add_limit_argument(p)

    p = sub.add_parser(
        "augment",
        help="augment a COCO dataset with an albumentations pipeline",
        description="Apply a YAML albumentations pipeline to any COCO dataset and write a "
        "new dataset (the input is never modified).",
    )
    try:
        from augment import cli as augment_cli
    except ModuleNotFoundError as exc:
        if exc.name not in ("augment", "augment.cli"):
            raise
        p.set_defaults(augment_missing=True)
    else:
        augment_cli.add_arguments(p)

    p = sub.add_parser(
        "replay",
        help="re-render one saved scene",
        description="Re-render DIR/scenes/NNNNNN.json with the config recorded in "
        "DIR/dataset.json into a new directory, and compare its annotations with the "
        "original shard. Exit 0 if identical (or no original to compare), 1 if not.",
    )
    p.add_argument("scene", type=Path, metavar="SCENE_JSON", help="DIR/scenes/NNNNNN.json")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    cli_scale.add_renderer(p, DEFAULT_RENDERER)

    p = sub.add_parser(
        "report",
        help="summarise a rendered dataset",
        description="Print images, annotations, per-category counts, timings and "
        "versions recorded in DIR/dataset.json.",
    )
    p.add_argument("dataset", type=Path, metavar="DIR", help="dataset directory")

    p = sub.add_parser(
        "cache",
        help="show or build per-machine model caches",
        description="Per-machine caches live outside the repository in $SYNTHCV_CACHE_DIR "
        "(default ~/.cache/synthcv). 'status' shows them; 'build' builds the anny body "
        "model the pedestrians family needs (once, 1-6 minutes; a render builds it too).",
    )
    p.add_argument("action", nargs="?", choices=("status", "build"), default="status")

    sub.add_parser(
        "schema",
        help="print the config's JSON schema",
        description="Print the JSON schema of render configs (every key, type, default).",
    )
    return parser


# --------------------------------------------------------------------------- commands


def _cmd_render(args: argparse.Namespace) -> int:
    from render.config import load_config
    from render.driver import run_render

    overrides = list(args.overrides)
    if args.num_scenes is not None:
        overrides.append(f"num_scenes={args.num_scenes}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.resolution is not None:
        overrides.append(f"render.resolution=[{args.resolution[0]}, {args.resolution[1]}]")
    if args.samples is not None:
        overrides.append(f"render.samples={args.samples}")
    if args.device is not None:
        overrides.append(f"render.device={args.device}")
    cfg = load_config(args.config, overrides)
    run_render(
        cfg,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        renderer=args.renderer,
        progress=not args.no_progress and sys.stderr.isatty(),
        resume_command=_resume_command(getattr(args, "argv", [])),
        **cli_scale.run_options(args, cfg),
    )
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from render.config import validate_config
    from render.merge import merge_dataset

    ds_path = args.dataset / "dataset.json"
    ds = _read_json(ds_path, "dataset.json")
    if not isinstance(ds, dict) or not isinstance(ds.get("config"), dict):
        raise DatasetError(f"{ds_path}: has no 'config' mapping")
    cfg = validate_config(ds["config"], source=str(ds_path))
    summary = merge_dataset(args.dataset, cfg, ds)
    print(
        f"{args.dataset / 'annotations.json'}: {summary['scenes']} scenes, "
        f"{summary['images']} images, {summary['annotations']} annotations"
    )
    return 0


def _resume_command(argv: list[str]) -> str:
    """The command line that continues this render: the same, with --resume."""
    kept = [a for a in argv if a not in ("--overwrite", "--resume")]
    return shlex.join(["synthcv", *kept, "--resume"])


def _cmd_validate(args: argparse.Namespace) -> int:
    from render.validate import validate_cli

    limits = inputs.Limits().with_overrides(args.limit)
    return validate_cli(args.dataset, max_problems=args.max_problems, limits=limits)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read {what}: {exc}") from None


def _dataset_json_for(scene_path: Path) -> Path:
    for folder in (scene_path.parent, scene_path.parent.parent):
        if (folder / "dataset.json").is_file():
            return folder / "dataset.json"
    raise DatasetError(f"{scene_path}: no dataset.json in its folder or the folder above")


def _cmd_replay(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from render.config import validate_config
    from render.driver import run_render
    from render.spec import SceneSpec, scene_filename

    doc = _read_json(args.scene, "scene file")
    if not isinstance(doc, dict):
        raise DatasetError(f"{args.scene}: expected a SceneSpec object")
    doc["meta"] = {
        k: v for k, v in (doc.get("meta") or {}).items() if k not in SCENE_META_FROM_WRITER
    }
    try:
        spec = SceneSpec.model_validate(doc)
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in e["loc"])
        raise DatasetError(f"{args.scene}: not a SceneSpec: {where}: {e['msg']}") from None
    ds_path = _dataset_json_for(args.scene)
    ds = _read_json(ds_path, "dataset.json")
    if not isinstance(ds, dict) or not isinstance(ds.get("config"), dict):
        raise DatasetError(f"{ds_path}: has no 'config' mapping")
    cfg = validate_config(ds["config"], source=str(ds_path))
    run_render(
        cfg,
        args.out,
        overwrite=args.overwrite,
        renderer=args.renderer,
        progress=not args.no_progress and sys.stderr.isatty(),
        specs=[spec],
    )
    original = ds_path.parent / "shards" / scene_filename(spec.scene_index)
    if not original.is_file():
        print(f"replay: scene {spec.scene_index} written to {args.out} (no original to compare)")
        return 0
    new = _read_json(args.out / "shards" / scene_filename(spec.scene_index), "shard")
    old = _read_json(original, "shard")
    if new.get("annotations") == old.get("annotations"):
        print(f"replay: scene {spec.scene_index} annotations identical to {original}")
        return 0
    print(f"replay: scene {spec.scene_index} annotations DIFFER from {original}")
    return 1


def _cmd_report(args: argparse.Namespace) -> int:
    path = args.dataset / "dataset.json"
    ds = _read_json(path, "dataset.json")
    if not isinstance(ds, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    timings = ds.get("timings") or {}
    lines = [
        f"{args.dataset}: {ds.get('status', '?')}, {ds.get('scenes', '?')} scenes, "
        f"{ds.get('images', '?')} images, {ds.get('annotations', '?')} annotations "
        f"(seed {ds.get('seed', '?')}, created {ds.get('created', '?')})",
        "per category:",
    ]
    for name, count in (ds.get("category_counts") or {}).items():
        lines.append(f"  {name:<20} {count}")
    lines.append(
        f"last run: {timings.get('wall_s', '?')} s wall, {timings.get('images_per_s', '?')} images/s"
    )
    means = timings.get("per_image_mean_s") or {}
    if means:
        lines.append("per image (mean s): " + ", ".join(f"{k} {v}" for k, v in means.items()))
    workers = (ds.get("workers") or {}).get("info") or []
    for w in workers[:1]:
        lines.append("worker: " + ", ".join(f"{k}={v}" for k, v in w.items() if k != "pid"))
    versions = ds.get("versions") or {}
    if versions:
        lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("\n".join(lines))
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from render.families.pedestrians import body

    if args.action == "build":
        folder = body.build_cache(lambda m: print(f"synthcv: {m}", file=sys.stderr))
        print(f"anny body model: ready in {folder}")
        return 0
    folder = body.cache_dir()
    state = "ready" if body.cache_ready(folder) else "missing (run: synthcv cache build)"
    print(f"anny body model ({body.TOPOLOGY}): {state}: {folder}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from render.config import config_schema

    print(json.dumps(config_schema(), indent=2))
    return 0


def _cmd_augment(args: argparse.Namespace) -> int:
    if getattr(args, "augment_missing", False):
        raise UserError("augment: the augment stage is not installed (augment/cli.py missing)")
    from augment import cli as augment_cli

    return int(augment_cli.run(args))


COMMANDS = {
    "render": _cmd_render,
    "merge": _cmd_merge,
    "validate": _cmd_validate,
    "augment": _cmd_augment,
    "replay": _cmd_replay,
    "report": _cmd_report,
    "schema": _cmd_schema,
    "cache": _cmd_cache,
}


def main(argv: list[str] | None = None) -> int:
    """Run ``synthcv`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
