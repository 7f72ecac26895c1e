"""What a scene family is, and what it sees of the job that renders it.

A family is one unit (:class:`Family`): its ``scene`` config model (which owns
the family's camera, lights and world sections), its sampler
(config + scene index -> SceneSpec) and the procedural geometry generators its
SceneSpecs name. The registry of families is :data:`render.families.FAMILIES`.

Families sit below the job config (:mod:`render.config` assembles the whole job
from the job-wide sections in :mod:`render.settings` and one family's ``scene``
section); a sampler reads the job through the :class:`Job` protocol, never by
importing :mod:`render.config`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from render.cfgtypes import Model
from render.settings import AnnotationConfig, RenderConfig
from render.spec import SceneSpec


class Job(Protocol):
    """The parts of a render job a family's sampler may read."""

    @property
    def seed(self) -> int: ...

    @property
    def render(self) -> RenderConfig: ...

    @property
    def annotation(self) -> AnnotationConfig: ...

    @property
    def scene(self) -> Any: ...

    def category_id(self, name: str) -> int: ...


class SceneModel(Model):
    """Base of every family's ``scene`` config section."""

    family: str

    def category_names(self) -> list[str]:
        """Category names this family annotates (each must be in the job's ``categories``)."""
        raise NotImplementedError

    def keypoint_categories(self) -> dict[str, tuple[str, ...]]:
        """Category name -> the keypoint names this family writes for it, in order."""
        return {}

    def image_size(self, resolution: tuple[int, int]) -> tuple[int, int]:
        """The largest image a worker renders at once, given ``render.resolution``
        (a family with its own optics or tiles says otherwise)."""
        return resolution

    def memory_estimate(self) -> tuple[float, float]:
        """Bytes this family adds to (sampling one scene in the driver, rendering one
        scene in a worker), beyond Blender and the image buffers; the driver refuses
        a job that would not fit before any work starts. Measured, see the family."""
        return 0.0, 0.0

    def asset_fields(self, data: dict[str, Any]) -> list[tuple[str, str, Callable[[str], None]]]:
        """(yaml path under scene, path value, setter) for every asset file in ``data``,
        the JSON dump of this model; the job config resolves and checks them."""
        return []


def load_function(path: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function (imported now)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


Sampler = Callable[[Job, int], SceneSpec]


@dataclass(frozen=True)
class Assets:
    """One-time, per-machine resources of a family, built outside the repository.

    ``name``: what they are, in words. ``status``: ``"module:function"`` returning
    ``(ready, where)`` (bool, path). ``build``: ``"module:function"`` taking
    ``log(message)`` and ``rebuild`` (keyword) and returning where they are; it
    returns at once when they are ready, and is safe to call from several processes.
    ``needs``: what the build takes, for ``synthcv doctor``.
    """

    name: str
    status: str
    build: str
    needs: str = ""


@dataclass(frozen=True)
class Family:
    """One scene family.

    ``config``: its ``scene`` section model. ``sampler``: ``"module:function"``
    with signature ``(job, scene_index) -> SceneSpec``, imported on first use (a
    family may need heavy imports: scipy, torch). ``generators``: geometry
    generator name -> ``"module:function"`` taking a params dict and returning
    named :class:`~render.geometry.Mesh` parts. ``assets``: optional one-time,
    per-machine resources (:class:`Assets`, e.g. a body-model cache) that the driver
    builds before rendering and ``synthcv cache`` / ``doctor`` report. ``complete``: optional ``"module:function"`` ``(spec, job) -> spec``
    run where a scene is written (in the worker, after rendering, before
    annotating): fills in what only the built geometry tells, e.g. measured
    defect sizes. It must be a deterministic function of the spec and the job.
    ``sequences``: the sampler understands ``render.frames`` (:mod:`render.sequence`).
    """

    name: str
    config: type[SceneModel]
    sampler: str
    generators: Mapping[str, str] = field(default_factory=dict)
    assets: Assets | None = None
    complete: str | None = None
    sequences: bool = False
    coverage: str | None = None
    """``"module:function"``: scene section JSON -> attribute -> group -> target share
    (the report's coverage card), or None."""
    """Whether its sampler renders ``render.frames > 1`` (frames of a sequence)."""

    def sample(self, job: Job, scene_index: int) -> SceneSpec:
        sampler: Sampler = load_function(self.sampler)
        return sampler(job, scene_index)
