"""Tiles of a virtual frame (issue 22): a small frame rendered whole and as tiles
in Blender (each tile is the crop of the whole render: masks, depth and, with the
denoiser off, pixels exactly; with OIDN within 40 dB), tile intrinsics that
reproject world points to the frame pixel minus the origin, tile planning, and
tiled scenes written as datasets (truncated instances, mm per pixel)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render import camera as cm
from render.config import load_config
from render.driver import run_render
from render.formats import coco
from render.formats.validate import validate_dataset
from render.sampling import sample_scene
from render.spec import GeometrySpec, MaterialSpec, TileSpec
from render.tiles import border_fractions, plan_defect_tiles, plan_tiles, tile_K, truncation
from tests.blender_helpers import cube_scene, render_specs

ROOT = Path(__file__).resolve().parents[1]
# A frame whose plain x / W border fractions truncate a pixel short in float32 at
# 13, 49, 53 (columns) and 26, 52, 63, 13 (rows from the bottom): every tile edge
# below is one of them (see test_border_fractions_truncate_to_the_tile_exactly).
W, H = 97, 71
TILES = [
    TileSpec(x=13, y=8, width=40, height=30),  # cuts the big cube
    TileSpec(x=49, y=19, width=48, height=26),
    TileSpec(x=0, y=0, width=W, height=H),  # the whole frame as a tile
    TileSpec(x=81, y=58, width=16, height=13, kind="background"),
]


def _frame_spec(denoiser: str):  # type: ignore[no-untyped-def]
    spec, _, pose = cube_scene(res=W, samples=4)
    K = cm.intrinsics(35.0, 36.0, W, H)
    second = spec.objects[0].model_copy(
        update={"name": "small", "instance_id": 2, "location": [0.35, 0.1, 0.2],
                "geometry": GeometrySpec(kind="procedural", generator="box",
                                         params={"size": [0.2] * 3}, part="body"),
                "material": MaterialSpec(base_color=[0.2, 0.5, 0.7], texture="none")}
    )  # fmt: skip
    return spec.model_copy(
        update={
            "objects": [*spec.objects, second],
            "camera": spec.camera.model_copy(update={"width": W, "height": H, "K": K.tolist()}),
            "render": spec.render.model_copy(update={"denoiser": denoiser, "dither": 0.0}),
        }
    )


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _blender_pixels(fraction: float, size: int) -> int:
    """What Blender makes of a border fraction: float32 DNA field, float32 product, truncated."""
    return int(np.float32(np.float32(fraction) * np.float32(size)))


@pytest.mark.parametrize("size", [W, H, 2448, 2048, 4000, 3000, 8192])
def test_border_fractions_truncate_to_the_tile_exactly(size: int) -> None:
    # the failure seen (a 5 MP run, tile x 56..834 came out 777 wide): 834 -> 833
    assert _blender_pixels(834 / 2448, 2448) == 833
    naive = [x for x in range(size + 1) if _blender_pixels(x / size, size) != x]
    for x in range(size):
        tile = TileSpec(x=x, y=0, width=size - x, height=1)
        lo, _, hi, _ = border_fractions(tile, size, 1)
        assert (_blender_pixels(lo, size), _blender_pixels(hi, size)) == (x, size), x
        tile = TileSpec(x=0, y=x, width=1, height=size - x)  # rows count from the bottom
        _, lo, _, hi = border_fractions(tile, 1, size)
        assert (_blender_pixels(lo, size), _blender_pixels(hi, size)) == (0, size - x), x
    if size in (W, H):
        assert naive, "the test frame must be one where naive fractions fail"


@pytest.mark.blender
def test_tiles_equal_the_crops_of_the_whole_frame(tmp_path: Path) -> None:
    specs = []
    for denoiser in ("none", "oidn"):
        whole = _frame_spec(denoiser)
        specs += [whole, whole.model_copy(update={"camera": whole.camera.model_copy(update={"tiles": TILES})})]  # fmt: skip
    out = render_specs(specs, tmp_path)
    psnrs = []
    for i, denoised in ((0, False), (2, True)):
        frame = {k: out[f"{k}_{i}_0"] for k in ("rgb", "depth", "instance")}
        assert (frame["instance"] == 1).sum() > 300 and (frame["instance"] == 2).any()
        for v, t in enumerate(TILES):
            crop = (slice(t.y, t.y + t.height), slice(t.x, t.x + t.width))
            tile = {k: out[f"{k}_{i + 1}_{v}"] for k in ("rgb", "depth", "instance")}
            assert tile["rgb"].shape == (t.height, t.width, 3)
            assert (tile["instance"] == frame["instance"][crop]).all(), (denoised, v)
            assert np.array_equal(tile["depth"], frame["depth"][crop]), (denoised, v)
            if not denoised:
                assert (tile["rgb"] == frame["rgb"][crop]).all(), v  # same seed and samples
            elif t.width < W:
                psnrs.append(_psnr(tile["rgb"], frame["rgb"][crop]))
            else:
                assert (tile["rgb"] == frame["rgb"]).all()  # the whole frame as a tile
    print(f"OIDN tiles vs crops of the whole render: PSNR {[round(p, 1) for p in psnrs]} dB")
    assert min(psnrs) >= 40.0, psnrs


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(-0.6, 0.6), y=st.floats(-0.6, 0.6), z=st.floats(0.0, 0.9),
    tx=st.integers(0, 60), ty=st.integers(0, 40),
)  # fmt: skip
def test_tile_camera_reprojects_to_the_frame_pixel_minus_its_origin(
    x: float, y: float, z: float, tx: int, ty: int
) -> None:
    spec = _frame_spec("none")
    K, pose = np.asarray(spec.camera.K), np.asarray(spec.camera.poses[0])
    tile = TileSpec(x=tx, y=ty, width=30, height=30)
    uv, depth = cm.project(np.array([[x, y, z]]), K, pose)
    uv_t, depth_t = cm.project(np.array([[x, y, z]]), np.asarray(tile_K(K, tile)), pose)
    assert depth_t[0] == pytest.approx(depth[0])
    assert uv_t[0] == pytest.approx(uv[0] - [tx, ty], abs=1e-9)


def test_truncation_and_the_full_box() -> None:
    tile = TileSpec(x=100, y=50, width=200, height=100)
    assert truncation([120.2, 60.5, 180.0, 140.0], tile) == (False, None)
    cut, box = truncation([80.5, 60.0, 150.2, 170.0], tile)
    assert cut and box == [-20, 10, 71, 110]
    assert truncation(None, tile) == (False, None)


@settings(max_examples=80, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(st.floats(0, 900), st.floats(0, 700), st.floats(5, 600), st.floats(5, 500)),
        min_size=1, max_size=4,
    ),
    margin=st.integers(0, 40), max_side=st.integers(64, 700), share=st.floats(0, 2),
)  # fmt: skip
def test_tile_plan_covers_every_product(
    boxes: list[tuple[float, float, float, float]], margin: int, max_side: int, share: float
) -> None:
    w, h = 1000, 800
    rects = [(x, y, min(x + bw, w), min(y + bh, h)) for x, y, bw, bh in boxes]
    tiles = plan_tiles(
        [[r] for r in rects], w, h, margin, max_side, share, np.random.default_rng(0)
    )
    products = [t for t in tiles if t.kind == "product"]
    cover = np.zeros((h, w), bool)
    for t in tiles:
        assert 0 <= t.x and t.x + t.width <= w and 0 <= t.y and t.y + t.height <= h
        assert t.width <= max(max_side, 1) and t.height <= max(max_side, 1)
        if t.kind == "product":
            cover[t.y : t.y + t.height, t.x : t.x + t.width] = True
    for x0, y0, x1, y1 in rects:  # every pixel of every product box (+ margin) is rendered
        r0, r1 = max(int(y0) - margin, 0), min(math.ceil(y1) + margin, h)
        c0, c1 = max(int(x0) - margin, 0), min(math.ceil(x1) + margin, w)
        assert cover[r0:r1, c0:c1].all()
    for t in tiles:
        if t.kind == "background":
            assert not cover[t.y : t.y + t.height, t.x : t.x + t.width].any()
    assert len(tiles) - len(products) <= round(share * len(products))


def _box(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    return (x, y, x + w, y + h)


@settings(max_examples=80, deadline=None)
@given(
    products=st.lists(
        st.tuples(
            st.tuples(st.floats(-50, 900), st.floats(-50, 700), st.floats(40, 500), st.floats(40, 400)),
            st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(1, 300), st.floats(1, 300)), max_size=4),
            st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(1, 20), st.floats(1, 20)), max_size=3),
        ),
        min_size=1, max_size=3,
    ),
    side=st.integers(64, 400), margin=st.integers(0, 16), share=st.floats(0, 1), seed=st.integers(0, 9),
    squares=st.integers(0, 2),
)  # fmt: skip
def test_defect_tiles_hold_every_defect(
    products: list[Any], side: int, margin: int, share: float, seed: int, squares: int
) -> None:
    """tiles.focus: defects: every defect in the frame lies whole, with its margin
    where the frame allows, in a defect tile (or, too large for one, is covered by
    defect tiles); a product without a defect gets one square of its own (on a
    nuisance where it has one), and every product ``product_squares`` more on it;
    those are drawn last, so without them the same seed plans the same defect and
    product squares; tiles are squares of ``side`` inside the frame; background
    tiles touch no product."""
    w, h = 1000, 800
    boxes, defects, hard = [], [], []
    for (px, py, pw, ph), ds, ns in products:
        boxes.append([_box(px, py, pw, ph)])
        defects.append([[_box(px + u * pw, py + v * ph, dw, dh)] for u, v, dw, dh in ds])
        hard.append([[_box(px + u * pw, py + v * ph, dw, dh)] for u, v, dw, dh in ns])
    tiles = plan_defect_tiles(
        boxes, defects, hard, w, h, side, margin, share, np.random.default_rng(seed), squares
    )
    before = plan_defect_tiles(
        boxes, defects, hard, w, h, side, margin, share, np.random.default_rng(seed)
    )
    assert [t for t in tiles if t.kind == "defect"] == [t for t in before if t.kind == "defect"]
    bare = [t for t in before if t.kind == "product"]
    assert [t for t in tiles if t.kind == "product"][: len(bare)] == bare
    for t in tiles:
        assert 0 <= t.x and t.x + t.width <= w and 0 <= t.y and t.y + t.height <= h
        assert t.width <= side and t.height <= side
        if t.kind != "background" and side <= min(w, h):
            fits = t.width == side and t.height == side
            assert fits or t.kind == "defect"  # only a large defect's grid is not square
    cover = np.zeros((h, w), bool)
    for t in tiles:
        if t.kind == "defect":
            cover[t.y : t.y + t.height, t.x : t.x + t.width] = True
    frame = (0, 0, w, h)

    def seen(b: tuple[float, float, float, float]) -> bool:
        return b[0] < w and b[1] < h and b[2] > 0 and b[3] > 0

    for p, per_product in enumerate(defects):
        visible = [d[0] for d in per_product if seen(d[0])]
        for x0, y0, x1, y1 in visible:
            r0, r1 = max(math.floor(y0) - margin, 0), min(math.ceil(y1) + margin, h)
            c0, c1 = max(math.floor(x0) - margin, 0), min(math.ceil(x1) + margin, w)
            if r1 - r0 <= side and c1 - c0 <= side:  # whole in one tile
                assert any(
                    t.kind == "defect" and t.x <= c0 and t.y <= r0
                    and c1 <= t.x + t.width and r1 <= t.y + t.height
                    for t in tiles
                ) or any(  # or inside an earlier defect's tile (without its margin)
                    t.kind == "defect" and t.x <= x0 and t.y <= y0
                    and x1 <= t.x + t.width and y1 <= t.y + t.height
                    for t in tiles
                ), (x0, y0, x1, y1)  # fmt: skip
            else:
                assert cover[r0:r1, c0:c1].all()
        if seen(boxes[p][0]):
            mine = [t for t in tiles if t.kind == "product"
                    and _overlap_box(boxes[p][0], (t.x, t.y, t.x + t.width, t.y + t.height))]  # fmt: skip
            assert len(mine) >= squares + (not visible), p
    for t in tiles:
        if t.kind == "background":
            r = (t.x, t.y, t.x + t.width, t.y + t.height)
            assert not any(_overlap_box(b[0], r) for b in boxes if seen(b[0]))
    assert frame


def _overlap_box(a: Any, b: Any) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_defects_focus_renders_under_a_third_of_the_pixels_around_every_defect() -> None:
    """The learn_defects training ranges with tiles.focus: defects: each defect's
    projected mesh lies inside a defect tile, and the scenes need a small share of the
    pixels that tiles over whole products do (docs/defects.md)."""
    from render.amodal import projected_extent
    from render.families.defects.tiling import part_points
    from render.spec import ProductInfo

    sets = [
        "scene.camera.optics.sensor=5mp", "scene.camera.optics.resolve_mm=0.15",
        "scene.products_per_image=[1,2]", "scene.defects_per_product=[2,4]",
        "scene.good_fraction=0.05",
    ]  # fmt: skip
    cfg = load_config(ROOT / "configs" / "defects_tiles.yaml", sets)
    focused = load_config(ROOT / "configs" / "defects_tiles.yaml", [*sets, "scene.camera.tiles.focus=defects"])  # fmt: skip
    pixels = {"products": 0, "defects": 0}
    held = 0
    for i in range(4):
        whole, spec = sample_scene(cfg, i), sample_scene(focused, i)
        assert [o.name for o in whole.objects] == [o.name for o in spec.objects]  # same scene
        pixels["products"] += sum(t.width * t.height for t in whole.camera.tiles or [])
        pixels["defects"] += sum(t.width * t.height for t in spec.camera.tiles or [])
        cam = spec.camera
        for o in spec.objects:
            if not isinstance(o.info, ProductInfo):
                continue
            for pts in part_points(o, "defect"):
                box = projected_extent(pts, cam.K, cam.poses[0])
                assert box is not None
                assert any(
                    t.kind == "defect" and t.x <= box[0] and t.y <= box[1]
                    and box[2] <= t.x + t.width and box[3] <= t.y + t.height
                    for t in cam.tiles or []
                ) or box[2] - box[0] > 512 - 64 or box[3] - box[1] > 512 - 64, (i, o.name)  # fmt: skip
                held += 1
    assert held >= 8
    assert pixels["defects"] < pixels["products"] / 3, pixels


def test_optics_set_the_frame_and_mm_per_pixel() -> None:
    cfg = load_config(ROOT / "configs" / "defects_tiles.yaml")
    spec = sample_scene(cfg, 0)
    c = spec.camera
    assert (c.width, c.height) == (4096, 3000)
    assert c.mm_per_px == pytest.approx(0.1 / 3)
    # the pinhole: one 3.45 um pixel at the look-at distance spans mm_per_px
    pose = np.asarray(c.poses[0])
    target = np.asarray(spec.objects[0].location)  # the support under the products
    distance = np.linalg.norm(pose[:3, 3] - target)
    focal_px = c.K[0][0]
    assert distance * 1000 / focal_px == pytest.approx(c.mm_per_px, rel=0.15)
    assert c.tiles and all(t.width <= 1024 and t.height <= 1024 for t in c.tiles)
    lens = spec.meta["focal_mm"]
    assert 12 <= lens <= 35


def test_impossible_optics_are_refused() -> None:
    from render.errors import ConfigError

    with pytest.raises(ConfigError, match="needs a focal length of"):
        load_config(
            ROOT / "configs" / "defects_tiles.yaml",
            ["scene.camera.working_distance_mm=[60, 100]", "scene.camera.focal_length_mm=[25, 35]"],
        )


def test_a_tiled_render_is_a_valid_dataset(tmp_path: Path) -> None:
    """Fake renderer: every tile an image with its origin, the frame size, K shifted
    by the origin, mm per pixel; an instance cut by its tile is flagged truncated
    with its full box past the tile's edges."""
    cfg = load_config(
        ROOT / "configs" / "demo.yaml",
        ["num_scenes=2", "render.resolution=[96, 72]", "annotation.min_pixels=1"],
    )
    out = tmp_path / "whole"
    run_render(cfg, out, renderer="tests.fake_renderer", progress=False)
    specs = [sample_scene(cfg, i).model_copy(deep=True) for i in range(cfg.num_scenes)]
    for s in specs:
        s.camera.tiles = [TileSpec(view=0, x=20, y=10, width=50, height=40),
                          TileSpec(view=1, x=0, y=0, width=96, height=72)]  # fmt: skip
        s.camera.mm_per_px = 0.5
    tiled = tmp_path / "tiled"
    run_render(cfg, tiled, renderer="tests.fake_renderer", progress=False, specs=specs)
    assert validate_dataset(tiled) == []
    whole = json.loads((out / "annotations.json").read_text())
    doc = json.loads((tiled / "annotations.json").read_text())
    frame_of = {(im["scene_id"], im["view_index"]): im for im in whole["images"]}
    cut = 0
    for im in doc["images"]:
        t = im["tile"]
        assert (t["frame_width"], t["frame_height"]) == (96, 72) and im["mm_per_px"] == 0.5
        full = frame_of[(im["scene_id"], t["view"])]
        K = np.asarray(im["camera_K"])
        assert (
            K[0][2] == full["camera_K"][0][2] - t["x"]
            and K[1][2] == full["camera_K"][1][2] - t["y"]
        )
        assert im["camera_pose"] == full["camera_pose"]
        mine = [a for a in doc["annotations"] if a["image_id"] == im["id"]]
        theirs = {
            a["instance_name"]: a for a in whole["annotations"] if a["image_id"] == full["id"]
        }
        for a in mine:
            m = coco.decode(a["segmentation"])
            ref = coco.decode(theirs[a["instance_name"]]["segmentation"])
            ref = ref[t["y"] : t["y"] + im["height"], t["x"] : t["x"] + im["width"]]
            assert (m == ref).all(), a["instance_name"]
            if a["truncated"]:
                cut += 1
                x, y, w, h = a["bbox_amodal"]
                assert x < 0 or y < 0 or x + w > im["width"] or y + h > im["height"]
    assert cut > 0


@pytest.mark.blender
def test_defects_tiles_preset_renders_a_valid_dataset(tmp_path: Path) -> None:
    """configs/defects_tiles.yaml end to end on a small custom sensor (400x300 px at
    0.2 mm per pixel, tiles at most 160 px): every image a tile of the frame with its
    origin, mm per pixel and shifted K; defects measured in pixels too; valid COCO."""
    cfg = load_config(
        ROOT / "configs" / "defects_tiles.yaml",
        ["num_scenes=1", "render.samples=2", "render.denoiser=none",
         "scene.camera.optics={sensor: custom, width_px: 400, height_px: 300, pixel_um: 3.45, "
         "resolve_mm: 0.6, px_per_defect: 3}",
         "scene.camera.tiles.max_side_px=160", "scene.products_per_image=[1, 1]",
         "scene.good_fraction=0", "scene.min_defect_contrast=0", "scene.min_defect_pixels=4"],
    )  # fmt: skip
    out = tmp_path / "tiles"
    run_render(cfg, out, progress=False)
    assert validate_dataset(out) == []
    doc = json.loads((out / "annotations.json").read_text())
    assert len(doc["images"]) >= 2
    spec = json.loads((out / "scenes" / "000000.json").read_text())
    K = spec["camera"]["K"]
    for im in doc["images"]:
        t = im["tile"]
        assert (t["frame_width"], t["frame_height"]) == (400, 300) and im["mm_per_px"] == 0.2
        assert im["width"] <= 160 and im["height"] <= 160
        assert im["camera_K"][0][2] == pytest.approx(K[0][2] - t["x"])
        assert im["camera_K"][1][2] == pytest.approx(K[1][2] - t["y"])
    measured = [
        a["attributes"] for a in doc["annotations"] if "length_mm" in (a.get("attributes") or {})
    ]
    assert measured  # a defective product's defects, measured
    for attrs in measured:
        assert attrs["length_px"] == pytest.approx(attrs["length_mm"] / 0.2, abs=0.01)
    assert any(a.get("truncated") for a in doc["annotations"])  # products cut by 160 px tiles
