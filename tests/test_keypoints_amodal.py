"""Keypoint projection and visibility flags, amodal planning and annotation, crowd
regions (pure: synthetic maps, no Blender)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from render import camera as cm
from render.amodal import plan_groups, projected_box
from render.annotate import ViewMaps, annotate_maps
from render.formats import coco
from render.keypoints import COCO_KEYPOINTS, COCO_SKELETON, keypoint_visibility, project_keypoints
from render.spec import GeometrySpec, KeypointsSpec, MaterialSpec, ObjectSpec

W, H = 64, 48
K = cm.intrinsics(35.0, 36.0, W, H)
POSE = cm.look_at(np.array([0.0, -5.0, 1.0]), np.array([0.0, 0.0, 1.0]))


def _pixel(point: list[float]) -> tuple[int, int, float]:
    """Independent projection: world -> camera by the inverse pose, pinhole, pixel
    index of the continuous coordinate (centres at +0.5)."""
    u, v, z = _continuous(point)
    return int(np.floor(u)), int(np.floor(v)), z


def _continuous(point: list[float]) -> tuple[float, float, float]:
    world_to_cam = np.linalg.inv(POSE)
    cam = world_to_cam[:3, :3] @ np.asarray(point) + world_to_cam[:3, 3]
    u = K[0, 0] * cam[0] / cam[2] + K[0, 2]
    v = K[1, 1] * cam[1] / cam[2] + K[1, 2]
    return float(u), float(v), float(cam[2])


def test_coco_schema() -> None:
    assert len(COCO_KEYPOINTS) == 17 and COCO_KEYPOINTS[0] == "nose"
    assert all(1 <= a <= 17 and 1 <= b <= 17 for a, b in COCO_SKELETON) and len(COCO_SKELETON) == 19


@settings(max_examples=50, deadline=None)
@given(x=st.floats(-2.0, 2.0), y=st.floats(-2.0, 3.0), z=st.floats(-1.0, 3.0))
def test_projection_matches_an_independent_pinhole(x: float, y: float, z: float) -> None:
    xy, depth, inside = project_keypoints(np.array([[x, y, z]]), K, POSE, W, H)
    col, row, zc = _pixel([x, y, z])
    u, v, _ = _continuous([x, y, z])
    # a point on a pixel border (x = -2e-16 projects to u = 32 - 4e-15) belongs to
    # either pixel within rounding: the two projections may round it apart
    assume(zc <= 0 or min(abs(u - round(u)), abs(v - round(v))) > 1e-9)
    assert depth[0] == pytest.approx(zc)
    if zc > 0 and 0 <= col < W and 0 <= row < H:
        assert inside[0]
        # COCO pixel-index coordinates: pixel (c, r) spans [c - 0.5, c + 0.5)
        assert int(np.floor(xy[0, 0] + 0.5)) == col and int(np.floor(xy[0, 1] + 0.5)) == row
    else:
        assert not inside[0]


def _maps(fill: int, depth: float) -> tuple[np.ndarray, np.ndarray]:
    inst = np.full((H, W), fill, dtype=np.int32)
    return inst, np.full((H, W), depth, dtype=np.float32)


def test_visibility_flags() -> None:
    joint = [0.0, 0.0, 1.0]  # 5 m in front of the camera
    z = _pixel(joint)[2]
    r = np.array([0.15])
    # own skin 10 cm in front of the joint: visible (the joint lies inside the body)
    inst, depth = _maps(1, z - 0.1)
    assert keypoint_visibility(np.array([joint]), r, K, POSE, inst, depth, [1])[1][0] == 2
    # own surface 40 cm in front (an arm across the hip): occluded
    inst, depth = _maps(1, z - 0.4)
    assert keypoint_visibility(np.array([joint]), r, K, POSE, inst, depth, [1])[1][0] == 1
    # another instance (or a prop) in front: occluded
    inst, depth = _maps(2, z - 0.1)
    assert keypoint_visibility(np.array([joint]), r, K, POSE, inst, depth, [1])[1][0] == 1
    inst, depth = _maps(0, z - 1.0)
    assert keypoint_visibility(np.array([joint]), r, K, POSE, inst, depth, [1])[1][0] == 1
    # nothing of the person seen there, only the far background (its body hidden
    # elsewhere, e.g. a thin leg behind a car): occluded, not visible (issue 21)
    inst, depth = _maps(0, np.inf)
    assert keypoint_visibility(np.array([joint]), r, K, POSE, inst, depth, [1])[1][0] == 1
    # outside the image, or behind the camera: v = 0 and x = y = 0
    for outside in ([20.0, 0.0, 1.0], [0.0, -10.0, 1.0]):
        xy, v = keypoint_visibility(np.array([outside]), r, K, POSE, inst, depth, [1])
        assert v[0] == 0 and xy[0].tolist() == [0.0, 0.0]


def test_visibility_uses_the_3x3_neighbourhood() -> None:
    joint = [0.0, 0.0, 1.0]
    col, row, z = _pixel(joint)
    inst, depth = _maps(2, z - 0.5)  # an occluder everywhere...
    inst[row, col + 1], depth[row, col + 1] = 1, z - 0.05  # ...but own skin right beside it
    assert (
        keypoint_visibility(np.array([joint]), np.array([0.1]), K, POSE, inst, depth, [1])[1][0]
        == 2
    )
    inst[row, col + 1] = 2
    assert (
        keypoint_visibility(np.array([joint]), np.array([0.1]), K, POSE, inst, depth, [1])[1][0]
        == 1
    )


def test_a_hidden_ankle_beside_background_is_occluded() -> None:
    """Issue 21's case: legs behind an object, the person's visible mask ends above
    the ankle; the ankle's 3x3 window shows the occluder and the far background
    beside the thin leg. It was marked visible (the background is farther than the
    joint); it is occluded: none of the person's own surface is seen there."""
    ankle = [0.0, 0.0, 0.5]
    col, row, z = _pixel(ankle)
    inst = np.zeros((H, W), dtype=np.int32)
    depth = np.full((H, W), np.inf, dtype=np.float32)  # far background (sky, street)
    inst[: row - 12, col - 1 : col + 2] = 1  # the visible upper body, 12 px above the ankle
    depth[: row - 12, col - 1 : col + 2] = z - 0.05
    inst[row - 12 :, col - 3 : col] = 2  # the occluder left of the ankle, nearer
    depth[row - 12 :, col - 3 : col] = z - 1.0
    xy, v = keypoint_visibility(np.array([ankle]), np.array([0.05]), K, POSE, inst, depth, [1])
    assert v[0] == 1
    inst[row, col + 1], depth[row, col + 1] = 1, z - 0.03  # a pixel of the ankle shows
    assert (
        keypoint_visibility(np.array([ankle]), np.array([0.05]), K, POSE, inst, depth, [1])[1][0]
        == 2
    )


def _person(iid: int, points: list[list[float]] | None = None, **kw: object) -> ObjectSpec:
    return ObjectSpec(
        name=f"p{iid}",
        instance_id=iid,
        category_id=1,
        geometry=GeometrySpec(kind="primitive", primitive="CUBE"),
        material=MaterialSpec(base_color=[0.5, 0.5, 0.5]),
        keypoints=KeypointsSpec(points=points, radius=[0.1] * len(points)) if points else None,
        **kw,  # type: ignore[arg-type]
    )


def test_amodal_annotation_and_visibility_ratio() -> None:
    inst = np.zeros((H, W), np.int32)
    inst[10:30, 10:20] = 1  # person 1 fully visible
    inst[10:30, 30:40] = 2  # person 2 ...
    inst[20:30, 30:40] = 0  # ... its lower half hidden by a prop
    group = np.zeros((H, W), np.int32)  # one amodal pass: both people, nothing else
    group[10:30, 10:20] = 1
    group[10:30, 30:40] = 2
    maps = ViewMaps(instance=inst, amodal=[group])
    anns, _ = annotate_maps(maps, [_person(1, amodal=True), _person(2, amodal=True)], 3)
    a1, a2 = anns
    assert a1["visibility"] == 1.0 and a1["segmentation_amodal"] == a1["segmentation"]
    assert a1["bbox_amodal"] == a1["bbox"] and a1["area_amodal"] == a1["area"] == 200
    assert a2["area"] == 100 and a2["area_amodal"] == 200 and a2["visibility"] == 0.5
    assert a2["bbox_amodal"] == [30.0, 10.0, 10.0, 20.0] and a2["bbox"] == [30.0, 10.0, 10.0, 10.0]
    amodal = coco.decode(a2["segmentation_amodal"])
    assert (coco.decode(a2["segmentation"]) <= amodal).all()


def test_keypoints_in_annotations() -> None:
    col, row, z = _pixel([0.0, 0.0, 1.0])
    inst, depth = _maps(0, np.inf)
    inst[row - 3 : row + 4, col - 3 : col + 4] = 1
    depth[row - 3 : row + 4, col - 3 : col + 4] = z - 0.05
    points = [[0.0, 0.0, 1.0]] + [[30.0, 0.0, 1.0]] * 16  # one in view, 16 outside
    maps = ViewMaps(instance=inst, depth=depth, K=K, pose=POSE)
    (ann,), _ = annotate_maps(maps, [_person(1, points)], 1)
    assert len(ann["keypoints"]) == 51 and ann["num_keypoints"] == 1
    assert ann["keypoints"][2] == 2 and ann["keypoints"][3:] == [0.0, 0.0, 0] * 16
    # keypoints need depth and a camera
    with pytest.raises(ValueError, match="needs depth, K and pose"):
        annotate_maps(ViewMaps(instance=inst), [_person(1, points)], 1)


def test_small_people_become_one_crowd_region() -> None:
    inst = np.zeros((H, W), np.int32)
    inst[5:35, 2:8] = 1  # 30 px tall: annotated alone
    inst[40:44, 20:22] = 2  # 4 px tall
    inst[40:45, 30:32] = 3  # 5 px tall
    objs = [_person(i, [[0.0, 0.0, 1.0]] * 17, crowd_below_px=10) for i in (1, 2, 3)]
    maps = ViewMaps(instance=inst, depth=np.full((H, W), np.inf, np.float32), K=K, pose=POSE)
    anns, _ = annotate_maps(maps, objs, 1)
    single = [a for a in anns if a["iscrowd"] == 0]
    crowd = [a for a in anns if a["iscrowd"] == 1]
    assert [a["scene_instance"] for a in single] == [1]
    assert len(crowd) == 1 and crowd[0]["area"] == 8 + 10 and crowd[0]["id"] == 10002
    assert crowd[0]["attributes"] == {"members": [2, 3]} and crowd[0]["num_keypoints"] == 0


def test_projected_box() -> None:
    pts = np.array([[0.0, 0.0, 1.0], [0.2, 0.0, 1.5]])
    box = projected_box(pts, K, POSE, W, H)
    assert box is not None
    uv, _ = cm.project(pts, K, POSE)
    assert box[0] == pytest.approx(uv[:, 0].min()) and box[3] == pytest.approx(uv[:, 1].max())
    assert projected_box(np.array([[0.0, -10.0, 1.0]]), K, POSE, W, H) is None  # behind
    straddling = np.array([[0.0, 0.0, 1.0], [0.0, -10.0, 1.0]])
    assert projected_box(straddling, K, POSE, W, H) == (0.0, 0.0, float(W), float(H))
    assert projected_box(np.array([[50.0, 0.0, 1.0]]), K, POSE, W, H) is None  # off to the side


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.none(),
                st.tuples(st.floats(0, 60), st.floats(0, 40), st.floats(1, 20), st.floats(1, 20)),
            ),
            min_size=2,
            max_size=2,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_plan_groups_never_overlap(
    raw: list[list[tuple[float, float, float, float] | None]],
) -> None:
    boxes = {
        f"o{i}": [None if b is None else (b[0], b[1], b[0] + b[2], b[1] + b[3]) for b in views]
        for i, views in enumerate(raw)
    }
    groups = plan_groups(boxes)
    placed = [name for g in groups for name in g]
    in_view = [n for n, views in boxes.items() if any(b is not None for b in views)]
    assert sorted(placed) == sorted(in_view) and len(placed) == len(set(placed))
    for group in groups:
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                for ba, bb in zip(boxes[a], boxes[b], strict=True):
                    if ba is None or bb is None:
                        continue
                    apart = (
                        ba[2] + 1 <= bb[0]
                        or bb[2] + 1 <= ba[0]
                        or ba[3] + 1 <= bb[1]
                        or bb[3] + 1 <= ba[1]
                    )
                    assert apart
    assert plan_groups(boxes) == groups  # deterministic


def test_left_right_flip_order_for_augmentation() -> None:
    """The augmentation stage mirrors keypoints by their names: our schema gives
    COCO's standard flip order."""
    from render.formats.keypoints import flip_index
    from render.settings import Category

    cat = Category(id=1, name="person", keypoints="coco").coco()  # type: ignore[arg-type]
    assert cat["keypoints"] == list(COCO_KEYPOINTS) and cat["skeleton"] == [
        list(p) for p in COCO_SKELETON
    ]
    assert flip_index(cat) == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
