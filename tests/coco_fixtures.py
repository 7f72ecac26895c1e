"""Tiny on-disk COCO datasets for tests, benchmarks and the contact sheet
(in the spirit of torchvision's ``datasets_utils.inject_fake_data``).

:func:`make_scene` paints a small, plausible scene from a generator: a shaded
background, machined parts (shaded boxes and washers) and a stick-figure person
with the 17 COCO keypoints. Masks come from the final instance-id map, so they
are pixel-perfect and disjoint; keypoints use COCO's pixel-index convention
(pixel centre at integer coordinates) and get ``v = 1`` where occluded.
:func:`write_coco` writes such scenes as a dataset directory with the
segmentation stored as compressed RLE, uncompressed RLE, polygons or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from render.formats import coco

PERSON_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
PERSON_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
    [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]  # fmt: skip
CATEGORIES: list[dict[str, Any]] = [
    {"id": 1, "name": "plate", "supercategory": "part"},
    {"id": 2, "name": "washer", "supercategory": "part"},
    {"id": 3, "name": "person", "supercategory": "person",
     "keypoints": PERSON_KEYPOINTS, "skeleton": PERSON_SKELETON},
]  # fmt: skip

SegFormat = Literal["rle", "uncompressed", "polygon", "none"]


def _shade(h: int, w: int, color: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A linearly lit, slightly noisy (H, W, 3) float colour field."""
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 0.75 + 0.35 * ((np.cos(ang) * xx + np.sin(ang) * yy) / max(h, w))
    noise = rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    return color[None, None, :] * light[:, :, None] + noise


def _person(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stick figure: (mask (H, W) bool, keypoints (17, 2) float, pixel-index coords)."""
    s = rng.uniform(0.45, 0.7) * h
    cx, top = rng.uniform(0.3, 0.7) * w, rng.uniform(0.1, 0.25) * h
    u = s / 8  # head-height units
    sway = rng.uniform(-0.6, 0.6)
    j = {
        "nose": (0.0, 0.5), "left_eye": (0.15, 0.35), "right_eye": (-0.15, 0.35),
        "left_ear": (0.3, 0.45), "right_ear": (-0.3, 0.45),
        "left_shoulder": (0.9, 1.4), "right_shoulder": (-0.9, 1.4),
        "left_elbow": (1.3 + sway, 2.6), "right_elbow": (-1.3, 2.6 - sway),
        "left_wrist": (1.5 + 2 * sway, 3.7), "right_wrist": (-1.6, 3.7 - sway),
        "left_hip": (0.55, 4.0), "right_hip": (-0.55, 4.0),
        "left_knee": (0.7 + sway / 2, 5.7), "right_knee": (-0.7, 5.7),
        "left_ankle": (0.8 + sway, 7.4), "right_ankle": (-0.8, 7.4),
    }  # fmt: skip
    # the person faces the camera: their left is the image's right (+x)
    kps = np.array([[cx + j[n][0] * u, top + j[n][1] * u] for n in PERSON_KEYPOINTS])
    canvas = np.zeros((h, w), np.uint8)
    t = max(2, int(round(0.35 * u)))
    for a, b in PERSON_SKELETON[:12]:
        pa, pb = kps[a - 1].round().astype(int), kps[b - 1].round().astype(int)
        cv2.line(canvas, tuple(pa.tolist()), tuple(pb.tolist()), 1, t)
    torso = kps[[5, 6, 12, 11]].round().astype(np.int32)
    cv2.fillPoly(canvas, [torso], 1)
    head_c = kps[0].round().astype(int)
    cv2.circle(canvas, tuple(head_c.tolist()), max(3, int(round(0.6 * u))), 1, -1)
    for p in kps.round().astype(int):
        cv2.circle(canvas, tuple(p.tolist()), max(1, t // 2 + 1), 1, -1)
    return canvas.astype(bool), kps


def make_scene(
    rng: np.random.Generator, height: int, width: int, *, person: bool = True, n_parts: int = 3
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Paint one scene.

    Returns ``(image, instances)``: image (H, W, 3) uint8 RGB; instances are dicts
    with ``category_id``, ``mask`` (H, W) bool (disjoint, non-empty) and, for the
    person, ``keypoints`` (17, 3) float ``[x, y, v]``.
    """
    h, w = height, width
    bg = _shade(h, w, np.array([120.0, 125.0, 130.0]) * rng.uniform(0.7, 1.2), rng)
    img = bg.copy()
    ids = np.zeros((h, w), np.int32)
    shapes: list[tuple[int, np.ndarray, np.ndarray | None]] = []
    for _ in range(n_parts):
        m = np.zeros((h, w), np.uint8)
        c = (float(rng.uniform(0.15, 0.85) * w), float(rng.uniform(0.15, 0.85) * h))
        size = (float(rng.uniform(0.12, 0.3) * w), float(rng.uniform(0.12, 0.3) * h))
        if rng.random() < 0.5:
            box = cv2.boxPoints((c, size, float(rng.uniform(0, 90))))
            cv2.fillPoly(m, [box.round().astype(np.int32)], 1)
            cat = 1
        else:
            axes = (int(size[0] / 2), int(size[0] / 2 * rng.uniform(0.7, 1.0)))
            cv2.ellipse(m, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            cv2.ellipse(m, (int(c[0]), int(c[1])), (axes[0] // 3, axes[1] // 3), 0, 0, 360, 0, -1)
            cat = 2
        shapes.append((cat, m.astype(bool), None))
    if person:
        pm, kps = _person(h, w, rng)
        shapes.insert(int(rng.integers(0, len(shapes) + 1)), (3, pm, kps))
    for k, (cat, m, _) in enumerate(shapes, start=1):
        color = rng.uniform(40, 230, 3) if cat != 3 else np.array([200.0, 90.0, 60.0])
        layer = _shade(h, w, color, rng)
        img[m] = layer[m]
        ids[m] = k
    img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (3, 3), 0)
    instances: list[dict[str, Any]] = []
    for k, (cat, _, person_kps) in enumerate(shapes, start=1):
        mask = ids == k
        if mask.sum() < 4:
            continue
        inst: dict[str, Any] = {"category_id": cat, "mask": mask}
        if person_kps is not None:
            xy = np.clip(person_kps.round(), [0, 0], [w - 1, h - 1])
            on = mask[xy[:, 1].astype(int), xy[:, 0].astype(int)]
            inst["keypoints"] = np.column_stack([xy, np.where(on, 2, 1)])
        instances.append(inst)
    return img, instances


def _uncompressed(mask: np.ndarray) -> dict[str, Any]:
    flat = mask.astype(np.uint8).ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def _polygons(mask: np.ndarray) -> list[list[float]]:
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def write_coco(
    root: Path,
    rng: np.random.Generator,
    *,
    n_images: int = 3,
    height: int = 48,
    width: int = 64,
    seg: SegFormat = "rle",
    ext: str = ".png",
    person: bool = True,
    first_id: int = 1,
) -> Path:
    """Write a fake COCO dataset to ``root`` (``annotations.json`` + ``images/``)
    and return ``root``. Image ids start at ``first_id``; annotation ids at 1."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for n in range(n_images):
        img, insts = make_scene(rng, height, width, person=person)
        iid = first_id + n
        name = f"images/{iid:06d}{ext}"
        cv2.imwrite(str(root / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        images.append({"id": iid, "file_name": name, "width": width, "height": height, "scene_id": n,
                       "camera_K": [[50.0, 0, width / 2], [0, 50.0, height / 2], [0, 0, 1]],
                       "camera_pose": np.eye(4).tolist()})  # fmt: skip
        for inst in insts:
            m = inst["mask"]
            a: dict[str, Any] = {"id": len(anns) + 1, "image_id": iid, "category_id": inst["category_id"],
                                 "iscrowd": 0, "instance_name": f"obj{len(anns)}"}  # fmt: skip
            if seg == "polygon":
                a["segmentation"] = _polygons(m)
                rle = coco.polygons_to_rle(a["segmentation"], height, width)
            else:
                rle = coco.encode(m)
                if seg == "rle":
                    a["segmentation"] = rle
                elif seg == "uncompressed":
                    a["segmentation"] = _uncompressed(m)
            a["bbox"], a["area"] = coco.bbox(rle), coco.area(rle)
            if "keypoints" in inst:
                k = inst["keypoints"]
                a["keypoints"] = [
                    float(v) if i % 3 < 2 else int(v) for i, v in enumerate(k.ravel())
                ]
                a["num_keypoints"] = int((k[:, 2] > 0).sum())
            anns.append(a)
    doc = {"info": {"description": "synthcv test fixture"}, "images": images,
           "annotations": anns, "categories": CATEGORIES}  # fmt: skip
    (root / "annotations.json").write_text(json.dumps(doc), encoding="utf-8")
    return root


def edit_annotations(root: Path, change: Any) -> None:
    """Apply ``change(doc)`` to ``root/annotations.json`` in place."""
    doc = json.loads((root / "annotations.json").read_text())
    change(doc)
    (root / "annotations.json").write_text(json.dumps(doc))
