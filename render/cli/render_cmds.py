"""``synthcv render``, ``preview`` and ``replay``: the commands that run Blender."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from render.cli import scale
from render.cli.common import DatasetError, positive_int, read_json, resolution
from render.outputs import HELP

# Keys write_scene adds to a saved scene's meta that are outputs, not inputs. The
# settled poses stay: physics (Bullet) is not reproducible across processes, so the
# backend reuses the recorded poses when it replays a physics scene.
SCENE_META_FROM_WRITER = ("visible_pixels", "annotated")


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands to ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "render",
        epilog=HELP,
        help="render a dataset from a config file",
        description="Render num_scenes scenes (x render.views_per_scene images) of CONFIG into "
        "DIR: images/, depth/, scenes/, annotations.json (COCO), dataset.json. -n, --seed, "
        "--resolution, --samples, --quality and --device are shorthands for --set overrides, so "
        "errors name the config field.",
    )
    p.add_argument("config", type=Path, metavar="CONFIG", help="YAML config (configs/*.yaml)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("-n", "--num-scenes", type=int, metavar="N", help="= --set num_scenes=N")
    p.add_argument("--seed", type=int, metavar="S", help="= --set seed=S")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="W",
        help="worker processes, each running its own Blender (default 1)",
    )
    p.add_argument(
        "--resolution", type=resolution, metavar="WxH", help="= --set render.resolution=[W,H]"
    )
    p.add_argument("--samples", type=int, metavar="N", help="= --set render.samples=N")
    p.add_argument(
        "--quality",
        choices=("draft", "default", "final"),
        help="= --set render.quality=...: measured speed/noise settings (docs/benchmarks.md)",
    )
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
    scale.add_scale_arguments(p)
    scale.add_renderer(p)

    p = sub.add_parser(
        "preview",
        epilog=HELP,
        help="render a few quick images of a config with overlays into one PNG",
        description="Render N images of CONFIG with few samples at a small resolution "
        "(same samplers and annotations as 'synthcv render') and write them with "
        "masks, boxes and keypoints drawn into one PNG, for tuning a config by eye.",
    )
    p.add_argument("config", type=Path, metavar="CONFIG", help="YAML config (configs/*.yaml)")
    p.add_argument(
        "--out", type=Path, metavar="PNG", help="where to write (default: CONFIG_preview.png here)"
    )
    p.add_argument("-n", type=int, default=4, metavar="N", help="images (default 4)")
    p.add_argument("--samples", type=int, default=4, metavar="N", help="Cycles samples (default 4)")
    p.add_argument(
        "--max-side", type=int, default=320, metavar="PX",
        help="scale the config's resolution down to this longer side (default 320)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, metavar="S", help="= --set seed=S (other scenes)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, as in 'synthcv render'; repeatable",
    )  # fmt: skip
    p.add_argument("--workers", type=positive_int, default=2, metavar="W", help="(default 2)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the rendered dataset in DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    scale.add_renderer(p)

    p = sub.add_parser(
        "replay",
        epilog=HELP,
        help="re-render one saved scene",
        description="Re-render DIR/scenes/NNNNNN.json with the config recorded in "
        "DIR/dataset.json into a new directory, and compare its annotations with the "
        "original shard. Exit 0 if identical (or no original to compare), 1 if not.",
    )
    p.add_argument("scene", type=Path, metavar="SCENE_JSON", help="DIR/scenes/NNNNNN.json")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    scale.add_renderer(p)


def _resume_command(argv: list[str]) -> str:
    """The command line that continues this render: the same, with --resume."""
    kept = [a for a in argv if a not in ("--overwrite", "--resume")]
    return shlex.join(["synthcv", *kept, "--resume"])


def _dataset_json_for(scene_path: Path) -> Path:
    for folder in (scene_path.parent, scene_path.parent.parent):
        if (folder / "dataset.json").is_file():
            return folder / "dataset.json"
    raise DatasetError(f"{scene_path}: no dataset.json in its folder or the folder above")


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
    if args.quality is not None:
        overrides.append(f"render.quality={args.quality}")
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
        **scale.run_options(args, cfg),
    )
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from render.preview import preview

    out = args.out or Path(f"{args.config.stem}_preview.png")
    overrides = list(args.overrides) + ([f"seed={args.seed}"] if args.seed is not None else [])
    result = preview(
        args.config,
        out,
        overrides=overrides,
        n=args.n,
        samples=args.samples,
        max_side=args.max_side,
        workers=args.workers,
        keep=args.keep,
        renderer=args.renderer,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    w, h = result.resolution
    print(
        f"preview: wrote {result.path} ({result.images} images at {w}x{h}, "
        f"{result.samples} samples, {result.seconds:.1f} s)"
    )
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from render.config import validate_config
    from render.driver import run_render
    from render.spec import SceneSpec, scene_filename

    doc = read_json(args.scene, "scene file")
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
    ds = read_json(ds_path, "dataset.json")
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
    new = read_json(args.out / "shards" / scene_filename(spec.scene_index), "shard")
    old = read_json(original, "shard")
    if new.get("annotations") == old.get("annotations"):
        print(f"replay: scene {spec.scene_index} annotations identical to {original}")
        return 0
    print(f"replay: scene {spec.scene_index} annotations DIFFER from {original}")
    return 1


COMMANDS = {
    "render": _cmd_render,
    "preview": _cmd_preview,
    "replay": _cmd_replay,
}
