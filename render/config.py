"""Config: YAML loaded once into strict, frozen pydantic models.

``load_config(path, overrides)`` reads a YAML file, applies ``--set a.b=c``
overrides, validates, and resolves asset paths. Every problem is raised as a
:class:`~render.errors.ConfigError` whose message is one line naming the YAML
path, e.g. ``scene.camera.distance: expected [min, max] with min <= max, got [3.0, 1.0]``.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field, ValidationError, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from render.cfgtypes import Model
from render.errors import ConfigError
from render.families import FAMILIES
from render.families.base import SceneModel
from render.formats import inputs
from render.formats.inputs import CONFIG_BYTES, parse_yaml
from render.paths import PROJECT_ROOT
from render.settings import AnnotationConfig, Category, RenderConfig

if TYPE_CHECKING:
    SceneConfig = SceneModel
else:
    # The tagged union of every registered family's scene section.
    SceneConfig = Annotated[
        Union[tuple(f.config for f in FAMILIES.values())],  # noqa: UP007 - built at runtime
        Field(discriminator="family"),
    ]


_MOVED = ("camera", "lights", "world")


class Config(Model):
    """A whole render job: the job-wide sections and one scene family's ``scene``
    section (which brings that family's camera, lights and world)."""

    seed: int = Field(
        0, ge=0, lt=2**63, description="all randomness derives from (seed, scene index, stage)"
    )
    num_scenes: int = Field(
        4, ge=1, description="scenes to render; each gives render.views_per_scene images"
    )
    render: RenderConfig = RenderConfig()
    categories: list[Category] = Field(
        min_length=1,
        description="COCO categories (unique ids and names); must name every category the "
        "scene annotates",
    )
    annotation: AnnotationConfig = AnnotationConfig()
    scene: SceneConfig = Field(
        description="the scene family's section; scene.family picks the family"
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_sections(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in _MOVED:
                if key in data:
                    raise ValueError(
                        f"{key}: this section moved under scene (scene.{key}): each scene "
                        "family brings its own camera, lights and world"
                    )
        return data

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
        frames = self.render.frames
        if self.render.flow and frames < 2:
            raise ValueError("render: flow needs a sequence (render.frames > 1)")
        if frames > 1:
            if not FAMILIES[self.scene.family].sequences:
                with_seq = [n for n, f in FAMILIES.items() if f.sequences]
                raise ValueError(
                    f"render: frames {frames}: the {self.scene.family} family renders stills "
                    f"only (sequences: {', '.join(with_seq)})"
                )
            if self.render.views_per_scene != 1:
                raise ValueError(
                    f"render: frames {frames} needs views_per_scene 1 (a sequence is one "
                    f"camera), got {self.render.views_per_scene}"
                )
            if self.num_scenes % frames:
                raise ValueError(
                    f"num_scenes: {self.num_scenes} is not a whole number of sequences of "
                    f"render.frames {frames} (num_scenes counts frames: e.g. {2 * frames} "
                    "for 2 sequences)"
                )
        by_name = {c.name: c for c in self.categories}
        for name, points in self.scene.keypoint_categories().items():
            have = by_name[name].keypoints
            if have is None or tuple(have) != tuple(points):
                raise ValueError(
                    f"categories: {name!r} needs keypoints {list(points)} "
                    "(write keypoints: coco for COCO's 17), "
                    f"got {have}"
                )
        return self

    def category_id(self, name: str) -> int:
        for c in self.categories:
            if c.name == name:
                return c.id
        raise KeyError(f"unknown category {name!r}; known: {[c.name for c in self.categories]}")


# --------------------------------------------------------------------------- loading


_BOUND_WORDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _short(value: Any, limit: int = 60) -> str:
    text = repr(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_error(err: ValidationError, root: type[Model] | None = None) -> str:
    """One line: ``dotted.path: message`` for the first error, with did-you-mean
    suggestions for unknown keys and the offending value where useful. ``root``: the
    model that was validated (default :class:`Config`; e.g. a training recipe)."""
    e = err.errors(include_url=False)[0]
    loc = [str(p) for p in e["loc"]]
    family: str | None = None
    # Drop the discriminator tag pydantic inserts for tagged unions (scene.generic.x -> scene.x).
    if len(loc) >= 2 and loc[0] == "scene" and loc[1] in FAMILIES:
        family = loc[1]
        loc = [loc[0], *loc[2:]]
    msg = e["msg"]
    kind = e["type"]
    ctx = e.get("ctx") or {}
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        # A model validator says "field: problem"; name the field in the path instead.
        head, sep, rest = msg.partition(": ")
        model = _model_at(loc, family, root)
        if sep and model is not None and head in model.model_fields:
            loc, msg = [*loc, head], rest
    path = _dotted(loc)
    if kind == "extra_forbidden":
        key = loc[-1]
        parent = _model_at(loc[:-1], family, root)
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
        return f"{path}.family: unknown family {tag!r}; valid: {', '.join(FAMILIES)}"
    if kind == "union_tag_not_found":
        return f"{path}.family: required key is missing; valid: {', '.join(FAMILIES)}"
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
    elif kind == "finite_number":
        msg = "expected a finite number"
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


def _model_at(
    loc: list[str], family: str | None = None, root: type[Model] | None = None
) -> type[Model] | None:
    """The config model at a YAML path (list indices skipped), or None if unknown."""
    model: Any = root or Config
    for p in loc:
        if p.isdigit():
            continue
        if model is Config and p == "scene":
            model = FAMILIES[family].config if family in FAMILIES else None
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
    if len(raw) > CONFIG_BYTES:
        raise ConfigError(f"--set {key}: value longer than {CONFIG_BYTES} characters")
    try:
        value = parse_yaml(raw, "", ConfigError) if raw.strip() else ""
    except ConfigError as exc:
        why = str(exc).split("YAML syntax error: ", 1)[-1].strip(": ")
        raise ConfigError(f"--set {key}: value is not valid YAML: {raw!r:.80} ({why})") from None
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
    """Read a YAML mapping (a config or recipe) the bounded way every input is read
    (:func:`render.formats.inputs.read_yaml`); errors name the file and line."""
    data = inputs.read_yaml(path, "config file", ConfigError)
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
    """Replace relative asset paths by absolute ones; a missing, unreadable, empty,
    corrupt or oversized mesh is a ConfigError naming the field."""
    from render.geometry.meshfile import check_mesh_file

    data = cfg.model_dump(mode="json")
    for path, value, setter in cfg.scene.asset_fields(data["scene"]):
        resolved = resolve_asset(value, config_dir)
        if not resolved.is_file():
            raise ConfigError(f"{source}: scene.{path}: asset file not found: {value}")
        try:
            check_mesh_file(resolved)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{source}: scene.{path}: {value}: {exc}") from None
        setter(str(resolved))
    return Config.model_validate(data)


def _merged(base: Any, over: Any) -> Any:
    """``over`` on top of ``base``: mappings key by key (recursively), anything else
    replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merged(base.get(key), value) if key in base else value
        return out
    return over


def read_config_file(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's mapping, with ``base: OTHER.yaml`` (relative to the file)
    resolved: the other file's mapping with this one's keys merged on top. Mappings
    merge key by key, so a preset narrows a weight table by giving the keys it does
    not want 0 (``rigs: {dashcam: 1, cctv: 0, drone: 0}``)."""
    data = read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base: expected a config file path, got {base!r}")
    target = (path.parent / base).resolve()
    if target in _seen or target == path.resolve():
        raise ConfigError(f"{path}: base: {base} includes itself")
    if not target.is_file():
        raise ConfigError(f"{path}: base: no such config file: {base}")
    return _merged(read_config_file(target, (*_seen, path.resolve())), data)  # type: ignore[no-any-return]


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Load (with its ``base``), override, validate and resolve a config file."""
    path = Path(path)
    data = apply_overrides(read_config_file(path), overrides or [])
    cfg = validate_config(data, source=str(path))
    return resolve_assets(cfg, path.parent.resolve(), str(path))


class _FactoryDefaults(GenerateJsonSchema):
    """Schema generator that also writes defaults built by a ``default_factory``
    (pydantic leaves them out, which makes such keys look required)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            schema = {k: v for k, v in schema.items() if k != "default_factory"}  # type: ignore[assignment]
            schema["default"] = factory()  # type: ignore[call-arg]
        return super().default_schema(schema)


def config_schema() -> dict[str, Any]:
    """The JSON schema of :class:`Config` (``synthcv schema``), with every default."""
    return Config.model_json_schema(schema_generator=_FactoryDefaults)
