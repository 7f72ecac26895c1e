"""Product families and props: valid, watertight, outward, parameters respected."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from render.families import build_geometry as build
from render.families.defects.geometry.products import (
    FAMILIES,
    INTEGER_PARAMS,
    PARAM_SPACE,
    build_product,
    pcb_components,
)
from render.families.defects.geometry.props import PROPS


def _params(family: str, u: float) -> dict:
    out = {}
    for key, (lo, hi) in PARAM_SPACE[family].items():
        value = lo + u * (hi - lo)
        out[key] = int(round(value)) if key in INTEGER_PARAMS else value
    if family == "plate":
        out["holes"] = 2 * (out["holes"] // 2)
    return out


def _check_closed(mesh) -> trimesh.Trimesh:
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert mesh.vertices.dtype == np.float64 and mesh.faces.dtype == np.int64
    assert tm.is_watertight, "not watertight"
    assert tm.is_winding_consistent, "inconsistent winding"
    assert tm.volume > 0, f"normals point inward (volume {tm.volume})"
    return tm


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=4, deadline=None)
@given(u=st.floats(0.0, 1.0))
def test_family_is_closed_and_outward(family: str, u: float) -> None:
    mesh = build_product(family, _params(family, u))
    assert mesh.watertight
    _check_closed(mesh)
    assert mesh.vertices[:, 2].min() == pytest.approx(0.0, abs=1e-9)  # rests on z = 0


@pytest.mark.parametrize(
    ("family", "params", "extent"),
    [
        (
            "plate",
            {
                "length": 0.1,
                "width": 0.05,
                "thickness": 0.006,
                "chamfer": 0.001,
                "holes": 4,
                "hole_radius": 0.003,
            },
            (0.1, 0.05, 0.006),
        ),
        (
            "tile",
            {"length": 0.08, "width": 0.08, "thickness": 0.008, "chamfer": 0.0015},
            (0.08, 0.08, 0.008),
        ),
        (
            "gear",
            {
                "radius": 0.03,
                "teeth": 20,
                "tooth_depth": 0.003,
                "bore_radius": 0.005,
                "thickness": 0.01,
            },
            (None, None, 0.01),
        ),
        ("washer", {"radius": 0.02, "bore_radius": 0.008, "thickness": 0.003}, (0.04, 0.04, 0.003)),
        (
            "hex_nut",
            {"across_flats": 0.03, "bore_radius": 0.008, "thickness": 0.015},
            (0.03, None, 0.015),
        ),
        (
            "pcb",
            {"length": 0.1, "width": 0.06, "thickness": 0.0016, "components": 5},
            (0.1, 0.06, 0.0016),
        ),
    ],
)
def test_dimensions_respect_params(family: str, params: dict, extent: tuple) -> None:
    mesh = build_product(family, params)
    size = np.ptp(mesh.vertices, axis=0)
    for axis, want in enumerate(extent):
        if want is not None:
            assert size[axis] == pytest.approx(want, rel=2e-3), (axis, size)


def test_gear_tip_radius() -> None:
    mesh = build_product(
        "gear",
        {
            "radius": 0.03,
            "teeth": 20,
            "tooth_depth": 0.003,
            "bore_radius": 0.005,
            "thickness": 0.01,
        },
    )
    r = np.linalg.norm(mesh.vertices[:, :2], axis=1)
    assert r.max() == pytest.approx(0.03, rel=1e-6)
    assert r.min() == pytest.approx(0.005, rel=1e-6)


def test_plate_holes_change_topology_and_volume() -> None:
    base = {"length": 0.1, "width": 0.06, "thickness": 0.006, "chamfer": 0.0, "hole_radius": 0.004}
    solid = _check_closed(build_product("plate", {**base, "holes": 0}))
    holed = _check_closed(build_product("plate", {**base, "holes": 4}))
    assert solid.euler_number == 2 and holed.euler_number == 2 - 2 * 4  # genus 4
    assert solid.volume - holed.volume == pytest.approx(4 * np.pi * 0.004**2 * 0.006, rel=0.01)


def test_gear_teeth_count() -> None:
    mesh = build_product(
        "gear",
        {
            "radius": 0.03,
            "teeth": 17,
            "tooth_depth": 0.003,
            "bore_radius": 0.005,
            "thickness": 0.01,
        },
    )
    top = mesh.vertices[np.isclose(mesh.vertices[:, 2], 0.01)]
    r = np.linalg.norm(top[:, :2], axis=1)
    ang = np.arctan2(top[:, 1], top[:, 0])[r > 0.0299]
    bins = np.unique(np.floor((ang % (2 * np.pi)) / (2 * np.pi / 17 / 4)).astype(int) // 4)
    assert len(bins) == 17


def test_curved_sag_below_decal_offset() -> None:
    mesh = build_product("can", {"radius": 0.03, "height": 0.08, "rim": 0.002})
    side = mesh.vertices[(mesh.vertices[:, 2] > 0.01) & (mesh.vertices[:, 2] < 0.07)]
    ang = np.sort(np.unique(np.round(np.arctan2(side[:, 1], side[:, 0]), 9)))
    step = np.diff(ang).max()
    sag = 0.03 * (1 - np.cos(step / 2))
    assert sag < 0.2e-3 / 5


def test_pcb_components_are_closed_and_on_the_board() -> None:
    params = {"length": 0.1, "width": 0.06, "thickness": 0.0016, "components": 8}
    comp, feet = pcb_components(params, seed=3)
    assert len(feet) >= 4
    tm = trimesh.Trimesh(comp.vertices, comp.faces, process=False)
    assert tm.is_watertight and tm.volume > 0
    assert comp.vertices[:, 2].min() == pytest.approx(0.0016 - 1e-4)
    assert np.abs(comp.vertices[:, 0]).max() <= 0.05 and np.abs(comp.vertices[:, 1]).max() <= 0.03


@pytest.mark.parametrize("kind", sorted(PROPS))
def test_props_closed(kind: str) -> None:
    params = {
        "conveyor": {"length": 0.5, "width": 0.3, "rib_height": 0.0015},
        "table": {"size": 0.5},
        "tray": {"length": 0.2, "width": 0.15},
    }[kind]
    for mesh in PROPS[kind](params).values():
        _check_closed(mesh)


def test_registry_has_generators() -> None:
    for name in ("product_with_defects", "conveyor", "inspection_table", "tray"):
        assert build(
            name,
            {
                "size": 0.3,
                "length": 0.3,
                "width": 0.2,
                "product": {
                    "family": "washer",
                    "radius": 0.02,
                    "bore_radius": 0.008,
                    "thickness": 0.003,
                },
            },
        )
    with pytest.raises(KeyError, match="valid"):
        build_product("nope", {})
