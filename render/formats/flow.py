"""Optical flow files: the Middlebury ``.flo`` format (what OpenCV's
``cv2.readOpticalFlow``, PyTorch's and most flow tools read).

Bytes: the float32 tag 202021.25 (``PIEH``), int32 width, int32 height, then
float32 ``(dx, dy)`` per pixel, row by row, little-endian. synthcv writes forward
flow in pixels, x right and y down: the surface point seen at pixel ``(x, y)`` of
frame ``t`` is at ``(x + dx, y + dy)`` in frame ``t + 1``. Values above 1e9 mean
unknown (no surface: the sky).
"""

from __future__ import annotations

import numpy as np

TAG = b"PIEH"
UNKNOWN_ABOVE = 1e9


def encode(flow: np.ndarray) -> bytes:
    """(H, W, 2) flow -> ``.flo`` bytes."""
    flow = np.asarray(flow, dtype="<f4")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    return TAG + np.array([w, h], dtype="<i4").tobytes() + np.ascontiguousarray(flow).tobytes()


def decode(data: bytes) -> np.ndarray:
    """``.flo`` bytes -> float32 (H, W, 2); ValueError when they are not a flow file."""
    if len(data) < 12 or data[:4] != TAG:
        raise ValueError("not a .flo file (no PIEH tag)")
    w, h = (int(v) for v in np.frombuffer(data[4:12], dtype="<i4"))
    if w < 1 or h < 1 or len(data) != 12 + 8 * w * h:
        raise ValueError(f".flo header says {w}x{h}, the file has {len(data) - 12} data bytes")
    return np.frombuffer(data[12:], dtype="<f4").reshape(h, w, 2).astype(np.float32)


def known(flow: np.ndarray) -> np.ndarray:
    """Boolean (H, W): where the flow is known (a surface was hit)."""
    return np.all(np.abs(flow) < UNKNOWN_ABOVE, axis=-1)
