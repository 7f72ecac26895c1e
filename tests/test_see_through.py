"""See-through objects (a fingerprint's film, a water drop) hide nothing in the
annotations: what lies behind keeps those pixels (``ObjectSpec.see_through``)."""

from __future__ import annotations

import numpy as np
import pytest

from render.annotate import ViewMaps, annotate_maps
from render.formats import coco
from render.spec import GeometrySpec, MaterialSpec, ObjectSpec
from render.views import ViewResult
from tests.blender_helpers import cube_scene, render_specs


def _obj(iid: int, parent: int | None = None, **kw: object) -> ObjectSpec:
    return ObjectSpec(
        name=f"o{iid}",
        instance_id=iid,
        category_id=iid,
        parent_id=parent,
        geometry=GeometrySpec(kind="procedural", generator="box", params={"size": [1, 1, 1]}),
        material=MaterialSpec(base_color=[0.5, 0.5, 0.5], texture="none"),
        **kw,
    )


# a product (1) with a crack (2), a fingerprint over part of the crack (3, see-through)
# and a dust speck over another part (4, opaque)
H, W = 12, 16
PRODUCT = np.zeros((H, W), np.int32)
PRODUCT[1:11, 1:15] = 1
CRACK = (slice(5, 7), slice(2, 14))  # rows 5-6, columns 2-13
FRONT = PRODUCT.copy()
FRONT[CRACK] = 2
FRONT[3:9, 8:12] = 3  # the fingerprint covers crack columns 8-11
FRONT[5:7, 3:5] = 4  # dust hides crack columns 3-4
BEHIND = FRONT.copy()  # the same view without the fingerprint
BEHIND[3:9, 8:12] = PRODUCT[3:9, 8:12]
BEHIND[5:7, 8:12] = 2
OBJECTS = [_obj(1), _obj(2, 1), _obj(3, 1, see_through=True), _obj(4, 1)]


def _masks(behind: np.ndarray | None) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    anns, visible = annotate_maps(ViewMaps(instance=FRONT, behind=behind), OBJECTS, 1)
    return {a["scene_instance"]: coco.decode(a["segmentation"]).astype(bool) for a in anns}, visible


def test_a_crack_under_a_fingerprint_keeps_its_pixels() -> None:
    masks, visible = _masks(BEHIND)
    crack = np.zeros((H, W), bool)
    crack[CRACK] = True
    crack[5:7, 3:5] = False  # the dust speck is opaque: those pixels stay hidden
    assert (masks[2] == crack).all() and visible[2] == crack.sum() == 20
    assert (masks[3] == (FRONT == 3)).all()  # the fingerprint keeps all of its own
    assert (masks[4] == (FRONT == 4)).all()
    assert (masks[1] == (PRODUCT == 1)).all() and visible[1] == (PRODUCT == 1).sum()
    assert (masks[2] & masks[3]).sum() == 8  # the overlap: 2 rows x 4 columns
    anns, _ = annotate_maps(ViewMaps(instance=FRONT, behind=BEHIND), OBJECTS, 1)
    assert [a.get("see_through") for a in anns] == [None, None, True, None]


def test_without_the_pass_the_film_cuts_the_crack() -> None:
    masks, visible = _masks(None)
    assert (masks[2] == (FRONT == 2)).all() and visible[2] == 12
    # an object without see_through hides what lies behind it, pass or not
    opaque = [o.model_copy(update={"see_through": False}) for o in OBJECTS]
    anns, _ = annotate_maps(ViewMaps(instance=FRONT, behind=BEHIND), opaque, 1)
    crack = next(a for a in anns if a["scene_instance"] == 2)
    assert crack["area"] == 12


def test_bad_behind_maps_are_named() -> None:
    bad = BEHIND.copy()
    bad[4, 9] = 77
    with pytest.raises(ValueError, match=r"behind map contains ids \[77\]"):
        annotate_maps(ViewMaps(instance=FRONT, behind=bad), OBJECTS, 1)
    with pytest.raises(ValueError, match="behind map must be int"):
        annotate_maps(ViewMaps(instance=FRONT, behind=BEHIND[:, :5]), OBJECTS, 1)
    rgb, depth = np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.float32)
    with pytest.raises(ValueError, match="behind must be int"):
        ViewResult(rgb=rgb, depth=depth, instance=FRONT, behind=BEHIND[:5])


@pytest.mark.blender
def test_a_real_render_behind_a_film(tmp_path) -> None:
    """A cube, then the cube with a box in front of it, see-through or not: behind a
    see-through box the cube's mask is exactly its mask without the box."""
    alone, K, pose = cube_scene(seed=1)
    cube = np.asarray(alone.objects[0].location)
    eye = np.asarray(pose)[:3, 3]
    film = ObjectSpec(
        name="film",
        instance_id=2,
        category_id=2,
        geometry=GeometrySpec(
            kind="procedural", generator="box", params={"size": [0.25] * 3}, part="body"
        ),
        location=(cube + 0.3 * (eye - cube) + [0.12, 0.0, 0.0]).tolist(),
        material=MaterialSpec(base_color=[0.2, 0.5, 0.8], roughness=0.3, texture="none"),
    )
    specs = [
        alone,
        alone.model_copy(
            update={"objects": [*alone.objects, film.model_copy(update={"see_through": True})]}
        ),
        alone.model_copy(update={"objects": [*alone.objects, film]}),
    ]
    data = render_specs(specs, tmp_path)
    cube_alone = data["instance_0_0"] == 1
    front = data["instance_1_0"]
    assert (front == 2).sum() > 20 and (cube_alone & (front == 2)).sum() > 10, (
        "the box must cover the cube"
    )
    assert "behind_0_0" not in data and "behind_2_0" not in data  # nothing see-through: no pass
    assert (data["behind_1_0"] == data["instance_0_0"]).all()
    objs = specs[1].objects
    anns, _ = annotate_maps(ViewMaps(instance=front, behind=data["behind_1_0"]), objs, 1)
    got = {a["scene_instance"]: coco.decode(a["segmentation"]).astype(bool) for a in anns}
    assert (got[1] == cube_alone).all()
    assert (got[2] == (front == 2)).all()
    anns, _ = annotate_maps(ViewMaps(instance=data["instance_2_0"]), specs[2].objects, 1)
    opaque = {a["scene_instance"]: coco.decode(a["segmentation"]).astype(bool) for a in anns}
    assert (opaque[1] == (cube_alone & (data["instance_2_0"] != 2))).all()
    assert data["info"]["timings"][1]["see_through_pass"] == 1
