"""Printed logos beside the date codes: a nuisance (``logo``), never a defect; the
marks themselves, their geometry on the surface, the config, a tiny render."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from render.config import ConfigError, load_config, validate_config
from render.families.defects import sampler as fam
from render.families.defects.geometry import assemblies, glyphs
from render.families.defects.geometry import surface as dg
from render.spec import (
    DefectInfo,
    GeometrySpec,
    MaterialSpec,
    NuisanceInfo,
    ObjectSpec,
)
from render.visibility import contrast
from tests.blender_helpers import render_specs, top_down_scene

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "defects.yaml"
PLATE = {"family": "plate", "length": 0.04, "width": 0.04, "thickness": 0.005, "holes": 0}
CAN = {"family": "can", "radius": 0.025, "height": 0.08, "rim": 0.002}


@pytest.mark.parametrize("kind", glyphs.LOGO_KINDS)
def test_logo_marks_are_inked_shapes(kind: str) -> None:
    a = glyphs.logo_bitmap(kind, np.random.default_rng(0), 40)
    b = glyphs.logo_bitmap(kind, np.random.default_rng(0), 40)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == bool and 0.08 < a.mean() < 0.8  # a mark, not a blob or nothing
    # touches neither nothing nor everything: ink and paper both in the middle rows
    assert a[a.shape[0] // 2].any() and not a[a.shape[0] // 2].all()
    with pytest.raises(ValueError, match="valid"):
        glyphs.logo_bitmap("swoosh", np.random.default_rng(0))


@pytest.mark.parametrize("product,facing", [(PLATE, (0, 0, 1)), (CAN, (1, 0, 0))])
def test_logo_is_printed_on_the_surface(product: dict, facing: tuple) -> None:
    size = 0.01
    for seed in range(4):
        params = {
            "product": product,
            "facing": list(facing),
            "nuisances": [{"type": "logo", "seed": seed, "size": size}],
        }
        parts = assemblies._build(params)
        logo, prod = parts["nuisance_0"], parts["product"]
        assert len(logo.faces) > 50
        v = logo.vertices
        surf = dg.Surface(prod.vertices, prod.faces)
        closest, normals = surf.snap_many(v, 0.005)
        height = ((v - closest) * normals).sum(1)
        lift = assemblies.NUISANCE_LIFT
        assert height.min() > lift - 2e-5 and height.max() < lift + 2e-5
        # no wider than configured, no smaller than half of it
        extent = float(np.linalg.norm(np.ptp(v, axis=0)))
        assert 0.5 * size < extent < 1.5 * size
        n = dg.face_normals(v, logo.faces)
        _, below = surf.snap_many(v[logo.faces].mean(1), 0.005)
        assert ((n * below).sum(1) > 0.95).all()  # faces up, following the surface
        assert trimesh.Trimesh(v, logo.faces, process=False).is_winding_consistent
        again = assemblies._build(params)["nuisance_0"]
        np.testing.assert_array_equal(again.vertices, v)


def test_logos_are_their_own_nuisance_never_a_defect() -> None:
    cfg = load_config(CONFIG)
    data = json.loads(cfg.model_dump_json())
    data["scene"]["nuisances"]["logo"]["probability"] = 1.0
    c = validate_config(data)
    names = {cat.id: cat.name for cat in c.categories}
    supers = {cat.name: cat.supercategory for cat in c.categories}
    defect_cats = {d.category for d in c.scene.defects.values()}
    logos = 0
    for i in range(6):
        for o in fam.sample_defects(c, i).objects:
            if isinstance(o.info, NuisanceInfo) and o.info.type == "logo":
                logos += 1
                assert o.annotate and names[o.category_id] == "logo"
                assert supers["logo"] == "nuisance" and o.parent_id is not None
                assert "logo" not in defect_cats
            elif isinstance(o.info, DefectInfo):
                assert names[o.category_id] != "logo"
    assert logos
    data["scene"]["nuisances"]["logo"]["category"] = None  # printed, not annotated
    quiet = validate_config(data)
    for o in fam.sample_defects(quiet, 0).objects:
        if isinstance(o.info, NuisanceInfo) and o.info.type == "logo":
            assert not o.annotate and o.category_id == 0
    data["scene"]["nuisances"]["logo"]["category"] = "scratch"
    with pytest.raises(ConfigError, match=r"nuisances\.logo\.category"):
        validate_config(data)


@pytest.mark.blender
def test_a_printed_logo_shows_and_stays_inside_its_product(tmp_path: Path) -> None:
    """A black logo 10 mm wide on a grey plate, 96 px across 24 mm, from above."""
    params = {
        "product": PLATE,
        "facing": [0.0, 0.0, 1.0],
        "nuisances": [{"type": "logo", "seed": 0, "size": 0.01}],
    }
    grey = MaterialSpec(base_color=[0.4, 0.4, 0.4], roughness=0.5, texture="none")
    ink = MaterialSpec(base_color=[0.02, 0.02, 0.02], roughness=0.4, texture="none")
    centre = assemblies._build(params)["nuisance_0"].vertices.mean(0)

    def part(name: str, iid: int, parent: int | None, mat: MaterialSpec) -> ObjectSpec:
        geo = GeometrySpec(
            kind="procedural", generator="product_with_defects", params=params, part=name
        )
        return ObjectSpec(
            name=name, instance_id=iid, category_id=1, parent_id=parent, geometry=geo, material=mat
        )

    objects = [part("product", 1, None, grey), part("nuisance_0", 2, 1, ink)]
    spec = top_down_scene(objects, centre, samples=4)
    out = render_specs([spec], tmp_path)
    rgb, inst = out["rgb_0_0"], out["instance_0_0"]
    logo = inst == 2
    assert logo.sum() > 150
    ys, xs = np.nonzero(logo)
    box = inst[ys.min() - 2 : ys.max() + 3, xs.min() - 2 : xs.max() + 3]
    assert set(np.unique(box)) <= {1, 2}  # on the plate, nothing else around it
    c = contrast(rgb, inst, [2], [1])
    assert c is not None and c > 20  # black ink on grey: it shows
