"""Config + scene index -> SceneSpec (pure Python; no Blender).

Scene ``i`` depends only on ``(cfg, i)``: every stage draws from its own stream
``render.seeding.stream(cfg.seed, i, stage)``, so the result is the same whatever
the worker count or the order in which scenes are sampled.
"""

from __future__ import annotations

from render.config import Config
from render.errors import UserError
from render.spec import SceneSpec


def sample_scene(cfg: Config, scene_index: int) -> SceneSpec:
    """Sample every random choice of scene ``scene_index`` (>= 0) of ``cfg``."""
    if isinstance(scene_index, bool) or not isinstance(scene_index, int) or scene_index < 0:
        raise ValueError(f"scene_index must be an int >= 0, got {scene_index!r}")
    family = cfg.scene.family
    if family == "generic":
        from render.families.generic import sample_generic

        return sample_generic(cfg, scene_index)
    if family == "defects":
        try:
            from render.families.defects import sample_defects
        except ModuleNotFoundError as exc:
            if exc.name != "render.families.defects":
                raise  # a real import bug inside the family must not be hidden
            raise UserError("scene.family: family 'defects' is not available") from None
        return sample_defects(cfg, scene_index)
    raise UserError(f"scene.family: unknown family {family!r}; valid: generic, defects")
