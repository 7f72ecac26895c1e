"""``synthcv`` command line: render, validate, augment, replay, report, cache, schema.

Every user error (bad config, argument, dataset) is printed as one line
``synthcv: error: <message>`` on stderr with exit code 2 and no traceback.
Ctrl-C during ``render`` exits 130 after keeping the committed scenes.

For tests only: the environment variable ``SYNTHCV_RENDERER`` names the renderer
module the worker processes use instead of ``render.blender.worker``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

from render import __version__
from render.errors import DatasetError, UserError
from render.formats import inputs

DEFAULT_RENDERER = "render.blender.worker"
# Keys write_scene adds to a saved scene's meta that are outputs, not inputs. The
# settled poses stay: physics (Bullet) is not reproducible across processes, so the
# backend reuses the recorded poses when it replays a physics scene.
SCENE_META_FROM_WRITER = ("visible_pixels", "annotated")


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


def _unknown_arguments(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> str:
    """The one-line error for arguments ``command``'s parser does not know."""
    sub = next(
        a
        for a in parser._actions
        if isinstance(a, argparse._SubParsersAction)  # noqa: SLF001
    ).choices[command]
    flags = [f for a in sub._actions for f in a.option_strings]  # noqa: SLF001
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
    parser.add_argument("--version", action="version", version=_version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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

    p = sub.add_parser(
        "report",
        help="write DIR/report.html: dataset card, distributions, examples per class",
        description="Write one self-contained HTML page (images embedded) about a COCO "
        "dataset: the dataset card (config, seed, versions, counts, render time), "
        "per-class counts, box size and aspect histograms, object-centre heatmap, "
        "visibility, defect-size and keypoint distributions where present, and "
        "examples of each class with masks, boxes and keypoints drawn. Works on "
        "rendered, augmented and third-party COCO datasets.",
    )
    p.add_argument("dataset", type=Path, metavar="DIR", help="dataset folder or COCO .json file")
    p.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write (default: DIR/report.html)"
    )
    p.add_argument(
        "--per-class", type=int, default=6, metavar="N", help="examples per class (default: 6)"
    )
    p.add_argument("--seed", type=int, default=0, help="which examples are drawn (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    inputs.add_limit_argument(p)

    p = sub.add_parser(
        "export",
        help="export a dataset as YOLO (detect, seg, pose) or the MVTec anomaly layout",
        description="Write DIR in another layout into OUT (atomically): yolo, yolo-seg, "
        "yolo-pose (Ultralytics: data.yaml, images/ and labels/ per split) or anomaly "
        "(MVTec-AD: per product, train/good, test/good, test/<defect>, ground_truth). "
        "Splits are by scene (views of one scene never straddle splits).",
    )
    p.add_argument("dataset", type=Path, metavar="DIR", help="dataset directory (validated first)")
    p.add_argument("--format", required=True, choices=("yolo", "yolo-seg", "yolo-pose", "anomaly"))
    p.add_argument("--out", type=Path, required=True, metavar="OUT", help="output directory")
    p.add_argument(
        "--split",
        default="train=0.8,val=0.2",
        metavar="SPEC",
        help="fractions by scene, e.g. train=0.7,val=0.2,test=0.1 (anomaly: the train "
        "share of defect-free crops; default train=0.8,val=0.2)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="split seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in OUT")
    p.add_argument(
        "--defect-supercategory",
        default="defect",
        metavar="NAME",
        help="anomaly: categories with this supercategory are defects (default: defect)",
    )

    p = sub.add_parser(
        "cache",
        help="show or build per-machine model caches",
        description="Per-machine caches live outside the repository in $SYNTHCV_CACHE_DIR "
        "(default ~/.cache/synthcv). 'status' shows them; 'build' builds the anny body "
        "model the pedestrians family needs (once, 1-6 minutes; a render builds it too).",
    )
    p.add_argument("action", nargs="?", choices=("status", "build"), default="status")

    p = sub.add_parser(
        "preview",
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
    p.add_argument("--workers", type=_positive_int, default=2, metavar="W", help="(default 2)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="keep the rendered dataset in DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

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
        "schema",
        help="print the config's JSON schema (or its Markdown reference)",
        description="Print the JSON schema of render configs (every key, type, default), "
        "or with --markdown the reference in docs/config.md.",
    )
    p.add_argument("--markdown", action="store_true", help="the Markdown reference instead")
    return parser


# --------------------------------------------------------------------------- commands


def _renderer() -> str:
    return os.environ.get("SYNTHCV_RENDERER") or DEFAULT_RENDERER


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
        workers=args.workers,
        resume=args.resume,
        overwrite=args.overwrite,
        renderer=_renderer(),
        progress=not args.no_progress and sys.stderr.isatty(),
        resume_command=_resume_command(getattr(args, "argv", [])),
    )
    return 0


def _resume_command(argv: list[str]) -> str:
    """The command line that continues this render: the same, with --resume."""
    kept = [a for a in argv if a not in ("--overwrite", "--resume")]
    return shlex.join(["synthcv", *kept, "--resume"])


def _cmd_validate(args: argparse.Namespace) -> int:
    from render.formats.validate import validate_cli

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
        renderer=_renderer(),
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
    from render.report import build_report

    if not 0 <= args.per_class <= 100:
        raise UserError(f"--per-class {args.per_class}: expected 0..100")
    result = build_report(
        args.dataset,
        args.out,
        limits=inputs.Limits().with_overrides(args.limit or []),
        seed=args.seed,
        per_class=args.per_class,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    note = f", {result.unreadable_tiles} image(s) unreadable" if result.unreadable_tiles else ""
    print(
        f"report: wrote {result.path} ({result.bytes / 2**20:.1f} MiB; {result.images:,} images, "
        f"{result.annotations:,} annotations, {result.classes} classes, {result.charts} charts, "
        f"{result.tiles} examples{note})"
    )
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


def _cmd_export(args: argparse.Namespace) -> int:
    from render.export import export
    from render.formats.splits import parse_fractions

    record = export(
        args.dataset,
        args.format,
        args.out,
        fractions=parse_fractions(args.split),
        seed=args.seed,
        overwrite=args.overwrite,
        defect_supercategory=args.defect_supercategory,
    )
    shown = {k: v for k, v in record.items() if k not in ("format", "source", "seed", "split")}
    print(f"{args.out}: {args.format} export of {args.dataset}: {json.dumps(shown)}")
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
        renderer=_renderer(),
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    w, h = result.resolution
    print(
        f"preview: wrote {result.path} ({result.images} images at {w}x{h}, "
        f"{result.samples} samples, {result.seconds:.1f} s)"
    )
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from render.doctor import format_findings, run_checks, to_json

    findings = run_checks(args.out)
    print(to_json(findings) if args.json else format_findings(findings))
    return 1 if any(f.status == "fail" for f in findings) else 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from render.config import config_schema

    if args.markdown:
        from render.config_docs import config_markdown

        sys.stdout.write(config_markdown(config_schema()))
        return 0
    print(json.dumps(config_schema(), indent=2))
    return 0


def _cmd_augment(args: argparse.Namespace) -> int:
    if getattr(args, "augment_missing", False):
        raise UserError("augment: the augment stage is not installed (augment/cli.py missing)")
    from augment import cli as augment_cli

    return int(augment_cli.run(args))


COMMANDS = {
    "render": _cmd_render,
    "validate": _cmd_validate,
    "augment": _cmd_augment,
    "replay": _cmd_replay,
    "report": _cmd_report,
    "schema": _cmd_schema,
    "cache": _cmd_cache,
    "export": _cmd_export,
    "preview": _cmd_preview,
    "doctor": _cmd_doctor,
}


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
        args, extra = parser.parse_known_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
