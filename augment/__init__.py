"""The augmentation stage: any COCO dataset + an albumentations pipeline (YAML)
-> a new COCO dataset. See ``docs/augment.md``.

- :mod:`augment.pipeline` — YAML -> albumentations ``Compose`` (imports albumentations);
- :mod:`augment.apply` — :func:`~augment.apply.augment_sample`, the one per-sample
  implementation (dataset writer and torch ``Dataset``);
- :mod:`augment.writer` — whole-dataset writer with worker processes;
- :mod:`augment.cli` — ``synthcv augment``.
"""
