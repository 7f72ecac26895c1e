"""Image files from outside, decoded in full and verified: a truncated or corrupt
image is an :class:`~render.formats.inputs.InputError` naming the file, never a
half-grey array or a libpng warning on stderr.

PIL reads the header first (format, size: checked against
:attr:`~render.formats.inputs.Limits.image_pixels` before any pixel is allocated), then
decodes every pixel (PIL raises on truncated data, where OpenCV would print
warnings); a PNG must also end in its ``IEND`` chunk. :func:`decode_rgb` returns
the pixels OpenCV's ``IMREAD_COLOR_RGB`` gives: PIL's for 8-bit images (equal),
OpenCV's own decode for 16-bit, CMYK and EXIF-rotated ones (after PIL verified them).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from render.formats.inputs import InputError, Limits, read_regular

FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP")
"""The decoders PIL may use (not its dozens of exotic ones)."""
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PIL_RGB = {"RGB", "RGBA", "RGBX", "L", "LA", "P", "PA", "1"}
"""Modes whose ``convert("RGB")`` equals OpenCV's ``IMREAD_COLOR_RGB``."""
_ORIENTATION = 0x0112

# Our own pixel limit is checked on the header; PIL's warning would be a second,
# multi-line message on stderr for the same thing.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class ImageInfo:
    """``format`` (PIL's name), ``width`` and ``height`` in pixels."""

    format: str
    width: int
    height: int


def _verified(data: bytes, path: Path | str, limits: Limits) -> Image.Image:
    """The fully decoded PIL image of ``data``; an InputError if it is not one."""
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile bytes
        raise InputError(path, f"not an image ({type(exc).__name__}: {exc})") from None
    w, h = im.size
    if w * h > limits.image_pixels:
        raise InputError(
            path, f"image is {w}x{h}, more than the limit of {limits.image_pixels:,} pixels"
        )
    try:
        im.load()
    except Exception as exc:  # noqa: BLE001 - truncated, corrupt, unsupported variants
        raise InputError(path, f"cannot decode image: {exc}") from None
    if im.format == "PNG" and _PNG_END not in data[-4096:]:
        raise InputError(path, "cannot decode image: PNG is truncated (no IEND chunk)")
    return im


def check_image(data: bytes, path: Path | str, limits: Limits) -> ImageInfo:
    """Decode ``data`` completely; its format and size, or an InputError."""
    im = _verified(data, path, limits)
    return ImageInfo(str(im.format), im.size[0], im.size[1])


def _header(data: bytes, path: Path | str) -> ImageInfo:
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as im:
            return ImageInfo(str(im.format), im.size[0], im.size[1])
    except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile bytes
        raise InputError(path, f"not an image ({type(exc).__name__}: {exc})") from None


def probe_file(path: Path, limits: Limits, head: int = 1 << 16) -> ImageInfo:
    """Format and size from the header of the regular file ``path`` (no pixels):
    its first ``head`` bytes, or all of them if the header lies further in."""
    data = read_regular(path, limits.image_bytes, "image file", head=head)
    try:
        return _header(data, path)
    except InputError:
        if len(data) < head:
            raise
    return _header(read_regular(path, limits.image_bytes, "image file"), path)


def decode_rgb(data: bytes, path: Path | str, limits: Limits) -> np.ndarray:
    """Decode and verify ``data``: (H, W, 3) uint8 RGB, writable, as OpenCV's
    ``IMREAD_COLOR_RGB`` would give it (16-bit scaled to 8, grey and palette
    expanded, alpha dropped, EXIF orientation applied)."""
    im = _verified(data, path, limits)
    rotated = im.getexif().get(_ORIENTATION, 1) not in (1, None)
    if im.mode in _PIL_RGB and not rotated:
        return np.array(im if im.mode == "RGB" else im.convert("RGB"))
    import cv2  # only for the images PIL would convert differently

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    if img is None:
        raise InputError(path, f"cannot decode image (mode {im.mode})")
    return img
