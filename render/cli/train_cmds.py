"""``synthcv train`` and ``synthcv evaluate``: torchvision detectors on COCO datasets.

torch is imported only when one of these commands runs (``render.training``)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from render.cli.common import UserError, names, non_negative_int, positive_int
from render.formats.splits import SPLIT_NAMES, parse_fractions
from render.outputs import HELP


def _quiet_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning (set before torch loads): with
    loader workers, or other jobs on the same cores, spinning threads steal the
    cores the work needs (measured: a 10x slower MobileNet step on a busy 2-core
    machine). An explicit OMP_WAIT_POLICY is kept."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands to ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "train",
        epilog=HELP,
        help="train a torchvision detector (Faster/Mask/Keypoint R-CNN) from a recipe",
        description="Train the detector of RECIPE (configs/train/*.yaml: data, model, "
        "image size, epochs, batch, learning-rate schedule, augmentation) into DIR: "
        "metrics.jsonl, checkpoints/last.pt, model.pt, train.json. Uses a CUDA GPU when "
        "present (mixed precision there). Nothing is downloaded: training starts from "
        "random weights or from --init CKPT.",
    )
    p.add_argument("recipe", type=Path, metavar="RECIPE", help="YAML recipe (configs/train/*.yaml)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set train.epochs=20 --set data.train=out/ds; "
        "repeatable",
    )  # fmt: skip
    p.add_argument(
        "--init", type=Path, metavar="CKPT",
        help="start from the weights of another run (model.pt or last.pt): fine-tune onto "
        "another dataset; heads of a different class list start fresh",
    )  # fmt: skip
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume", action="store_true", help="continue DIR from DIR/checkpoints/last.pt"
    )
    mode.add_argument(
        "--overwrite", action="store_true", help="replace a previous training run in DIR"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto (default): a CUDA GPU when torch sees one")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "evaluate",
        epilog=HELP,
        help="COCOeval of a trained detector (or a COCO results file) on a dataset",
        description="Run CKPT (model.pt or last.pt of 'synthcv train') over DATASET, "
        "write the detections as a COCO results file and metrics.json into --out, and "
        "print COCOeval's AP tables (bbox; segm for Mask R-CNN; keypoints for "
        "Keypoint R-CNN) and AP/AP50 per category. CKPT may also be a COCO results "
        ".json file: then it is only scored.",
    )
    p.add_argument("checkpoint", type=Path, metavar="CKPT", help="checkpoint or results .json")
    p.add_argument("dataset", type=Path, metavar="DATASET", help="COCO dataset directory")
    p.add_argument(
        "--out", type=Path, metavar="DIR",
        help="where detections.json and metrics.json go (default: next to CKPT, "
        "eval-<dataset name>[-<split>]); an earlier evaluate output there is replaced, any "
        "other non-empty folder refused",
    )  # fmt: skip
    p.add_argument("--split", choices=SPLIT_NAMES,
                   help="evaluate one by-scene split of DATASET only")  # fmt: skip
    p.add_argument(
        "--fractions", type=parse_fractions, metavar="SPEC",
        help="the split's fractions, e.g. train=0.9,val=0.1 (default: the recipe's data.split)",
    )  # fmt: skip
    p.add_argument("--split-seed", type=int, metavar="S", help="(default: the recipe's)")
    p.add_argument("--batch-size", type=positive_int, default=4, metavar="N")
    p.add_argument(
        "--workers", type=non_negative_int, default=2, metavar="W", help="loader workers"
    )
    p.add_argument(
        "--score-min", type=float, default=0.01, metavar="S",
        help="keep detections scoring at least S (default 0.01; COCOeval wants low-score ones)",
    )  # fmt: skip
    p.add_argument(
        "--image-size", type=positive_int, metavar="PX",
        help="resize images to PX at test time (default: the recipe's model.min_size/"
        "max_size); boxes come back in the dataset's pixels",
    )  # fmt: skip
    p.add_argument(
        "--native", action="store_true",
        help="never resize: detect in overlapping windows of the model's input side at native "
        "resolution (a model trained on data.crops); --image-size sets the window side",
    )  # fmt: skip
    p.add_argument(
        "--recall-score", type=float, default=0.5, metavar="S",
        help="score a detection needs to count in the recall tables (by visibility, height "
        "and person group; datasets with those fields) and in per-joint PCK (keypoint "
        "models) (default 0.5)",
    )  # fmt: skip
    p.add_argument(
        "--bootstrap", type=non_negative_int, default=0, metavar="N",
        help="draw the dataset's scenes N times with replacement and report a 95 %% interval "
        "for AP50 per category and for its mean (e.g. 1000; default 0: none)",
    )  # fmt: skip
    p.add_argument(
        "--categories", type=names, metavar="NAMES",
        help="with a results file: score only these categories, comma-separated (default: "
        "every category of DATASET; a checkpoint scores the ones it and DATASET share)",
    )  # fmt: skip
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--json", action="store_true", help="print metrics.json instead of tables")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _train(args: argparse.Namespace) -> int:
    _quiet_openmp()
    from render.training.loop import train
    from render.training.recipe import check_resume, load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    if args.init is not None and args.resume:
        raise UserError("--init and --resume: a resumed run keeps its own start")
    if args.resume:
        check_resume(recipe, args.out)
    progress = not args.no_progress and sys.stderr.isatty()
    result = train(
        recipe, args.out, init=args.init, resume=args.resume, overwrite=args.overwrite,
        device=args.device, progress=progress, source=args.recipe,
    )  # fmt: skip
    s = result.summary
    tp = s["this_session"]
    line = f"{args.out}: {result.step} steps, {s['epochs']} epochs, {s['train_images']} images"
    if tp.get("steps"):
        line += (f"; {tp['images_per_s']:.2f} images/s, data {tp['data_s_median']:.3f} s"
                 f" vs model {tp['model_s_median']:.3f} s per step (median)")  # fmt: skip
    val = s.get("val")
    if val:
        line += "; val " + ", ".join(
            f"{k} AP {val[k]['AP']:.3f} AP50 {val[k]['AP50']:.3f}"
            for k in ("bbox", "segm", "keypoints") if k in val
        )  # fmt: skip
    print(line)
    print(f"weights: {args.out / 'model.pt'}; evaluate with: "
          f"{shlex.join(['synthcv', 'evaluate', str(args.out / 'model.pt'), 'DATASET'])}")  # fmt: skip
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    _quiet_openmp()
    from render.outputs import OutputLock, claim, write_marker

    if args.fractions is not None and args.split is None:
        raise UserError("--fractions: give --split too")
    if args.image_size is not None and args.checkpoint.suffix.lower() == ".json":
        raise UserError("--image-size: a results file is only scored, give a checkpoint")
    if not 0 <= args.recall_score <= 1:
        raise UserError(f"--recall-score {args.recall_score}: must be in 0..1")
    if args.bootstrap > 100_000:
        raise UserError(f"--bootstrap {args.bootstrap}: must be at most 100000")
    if args.categories is not None and args.checkpoint.suffix.lower() != ".json":
        raise UserError("--categories: a checkpoint scores its own categories; give a results file")
    if args.native and args.checkpoint.suffix.lower() == ".json":
        raise UserError("--native: a results file is only scored, give a checkpoint")
    if args.image_size is not None and not 32 <= args.image_size <= 4096:
        raise UserError(f"--image-size {args.image_size}: must be 32-4096 px")
    if args.split is not None and args.fractions is not None and args.split not in args.fractions:
        raise UserError(f"--split {args.split}: not in --fractions")
    name = args.dataset.resolve().name + (f"-{args.split}" if args.split else "")
    out = args.out or args.checkpoint.resolve().parent / f"eval-{name}"
    with OutputLock(out):
        claim(out, "evaluate", write_over=True, inputs=[(str(args.dataset), args.dataset)])
        code = _evaluate_into(args, out)
        write_marker(out, "evaluate")  # only once its files are there: a failed run leaves none
    return code


def _evaluate_into(args: argparse.Namespace, out: Path) -> int:
    from augment.torch_dataset import AugmentedCoco
    from render.training.eval_report import format_report, write_report
    from render.training.evaluate import evaluate_checkpoint, evaluate_results_file

    progress = not args.no_progress and sys.stderr.isatty()
    if args.checkpoint.suffix.lower() == ".json":
        dataset = AugmentedCoco(
            args.dataset, None, split=args.split, fractions=args.fractions,
            split_seed=args.split_seed or 0, masks=False,
        )  # fmt: skip
        report, dets = evaluate_results_file(
            args.checkpoint, dataset, recall_score=args.recall_score, bootstrap=args.bootstrap,
            categories=args.categories,
        )  # fmt: skip
    else:
        report, dets = evaluate_checkpoint(
            args.checkpoint, args.dataset, split=args.split, fractions=args.fractions,
            split_seed=args.split_seed, device=args.device, batch_size=args.batch_size,
            workers=args.workers, score_min=args.score_min, image_size=args.image_size,
            progress=progress, native=args.native, recall_score=args.recall_score,
            bootstrap=args.bootstrap,
        )  # fmt: skip
    write_report(report, dets, out)
    if args.json:
        print((out / "metrics.json").read_text(encoding="utf-8"))
        return 0
    print(f"{args.dataset}: {report.images} images, {report.detections} detections")
    if report.skipped:
        print(f"not evaluated (the model has no such category): {', '.join(report.skipped)}")
    print(format_report(report))
    print(f"wrote {out / 'detections.json'} and {out / 'metrics.json'}")
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate}
