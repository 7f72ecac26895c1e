"""Nuisances on a product's surface: things an inspection camera sees that are not
defects (pure numpy). Each is one physical thing, one mesh part:

- ``dust``: a grit or flake speck, 0.15-1 mm, lying on the surface;
- ``fibre``: a lint fibre or hair, a thin curled ribbon a few mm long;
- ``fingerprint``: a wandering, often partial oval film with ridges bent into a
  loop or an arch (its material's layer draws them);
- ``droplet``: a water droplet, a closed spherical cap (clear, refracting);
- ``print``: an inkjet dot-matrix code (lot, date, time) of round ink dots;
- ``logo``: a maker's printed mark (ring and bar, triangle, roundel, wordmark);
- ``glint``: a tiny metal flake tilted to mirror a light into the camera;
- ``tool_mark`` is a groove (see ``grooves.py``), built by the assembly.

All are built on the final surface and lifted above it (``lift``, metres).
Metres, the product's local frame; every random choice from the given ``rng``.
"""

from __future__ import annotations

import math

import numpy as np

from render.families.defects.geometry import films, glyphs
from render.families.defects.geometry import surface as dg

Film = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(vertices (N, 3), faces (M, 3), fade (N,))."""


def _rotated_frame(normal: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    t1, t2 = dg.tangent_frame(normal)
    c, s = math.cos(angle), math.sin(angle)
    return c * t1 + s * t2, -s * t1 + c * t2


def speck(
    surf: dg.Surface,
    p: np.ndarray,
    n: np.ndarray,
    size: float,
    lift: float,
    rng: np.random.Generator,
) -> Film | None:
    """A dust speck: an irregular flake ``size`` across, its centre raised a little
    (a grain has volume; the raise catches raking light)."""
    spokes = int(rng.integers(6, 10))
    r = size / 2 * rng.uniform(0.55, 1.0, spokes)
    t1, t2 = _rotated_frame(n, rng.uniform(0, 2 * np.pi))
    out = films.outline_patch(surf, p, n, t1, t2, r, lift, max_ring=size)
    if out is None:
        return None
    v, f, fade = out
    v = v + np.outer(fade, n) * size * rng.uniform(0.15, 0.35)
    return v, f, fade


def fibre(
    surf: dg.Surface,
    p: np.ndarray,
    n: np.ndarray,
    length: float,
    width: float,
    lift: float,
    rng: np.random.Generator,
) -> Film | None:
    """A fibre: a curled ribbon ``length`` long, ``width`` wide, draped on the surface."""
    k = max(12, int(length / 1.5e-4))
    t1, t2 = _rotated_frame(n, rng.uniform(0, 2 * np.pi))
    s = np.linspace(-0.5, 0.5, k) * length
    curl = rng.uniform(-1, 1, 3) * np.array([0.25, 0.12, 0.06]) * length
    ph = rng.uniform(0, 2 * np.pi, 3)
    y = sum(
        c * np.sin((i + 1) * np.pi * s / length + q)
        for i, (c, q) in enumerate(zip(curl, ph, strict=True))
    )
    centre = p + np.outer(s, t1) + np.outer(y, t2)
    tangent = np.gradient(centre, axis=0)
    side = np.cross(n, tangent)
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-12)
    w = width * (0.7 + 0.3 * np.sin(np.linspace(0, np.pi, k)))
    pts = np.concatenate([centre + side * w[:, None] / 2, centre - side * w[:, None] / 2])
    snapped, nn = surf.snap_many(pts, length)
    if (nn @ n).min() < math.cos(math.radians(35)) or np.abs(
        (snapped - pts) @ n
    ).max() > 0.2 * length:
        return None
    v = snapped + nn * (lift + width / 2)
    i = np.arange(k - 1)
    f = np.concatenate([np.stack([i, i + 1, i + 1 + k], 1), np.stack([i, i + 1 + k, i + k], 1)])
    return v, dg.facing(v, f, n), np.ones(len(v))


def fingerprint(
    surf: dg.Surface,
    p: np.ndarray,
    n: np.ndarray,
    size: float,
    lift: float,
    rng: np.random.Generator,
) -> tuple[Film, np.ndarray] | None:
    """A fingertip's print, ``size`` long and ~0.7 x as wide, and its ``whorl``
    coordinates (N, 3): each vertex's position in the print's own frame (metres,
    from its core, the across axis stretched so the material's concentric ridges
    come out as the print's ovals; the ridges and smear come from the material).
    Not a clean oval: the outline wanders (harmonics 2-5), half the prints are
    partial (cut off along a chord where the finger rolled off), and the ridge
    field is bent into a loop or an arch about the core and wavers."""
    theta = 2 * np.pi * np.arange(72) / 72
    a, b = size / 2, size / 2 * rng.uniform(0.6, 0.8)
    r = a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
    for h in range(2, 6):
        r *= 1 + rng.uniform(0.02, 0.07) / (h - 1) * np.sin(h * theta + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:  # partial: a chord at 35-80 % of the radius cuts one side off
        phi = rng.uniform(0, 2 * np.pi)
        c = np.cos(theta - phi)
        chord = float(r.mean()) * rng.uniform(0.35, 0.8)
        r = np.where(c > 0, np.minimum(r, chord / np.maximum(c, 1e-6)), r)
    t1, t2 = _rotated_frame(n, rng.uniform(0, 2 * np.pi))
    out = films.outline_patch(surf, p, n, t1, t2, r, lift)
    if out is None:
        return None
    # the core sits off-centre towards the fingertip; ridges are ovals about it
    core = p + t1 * a * rng.uniform(0.1, 0.35) + t2 * b * rng.uniform(-0.15, 0.15)
    rel = out[0] - core
    x, y = rel @ t1, (rel @ t2) * a / b
    # loop or arch: the rings bent about the core; and a slow waver of the ridges
    x = x + rng.uniform(-0.9, 0.9) * y**2 / a
    k = rng.uniform(1.5, 3.5, 2) * np.pi / a
    x = x + 0.04 * a * np.sin(k[0] * y + rng.uniform(0, 6.3))
    y = y + 0.04 * a * np.sin(k[1] * x + rng.uniform(0, 6.3))
    whorl = np.stack([x, y, rel @ n], 1)
    return out, whorl


def droplet(
    surf: dg.Surface, p: np.ndarray, n: np.ndarray, radius: float, contact_deg: float, lift: float
) -> Film | None:
    """A water droplet: a closed spherical cap of footprint ``radius`` meeting the
    surface at ``contact_deg``; its flat base lies ``lift`` above the surface."""
    spokes = 48
    t1, t2 = dg.tangent_frame(n)
    base = films.outline_patch(
        surf, p, n, t1, t2, np.full(spokes, radius), lift, max_ring=radius / 4
    )
    if base is None:
        return None
    bv, bf, fade = base
    alpha = math.radians(contact_deg)
    sphere_r = radius / math.sin(alpha)
    cap_h = sphere_r * (1 - math.cos(alpha))
    rho = (1 - fade) * radius  # the base's rings: radial distance from the centre
    height = np.sqrt(np.maximum(sphere_r**2 - rho**2, 0.0)) - sphere_r * math.cos(alpha)
    top = bv + np.outer(np.clip(height, 0, cap_h), n)
    # the dome shares the base's outer ring, so the cap is closed; the base faces down
    idx_top = len(bv) + np.arange(len(bv))
    outer = np.nonzero(fade <= 0)[0]
    idx_top[outer] = outer
    v = np.concatenate([bv, top])
    f = np.concatenate([bf[:, ::-1], idx_top[bf]])
    used, inv = np.unique(f, return_inverse=True)
    return v[used], inv.reshape(-1, 3).astype(np.int64), np.ones(len(used))


def print_code(
    surf: dg.Surface,
    p: np.ndarray,
    n: np.ndarray,
    height: float,
    lift: float,
    rng: np.random.Generator,
) -> Film | None:
    """An inkjet code: ``glyphs.code_text`` lines of 5x7 dots, characters ``height``
    tall, each dot a little ink disc (octagon) snapped onto the surface."""
    pitch = height / 7
    centres = glyphs.dots(glyphs.code_text(rng), pitch)
    if len(centres) == 0:
        return None
    t1, t2 = _rotated_frame(n, rng.uniform(0, 2 * np.pi))
    centres = centres + rng.normal(0, 0.06 * pitch, centres.shape)  # drop placement jitter
    r = 0.5 * pitch * rng.uniform(0.75, 0.95)
    ang = 2 * np.pi * np.arange(8) / 8
    ring = np.stack([np.cos(ang), np.sin(ang)], 1) * r
    disc = np.concatenate([[[0.0, 0.0]], ring])  # (9, 2)
    uv = (centres[:, None, :] + disc[None]).reshape(-1, 2)
    guess = p + np.outer(uv[:, 0], t1) + np.outer(uv[:, 1], t2)
    snapped, nn = surf.snap_many(guess, 2 * pitch, chunk=9)
    if (nn @ n).min() < math.cos(math.radians(35)) or np.abs((snapped - guess) @ n).max() > height:
        return None
    v = snapped + nn * lift
    k = np.arange(8)
    one = np.stack([np.zeros(8, dtype=np.int64), 1 + k, 1 + (k + 1) % 8], 1)
    f = (one[None] + 9 * np.arange(len(centres))[:, None, None]).reshape(-1, 3)
    fade = np.tile(np.concatenate([[1.0], np.zeros(8)]), len(centres))
    return v, dg.facing(v, f, n), fade


def logo(
    surf: dg.Surface,
    p: np.ndarray,
    n: np.ndarray,
    size: float,
    lift: float,
    rng: np.random.Generator,
) -> Film | None:
    """A printed logo ``size`` wide (``glyphs.logo_bitmap``, a kind drawn from
    ``glyphs.LOGO_KINDS``): each inked cell of its bitmap two triangles of a grid
    snapped onto the surface (cells 0.17-0.7 mm: they follow a can's curve)."""
    kind = str(rng.choice(list(glyphs.LOGO_KINDS)))
    bits = glyphs.logo_bitmap(kind, rng, cells=int(np.clip(size / 2.5e-4, 24, 64)))
    rows, cols = bits.shape
    pitch = size / cols
    r, c = np.nonzero(bits)
    if len(r) == 0:
        return None
    a = r * (cols + 1) + c  # each cell's grid corners: a b (next row), c d (next column)
    b, cc, d = a + cols + 1, a + cols + 2, a + 1
    f = np.concatenate([np.stack([a, b, cc], 1), np.stack([a, cc, d], 1)])
    used, inv = np.unique(f, return_inverse=True)  # row-major: neighbours stay close
    f = inv.reshape(-1, 3)
    u = (used % (cols + 1) - cols / 2) * pitch
    w = (rows / 2 - used // (cols + 1)) * pitch
    t1, t2 = _rotated_frame(n, rng.uniform(0, 2 * np.pi))
    guess = p + np.outer(u, t1) + np.outer(w, t2)
    snapped, nn = surf.snap_many(guess, 2 * pitch + 0.05 * size, chunk=8)
    if (nn @ n).min() < math.cos(math.radians(35)) or np.abs(
        (snapped - guess) @ n
    ).max() > 0.15 * size:
        return None
    v = snapped + nn * lift
    return v, dg.facing(v, f, n), np.ones(len(v))


def glint(
    surf: dg.Surface,
    p: np.ndarray,
    n: np.ndarray,
    size: float,
    light: np.ndarray,
    eye: np.ndarray,
    lift: float,
    rng: np.random.Generator,
) -> Film:
    """A metal flake ``size`` across at ``p`` whose face mirrors ``light`` into
    ``eye`` (both points in the product's frame): its normal is the half vector,
    tilted at most 60 degrees from the surface; it rests ``lift`` above the surface."""
    half = (light - p) / np.linalg.norm(light - p) + (eye - p) / np.linalg.norm(eye - p)
    half /= np.linalg.norm(half)
    if half @ n < 0.5:  # too steep to rest on the surface: tilt it back towards the normal
        half = n * 0.5 + (half - n * (half @ n)) / max(
            np.linalg.norm(half - n * (half @ n)), 1e-9
        ) * math.sqrt(0.75)
    t1, t2 = _rotated_frame(half, rng.uniform(0, 2 * np.pi))
    k = int(rng.integers(5, 8))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = size / 2 * rng.uniform(0.6, 1.0, k)
    ring = np.outer(r * np.cos(ang), t1) + np.outer(r * np.sin(ang), t2)
    rise = float(np.max(-(ring @ n), initial=0.0))  # lift the tilted flake clear of the surface
    c = p + n * (lift + rise)
    v = np.concatenate([c[None], c + ring])
    i = np.arange(k)
    f = np.stack([np.zeros(k, dtype=np.int64), 1 + i, 1 + (i + 1) % k], 1)
    return v, dg.facing(v, f, half), np.ones(len(v))
