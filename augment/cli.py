"""``synthcv augment`` command line: :func:`add_arguments` and :func:`run`.

``render/cli/data_cmds.py`` wires these into the ``augment`` subcommand; ``python -m augment``
runs them standalone. User errors are printed as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from render.formats.inputs import add_limit_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``augment`` arguments to ``parser``."""
    parser.add_argument("dataset", type=Path, help="input dataset directory (DIR/annotations.json)")
    parser.add_argument(
        "--pipeline", type=Path, required=True, help="pipeline YAML (configs/augment/*.yaml)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output dataset directory")
    parser.add_argument(
        "--copies", type=int, default=1, help="augmented copies per image (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--keep-originals",
        action="store_true",
        help="also copy the original images and annotations",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier --out dataset (at the end, once the new one is complete)"
        " or the partial output an interrupted run left",
    )
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed or interrupted run of the same command",
    )
    parser.add_argument(
        "--annotations", type=Path, default=None, help="COCO JSON (default DIR/annotations.json)"
    )
    parser.add_argument(
        "--image-root", type=Path, default=None, help="where file_name is relative to (default DIR)"
    )
    parser.add_argument(
        "--min-area", type=float, default=None, help="override the pipeline's min_area (pixels)"
    )
    parser.add_argument(
        "--min-visibility",
        type=float,
        default=None,
        help="override the pipeline's min_visibility (0..1)",
    )
    parser.add_argument(
        "--keypoint-center",
        type=float,
        choices=(0.0, 0.5),
        default=None,
        help="coordinate of pixel 0's centre in the keypoints: 0 (COCO) or 0.5;"
        " default: DIR/dataset.json's keypoint_center, else 0",
    )
    parser.add_argument(
        "--png-compression",
        type=int,
        default=0,
        help="0 (default): uncompressed PNG, fastest; 1-9: smaller files, slower",
    )
    parser.add_argument(
        "--jpeg-quality", type=int, default=95, help="for JPEG outputs (default 95)"
    )
    parser.add_argument(
        "--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bar"
    )
    add_limit_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``synthcv augment``; returns the exit code (0 ok, 2 user error)."""
    from augment.allocator import tune_allocator
    from augment.output import staging_path
    from augment.pipeline import load_pipeline
    from augment.writer import augment_dataset
    from render.formats import UserError
    from render.formats.inputs import Limits

    tune_allocator()  # this process is ours: reuse freed image buffers (augment/allocator.py)
    try:
        limits = Limits().with_overrides(args.limit)
        spec = load_pipeline(args.pipeline, int(limits.pipeline_kb * 1024))
        overrides = {
            k: v
            for k, v in (("min_area", args.min_area), ("min_visibility", args.min_visibility))
            if v is not None
        }
        if overrides:
            from augment.pipeline import parse_pipeline

            spec = parse_pipeline(
                {**spec.model_dump(exclude={"source"}), **overrides}, source=spec.source
            )
        info = augment_dataset(
            args.dataset,
            spec,
            args.out,
            copies=args.copies,
            seed=args.seed,
            workers=args.workers,
            keep_originals=args.keep_originals,
            overwrite=args.overwrite,
            resume=args.resume,
            annotations=args.annotations,
            image_root=args.image_root,
            keypoint_center=args.keypoint_center,
            png_compression=args.png_compression,
            jpeg_quality=args.jpeg_quality,
            progress=not args.quiet,
            limits=limits,
        )
    except UserError as exc:
        message = " ".join(str(exc).split())  # always exactly one line
        print(f"synthcv: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"synthcv: interrupted; the partial output in {staging_path(args.out.resolve())}"
            " is kept: run the same command with --resume to continue",
            file=sys.stderr,
        )
        return 130
    c = info["counts"]
    if not args.quiet:
        print(
            f"wrote {c['images']} images, {c['annotations']} annotations"
            f" ({c['dropped_annotations']} dropped) to {args.out}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m augment DIR --pipeline YAML --out DIR2 ...``."""
    parser = argparse.ArgumentParser(prog="synthcv augment", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
