"""render.formats.inputs / render.formats.images: bounded, non-blocking, verified reads."""

from __future__ import annotations

import io
import os
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pytest
from PIL import Image

from render.errors import UserError
from render.formats.images import check_image, decode_rgb, probe_file
from render.formats.inputs import (
    InputError,
    JsonError,
    Limits,
    inside,
    parse_json,
    read_regular,
    relative_name,
)


def png_bytes(img: np.ndarray, **params: int) -> bytes:
    return cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, params.get("level", 3)])[
        1
    ].tobytes()


RGB = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)


def test_named_pipe_directory_and_missing_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a named pipe, not a regular file"):
        read_regular(fifo, 100, "image file")
    with pytest.raises(InputError, match="is a directory, not a regular file"):
        read_regular(tmp_path, 100, "image file")
    with pytest.raises(InputError, match="image file not found"):
        read_regular(tmp_path / "nope", 100, "image file")


def test_size_limit_and_head(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 101)
    with pytest.raises(InputError, match="101 bytes, more than the limit of 100"):
        read_regular(f, 100, "annotations file")
    assert read_regular(f, 200, "x") == b"x" * 101
    assert read_regular(f, 200, "x", head=3) == b"xxx"


def test_paths_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"s")
    (root / "images" / "out.png").symlink_to(tmp_path / "secret.png")
    (root / "images" / "in.png").symlink_to(root / "images" / "out.png")
    for bad in ("/etc/passwd", "../secret.png", "images/../../secret.png", "", 5, "a\x00b"):
        with pytest.raises(InputError, match="file_name"):
            relative_name(bad, "file_name")
    with pytest.raises(InputError, match="outside the dataset root"):
        inside(root, PurePosixPath("images/out.png"), "images[0].file_name")
    with pytest.raises(InputError, match="outside the dataset root"):
        inside(root, PurePosixPath("images/in.png"), "images[0].file_name")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (b'{"a": NaN}', "NaN is not a number in strict JSON"),
        (b'{"a": -Infinity}', "-Infinity is not a number"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": ' + b"9" * 5000 + b"}", "invalid JSON: "),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (b'{"a": 1,}', "invalid JSON at line 1"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_strict_json(text: bytes, needle: str) -> None:
    with pytest.raises(JsonError, match=needle):
        parse_json(text, "ann.json")


def test_limits_overrides() -> None:
    limits = Limits().with_overrides(["json_mb=2", "image_pixels=1e6"])
    assert limits.json_bytes == 2 << 20 and limits.image_pixels == 1_000_000
    for bad in (["nope=1"], ["json_mb"], ["json_mb=-1"], ["json_mb=x"], ["json_mb=nan"]):
        with pytest.raises(UserError, match="--limit"):
            Limits().with_overrides(bad)


@pytest.mark.parametrize("cut", [0.5, -12, -1])
def test_truncated_png_is_an_error(cut: float) -> None:
    data = png_bytes(RGB)
    end = int(len(data) * cut) if cut > 0 else len(data) + int(cut)
    with pytest.raises(InputError, match="cannot decode image"):
        check_image(data[:end], "a.png", Limits())
    with pytest.raises(InputError, match="cannot decode image"):
        decode_rgb(data[:end], "a.png", Limits())


def test_truncated_and_corrupt_jpeg_and_garbage() -> None:
    data = cv2.imencode(".jpg", RGB)[1].tobytes()
    with pytest.raises(InputError, match="a.jpg: cannot decode image"):
        decode_rgb(data[: len(data) - 40], "a.jpg", Limits())
    with pytest.raises(InputError, match="not an image"):
        check_image(b"GIF89a" + bytes(100), "a.gif", Limits())
    with pytest.raises(InputError, match="not an image"):
        check_image(b"", "empty.png", Limits())


def test_pixel_limit_is_checked_on_the_header(tmp_path: Path) -> None:
    data = png_bytes(np.zeros((300, 400, 3), np.uint8))
    with pytest.raises(InputError, match="400x300, more than the limit of 100,000 pixels"):
        check_image(data, "big.png", Limits(image_pixels=100_000))
    (tmp_path / "big.png").write_bytes(data)
    info = probe_file(tmp_path / "big.png", Limits(), head=64)
    assert (info.format, info.width, info.height) == ("PNG", 400, 300)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "LA", "1", "I;16"])
def test_decode_rgb_equals_opencv(mode: str) -> None:
    im = Image.fromarray(RGB)
    im = (
        im.convert("I").point(lambda v: v * 200).convert("I;16")
        if mode == "I;16"
        else im.convert(mode)
    )
    buf = io.BytesIO()
    im.save(buf, "PNG")
    data = buf.getvalue()
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    got = decode_rgb(data, "x.png", Limits())
    assert got.flags.writeable and got.dtype == np.uint8
    assert np.array_equal(got, expected)


def test_decode_rgb_jpeg_equals_opencv() -> None:
    data = cv2.imencode(".jpg", RGB, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    assert np.array_equal(decode_rgb(data, "x.jpg", Limits()), expected)
