"""What a QC line sees besides defects: nuisance config and instances, one instance
per PCB component, substrates under chips and grooves (pure; no Blender)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from render.config import ConfigError, load_config, validate_config
from render.families import build_geometry
from render.families.defects import parts
from render.families.defects import sampler as fam
from render.families.defects.materials import load_presets
from render.spec import DefectInfo, NuisanceInfo

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "defects.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG)


def _data(cfg) -> dict:
    return json.loads(cfg.model_dump_json())


def test_nuisance_under_a_defect_category_is_refused(cfg) -> None:
    data = _data(cfg)
    data["scene"]["nuisances"]["dust"]["category"] = "scratch"
    with pytest.raises(ConfigError, match=r"nuisances\.dust\.category"):
        validate_config(data)


def test_unknown_variant_is_named(cfg) -> None:
    data = _data(cfg)
    data["scene"]["defects"]["scratch"]["variants"] = {"zigzag": 1.0}
    with pytest.raises(ConfigError, match=r"defects\.scratch\.variants.*zigzag"):
        validate_config(data)


def test_nuisances_are_their_own_instances_never_defects(cfg) -> None:
    """Every nuisance object is a NuisanceInfo under its own (nuisance) category, a
    child of its product; set to null, it is not annotated at all; fingerprints and
    droplets are see-through."""
    data = _data(cfg)
    for n in data["scene"]["nuisances"].values():
        n["probability"] = 1.0
    data["scene"]["nuisances"]["dust"]["category"] = None
    c = validate_config(data)
    names = {cat.id: cat.name for cat in c.categories}
    supers = {cat.name: cat.supercategory for cat in c.categories}
    defect_cats = {d.category for d in c.scene.defects.values()}
    kinds: set[str] = set()
    for i in range(4):
        spec = fam.sample_defects(c, i)
        for o in spec.objects:
            if isinstance(o.info, NuisanceInfo):
                kinds.add(o.info.type)
                assert o.parent_id is not None
                # an oil film and water hide no defect in the masks; the rest do
                assert o.see_through == (o.info.type in ("fingerprint", "droplet"))
                if o.info.type == "dust":
                    assert not o.annotate and o.category_id == 0
                else:
                    assert o.annotate and names[o.category_id] not in defect_cats
                    assert supers[names[o.category_id]] == "nuisance"
            elif isinstance(o.info, DefectInfo):
                assert names[o.category_id] in defect_cats
    assert {"dust", "fibre", "fingerprint", "droplet"} <= kinds


def test_each_pcb_component_is_its_own_instance(cfg) -> None:
    data = _data(cfg)
    data["scene"]["products"] = [p for p in data["scene"]["products"] if p["family"] == "pcb"]
    data["scene"]["products"][0]["weight"] = 1.0
    c = validate_config(data)
    spec = fam.sample_defects(c, 0)
    comp_id = c.category_id("component")
    boards = [o for o in spec.objects if o.geometry.part == "product"]
    assert boards
    for board in boards:
        comps = [
            o for o in spec.objects if o.category_id == comp_id and o.parent_id == board.instance_id
        ]
        assert len(comps) >= 3
        assert len({o.instance_id for o in comps}) == len(comps)
        boxes = []
        for o in comps:
            mesh = build_geometry(o.geometry.generator, o.geometry.params)[o.geometry.part]
            assert len(mesh.faces)
            lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
            boxes.append((lo, hi))
        # separate parts: no two components' footprints overlap
        for i, (lo1, hi1) in enumerate(boxes):
            for lo2, hi2 in boxes[i + 1 :]:
                assert (hi1[:2] < lo2[:2]).any() or (hi2[:2] < lo1[:2]).any()


def test_chips_and_grooves_expose_the_substrate(cfg) -> None:
    """Under paint a chip or a scratch shows bare metal; under glaze the white
    ceramic body; without a substrate, freshly broken material of its own kind
    (``materials: []`` for scratches: their walls)."""
    presets = load_presets(cfg.scene.materials_dir)
    rng = np.random.default_rng(0)
    sc = cfg.scene
    for product, under in (("painted_steel", "bare_steel"), ("glazed_ceramic", "ceramic_body")):
        body = fam.sample_material(presets, product, rng)
        chip, _, _ = parts.defect_material(sc, "chip", product, body, presets, rng)
        assert chip.model_dump() != body.model_dump()
        ref = fam.sample_material(presets, under, np.random.default_rng(1))
        assert chip.metallic == pytest.approx(ref.metallic, abs=0.3)
        data = _data(cfg)
        data["scene"]["defects"]["scratch"]["materials"] = []
        c = validate_config(data)
        own, _, walls = parts.defect_material(c.scene, "scratch", product, body, presets, rng)
        assert own == body and walls is not None
    # no substrate of its own: its own kind, freshly broken (lighter, rougher)
    own = fam.sample_material(presets, "bare_steel", np.random.default_rng(5))
    broken = parts.substrate(presets, "bare_steel", np.random.default_rng(5))
    assert broken.roughness > own.roughness and sum(broken.base_color) > sum(own.base_color)


def test_fingerprint_ridges_follow_the_print() -> None:
    """A fingerprint carries ``whorl`` coordinates: its ridges (the material's rings
    in them) curve about a core inside the print, not stripes across it; and its
    outline is no clean oval (it wanders, or a chord cuts it off)."""
    from render.families.defects.geometry import assemblies

    plate = {"family": "plate", "length": 0.08, "width": 0.06, "thickness": 0.005, "holes": 0}
    wander = []
    for seed in range(4, 10):
        print_ = {"type": "fingerprint", "seed": seed, "size": 0.014}
        parts_ = assemblies._build({"product": plate, "nuisances": [print_], "min_width": 5e-4})
        mesh = parts_["nuisance_0"]
        whorl = mesh.point_attributes["whorl"]
        assert whorl.shape == (len(mesh.vertices), 3)
        fade = mesh.point_attributes["fade"]
        outline = fade == 0
        radius = np.linalg.norm(whorl[outline, :2], axis=1)
        # the core is inside the print: the centre of the patch is near it
        assert np.linalg.norm(whorl[fade.argmax(), :2]) < 0.5 * radius.max()
        assert radius.max() < 0.014  # ridge coordinates on the print's own scale
        assert np.abs(whorl[:, 2]).max() < 1e-3  # on the print's plane
        # the outline against the best ellipse through the print's centre
        rim = mesh.vertices[outline] - mesh.vertices[fade.argmax()]
        u, sv, vt = np.linalg.svd(rim, full_matrices=False)
        xy = rim @ vt[:2].T
        ang = np.arctan2(xy[:, 1], xy[:, 0])
        r = np.linalg.norm(xy, axis=1)
        design = np.stack([np.ones_like(ang), np.cos(2 * ang), np.sin(2 * ang)], 1)
        fit = design @ np.linalg.lstsq(design, r, rcond=None)[0]
        wander.append(float(np.abs(r - fit).max() / r.mean()))
    # a clean oval (the code before) stays within 0.07-0.10 of the fit; these wander
    assert np.median(wander) > 0.15 and max(wander) > 0.25, wander


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("can", {"radius": 0.03, "height": 0.09, "rim": 0.002}),
        ("bottle", {"radius": 0.03, "height": 0.2, "neck_radius": 0.012}),
    ],
)
def test_labels_have_straight_edges(family: str, params: dict) -> None:
    """A can's or bottle's label (material slot 1) ends at one height all round: no
    face of the wall straddles its edge (the edge was a zigzag of triangles)."""
    from render.families.defects.geometry.products import BOTTLE_LABEL, CAN_LABEL, build_product

    mesh = build_product(family, params)
    lo, hi = CAN_LABEL if family == "can" else BOTTLE_LABEL
    h = mesh.vertices[:, 2].max()
    z = mesh.vertices[mesh.faces][:, :, 2] / h
    label = mesh.material_index == 1
    assert label.sum() > 100
    assert z[label].min() == pytest.approx(lo) and z[label].max() == pytest.approx(hi)
    straddle = (z.min(1) < lo - 1e-9) & (z.max(1) > lo + 1e-9)
    straddle |= (z.min(1) < hi - 1e-9) & (z.max(1) > hi + 1e-9)
    assert not straddle.any()


def test_dents_craze_coatings_and_change_gloss(cfg) -> None:
    """A dent in paint or glaze crazes it (a ``crazing`` film driven by the dent's
    strain); in bare metal it only changes the gloss."""
    presets = load_presets(cfg.scene.materials_dir)
    for product, crazed in (("painted_steel", True), ("brushed_aluminium", False)):
        rng = np.random.default_rng(2)
        body = fam.sample_material(presets, product, rng)
        mat, _, walls = parts.defect_material(cfg.scene, "dent", product, body, presets, rng)
        assert walls is None and mat.base_color == body.base_color
        assert (mat.layer is not None and mat.layer.pattern == "crazing") is crazed
        assert mat.roughness != body.roughness
