"""Films on a product's surface: stains, fingerprints, the bases of droplets and
dust specks (pure numpy).

A film is a disc of rings x spokes whose outline is given per spoke, snapped
onto the final (already dented) surface and lifted along each face's normal by
``offset`` (tens of micrometres, more than any chord sag its rings span), so the
surface never pokes through. Its ``fade`` attribute (1 inside, 0 at the outline)
drives the material's soft falloff. Metres, the product's local frame.
"""

from __future__ import annotations

import math

import numpy as np

from render.families.defects.geometry.surface import (
    Surface,
    facing,
    irregular_radius,
    tangent_frame,
)


def patch(
    surf: Surface,
    center: np.ndarray,
    normal: np.ndarray,
    radius: float,
    roughness: float,
    offset: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """An irregular stain patch: a star-shaped disc (irregular_radius outline)
    snapped onto the surface and lifted by ``offset`` (see :func:`outline_patch`)."""
    spokes = 96
    theta = 2 * np.pi * np.arange(spokes) / spokes
    r_theta = irregular_radius(theta, radius, roughness, rng)
    # a crinkled edge on top of the lobes: a spreading liquid's front is not smooth
    k = np.arange(9, 24)[:, None]
    amp = 0.3 * roughness / k**0.7 * rng.uniform(0.3, 1.0, (len(k), 1))
    crinkle = 1 + (amp * np.cos(k * theta + rng.uniform(0, 2 * np.pi, (len(k), 1)))).sum(0)
    t1, t2 = tangent_frame(normal)
    return outline_patch(surf, center, normal, t1, t2, r_theta * crinkle, offset)


def outline_patch(
    surf: Surface,
    center: np.ndarray,
    normal: np.ndarray,
    t1: np.ndarray,
    t2: np.ndarray,
    r_theta: np.ndarray,
    offset: float,
    max_ring: float = 5e-4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A disc of rings x spokes whose outline is ``r_theta`` (spokes,) metres along
    the directions cos(theta) t1 + sin(theta) t2, snapped onto the surface and
    lifted by ``offset``; rings at most ``max_ring`` apart (so a face spanning a
    crease of the surface sags far less than the offset). Returns (vertices,
    faces, fade (N,): 1 at the centre falling linearly to 0 at the outline), or
    None if the surface under it is not one smooth region (edge, hole, jump)."""
    spokes = len(r_theta)
    theta = 2 * np.pi * np.arange(spokes) / spokes
    rings = int(np.clip(math.ceil(float(r_theta.max()) / max_ring), 4, 24))
    frac = np.arange(1, rings + 1) / rings
    ring_pts = center + (frac[:, None, None] * r_theta[None, :, None]) * (
        np.cos(theta)[None, :, None] * t1 + np.sin(theta)[None, :, None] * t2
    )
    guess = np.concatenate([center[None], ring_pts.reshape(-1, 3)])
    snapped, n = surf.snap_many(guess, 0.3 * float(r_theta.max()))
    if (n @ normal).min() < math.cos(math.radians(35)):
        return None
    h = (snapped - center) @ normal
    rho = np.linalg.norm(guess - center, axis=1)
    # a jump (step onto another surface) shows as a height change steeper than 1:2
    hs = h[1:].reshape(rings, spokes)
    dh = np.abs(np.diff(np.concatenate([np.full((1, spokes), h[0]), hs]), axis=0))
    dr = np.diff(np.concatenate([np.zeros((1, spokes)), rho[1:].reshape(rings, spokes)]), axis=0)
    if (dh > 0.5 * dr + 1e-5).any():
        return None
    verts = snapped + n * offset
    faces = []
    ring0 = 1 + np.arange(spokes)
    faces.append(np.stack([np.zeros(spokes, dtype=np.int64), ring0, np.roll(ring0, -1)], 1))
    for k in range(rings - 1):
        a = 1 + k * spokes + np.arange(spokes)
        b = a + spokes
        faces += [
            np.stack([a, b, np.roll(b, -1)], 1),
            np.stack([a, np.roll(b, -1), np.roll(a, -1)], 1),
        ]
    faces_a = facing(verts, np.concatenate(faces), normal)
    fade = np.concatenate([[1.0], np.repeat(1 - frac, spokes)])
    return verts, faces_a, fade
