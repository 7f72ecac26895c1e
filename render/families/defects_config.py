"""Config model of the defective-product family (see render/families/defects.py).

PLACEHOLDER until the defects family lands: the model exists so the config union
is complete; sampling it raises NotImplementedError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from render.cfgtypes import Model


class DefectsScene(Model):
    family: Literal["defects"] = "defects"

    def category_names(self) -> list[str]:
        return []

    def asset_fields(self, data: dict[str, Any]) -> list[tuple[str, str, Callable[[str], None]]]:
        return []
