"""Training recipe: one YAML file (``configs/train/*.yaml``) loaded into strict,
frozen pydantic models, with ``--set a.b=c`` overrides as for render configs.

Paths in a recipe (datasets, augmentation pipeline) are relative to the current
directory, as on the command line. Pure: no torch here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from render.cfgtypes import Model
from render.config import apply_overrides, format_validation_error, read_yaml
from render.errors import ConfigError
from render.formats.splits import SPLIT_NAMES

Arch = Literal["faster_rcnn", "mask_rcnn", "keypoint_rcnn"]
Backbone = Literal["mobilenet_v3_large_fpn", "resnet50_fpn"]


class CropsConfig(Model):
    """Train at native resolution on square crops of the training images (see
    augment/crops.py): defects stay as many pixels wide as they were rendered."""

    size: int = Field(512, ge=32, le=4096, description="crop side, pixels (no resizing)")
    per_image: int = Field(
        4, ge=1, le=64, description="positive crops per epoch of each image with an 'around' box"
    )
    negatives: float = Field(
        0.25,
        ge=0,
        le=1,
        description="share of an epoch's crops placed where no 'around' box is, drawn "
        "over all images in turn (images without one give only these)",
    )
    around: list[str] | None = Field(
        None, description="category names positive crops centre on (null: every kept one)"
    )


class DataConfig(Model):
    """Where the images come from."""

    train: str | list[str] = Field(
        description="COCO dataset directory to train on (DIR/annotations.json), or a list "
        "of them (trained on together; labels: the first's categories, by name)"
    )
    val: str | None = Field(
        None, description="COCO dataset directory to validate on; null: the val split of train"
    )
    split: dict[str, float] | None = Field(
        default_factory=lambda: {"train": 0.9, "val": 0.1},
        description="with val null: by-scene split of train (render.formats.splits; "
        "synthcv export --split uses the same); null: train on all of train, no validation",
    )
    split_seed: int = Field(0, ge=0, description="seed of the by-scene split")
    categories: list[str] | None = Field(
        None,
        description="category names to train on, in label order (null: all, by id); "
        "annotations of other categories are left out",
    )
    workers: int = Field(2, ge=0, description="DataLoader worker processes")
    crops: CropsConfig | None = Field(
        None, description="train on native-resolution crops (null: whole images, resized)"
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.split is not None:
            bad = [k for k in self.split if k not in SPLIT_NAMES]
            if bad:
                raise ValueError(f"split: {bad[0]!r} is not one of {', '.join(SPLIT_NAMES)}")
            if any(not 0 <= v <= 1 for v in self.split.values()):
                raise ValueError(f"split: fractions must be in [0, 1], got {dict(self.split)}")
            if abs(sum(self.split.values()) - 1.0) > 1e-6:
                raise ValueError(f"split: fractions must sum to 1, got {dict(self.split)}")
            if self.split.get("train", 0) <= 0:
                raise ValueError("split: train must be > 0")
        several = not isinstance(self.train, str)
        if several and not self.train:
            raise ValueError("train: an empty list")
        if several and self.val is None and self.split and self.split.get("val", 0) > 0:
            raise ValueError(
                "train lists several directories: name a val directory (data.val) "
                "or set data.split: null"
            )
        return self


class ModelConfig(Model):
    """Which torchvision detector; nothing is downloaded (weights=None)."""

    arch: Arch = Field(
        "faster_rcnn",
        description="faster_rcnn (boxes), mask_rcnn (+ masks), keypoint_rcnn (+ keypoints)",
    )
    backbone: Backbone = Field(
        "mobilenet_v3_large_fpn",
        description="mobilenet_v3_large_fpn (fast, for CPUs) or resnet50_fpn",
    )
    fine_stride: Literal[4, 8, 16, 32] = Field(
        32,
        description="mobilenet_v3_large_fpn: stride of its finest FPN level. 32 is "
        "torchvision's (two levels at 1/32 of the image: a 20 px person or a 5 px wide "
        "scratch is under a cell); 16 and 8 add levels at 1/16 and 1/8 for small "
        "objects and thin defects (docs/training.md, section 7), at more cost",
    )
    norm: Literal["batch", "group"] = Field(
        "batch",
        description="the backbone's normalisation: batch (BatchNorm, torchvision's own "
        "without pretrained weights) or group (GroupNorm, 32 groups or fewer where a "
        "layer has fewer channels: statistics per image, not per batch, for small "
        "batches from random weights; docs/training.md, section 6)",
    )
    min_size: int = Field(
        512, ge=32, le=4096, description="images are resized so the shorter side is this"
    )
    max_size: int = Field(512, ge=32, le=8192, description="... and the longer at most this")
    anchor_sizes: list[int] = Field(
        default_factory=lambda: [32, 64, 128, 256, 512],
        min_length=5,
        max_length=5,
        description="5 anchor sizes in pixels (resnet50_fpn: one per FPN level; "
        "mobilenet_v3_large_fpn: all five on each of its levels)",
    )
    aspect_ratios: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0], min_length=1, description="anchor h/w ratios"
    )
    rpn_batch_size_per_image: int = Field(
        256, ge=1, description="anchors sampled per image for the RPN loss (torchvision: 256)"
    )
    box_batch_size_per_image: int = Field(
        512,
        ge=1,
        description="proposals sampled per image for the box head's loss (torchvision: 512; "
        "the box head's cost grows with it: 128 is ~3x faster on a CPU)",
    )
    box_head_dim: int = Field(
        1024,
        ge=16,
        description="width of the box head's two fully connected layers (torchvision: 1024; "
        "256 makes them ~4x cheaper, for CPUs)",
    )
    mask_head_dim: int = Field(
        256,
        ge=8,
        description="mask_rcnn: channels of the 4 mask head convolutions (torchvision: 256)",
    )
    keypoint_head_dim: int = Field(
        512,
        ge=8,
        description="keypoint_rcnn: channels of the keypoint head convolutions (torchvision: "
        "512; its cost grows with the square: 128 is ~16x cheaper, for CPUs)",
    )
    keypoint_head_layers: int = Field(
        8, ge=1, le=16, description="keypoint_rcnn: 3x3 convolutions in the keypoint head (8)"
    )
    rpn_post_nms_top_n_train: int = Field(
        2000, ge=1, description="proposals kept per image in training (torchvision: 2000)"
    )
    rpn_post_nms_top_n_test: int = Field(
        1000, ge=1, description="proposals kept per image at inference (torchvision: 1000)"
    )
    score_thresh: float = Field(
        0.05, ge=0, le=1, description="detections below this score are dropped"
    )
    detections_per_image: int = Field(100, ge=1, description="most detections per image")

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.max_size < self.min_size:
            raise ValueError(f"max_size: must be >= min_size ({self.min_size})")
        if any(s <= 0 for s in self.anchor_sizes) or any(r <= 0 for r in self.aspect_ratios):
            raise ValueError("anchor_sizes: sizes and aspect_ratios must be > 0")
        if self.fine_stride != 32 and self.backbone != "mobilenet_v3_large_fpn":
            raise ValueError("fine_stride: only for mobilenet_v3_large_fpn (resnet50_fpn's is 4)")
        return self


class TrainConfig(Model):
    """Optimisation: epochs, batch, learning-rate schedule, checkpoints."""

    epochs: int = Field(12, ge=1, description="passes over the training images")
    batch_size: int = Field(4, ge=1, description="images per step")
    optimizer: Literal["sgd", "adamw"] = Field("sgd", description="sgd (momentum) or adamw")
    lr: float = Field(0.02, gt=0, le=10, description="peak learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd momentum")
    weight_decay: float = Field(1e-4, ge=0, le=1, description="weight decay")
    warmup_steps: int = Field(100, ge=0, description="linear warm-up from lr/1000, steps")
    schedule: Literal["cosine", "step", "constant"] = Field(
        "cosine", description="after warm-up: cosine to 0, step (x gamma at milestones), constant"
    )
    milestones: list[float] = Field(
        default_factory=lambda: [0.67, 0.89],
        description="step schedule: fractions of all steps where lr is multiplied by gamma",
    )
    gamma: float = Field(0.1, gt=0, description="step schedule factor")
    grad_clip: float | None = Field(
        10.0, gt=0, description="clip the gradient norm to this (null: no clipping)"
    )
    amp: bool = Field(True, description="mixed precision on a CUDA GPU (ignored on the CPU)")
    seed: int = Field(0, ge=0, description="seed of the weights' initialisation and data order")
    log_every: int = Field(10, ge=1, description="write a metrics line every N steps")
    checkpoint_every: int = Field(
        0,
        ge=0,
        description="write checkpoints/last.pt every N steps (0: at the end of each epoch); "
        "always at the end",
    )
    keep_checkpoints: bool = Field(
        False, description="also keep every checkpoint as checkpoints/step_NNNNNNN.pt"
    )
    eval_every: int = Field(
        0, ge=0, description="COCOeval on the validation images every N epochs (0: at the end)"
    )


class AugmentConfig(Model):
    """Online augmentation (the same per-sample function as synthcv augment)."""

    pipeline: str | None = Field(
        None, description="albumentations pipeline YAML (configs/augment/*.yaml); null: none"
    )
    seed: int = Field(0, ge=0, description="augmentation seed; epoch e uses copy e")


class Recipe(Model):
    """A training recipe (``synthcv train RECIPE``)."""

    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    augment: AugmentConfig = AugmentConfig()


RESUME_FREE = (
    "data.workers",
    "train.log_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.lr",
    "train.warmup_steps",
    "train.grad_clip",
)
"""Recipe keys that may change when a run is resumed: bookkeeping, and the knobs
that rescue a run whose loss diverged (lower ``train.lr``, longer warm-up, clipping:
the advice ``synthcv train`` gives then). Changes are logged in metrics.jsonl."""


def resume_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{key: [old, new]}`` of the :data:`RESUME_FREE` keys that differ."""
    a, b = flatten(old), flatten(new)
    return {k: [a.get(k), b.get(k)] for k in RESUME_FREE if a.get(k) != b.get(k)}


MEMORY_PER_BACKBONE = {
    "mobilenet_v3_large_fpn": (1.0e9, 950.0),
    "resnet50_fpn": (1.4e9, 2100.0),
}
"""(bytes, bytes per pixel of a batch) of a training process on the CPU, measured
2026-12-06 (peak RSS, batch 2): faster_rcnn/mobilenet 1.32, 1.59, 3.02 GB at 256,
512, 1024 px; mask_rcnn/resnet50 2.48 and 5.72 GB at 512 and 1024 px."""


def memory_estimate(model: ModelConfig, batch_size: int) -> float:
    """Bytes a training (or evaluation) process needs for batches of ``batch_size``
    images resized to ``model.min_size``/``max_size`` (at most min x max pixels)."""
    base, per_pixel = MEMORY_PER_BACKBONE[model.backbone]
    return base + per_pixel * batch_size * model.min_size * model.max_size


def validate_recipe(data: dict[str, Any], source: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {format_validation_error(err, Recipe)}") from None


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe; errors are one line naming the key."""
    path = Path(path)
    return validate_recipe(apply_overrides(read_yaml(path), overrides or []), str(path))


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def check_resume(recipe: Recipe, out: Path) -> None:
    """``--resume``: the recipe must be the run's own (``OUT/recipe.yaml``), outside
    :data:`RESUME_FREE`; checked before any data is read, so a resume without the
    first session's ``--set`` overrides says so instead of failing on their absence."""
    path = out / "recipe.yaml"
    if not path.is_file():
        return
    diff = recipe_difference(read_yaml(path), recipe.model_dump(mode="json"))
    if diff is not None:
        raise ConfigError(
            f"--resume: the recipe differs from the run's {path} ({diff}); give the same --set "
            f"overrides as its first session, or copy {path} out of the run and resume with it"
        )


def recipe_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first key (outside :data:`RESUME_FREE`) whose value differs between two
    recipes as dicts, as ``key: old -> new``; None when they agree.

    ``old`` (a run's or checkpoint's recipe) is read with today's defaults first: a
    key added to the recipe since that run started is not a difference when its
    default is what the run had (a new key's default keeps the old behaviour, as
    ``model.fine_stride: 32`` does)."""
    try:
        old = Recipe.model_validate(old).model_dump(mode="json")
    except ValidationError:  # a key since removed or renamed: compare as written
        pass
    a, b = flatten(old), flatten(new)
    for key in sorted(set(a) | set(b)):
        if key not in RESUME_FREE and a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} -> {b.get(key)!r}"
    return None
