"""Measured defect sizes and severity (render/families/defects/measure.py).

The measures the generator reports are checked against an independent measurement
of the same built geometry: the defect's faces rasterised top-down on a fine grid
(point-in-triangle at pixel centres), its length the largest distance between two
covered pixels, its width twice the largest distance-transform value, its depth
from the plate's known top face.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from render.families.defects import measure
from render.families.defects.config import DefectsScene
from render.families.defects.geometry import assemblies
from render.families.defects.geometry import surface as dg
from render.families.defects.qc_config import AcceptanceLimits

PLATE = {
    "family": "plate",
    "length": 0.1,
    "width": 0.07,
    "thickness": 0.008,
    "chamfer": 0.001,
    "holes": 2,
    "hole_radius": 0.003,
    "countersink": 0.0,
}
TOP = PLATE["thickness"]
MIN_W = 6e-4

CASES = [
    {"type": "scratch", "variant": "single", "size": 0.025, "width": 3e-4, "depth": 6e-5},
    {"type": "scratch", "variant": "parallel", "size": 0.02, "width": 2e-4, "depth": 4e-5},
    {"type": "scratch", "variant": "curved", "size": 0.02, "width": 2.5e-4, "depth": 5e-5},
    {"type": "crack", "variant": "edge", "size": 0.02, "width": 3e-4, "depth": 5e-4, "branches": 2},
    {"type": "crack", "variant": "star", "size": 0.016, "width": 3e-4, "depth": 4e-4},
    {"type": "stain", "size": 0.012, "roughness": 0.7},
    {"type": "dent", "size": 0.012, "depth": 8e-4},
    {"type": "chip", "size": 0.006, "depth": 8e-4},
]
_BASE = assemblies.base_mesh(PLATE)
BASE = dg.Surface(_BASE.vertices, _BASE.faces)
"""The product before any defect: the original surface depths are measured from."""


def _raster(v: np.ndarray, f: np.ndarray, px: float) -> tuple[np.ndarray, float]:
    """Top-down coverage (H, W) bool of faces ``f`` of ``v`` sampled at pixel centres
    ``px`` metres apart, and the pixel size."""
    xy = v[:, :2]
    lo = xy[np.unique(f)].min(0) - 2 * px
    hi = xy[np.unique(f)].max(0) + 2 * px
    w, h = (np.ceil((hi - lo) / px)).astype(int)
    mask = np.zeros((h, w), dtype=bool)
    for tri in xy[f]:
        a, b, c = tri
        x0, y0 = np.floor((tri.min(0) - lo) / px).astype(int)
        x1, y1 = np.ceil((tri.max(0) - lo) / px).astype(int)
        gx, gy = np.meshgrid(
            lo[0] + (np.arange(x0, x1 + 1) + 0.5) * px, lo[1] + (np.arange(y0, y1 + 1) + 0.5) * px
        )
        p = np.stack([gx, gy], -1)

        def side(p0: np.ndarray, p1: np.ndarray, p: np.ndarray = p) -> np.ndarray:
            return (p1[0] - p0[0]) * (p[..., 1] - p0[1]) - (p1[1] - p0[1]) * (p[..., 0] - p0[0])

        s1, s2, s3 = side(a, b), side(b, c), side(c, a)
        inside = ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))
        mask[y0 : y1 + 1, x0 : x1 + 1] |= inside[: h - y0, : w - x0]
    return mask, px


def _independent(v: np.ndarray, f: np.ndarray, px: float) -> dict[str, float]:
    mask, px = _raster(v, f, px)
    ys, xs = np.nonzero(mask)
    pts = np.stack([xs, ys], 1).astype(np.float32)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    d = np.linalg.norm(hull[:, None] - hull[None], axis=-1)
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)
    return {
        "area": float(mask.sum()) * px * px,
        "length": float(d.max() + 1) * px,
        "width": 2 * float(dist.max()) * px,
    }


@pytest.fixture(scope="module")
def built() -> dict:
    """Each case on a plate of its own (a groove cut across another case's chip
    would start below the plate's top, where the depth reference is)."""
    out = {}
    for k, c in enumerate(CASES):
        d = {**c, "seed": 11 + k, "roughness": c.get("roughness", 0.5)}
        parts = assemblies._build(
            {"product": PLATE, "defects": [d], "facing": [0, 0, 1], "min_width": MIN_W}
        )
        out[f"defect_{k}"] = parts["defect_0"]
    return out


@pytest.mark.parametrize(
    "k", range(len(CASES)), ids=[f"{c['type']}-{c.get('variant', '')}" for c in CASES]
)
def test_measures_agree_with_the_geometry(built: dict, k: int) -> None:
    """length, width, depth and area as reported agree within 5 % with the same
    quantities measured independently on the built part."""
    case = CASES[k]
    part = built[f"defect_{k}"]
    assert len(part.faces), f"{case['type']} found no room on the plate"
    m = part.measures
    f = part.faces
    if case["type"] in ("scratch", "crack"):  # the groove's opening, not its strip's margins
        f = f[part.material_index == assemblies.GROOVE_SLOT]
    thin = case["type"] in ("scratch", "crack")
    px = 3e-6 if thin else 2e-5
    ref = _independent(part.vertices, f, px)
    assert m["area"] == pytest.approx(ref["area"], rel=0.05)
    assert m["length"] == pytest.approx(ref["length"], rel=0.05)
    if thin:  # widest opening of the groove (where a star's rays meet, their union is wider)
        assert m["width"] <= ref["width"] * 1.05 + 2 * px
        if case["variant"] != "star":
            assert m["width"] == pytest.approx(ref["width"], rel=0.05, abs=2 * px)
    if case["type"] != "stain":
        if thin:  # the groove's walls start from its strip's lift above the surface
            depth = TOP - float(part.vertices[np.unique(f)][:, 2].min())
            assert m["depth"] == pytest.approx(depth, abs=3e-5)
        else:  # deepest point below the original product's surface
            pts = part.vertices[np.unique(f)]
            closest, _ = BASE.snap_many(pts, 0.004)  # exact point-to-triangle distances
            depth = float(np.linalg.norm(pts - closest, axis=1).max())
            assert m["depth"] == pytest.approx(depth, rel=0.05)
        assert depth <= case["depth"] * 1.05


def test_stain_length_is_not_its_nominal_diameter(built: dict) -> None:
    """An irregular stain's measured extent differs from the nominal size (the old
    ``size_mm``): measuring the final geometry is what makes sizes true."""
    k = next(i for i, c in enumerate(CASES) if c["type"] == "stain")
    m = built[f"defect_{k}"].measures
    nominal = CASES[k]["size"]
    assert m["length"] > 0 and abs(m["length"] / nominal - 1) > 0.01
    assert m["area"] > 0


def test_severity_grades_against_limits() -> None:
    assert measure.severity({"length_mm": 4.0, "width_mm": 0.1}, {"length_mm": 8.0}) == (
        "accept",
        0.5,
    )
    assert measure.severity(
        {"length_mm": 4.0, "width_mm": 0.3}, {"length_mm": 8, "width_mm": 0.15}
    ) == (
        "reject",
        2.0,
    )
    assert measure.severity({"length_mm": 4.0}, {"area_mm2": 1.0}) == (None, None)
    assert measure.severity({"depth_mm": 0.1}, {"depth_mm": 0.0})[0] == "reject"


def test_acceptance_limits_config() -> None:
    lim = AcceptanceLimits(length_mm=2.0, depth_mm=0.3)
    assert lim.limits() == {"length_mm": 2.0, "depth_mm": 0.3}
    with pytest.raises(ValueError, match="length_mm"):
        AcceptanceLimits(length_mm=-1.0)
    defaults = DefectsScene.model_fields["acceptance"].get_default(call_default_factory=True)
    assert set(defaults) == {"scratch", "dent", "crack", "stain", "chip"}
