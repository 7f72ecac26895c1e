"""Native-resolution inference: a detector trained on crops at native resolution
(``data.crops``) sees each test image the same way, window by window, never
resized (``synthcv evaluate --native``). Windows of the model's input side overlap
by ``overlap`` pixels; their detections are moved back to the image and merged by
class-wise non-maximum suppression. torch is imported by the caller's process."""

from __future__ import annotations

import math
from typing import Any

OVERLAP = 64
"""Pixels two neighbouring windows share (defects cut by one are whole in the other)."""
NMS_IOU = 0.5


def window_origins(size: int, side: int, overlap: int = OVERLAP) -> list[int]:
    """Start offsets of windows of ``side`` pixels covering ``size`` pixels, at most
    ``side - overlap`` apart (windows overlap by at most half their side), the last
    one ending at the edge."""
    if size <= side:
        return [0]
    step = max(side - overlap, (side + 1) // 2)
    n = math.ceil((size - side) / step) + 1
    return sorted({min(i * step, size - side) for i in range(n)})


def predict_native(model: Any, image: Any, side: int, overlap: int = OVERLAP) -> dict[str, Any]:
    """The detections of ``model`` (eval mode) on ``image`` (3, H, W float tensor)
    at native resolution: windows of ``side`` x ``side`` (smaller images padded with
    zeros, never scaled), boxes (and keypoints) moved back by each window's origin,
    merged by class-wise NMS at IoU 0.5, the best ``detections_per_img`` kept. The
    model must resize ``side`` to itself (``min_size == max_size == side``)."""
    import torch
    from torchvision.ops import batched_nms

    _, h, w = image.shape
    crops, origins = [], []
    for y in window_origins(h, side, overlap):
        for x in window_origins(w, side, overlap):
            crop = image[:, y : y + side, x : x + side]
            if crop.shape[1:] != (side, side):
                pad = image.new_zeros((3, side, side))
                pad[:, : crop.shape[1], : crop.shape[2]] = crop
                crop = pad
            crops.append(crop)
            origins.append((x, y))
    outs = model(crops)
    boxes, scores, labels, kps = [], [], [], []
    for out, (x, y) in zip(outs, origins, strict=True):
        shift = torch.tensor([x, y, x, y], dtype=out["boxes"].dtype, device=out["boxes"].device)
        b = out["boxes"] + shift
        keep = (b[:, 0] < w) & (b[:, 1] < h)  # a box found in the padding: nothing there
        boxes.append(b[keep].clamp(min=0).minimum(torch.tensor([w, h, w, h], device=b.device)))
        scores.append(out["scores"][keep])
        labels.append(out["labels"][keep])
        if "keypoints" in out:
            k = out["keypoints"][keep].clone()
            k[..., 0] += x
            k[..., 1] += y
            kps.append(k)
    merged: dict[str, Any] = {
        "boxes": torch.cat(boxes),
        "scores": torch.cat(scores),
        "labels": torch.cat(labels),
    }
    if kps:
        merged["keypoints"] = torch.cat(kps)
    keep = batched_nms(merged["boxes"], merged["scores"], merged["labels"], NMS_IOU)
    keep = keep[: int(getattr(model.roi_heads, "detections_per_img", 100))]
    return {k: v[keep] for k, v in merged.items()}
