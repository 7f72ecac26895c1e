"""render.config: loading, overrides, asset resolution and one-line error messages."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from render.config import (
    Config,
    apply_overrides,
    config_schema,
    load_config,
    parse_override,
    validate_config,
)
from render.errors import ConfigError, UserError

ROOT = Path(__file__).resolve().parents[1]
BASE: dict[str, Any] = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())


def write(tmp_path: Path, data: Any, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def error_of(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], *overrides: str) -> str:
    data = copy.deepcopy(BASE)
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    message = str(info.value)
    assert "\n" not in message, message
    assert isinstance(info.value, UserError)
    return message


@pytest.mark.parametrize("name", ["generic.yaml", "demo.yaml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "configs" / name)
    assert cfg.scene.family == "generic"
    meshes = [s.mesh for s in cfg.scene.shapes if s.mesh]  # type: ignore[union-attr]
    assert meshes and all(Path(m).is_absolute() and Path(m).is_file() for m in meshes)


def test_generic_yaml_covers_required_categories() -> None:
    cfg = load_config(ROOT / "configs" / "generic.yaml")
    names = {c.name for c in cfg.categories}
    assert {"cube", "sphere", "cylinder", "cone", "monkey"} <= names
    assert cfg.num_scenes == 8


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown key", lambda d: d["render"].update(samplez=3), "render.samplez: unknown key (did you mean: samples)"),
    ("unknown nested key", lambda d: d["scene"]["shapes"][0].update(primitve="CUBE"), "scene.shapes[0].primitve: unknown key (did you mean: primitive)"),
    ("unknown top key", lambda d: d.update(bogus=1), "bogus: unknown key (valid keys: seed, num_scenes"),
    ("unknown scene key", lambda d: d["scene"].update(sprd=1), "scene.sprd: unknown key (did you mean: spread)"),
    ("wrong type", lambda d: d["render"].update(samples="abc"), "render.samples: expected an integer, got 'abc'"),
    ("float for int", lambda d: d["render"].update(samples=1.5), "render.samples: expected an integer, got 1.5"),
    ("bad literal", lambda d: d["render"].update(denoiser="optix"), "render.denoiser: Input should be 'oidn' or 'none', got 'optix'"),
    ("inverted range", lambda d: d["scene"]["camera"].update(distance=[3, 1]), "scene.camera.distance: expected [min, max] with min <= max, got [3, 1]"),
    ("empty range", lambda d: d["scene"]["camera"].update(distance=[]), "scene.camera.distance: expected [min, max] of numbers, got []"),
    ("short range", lambda d: d["scene"]["camera"].update(distance=[1]), "scene.camera.distance: expected [min, max] of numbers, got [1]"),
    ("string range", lambda d: d["scene"]["camera"].update(distance="far"), "scene.camera.distance: expected [min, max] of numbers, got 'far'"),
    ("bool range", lambda d: d["scene"]["camera"].update(distance=True), "scene.camera.distance: expected [min, max] of numbers, got True"),
    ("non-int int range", lambda d: d["scene"]["lights"].update(count=[1, 2.5]), "scene.lights.count: expected [min, max] of ints, got [1, 2.5]"),
    ("negative distance", lambda d: d["scene"]["camera"].update(distance=[-1, 2]), "scene.camera.distance: must be > 0, got [-1.0, 2.0]"),
    ("negative light count", lambda d: d["scene"]["lights"].update(count=[-1, 2]), "scene.lights.count: must be >= 0, got [-1, 2]"),
    ("zero objects", lambda d: d["scene"].update(objects=[0, 2]), "scene.objects: must be >= 1, got [0, 2]"),
    ("negative num_scenes", lambda d: d.update(num_scenes=-1), "num_scenes: must be >= 1, got -1"),
    ("negative seed", lambda d: d.update(seed=-5), "seed: must be >= 0, got -5"),
    ("zero samples", lambda d: d["render"].update(samples=0), "render.samples: must be >= 1, got 0"),
    ("tiny resolution", lambda d: d["render"].update(resolution=[4, 4]), "render.resolution: expected [width, height] in 8..16384, got [4, 4]"),
    ("3-item resolution", lambda d: d["render"].update(resolution=[4, 4, 4]), "render.resolution: expected 2 items, got [4, 4, 4]"),
    ("category id 0", lambda d: d["categories"][0].update(id=0), "categories[0].id: category ids start at 1"),
    ("duplicate category id", lambda d: d["categories"].append({"id": 1, "name": "x"}), "categories: duplicate id 1"),
    ("unknown category", lambda d: d["categories"].pop(), "scene: category 'torus' is not in categories"),
    ("missing asset", lambda d: d["scene"]["shapes"][5].update(mesh="assets/meshes/nope.obj"), "scene.shapes[5].mesh: asset file not found: assets/meshes/nope.obj"),
    ("unknown family", lambda d: d["scene"].update(family="people"), "scene.family: unknown family 'people'; valid: generic, defects, pedestrians"),
    ("missing family", lambda d: d["scene"].pop("family"), "scene.family: required key is missing"),
    ("missing scene", lambda d: d.pop("scene"), "scene: required key is missing"),
    ("primitive and mesh", lambda d: d["scene"]["shapes"][0].update(mesh="x.obj"), "scene.shapes[0]: set exactly one of primitive or mesh"),
    ("unit_scale on primitive", lambda d: d["scene"]["shapes"][0].update(unit_scale=0.001), "scene.shapes[0]: unit_scale and up_axis apply to mesh shapes only"),
    ("bad up axis", lambda d: d["scene"]["shapes"][5].update(up_axis="W"), "scene.shapes[5].up_axis: Input should be"),
    ("zero weight", lambda d: d["scene"]["shapes"][0].update(weight=0), "scene.shapes[0].weight: must be > 0, got 0"),
    ("shapes not a list", lambda d: d["scene"].update(shapes=5), "scene.shapes: Input should be a valid list, got 5"),
    ("elevation out of range", lambda d: d["scene"]["camera"].update(elevation_deg=[10, 100]), "scene.camera.elevation_deg: must lie in [-90, 90], got [10.0, 100.0]"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "mutate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_error_messages(
    tmp_path: Path, label: str, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    message = error_of(tmp_path, mutate)
    assert message.startswith(f"{tmp_path / 'c.yaml'}: "), message
    assert expected in message, message


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\nrender:\n  samples: [1, 2\n  denoiser: oidn\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: line \d+, column \d+: YAML syntax error"):
        load_config(path)
    path = write(tmp_path, "seed: 1\n  bad: indent\n")
    with pytest.raises(ConfigError, match=r"line 2, column \d+: YAML syntax error") as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="categories: required key is missing"):
        load_config(write(tmp_path, ""))


def test_overrides_nested_and_list_index(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    cfg = load_config(
        path,
        [
            "render.samples=64",
            "scene.camera.distance=[2, 3]",
            "scene.shapes.0.size=0.25",
            "categories.0.name=box",
            "scene.shapes.0.category=box",
            "scene.lights.types=[SUN]",
            "scene.world.strength=0.5",
        ],
    )
    assert cfg.render.samples == 64
    assert cfg.scene.camera.distance == (2.0, 3.0)
    assert cfg.scene.shapes[0].size == (0.25, 0.25)  # type: ignore[union-attr]
    assert cfg.categories[0].name == "box"
    assert cfg.scene.lights.types == ["SUN"]
    assert cfg.scene.world.strength == (0.5, 0.5)
    # the file itself is unchanged
    assert load_config(path).render.samples == BASE["render"].get("samples", 16)


def test_override_creates_missing_section() -> None:
    data = {"a": 1}
    assert apply_overrides(data, ["b.c=2"]) == {"a": 1, "b": {"c": 2}}
    assert data == {"a": 1}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("render.samples", "--set 'render.samples': expected key.path=value"),
        ("render..samples=3", "empty key in 'render..samples'"),
        ("=3", "empty key"),
        ("scene.shapes.9.size=3", "--set scene.shapes.9.size: no item 9 in scene.shapes"),
        ("scene.shapes.x.size=3", "no item x in scene.shapes"),
        (
            "render.views_per_scene.x=3",
            "--set render.views_per_scene.x: render.views_per_scene is not a mapping",
        ),
        ("render.samples=[1", "--set render.samples: value is not valid YAML: '[1'"),
        ("categories.9=x", "no item 9 in list"),
        ("categories.0=x", "categories[0]: expected a mapping, got 'x'"),
    ],
)
def test_bad_overrides(tmp_path: Path, override: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, BASE), [override])
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_override_error_names_field(tmp_path: Path) -> None:
    message = error_of(tmp_path, lambda d: None, "render.samplez=3")
    assert "render.samplez: unknown key (did you mean: samples)" in message


def test_parse_override_values() -> None:
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=x=y") == (["a"], "x=y")
    assert parse_override("a=") == (["a"], "")


def test_asset_resolved_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "meshes").mkdir()
    mesh = tmp_path / "meshes" / "part.obj"
    mesh.write_text((ROOT / "assets" / "meshes" / "gear.obj").read_text())
    data = copy.deepcopy(BASE)
    data["scene"]["shapes"][5]["mesh"] = "meshes/part.obj"
    data["scene"]["shapes"][5]["unit_scale"] = 0.001
    data["scene"]["shapes"][5]["up_axis"] = "Y"
    cfg = load_config(write(tmp_path, data))
    shape = cfg.scene.shapes[5]  # type: ignore[union-attr]
    assert shape.mesh == str(mesh.resolve())
    assert (shape.unit_scale, shape.up_axis) == (0.001, "Y")


def test_config_is_frozen_and_strict() -> None:
    cfg = validate_config(copy.deepcopy(BASE) | {"scene": BASE["scene"]})
    with pytest.raises(Exception, match="frozen"):
        cfg.seed = 3  # type: ignore[misc]
    assert Config.model_config.get("extra") == "forbid"


def test_schema() -> None:
    schema = config_schema()
    assert schema["type"] == "object"
    assert {"seed", "num_scenes", "render", "scene", "categories"} <= set(schema["properties"])
    assert "GenericScene" in schema["$defs"] and "ShapeConfig" in schema["$defs"]
    assert "unit_scale" in schema["$defs"]["ShapeConfig"]["properties"]


@settings(max_examples=60, deadline=None)
@given(lo=st.floats(0.01, 100, allow_nan=False), hi=st.floats(0.01, 100, allow_nan=False))
def test_range_property(lo: float, hi: float) -> None:
    """Any positive [lo, hi] is accepted iff lo <= hi; a rejection names the field and both values."""
    data = copy.deepcopy(BASE)
    data["scene"]["camera"]["distance"] = [lo, hi]
    if lo <= hi:
        assert validate_config(data).scene.camera.distance == (lo, hi)
    else:
        with pytest.raises(ConfigError) as info:
            validate_config(data)
        assert (
            f"scene.camera.distance: expected [min, max] with min <= max, got [{lo!r}, {hi!r}]"
            in str(info.value)
        )


def test_docs_config_md_is_generated_from_the_schema() -> None:
    """docs/config.md == ``synthcv schema --markdown``: regenerate it after changing a
    config model (the command is in the file's first lines)."""
    from render.config import config_schema
    from render.config_docs import config_markdown

    committed = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    assert committed == config_markdown(config_schema()), (
        "docs/config.md is stale: run  synthcv schema --markdown > docs/config.md"
    )
