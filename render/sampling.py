"""Config + scene index -> SceneSpec (pure Python; no Blender).

Scene ``i`` depends only on ``(cfg, i)``: every stage draws from its own stream
``render.seeding.stream(cfg.seed, i, stage)``, so the result is the same whatever
the worker count or the order in which scenes are sampled. The family's sampler
comes from the registry :data:`render.families.FAMILIES`.
"""

from __future__ import annotations

from render.config import Config
from render.errors import UserError
from render.families import FAMILIES
from render.spec import SceneSpec


def sample_scene(cfg: Config, scene_index: int) -> SceneSpec:
    """Sample every random choice of scene ``scene_index`` (>= 0) of ``cfg``."""
    if isinstance(scene_index, bool) or not isinstance(scene_index, int) or scene_index < 0:
        raise ValueError(f"scene_index must be an int >= 0, got {scene_index!r}")
    name = cfg.scene.family
    if name not in FAMILIES:
        raise UserError(f"scene.family: unknown family {name!r}; valid: {', '.join(FAMILIES)}")
    return FAMILIES[name].sample(cfg, scene_index)
