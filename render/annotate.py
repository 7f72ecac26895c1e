"""Instance-id map + object table -> pixel-perfect COCO annotations (pure numpy).

The renderer's instance pass gives, for every pixel, the ``instance_id`` of the
nearest surface (0 = background or an un-annotated prop). An annotated object's
mask is the set of pixels carrying its own id **or the id of any descendant**
(objects whose ``parent_id`` chain leads to it): a product's mask includes its
defects, so masks of two instances overlap only when one is the other's ancestor.

An object with ``see_through`` (a fingerprint's film, a water drop) hides nothing:
where it covers another instance, a second map of the same view rendered without
it (``ViewMaps.behind``) names what lies behind, and that pixel belongs to both
(their masks overlap there; the pixel counts once in a common ancestor's).

One pass over the image: per-id pixel counts by ``bincount`` (or ``np.unique`` for
very large ids), a (labels x objects) membership table built from the hierarchy,
and one scan of the map in column-major order into runs of equal ids, from which
every object's RLE is cut (no full-image mask per object). Area comes from the
counts, bbox from ``pycocotools.mask.toBbox`` on the RLE (via :mod:`render.formats.coco`);
the property tests check both, and the RLE itself, against pycocotools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from render.formats import coco, records
from render.keypoints import coco_keypoints, keypoint_visibility
from render.spec import ObjectSpec, info_attributes

MAX_INSTANCE_ID = 9999
"""Annotation ids are ``image_id * 10000 + instance_id``, so instance ids stay below 10000."""

# Above this id a direct lookup table would be wasteful; fall back to np.unique.
_DIRECT_LUT_LIMIT = 1 << 16


def _check_map(instance_map: np.ndarray) -> None:
    if not isinstance(instance_map, np.ndarray):
        raise ValueError(f"instance_map must be a numpy array, got {type(instance_map).__name__}")
    if instance_map.ndim != 2 or not np.issubdtype(instance_map.dtype, np.integer):
        raise ValueError(
            f"instance_map must be 2-D int (H, W), got shape {instance_map.shape}, "
            f"dtype {instance_map.dtype}"
        )
    if instance_map.size == 0:
        raise ValueError(f"instance_map must be non-empty, got shape {instance_map.shape}")


def _annotated_objects(objects: Sequence[ObjectSpec]) -> list[ObjectSpec]:
    """Annotated objects (instance_id >= 1) sorted by id; validates ids and the hierarchy."""
    annotated = sorted((o for o in objects if o.instance_id > 0), key=lambda o: o.instance_id)
    seen: dict[int, str] = {}
    for o in annotated:
        if o.instance_id > MAX_INSTANCE_ID:
            raise ValueError(
                f"object {o.name!r}: instance_id {o.instance_id} exceeds {MAX_INSTANCE_ID} "
                "(annotation ids are image_id * 10000 + instance_id)"
            )
        if o.instance_id in seen:
            raise ValueError(
                f"duplicate instance_id {o.instance_id} (objects {seen[o.instance_id]!r} and {o.name!r})"
            )
        seen[o.instance_id] = o.name
    for o in annotated:
        if o.parent_id is not None and o.parent_id not in seen:
            raise ValueError(
                f"object {o.name!r}: parent_id {o.parent_id} is not the instance_id of an annotated "
                f"object; known ids: {sorted(seen)}"
            )
    return annotated


def ancestry(annotated: Sequence[ObjectSpec]) -> dict[int, list[int]]:
    """instance_id -> [itself, parent, grandparent, ...]; raises on a parent_id cycle
    (a parent_id naming none of ``annotated`` ends its chain: :func:`_annotated_objects`
    refuses it where annotations are made)."""
    parent = {o.instance_id: o.parent_id for o in annotated}
    chains: dict[int, list[int]] = {}
    for iid in parent:
        chain = [iid]
        cur = parent[iid]
        while cur is not None:
            if cur in chain:
                raise ValueError(f"parent_id cycle through instance ids {chain + [cur]}")
            chain.append(cur)
            cur = parent.get(cur)
        chains[iid] = chain
    return chains


def _refuse_unknown(what: str, present: np.ndarray, known: np.ndarray) -> None:
    """Raise naming the ids of ``present`` (0 aside) that no annotated object has."""
    unknown = sorted(set(present.tolist()) - set(known.tolist()) - {0})
    if unknown:
        more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
        raise ValueError(
            f"{what} contains ids {unknown[:10]}{more} that are not the instance_id of any "
            f"annotated object (known: {known.tolist()})"
        )


class _Table:
    """Labels of one map and their membership in each annotated object's subtree.

    ``labels``: (H, W) intp indices into the label axis; ``member``: uint8 (N, L),
    ``member[k, l] = 1`` when label ``l`` belongs to object ``k`` or a descendant;
    ``counts``: int64 (L,) pixels per label. With ``behind``, each pair (a
    ``see_through`` object's id, the id behind it) that occurs is one more label,
    member of both subtrees.
    """

    def __init__(
        self,
        instance_map: np.ndarray,
        annotated: list[ObjectSpec],
        behind: np.ndarray | None = None,
    ) -> None:
        known = np.array([o.instance_id for o in annotated], dtype=np.int64)
        lo = int(instance_map.min())
        hi = int(instance_map.max())
        if lo < 0:
            raise ValueError(f"instance_map has negative ids (min {lo}); ids must be >= 0")
        if hi < _DIRECT_LUT_LIMIT:
            # Label = the id itself: no sort, one bincount.
            self.labels = instance_map
            self.counts = np.bincount(instance_map.ravel(), minlength=hi + 1).astype(np.int64)
            present = np.flatnonzero(self.counts)
            label_of = {int(i): int(i) for i in known if i <= hi}
        else:
            ids, inverse, counts = np.unique(instance_map, return_inverse=True, return_counts=True)
            self.labels = inverse.reshape(instance_map.shape)
            self.counts = counts.astype(np.int64)
            present = ids
            index = {int(v): i for i, v in enumerate(ids)}
            label_of = {int(i): index[int(i)] for i in known if int(i) in index}
        _refuse_unknown("instance_map", present, known)
        chains = ancestry(annotated)
        row = {o.instance_id: k for k, o in enumerate(annotated)}
        pairs = self._see_through(instance_map, annotated, behind, known)
        self.member = np.zeros((len(annotated), self.counts.size), dtype=np.uint8)
        for iid, chain in chains.items():
            label = label_of.get(iid)
            if label is None:
                continue  # not in view
            for ancestor in chain:
                self.member[row[ancestor], label] = 1
        first = self.counts.size - len(pairs)
        for k, (front, back) in enumerate(pairs):
            for iid in (*chains[front], *chains[back]):
                self.member[row[iid], first + k] = 1
        # Pixels per object, own + descendants.
        self.pixels = self.member.astype(np.int64) @ self.counts

    def _see_through(
        self,
        instance_map: np.ndarray,
        annotated: list[ObjectSpec],
        behind: np.ndarray | None,
        known: np.ndarray,
    ) -> list[tuple[int, int]]:
        """Relabel the pixels where a ``see_through`` object covers another instance
        (``behind`` names it) as one new label per (front, behind) pair, appended
        after the map's labels; returns the pairs in label order."""
        see = [o.instance_id for o in annotated if o.see_through]
        if behind is None or not see:
            return []
        if behind.shape != instance_map.shape or not np.issubdtype(behind.dtype, np.integer):
            raise ValueError(
                f"behind map must be int {instance_map.shape}, got {behind.dtype} {behind.shape}"
            )
        over = np.isin(instance_map, see) & (behind != instance_map) & (behind > 0)
        if not over.any():
            return []
        front, back = instance_map[over].astype(np.int64), behind[over].astype(np.int64)
        _refuse_unknown("behind map", np.unique(back), known)
        codes, inverse = np.unique(front * (MAX_INSTANCE_ID + 1) + back, return_inverse=True)
        labels = np.array(self.labels, dtype=np.intp)  # a copy: the map may be the labels
        labels[over] = self.counts.size + inverse
        self.labels = labels
        self.counts = np.bincount(labels.ravel(), minlength=self.counts.size + codes.size)
        return [(int(c) // (MAX_INSTANCE_ID + 1), int(c) % (MAX_INSTANCE_ID + 1)) for c in codes]

    def rles(self, rows: np.ndarray) -> list[coco.RLE]:
        """Compressed RLEs of the objects at ``rows``.

        The map is scanned once in column-major (pycocotools) order into runs of
        equal labels; an object's RLE is the runs whose label is in its subtree, with
        touching runs merged. The counts are canonical (what ``mask.encode`` gives),
        then compressed by pycocotools via :func:`render.formats.coco.segmentation_to_rle`.
        """
        if rows.size == 0:
            return []
        h, w = self.labels.shape
        flat = np.ascontiguousarray(self.labels.T).ravel()
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [flat.size]))
        selected = self.member[rows][:, flat[starts]].astype(bool)  # (n, runs)
        out = []
        for sel in selected:
            edges = np.diff(np.concatenate(([False], sel, [False])).view(np.int8))
            first = starts[np.flatnonzero(edges == 1)]
            last = ends[np.flatnonzero(edges == -1) - 1]
            bounds = np.concatenate(([0], np.column_stack((first, last)).ravel(), [flat.size]))
            counts = np.diff(bounds)
            if counts[-1] == 0:  # mask ends on the last pixel: encode() emits no empty tail
                counts = counts[:-1]
            out.append(coco.segmentation_to_rle({"size": [h, w], "counts": counts.tolist()}, h, w))
        return out


@dataclass
class ViewMaps:
    """What a renderer gives for one view, as annotation needs it.

    instance: int (H, W), the ``instance_id`` of the nearest surface (0 = none);
    depth: float (H, W) z-depth in metres, ``inf`` where no surface (needed for
    keypoints); K: (3, 3) intrinsics and pose: (4, 4) camera-to-world, OpenCV
    (needed for keypoints); amodal: instance maps of the amodal passes, each
    rendering a set of ``amodal`` objects whose images do not overlap, nothing else;
    behind: the instance map rendered without the ``see_through`` objects, or None.
    """

    instance: np.ndarray
    depth: np.ndarray | None = None
    K: np.ndarray | None = None
    pose: np.ndarray | None = None
    amodal: Sequence[np.ndarray] = field(default_factory=list)
    behind: np.ndarray | None = None


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def _subtrees(annotated: list[ObjectSpec]) -> dict[int, list[int]]:
    """instance_id -> [itself and every descendant's instance_id]."""
    out: dict[int, list[int]] = {o.instance_id: [] for o in annotated}
    for iid, chain in ancestry(annotated).items():
        for ancestor in chain:
            out[ancestor].append(iid)
    return out


def _amodal_rle(maps: ViewMaps, ids: list[int], modal: coco.RLE) -> coco.RLE:
    """The amodal mask of an instance made of ``ids``: every pixel an amodal pass
    shows as one of them, plus its visible pixels (exact when all of ``ids`` were
    rendered in amodal passes: then the visible pixels are already among them)."""
    h, w = maps.instance.shape
    mask = np.zeros((h, w), dtype=bool)
    for amodal_map in maps.amodal:
        if amodal_map.shape != (h, w):
            raise ValueError(f"amodal map must be ({h}, {w}), got {amodal_map.shape}")
        mask |= np.isin(amodal_map, ids)
    return coco.merge([coco.encode(mask), modal])


def _keypoint_fields(
    obj: ObjectSpec, maps: ViewMaps, own: list[int]
) -> tuple[list[float | int], int]:
    if obj.keypoints is None:
        raise ValueError(f"object {obj.name!r} has no keypoints")
    if maps.depth is None or maps.K is None or maps.pose is None:
        raise ValueError(
            f"object {obj.name!r} has keypoints: the view needs depth, K and pose to flag them"
        )
    xy, v = keypoint_visibility(
        np.asarray(obj.keypoints.points),
        np.asarray(obj.keypoints.radius),
        maps.K,
        maps.pose,
        maps.instance,
        maps.depth,
        own,
    )
    return coco_keypoints(xy, v)


def annotate_maps(
    maps: ViewMaps,
    objects: Sequence[ObjectSpec],
    image_id: int,
    min_pixels: int = 1,
    contrast: dict[int, float | None] | None = None,
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """COCO annotations for one rendered view, and visible pixels per instance.

    An object is annotated when its visible pixels (own + descendants) are > 0 and
    >= its ``min_pixels`` if set, else ``min_pixels``; when it has ``annotate`` set
    (an object with ``annotate: false`` only adds its pixels to its ancestors'
    masks); and, for an object with ``min_contrast``, when ``contrast`` (instance id
    -> its contrast in this view, :func:`render.visibility.view_contrasts`) is
    unknown (None, absent) or >= ``min_contrast``. Each annotation: ``id =
    image_id * 10000 + instance_id``, ``image_id``, ``category_id``,
    ``segmentation`` (compressed RLE, ASCII counts), ``area`` (int pixels),
    ``bbox`` ([x, y, w, h] floats, tight, ``w = xmax - xmin + 1``), ``iscrowd`` 0,
    ``instance_name``, ``scene_instance`` (its ``instance_id``), ``scene_parent``
    (its ``parent_id``) when set, ``see_through: true`` when set, ``attributes`` (from ``info``) when non-empty; with ``keypoints``: ``keypoints`` [x, y, v] * K
    and ``num_keypoints``; with ``amodal``: ``segmentation_amodal``,
    ``area_amodal``, ``bbox_amodal`` and ``visibility`` = area / area_amodal. With
    ``maps.behind``, an instance behind a ``see_through`` object keeps the pixels
    it covers (module docstring).
    Instances with ``crowd_below_px`` whose visible box is shorter are instead
    merged into one ``iscrowd: 1`` annotation per category (its id is that of its
    lowest member instance, which has no annotation of its own in this view;
    ``attributes.members`` lists the member instance ids).
    Sorted by id. Returns (annotations, ``{instance_id: visible
    pixels}`` for every annotated-kind object, 0 when not in view). Raises
    ValueError naming the bad shape/dtype/ids.
    """
    instance_map = maps.instance
    _check_map(instance_map)
    image_id = _check_int("image_id", image_id)
    min_pixels = _check_int("min_pixels", min_pixels)
    annotated = _annotated_objects(objects)
    table = _Table(instance_map, annotated, maps.behind)
    visible = {o.instance_id: int(p) for o, p in zip(annotated, table.pixels, strict=True)}
    thresholds = [max(1, o.min_pixels or min_pixels) for o in annotated]
    seen = contrast or {}

    def shows(o: ObjectSpec) -> bool:
        c = seen.get(o.instance_id)
        return o.min_contrast is None or c is None or c >= o.min_contrast

    keep = [
        k
        for k, o in enumerate(annotated)
        if table.pixels[k] >= thresholds[k] and o.annotate and shows(o)
    ]
    rles = table.rles(np.asarray(keep, dtype=np.intp))
    subtree = _subtrees(annotated)
    anns: list[dict[str, Any]] = []
    crowd: dict[int, list[tuple[ObjectSpec, coco.RLE]]] = {}
    for k, rle in zip(keep, rles, strict=True):
        obj = annotated[k]
        box = coco.bbox(rle)
        if obj.crowd_below_px is not None and box[3] < obj.crowd_below_px:
            crowd.setdefault(obj.category_id, []).append((obj, rle))
            continue
        ann = records.annotation(
            image_id * 10000 + obj.instance_id,
            image_id,
            obj.category_id,
            rle,
            int(table.pixels[k]),
            box,
            name=obj.name,
            instance=obj.instance_id,
            parent=obj.parent_id,
        )
        if obj.see_through:
            ann[records.SEE_THROUGH_KEY] = True
        attributes = info_attributes(obj.info)
        if attributes:
            ann["attributes"] = attributes
        if obj.keypoints is not None:
            ann["keypoints"], ann["num_keypoints"] = _keypoint_fields(
                obj, maps, subtree[obj.instance_id]
            )
        if obj.amodal:
            amodal = _amodal_rle(maps, subtree[obj.instance_id], rle)
            ann["segmentation_amodal"] = amodal
            ann["area_amodal"] = coco.area(amodal)
            ann["bbox_amodal"] = coco.bbox(amodal)
            ann["visibility"] = round(ann["area"] / ann["area_amodal"], 4)
        anns.append(ann)
    for category, members in sorted(crowd.items()):
        merged = coco.merge([rle for _, rle in members])
        region = records.annotation(
            image_id * 10000 + min(o.instance_id for o, _ in members),
            image_id,
            category,
            merged,
            coco.area(merged),
            coco.bbox(merged),
            iscrowd=1,
            name=f"crowd_{len(members)}",
            attributes={"members": sorted(o.instance_id for o, _ in members)},
        )
        first = members[0][0].keypoints
        if first is not None:
            region["keypoints"] = [0] * (3 * len(first.points))
            region["num_keypoints"] = 0
        anns.append(region)
    anns.sort(key=lambda a: a["id"])
    return anns, visible


def annotate_view_with_visibility(
    instance_map: np.ndarray, objects: Sequence[ObjectSpec], image_id: int, min_pixels: int = 1
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """:func:`annotate_maps` of an instance map alone (no keypoints, no amodal passes)."""
    return annotate_maps(ViewMaps(instance=instance_map), objects, image_id, min_pixels)


def visible_pixels(instance_map: np.ndarray, objects: Sequence[ObjectSpec]) -> dict[int, int]:
    """Visible pixels per annotated object, own + descendants.

    instance_map: int (H, W) ``instance_id`` of the nearest surface, 0 = background.
    Returns ``{instance_id: pixels}`` for every object with instance_id >= 1
    (0 when not in view). Raises ValueError on bad input, as :func:`annotate_maps`.
    """
    _check_map(instance_map)
    annotated = _annotated_objects(objects)
    table = _Table(instance_map, annotated)
    return {o.instance_id: int(p) for o, p in zip(annotated, table.pixels, strict=True)}


def annotate_view(
    instance_map: np.ndarray, objects: Sequence[ObjectSpec], image_id: int, min_pixels: int = 1
) -> list[dict[str, Any]]:
    """COCO annotations for one rendered view's instance map (:func:`annotate_maps`)."""
    return annotate_view_with_visibility(instance_map, objects, image_id, min_pixels)[0]
