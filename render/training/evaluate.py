"""``synthcv evaluate``: run a trained detector over a COCO dataset, write the
detections as a COCO results file and score them with COCOeval
(:func:`render.formats.coco.evaluate`: bbox, plus segm for Mask R-CNN and
keypoints for Keypoint R-CNN).

The model's categories are matched to the dataset's by name; only the categories
both know are evaluated (a fine-tuned model meets its real dataset's ids, a
synthetic model may meet a dataset that lacks some of its classes). What it
found is an :class:`~render.training.eval_report.EvalReport`, printed and written
by :mod:`render.training.eval_report`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from render.errors import DatasetError, UserError
from render.formats import coco
from render.formats.inputs import Limits, read_json
from render.progress import Progress
from render.training.analyses import dataset_qc, pck_of, recall_of, tiled_frames
from render.training.eval_report import EvalReport
from render.training.windows import predict_native


def to_coco_results(
    output: Mapping[str, Any], image_id: int, category_ids: Sequence[int | None]
) -> list[dict[str, Any]]:
    """One image's torchvision detections -> COCO result dicts.

    ``category_ids[label - 1]`` is the dataset's category id of a model label (None:
    the dataset has no such category; those detections are left out). Boxes go from
    XYXY back to ``[x, y, w, h]`` (the inverse of the loader's conversion), masks
    (N, 1, H, W) probabilities are cut at 0.5 and encoded as RLE, keypoints
    (N, K, 3) written as ``[x, y, 1] * K``."""
    boxes = output["boxes"].detach().cpu().numpy().astype(np.float64)
    scores = output["scores"].detach().cpu().numpy()
    labels = output["labels"].detach().cpu().numpy()
    rles: list[coco.RLE] | None = None
    if "masks" in output:
        masks = output["masks"].detach().cpu().numpy()[:, 0] > 0.5
        rles = coco.encode_many(masks.astype(np.uint8)) if len(masks) else []
    kps = output["keypoints"].detach().cpu().numpy() if "keypoints" in output else None
    out: list[dict[str, Any]] = []
    for n in range(len(boxes)):
        cat = category_ids[int(labels[n]) - 1] if 1 <= labels[n] <= len(category_ids) else None
        if cat is None:
            continue
        x0, y0, x1, y1 = (float(v) for v in boxes[n])
        det: dict[str, Any] = {
            "image_id": int(image_id),
            "category_id": int(cat),
            "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "score": round(float(scores[n]), 5),
        }
        if rles is not None:
            det["segmentation"] = rles[n]
        if kps is not None:
            k = kps[n].copy()
            k[:, 2] = 1
            det["keypoints"] = [round(float(v), 2) for v in k.ravel()]
        out.append(det)
    return out


def predict(
    model: Any,
    dataset: Any,
    device: Any,
    category_ids: Sequence[int | None],
    *,
    batch_size: int = 4,
    workers: int = 0,
    progress: Progress | None = None,
    native: int | None = None,
) -> list[dict[str, Any]]:
    """COCO results of ``model`` on every item of ``dataset``
    (:class:`augment.torch_dataset.AugmentedCoco`); ``native``: each image in
    windows of this side at native resolution (:mod:`render.training.windows`)."""
    import torch

    from augment.torch_dataset import data_loader

    loader = data_loader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    was_training = model.training
    model.eval()
    results: list[dict[str, Any]] = []
    amp = device.type == "cuda"
    try:
        with torch.inference_mode(), torch.autocast(device.type, enabled=amp):
            for images, targets in loader:
                if native is not None:
                    outputs = [predict_native(model, im.to(device), native) for im in images]
                else:
                    outputs = model([im.to(device, non_blocking=True) for im in images])
                for out, t in zip(outputs, targets, strict=True):
                    results += to_coco_results(out, t["image_id"], category_ids)
                if progress is not None:
                    progress.advance(len(images))
    finally:
        model.train(was_training)
    return results


def iou_types(arch: str, has_segmentation: bool) -> list[str]:
    kinds = ["bbox"]
    if arch == "mask_rcnn" and has_segmentation:
        kinds.append("segm")
    if arch == "keypoint_rcnn":
        kinds.append("keypoints")
    return kinds


def gt_document(dataset: Any, category_ids: Sequence[int]) -> dict[str, Any]:
    """The ground truth of ``dataset``'s images (its split) and the given categories."""
    ids = {int(i["id"]) for i in dataset.images}
    cats = [c for c in dataset.source.coco["categories"] if int(c["id"]) in set(category_ids)]
    anns = [
        a
        for a in dataset.source.coco["annotations"]
        if a["image_id"] in ids and a["category_id"] in set(category_ids)
    ]
    return {"images": list(dataset.images), "annotations": anns, "categories": cats}


def evaluate_documents(
    gt: Mapping[str, Any],
    detections: Sequence[Mapping[str, Any]],
    kinds: Sequence[str],
    bootstrap: int = 0,
) -> dict[str, coco.EvalResult]:
    return {kind: coco.evaluate(gt, detections, kind, bootstrap=bootstrap) for kind in kinds}


def match_categories(
    model_categories: Sequence[Mapping[str, Any]],
    dataset_categories: Sequence[Mapping[str, Any]],
    where: str,
) -> list[int | None]:
    """Model label -> dataset category id (by name; None where the dataset lacks it)."""
    by_name = {c.get("name"): int(c["id"]) for c in dataset_categories}
    ids = [by_name.get(c.get("name")) for c in model_categories]
    if not any(i is not None for i in ids):
        mine = ", ".join(str(c.get("name")) for c in model_categories)
        theirs = ", ".join(str(c.get("name")) for c in dataset_categories)
        raise DatasetError(f"{where}: no category in common with the model ({mine} vs {theirs})")
    return ids


def read_detections(path: Path, max_bytes: int = Limits().json_bytes) -> list[dict[str, Any]]:
    """A COCO results file: a list of ``{image_id, category_id, score, bbox, ...}``
    (read as every input is: :func:`render.formats.inputs.read_json`)."""
    data = read_json(path, max_bytes, "detections file")
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a COCO results list, got {type(data).__name__}")
    for n, d in enumerate(data):
        ok = isinstance(d, dict) and all(k in d for k in ("image_id", "category_id", "score"))
        if not ok or not isinstance(d.get("bbox"), list) or len(d["bbox"]) != 4:
            raise UserError(
                f"{path}: [{n}]: expected image_id, category_id, score and bbox [x, y, w, h]"
            )
    return data


def check_ids(
    path: Path, dets: list[dict[str, Any]], images: set[int], cats: set[int]
) -> list[dict[str, Any]]:
    """A results file must be about this dataset: refuse one none of whose
    detections name one of its images (or categories); leave out, with a warning,
    those that do not."""

    def known(d: Mapping[str, Any], key: str, ids: set[int]) -> bool:
        v = d.get(key)
        return isinstance(v, int) and not isinstance(v, bool) and v in ids

    bad_image = sum(not known(d, "image_id", images) for d in dets)
    bad_cat = sum(not known(d, "category_id", cats) for d in dets)
    if dets and (bad_image == len(dets) or bad_cat == len(dets)):
        what = "image_id" if bad_image == len(dets) else "category_id"
        raise DatasetError(
            f"{path}: no detection has an {what} of this dataset (e.g. {dets[0].get(what)!r}); "
            "was it made on another dataset or split?"
        )
    if bad_image or bad_cat:
        print(
            f"synthcv: warning: {path}: {bad_image} detection(s) name an image and {bad_cat} a "
            "category not in this dataset; they are left out",
            file=sys.stderr,
        )
    return [d for d in dets if known(d, "image_id", images) and known(d, "category_id", cats)]


def evaluate_results_file(
    path: Path,
    dataset: Any,
    kinds: Sequence[str] | None = None,
    recall_score: float = 0.5,
    bootstrap: int = 0,
    categories: Sequence[str] | None = None,
) -> tuple[EvalReport, list[dict[str, Any]]]:
    """Score an existing COCO results file against ``dataset``'s ground truth: every
    category of the dataset, or those named in ``categories``."""
    dets = read_detections(path)
    cats = list(dataset.source.coco["categories"])
    dets = check_ids(
        path, dets, {int(i["id"]) for i in dataset.images}, {int(c["id"]) for c in cats}
    )
    if categories is not None:
        names = {str(c.get("name")) for c in cats}
        if unknown := [n for n in categories if n not in names]:
            raise UserError(
                f"--categories: {', '.join(unknown)}: not a category of "
                f"{dataset.source.annotations_path} (it has {', '.join(sorted(names))})"
            )
        cats = [c for c in cats if str(c.get("name")) in set(categories)]
        ids = {int(c["id"]) for c in cats}
        dets = [d for d in dets if d["category_id"] in ids]
    if kinds is None:
        kinds = ["bbox"] + (["segm"] if any("segmentation" in d for d in dets) else [])
        kinds += ["keypoints"] if any("keypoints" in d for d in dets) else []
    t = time.perf_counter()
    gt = gt_document(dataset, [int(c["id"]) for c in cats])
    results = evaluate_documents(gt, dets, kinds, bootstrap)
    report = EvalReport(results, cats, len(dataset.images), len(dets))
    report.qc = dataset_qc(dataset, dets)
    report.frames = tiled_frames(dataset, dets)
    report.recall = recall_of(gt["annotations"], dets, recall_score)
    report.pck = pck_of(gt, dets, recall_score)
    report.timings["cocoeval_s"] = round(time.perf_counter() - t, 3)
    return report, dets


def evaluate_model(
    model: Any,
    arch: str,
    model_categories: Sequence[Mapping[str, Any]],
    dataset: Any,
    device: Any,
    *,
    batch_size: int = 4,
    workers: int = 0,
    progress: bool = False,
    label: str = "evaluate",
    native: int | None = None,
    recall_score: float = 0.5,
    bootstrap: int = 0,
) -> tuple[EvalReport, list[dict[str, Any]]]:
    """Predict on every image of ``dataset`` and run COCOeval for the categories the
    model and the dataset share (and, on a defects dataset, the QC metrics)."""
    where = str(dataset.source.annotations_path)
    cat_ids = match_categories(model_categories, dataset.source.coco["categories"], where)
    bar = Progress(progress, len(dataset), label)
    t = time.perf_counter()
    try:
        dets = predict(
            model, dataset, device, cat_ids, batch_size=batch_size, workers=workers, progress=bar,
            native=native,
        )  # fmt: skip
    finally:
        bar.stop()
    predict_s = time.perf_counter() - t
    known = [c for c in cat_ids if c is not None]
    gt = gt_document(dataset, known)
    kinds = iou_types(arch, any(a.get("segmentation") for a in gt["annotations"]))
    t = time.perf_counter()
    results = evaluate_documents(gt, dets, kinds, bootstrap)
    skipped = [
        str(c.get("name")) for c in dataset.source.coco["categories"] if int(c["id"]) not in known
    ]
    report = EvalReport(results, gt["categories"], len(dataset), len(dets), skipped=skipped)
    report.qc = dataset_qc(dataset, dets)
    report.frames = tiled_frames(dataset, dets)
    report.recall = recall_of(gt["annotations"], dets, recall_score)
    report.pck = pck_of(gt, dets, recall_score)
    report.native = native
    report.timings = {
        "predict_s": round(predict_s, 3),
        "images_per_s": round(len(dataset) / max(predict_s, 1e-9), 3),
        "cocoeval_s": round(time.perf_counter() - t, 3),
    }
    return report, dets


def evaluate_checkpoint(
    checkpoint: Path,
    dataset_dir: Path,
    *,
    split: str | None = None,
    fractions: Mapping[str, float] | None = None,
    split_seed: int | None = None,
    device: str = "auto",
    batch_size: int = 4,
    workers: int = 2,
    score_min: float = 0.01,
    image_size: int | None = None,
    progress: bool = False,
    native: bool = False,
    recall_score: float = 0.5,
    bootstrap: int = 0,
) -> tuple[EvalReport, list[dict[str, Any]]]:
    """Load a ``synthcv train`` checkpoint and evaluate it on a COCO dataset (or one
    by-scene split of it: ``fractions``/``split_seed`` default to the recipe's).

    ``image_size`` replaces the recipe's ``model.min_size``/``max_size`` at test time
    (the model resizes every image to it and maps the boxes back): a model trained on
    large objects may find small ones better on enlarged images. ``native``: never
    resize; windows of the model's input side (its ``min_size``; ``image_size`` when
    given) at native resolution, as a model trained on ``data.crops`` saw them.
    ``bootstrap``: draws of the test scenes for 95 % intervals of AP50
    (:mod:`render.formats.coco_bootstrap`)."""
    from augment.torch_dataset import AugmentedCoco
    from render.machine import check_memory
    from render.training import checkpoint as ckpt_io
    from render.training.models import build_model, resolve_device
    from render.training.recipe import memory_estimate, validate_recipe

    ckpt = ckpt_io.load(checkpoint)
    recipe = validate_recipe(ckpt["recipe"], f"{checkpoint}: recipe")
    if split is not None:
        fractions = fractions or recipe.data.split or {"train": 0.8, "val": 0.2}
        split_seed = recipe.data.split_seed if split_seed is None else split_seed
    dataset = AugmentedCoco(
        dataset_dir, None, split=split, fractions=fractions, split_seed=split_seed or 0, masks=False
    )
    categories = list(ckpt["categories"])
    num_kp = max((len(c.get("keypoints") or []) for c in categories), default=0)
    update: dict[str, Any] = {"score_thresh": score_min}
    if image_size is not None:
        update |= {"min_size": image_size, "max_size": image_size}
    if native:  # the model sees side x side windows and must not resize them
        side = image_size or recipe.model.min_size
        update |= {"min_size": side, "max_size": side}
    model_cfg = recipe.model.model_copy(update=update)
    check_memory(
        memory_estimate(model_cfg, batch_size),
        f"evaluating at {model_cfg.min_size}x{model_cfg.max_size} px, {batch_size} images per batch",
        "lower --image-size or --batch-size",
    )
    model = build_model(model_cfg, len(categories) + 1, num_kp)
    model.load_state_dict(ckpt["model"])
    dev = resolve_device(device)
    model.to(dev)
    try:
        report, dets = evaluate_model(
            model, recipe.model.arch, categories, dataset, dev,
            batch_size=batch_size, workers=workers, progress=progress,
            native=model_cfg.min_size if native else None, recall_score=recall_score,
            bootstrap=bootstrap,
        )  # fmt: skip
    except RuntimeError as exc:
        from render.training.loop import out_of_memory

        raise out_of_memory(exc, "lower --image-size or --batch-size") from None
    report.image_size = (model_cfg.min_size, model_cfg.max_size)
    return report, dets
