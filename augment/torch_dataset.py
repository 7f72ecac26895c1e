"""Online augmentation for training: the same :func:`augment.apply.augment_sample`
that ``synthcv augment`` writes with, called per item.

torch is imported only when an item is converted to tensors (``__getitem__``), so
:meth:`AugmentedCoco.sample` works without it. Item ``i`` in epoch ``e`` equals copy
``e`` of that image written by ``synthcv augment --seed S`` (annotation ids aside).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from augment.apply import (
    AugmentedSample,
    PreparedSample,
    augment_sample,
    prepare_sample,
    sample_seed,
)
from augment.dataset_io import read_image, read_source
from augment.pipeline import Pipeline
from render.formats import UserError, coco
from render.formats.keypoints import flip_index
from render.formats.splits import split_images


class AugmentedCoco:
    """A map-style dataset over a COCO directory, augmented on the fly.

    Args:
        root: dataset directory (``root/annotations.json``).
        pipeline: from :func:`augment.pipeline.build_pipeline`.
        seed: base seed; item ``i`` of epoch ``e`` uses ``(seed, image_id, e)``.
        keypoint_center: 0.0 (COCO pixel-index) or 0.5 (continuous coordinates).
        split: keep only this split's images (``train``, ``val`` or ``test``) of the
            deterministic by-scene split that ``synthcv export --split`` uses, with
            ``fractions`` (default train 0.8, val 0.2) and ``split_seed``.
    """

    def __init__(
        self,
        root: Path,
        pipeline: Pipeline,
        seed: int,
        keypoint_center: float = 0.0,
        *,
        split: str | None = None,
        fractions: Mapping[str, float] | None = None,
        split_seed: int = 0,
    ):
        self.source = read_source(Path(root), None, None)
        self.images = self.source.coco["images"]
        if split is not None:
            fractions = dict(fractions or {"train": 0.8, "val": 0.2})
            if split not in fractions:
                raise UserError(f"split {split!r}: not one of {', '.join(fractions)}")
            of = split_images(self.images, fractions, split_seed)
            self.images = [img for img in self.images if of[img["id"]] == split]
        self.pipeline = pipeline
        self.seed = seed
        self.epoch = 0
        self.keypoint_center = keypoint_center
        self.flip_idx = {
            int(c["id"]): f
            for c in self.source.coco["categories"]
            if (f := flip_index(c)) is not None
        }
        self._prepared: dict[int, PreparedSample] = {}

    def set_epoch(self, epoch: int) -> None:
        """Select the copy index (call at the start of each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, index: int) -> AugmentedSample:
        """Item ``index`` as numpy arrays and COCO dicts (no torch needed)."""
        entry = self.images[index]
        iid = int(entry["id"])
        image = read_image(self.source.paths[iid], int(entry["width"]), int(entry["height"]))
        prep = self._prepared.get(iid)
        if prep is None:
            prep = prepare_sample(self.source.by_image[iid], image.shape[0], image.shape[1])
            self._prepared[iid] = prep
        return augment_sample(
            image,
            prep,
            self.pipeline,
            sample_seed(self.seed, iid, self.epoch),
            flip_idx=self.flip_idx,
            keypoint_center=self.keypoint_center,
        )

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        """``(image, target)`` in torchvision detection form: image (3, H, W) float32
        in [0, 1]; target ``boxes`` (N, 4) xyxy float32, ``labels`` (N,) int64,
        ``masks`` (N, H, W) uint8 (mask annotations only), ``keypoints`` (N, K, 3)
        when every annotation has K keypoints, ``image_id``."""
        try:
            import torch
        except ImportError:
            raise ImportError("AugmentedCoco needs torch: pip install 'synthcv[torch]'") from None
        s = self.sample(index)
        anns = s.annotations
        boxes = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        target: dict[str, Any] = {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.tensor([a["category_id"] for a in anns], dtype=torch.int64),
            "image_id": int(self.images[index]["id"]),
        }
        if anns and all("segmentation" in a for a in anns):
            masks = np.stack([coco.decode(a["segmentation"]) for a in anns]).astype(np.uint8)
            target["masks"] = torch.from_numpy(masks)
        kps = [a.get("keypoints") for a in anns]
        if anns and all(kps) and len({len(k) for k in kps if k}) == 1:
            target["keypoints"] = torch.tensor(kps, dtype=torch.float32).reshape(len(anns), -1, 3)
        image = torch.from_numpy(np.ascontiguousarray(s.image.transpose(2, 0, 1))).float() / 255.0
        return image, target
