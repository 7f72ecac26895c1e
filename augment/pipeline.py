"""Pipeline YAML -> albumentations ``Compose``; the one place that calls it.

With :mod:`augment.transforms`, this is the only module that imports
albumentations, so switching library later is a change here.

Accepted YAML (see ``docs/augment.md``):

- albumentations' own serialized form (``A.to_dict`` / ``A.save``): a mapping with
  ``transform: {__class_fullname__: Compose, transforms: [...]}``;
- the concise form: a list ``- HorizontalFlip: {p: 0.5}`` (a bare name means
  default arguments), nesting through ``transforms:`` for ``OneOf`` etc.;
- either of them inside a mapping that also sets ``min_area`` (pixels) and
  ``min_visibility`` (fraction of the pre-transform area), e.g.
  ``{min_area: 16, min_visibility: 0.25, transforms: [...]}``.

Our own ``Compose`` wraps the transforms, so a serialized ``Compose``'s
``bbox_params``/``keypoint_params`` are ignored: boxes are COCO ``[x, y, w, h]``,
keypoints ``xy`` in pixel-index coordinates (pixel centre at an integer), removed
as soon as they leave the image, masks resampled nearest-neighbour.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.core.serialization import SERIALIZABLE_REGISTRY
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from augment.masks import unpack_masks
from augment.pipeline_limits import check_growth, load_yaml
from augment.transforms import CUSTOM_TRANSFORMS
from render.formats import ConfigError

_ABSTRACT = {"BasicTransform", "DualTransform", "ImageOnlyTransform", "BaseCompose", "Transform3D"}
_BAD_BORDERS = {cv2.BORDER_REFLECT: "REFLECT", cv2.BORDER_REFLECT_101: "REFLECT_101"}
_BAD_BORDERS[cv2.BORDER_WRAP] = "WRAP"


def _registry() -> dict[str, type]:
    """Transform classes by short name: albumentations' registry plus ours."""
    names: dict[str, type] = {}
    for full, cls in SERIALIZABLE_REGISTRY.items():
        short = full.rsplit(".", 1)[-1]
        if short in _ABSTRACT or short.startswith("Base") or short.endswith("3D"):
            continue
        if issubclass(cls, A.BasicTransform | A.BaseCompose):
            names[short] = cls
    names.update(CUSTOM_TRANSFORMS)
    return names


REGISTRY: dict[str, type] = _registry()


class PipelineSpec(BaseModel):
    """A validated pipeline: transforms in albumentations' serialized form plus our
    annotation filters. ``transforms`` are dicts with ``__class_fullname__``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transforms: list[dict[str, Any]]
    min_area: float = Field(1.0, ge=0, description="drop annotations with fewer pixels than this")
    min_visibility: float = Field(
        0.0,
        ge=0,
        le=1,
        description="drop annotations keeping less than this fraction of their area",
    )
    source: str = "<pipeline>"


RESAMPLING = frozenset(
    "HorizontalFlip VerticalFlip Transpose RandomRotate90 D4 SquareSymmetry Affine"
    " ShiftScaleRotate Rotate SafeRotate Perspective ElasticTransform GridDistortion"
    " OpticalDistortion PiecewiseAffine ThinPlateSpline RandomCrop CenterCrop Crop"
    " RandomResizedCrop RandomSizedCrop Resize LongestMaxSize SmallestMaxSize RandomScale"
    " PadIfNeeded Pad CropAndPad RandomCropFromBorders".split()
)
"""Geometric transforms that only move mask pixels (each output pixel copies one
input pixel under nearest-neighbour interpolation, or is filled with ``fill_mask``).
Under them, up to 8 instance masks travel as the bits of one uint8 plane."""


@dataclass(frozen=True)
class Pipeline:
    """A built pipeline. ``compose`` is the albumentations ``Compose``; ``nodes`` its
    transforms in pre-order (for per-sample seeding); ``geometric`` is True when any
    transform moves pixels (an albumentations ``DualTransform``); ``bit_packed``
    when every such transform is in :data:`RESAMPLING` with a zero ``fill_mask``, so
    masks can be packed 8 per plane (one warp per 8 instances instead of 8)."""

    spec: PipelineSpec
    compose: Any
    nodes: tuple[Any, ...]
    geometric: bool
    bit_packed: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for ``dataset.json``): albumentations' ``to_dict``."""
        return {
            "albumentations": A.__version__,
            "min_area": self.spec.min_area,
            "min_visibility": self.spec.min_visibility,
            "compose": _jsonable(A.to_dict(self.compose)),
        }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _close(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _normalize(item: Any, where: str, source: str) -> dict[str, Any]:
    """One concise or serialized transform -> serialized dict with a short class name."""
    if isinstance(item, str):
        name, args = item, {}
    elif isinstance(item, dict) and "__class_fullname__" in item:
        args = {k: v for k, v in item.items() if k != "__class_fullname__"}
        name = str(item["__class_fullname__"])
    elif isinstance(item, dict) and len(item) == 1:
        name, args = next(iter(item.items()))
        args = {} if args is None else args
        if not isinstance(args, dict):
            raise ConfigError(
                f"{source}: {where}.{name}: expected a mapping of arguments, got {args!r}"
            )
    else:
        raise ConfigError(f"{source}: {where}: expected `Name: {{args}}`, got {item!r}")
    short = name.rsplit(".", 1)[-1] if name.startswith(("albumentations.", "augment.")) else name
    cls = REGISTRY.get(short)
    if cls is None:
        raise ConfigError(
            f"{source}: {where}: unknown transform {name!r}{_close(short, list(REGISTRY))}"
        )
    valid = [p for p in inspect.signature(cls).parameters if p not in ("self", "kwargs")]
    if issubclass(cls, A.Compose):
        valid = ["transforms", "p"]  # our Compose sets targets, seeds and interpolation
        args = {k: v for k, v in args.items() if k in valid}
    for key in args:
        if key not in valid:
            raise ConfigError(
                f"{source}: {where}.{short}: unknown argument {key!r}{_close(key, valid)}"
                f" (valid: {', '.join(valid)})"
            )
    check_growth(short, args, where, source)
    out: dict[str, Any] = {"__class_fullname__": short, **args}
    if "transforms" in args:
        children = args["transforms"]
        if not isinstance(children, list):
            raise ConfigError(f"{source}: {where}.{short}.transforms: expected a list")
        out["transforms"] = [
            _normalize(c, f"{where}.{short}.transforms[{i}]", source)
            for i, c in enumerate(children)
        ]
    return out


def parse_pipeline(data: Any, source: str = "<pipeline>") -> PipelineSpec:
    """Validate pipeline data (already loaded from YAML/JSON) into a :class:`PipelineSpec`."""
    options: dict[str, Any] = {}
    if isinstance(data, dict):
        data = dict(data)
        data.pop("__version__", None)
        if "transform" in data:
            top = data.pop("transform")
            items = top.get("transforms", []) if isinstance(top, dict) else None
            if (
                items is None
                or top.get("__class_fullname__", "Compose").rsplit(".", 1)[-1] != "Compose"
            ):
                items = [top]
        elif "transforms" in data:
            items = data.pop("transforms")
        else:
            raise ConfigError(
                f"{source}: expected `transforms:` (concise) or `transform:` (albumentations)"
            )
        options = data
    else:
        items = data
    if not isinstance(items, list):
        raise ConfigError(f"{source}: transforms: expected a list, got {type(items).__name__}")
    transforms = [_normalize(t, f"transforms[{i}]", source) for i, t in enumerate(items)]
    try:
        return PipelineSpec(transforms=transforms, source=source, **options)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(str(x) for x in e["loc"])
        raise ConfigError(f"{source}: {loc}: {e['msg']}") from None


def load_pipeline(path: str | Path, max_bytes: int = 1 << 20) -> PipelineSpec:
    """Read a pipeline YAML (or JSON) file of at most ``max_bytes``; every problem is
    a one-line ConfigError (:func:`augment.pipeline_limits.load_yaml`)."""
    path = Path(path)
    return parse_pipeline(load_yaml(path, max_bytes), source=str(path))


def _instantiate(d: dict[str, Any], where: str, source: str) -> Any:
    short = d["__class_fullname__"]
    args = {k: v for k, v in d.items() if k != "__class_fullname__"}
    if "transforms" in args:
        args["transforms"] = [
            _instantiate(c, f"{where}.{short}.transforms[{i}]", source)
            for i, c in enumerate(args["transforms"])
        ]
    cls = A.Sequential if short == "Compose" else REGISTRY[short]
    try:
        t = cls(**args)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"][:1])
        msg = f"{loc}: {e['msg']}, got {e.get('input')!r}"
        raise ConfigError(f"{source}: {where}.{short}: {msg[:300]}") from None
    except (ValueError, TypeError) as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        if len(lines) >= 3 and "validation error" in lines[0]:  # pydantic text re-raised
            text = lines[1] if " [type=" in lines[1] else f"{lines[1]}: {lines[2]}"
            msg = text.split(" [type=")[0].replace("Value error, ", "")
        else:
            msg = " ".join(lines)
        raise ConfigError(f"{source}: {where}.{short}: {msg[:300]}") from None
    border = getattr(t, "border_mode", None)
    if isinstance(t, A.DualTransform) and border in _BAD_BORDERS:
        raise ConfigError(
            f"{source}: {where}.{short}: border_mode={_BAD_BORDERS[border]} mirrors instances and"
            " keypoints into the border; use 0 (CONSTANT) or 1 (REPLICATE)"
        )
    return t


def _preorder(t: Any) -> list[Any]:
    out = [t]
    if isinstance(t, A.BaseCompose):
        for child in t.transforms:
            out.extend(_preorder(child))
    return out


def _compose(transforms: list[Any]) -> Any:
    return A.Compose(
        transforms,
        bbox_params=A.BboxParams(format="coco", label_fields=["bbox_ids"], clip=True),
        keypoint_params=A.KeypointParams(
            format="xy", label_fields=["keypoint_ids"], remove_invisible=True
        ),
        mask_interpolation=cv2.INTER_NEAREST,
        seed=0,
    )


def build_pipeline(spec: PipelineSpec) -> Pipeline:
    """Instantiate the transforms inside our ``Compose``."""
    transforms = [
        _instantiate(d, f"transforms[{i}]", spec.source) for i, d in enumerate(spec.transforms)
    ]
    with warnings.catch_warnings():  # photometric-only pipelines: boxes pass through as is
        warnings.filterwarnings("ignore", message="Got processor for", category=UserWarning)
        compose = _compose(transforms)
    try:  # dataset.json records the pipeline; some transforms cannot be written down
        A.to_dict(compose)
    except NotImplementedError as exc:
        raise ConfigError(f"{spec.source}: {exc}") from None
    nodes = tuple(_preorder(compose))
    dual = [n for n in nodes if isinstance(n, A.DualTransform)]
    bit_packed = all(
        type(n).__name__ in RESAMPLING and not np.any(getattr(n, "fill_mask", 0) or 0) for n in dual
    )
    return Pipeline(
        spec=spec, compose=compose, nodes=nodes, geometric=bool(dual), bit_packed=bit_packed
    )


def reseed(pipeline: Pipeline, seed: np.random.SeedSequence) -> None:
    """Give every transform of ``pipeline`` its own stream derived from ``seed``.

    Not ``Compose.set_random_seed``: that hands the same seed to every transform, so
    two transforms with the same ``p`` would always fire together.
    """
    states = seed.generate_state(len(pipeline.nodes), dtype=np.uint32)
    for node, s in zip(pipeline.nodes, states, strict=True):
        node.seed = int(s)
        node.random_generator = np.random.default_rng(int(s))
        # a fresh random.Random of the class albumentations already uses (no global state)
        node.py_random = type(node.py_random)(int(s))


def run_pipeline(
    pipeline: Pipeline,
    image: np.ndarray,
    planes: np.ndarray,
    count: int,
    bboxes: np.ndarray,
    keypoints: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray, np.ndarray, np.ndarray]:
    """One albumentations call moving everything together.

    Args:
        image: (H, W, 3) uint8 RGB (or (H, W) grey).
        planes: (H, W, ceil(count / 8)) uint8, the instance masks bit-packed
            (:func:`augment.masks.pack_masks`); count may be 0.
        count: number of instance masks in ``planes``.
        bboxes: (B, 4) float COCO ``[x, y, w, h]`` in pixels, for annotations without masks.
        keypoints: (K, 2) float ``xy`` in pixel-index coordinates.

    Returns:
        ``(image, masks, packed, bboxes, bbox_index, keypoints)``: ``masks`` is
        (H', W', C) planes when ``packed`` (the pipeline warped the bit planes as they
        are, 1 bit per mask pixel), else (count, H', W') 0/1 uint8 masks, unpacked
        for this call only; ``bbox_index`` (B',) int gives, for each surviving box,
        its row in the input ``bboxes``; keypoints keep their order and count; NaN
        for those that left the image at any step.
    """
    data: dict[str, Any] = {
        "image": image,
        "bboxes": bboxes.reshape(-1, 4),
        "bbox_ids": np.arange(len(bboxes)),
        "keypoints": keypoints.reshape(-1, 2),
        "keypoint_ids": np.arange(len(keypoints)),
    }
    packed = pipeline.bit_packed and count > 1
    if packed:
        data["mask"] = planes[:, :, 0] if planes.shape[2] == 1 else planes
    elif count:
        data["masks"] = np.ascontiguousarray(unpack_masks(planes, count))
    out = pipeline.compose(**data)
    if packed:
        out_masks = out["mask"]
        out_masks = out_masks[:, :, None] if out_masks.ndim == 2 else out_masks
    elif count:
        out_masks = out["masks"]
        if isinstance(out_masks, list):
            out_masks = np.stack(out_masks)
    else:
        h, w = out["image"].shape[:2]
        out_masks = np.zeros((0, h, w), np.uint8)
    # keypoints leaving the image are removed after each transform (their pixels are
    # gone even if a later transform brings the coordinates back): NaN, in input order
    kps = np.full((len(keypoints), 2), np.nan)
    kept = np.asarray(out["keypoint_ids"], dtype=np.int64).reshape(-1)
    kps[kept] = np.asarray(out["keypoints"], dtype=np.float64).reshape(-1, 2)[:, :2]
    return (
        out["image"],
        np.asarray(out_masks),
        packed,
        np.asarray(out["bboxes"], dtype=np.float64).reshape(-1, 4),
        np.asarray(out["bbox_ids"], dtype=np.int64).reshape(-1),
        kps,
    )
