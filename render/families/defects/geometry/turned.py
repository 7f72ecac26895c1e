"""Turned (revolved) product families: can, bottle, washer, gear, hex nut, and the
revolve helper they share (pure numpy). See :mod:`render.families.defects.geometry.products`
for the parameters; metres, +Z up, resting on z = 0, centred on the Z axis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from render.geometry import Mesh
from render.geometry.build import grid_faces, merge

MAX_SAG = 2e-5
"""Largest chord sag (metres) of curved product surfaces."""
CAN_LABEL = (0.12, 0.86)
"""Heights (fractions of the can's height) between which its side wall is its label."""
BOTTLE_LABEL = (0.08, 0.5)
"""Heights (fractions of the bottle's height) between which its body is its label."""
MAX_EDGE = 0.004
"""Longest edge (metres) along a revolved profile: keeps faces local, so defect
placement can test a neighbourhood's flatness by face centroids."""


def _segments(radius: float, multiple: int = 8) -> int:
    """Segments of a circle of ``radius`` so the chord sag is <= MAX_SAG."""
    n = math.pi / math.acos(max(-1.0, 1.0 - MAX_SAG / max(radius, 1e-9)))
    return max(multiple, int(math.ceil(n / multiple)) * multiple)


def revolve(profile: np.ndarray, closed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Revolve per-angle profiles about +Z.

    profile: (S, P, 2) float (r, z) for S angles (theta_j = 2 pi j / S) and P points,
    counter-clockwise in the (r, z) half-plane so normals point outward. ``closed``:
    the profile is a loop (washer, gear); else it starts and ends on the axis (can).
    """
    profile = _densify(profile, closed, MAX_EDGE)
    s, p, _ = profile.shape
    theta = 2 * np.pi * np.arange(s) / s
    r, z = profile[..., 0], profile[..., 1]
    verts = np.stack([r * np.cos(theta)[:, None], r * np.sin(theta)[:, None], z], axis=-1).reshape(
        -1, 3
    )
    return verts, grid_faces(s, p if closed else p - 1, p)


def _densify(profile: np.ndarray, closed: bool, max_len: float) -> np.ndarray:
    """Insert points so consecutive profile points are <= max_len apart (every
    angle gets the same subdivision, so the revolved grid stays regular)."""
    nxt = np.roll(profile, -1, axis=1) if closed else profile[:, 1:]
    cur = profile if closed else profile[:, :-1]
    seg = np.linalg.norm(nxt - cur, axis=-1).max(0)
    pieces = []
    for i, length in enumerate(seg):
        n = max(1, int(math.ceil(length / max_len)))
        t = (np.arange(n) / n)[None, :, None]
        pieces.append(cur[:, i : i + 1] + t * (nxt[:, i : i + 1] - cur[:, i : i + 1]))
    if not closed:
        pieces.append(profile[:, -1:])
    return np.concatenate(pieces, axis=1)


def _arc(center: tuple[float, float], radius: float, a0: float, a1: float, n: int) -> np.ndarray:
    t = np.linspace(a0, a1, n)
    return np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], -1)


def can(params: dict[str, Any]) -> Mesh:
    """Cylindrical can standing on z = 0: flat bottom, side wall, a rolled rim
    bead of height ``rim`` and a recessed lid."""
    r, h = float(params["radius"]), float(params["height"])
    rim = min(float(params.get("rim", 0.002)), 0.1 * h)
    bead = _arc((r, h - rim / 2), rim / 2, -math.pi / 2, math.pi / 2, 9)
    prof = np.concatenate(
        [
            [[0.0, 0.0], [r - 0.002, 0.0], [r, 0.002]],
            [[r, CAN_LABEL[0] * h], [r, CAN_LABEL[1] * h]],  # the label's edges: rows
            bead,
            [[r - rim, h], [r - rim, h - 1.5 * rim], [0.0, h - 1.5 * rim]],
        ]
    )
    n = _segments(r)
    return _revolved(prof, n, smooth=True)


def bottle(params: dict[str, Any]) -> Mesh:
    """Bottle standing on z = 0: body of ``radius``, rounded shoulder, neck of
    ``neck_radius`` and a cap lip."""
    r, h, rn = float(params["radius"]), float(params["height"]), float(params["neck_radius"])
    rn = min(rn, 0.7 * r)
    body = 0.6 * h
    shoulder = _arc((rn, body), r - rn, 0.0, math.pi / 2, 12)
    shoulder[:, 1] = body + (shoulder[:, 1] - body) * (0.25 * h) / (r - rn)
    prof = np.concatenate(
        [
            [[0.0, 0.0], [r - 0.003, 0.0], [r, 0.003]],
            [[r, BOTTLE_LABEL[0] * h], [r, BOTTLE_LABEL[1] * h]],  # the label's edges: rows
            shoulder,
            [
                [rn, body + 0.25 * h],
                [rn, h - 0.012],
                [rn * 1.15, h - 0.012],
                [rn * 1.15, h],
                [0.0, h],
            ],
        ]
    )
    return _revolved(prof, _segments(r), smooth=True)


def _revolved(profile: np.ndarray, segments: int, smooth: bool) -> Mesh:
    prof = np.broadcast_to(profile, (segments, *profile.shape))
    v, f = revolve(np.ascontiguousarray(prof), closed=False)
    return merge([(v, f)], smooth=smooth)


def washer(params: dict[str, Any]) -> Mesh:
    """Flat washer: rectangular section with rounded edges (fillet = thickness / 4)."""
    ro, ri, t = float(params["radius"]), float(params["bore_radius"]), float(params["thickness"])
    ri = min(ri, 0.8 * ro)
    f = t / 4
    q = math.pi / 2
    prof = np.concatenate(
        [
            _arc((ri + f, f), f, math.pi, 1.5 * math.pi, 5),
            _arc((ro - f, f), f, 1.5 * math.pi, 2 * math.pi, 5),
            _arc((ro - f, t - f), f, 0.0, q, 5),
            _arc((ri + f, t - f), f, q, math.pi, 5),
        ]
    )
    prof = np.broadcast_to(prof, (_segments(ro), *prof.shape))
    return merge([revolve(np.ascontiguousarray(prof), closed=True)], smooth=True)


def gear(params: dict[str, Any]) -> Mesh:
    """Spur gear with trapezoidal teeth and a central bore, thickness along Z."""
    ro, teeth = float(params["radius"]), int(params["teeth"])
    depth, rb, t = (
        float(params["tooth_depth"]),
        float(params["bore_radius"]),
        float(params["thickness"]),
    )
    if teeth < 3:
        raise ValueError(f"gear: teeth must be >= 3, got {teeth}")
    rb = min(rb, 0.6 * (ro - depth))
    # 10 samples per tooth pitch: root, straight flank, tip (40 %), flank, root
    tooth = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0, 0], dtype=np.float64)
    s = teeth * len(tooth)
    r_out = ro - depth + depth * np.tile(tooth, teeth)
    prof = np.zeros((s, 4, 2))
    prof[:, 0] = np.column_stack([np.full(s, rb), np.zeros(s)])
    prof[:, 1] = np.column_stack([r_out, np.zeros(s)])
    prof[:, 2] = np.column_stack([r_out, np.full(s, t)])
    prof[:, 3] = np.column_stack([np.full(s, rb), np.full(s, t)])
    return merge([revolve(prof, closed=True)])


def hex_nut(params: dict[str, Any]) -> Mesh:
    """Hex nut with the usual 30-degree chamfer on both faces and a plain bore."""
    af, rb, t = (
        float(params["across_flats"]),
        float(params["bore_radius"]),
        float(params["thickness"]),
    )
    rb = min(rb, 0.4 * af)
    s = 6 * 32
    theta = 2 * np.pi * np.arange(s) / s
    # distance to the hexagon (corners at multiples of 60 degrees) along each angle
    local = (theta + np.pi / 6) % (np.pi / 3) - np.pi / 6
    r_hex = (af / 2) / np.cos(local)
    r_ch = 0.95 * af / 2  # chamfer circle on the faces
    slope = math.tan(math.radians(30))
    zs = np.array([0.0, 0.25, 0.5, 0.75, 1.0]) * t
    prof = np.zeros((s, 2 + 2 * len(zs), 2))
    prof[:, 0] = np.column_stack([np.full(s, rb), np.zeros(s)])
    for k, z in enumerate(zs):
        edge = min(z, t - z)
        prof[:, 1 + k, 0] = np.minimum(r_hex, r_ch + edge / slope)
        prof[:, 1 + k, 1] = z
    # make the chamfer cone meet the faces exactly: bottom/top rows at r_ch
    prof[:, 1, 0] = np.minimum(r_hex, r_ch)
    prof[:, len(zs), 0] = np.minimum(r_hex, r_ch)
    prof[:, len(zs) + 1] = np.column_stack([np.full(s, rb), np.full(s, t)])
    prof = prof[:, : len(zs) + 2]
    return merge([revolve(prof, closed=True)])
