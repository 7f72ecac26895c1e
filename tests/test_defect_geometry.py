"""Defect generators: on the surface, wide enough, depth respected, parts disjoint."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from render.families.defects.geometry import assemblies
from render.families.defects.geometry import surface as dg

PLATE = {
    "family": "plate",
    "length": 0.1,
    "width": 0.06,
    "thickness": 0.008,
    "chamfer": 0.001,
    "holes": 4,
    "hole_radius": 0.003,
    "countersink": 0.0,
}
CAN = {"family": "can", "radius": 0.03, "height": 0.09, "rim": 0.002}
MIN_W = 6e-4


def _build(product: dict, defects: list[dict], facing=(0.0, 0.0, 1.0)) -> dict:
    return assemblies._build(
        {"product": product, "defects": defects, "facing": list(facing), "min_width": MIN_W}
    )


def _union(parts: dict, names: list[str]) -> trimesh.Trimesh:
    """Weld parts that share vertices of one array (bit-identical coordinates)."""
    v = np.concatenate([parts[n].vertices for n in names])
    offs = np.cumsum([0] + [len(parts[n].vertices) for n in names[:-1]])
    f = np.concatenate([parts[n].faces + o for n, o in zip(names, offs, strict=True)])
    _, first, inv = np.unique(v, axis=0, return_index=True, return_inverse=True)
    return trimesh.Trimesh(v[first], inv.reshape(-1)[f], process=False)


def _surface_distance(points: np.ndarray, mesh: trimesh.Trimesh) -> np.ndarray:
    surf = dg.Surface(np.asarray(mesh.vertices), np.asarray(mesh.faces))
    closest, _ = surf.snap_many(points, 0.005)
    return np.linalg.norm(points - closest, axis=1)


@pytest.mark.parametrize("product", [PLATE, CAN], ids=["plate", "can"])
@pytest.mark.parametrize("kind", ["dent", "chip"])
def test_depression_is_split_from_a_watertight_surface(product: dict, kind: str) -> None:
    facing = (0.0, 0.0, 1.0) if product is PLATE else (1.0, 0.0, 0.0)
    depth = 8e-4
    parts = _build(product, [{"type": kind, "seed": 5, "size": 0.012, "depth": depth}], facing)
    dent, prod = parts["defect_0"], parts["product"]
    assert len(dent.faces) > 200  # fine tessellation: the mask is not blocky
    union = _union(parts, ["product", "defect_0"])
    assert union.is_watertight and union.is_winding_consistent and union.volume > 0
    # disjoint: no face belongs to both parts
    key = lambda m: {tuple(sorted(map(tuple, np.round(m.vertices[f], 12)))) for f in m.faces}  # noqa: E731
    assert not key(dent) & key(prod)
    # depth respected: the deepest point is `depth` below the original surface
    base = assemblies.base_mesh(product)
    tm = trimesh.Trimesh(base.vertices, base.faces, process=False)
    d = _surface_distance(dent.vertices, tm)
    assert d.max() == pytest.approx(depth, rel=0.2 if kind == "chip" else 0.05)
    # and the dent part only holds displaced faces (threshold 12 % of the depth)
    assert np.median(d) > 0.12 * depth


@pytest.mark.parametrize("product", [PLATE, CAN], ids=["plate", "can"])
@pytest.mark.parametrize("kind", ["stain"])
def test_decal_lies_on_the_final_surface(product: dict, kind: str) -> None:
    facing = (0.0, 0.0, 1.0) if product is PLATE else (1.0, 0.0, 0.0)
    defects = [
        {"type": "dent", "seed": 1, "size": 0.014, "depth": 6e-4},
        {"type": kind, "seed": 2, "size": 0.025, "width": 3e-4, "roughness": 0.5, "branches": 2},
    ]
    parts = _build(product, defects, facing)
    decal = parts["defect_1"]
    assert len(decal.faces) > 10
    final = _union(parts, ["product", "defect_0"])
    d = _surface_distance(decal.vertices, final)
    # lifted by the offset (2nd decal: 1 step above the first decal level) with a
    # tolerance for curvature: never below the surface, never floating
    assert d.min() > assemblies.MIN_OFFSET - 2e-5
    assert d.max() < assemblies.MIN_OFFSET + 1e-4
    # decal faces look the same way as the surface below them
    n = dg.face_normals(decal.vertices, decal.faces)
    surf = dg.Surface(np.asarray(final.vertices), np.asarray(final.faces))
    _, below = surf.snap_many(decal.vertices[decal.faces].mean(1), 0.005)
    assert np.median((n * below).sum(1)) > 0.95


GROOVES = [
    {"type": "scratch", "variant": "single", "width": 3e-4, "depth": 6e-5},
    {"type": "scratch", "variant": "parallel", "width": 1.5e-4, "depth": 4e-5},
    {"type": "scratch", "variant": "curved", "width": 2e-4, "depth": 5e-5},
    {"type": "crack", "variant": "edge", "width": 3e-4, "depth": 5e-4, "branches": 2},
    {"type": "crack", "variant": "star", "width": 2e-4, "depth": 4e-4},
]


@pytest.mark.parametrize("product", [PLATE, CAN], ids=["plate", "can"])
@pytest.mark.parametrize("groove", GROOVES, ids=lambda g: f"{g['type']}-{g['variant']}")
def test_groove_is_cut_into_the_final_surface(product: dict, groove: dict) -> None:
    """A scratch or crack is a groove cut into the (dented) surface: its margins lie
    on it, its walls go down no deeper and open no wider than configured, the
    product's faces over it are gone (it is open to view), and its mask strip is at
    least min_width wide."""
    facing = (0.0, 0.0, 1.0) if product is PLATE else (1.0, 0.0, 0.0)
    defects = [
        {"type": "dent", "seed": 1, "size": 0.014, "depth": 6e-4},
        {**groove, "seed": 3, "size": 0.025, "roughness": 0.5},
    ]
    parts = _build(product, defects, facing)
    strip = parts["defect_1"]
    assert len(strip.faces) > 50
    walls = strip.material_index == assemblies.GROOVE_SLOT
    assert walls.any() and (~walls).any()
    dented = _union(parts, ["product", "defect_0"])
    # the surface before the cut: the product's faces the groove replaced are missing
    # from `dented`, so measure against the product as it was (base + the dent)
    before = assemblies._build(
        {"product": product, "defects": defects[:1], "facing": list(facing), "min_width": MIN_W}
    )
    surface = _union(before, ["product", "defect_0"])
    surf = dg.Surface(np.asarray(surface.vertices), np.asarray(surface.faces))
    closest, normals = surf.snap_many(strip.vertices, 0.005)
    height = ((strip.vertices - closest) * normals).sum(1)
    rim = np.unique(strip.faces[~walls])
    wall = np.setdiff1d(np.unique(strip.faces[walls]), rim)
    lift = assemblies.CUT_LIFT
    assert height[rim].min() > -1e-6  # margins and rims never below the surface
    lips = 0.2 * groove["depth"]  # a scratch's burr lips stand a little above
    assert height[rim].max() < lift + lips + 2e-5
    depth = groove["depth"] * (1.5 if groove.get("open") else 1.0)
    assert -height[wall].max() <= lift  # walls go down ...
    assert -height[wall].min() <= depth * 1.001  # ... no deeper than configured
    m = strip.measures
    assert m["depth"] <= depth * 1.001 and m["depth"] > 0.5 * depth
    assert m["width"] <= groove["width"] * 1.001 and m["width"] > 0.5 * groove["width"]
    assert -height.min() == pytest.approx(m["depth"], rel=0.02)
    assert m["mask_width"] >= MIN_W * 0.97
    # open to view: above the groove's deepest points there is no product face
    deep = wall[-height[wall] > 0.6 * m["depth"]]
    tops = closest[deep]
    prod = parts["product"]
    near, _ = dg.Surface(prod.vertices, prod.faces).snap_many(tops, 0.005)
    assert np.linalg.norm(near - tops, axis=1).min() > 1e-6
    assert dented.is_winding_consistent


def test_defects_are_deterministic_and_seeded() -> None:
    d = [
        {"type": "stain", "seed": 4, "size": 0.012},
        {"type": "dent", "seed": 7, "size": 0.01, "depth": 5e-4},
    ]
    a, b = _build(PLATE, d), _build(PLATE, d)
    for name in a:
        np.testing.assert_array_equal(a[name].vertices, b[name].vertices)
    c = _build(PLATE, [{**d[0], "seed": 5}, d[1]])
    assert not np.array_equal(a["defect_0"].vertices, c["defect_0"].vertices)


def test_refine_keeps_watertight_and_bounds_edges() -> None:
    base = assemblies.base_mesh(PLATE)
    centre = np.array([0.0, 0.0, 0.008])
    v, f, parent = dg.refine(
        base.vertices, base.faces, centre, np.array([0.0, 0.0, 1.0]), 0.01, 5e-4
    )
    tm = trimesh.Trimesh(v, f, process=False)
    assert tm.is_watertight and tm.volume == pytest.approx(
        trimesh.Trimesh(base.vertices, base.faces).volume
    )
    assert len(parent) == len(f) and parent.max() < len(base.faces)
    mid = v[f].mean(1)
    near = np.linalg.norm(mid - centre, axis=1) < 0.008
    edges = np.linalg.norm(v[f[near]] - v[np.roll(f[near], 1, axis=1)], axis=-1)
    assert edges.max() <= 5e-4 + 1e-12


def test_closest_points_matches_trimesh() -> None:
    rng = np.random.default_rng(0)
    box = trimesh.creation.box((0.02, 0.03, 0.01))
    pts = rng.uniform(-0.03, 0.03, (200, 3))
    ours, _ = dg.closest_points(pts, np.asarray(box.triangles))
    ref, _, _ = trimesh.proximity.closest_point_naive(box, pts)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_unknown_defect_type_names_it() -> None:
    with pytest.raises(ValueError, match="bump"):
        _build(PLATE, [{"type": "bump", "seed": 1, "size": 0.01}])


def test_user_mesh_product(tmp_path) -> None:
    path = tmp_path / "part.stl"
    trimesh.creation.box((40.0, 20.0, 10.0)).export(path)  # millimetres
    params = {"family": "mesh", "path": str(path), "unit_scale": 0.001, "up_axis": "Y"}
    base = assemblies.base_mesh(params)
    assert np.ptp(base.vertices, axis=0) == pytest.approx([0.04, 0.01, 0.02])  # Y up -> Z
    assert base.vertices[:, 2].min() == pytest.approx(0.0)
    parts = _build(params, [{"type": "stain", "seed": 1, "size": 0.008}])
    assert len(parts["defect_0"].faces) > 0


def test_march_along_the_normal_goes_nowhere() -> None:
    """A direction with no component along the surface (an edge site whose inward
    direction is the normal: seen on a can's rim) gives a one-point path, not NaN."""
    base = assemblies.base_mesh(PLATE)
    surf = dg.Surface(base.vertices, base.faces)
    start = np.array([0.0, 0.0, PLATE["thickness"]])
    up = np.array([0.0, 0.0, 1.0])
    for direction in (up, np.zeros(3)):
        path, normals = dg.march(surf, start, direction, 0.01, 5e-4, np.zeros(8), up)
        assert path.shape == (1, 3) and np.isfinite(path).all()
    path, _ = dg.march(surf, start, np.array([1.0, 0, 0]), 0.01, 5e-4, np.zeros(8), up)
    assert len(path) > 10 and np.isfinite(path).all()


def test_tool_mark_is_a_band_of_regular_feed_lines() -> None:
    """A tool mark is not a scratch: 3-10 feed lines at one pitch across a band no
    wider than configured, a few micrometres deep (never deeper than configured),
    the same width from end to end but for squared-off ends."""
    width, depth, length = 8e-4, 6e-6, 0.02
    mark = {"type": "tool_mark", "seed": 4, "size": length, "width": width, "depth": depth}
    rng = np.random.default_rng(4)
    base = assemblies.base_mesh(PLATE)
    surf = dg.Surface(base.vertices, base.faces)
    from render.families.defects.geometry import cuts, steps

    def spot(radius: float, r: np.random.Generator) -> steps.Spot | None:
        return steps.place(base.vertices, base.faces, np.array([0.0, 0.0, 1.0]), radius, r)

    placed = spot(0.005, rng)
    assert placed is not None
    cut = cuts.tool_mark(surf, placed[0], placed[1], length, width, depth, MIN_W, rng)
    assert cut is not None
    offsets = np.sort([g.offset for g in cut.grooves])
    assert 3 <= len(offsets) <= 10
    pitch = np.diff(offsets)
    assert np.ptp(pitch) < 1e-9  # one pitch: a cutter's feed, not a scratch's scatter
    assert offsets[-1] - offsets[0] + 2 * max(g.half.max() for g in cut.grooves) <= width * 1.001
    deep = np.concatenate([g.depth for g in cut.grooves])
    assert deep.max() <= depth * 1.001 and deep.max() > 0.9 * depth
    mid = slice(len(cut.path) // 5, -len(cut.path) // 5)
    half = cut.grooves[0].half[mid]
    assert np.ptp(half) < 1e-9  # constant width between the ends
    # the chatter: depth beats along the pass
    assert deep.min() < 0.5 * depth
    # and it is carved into the product (as a scratch's groove is)
    parts = assemblies._build(
        {
            "product": PLATE,
            "defects": [],
            "nuisances": [mark],
            "facing": [0, 0, 1],
            "min_width": MIN_W,
        }
    )
    strip = parts["nuisance_0"]
    assert (strip.material_index == assemblies.GROOVE_SLOT).any()
    assert strip.measures["depth"] <= depth * 1.001
    assert _union(parts, ["product", "nuisance_0"]).is_winding_consistent
