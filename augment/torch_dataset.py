"""The torch ``Dataset`` over any COCO directory (ours, augmented, or a user's real
photos), optionally augmented on the fly with the same
:func:`augment.apply.augment_sample` that ``synthcv augment`` writes with.

Items are in torchvision's detection format (see :meth:`AugmentedCoco.__getitem__`);
:func:`collate` batches them for a ``DataLoader``. torch is imported only when an
item is converted to tensors, so :meth:`AugmentedCoco.sample` works without it.
With a pipeline, item ``i`` in epoch ``e`` equals copy ``e`` of that image written by
``synthcv augment --seed S`` (annotation ids aside); without one, items are the
images and annotations as they are on disk.

Use :func:`data_loader` rather than a plain ``DataLoader`` with ``num_workers > 0``:
it forks its workers with OpenCV's thread pool stopped (a worker forked while the
pool is live hangs in its first OpenCV call). Everything an item depends on (the index, the
seed, the epoch) is read when the item is made, so workers give the same items as
the main process. Call :meth:`AugmentedCoco.set_epoch` before iterating an epoch,
with ``persistent_workers=False`` (the default), so each epoch's workers are
started with the current epoch.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
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
from augment.crops import CropPlan, Crops, choose_window, crop_annotations, has_box
from augment.dataset_io import read_image, read_source
from augment.pipeline import Pipeline
from render.formats import DatasetError, UserError, coco
from render.formats.keypoints import flip_index
from render.formats.splits import split_images


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("AugmentedCoco needs torch: pip install 'synthcv[torch]'") from None
    return torch


def collate(batch: Sequence[tuple[Any, dict[str, Any]]]) -> tuple[tuple[Any, ...], ...]:
    """``DataLoader`` ``collate_fn`` for detection: ``(images, targets)`` as two
    tuples (images of different sizes are not stacked; torchvision's detectors take
    lists)."""
    return tuple(zip(*batch, strict=True))


def worker_init(worker_id: int) -> None:
    """``DataLoader`` ``worker_init_fn``: one OpenCV thread per worker (the workers
    already run in parallel; OpenCV's own threads would oversubscribe the cores)."""
    import cv2

    cv2.setNumThreads(1)


@functools.cache
def _loader_class() -> Any:
    import cv2
    from torch.utils.data import DataLoader

    class ForkSafeLoader(DataLoader):  # type: ignore[misc]
        """Workers start (in ``iter``) with OpenCV's pool stopped in this process."""

        def __iter__(self) -> Any:
            if self.num_workers == 0:
                return super().__iter__()
            threads = cv2.getNumThreads()
            cv2.setNumThreads(1)  # no OpenCV pool threads in this process while it forks
            try:
                return super().__iter__()
            finally:
                cv2.setNumThreads(threads)

    return ForkSafeLoader


def data_loader(dataset: Any, **kwargs: Any) -> Any:
    """A ``torch.utils.data.DataLoader`` over ``dataset`` with :func:`collate` and
    :func:`worker_init` by default, whose worker processes start safely after this
    process has used OpenCV (the augmentations do): forked while OpenCV's thread pool
    is running, a worker deadlocks in its first OpenCV call, so the pool is stopped
    while workers start and restored afterwards (as ``synthcv augment`` does)."""
    kwargs.setdefault("collate_fn", collate)
    kwargs.setdefault("worker_init_fn", worker_init)
    return _loader_class()(dataset, **kwargs)


class AugmentedCoco:
    """A map-style dataset over a COCO directory, optionally augmented on the fly.

    Args:
        root: dataset directory (``root/annotations.json``; images found as
            ``synthcv augment`` finds them: relative to ``root``, then ``root/images``).
        pipeline: from :func:`augment.pipeline.build_pipeline`, or None for no
            augmentation.
        seed: base seed of the augmentation; item ``i`` of epoch ``e`` uses
            ``(seed, image_id, e)``.
        keypoint_center: 0.0 (COCO pixel-index) or 0.5 (continuous coordinates).
        split: keep only this split's images (``train``, ``val`` or ``test``) of the
            deterministic by-scene split that ``synthcv export --split`` uses, with
            ``fractions`` (default train 0.8, val 0.2) and ``split_seed``.
        categories: category names to keep, in label order (label ``k`` is
            ``categories[k - 1]``; 0 is the background, as torchvision expects);
            annotations of other categories are left out. Default: every category of
            the dataset, by id.
        masks: put ``masks`` in the targets (every annotation must have a
            segmentation). False skips decoding them (box or keypoint models).
        crops: train at native resolution on crops (:mod:`augment.crops`): an
            epoch is ``crops.per_image`` positive crops of each image with a box to
            centre on, then negatives to make ``crops.negatives`` of the epoch
            (:class:`augment.crops.CropPlan`), cut before the pipeline is applied.
    """

    def __init__(
        self,
        root: Path,
        pipeline: Pipeline | None = None,
        seed: int = 0,
        keypoint_center: float = 0.0,
        *,
        split: str | None = None,
        fractions: Mapping[str, float] | None = None,
        split_seed: int = 0,
        categories: Sequence[str] | None = None,
        masks: bool = True,
        crops: Crops | None = None,
        crop_around: Sequence[str] | None = None,
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
        self.masks = masks
        cats = sorted(self.source.coco["categories"], key=lambda c: c["id"])
        if categories is not None:
            by_name = {c.get("name"): c for c in cats}
            missing = [n for n in categories if n not in by_name]
            if missing:
                raise DatasetError(
                    f"{self.source.annotations_path}: no category named {missing[0]!r}"
                    f" (categories: {', '.join(str(c.get('name')) for c in cats)})"
                )
            cats = [by_name[n] for n in categories]
        self.categories: list[dict[str, Any]] = cats
        """The kept categories in label order (COCO category dicts)."""
        self.label_of = {int(c["id"]): k for k, c in enumerate(cats, start=1)}
        """COCO category id -> label (1-based)."""
        self.num_keypoints = max((len(c.get("keypoints") or []) for c in cats), default=0)
        """K of the keypoint targets (0: no ``keypoints`` in the targets)."""
        self.flip_idx = {
            int(c["id"]): f
            for c in self.source.coco["categories"]
            if (f := flip_index(c)) is not None
        }
        self._prepared: dict[int, PreparedSample] = {}
        if crops is not None and crop_around is not None:
            ids = {str(c.get("name")): int(c["id"]) for c in self.source.coco["categories"]}
            missing = [n for n in crop_around if n not in ids]
            if missing:
                raise DatasetError(
                    f"{self.source.annotations_path}: data.crops.around names {missing[0]!r}, "
                    "not a category of this dataset"
                )
            crops = dataclasses.replace(crops, around=frozenset(ids[n] for n in crop_around))
        self.crops = crops
        self.plan: CropPlan | None = None
        """With ``crops``: which image and crop each item of an epoch is."""
        if crops is not None:
            boxed = [has_box(self._kept(int(im["id"])), crops.around) for im in self.images]
            self.plan = CropPlan.of(boxed, crops, seed)

    def set_epoch(self, epoch: int) -> None:
        """Select the copy index (call at the start of each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images) if self.plan is None else len(self.plan)

    def _item(self, index: int) -> tuple[int, int, bool]:
        """(image position, crop k, negative) of item ``index`` this epoch."""
        if self.plan is None:
            return index, 0, False
        return self.plan.item(index, self.epoch)

    def entry(self, index: int) -> dict[str, Any]:
        """The COCO image entry item ``index`` comes from (this epoch)."""
        return self.images[self._item(index)[0]]

    def _kept(self, iid: int) -> list[dict[str, Any]]:
        return [a for a in self.source.by_image[iid] if a.get("category_id") in self.label_of]

    def sample(self, index: int) -> AugmentedSample:
        """Item ``index`` as numpy arrays and COCO dicts (no torch needed): the
        augmented image and annotations, or the originals without a pipeline."""
        at, k, negative = self._item(index)
        entry = self.images[at]
        iid = int(entry["id"])
        image = read_image(self.source.paths[iid], int(entry["width"]), int(entry["height"]))
        anns = self._kept(iid)
        if self.crops is not None:
            image, anns = self._crop(image, anns, iid, k, negative)
        if self.pipeline is None:
            return AugmentedSample(image, anns, False, False)
        prep = self._prepared.get(iid) if self.crops is None else None
        if prep is None:
            prep = prepare_sample(anns, image.shape[0], image.shape[1])
            if self.crops is None:
                self._prepared[iid] = prep
        return augment_sample(
            image,
            prep,
            self.pipeline,
            sample_seed(self.seed, iid, self.epoch),
            flip_idx=self.flip_idx,
            keypoint_center=self.keypoint_center,
        )

    def _crop(
        self, image: np.ndarray, anns: list[dict[str, Any]], iid: int, k: int, negative: bool
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Crop ``k`` of an image and its annotations this epoch (augment/crops.py)."""
        assert self.crops is not None
        h, w = image.shape[:2]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, iid, self.epoch, k, 0xC0]))
        x, y, cw, ch, _ = choose_window(h, w, anns, self.crops, negative, rng)
        return (
            np.ascontiguousarray(image[y : y + ch, x : x + cw]),
            crop_annotations(anns, h, w, (x, y, cw, ch)),
        )

    def target(self, index: int, s: AugmentedSample) -> dict[str, Any]:
        """The torchvision target of sample ``s`` (item ``index``), numpy arrays:
        see :meth:`__getitem__`. Annotations whose box has no width or height are
        left out (torchvision's detectors refuse them)."""
        h, w = s.image.shape[:2]
        anns = [a for a in s.annotations if a["bbox"][2] > 0 and a["bbox"][3] > 0]
        boxes = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        out: dict[str, Any] = {
            "boxes": boxes,
            "labels": np.array([self.label_of[a["category_id"]] for a in anns], np.int64),
            "image_id": int(self.entry(index)["id"]),
            "area": np.array([a.get("area", 0) for a in anns], np.float32),
            "iscrowd": np.array([int(a.get("iscrowd", 0)) for a in anns], np.int64),
        }
        if self.masks:
            masks = np.zeros((len(anns), h, w), np.uint8)
            for k, a in enumerate(anns):
                seg = a.get("segmentation")
                if not seg:
                    raise DatasetError(
                        f"{self.source.annotations_path}: annotation {a.get('id')} has no"
                        " segmentation (masks were asked for: a Mask R-CNN needs them)"
                    )
                masks[k] = coco.decode(coco.segmentation_to_rle(seg, h, w))
            out["masks"] = masks
        if self.num_keypoints:
            kps = np.zeros((len(anns), self.num_keypoints, 3), np.float32)
            for k, a in enumerate(anns):
                flat = a.get("keypoints") or []
                if flat:
                    kps[k, : len(flat) // 3] = np.asarray(flat, np.float32).reshape(-1, 3)
            out["keypoints"] = kps
        return out

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        """``(image, target)`` in torchvision's detection format: image (3, H, W)
        float32 in [0, 1]; target ``boxes`` (N, 4) float32 XYXY (COCO ``[x, y, w, h]``
        -> ``[x, y, x + w, y + h]``), ``labels`` (N,) int64 (1-based, see
        ``categories``), ``image_id`` int, ``area`` (N,) float32, ``iscrowd`` (N,)
        int64, ``masks`` (N, H, W) uint8 (with ``masks=True``) and ``keypoints``
        (N, K, 3) float32 ``[x, y, v]`` (when a kept category has K keypoint names;
        annotations without keypoints get ``v = 0`` rows)."""
        torch = _torch()
        s = self.sample(index)
        target = {
            k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
            for k, v in self.target(index, s).items()
        }
        image = torch.from_numpy(np.ascontiguousarray(s.image.transpose(2, 0, 1))).float() / 255.0
        return image, target


class ConcatCoco:
    """Several :class:`AugmentedCoco` (one per COCO directory) as one dataset, with
    one label map: every part keeps the categories of the first, by name (a part
    lacking one of them is refused). Part ``k`` augments with seed ``seed + k``
    (image ids repeat across directories)."""

    def __init__(self, parts: Sequence[AugmentedCoco]):
        if not parts:
            raise UserError("no training datasets")
        names = [c["name"] for c in parts[0].categories]
        for p in parts[1:]:
            if [c["name"] for c in p.categories] != names:
                raise UserError(f"{p.source.annotations_path}: categories differ from the first's")
            if p.num_keypoints != parts[0].num_keypoints:
                raise UserError(
                    f"{p.source.annotations_path}: keypoint count differs from the first's"
                )
        self.parts = list(parts)
        self.categories = parts[0].categories
        self.num_keypoints = parts[0].num_keypoints
        self.images = [im for p in self.parts for im in p.images]
        self._ends = np.cumsum([len(p) for p in self.parts])

    def set_epoch(self, epoch: int) -> None:
        for p in self.parts:
            p.set_epoch(epoch)

    def __len__(self) -> int:
        return int(self._ends[-1])

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        k = int(np.searchsorted(self._ends, index, side="right"))
        start = int(self._ends[k - 1]) if k else 0
        return self.parts[k][index - start]
