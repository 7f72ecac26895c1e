"""Training and evaluating torchvision detectors on COCO datasets (``synthcv train``,
``synthcv evaluate``).

- :mod:`.recipe`: the YAML recipe (pure pydantic, no torch);
- :mod:`.models`: Faster / Mask / Keypoint R-CNN with MobileNetV3-Large-FPN or
  ResNet-50-FPN backbones, random weights (nothing is downloaded);
- :mod:`.loop`: the training loop (checkpoints, resume, metrics, progress);
- :mod:`.checkpoint`: reading and writing checkpoints;
- :mod:`.evaluate`: predictions to COCO results, COCOeval, the QC, recall and PCK
  analyses; :mod:`.eval_report`: what it found as tables and files;
- :mod:`.stats`: step timing.

The data comes through :class:`augment.torch_dataset.AugmentedCoco` (the one
loader); COCO knowledge, including COCOeval, lives in :mod:`render.formats.coco`.
torch is imported inside functions only, so importing this package is cheap.
"""
