"""render.dataset: layout, atomic commit, resume, merge, formats (fake renders)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from render import atomic, dataset, merge, shards
from render.config import Config
from render.errors import DatasetError, UserError
from render.formats import coco
from render.seeding import stream
from render.spec import (
    CameraSpec,
    DefectInfo,
    GeometrySpec,
    MaterialSpec,
    ObjectSpec,
    RenderSpec,
    SceneSpec,
    WorldSpec,
)
from render.views import SceneRender, ViewResult

W, H = 40, 30


def make_config(**render: object) -> Config:
    return Config.model_validate(
        {
            "categories": [
                {"id": 1, "name": "box"},
                {"id": 3, "name": "dent", "supercategory": "defect"},
            ],
            "render": {"resolution": [W, H], **render},
            "scene": {"family": "generic", "shapes": [{"category": "box", "primitive": "CUBE"}]},
        }
    )


def _obj(
    name: str,
    iid: int,
    category: int,
    parent: int | None = None,
    min_pixels: int | None = None,
    info: DefectInfo | None = None,
) -> ObjectSpec:
    return ObjectSpec(
        name=name,
        instance_id=iid,
        category_id=category,
        parent_id=parent,
        geometry=GeometrySpec(kind="primitive", primitive="CUBE"),
        material=MaterialSpec(base_color=[0.2, 0.3, 0.4]),
        min_pixels=min_pixels,
        info=info,
    )


def fake_scene(scene_index: int, views: int = 2, seed: int = 0) -> tuple[SceneSpec, SceneRender]:
    """Two boxes, a dent on box 1 (too small in some views), a hidden box 4, a ground prop."""
    rng = stream(seed, scene_index, "fake_render")
    objects = [
        _obj("ground", 0, 0),
        _obj("box1", 1, 1),
        _obj("box2", 2, 1),
        _obj(
            "dent",
            3,
            3,
            parent=1,
            min_pixels=3,
            info=DefectInfo(type="dent", length_mm=5.0, depth_mm=0.4),
        ),
        _obj("box4", 4, 1),
    ]
    poses = []
    results = []
    for v in range(views):
        pose = np.eye(4)
        pose[:3, 3] = [0.1 * v, 0.0, -2.0]
        poses.append(pose.tolist())
        inst = np.zeros((H, W), np.int32)
        x0 = int(rng.integers(0, 10))
        inst[5:20, x0 : x0 + 12] = 1
        inst[8:25, 25:38] = 2
        if v % 2 == 0:
            inst[7:9, x0 + 2 : x0 + 4] = 3  # 4 px, visible
        else:
            inst[7, x0 + 2 : x0 + 4] = 3  # 2 px < min_pixels 3
        rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        depth = rng.uniform(0.5, 3.0, size=(H, W)).astype(np.float32)
        depth[0, :] = np.inf
        depth[1, 0] = 70.0  # beyond png16 range
        results.append(ViewResult(rgb=rgb, depth=depth, instance=inst, timings={"render_s": 0.5}))
    spec = SceneSpec(
        family="generic",
        scene_index=scene_index,
        seed=seed,
        objects=objects,
        lights=[],
        world=WorldSpec(color=[1, 1, 1]),
        camera=CameraSpec(
            width=W, height=H, K=[[50, 0, W / 2], [0, 50, H / 2], [0, 0, 1]], poses=poses
        ),
        render=RenderSpec(samples=4, denoiser="none"),
        meta={"note": "fake"},
    )
    render = SceneRender(
        views=results,
        object_poses={"box1": np.eye(4).tolist()},
        timings={"build_s": 0.25},
    )
    return spec, render


def write_all(out: Path, cfg: Config, scenes: list[int]) -> list[dict]:
    return [dataset.write_scene(out, *fake_scene(i), cfg) for i in scenes]


def no_temp_files(out: Path) -> bool:
    return not [p for p in out.rglob("*") if p.name.endswith(atomic.TMP_SUFFIX)]


def test_layout_and_contents(tmp_path: Path) -> None:
    cfg = make_config()
    out = tmp_path / "ds"
    dataset.prepare_output(out, resume=False, overwrite=False)
    summary = dataset.write_scene(out, *fake_scene(7), cfg)
    assert summary["scene_index"] == 7 and summary["images"] == 2
    # view 0: box1, box2, dent, view 1: box1, box2 (dent below its own threshold)
    assert summary["annotations"] == 5
    assert summary["category_counts"] == {"box": 4, "dent": 1}
    assert {"build_s", "view_render_s", "annotate_s", "encode_s", "write_s", "writer_s"} <= set(
        summary["timings"]
    )
    assert summary["timings"]["view_render_s"] == 1.0
    for v in range(2):
        assert (out / f"images/000007_{v:03d}.png").is_file()
        assert (out / f"depth/000007_{v:03d}.png").is_file()
    assert (out / "scenes/000007.json").is_file()
    assert no_temp_files(out)

    shard = json.loads((out / "shards/000007.json").read_text())
    img = shard["images"][1]
    assert img["id"] == 7002 and img["file_name"] == "images/000007_001.png"
    assert (img["width"], img["height"], img["scene_id"], img["view_index"]) == (W, H, 7, 1)
    assert img["depth_file"] == "depth/000007_001.png"
    assert np.asarray(img["camera_K"]).shape == (3, 3)
    assert np.asarray(img["camera_pose"]).shape == (4, 4)
    assert img["camera_pose"][0][3] == pytest.approx(0.1)
    ann_ids = [a["id"] for a in shard["annotations"]]
    assert ann_ids == [70010001, 70010002, 70010003, 70020001, 70020002]
    dent = shard["annotations"][2]
    assert dent["scene_parent"] == 1 and dent["scene_instance"] == 3
    assert dent["attributes"] == {"type": "dent", "length_mm": 5.0, "depth_mm": 0.4}

    scene = json.loads((out / "scenes/000007.json").read_text())
    assert SceneSpec.model_validate(scene).scene_index == 7
    assert scene["meta"]["note"] == "fake"
    assert scene["meta"]["settled_poses"] == {"box1": np.eye(4).tolist()}
    assert scene["meta"]["visible_pixels"]["1"]["3"] == 2  # dent kept in the spec, not annotated
    assert scene["meta"]["visible_pixels"]["0"]["4"] == 0
    assert scene["meta"]["annotated"] == {"0": [1, 2, 3], "1": [1, 2]}
    visible = {o["instance_id"]: o["visible"] for o in scene["objects"] if o["instance_id"] > 0}
    assert visible[3] is True  # annotated in view 0 only
    assert all(visible[i] is (i in (1, 2, 3)) for i in visible)

    # rgb is stored as RGB (not BGR) and losslessly in PNG
    spec, render = fake_scene(7)
    stored = np.asarray(Image.open(out / "images/000007_000.png"))
    assert np.array_equal(stored, render.views[0].rgb)


def test_merge_loads_with_pycocotools(tmp_path: Path) -> None:
    cfg = make_config()
    out = tmp_path / "ds"
    dataset.prepare_output(out, resume=False, overwrite=False)
    write_all(out, cfg, [2, 0, 1])
    stats = merge.merge(out, cfg, {"description": "test"})
    assert stats["scenes"] == 3 and stats["images"] == 6 and stats["annotations"] == 15
    assert stats["category_counts"] == {"box": 12, "dent": 3}
    assert stats["timings"]["build_s"] == pytest.approx(0.75)
    doc = json.loads((out / "annotations.json").read_text())
    assert doc["info"] == {"description": "test"} and doc["licenses"] == []
    assert doc["categories"] == [
        {"id": 1, "name": "box", "supercategory": ""},
        {"id": 3, "name": "dent", "supercategory": "defect"},
    ]
    # compact ids from 1 in (scene, view) order; scene and view stay in each entry
    assert [i["id"] for i in doc["images"]] == [1, 2, 3, 4, 5, 6]
    assert [(i["scene_id"], i["view_index"]) for i in doc["images"]] == [
        (s, v) for s in range(3) for v in range(2)
    ]
    assert [a["id"] for a in doc["annotations"]] == list(range(1, 16))
    api = COCO(str(out / "annotations.json"))
    assert len(api.getAnnIds()) == 15
    for ann in api.loadAnns(api.getAnnIds()):
        m = api.annToMask(ann)
        assert int(m.sum()) == ann["area"]
        assert coco.mask_bbox(m.astype(bool)) == ann["bbox"]
    assert no_temp_files(out)


def test_ids_independent_of_write_order(tmp_path: Path) -> None:
    cfg = make_config()
    docs = []
    for order in ([0, 1, 2], [2, 1, 0]):
        out = tmp_path / "-".join(map(str, order))
        dataset.prepare_output(out, resume=False, overwrite=False)
        write_all(out, cfg, order)
        merge.merge(out, cfg, {})
        docs.append((out / "annotations.json").read_bytes())
    assert docs[0] == docs[1]


def test_resume_and_uncommitted_scene(tmp_path: Path) -> None:
    cfg = make_config()
    out = tmp_path / "ds"
    dataset.prepare_output(out, resume=False, overwrite=False)
    assert shards.completed_scenes(out) == set()
    write_all(out, cfg, [0, 1, 3])
    assert shards.completed_scenes(out) == {0, 1, 3}
    # a crash before the shard: files of scene 1 exist but it is not complete
    (out / "shards/000001.json").unlink()
    # a torn / foreign shard is not complete either
    (out / "shards/000003.json").write_text('{"scene_index": 3, "images": [')
    (out / "shards/000009.json").write_text(
        json.dumps({"scene_index": 8, "images": [], "annotations": []})
    )
    (out / "shards/notes.json").write_text("{}")
    (out / f"shards/.000005.json.abc{atomic.TMP_SUFFIX}").write_text("partial")
    assert shards.completed_scenes(out) == {0}
    with pytest.raises(UserError, match="not empty"):
        dataset.prepare_output(out, resume=False, overwrite=False)
    dataset.prepare_output(out, resume=True, overwrite=False)
    assert (out / "images/000001_000.png").is_file()  # kept
    assert no_temp_files(out)  # stale temp files dropped
    (out / "shards/000009.json").unlink()
    write_all(out, cfg, [1, 3])
    assert shards.completed_scenes(out) == {0, 1, 3}
    stats = merge.merge(out, cfg, {}, scenes=[0, 1, 3])
    assert stats["images"] == 6
    with pytest.raises(DatasetError, match=r"scene\(s\) \[2\]"):
        merge.merge(out, cfg, {}, scenes=[0, 1, 2])
    (out / "shards/000000.json").write_text("garbage")
    with pytest.raises(DatasetError, match="000000.json"):
        merge.merge(out, cfg, {})


def test_failed_write_leaves_no_temp_and_keeps_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.json"
    atomic.atomic_write_json(target, {"v": 1})

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic.atomic_write_json(target, {"v": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["a.json"]
    with pytest.raises(ValueError):
        atomic.atomic_write_json(target, {"v": float("nan")})
    assert os.listdir(tmp_path) == ["a.json"]


def test_jpeg_and_depth_formats(tmp_path: Path) -> None:
    spec, render = fake_scene(4, views=1)
    view = render.views[0]
    view.rgb[:] = (200, 40, 10)  # a solid colour survives JPEG: catches swapped channels

    cfg = make_config(image_format="jpeg", jpeg_quality=90, depth_format="npz")
    out = tmp_path / "jpeg"
    dataset.prepare_output(out, resume=False, overwrite=False)
    dataset.write_scene(out, spec, render, cfg)
    img = json.loads((out / "shards/000004.json").read_text())["images"][0]
    assert (
        img["file_name"] == "images/000004_000.jpg" and img["depth_file"] == "depth/000004_000.npz"
    )
    with Image.open(out / img["file_name"]) as im:
        assert im.format == "JPEG" and im.size == (W, H)
        assert np.allclose(np.asarray(im, dtype=float).mean((0, 1)), (200, 40, 10), atol=3)
    npz = dataset.read_depth(out / img["depth_file"])
    assert npz.dtype == np.float32 and np.array_equal(npz, view.depth)
    with np.load(out / img["depth_file"]) as data:
        assert list(data.keys()) == ["depth"]

    cfg = make_config(depth_format="png16")
    out = tmp_path / "png16"
    dataset.prepare_output(out, resume=False, overwrite=False)
    dataset.write_scene(out, spec, render, cfg)
    raw = cv2.imread(str(out / "depth/000004_000.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (H, W)
    assert (raw[0] == 0).all() and raw[1, 0] == 0  # inf and > 65.535 m -> 0
    back = dataset.read_depth(out / "depth/000004_000.png")
    finite = np.isfinite(view.depth) & (view.depth < 65.5)
    assert np.abs(back[finite] - view.depth[finite]).max() <= 0.0005 + 1e-6
    assert np.isinf(back[~finite]).all()

    cfg = make_config(depth_format="none")
    out = tmp_path / "nodepth"
    dataset.prepare_output(out, resume=False, overwrite=False)
    dataset.write_scene(out, spec, render, cfg)
    assert not (out / "depth").exists()
    assert json.loads((out / "shards/000004.json").read_text())["images"][0]["depth_file"] is None


def test_prepare_output_refusal_and_overwrite(tmp_path: Path) -> None:
    cfg = make_config()
    out = tmp_path / "ds"
    dataset.prepare_output(out, resume=False, overwrite=False)
    write_all(out, cfg, [0])
    merge.merge(out, cfg, {})
    dataset.write_dataset_json(out, {"seed": 0})
    (out / "README.txt").write_text("mine")
    (out / "notes").mkdir()
    (out / "notes/a.txt").write_text("mine too")
    with pytest.raises(UserError) as err:
        dataset.prepare_output(out, resume=False, overwrite=False)
    assert str(err.value) == (
        f"{out}: output directory is not empty; use --resume to continue or --overwrite to replace it"
    )
    with pytest.raises(UserError, match="mutually exclusive"):
        dataset.prepare_output(out, resume=True, overwrite=True)
    dataset.prepare_output(out, resume=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [
        ".synthcv.json",  # the marker: this folder holds a synthcv render (render/outputs.py)
        "README.txt",
        "images",
        "notes",
        "scenes",
        "shards",
    ]
    assert (out / "notes/a.txt").read_text() == "mine too"
    assert not any((out / "images").iterdir())
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        dataset.prepare_output(tmp_path / "file", resume=False, overwrite=True)


def test_write_dataset_json(tmp_path: Path) -> None:
    payload = {
        "seed": 3,
        "camera_convention": "camera_pose: 4x4 camera-to-world, OpenCV",
        "n": np.int64(2),
    }
    dataset.write_dataset_json(tmp_path, payload)
    assert json.loads((tmp_path / "dataset.json").read_text())["n"] == 2


def test_write_scene_errors(tmp_path: Path) -> None:
    cfg = make_config()
    spec, render = fake_scene(0)
    with pytest.raises(ValueError, match="1 views for 2 camera poses"):
        dataset.write_scene(tmp_path, spec, SceneRender(views=render.views[:1]), cfg)
    bad = spec.model_copy(update={"objects": [*spec.objects, _obj("x", 9, 42)]})
    with pytest.raises(ValueError, match="category_id 42"):
        dataset.write_scene(tmp_path, bad, render, cfg)
    small = spec.model_copy(update={"camera": spec.camera.model_copy(update={"width": W + 1})})
    with pytest.raises(ValueError, match=f"rendered {W}x{H}"):
        dataset.write_scene(tmp_path, small, render, cfg)
