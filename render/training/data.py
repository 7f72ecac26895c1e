"""The data of a training run: the datasets a recipe names (train and validation,
whole images or native-resolution crops) and the targets as the model takes them.
torch is imported by the caller's process only when items are made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from render.errors import DatasetError
from render.training.recipe import Recipe


def build_datasets(recipe: Recipe) -> tuple[Any, Any]:
    """(train, val or None) of a recipe: an :class:`augment.torch_dataset.AugmentedCoco`
    per directory (``data.train`` may list several: a
    :class:`~augment.torch_dataset.ConcatCoco` of them, with the first's labels)."""
    from augment.crops import Crops
    from augment.pipeline import build_pipeline, load_pipeline
    from augment.torch_dataset import AugmentedCoco, ConcatCoco

    d, arch = recipe.data, recipe.model.arch
    roots = [Path(r) for r in ([d.train] if isinstance(d.train, str) else d.train)]
    where = ", ".join(map(str, roots))
    pipeline = None
    if recipe.augment.pipeline is not None:
        pipeline = build_pipeline(load_pipeline(recipe.augment.pipeline))
    split = {} if d.val is not None or d.split is None else {"fractions": d.split}
    kw: dict[str, Any] = {"categories": d.categories, "masks": arch == "mask_rcnn"}
    if d.crops is not None:
        c = d.crops
        kw["crops"] = Crops(size=c.size, per_image=c.per_image, negatives=c.negatives)
        kw["crop_around"] = c.around
    if split:
        kw.update(split="train", split_seed=d.split_seed, **split)
    first = AugmentedCoco(roots[0], pipeline, recipe.augment.seed, **kw)
    if (
        arch == "keypoint_rcnn"
        and d.categories is None
        and not all(c.get("keypoints") for c in first.categories)
    ):  # a keypoint model learns the categories that have keypoints
        kw["categories"] = [c["name"] for c in first.categories if c.get("keypoints")]
        first = AugmentedCoco(roots[0], pipeline, recipe.augment.seed, **kw)
    if arch == "keypoint_rcnn" and not first.num_keypoints:
        raise DatasetError(f"{roots[0]}: keypoint_rcnn needs a category with keypoint names")
    names = [c["name"] for c in first.categories]
    kw["categories"] = names
    train: Any = first
    if len(roots) > 1:
        train = ConcatCoco(
            [first]
            + [
                AugmentedCoco(r, pipeline, recipe.augment.seed + k, **kw)
                for k, r in enumerate(roots[1:], 1)
            ]
        )
    if len(train) == 0:
        raise DatasetError(f"{where}: no training images (after the split)")
    val = None
    if d.val is not None:
        val = AugmentedCoco(Path(d.val), None, categories=names, masks=False)
    elif split and d.split and d.split.get("val", 0) > 0:  # one train directory (recipe)
        val = AugmentedCoco(roots[0], None, masks=False, categories=names,
                            split="val", fractions=d.split, split_seed=d.split_seed)  # fmt: skip
    return train, (val if val is not None and len(val) else None)


def model_target(target: dict[str, Any], arch: str, device: Any) -> dict[str, Any]:
    """A loader target as the model trains on it: crowd regions left out."""
    keep = target["iscrowd"] == 0
    out = {"boxes": target["boxes"][keep], "labels": target["labels"][keep]}
    if arch == "mask_rcnn":
        out["masks"] = target["masks"][keep]
    if arch == "keypoint_rcnn":
        out["keypoints"] = target["keypoints"][keep]
    return {k: v.to(device, non_blocking=True) for k, v in out.items()}
