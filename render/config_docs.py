"""``docs/config.md`` from the config's pydantic schema (``synthcv schema
--markdown``): one table per config model, every key with its type, bounds,
default and description, in the order a reader meets them. A test keeps the
committed file equal to this output, so the reference can never drift from the
code."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

HEADER = """# Config reference

Generated from the config schema by `synthcv schema --markdown > docs/config.md`
(a test fails when this file and the code disagree). A config is a YAML file
(`configs/*.yaml`); every key below can also be set on the command line with
`--set key.path=value` (list items by index: `--set categories.0.name=part`).
`synthcv schema` prints the same schema as JSON. Unknown keys are errors.

A **range** `[min, max]` is drawn from uniformly for every scene (integers:
inclusive); a single number `x` means `[x, x]`, a fixed value. Weights
(`dict[str, number]`) are relative: `{a: 3, b: 1}` picks `a` three times as often.

The `scene` section decides the family (`scene.family`); each family has its own
keys, camera, lights and world, listed in its own sections below.
"""


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _anchor(name: str) -> str:
    return name.lower()


def _type(p: dict[str, Any], refs: list[str]) -> str:
    """A short type for property schema ``p``; model names it mentions go to ``refs``."""
    if "$ref" in p:
        name = _ref_name(p["$ref"])
        refs.append(name)
        return f"[{name}](#{_anchor(name)})"
    if "const" in p:
        return f"`{json.dumps(p['const'])}`"
    if "enum" in p:
        return " | ".join(f"`{json.dumps(v)}`" for v in p["enum"])
    for key in ("anyOf", "oneOf"):
        if key in p:
            return " | ".join(_type(q, refs) for q in p[key])
    t = p.get("type")
    if p.get("x-range") and "prefixItems" in p:
        return f"range of {_type(p['prefixItems'][0], refs)}"
    if t == "array":
        if "prefixItems" in p:
            return "[" + ", ".join(_type(q, refs) for q in p["prefixItems"]) + "]"
        return f"list[{_type(p.get('items', {}), refs)}]"
    if t == "object":
        extra = p.get("additionalProperties")
        return f"dict[str, {_type(extra, refs)}]" if isinstance(extra, dict) else "mapping"
    if t == "null":
        return "null"
    return str(t or "any")


def _bounds(p: dict[str, Any]) -> str:
    parts = []
    signs = (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    )
    for key, sym in signs:
        if key in p and abs(p[key]) < 2**53:
            parts.append(f"{sym} {p[key]:g}")
    for key, what in (("minItems", "items ≥"), ("maxItems", "items ≤"), ("minLength", "length ≥")):
        if key in p and not ("prefixItems" in p and key in ("minItems", "maxItems")):
            parts.append(f"{what} {p[key]}")
    for q in p.get("anyOf", []):
        inner = _bounds(q)
        if inner:
            parts.append(inner)
    return ", ".join(parts)


def _default(p: dict[str, Any]) -> str:
    if "default" not in p:
        return "required"
    d = p["default"]
    if "$ref" in p or any("$ref" in q for q in p.get("anyOf", [])):
        return "see section"  # a nested model: its own table lists the defaults
    text = json.dumps(d)
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _summary(model: dict[str, Any]) -> str:
    """The first sentence of a model's docstring."""
    text = " ".join(model.get("description", "").split())
    return text.split(". ")[0].rstrip(".") if text else ""


def _table(model: dict[str, Any], refs: list[str], defs: dict[str, Any]) -> list[str]:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    required = set(model.get("required", []))
    for key, p in model.get("properties", {}).items():
        t = _type(p, refs)
        bounds = _bounds(p)
        desc = p.get("description", "")
        if not desc and "$ref" in p:
            desc = _summary(defs.get(_ref_name(p["$ref"]), {}))
        if bounds:
            desc = f"{desc} ({bounds})" if desc else f"({bounds})"
        default = "required" if key in required and "default" not in p else _default(p)
        rows.append(f"| `{key}` | {_cell(t)} | {_cell(default)} | {_cell(desc)} |")
    return rows


def config_markdown(schema: dict[str, Any]) -> str:
    """The Markdown reference of ``schema`` (``Config.model_json_schema()``)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    out = [HEADER, "## Config", "", schema.get("description", "").strip(), ""]
    refs: list[str] = []
    out += _table(schema, refs, defs)
    scene = schema["properties"].get("scene", {})
    mapping = scene.get("discriminator", {}).get("mapping", {})
    if mapping:
        out += ["", "`scene` is one of the families: " + ", ".join(
            f"`{fam}` ([{_ref_name(ref)}](#{_anchor(_ref_name(ref))}))" for fam, ref in mapping.items()
        ) + "."]  # fmt: skip
    seen: set[str] = set()
    queue = deque(refs)
    while queue:
        name = queue.popleft()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        model = defs[name]
        out += ["", f"## {name}", ""]
        doc = model.get("description", "").strip()
        if doc:
            out += [doc, ""]
        found: list[str] = []
        if "properties" in model:
            out += _table(model, found, defs)
        else:
            out.append(f"Type: {_type(model, found)}")
        queue.extend(found)
    unreached = sorted(set(defs) - seen)
    if unreached:
        raise RuntimeError(f"config models not reachable from Config: {unreached}")
    return "\n".join(out).rstrip() + "\n"
