"""Per-class mosaics: a few instances of each class, cropped from their images with
every annotation of the image drawn over it (masks, boxes, keypoints; see
:func:`render.report.overlay.draw_tile`).

Instances are drawn at random (seeded, so a report is reproducible), one per
image. Images are read through :mod:`render.formats.inputs` (inside the dataset
root, size and pixel caps); one that cannot be read becomes a grey tile that says
why, and the report goes on.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from render.formats.images import decode_rgb
from render.formats.inputs import InputError, Limits, Resolver, read_regular, relative_name
from render.report.overlay import draw_tile
from render.report.stats import int_or_none, xywh

TILE = 256  # pixels, square
PER_CLASS = 6
MAX_CLASSES = 100


@dataclass(frozen=True)
class Tile:
    caption: str
    title: str
    jpeg: bytes
    ok: bool


@dataclass(frozen=True)
class Mosaic:
    name: str
    tiles: list[Tile]


def _crop_box(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int]:
    """A square around ``box`` with context (1.6x its longer side, >= 48 px),
    shifted to stay inside the image, clipped when the image is smaller."""
    x, y, bw, bh = box
    side = max(48.0, 1.6 * max(bw, bh) + 16)
    cx, cy = x + bw / 2, y + bh / 2
    sw, sh = min(side, w), min(side, h)
    x0 = min(max(cx - sw / 2, 0.0), w - sw)
    y0 = min(max(cy - sh / 2, 0.0), h - sh)
    return round(x0), round(y0), round(x0 + sw), round(y0 + sh)


def _fit(view: tuple[int, int, int, int]) -> tuple[int, int]:
    """The size ``view`` takes when scaled to fit TILE x TILE."""
    w, h = view[2] - view[0], view[3] - view[1]
    scale = TILE / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _square(img: Image.Image) -> Image.Image:
    """``img`` (at most TILE x TILE) centred on dark grey."""
    out = Image.new("RGB", (TILE, TILE), (40, 40, 40))
    out.paste(img, ((TILE - img.width) // 2, (TILE - img.height) // 2))
    return out


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _placeholder(text: str) -> Image.Image:
    img = Image.new("RGB", (TILE, TILE), (90, 90, 90))
    d = ImageDraw.Draw(img)
    words, line, y = text.split(), "", 8
    for word in words:  # naive wrap at ~30 characters
        if len(line) + len(word) > 30:
            d.text((8, y), line, fill=(255, 255, 255))
            line, y = "", y + 12
        line = f"{line} {word}".strip()
    d.text((8, y), line, fill=(255, 255, 255))
    return img


def _usable(
    anns: Iterable[dict[str, Any]], cats: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Annotations :func:`draw_tile` can draw: a known category and a usable bbox."""
    out = []
    for a in anns:
        box = xywh(a.get("bbox"))
        if box is not None and int_or_none(a.get("category_id")) in cats:
            kps = a.get("keypoints")
            cat = cats[a["category_id"]]
            if kps is not None and not (
                isinstance(kps, list)
                and len(kps) == 3 * len(cat.get("keypoints") or [])
                and all(isinstance(t, int | float) and not isinstance(t, bool) for t in kps)
            ):
                a = {k: v for k, v in a.items() if k != "keypoints"}
            out.append(a)
    return out


class _Images:
    """Decoded images, a few kept for classes that share them."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self.resolver = Resolver(root)
        self.limits = limits
        self.cache: OrderedDict[int, Image.Image | str] = OrderedDict()

    def get(self, image: dict[str, Any]) -> Image.Image | str:
        """The image, or why it cannot be read."""
        iid = image["id"]
        if iid in self.cache:
            self.cache.move_to_end(iid)
            return self.cache[iid]
        try:
            rel = relative_name(image.get("file_name"), f"image {iid}: file_name")
            path = self.resolver.resolve(str(rel), f"image {iid}")
            rgb = decode_rgb(
                read_regular(path, self.limits.image_bytes, "image"), path, self.limits
            )
            got: Image.Image | str = Image.fromarray(rgb)
        except InputError as exc:
            got = f"cannot read: {exc.detail}"
        self.cache[iid] = got
        if len(self.cache) > 16:
            self.cache.popitem(last=False)
        return got


def _draw(
    base: Image.Image,
    anns: list[dict[str, Any]],
    cats: dict[int, dict[str, Any]],
    box: tuple[float, float, float, float],
    cid: int,
) -> Image.Image:
    """The tile of one instance of class ``cid`` (whose name its section shows)."""
    view = _crop_box(box, *base.size)
    size = _fit(view)
    try:
        return draw_tile(base, anns, cats, masks=True, view=view, size=size, unlabelled=cid)
    except Exception:  # noqa: BLE001 - a malformed segmentation: boxes only
        return draw_tile(base, anns, cats, masks=False, view=view, size=size, unlabelled=cid)


def mosaics(
    doc: dict[str, Any],
    root: Path,
    limits: Limits,
    *,
    seed: int = 0,
    per_class: int = PER_CLASS,
    tick: Callable[[], None] | None = None,
) -> list[Mosaic]:
    """Up to ``per_class`` tiles for each of the first MAX_CLASSES categories that
    have instances; ``tick`` is called once per tile (progress)."""
    cats = {
        c["id"]: c
        for c in doc.get("categories") or []
        if isinstance(c, dict) and int_or_none(c.get("id"))
    }
    images = {
        im["id"]: im
        for im in doc.get("images") or []
        if isinstance(im, dict) and int_or_none(im.get("id"))
    }
    by_image: dict[int, list[dict[str, Any]]] = {}
    by_class: dict[int, list[dict[str, Any]]] = {}
    for a in doc.get("annotations") or []:
        if not isinstance(a, dict) or int_or_none(a.get("image_id")) not in images:
            continue
        by_image.setdefault(a["image_id"], []).append(a)
        if (
            not a.get("iscrowd")
            and int_or_none(a.get("category_id")) in cats
            and xywh(a.get("bbox"))
        ):
            by_class.setdefault(a["category_id"], []).append(a)
    loaded = _Images(root, limits)
    rng = np.random.default_rng(seed)
    out: list[Mosaic] = []
    for cid in sorted(by_class)[:MAX_CLASSES]:
        candidates = by_class[cid]
        picked: list[dict[str, Any]] = []
        used: set[int] = set()
        for i in rng.permutation(len(candidates)):
            a = candidates[int(i)]
            if a["image_id"] not in used:
                used.add(a["image_id"])
                picked.append(a)
                if len(picked) == per_class:
                    break
        tiles = []
        for a in sorted(picked, key=lambda t: t["image_id"]):
            image = images[a["image_id"]]
            base = loaded.get(image)
            name = str(image.get("file_name"))
            if isinstance(base, str):
                tiles.append(
                    Tile(Path(name).name, f"{name}: {base}", _jpeg(_placeholder(base)), False)
                )
            else:
                box = xywh(a["bbox"]) or (0.0, 0.0, 1.0, 1.0)
                tile = _draw(base, _usable(by_image[a["image_id"]], cats), cats, box, cid)
                title = f"{name}, annotation {a.get('id')}, bbox {[round(v, 1) for v in box]}"
                tiles.append(Tile(Path(name).name, title, _jpeg(_square(tile)), True))
            if tick is not None:
                tick()
        out.append(Mosaic(str(cats[cid].get("name", cid)), tiles))
    return out
