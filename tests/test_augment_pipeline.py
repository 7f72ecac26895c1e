"""augment.pipeline: YAML forms, one-line errors with close names, seeding, presets."""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import yaml

from augment.pipeline import build_pipeline, load_pipeline, parse_pipeline, reseed
from augment.transforms import Vignette, vignette_gain
from render.errors import ConfigError

PRESETS = Path(__file__).resolve().parent.parent / "configs" / "augment"


@pytest.mark.parametrize("name", ["qc.yaml", "street.yaml", "domain.yaml", "inspection.yaml"])
def test_presets_load_build_and_run(name: str) -> None:
    pl = build_pipeline(load_pipeline(PRESETS / name))
    assert pl.geometric
    assert pl.spec.min_area == 16 and pl.spec.min_visibility == 0.25
    image = np.full((64, 96, 3), 128, np.uint8)
    for k in range(5):
        reseed(pl, np.random.SeedSequence([0, k]))
        out = pl.compose(image=image, masks=np.zeros((1, 64, 96), np.uint8), bboxes=np.zeros((0, 4)),
                         bbox_ids=[], keypoints=np.zeros((0, 2)), keypoint_ids=[])  # fmt: skip
        assert out["image"].shape == image.shape and out["image"].dtype == np.uint8


def test_concise_forms() -> None:
    spec = parse_pipeline(
        {
            "min_area": 9,
            "transforms": [
                "HorizontalFlip",
                {"RandomGamma": None},
                {
                    "OneOf": {
                        "p": 0.3,
                        "transforms": [{"MotionBlur": {"blur_limit": [3, 5]}}, "Defocus"],
                    }
                },
            ],
        }
    )
    assert spec.min_area == 9
    names = [t["__class_fullname__"] for t in spec.transforms]
    assert names == ["HorizontalFlip", "RandomGamma", "OneOf"]
    pl = build_pipeline(spec)
    assert isinstance(pl.compose.transforms[2], A.OneOf)
    assert [type(t).__name__ for t in pl.compose.transforms[2].transforms] == [
        "MotionBlur",
        "Defocus",
    ]
    assert parse_pipeline(["HorizontalFlip"]).transforms == [
        {"__class_fullname__": "HorizontalFlip"}
    ]


def test_albumentations_serialized_form_is_accepted_as_is(tmp_path: Path) -> None:
    compose = A.Compose(
        [
            A.HorizontalFlip(p=0.3),
            A.OneOf([A.Blur(blur_limit=(3, 5)), A.GaussNoise()], p=0.4),
            Vignette(p=0.2),
        ],
        bbox_params=A.BboxParams(format="pascal_voc"),
    )
    path = tmp_path / "p.yaml"
    A.save(compose, str(path), data_format="yaml")
    pl = build_pipeline(load_pipeline(path))
    assert [type(t).__name__ for t in pl.compose.transforms] == [
        "HorizontalFlip",
        "OneOf",
        "Vignette",
    ]
    assert pl.compose.transforms[0].p == 0.3
    assert pl.compose.transforms[1].transforms[0].blur_limit == (3, 5)
    # our own description round-trips too
    again = build_pipeline(parse_pipeline({"transform": pl.as_dict()["compose"]["transform"]}))
    assert A.to_dict(again.compose) == A.to_dict(pl.compose)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            ["HorizontalFlp"],
            "transforms[0]: unknown transform 'HorizontalFlp'; did you mean HorizontalFlip",
        ),
        ([{"GausNoise": {}}], "did you mean GaussNoise"),
        (
            [{"Affine": {"rotat": 5}}],
            "transforms[0].Affine: unknown argument 'rotat'; did you mean rotate",
        ),
        (
            [{"OneOf": {"transforms": [{"Blur": {"blur_limt": 3}}]}}],
            "transforms[0].OneOf.transforms[0].Blur: unknown argument 'blur_limt'; did you mean blur_limit",
        ),
        ([{"Affine": {"rotate": "x"}}], "transforms[0].Affine: rotate"),
        ([{"Affine": {"border_mode": 4}}], "border_mode=REFLECT_101"),
        ([{"Rotate": {"border_mode": 2}}], "border_mode=REFLECT"),
        ([42], "transforms[0]: expected `Name: {args}`"),
    ],
)
def test_errors_are_one_line_and_name_the_culprit(items: list[object], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_pipeline(parse_pipeline(items, source="p.yaml"))
    msg = str(err.value)
    assert expected in msg and msg.startswith("p.yaml: ")
    assert "\n" not in msg


def test_option_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="min_visibility"):
        parse_pipeline({"min_visibility": 2, "transforms": []})
    with pytest.raises(ConfigError, match="min_aera"):
        parse_pipeline({"min_aera": 2, "transforms": []})
    with pytest.raises(ConfigError, match="pipeline file not found"):
        load_pipeline(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("transforms:\n  - HorizontalFlip: {p: 0.5\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+, column \d+: YAML syntax error"):
        load_pipeline(bad)
    bad.write_text(yaml.safe_dump({"nothing": 1}))
    with pytest.raises(ConfigError, match="expected `transforms:`"):
        load_pipeline(bad)


def test_reseed_gives_each_transform_its_own_stream() -> None:
    """Compose.set_random_seed would seed both flips alike: they would always agree."""
    pl = build_pipeline(parse_pipeline(["HorizontalFlip", "VerticalFlip"]))
    image = np.arange(12, dtype=np.uint8).reshape(3, 4, 1).repeat(3, axis=2)
    agree = 0
    outcomes = set()
    for k in range(64):
        reseed(pl, np.random.SeedSequence([1, k]))
        out = pl.compose(image=image, bboxes=np.zeros((0, 4)), bbox_ids=[], keypoints=np.zeros((0, 2)),
                         keypoint_ids=[])["image"][:, :, 0]  # fmt: skip
        h = np.array_equal(out[:, ::-1], image[:, :, 0]) or np.array_equal(
            out[::-1, ::-1], image[:, :, 0]
        )
        v = np.array_equal(out[::-1, :], image[:, :, 0]) or np.array_equal(
            out[::-1, ::-1], image[:, :, 0]
        )
        outcomes.add((h, v))
        agree += h == v
    assert len(outcomes) == 4 and agree < 56


def test_vignette_kernel_and_transform() -> None:
    gain = vignette_gain(40, 60, 0.4, (0.5, 0.5))
    assert gain.shape == (40, 60) and gain.dtype == np.float32
    assert gain.max() <= 1.0 and gain.min() >= 0.6 - 1e-6
    assert gain[20, 30] > gain[0, 0] and gain[0, 0] < 0.62
    with pytest.raises(ConfigError, match="strength_range"):
        build_pipeline(parse_pipeline([{"Vignette": {"strength_range": [0.5, 0.1]}}]))
    t = Vignette(strength_range=(0.3, 0.3), p=1.0)
    out = A.Compose([t], seed=1)(image=np.full((40, 60, 3), 200, np.uint8))["image"]
    assert out[20, 30, 0] > out[0, 0, 0]
    assert A.to_dict(t)["transform"]["strength_range"] == (0.3, 0.3)


def test_inspection_preset_keeps_a_3px_scratch_and_the_scale() -> None:
    """configs/augment/inspection.yaml is for defects at native resolution: under 100
    seeds a 3 px wide dark line keeps a fifth of its contrast to the surface around
    it, and its length (the scale) stays within 5 %, rotations and flips aside."""
    from scipy.ndimage import binary_dilation

    pl = build_pipeline(load_pipeline(PRESETS / "inspection.yaml"))
    image = np.full((96, 96, 3), 150, np.uint8)
    mask = np.zeros((96, 96), np.uint8)
    mask[20:76, 46:49] = 1
    image[mask > 0] = 70  # contrast 80
    for k in range(100):
        reseed(pl, np.random.SeedSequence([7, k]))
        out = pl.compose(image=image, masks=mask[None], bboxes=np.zeros((0, 4)), bbox_ids=[],
                         keypoints=np.zeros((0, 2)), keypoint_ids=[])  # fmt: skip
        line = np.asarray(out["masks"][0]) > 0
        if line.sum() < 56 * 3 * 0.5:
            continue  # rotated partly out of the frame
        grey = out["image"].astype(np.float64).mean(-1)
        ring = binary_dilation(line, iterations=4) & ~binary_dilation(line, iterations=2)
        assert abs(grey[ring].mean() - grey[line].mean()) >= 16, k
        assert 0.95**2 * 56 * 3 * 0.98 <= line.sum() <= 1.05**2 * 56 * 3 * 1.1, k
