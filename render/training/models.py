"""torchvision detectors built from a recipe's ``model`` section, never downloading
weights: every backbone is built with ``weights=None`` and trainable BatchNorm (what
torchvision itself does without pretrained weights) or GroupNorm (``model.norm``), so
a model starts from scratch or from a local checkpoint (``synthcv train --init``).

torch and torchvision are imported inside the functions (the CLI imports this
module's callers lazily too).
"""

from __future__ import annotations

from typing import Any

from render.training.recipe import ModelConfig

# MobileNetV3-Large's stages (torchvision's stage indices) whose outputs feed the FPN,
# by the finest stride asked for: 1 -> 1/4, 2 -> 1/8, 3 -> 1/16, 5 -> the last, 1/32.
# 32: torchvision's own choice, stages 4 and 5, both at 1/32.
MOBILENET_STAGES = {32: [4, 5], 16: [3, 5], 8: [2, 3, 5], 4: [1, 2, 3, 5]}


GROUPS = 32  # GroupNorm's groups (Wu & He, 2018), fewer where a layer has fewer channels


def norm_layer(cfg: ModelConfig) -> Any:
    """The backbone's normalisation layer, called with a channel count."""
    from math import gcd

    from torch import nn

    if cfg.norm == "batch":
        return nn.BatchNorm2d

    def group_norm(channels: int) -> nn.Module:
        return nn.GroupNorm(gcd(GROUPS, channels), channels)

    return group_norm


def build_backbone(cfg: ModelConfig) -> Any:
    """An FPN backbone with random weights: MobileNetV3-Large (FPN on the stages
    ``cfg.fine_stride`` asks for, plus a pooled level; torchvision's default: two
    levels at stride 32) or ResNet-50 (5 levels, strides 4-64)."""
    from torchvision.models.detection.backbone_utils import (
        mobilenet_backbone,
        resnet_fpn_backbone,
    )

    if cfg.backbone == "mobilenet_v3_large_fpn":
        return mobilenet_backbone(
            backbone_name="mobilenet_v3_large",
            weights=None,
            fpn=True,
            norm_layer=norm_layer(cfg),
            trainable_layers=6,
            returned_layers=MOBILENET_STAGES[cfg.fine_stride],
        )
    return resnet_fpn_backbone(
        backbone_name="resnet50", weights=None, norm_layer=norm_layer(cfg), trainable_layers=5
    )


def anchor_generator(cfg: ModelConfig) -> Any:
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    ratios = tuple(float(r) for r in cfg.aspect_ratios)
    if cfg.backbone == "mobilenet_v3_large_fpn":
        levels = len(MOBILENET_STAGES[cfg.fine_stride]) + 1  # and the pooled one
        sizes: tuple[tuple[int, ...], ...] = (tuple(cfg.anchor_sizes),) * levels
    else:
        sizes = tuple((s,) for s in cfg.anchor_sizes)
    return AnchorGenerator(sizes, (ratios,) * len(sizes))


def build_model(cfg: ModelConfig, num_classes: int, num_keypoints: int = 0) -> Any:
    """A torchvision Faster/Mask/Keypoint R-CNN with random weights.

    Args:
        cfg: the recipe's model section (architecture, backbone, image size, anchors).
        num_classes: categories + 1 (label 0 is the background).
        num_keypoints: K, for ``keypoint_rcnn`` (>= 1 there).
    """
    from torchvision.models.detection import FasterRCNN, KeypointRCNN, MaskRCNN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.keypoint_rcnn import (
        KeypointRCNNHeads,
        KeypointRCNNPredictor,
    )
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

    if cfg.arch == "keypoint_rcnn" and num_keypoints < 1:
        raise ValueError("keypoint_rcnn needs a category with keypoint names")
    common: dict[str, Any] = {
        "min_size": cfg.min_size,
        "max_size": cfg.max_size,
        "rpn_anchor_generator": anchor_generator(cfg),
        "box_score_thresh": cfg.score_thresh,
        "box_detections_per_img": cfg.detections_per_image,
        "rpn_batch_size_per_image": cfg.rpn_batch_size_per_image,
        "box_batch_size_per_image": cfg.box_batch_size_per_image,
        "rpn_pre_nms_top_n_train": cfg.rpn_post_nms_top_n_train,
        "rpn_post_nms_top_n_train": cfg.rpn_post_nms_top_n_train,
        "rpn_pre_nms_top_n_test": cfg.rpn_post_nms_top_n_test,
        "rpn_post_nms_top_n_test": cfg.rpn_post_nms_top_n_test,
    }
    if cfg.backbone == "mobilenet_v3_large_fpn":
        common["rpn_score_thresh"] = 0.05  # torchvision's default for this backbone
    backbone = build_backbone(cfg)
    # the box head torchvision builds by default, with its width from the recipe
    # (RoIAlign output: 7 x 7 x the FPN's channels)
    common["box_head"] = TwoMLPHead(backbone.out_channels * 7 * 7, cfg.box_head_dim)
    common["box_predictor"] = FastRCNNPredictor(cfg.box_head_dim, num_classes)
    if cfg.arch == "faster_rcnn":
        return FasterRCNN(backbone, None, **common)
    if cfg.arch == "mask_rcnn":
        dim = cfg.mask_head_dim
        common["mask_head"] = MaskRCNNHeads(backbone.out_channels, [dim] * 4, 1)
        common["mask_predictor"] = MaskRCNNPredictor(dim, 256, num_classes)
        return MaskRCNN(backbone, None, **common)
    dim = cfg.keypoint_head_dim
    common["keypoint_head"] = KeypointRCNNHeads(
        backbone.out_channels, [dim] * cfg.keypoint_head_layers
    )
    common["keypoint_predictor"] = KeypointRCNNPredictor(dim, num_keypoints)
    return KeypointRCNN(backbone, None, **common)


def count_parameters(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def resolve_device(name: str) -> Any:
    """``auto`` (a CUDA GPU when torch sees one, else the CPU), ``cpu`` or ``cuda``;
    asking for ``cuda`` without one is a one-line error."""
    import torch

    from render.errors import UserError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA GPU (use --device cpu or auto)")
    if name not in ("cpu", "cuda"):
        raise UserError(f"--device {name}: expected auto, cpu or cuda")
    return torch.device(name)
