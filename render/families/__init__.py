"""The scene families: one registry entry each (config model, sampler, generators).

Adding a family means writing its folder under ``render/families/`` and one entry
in :data:`FAMILIES`; the job config (:mod:`render.config`), the sampler dispatch
(:mod:`render.sampling`) and the Blender backend's geometry lookup
(:func:`build_geometry`) all read this registry. Config models are imported here
(they are cheap); samplers and generators by name when first used, so the CLI
does not pay for scipy or torch it does not need.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from render.families.base import Assets, Family, load_function
from render.families.defects.config import DefectsScene
from render.families.generic.config import GenericScene
from render.families.pedestrians.config import PedestriansScene
from render.geometry import Mesh
from render.spec import SceneSpec

_DEFECTS = "render.families.defects.geometry.assemblies"
_PROPS = "render.families.defects.geometry.props"
_STREET = "render.families.pedestrians.street"

FAMILIES: dict[str, Family] = {
    "generic": Family(
        name="generic",
        config=GenericScene,
        sampler="render.families.generic.sampler:sample_generic",
        generators={"box": "render.geometry.shapes:box_generator"},
    ),
    "defects": Family(
        name="defects",
        config=DefectsScene,
        sampler="render.families.defects.sampler:sample_defects",
        generators={
            "product_with_defects": f"{_DEFECTS}:product_with_defects",
            "conveyor": f"{_PROPS}:conveyor",
            "inspection_table": f"{_PROPS}:table",
            "tray": f"{_PROPS}:tray",
        },
        complete="render.families.defects.measure:complete_defects",
    ),
    "pedestrians": Family(
        name="pedestrians",
        config=PedestriansScene,
        sampler="render.families.pedestrians.sampler:sample_pedestrians",
        generators={
            "people": "render.families.pedestrians.people:people_parts",
            "street": f"{_STREET}:street_parts",
            "building": f"{_STREET}:building_parts",
            "furniture": f"{_STREET}:furniture_parts",
            "vehicle": "render.families.pedestrians.vehicles:vehicle_parts",
        },
        assets=Assets(
            name="anny body model",
            status="render.families.pedestrians.body:cache_status",
            build="render.families.pedestrians.body:build_cache",
            needs="1-6 minutes and ~2 GB of memory once per machine",
        ),
        sequences=True,
        coverage="render.families.pedestrians.coverage:targets",
    ),
}


def build_assets(fam: Family, log: Callable[[str], None], rebuild: bool = False) -> Any:
    """Build ``fam``'s one-time assets (none: nothing to do); returns where they are."""
    if fam.assets is None:
        return None
    return load_function(fam.assets.build)(log, rebuild=rebuild)


def assets_status(fam: Family) -> tuple[bool, Any] | None:
    """``(ready, where)`` of ``fam``'s one-time assets, or None if it has none."""
    if fam.assets is None:
        return None
    ready, where = load_function(fam.assets.status)()
    return bool(ready), where


def family(name: str) -> Family:
    """The registered family ``name``; KeyError lists the valid names."""
    if name not in FAMILIES:
        raise KeyError(f"unknown scene family {name!r}; valid: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def _generator_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    for fam in FAMILIES.values():
        for gen, path in fam.generators.items():
            if gen in paths and paths[gen] != path:
                raise ValueError(f"geometry generator {gen!r} is registered by two families")
            paths[gen] = path
    return paths


@cache
def generator(name: str) -> Callable[[dict[str, Any]], dict[str, Mesh]]:
    """The geometry generator ``name`` of any family; KeyError lists the valid names."""
    paths = _generator_paths()
    if name not in paths:
        raise KeyError(f"unknown geometry generator {name!r}; valid: {sorted(paths)}")
    return load_function(paths[name])


def complete_spec(spec: SceneSpec, job: Any) -> SceneSpec:
    """``spec`` with what its family's ``complete`` step adds (unchanged without one);
    ``job``: the render job (:class:`render.families.base.Job`)."""
    fam = FAMILIES.get(spec.family)
    if fam is None or fam.complete is None:
        return spec
    done: SceneSpec = load_function(fam.complete)(spec, job)
    return done


def build_geometry(name: str, params: dict[str, Any]) -> dict[str, Mesh]:
    """Run generator ``name`` on ``params``: named mesh parts in one local frame."""
    return generator(name)(params)
