"""Defects family: config, sampling determinism, JSON round trip, balance, tiny render."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from render.config import load_config, validate_config
from render.errors import ConfigError
from render.families.defects import layout
from render.families.defects import sampler as fam
from render.families.defects.geometry.assemblies import base_mesh
from render.geometry.rotations import euler_xyz_to_matrix
from render.seeding import stream
from render.spec import DefectInfo, NuisanceInfo, ProductInfo, SceneSpec

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "defects.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG)


def test_sampling_is_deterministic_and_round_trips(cfg) -> None:
    a = fam.sample_defects(cfg, 7)
    b = fam.sample_defects(cfg, 7)
    assert a.model_dump() == b.model_dump()
    again = SceneSpec.model_validate_json(a.model_dump_json())
    assert again == a
    assert fam.sample_defects(cfg, 8).model_dump() != a.model_dump()


def test_scene_structure(cfg) -> None:
    names = {c.id: c.name for c in cfg.categories}
    for i in range(12):
        spec = fam.sample_defects(cfg, i)
        products = {
            o.instance_id: o for o in spec.objects if o.instance_id > 0 and o.parent_id is None
        }
        assert 1 <= len(products) <= cfg.scene.products_per_image[1]
        for o in spec.objects:
            if o.parent_id is None:
                continue
            parent = products[o.parent_id]
            # a defect is a part of its product's generator call, at the same pose
            assert (
                o.geometry.params is parent.geometry.params
                or o.geometry.params == parent.geometry.params
            )
            assert o.location == parent.location and o.rotation_euler == parent.rotation_euler
            if isinstance(o.info, NuisanceInfo):  # not a defect, never a defect's category
                assert o.min_pixels == cfg.scene.min_defect_pixels
                category = cfg.scene.nuisances[o.info.type].category
                assert names.get(o.category_id) == category or (
                    o.category_id == 0 and not o.annotate
                )
                assert category not in {d.category for d in cfg.scene.defects.values()}
            elif names[o.category_id] != "component":
                assert o.min_pixels == cfg.scene.min_defect_pixels
                assert isinstance(o.info, DefectInfo)
                assert o.info.type == names[o.category_id]
        ids = [o.instance_id for o in spec.objects if o.instance_id > 0]
        assert len(ids) == len(set(ids))
        assert len(spec.camera.poses) == cfg.render.views_per_scene


def test_min_width_follows_the_camera(cfg) -> None:
    """Masks are at least min_defect_width_px wide in the image (the strip a groove is
    cut in, measured on the built geometry); a crack's opening is at least a pixel."""
    from render.families import build_geometry

    spec = fam.sample_defects(cfg, 3)
    m = spec.meta
    px = m["field_of_view_m"] / cfg.render.resolution[0]
    assert m["min_defect_width_m"] >= cfg.scene.min_defect_width_px * px
    grooves = 0
    for o in spec.objects:
        for d in o.geometry.params.get("defects", []):
            if d["type"] == "crack":
                assert d["width"] >= px
        if isinstance(o.info, DefectInfo) and o.info.type in ("scratch", "crack"):
            part = build_geometry(o.geometry.generator, o.geometry.params)[o.geometry.part]
            if len(part.faces):
                assert part.measures["mask_width"] >= 0.97 * m["min_defect_width_m"]
                grooves += 1
    assert grooves


def test_balance_tracks_targets(cfg) -> None:
    sc = cfg.scene
    counts = dict.fromkeys(sc.defects, 0)
    good = total = 0
    rng = stream(0, 0, "unused")
    for i in range(500):
        for j in range(3):
            total += 1
            if fam.is_good(sc, cfg.seed, i, j, rng):
                good += 1
                continue
            for k in range(2):
                counts[fam.defect_type(sc, cfg.seed, i, j * fam.MAX_DEFECT_SLOTS + k, rng)] += 1
    n = sum(counts.values())
    weights = {t: d.frequency for t, d in sc.defects.items()}
    for t, c in counts.items():
        assert c / n == pytest.approx(weights[t] / sum(weights.values()), abs=0.01), (t, counts)
    assert good / total == pytest.approx(sc.good_fraction, abs=0.01)


def test_balance_of_sampled_scenes(cfg) -> None:
    """End to end over real specs: rare types are not rare, good share respected."""
    names = {c.id: c.name for c in cfg.categories}
    counts: dict[str, int] = {}
    good = products = 0
    for i in range(150):
        for o in fam.sample_defects(cfg, i).objects:
            if o.instance_id and o.parent_id is None:
                products += 1
                assert isinstance(o.info, ProductInfo)
                good += o.info.good
            elif isinstance(o.info, DefectInfo):
                counts[names[o.category_id]] = counts.get(names[o.category_id], 0) + 1
    n = sum(counts.values())
    freq = {t: d.frequency for t, d in cfg.scene.defects.items()}
    for t, f in freq.items():
        assert counts[t] / n == pytest.approx(f / sum(freq.values()), abs=0.05), counts
    assert good / products == pytest.approx(cfg.scene.good_fraction, abs=0.06)


def test_unknown_product_param_is_named(cfg) -> None:
    data = json.loads(cfg.model_dump_json())
    data["scene"]["products"][0]["params"] = {"teeth": [3, 4]}
    with pytest.raises(ConfigError, match="params.teeth"):
        validate_config(data)


def test_missing_category_is_named(cfg) -> None:
    data = json.loads(cfg.model_dump_json())
    data["categories"] = [c for c in data["categories"] if c["name"] != "chip"]
    with pytest.raises(ConfigError, match="chip"):
        validate_config(data)


def test_material_presets_are_valid(cfg) -> None:
    presets = fam.load_presets(cfg.scene.materials_dir)
    rng = np.random.default_rng(0)
    needed = {m for p in cfg.scene.products for m in p.materials}
    needed |= {m for d in cfg.scene.defects.values() for m in d.materials}
    for name in sorted(needed | set(presets)):
        mat = fam.sample_material(presets, name, rng)
        assert all(0 <= c <= 1 for c in mat.base_color)


def test_dust_varies_in_lightness_not_hue(cfg) -> None:
    """Dust is grey to pale or dark, never purple or green: its channels move
    together (lightness_jitter), a tint at most (saturation < 0.25)."""
    presets = fam.load_presets(cfg.scene.materials_dir)
    rng = np.random.default_rng(0)
    colors = np.array([fam.sample_material(presets, "dust", rng).base_color for _ in range(200)])
    sat = (colors.max(1) - colors.min(1)) / colors.max(1)
    assert sat.max() < 0.25
    assert colors.mean(1).max() > 2.5 * colors.mean(1).min()  # dark grit to pale dust


@pytest.mark.blender
def test_tiny_render_defect_masks_nest(tmp_path: Path) -> None:
    from render.driver import run_render
    from render.formats import coco

    cfg = load_config(
        CONFIG,
        [
            "num_scenes=1",
            "render.resolution=[160,160]",
            "render.samples=2",
            "render.denoiser=none",
            "scene.good_fraction=0",
            "scene.products_per_image=[1,1]",
            "scene.min_defect_pixels=4",
        ],
    )
    run_render(cfg, tmp_path / "out", progress=False, workers=1)
    data = json.loads((tmp_path / "out" / "annotations.json").read_text())
    spec = SceneSpec.model_validate_json(
        next((tmp_path / "out" / "scenes").glob("*.json")).read_text()
    )
    anns = {a["scene_instance"]: a for a in data["annotations"]}
    visible = spec.meta["visible_pixels"]["0"]  # view 0: {instance_id: own + descendant pixels}
    contrast = spec.meta.get("contrast", {}).get("0", {})  # view 0: {instance_id: contrast}
    defects = [o for o in spec.objects if o.parent_id is not None]
    assert defects
    for o in defects:
        seen = visible.get(str(o.instance_id), 0)
        c = contrast.get(str(o.instance_id))
        faint = o.min_contrast is not None and c is not None and c < o.min_contrast
        if o.instance_id not in anns:
            # too small or too faint (kept in the spec only), or not to be annotated
            assert seen < (o.min_pixels or 1) or faint or not o.annotate
            continue
        assert seen >= (o.min_pixels or 1) and not faint and o.annotate
        mask = coco.decode(anns[o.instance_id]["segmentation"])
        parent = coco.decode(anns[o.parent_id]["segmentation"])
        assert mask.sum() == seen and not (mask & ~parent).any()


def test_arrangement_respects_overlap_setting() -> None:
    rng = np.random.default_rng(0)
    radii, heights = [0.03, 0.03, 0.03], [0.01, 0.01, 0.01]
    spots, area = layout.arrange(radii, heights, 0.05, 0.2, False, False, rng)
    assert len(spots) == 3
    for i, (a, ra, za) in enumerate(spots):
        assert za == 0.0 and np.all(np.abs(a) + ra <= np.array(area) + 1e-9)
        for b, rb, _ in spots[i + 1 :]:
            assert np.linalg.norm(a - b) >= ra + rb
    # crowded and allowed to overlap: some product rests on another one
    stacked = [
        layout.arrange(radii, heights, 0.05, 0.05, False, True, np.random.default_rng(s))[0]
        for s in range(10)
    ]
    assert any(z > 0 for spots in stacked for _, _, z in spots)


def test_products_stay_inside_the_tray(cfg) -> None:
    seen = 0
    for i in range(60):
        spec = fam.sample_defects(cfg, i)
        if spec.meta["background"] != "tray":
            continue
        tray = next(o for o in spec.objects if o.name == "tray").geometry.params
        for o in spec.objects:
            if o.instance_id and o.parent_id is None:
                v = (
                    base_mesh(o.geometry.params["product"]).vertices
                    @ euler_xyz_to_matrix(o.rotation_euler).T
                )
                v = v + np.array(o.location)
                assert np.abs(v[:, 0]).max() <= tray["length"] / 2 + 1e-6
                assert np.abs(v[:, 1]).max() <= tray["width"] / 2 + 1e-6
                seen += 1
    assert seen > 0


def test_motion_blur_moves_every_part_together() -> None:
    """With motion blur, products, their defects and components share one velocity that
    covers ``motion_blur_px`` pixels at the working distance during the shutter."""
    import math

    cfg = load_config(
        CONFIG,
        ["scene.camera.motion_blur_probability=1", "scene.camera.motion_blur_px=[3,3]"],
    )
    for i in range(5):
        spec = fam.sample_defects(cfg, i)
        s = spec.camera.motion_blur
        assert 0 < s < 1
        moving = [o for o in spec.objects if o.velocity is not None]
        assert moving and {o.instance_id > 0 for o in spec.objects if o.velocity is not None} == {
            True
        }
        assert all(o.velocity is None for o in spec.objects if o.instance_id == 0)
        assert len({tuple(o.velocity) for o in moving}) == 1
        speed = math.hypot(*moving[0].velocity[:2])
        pixel_m = spec.meta["field_of_view_m"] / spec.camera.width
        assert speed * s == pytest.approx(3 * pixel_m)
