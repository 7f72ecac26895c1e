"""Config: YAML loaded once into strict, frozen pydantic models.

``load_config(path, overrides)`` reads a YAML file, applies ``--set a.b=c``
overrides, validates, and resolves asset paths. Every problem is raised as a
:class:`~render.errors.ConfigError` whose message is one line naming the YAML
path, e.g. ``camera.distance: expected [min, max] with min <= max, got [3.0, 1.0]``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from render.cfgtypes import FloatRange, IntRange, Model
from render.errors import ConfigError
from render.families.defects_config import DefectsScene

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RenderConfig(Model):
    """Image size, sampling and output formats."""

    resolution: tuple[int, int] = Field((256, 256), description="[width, height] in pixels")
    samples: int = Field(16, ge=1, le=65536, description="Cycles samples per pixel")
    denoiser: Literal["oidn", "none"] = "oidn"
    device: Literal["auto", "cpu", "cuda", "optix"] = "auto"
    views_per_scene: int = Field(2, ge=1, le=999)
    image_format: Literal["png", "jpeg"] = "png"
    jpeg_quality: int = Field(95, ge=1, le=100)
    depth_format: Literal["png16", "npz", "none"] = Field(
        "png16",
        description="png16: uint16 PNG in millimetres (0 = no surface); npz: float32 metres",
    )
    max_bounces: int = Field(4, ge=0, le=64)
    persistent_data: bool = Field(
        False,
        description="keep Cycles data between renders (~15% faster at 256x256, but the "
        "image then depends on which scenes the worker rendered before)",
    )

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(8 <= x <= 16384 for x in v):
            raise ValueError(f"expected [width, height] in 8..16384, got {list(v)}")
        return v


class CameraConfig(Model):
    """Pinhole camera looking at the scene centre from a sampled viewpoint."""

    focal_length_mm: FloatRange = (35.0, 35.0)
    sensor_width_mm: float = Field(36.0, gt=0)
    distance: FloatRange = Field((1.5, 2.5), description="metres from the look-at point")
    elevation_deg: FloatRange = (20.0, 70.0)
    azimuth_deg: FloatRange = (0.0, 360.0)
    roll_deg: FloatRange = (0.0, 0.0)
    look_at_jitter: float = Field(0.1, ge=0, description="metres, uniform in a cube")

    @model_validator(mode="after")
    def _check(self) -> CameraConfig:
        if self.distance[0] <= 0:
            raise ValueError(f"distance: must be > 0, got {list(self.distance)}")
        if self.focal_length_mm[0] <= 0:
            raise ValueError(f"focal_length_mm: must be > 0, got {list(self.focal_length_mm)}")
        if not (-90 <= self.elevation_deg[0] and self.elevation_deg[1] <= 90):
            raise ValueError(
                f"elevation_deg: must lie in [-90, 90], got {list(self.elevation_deg)}"
            )
        return self


LightType = Literal["POINT", "AREA", "SUN", "SPOT"]
_ALL_LIGHTS: tuple[LightType, ...] = ("POINT", "AREA", "SUN", "SPOT")


class LightsConfig(Model):
    """1..N lights of random type, power and colour temperature."""

    count: IntRange = (1, 3)
    types: list[LightType] = Field(default_factory=lambda: list(_ALL_LIGHTS), min_length=1)
    power_w: FloatRange = Field((200.0, 1000.0), description="point/area/spot power, watts")
    sun_strength: FloatRange = Field((1.0, 4.0), description="sun irradiance, W/m^2")
    temperature_k: FloatRange = (2700.0, 7500.0)
    distance: FloatRange = (2.0, 5.0)
    elevation_deg: FloatRange = (25.0, 85.0)
    area_size: FloatRange = (0.2, 1.0)
    spot_angle_deg: FloatRange = (30.0, 80.0)

    @model_validator(mode="after")
    def _check(self) -> LightsConfig:
        if self.count[0] < 0:
            raise ValueError(f"count: must be >= 0, got {list(self.count)}")
        return self


class WorldConfig(Model):
    """Uniform world (environment) light."""

    strength: FloatRange = (0.2, 0.8)
    temperature_k: FloatRange = (5000.0, 8000.0)


class MaterialConfig(Model):
    """Procedural principled material: HSV base colour, roughness, metallic, noise bump."""

    hue: FloatRange = (0.0, 1.0)
    saturation: FloatRange = (0.2, 0.9)
    value: FloatRange = (0.2, 0.9)
    roughness: FloatRange = (0.1, 0.9)
    metallic: FloatRange = (0.0, 1.0)
    bump_strength: FloatRange = (0.0, 0.3)
    noise_scale: FloatRange = (5.0, 50.0)


class ShapeConfig(Model):
    """One kind of object: a Blender primitive or a mesh file, in one category."""

    category: str
    primitive: Literal["CUBE", "SPHERE", "CYLINDER", "CONE", "MONKEY"] | None = None
    mesh: str | None = Field(
        None, description="OBJ/STL/PLY/GLB path; relative to the config or project root"
    )
    size: FloatRange = Field((0.15, 0.35), description="largest dimension in metres")
    weight: float = Field(1.0, gt=0, description="relative sampling weight")
    unit_scale: float = Field(1.0, gt=0, description="mesh only: metres per file unit (mm: 0.001)")
    up_axis: Literal["X", "Y", "Z", "-X", "-Y", "-Z"] = Field(
        "Z", description="mesh only: the file's up axis (many CAD/GLB exports use Y)"
    )
    name: str | None = Field(
        None, description="object name prefix; default: primitive name or mesh file stem"
    )

    @model_validator(mode="after")
    def _check(self) -> ShapeConfig:
        if (self.primitive is None) == (self.mesh is None):
            raise ValueError("set exactly one of primitive or mesh")
        if self.primitive is not None and (self.unit_scale != 1.0 or self.up_axis != "Z"):
            raise ValueError("unit_scale and up_axis apply to mesh shapes only")
        if self.size[0] <= 0:
            raise ValueError(f"size: must be > 0, got {list(self.size)}")
        return self


class GroundConfig(Model):
    size: float = Field(6.0, gt=0, description="edge length of the square ground plane, metres")
    material: MaterialConfig = MaterialConfig(metallic=(0.0, 0.1), saturation=(0.0, 0.3))


class GenericScene(Model):
    """Generic family: objects on a ground plane (resting on a stable face, or dropped
    and settled by rigid-body physics)."""

    family: Literal["generic"] = "generic"
    objects: IntRange = (2, 5)
    shapes: list[ShapeConfig] = Field(min_length=1)
    spread: float = Field(0.5, gt=0, description="objects start within this xy radius, metres")
    drop_height: FloatRange = (0.1, 0.6)
    placement: Literal["rest", "physics", "float"] = Field(
        "rest",
        description="rest: each object lies on a stable face on the ground, no overlaps "
        "(deterministic, default); physics: dropped and settled by Bullet (BlenderProc) - "
        "not reproducible across processes, replay reuses the recorded poses; "
        "float: objects stay where sampled",
    )
    materials: MaterialConfig = MaterialConfig()
    ground: GroundConfig = GroundConfig()

    @model_validator(mode="after")
    def _check(self) -> GenericScene:
        if self.objects[0] < 1:
            raise ValueError(f"objects: must be >= 1, got {list(self.objects)}")
        return self

    def category_names(self) -> list[str]:
        """Category names this family annotates (each must be in ``categories``)."""
        return sorted({s.category for s in self.shapes})

    def asset_fields(self, data: dict[str, Any]) -> list[tuple[str, str, Callable[[str], None]]]:
        """(yaml path under scene, path value, setter) for every asset file in ``data``,
        the JSON dump of this model."""
        out: list[tuple[str, str, Callable[[str], None]]] = []
        for i, shape in enumerate(data["shapes"]):
            if shape.get("mesh"):
                out.append((f"shapes[{i}].mesh", shape["mesh"], partial(shape.__setitem__, "mesh")))
        return out


class Category(Model):
    id: int = Field(description="COCO category id, >= 1 (0 is the instance pass's background)")
    name: str = Field(min_length=1)
    supercategory: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: int) -> int:
        if v < 1:
            raise ValueError(
                f"category ids start at 1 (0 is the background in the instance pass), got {v}"
            )
        return v


class AnnotationConfig(Model):
    min_pixels: int = Field(
        1, ge=1, description="instances with fewer visible pixels are not annotated"
    )


SceneConfig = Annotated[GenericScene | DefectsScene, Field(discriminator="family")]


class Config(Model):
    """A whole render job."""

    seed: int = Field(0, ge=0, lt=2**63)
    num_scenes: int = Field(4, ge=1)
    render: RenderConfig = RenderConfig()
    camera: CameraConfig = CameraConfig()
    lights: LightsConfig = LightsConfig()
    world: WorldConfig = WorldConfig()
    categories: list[Category] = Field(min_length=1)
    annotation: AnnotationConfig = AnnotationConfig()
    scene: SceneConfig

    @model_validator(mode="after")
    def _check(self) -> Config:
        ids = [c.id for c in self.categories]
        names = [c.name for c in self.categories]
        columns: tuple[tuple[str, list[Any]], ...] = (("id", ids), ("name", names))
        for label, values in columns:
            dup = sorted({v for v in values if values.count(v) > 1}, key=str)
            if dup:
                raise ValueError(f"categories: duplicate {label} {dup[0]!r}")
        for needed in self.scene.category_names():
            if needed not in names:
                raise ValueError(f"scene: category {needed!r} is not in categories {names}")
        return self

    def category_id(self, name: str) -> int:
        for c in self.categories:
            if c.name == name:
                return c.id
        raise KeyError(f"unknown category {name!r}; known: {[c.name for c in self.categories]}")


# --------------------------------------------------------------------------- loading


_FAMILIES: dict[str, type[Model]] = {"generic": GenericScene, "defects": DefectsScene}

_BOUND_WORDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _short(value: Any, limit: int = 60) -> str:
    text = repr(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_error(err: ValidationError) -> str:
    """One line: ``dotted.path: message`` for the first error, with did-you-mean
    suggestions for unknown keys and the offending value where useful."""
    e = err.errors(include_url=False)[0]
    loc = [str(p) for p in e["loc"]]
    family: str | None = None
    # Drop the discriminator tag pydantic inserts for tagged unions (scene.generic.x -> scene.x).
    if len(loc) >= 2 and loc[0] == "scene" and loc[1] in _FAMILIES:
        family = loc[1]
        loc = [loc[0], *loc[2:]]
    msg = e["msg"]
    kind = e["type"]
    ctx = e.get("ctx") or {}
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        # A model validator says "field: problem"; name the field in the path instead.
        head, sep, rest = msg.partition(": ")
        model = _model_at(loc, family)
        if sep and model is not None and head in model.model_fields:
            loc, msg = [*loc, head], rest
    path = _dotted(loc)
    if kind == "extra_forbidden":
        key = loc[-1]
        parent = _model_at(loc[:-1], family)
        hint = ""
        if parent is not None:
            close = difflib.get_close_matches(key, list(parent.model_fields), n=3)
            valid = ", ".join(close) if close else ", ".join(parent.model_fields)
            hint = f" (did you mean: {valid})" if close else f" (valid keys: {valid})"
        return f"{path}: unknown key{hint}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "union_tag_invalid":
        tag = e.get("input", {}).get("family")
        return f"{path}.family: unknown family {tag!r}; valid: {', '.join(_FAMILIES)}"
    if kind == "union_tag_not_found":
        return f"{path}.family: required key is missing; valid: {', '.join(_FAMILIES)}"
    if kind in _BOUND_WORDS:
        word, key = _BOUND_WORDS[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        msg = f"must be {word} {bound}"
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        msg = "expected an integer"
    elif kind in ("float_parsing", "float_type"):
        msg = "expected a number"
    elif kind in ("bool_parsing", "bool_type"):
        msg = "expected true or false"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        msg = "expected a mapping"
    elif kind in ("string_type",):
        msg = "expected a string"
    elif kind in ("too_long", "too_short") and "tuple" in msg.lower():
        msg = f"expected {ctx.get('max_length', ctx.get('min_length'))} items"
    if "input" in e and not isinstance(e["input"], dict) and ", got " not in msg:
        msg = f"{msg}, got {_short(e['input'])}"
    return f"{path}: {msg}" if path else msg


def _dotted(loc: list[str]) -> str:
    path = ""
    for p in loc:
        path += f"[{p}]" if p.isdigit() else (f".{p}" if path else p)
    return path


def _model_at(loc: list[str], family: str | None = None) -> type[Model] | None:
    """The config model at a YAML path (list indices skipped), or None if unknown."""
    model: Any = Config
    for p in loc:
        if p.isdigit():
            continue
        if model is Config and p == "scene":
            model = _FAMILIES.get(family or "")
            if model is None:
                return None
            continue
        field = getattr(model, "model_fields", {}).get(p)
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        if isinstance(ann, type) and issubclass(ann, Model):
            model = ann
        elif inner:
            model = next((a for a in inner if isinstance(a, type) and issubclass(a, Model)), None)
            if model is None:
                return None
        else:
            return None
    return model if isinstance(model, type) else None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], parsed YAML value)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key.path=value")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {text!r}: empty key in {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value is not valid YAML: {raw!r}") from exc
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``a.b=c`` override applied (lists by index)."""
    data = json.loads(json.dumps(data))
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = data
        for i, p in enumerate(parts[:-1]):
            key: Any = int(p) if isinstance(node, list) and p.isdigit() else p
            if isinstance(node, list):
                if not isinstance(key, int) or key >= len(node):
                    raise ConfigError(
                        f"--set {'.'.join(parts)}: no item {p} in {'.'.join(parts[:i])}"
                    )
                node = node[key]
            else:
                if key not in node or node[key] is None:
                    node[key] = {}
                node = node[key]
            if not isinstance(node, dict | list):
                raise ConfigError(
                    f"--set {'.'.join(parts)}: {'.'.join(parts[: i + 1])} is not a mapping"
                )
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"--set {'.'.join(parts)}: no item {last} in list")
            node[int(last)] = value
        else:
            node[last] = value
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; errors name the file and, for syntax errors, the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: YAML syntax error: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def validate_config(data: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {format_validation_error(err)}") from None


def resolve_asset(path: str, config_dir: Path | None) -> Path:
    """Find a relative asset path next to the config, in the cwd, or in the project root."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    bases = [b for b in (config_dir, Path.cwd(), PROJECT_ROOT) if b is not None]
    for base in bases:
        if (base / p).exists():
            return (base / p).resolve()
    return (bases[0] / p).resolve()


def resolve_assets(cfg: Config, config_dir: Path | None, source: str) -> Config:
    """Replace relative asset paths by absolute ones; a missing file is a ConfigError."""
    data = cfg.model_dump(mode="json")
    for path, value, setter in cfg.scene.asset_fields(data["scene"]):
        resolved = resolve_asset(value, config_dir)
        if not resolved.is_file():
            raise ConfigError(f"{source}: scene.{path}: asset file not found: {value}")
        setter(str(resolved))
    return Config.model_validate(data)


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Load, override, validate and resolve a config file."""
    path = Path(path)
    data = apply_overrides(read_yaml(path), overrides or [])
    cfg = validate_config(data, source=str(path))
    return resolve_assets(cfg, path.parent.resolve(), str(path))


def config_schema() -> dict[str, Any]:
    """The JSON schema of :class:`Config` (``synthcv schema``)."""
    return Config.model_json_schema()
