"""MOTChallenge layout of a sequence dataset (pure): ``seqinfo.ini`` and the
ground-truth lines of ``gt/gt.txt``.

One MOT sequence per ``video_id``; frame ``k`` of the sequence is the image with
``frame_index`` k, written as ``img1/{k + 1:06d}{ext}`` (MOT frames count from 1).
A gt line is ``frame, id, left, top, width, height, conf, class, visibility``:

- ``id``: the annotation's ``track_id`` (stable over the sequence);
- the box: the amodal box (the whole person, also where hidden, as MOT17 draws
  them) when the annotation has one, else its visible box; pixels, top-left
  origin, ``left``/``top`` 1-based as MOT's are;
- ``conf`` 1 (evaluated); ``iscrowd`` regions are left out;
- ``class``: MOT17's number for the category names it knows (person/pedestrian 1,
  rider 2, car 3, bicycle 4, motorbike 5, wheelchair and stroller 6: non motorized
  vehicle), else ``100 + category_id``;
- ``visibility``: the annotation's ``visibility`` (visible share of the amodal
  mask), 1 where it has none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

MOT_CLASSES = {
    "person": 1, "pedestrian": 1, "rider": 2, "car": 3, "bicycle": 4, "motorbike": 5,
    "wheelchair": 6, "stroller": 6,  # MOT17's "non motorized vehicle"
}  # fmt: skip


def class_of(category: Mapping[str, Any]) -> int:
    """The MOT class number of a COCO category."""
    return MOT_CLASSES.get(str(category["name"]).lower(), 100 + int(category["id"]))


def sequences(images: Iterable[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    """video_id -> its images in frame order; ValueError names what is wrong (no
    sequence fields, two images for one frame, a missing frame)."""
    out: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for img in images:
        if img.get("video_id") is None or img.get("frame_index") is None:
            raise ValueError(
                f"image {img.get('id')!r} ({img.get('file_name')}) has no video_id/frame_index: "
                "not a sequence dataset (render with render.frames > 1)"
            )
        out[int(img["video_id"])].append(img)
    for video, frames in out.items():
        frames.sort(key=lambda i: int(i["frame_index"]))
        indices = [int(i["frame_index"]) for i in frames]
        if len(set(indices)) != len(indices):
            dup = next(k for k in indices if indices.count(k) > 1)
            raise ValueError(f"video {video}: two images are frame {dup}")
        if indices != list(range(indices[0], indices[0] + len(indices))):
            gap = next(k for k in range(indices[0], indices[-1]) if k not in indices)
            raise ValueError(f"video {video}: frame {gap} is missing")
    return dict(sorted(out.items()))


def gt_lines(
    frames: list[Mapping[str, Any]],
    annotations: Iterable[Mapping[str, Any]],
    classes: Mapping[int, int],
) -> list[str]:
    """The ``gt.txt`` lines of one sequence (``frames`` in order; ``classes``:
    category id -> MOT class), sorted by frame then id."""
    frame_of = {img["id"]: k + 1 for k, img in enumerate(frames)}
    rows = []
    for a in annotations:
        if a["image_id"] not in frame_of or a.get("iscrowd"):
            continue
        if a.get("track_id") is None:
            raise ValueError(f"annotation {a.get('id')!r} has no track_id")
        x, y, w, h = (float(v) for v in (a.get("bbox_amodal") or a["bbox"]))
        vis = float(a.get("visibility", 1.0))
        rows.append((frame_of[a["image_id"]], int(a["track_id"]), x + 1, y + 1, w, h,
                     classes[int(a["category_id"])], vis))  # fmt: skip
    rows.sort(key=lambda r: (r[0], r[1]))
    return [
        f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,{c},{v:.4f}" for f, i, x, y, w, h, c, v in rows
    ]


def seqinfo(name: str, frames: list[Mapping[str, Any]], fps: float, ext: str) -> str:
    """``seqinfo.ini`` of a sequence."""
    first = frames[0]
    return (
        "[Sequence]\n"
        f"name={name}\n"
        "imDir=img1\n"
        f"frameRate={fps:g}\n"
        f"seqLength={len(frames)}\n"
        f"imWidth={int(first['width'])}\n"
        f"imHeight={int(first['height'])}\n"
        f"imExt={ext}\n"
    )
