"""Scratches, cracks and tool marks as grooves (``grooves.py``): where they run and
how their width and depth vary along them (pure numpy).

Scratch variants: ``single`` (one groove, a gentle arc), ``parallel`` (abrasion:
3-8 fine grooves side by side, of different lengths), ``curved`` (handling: a
tighter arc whose depth comes and goes as the contact does). Width and depth vary
along the length and taper to nothing at both ends; ductile burr lips stand
beside the groove.

Crack variants: ``edge`` (runs in from an edge or a hole's rim, with 1-3
branches), ``star`` (3-5 rays from a stress point). Cracks are jagged (turns of
the path at a 0.3 mm scale), taper from their origin to a sharp tip, and have
steep walls deeper than they are wide, so they are dark. ``open`` cracks (brittle
materials) gape: twice as wide, with still steeper walls.

A tool mark is a band of regular, very shallow feed lines of constant width
whose depth beats with the tool's chatter: a straight pass or a face mill's arc.
Metres, the product's local frame.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from render.families.defects.geometry import surface as dg
from render.families.defects.geometry.chips import edge_site
from render.families.defects.geometry.grooves import Cut, Groove

MIN_MARGIN = 1e-4
"""Strip margin beyond a groove's reach, metres (so faces under it can be removed)."""


def _noise(x: np.ndarray, rng: np.random.Generator, octaves: int = 3) -> np.ndarray:
    """A smooth 1-D noise in about [-1, 1] over x in [0, 1]."""
    out, amp = np.zeros_like(x), 1.0
    for o in range(octaves):
        out += amp * np.sin(2 * np.pi * rng.uniform(1.5, 3.5) * 2**o * x + rng.uniform(0, 6.3))
        amp *= 0.5
    return out / 1.75


def _taper(x: np.ndarray, ends: float) -> np.ndarray:
    t = np.clip(np.minimum(x, 1 - x) / ends, 0, 1)
    return t * t * (3 - 2 * t)


def _band(grooves: list[Groove], min_band: float, count: int) -> np.ndarray:
    reach = max(g.reach for g in grooves)
    return np.full(count, max(min_band / 2, reach + max(MIN_MARGIN, 0.3 * reach)))


def _arc_path(
    surf: dg.Surface,
    p0: np.ndarray,
    n0: np.ndarray,
    length: float,
    radius: float,
    clearance: float,
    rng: np.random.Generator,
    wobble: float = 0.02,
) -> tuple[np.ndarray, np.ndarray]:
    """A path marched along the surface with curvature radius ``radius`` (signed
    at random) and a slow wobble; ``length`` metres at most."""
    t1, t2 = dg.tangent_frame(n0)
    ang = rng.uniform(0, 2 * np.pi)
    step = float(np.clip(length / 60, 1e-4, 5e-4))
    n = int(math.ceil(length / step))
    curve = rng.choice([-1, 1]) * step / radius
    turn = curve + wobble * np.sin(np.arange(n) * rng.uniform(0.05, 0.2))
    start = p0 - (math.cos(ang) * t1 + math.sin(ang) * t2) * length / 2
    start, _ = surf.snap(start[None], start, length)
    return dg.march(
        surf, start[0], math.cos(ang) * t1 + math.sin(ang) * t2, length, step, turn, n0, clearance
    )


def scratch(
    surf: dg.Surface,
    p0: np.ndarray,
    n0: np.ndarray,
    d: dict[str, Any],
    min_band: float,
    rng: np.random.Generator,
) -> list[Cut] | None:
    """The cut of a scratch of variant ``d["variant"]`` centred near ``p0``, or None
    if the surface there is too short for it."""
    variant = str(d.get("variant", "single"))
    length, width = float(d["size"]), float(d.get("width", 1e-4))
    depth = float(d.get("depth", 0.3 * width))
    ductile = bool(d.get("ductile", True))
    count = int(rng.integers(3, 9)) if variant == "parallel" else 1
    spread = width * count * 2.5 if variant == "parallel" else width
    clearance = max(min_band / 2, spread) + MIN_MARGIN
    radius = {"single": (2, 20), "parallel": (6, 30), "curved": (0.4, 1.2)}[variant]
    path, normals = _arc_path(surf, p0, n0, length, length * rng.uniform(*radius), clearance, rng)
    if len(path) < 8 or np.linalg.norm(np.diff(path, axis=0), axis=1).sum() < 0.4 * length:
        return None
    x = np.linspace(0, 1, len(path))
    grooves = []
    offset = -spread / 2
    for _ in range(count):
        w = width * (rng.uniform(0.35, 1.0) if count > 1 else 1.0)
        dep = depth * (rng.uniform(0.3, 1.0) if count > 1 else 1.0)
        if count > 1:
            a, b = sorted(rng.uniform(0, 1, 2))
            a, b = min(a, 0.3), max(b, 0.7)
            xi = np.clip((x - a) / (b - a), 0, 1)
            offset += w * 0.8 + rng.uniform(0.3, 1.5) * width
            centre, offset = offset, offset + w * 0.8
        else:
            xi, centre = x, 0.0
        shape = _taper(xi, 0.12) * (xi > 0) * (xi < 1)
        half = np.maximum(w / 2 * (0.8 + 0.2 * _noise(xi, rng)) * shape, 1e-7)
        deep = dep * (0.65 + 0.35 * _noise(xi, rng)) * shape
        if variant == "curved":  # the contact comes and goes
            gate = np.clip((_noise(xi, rng, 2) + 0.5) / 0.4, 0, 1)
            deep = deep * gate
        grooves.append(Groove(centre, half, deep, lip=0.15 if ductile else 0.0))
    if count > 1:  # centre the set on the path
        mid = (grooves[0].offset + grooves[-1].offset) / 2
        grooves = [Groove(g.offset - mid, g.half, g.depth, g.sharp, g.lip) for g in grooves]
    return [Cut(path, normals, grooves, _band(grooves, min_band, len(path)))]


def _ray(
    surf: dg.Surface,
    start: np.ndarray,
    normal: np.ndarray,
    direction: np.ndarray,
    length: float,
    width: float,
    depth: float,
    jag: float,
    min_band: float,
    rng: np.random.Generator,
    leave: float = 0.0,
    branch: bool = False,
) -> Cut | None:
    """One jagged, tapering fracture from ``start``: ``width`` wide there, a tip at
    the far end. ``leave``: metres before the path must keep clear of edges;
    ``branch``: it leaves another ray, so its strip is no wider than the crack
    there (it must not cover the other ray's groove)."""
    step = float(np.clip(length / 50, 1.5e-4, 4e-4))
    # jagged about a slowly drifting heading: the turns are differences of a bounded
    # jitter, so the path zigzags but never curls back (a random walk of the
    # direction itself made cracks loop)
    heading = rng.normal(0, 0.5 * jag, 256) + np.cumsum(rng.normal(0, 0.04, 256))
    turn = np.diff(heading, prepend=0.0)
    clearance = max(min_band / 2, width) + MIN_MARGIN
    path, normals = dg.march(
        surf, start, direction, length, step, turn, normal, clearance, clear_after=leave
    )
    if len(path) < 6:
        return None
    x = np.linspace(0, 1, len(path))
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    # a tip at the far end; at the origin a wall rising over 0.1 mm (no face may span it)
    tip = np.clip((1 - x) / 0.12, 0, 1) * np.sqrt(np.clip(arc / 1e-4, 0, 1))
    half = width / 2 * (1 - 0.8 * x**0.7) * (0.85 + 0.15 * _noise(x, rng)) * tip
    deep = depth * (1 - 0.6 * x) * (0.8 + 0.2 * _noise(x, rng)) * tip
    g = Groove(0.0, np.maximum(half, 1e-7), deep, sharp=True)
    band = _band([g], min_band, len(path))
    if branch:
        band = np.maximum(
            np.minimum(band, g.half + MIN_MARGIN + 0.5 * arc), g.half + MIN_MARGIN / 2
        )
    return Cut(path, normals, [g], band, branch)


def crack(
    surf: dg.Surface,
    v: np.ndarray,
    f: np.ndarray,
    facing: np.ndarray,
    d: dict[str, Any],
    min_band: float,
    rng: np.random.Generator,
    place: Any,
) -> list[Cut] | None:
    """The cuts of a crack of variant ``d["variant"]`` (``edge`` or ``star``); an
    edge crack falls back to a star where the product has no usable edge.
    ``place(radius, rng) -> (point, normal, radius) | None`` finds an interior spot."""
    length, width = float(d["size"]), float(d.get("width", 2e-4))
    depth = float(d.get("depth", 2 * width))
    if d.get("open", False):  # a brittle part gapes: wider, and deeper still
        width, depth = width * 2, depth * 1.5
    jag = 0.25 + 0.35 * float(d.get("roughness", 0.5))
    for _ in range(6 if d.get("variant", "edge") == "edge" else 0):
        site = edge_site(v, f, facing, 1e-3, rng)
        if site is None:
            break
        # it leaves the edge about square to it; its strip's corners stay on the face
        ang = rng.uniform(-0.25, 0.25)
        band = max(min_band / 2, width) + MIN_MARGIN
        away = 0.6 * width + MIN_MARGIN + band * abs(math.sin(ang)) * 1.2
        start = site.point + site.inward * away
        start, n0 = surf.snap(start[None], start, 2 * away + 1e-3)
        side = np.cross(n0[0], site.inward)
        corners = start[0] + np.outer([-band, band], side)
        snapped, cn = surf.snap(corners, start[0], 2 * band)
        if np.abs(snapped - corners).max() > 0.02 * band or (cn @ n0[0]).min() < 0.95:
            continue  # too narrow a face here (a gear's tooth): try another edge
        direction = math.cos(ang) * site.inward + math.sin(ang) * side
        main = _ray(
            surf,
            start[0],
            n0[0],
            direction,
            length,
            width,
            depth,
            jag,
            min_band,
            rng,
            leave=min_band + width,
        )
        if main is not None:
            return [main, *_branches(surf, main, d, jag, min_band, rng)]
    placed = place(min(length, 0.01) / 2, rng)
    if placed is None:
        return None
    p0, n0, _ = placed
    t1, t2 = dg.tangent_frame(n0)
    cuts: list[Cut] = []
    rays = int(rng.integers(3, 6))
    base = rng.uniform(0, 2 * np.pi)
    for i in range(rays):
        ang = base + 2 * np.pi * i / rays + rng.uniform(-0.4, 0.4)
        direction = math.cos(ang) * t1 + math.sin(ang) * t2
        start = p0 + direction * (0.5 * width + MIN_MARGIN)
        ray = _ray(
            surf,
            start,
            n0,
            direction,
            length / 2 * rng.uniform(0.5, 1.0),
            width * 0.8,
            depth,
            jag,
            min_band,
            rng,
            branch=bool(cuts),
        )
        if ray is not None:
            cuts.append(ray)
    return cuts or None


def _branches(
    surf: dg.Surface,
    main: Cut,
    d: dict[str, Any],
    jag: float,
    min_band: float,
    rng: np.random.Generator,
) -> list[Cut]:
    """1-3 side branches leaving the main crack from its rim."""
    out = []
    g = main.grooves[0]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(main.path, axis=0), axis=1))])
    for _ in range(int(d.get("branches", 2))):
        k = int(rng.integers(max(1, len(main.path) // 5), max(2, 7 * len(main.path) // 10)))
        tangent = main.path[min(k + 1, len(arc) - 1)] - main.path[k - 1]
        tangent /= np.linalg.norm(tangent)
        n = main.normals[k]
        sign = float(rng.choice([-1, 1]))
        side = np.cross(n, tangent) * sign
        ang = rng.uniform(0.45, 1.0)
        direction = math.cos(ang) * tangent + math.sin(ang) * side
        start = main.path[k] + side * float(g.half[k])
        remaining = arc[-1] - arc[k]
        ray = _ray(
            surf,
            start,
            n,
            direction,
            remaining * rng.uniform(0.35, 0.7),
            float(2 * g.half[k]) * 0.8,
            float(g.depth[k]) * 0.8,
            jag,
            min_band,
            rng,
            leave=float(main.band[k]) * 2,
            branch=True,
        )
        if ray is not None:
            out.append(ray)
    return out


def tool_mark(
    surf: dg.Surface,
    p0: np.ndarray,
    n0: np.ndarray,
    length: float,
    width: float,
    depth: float,
    min_band: float,
    rng: np.random.Generator,
) -> Cut | None:
    """A tool mark: the witness of one pass of a cutter, straight or a face mill's
    arc (radius 0.6-3 x its length). Not a scratch: a band ``width`` wide of 3-10
    equally spaced, equally deep feed lines (pitch 0.06-0.2 mm), a few micrometres
    deep, their depth beating with the tool's chatter (period 0.5-2 mm), constant
    width, squared-off ends."""
    straight = rng.random() < 0.5
    radius = 1e3 if straight else length * rng.uniform(0.6, 3.0)
    path, normals = _arc_path(surf, p0, n0, length, radius, min_band / 2 + width, rng, wobble=0)
    if len(path) < 8:
        return None
    count = int(np.clip(round(width / rng.uniform(6e-5, 2e-4)), 3, 10))
    pitch = width / count
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    shape = _taper(s / max(float(s[-1]), 1e-12), 0.03)
    chatter = 0.6 + 0.4 * np.sin(2 * np.pi * s / rng.uniform(5e-4, 2e-3) + rng.uniform(0, 6.3))
    grooves = [
        Groove(
            (k - (count - 1) / 2) * pitch,
            np.full(len(path), 0.32 * pitch) * shape + 1e-7,
            depth * chatter * shape,
        )
        for k in range(count)
    ]
    return Cut(path, normals, grooves, _band(grooves, min_band, len(path)))
