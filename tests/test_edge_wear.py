"""Edge wear of products: the ``edge`` attribute (pure), the config reaching the
SceneSpec, and a tiny render where worn edges differ from the flat face only when on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from render.config import load_config, validate_config
from render.families.defects import sampler as fam
from render.families.defects.geometry.assemblies import base_mesh, product_with_defects
from render.families.defects.geometry.edges import (
    EDGE_REACH,
    convex_edges,
    edge_closeness,
    edge_samples,
)
from render.spec import (
    GeometrySpec,
    MaterialSpec,
    ObjectSpec,
    ProductInfo,
    SceneSpec,
    WearSpec,
)
from render.visibility import srgb_to_lab
from tests.blender_helpers import render_specs, top_down_scene

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "defects.yaml"
PLATE = {
    "family": "plate",
    "length": 0.02,
    "width": 0.02,
    "thickness": 0.004,
    "chamfer": 0.0005,
    "holes": 0,
}


def test_edge_attribute_is_the_distance_to_convex_edges() -> None:
    base = base_mesh(PLATE)
    edges = convex_edges(base.vertices, base.faces)
    # top rim (19 mm square), chamfer foot, bottom rim (20 mm squares), the four
    # vertical corners (3.5 mm) and the chamfer's four corner diagonals
    length = np.linalg.norm(base.vertices[edges[:, 0]] - base.vertices[edges[:, 1]], axis=1)
    expected = 4 * (0.019 + 0.02 + 0.02 + 0.0035 + 0.0005 * np.sqrt(3))
    assert length.sum() == pytest.approx(expected, rel=1e-6)
    prod = product_with_defects({"product": PLATE, "edge_wear": 1e-3})["product"]
    edge = prod.point_attributes["edge"]
    v = prod.vertices
    top = v[:, 2] > 0.004 - 1e-9
    inner = 0.01 - 0.0005  # the top face ends where the chamfer starts
    dist = inner - np.abs(v[top, :2]).max(1)
    want = np.clip(1 - dist / EDGE_REACH, 0, 1)
    np.testing.assert_allclose(edge[top], want, atol=5e-5 / EDGE_REACH)
    assert "edge" not in product_with_defects({"product": PLATE})["product"].point_attributes
    # faces across the band were split inside (the corner cells' diagonals): still closed
    closed = trimesh.Trimesh(v, prod.faces, process=False)
    assert closed.is_watertight and closed.is_winding_consistent
    assert len(prod.faces) > len(base.faces)


@pytest.mark.parametrize(
    "product",
    [
        {**PLATE, "length": 0.08, "width": 0.05, "holes": 4, "hole_radius": 0.003},
        {"family": "gear", "radius": 0.03, "teeth": 24, "tooth_depth": 0.003}
        | {"bore_radius": 0.006, "thickness": 0.008},
        {"family": "washer", "radius": 0.02, "bore_radius": 0.007, "thickness": 0.003},
    ],
    ids=["plate", "gear", "washer"],
)
def test_no_mesh_edge_reads_as_worn_across_the_face(product: dict) -> None:
    """Interpolated from its ends, ``edge`` along every mesh edge near a convex edge
    is off the true distance by at most 0.3 x the band (before the split, a hole's
    fan triangles ran from the hole's rim to the plate's: a worn streak 5 mm long)."""
    band = 1e-3
    prod = product_with_defects({"product": product, "edge_wear": band})["product"]
    base = base_mesh(product)
    tree = cKDTree(edge_samples(base.vertices, convex_edges(base.vertices, base.faces), 2e-5))
    v, f = prod.vertices, prod.faces
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    da, db = tree.query(v[e[:, 0]])[0], tree.query(v[e[:, 1]])[0]
    dm = tree.query((v[e[:, 0]] + v[e[:, 1]]) / 2)[0]
    near = np.minimum(da, db) < band
    assert (dm - (da + db) / 2)[near].max() < 0.3 * band  # measured: 0.16 (plate), 0.25 (gear)


def test_rounded_edges_wear_and_curved_bodies_do_not() -> None:
    """A washer's rounded edges (fillets, 4 facets each) wear like a plate's sharp
    ones; the cylinder of a can's body, tessellated just as finely, does not."""
    washer = {"family": "washer", "radius": 0.025, "bore_radius": 0.008, "thickness": 0.003}
    base = base_mesh(washer)
    v = base.vertices
    edge = edge_closeness(v, base.faces, v)
    r = np.linalg.norm(v[:, :2], axis=1)
    fillet = (r > 0.025 - 0.003 / 4) & (v[:, 2] > 0.003 - 0.003 / 4)  # outer top fillet
    flat = (np.abs(r - 0.0165) < 0.002) & (v[:, 2] > 0.003 - 1e-9)  # middle of the face
    assert edge[fillet].min() > 0.8 and edge[flat].max() < 0.2
    can = {"family": "can", "radius": 0.03, "height": 0.09, "rim": 0.002}
    cb = base_mesh(can)
    rc = np.linalg.norm(cb.vertices[:, :2], axis=1)
    body = (np.abs(cb.vertices[:, 2] - 0.045) < 0.01) & (rc > 0.029)  # mid-height of the body
    assert body.any() and edge_closeness(cb.vertices, cb.faces, cb.vertices[body]).max() == 0.0


def test_edge_wear_config_reaches_the_spec() -> None:
    cfg = load_config(CONFIG)
    assert cfg.scene.edge_wear.probability == 0  # off unless configured
    for o in fam.sample_defects(cfg, 0).objects:
        assert o.material.wear is None and not o.geometry.params.get("edge_wear")
    data = json.loads(cfg.model_dump_json())
    data["scene"]["edge_wear"] = {"probability": 1.0, "width_mm": [0.5, 0.5]}
    data["scene"]["products"][0]["edge_wear"] = {"probability": 0.0}  # plates: never
    on = validate_config(data)
    plates = worn = worn_slots = 0
    for i in range(30):
        if plates and worn > 3:
            break
        for o in fam.sample_defects(on, i).objects:
            if not isinstance(o.info, ProductInfo):
                assert o.material.wear is None  # never on a defect, nuisance or background
                continue
            if o.info.family == "plate":
                plates += 1
                assert o.material.wear is None
                continue
            worn += 1
            assert o.material.wear is not None and o.material.wear.width == pytest.approx(5e-4)
            band = o.material.wear.width * (1 + o.material.wear.breakup)
            assert o.geometry.params["edge_wear"] == pytest.approx(band, abs=1e-6)
            for slot in o.material_slots:  # a secondary surface of its own material wears too
                assert slot.wear is None or slot == o.material
                worn_slots += slot.wear is not None
    assert plates and worn and worn_slots


def _scene(wear: WearSpec | None) -> SceneSpec:
    """The plate from above under a uniform white world (its chamfer shaded like its
    top face), 96 px across 24 mm."""
    params = {"product": PLATE, "edge_wear": 1e-3}
    paint = MaterialSpec(base_color=[0.05, 0.1, 0.35], roughness=0.5, texture="none", wear=wear)
    geo = GeometrySpec(
        kind="procedural", generator="product_with_defects", params=params, part="product"
    )
    plate = ObjectSpec(
        name="plate", instance_id=1, category_id=1, geometry=geo, material=paint,
        material_slots=[paint],
    )  # fmt: skip
    return top_down_scene([plate], np.zeros(3), samples=8)


@pytest.mark.blender
def test_worn_edges_differ_from_the_face_only_when_on(tmp_path: Path) -> None:
    """CIE76 dE between the plate's outer 3 px (a 0.6 mm worn band and the 0.5 mm
    chamfer, ~4 px) and its middle. Measured here (8 samples + OIDN): 43.4 worn,
    2.1 not worn (the chamfer's own shading)."""
    import cv2

    wear = WearSpec(strength=1.0, width=6e-4, color=[0.7, 0.7, 0.68], metallic=0.0, breakup=0.3)
    out = render_specs([_scene(wear), _scene(None)], tmp_path)
    diffs = []
    for i in range(2):
        rgb, mask = out[f"rgb_{i}_0"], (out[f"instance_{i}_0"] == 1).astype(np.uint8)
        ring = mask.astype(bool) & ~cv2.erode(mask, np.ones((7, 7), np.uint8)).astype(bool)
        middle = cv2.erode(mask, np.ones((25, 25), np.uint8)).astype(bool)
        assert ring.sum() > 200 and middle.sum() > 500
        lab = srgb_to_lab(rgb)
        diffs.append(float(np.linalg.norm(np.median(lab[ring], 0) - np.median(lab[middle], 0))))
    print("dE ring vs middle, worn / not worn:", diffs)
    assert diffs[0] > 10 and diffs[1] < 3
