"""``synthcv validate``, ``report``, ``augment`` and ``export``: commands on datasets."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from render.cli.common import UserError, positive_int
from render.formats import inputs
from render.outputs import HELP


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands to ``sub`` (argparse subparsers)."""
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
        type=positive_int,
        default=50,
        metavar="N",
        help="print at most N errors and N warnings, then how many more (default 50)",
    )
    inputs.add_limit_argument(p)

    p = sub.add_parser(
        "report",
        epilog=HELP,
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
        "augment",
        epilog=HELP,
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
        "export",
        epilog=HELP,
        help="export a dataset as YOLO (detect, seg, pose), the MVTec anomaly layout or "
        "MOTChallenge sequences",
        description="Write DIR in another layout into OUT (atomically): yolo, yolo-seg, "
        "yolo-pose (Ultralytics: data.yaml, images/ and labels/ per split), anomaly "
        "(MVTec-AD: per product, train/good, test/good, test/<defect>, ground_truth) or mot "
        "(MOTChallenge: <split>/<sequence>/seqinfo.ini, img1/, gt/gt.txt; a dataset rendered "
        "with render.frames > 1). Splits are by scene, and by sequence for frames (views "
        "of one scene, frames of one sequence never straddle splits).",
    )
    p.add_argument("dataset", type=Path, metavar="DIR", help="dataset directory (validated first)")
    p.add_argument(
        "--format", required=True, choices=("yolo", "yolo-seg", "yolo-pose", "anomaly", "mot")
    )
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
    p.add_argument(
        "--crop-size",
        type=positive_int,
        metavar="PX",
        help="anomaly: resample every (square) crop to PX x PX, as MVTec-AD's one size per "
        "category (default: each crop at its own size)",
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    from render.formats.validate import validate_cli

    limits = inputs.Limits().with_overrides(args.limit)
    return validate_cli(args.dataset, max_problems=args.max_problems, limits=limits)


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


def _cmd_augment(args: argparse.Namespace) -> int:
    if getattr(args, "augment_missing", False):
        raise UserError("augment: the augment stage is not installed (augment/cli.py missing)")
    from augment import cli as augment_cli

    return int(augment_cli.run(args))


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
        crop_size=args.crop_size,
    )
    shown = {k: v for k, v in record.items() if k not in ("format", "source", "seed", "split")}
    print(f"{args.out}: {args.format} export of {args.dataset}: {json.dumps(shown)}")
    return 0


COMMANDS = {
    "validate": _cmd_validate,
    "report": _cmd_report,
    "augment": _cmd_augment,
    "export": _cmd_export,
}
