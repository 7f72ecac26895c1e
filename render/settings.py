"""Job-wide config sections every scene family shares: render settings, COCO
categories, annotation thresholds.

These sit below the scene families (a family's sampler reads them through
:class:`render.families.base.Job`); the whole job config that combines them with
a family's ``scene`` section is assembled above the families, in
:mod:`render.config`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from render.cfgtypes import Model
from render.keypoints import COCO_KEYPOINTS, COCO_SKELETON

# ``render.quality``: measured settings (docs/benchmarks.md, scripts/bench_speed.py)
# that fill the render keys a config leaves unset. "default" is the field defaults.
QUALITY_PRESETS: dict[str, dict[str, Any]] = {
    "draft": {"samples": 8, "denoise_quality": "balanced", "denoise_prefilter": "fast"},
    "default": {},
    "final": {"samples": 64},
}


class RenderConfig(Model):
    """Image size, sampling and output formats."""

    quality: Literal["draft", "default", "final"] = Field(
        "default",
        description="shorthand for measured sampling and denoising settings (docs/benchmarks.md): "
        "draft (fastest: tuning a config, and CPU training data at the model's input size, "
        "docs/training.md 4b), default, final (slower, less noise); "
        "any render key set explicitly overrides it",
    )
    resolution: tuple[int, int] = Field((256, 256), description="[width, height] in pixels")
    samples: int = Field(16, ge=1, le=65536, description="Cycles samples per pixel")
    denoiser: Literal["oidn", "none"] = Field(
        "oidn", description="oidn: Intel Open Image Denoise on the final image; none: raw samples"
    )
    device: Literal["auto", "cpu", "cuda", "optix"] = Field(
        "auto",
        description="Cycles device; auto: an OptiX, CUDA or HIP GPU if one is visible, else "
        "the CPU; cuda/optix fail without such a GPU",
    )
    views_per_scene: int = Field(
        2, ge=1, le=999, description="camera views (images) per scene, same objects and lights"
    )
    frames: int = Field(
        1,
        ge=1,
        le=10000,
        description="frames per sequence: with N > 1, scenes k*N .. k*N+N-1 are the N "
        "consecutive frames of sequence k (num_scenes counts frames, a multiple of N); "
        "people walk, the dashcam drives, lights and looks stay (docs/pedestrians.md)",
    )
    fps: float = Field(10.0, gt=0, le=1000, description="frames per second of a sequence")
    flow: bool = Field(
        False,
        description="sequences: also write each frame's forward optical flow to the next "
        "frame (flow/*.flo, Middlebury format, pixels; docs/pedestrians.md)",
    )
    image_format: Literal["png", "jpeg"] = Field(
        "png", description="colour image files: png (lossless) or jpeg (.jpg, see jpeg_quality)"
    )
    jpeg_quality: int = Field(95, ge=1, le=100, description="JPEG quality (image_format: jpeg)")
    depth_format: Literal["png16", "npz", "none"] = Field(
        "png16",
        description="png16: uint16 PNG in millimetres (0 = no surface); npz: float32 metres",
    )
    max_bounces: int = Field(
        4, ge=0, le=64, description="Cycles light bounces (total, diffuse, glossy, transmission)"
    )
    dither: float = Field(
        1.0,
        ge=0,
        le=4,
        description="Blender's dither when storing 8-bit colours (breaks up banding); it "
        "depends on a pixel's place in the rendered buffer, so a tile equals the crop of "
        "the whole frame exactly only at 0 (at 1: within 2 of 255 levels)",
    )
    persistent_data: bool = Field(
        False,
        description="keep Cycles data between renders (~15% faster at 256x256, but the "
        "image then depends on which scenes the worker rendered before)",
    )
    noise_threshold: float = Field(
        0.0,
        ge=0,
        le=1,
        description="adaptive sampling: a pixel stops once its noise estimate is below this "
        "(e.g. 0.05); 0: off, every pixel takes `samples`",
    )
    adaptive_min_samples: int = Field(
        0,
        ge=0,
        le=65536,
        description="adaptive sampling: samples before a pixel may stop (0: Cycles picks)",
    )
    diffuse_bounces: int | None = Field(
        None, ge=0, le=64, description="diffuse bounces (null: max_bounces)"
    )
    glossy_bounces: int | None = Field(
        None, ge=0, le=64, description="glossy bounces (null: max_bounces)"
    )
    transmission_bounces: int | None = Field(
        None, ge=0, le=64, description="transmission bounces (null: max_bounces)"
    )
    clamp_indirect: float = Field(
        0.0,
        ge=0,
        description="clamp indirect light per sample to this brightness (removes fireflies, "
        "slightly darkens bright bounce light); 0: off",
    )
    caustics: bool = Field(
        True, description="reflective and refractive caustics (noisy and rarely visible)"
    )
    light_tree: bool = Field(
        True,
        description="Cycles' light tree: better light sampling with many lights, overhead "
        "with a few",
    )
    denoise_prefilter: Literal["accurate", "fast", "none"] = Field(
        "accurate",
        description="OIDN's treatment of its albedo and normal guides: accurate (denoise them "
        "first), fast, none",
    )
    denoise_quality: Literal["high", "balanced", "fast"] = Field(
        "high", description="OIDN's quality/speed trade-off (its own presets)"
    )
    texture_detail: float = Field(
        16.0,
        ge=0,
        le=16,
        description="at most this many octaves in procedural noise textures (octaves finer "
        "than a pixel only add shading cost and noise)",
    )

    @model_validator(mode="before")
    @classmethod
    def _quality(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("quality") in QUALITY_PRESETS:
            data = {**QUALITY_PRESETS[data["quality"]], **data}
        return data

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(8 <= x <= 16384 for x in v):
            raise ValueError(f"expected [width, height] in 8..16384, got {list(v)}")
        return v


class SensorConfig(Model):
    """A camera's exposure (render/sensor.py). ``fixed``: Blender's view transform at
    a fixed exposure, as every render before; ``auto``: the camera meters each frame
    and sets shutter and gain within its limits, adds the gain's sensor noise and
    applies its tone curve; images record ``exposure`` (stops, gain, noise)."""

    exposure: Literal["fixed", "auto"] = Field(
        "fixed", description="fixed: Blender's view transform; auto: meter, shutter, gain, noise"
    )
    metering: Literal["frame", "center"] = Field(
        "center", description="auto: average the whole frame, or weight its middle half 3x"
    )
    target: float = Field(0.18, gt=0, le=1, description="auto: linear grey the meter aims for")
    max_shutter_stops: float = Field(
        5.0, ge=0, le=20, description="auto: the longest shutter, in stops above daylight's"
    )
    max_gain_db: float = Field(30.0, ge=0, le=60, description="auto: the highest gain, dB")
    full_well: float = Field(
        10000.0,
        gt=0,
        description="auto: electrons a pixel holds at linear 1.0, gain 1 (shot noise)",
    )
    read_noise_e: float = Field(3.0, ge=0, description="auto: read noise, electrons")


class Category(Model):
    """A COCO category. ``keypoints`` (names, in order) and ``skeleton`` (1-based
    index pairs) make it a keypoint category; ``keypoints: coco`` is shorthand for
    COCO's 17 person keypoints and their skeleton."""

    id: int = Field(description="COCO category id, >= 1 (0 is the instance pass's background)")
    name: str = Field(
        min_length=1, description="category name; the scene section refers to categories by it"
    )
    supercategory: str = Field(
        "", description="COCO supercategory; export --format anomaly takes 'defect' ones as defects"
    )
    keypoints: list[str] | None = Field(
        None, description="keypoint names in order, or 'coco' for COCO's 17 person keypoints"
    )
    skeleton: list[tuple[int, int]] | None = Field(
        None, description="limbs as 1-based keypoint index pairs (COCO convention)"
    )

    @model_validator(mode="before")
    @classmethod
    def _coco_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("keypoints") == "coco":
            data = {**data, "keypoints": list(COCO_KEYPOINTS)}
            data.setdefault("skeleton", [list(p) for p in COCO_SKELETON])
        return data

    @field_validator("id")
    @classmethod
    def _id(cls, v: int) -> int:
        if v < 1:
            raise ValueError(
                f"category ids start at 1 (0 is the background in the instance pass), got {v}"
            )
        return v

    @model_validator(mode="after")
    def _check_keypoints(self) -> Category:
        if self.keypoints is None:
            if self.skeleton is not None:
                raise ValueError("skeleton: needs keypoints")
            return self
        if len(set(self.keypoints)) != len(self.keypoints) or not self.keypoints:
            raise ValueError(f"keypoints: expected unique names, got {self.keypoints}")
        n = len(self.keypoints)
        for a, b in self.skeleton or []:
            if not (1 <= a <= n and 1 <= b <= n):
                raise ValueError(f"skeleton: pair [{a}, {b}] outside 1..{n}")
        return self

    def coco(self) -> dict[str, Any]:
        """The COCO ``categories`` entry."""
        entry: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "supercategory": self.supercategory,
        }
        if self.keypoints is not None:
            entry["keypoints"] = list(self.keypoints)
            entry["skeleton"] = [list(p) for p in self.skeleton or []]
        return entry


class AnnotationConfig(Model):
    """Which rendered instances become annotations."""

    min_pixels: int = Field(
        1,
        ge=1,
        description="instances with fewer visible pixels are not annotated (a family may set "
        "its own: min_defect_pixels, min_person_pixels)",
    )
