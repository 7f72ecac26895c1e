"""Everything COCO (and the other formats synthcv writes), in one package.

Pure functions of documents and arrays, I/O at the edges:

- :mod:`.coco`: the one owner of pycocotools (RLE encode/decode, area, bbox, merge);
- :mod:`.records`: image, annotation, category and document records;
- :mod:`.keypoints`: keypoint schemas (COCO person) and left/right flip tables;
- :mod:`.masks`, :mod:`.validate`, :mod:`.validate_masks`, :mod:`.validate_keypoints`:
  dataset checks (``synthcv validate``);
- :mod:`.inputs`, :mod:`.images`: bounded, verified reads of datasets from disk;
- :mod:`.splits`: deterministic train/val/test splits by scene;
- :mod:`.yolo`, :mod:`.anomaly`: exporters (``synthcv export``).

Drawing (masks, boxes and keypoints on images) is the report's:
:mod:`render.report.overlay`.

The augmentation stage, the report and the exporters depend on this package and on
nothing else of the renderer; the user-facing error types are re-exported here.
"""

from render.errors import ConfigError, DatasetError, UserError

__all__ = ["ConfigError", "DatasetError", "UserError"]
