"""COCO records synthcv writes: images, annotations, categories.

Extra keys beyond COCO's are named so common tools import them: FiftyOne's
default COCO importer refuses the key ``instance_id`` (a reserved name there), so
an annotation's instance in its scene is ``scene_instance`` and its parent's is
``scene_parent``. Readers accept the older names too (:func:`instance_of`,
:func:`parent_of`), so datasets written before the rename still check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

INSTANCE_KEY = "scene_instance"
"""Annotation key: the object's ``instance_id`` in its scene (the instance pass)."""
PARENT_KEY = "scene_parent"
"""Annotation key: the ``scene_instance`` of the object this one is nested in."""
SEE_THROUGH_KEY = "see_through"
"""Annotation key, ``true`` on an object the eye sees through (a fingerprint's film,
a water drop): the masks of what lies behind it overlap its own."""
_LEGACY = {INSTANCE_KEY: "instance_id", PARENT_KEY: "parent_id"}


def instance_of(ann: Mapping[str, Any]) -> Any:
    """An annotation's scene instance (None when it has none)."""
    return ann.get(INSTANCE_KEY, ann.get(_LEGACY[INSTANCE_KEY]))


def parent_of(ann: Mapping[str, Any]) -> Any:
    """The scene instance of an annotation's parent (None when it has none)."""
    return ann.get(PARENT_KEY, ann.get(_LEGACY[PARENT_KEY]))


def is_see_through(ann: Mapping[str, Any]) -> bool:
    """Whether an annotation is of a see-through object (:data:`SEE_THROUGH_KEY`)."""
    return ann.get(SEE_THROUGH_KEY) is True


def has_hierarchy(anns: Iterable[Mapping[str, Any]]) -> bool:
    return any(parent_of(a) is not None for a in anns)


def image(image_id: int, file_name: str, width: int, height: int, **extra: Any) -> dict[str, Any]:
    """An image entry: COCO's keys first, then ``extra`` in the order given."""
    return {"id": image_id, "file_name": file_name, "width": width, "height": height, **extra}


def annotation(
    ann_id: int,
    image_id: int,
    category_id: int,
    segmentation: Any,
    area: int | float,
    bbox: list[float],
    *,
    iscrowd: int = 0,
    name: str | None = None,
    instance: int | None = None,
    parent: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An annotation entry: COCO's keys, then ``instance_name``, ``scene_instance``,
    ``scene_parent`` when given, then ``extra`` (attributes, keypoints, amodal)."""
    ann: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": segmentation,
        "area": area,
        "bbox": bbox,
        "iscrowd": iscrowd,
    }
    if name is not None:
        ann["instance_name"] = name
    if instance is not None:
        ann[INSTANCE_KEY] = instance
    if parent is not None:
        ann[PARENT_KEY] = parent
    ann.update(extra)
    return ann
