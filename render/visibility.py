"""Whether an instance shows in the rendered image: its contrast against its surroundings.

A defect can have plenty of pixels and still be invisible: a shallow scratch under
diffuse light, a dent on a white plate under a dome, a stain where the image clips
at 255. The measure compares the instance's pixels with the pixels of its parent
around it, in the rendered RGB under that view's lighting:

1. ``inside``: the instance's own pixels; ``around``: the parent's own pixels (not
   its other defects or nuisances) within ``ring`` pixels of the instance, ``ring`` =
   half the square root of the instance's area, clipped to 3..12 px (widened 3x
   when fewer than 8 such pixels exist; with none, the contrast is unknown).
2. Both go to CIELAB (D65, from 8-bit sRGB); ``ref`` is the median colour of
   ``around``, taken per cell of ``4 * ring`` px where a cell holds at least 8 of
   them (a long scratch is compared with what lies beside it along its length: across
   a can's bare metal and its printed label, each part against its own side, not
   against the median of both; measured: a white 6 px scratch across both scored 0).
3. with dE the CIE76 colour difference (about 2.3 is a just-noticeable
   difference), two scores (a third below), and contrast = the largest, clipped at 0:

   - *strongest tenth*: P90(dE(inside, ref)) - P90(dE(around, ref));
   - *typical*: median over the instance of dE(median(inside), ref) (per cell,
     median per Lab channel) - median(dE(around, ref)).

The strongest tenth of the instance must differ from the surroundings' typical
colour by more than the strongest tenth of the surroundings themselves (their
texture, noise, shading gradient): it lets a 1-px groove inside a 2-px mask
count and is blind to which way the difference goes (bright and dark groove
walls both count). On a busy texture (a printed label with spots of another
colour) that tenth of the surroundings is the other colour, so the typical
score asks instead whether the instance's typical colour is off the
surroundings' by more than their typical spread: dark ink dots on a spotted
label count. An instance painted in its parent's colour scores about 0 on
both, whatever the texture; a dark crack on a bright plate scores tens.

Both scores miss sparse structure in a wide mask: a ``parallel`` scratch's strip
is ~40 px wide and its grooves' walls are ~3 % of it, so its strongest tenth is
the plain metal between them (measured on a white gear: 1.2-2.1, though the
grooves show plainly). A third score asks whether the instance has colours of its
own, ones its surroundings do not have:

   - *own colours*: with ``A`` and ``B`` the even and odd pixels of ``around`` (in
     raster order), each pixel's distance to the nearest colour in ``A`` (CIE76);
     over the quantiles ``q`` in :data:`OWN_QUANTILES` that leave at least
     :data:`MIN_TAIL` instance pixels above them, the largest
     ``Q_q(inside) - Q_q(B)``.

Colours the surroundings have anywhere (a label's spots, a shading gradient's
range) are near something in ``A``, so the composition of a textured surface
under the mask does not count. Calibrated on the close-up and tile renders of the
sixteenth session (docs/defects.md): instances' own masks translated onto their
parent where no defect is (~900) score >= 3 on it in 0.4 % of cases, against 3-8 %
on the other two scores (a mask landing on a print, a hole's wall or an edge), and
it lifted none past 3 that those two left under it. The parallel scratch scores
5.0-5.3.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy.spatial import cKDTree

from render.spec import ObjectSpec

QUANTILE = 0.9
MIN_AROUND = 8
CELL = 4
OWN_QUANTILES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995)
MIN_TAIL = 20  # instance pixels above a quantile for the own-colours score to use it


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) -> float64 CIELAB (..., 3) (D65 white)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        -1,
    )


def contrast(
    rgb: np.ndarray, instance: np.ndarray, own: Sequence[int], around: Sequence[int]
) -> float | None:
    """Contrast (CIE76 dE units, >= 0) of the pixels whose id is in ``own`` against
    the pixels with ids in ``around`` near them (module docstring); None when the
    instance is not in view or nothing of ``around`` surrounds it.

    rgb: uint8 (H, W, 3) sRGB; instance: int (H, W) instance ids.
    """
    if rgb.shape[:2] != instance.shape or rgb.ndim != 3:
        raise ValueError(f"rgb must be (H, W, 3) over instance {instance.shape}, got {rgb.shape}")
    mask = np.isin(instance, own)
    area = int(mask.sum())
    if area == 0:
        return None
    ring = int(np.clip(round(0.5 * np.sqrt(area)), 3, 12))
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    for r in (ring, 3 * ring):
        y0, y1 = max(0, ys.min() - r), min(h, ys.max() + r + 1)
        x0, x1 = max(0, xs.min() - r), min(w, xs.max() + r + 1)
        inside = mask[y0:y1, x0:x1]
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        near = cv2.dilate(inside.astype(np.uint8), kernel).astype(bool)
        near &= np.isin(instance[y0:y1, x0:x1], around) & ~inside
        if near.sum() >= MIN_AROUND:
            break
    else:
        return None
    lab = srgb_to_lab(rgb[y0:y1, x0:x1])
    # one reference per cell of CELL * ring px (the whole crop for a compact instance)
    cell = CELL * r
    yy, xx = np.indices(inside.shape)
    cells = (yy // cell) * (inside.shape[1] // cell + 1) + xx // cell
    ref_of = np.broadcast_to(np.median(lab[near], axis=0), lab.shape).copy()
    typical_in = np.empty(lab.shape)  # each cell's median instance colour
    typical_in[:] = np.median(lab[inside], axis=0)
    for c in np.unique(cells[inside]):
        here = cells == c
        if (near & here).sum() >= MIN_AROUND:
            ref_of[here] = np.median(lab[near & here], axis=0)
            typical_in[here] = np.median(lab[inside & here], axis=0)
    d_in = np.linalg.norm(lab[inside] - ref_of[inside], axis=1)
    d_out = np.linalg.norm(lab[near] - ref_of[near], axis=1)
    strongest = float(np.quantile(d_in, QUANTILE) - np.quantile(d_out, QUANTILE))
    gap = np.linalg.norm(typical_in[inside] - ref_of[inside], axis=1)
    typical = float(np.median(gap) - np.median(d_out))
    return max(0.0, strongest, typical, own_colours(lab[inside], lab[near]))


def own_colours(lab_in: np.ndarray, lab_around: np.ndarray) -> float:
    """The *own colours* score (module docstring) of an instance's CIELAB pixels
    ``lab_in`` (N, 3) against its surroundings' ``lab_around`` (M, 3), in raster
    order; 0 when too few pixels for any quantile."""
    a, b = lab_around[::2], lab_around[1::2]
    if len(b) < MIN_AROUND // 2:
        return 0.0
    tree = cKDTree(a)
    d_in = tree.query(lab_in)[0]
    d_b = tree.query(b)[0]
    best = 0.0
    for q in OWN_QUANTILES:
        if (1 - q) * len(d_in) < MIN_TAIL:
            break
        best = max(best, float(np.quantile(d_in, q) - np.quantile(d_b, q)))
    return best


def view_contrasts(
    rgb: np.ndarray, instance: np.ndarray, objects: Sequence[ObjectSpec]
) -> dict[int, float | None]:
    """Contrast of every object with ``min_contrast`` set and a parent, in one view:
    ``{instance_id: contrast or None}`` (None: not in view, or no parent pixels
    around it). Its own pixels are the ones of its id alone (not its descendants');
    the surroundings are its parent's own pixels."""
    out: dict[int, float | None] = {}
    for o in objects:
        if o.min_contrast is None or o.parent_id is None or o.instance_id <= 0:
            continue
        c = contrast(rgb, instance, [o.instance_id], [o.parent_id])
        out[o.instance_id] = None if c is None else round(c, 2)
    return out
