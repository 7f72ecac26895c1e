"""Config model of the pedestrians family (sampled by ``sampler.py`` here).

People of every age and build (anny bodies) walking, running, standing or sitting
in a procedural street, seen by a dashcam, a CCTV camera or a drone, by day,
under overcast skies or at dusk. The family owns its camera, lights (sky) and
street sections. Units: metres, degrees, seconds, watts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from render.cfgtypes import FloatRange, IntRange, Model
from render.families.base import SceneModel
from render.keypoints import COCO_KEYPOINTS

AgeGroup = Literal["child", "teen", "adult", "senior"]
Activity = Literal["walk", "run", "stand", "sit"]
TopKind = Literal["long", "short", "tank"]
BottomKind = Literal["trousers", "shorts", "skirt"]
HairKind = Literal["short", "long", "bald"]
Fabric = Literal["plain", "stripes", "denim", "print"]
GearKind = Literal["backpack", "shoulder_bag", "handbag", "hat", "umbrella"]
Rig = Literal["dashcam", "cctv", "drone"]
TimeOfDay = Literal["day", "overcast", "dusk"]

AGE_YEARS: dict[AgeGroup, tuple[float, float]] = {
    "child": (3.0, 12.0),
    "teen": (13.0, 19.0),
    "adult": (20.0, 64.0),
    "senior": (65.0, 90.0),
}


def _ages() -> dict[AgeGroup, float]:
    return {"child": 0.12, "teen": 0.1, "adult": 0.6, "senior": 0.18}


def _activities() -> dict[Activity, float]:
    return {"walk": 0.6, "run": 0.07, "stand": 0.27, "sit": 0.06}


def _gear() -> dict[GearKind, float]:
    return {"backpack": 0.15, "shoulder_bag": 0.1, "handbag": 0.08, "hat": 0.1, "umbrella": 0.04}


class PeopleConfig(Model):
    """Who is in the street and what they do. Phenotypes (height, weight, muscle,
    proportions) are drawn from anny's age- and sex-calibrated distributions
    (WHO height-for-age); ``skin_tone`` spans the 10-step Monk scale (0 lightest)."""

    count: IntRange = Field((3, 20), description="people per scene (dozens work)")
    age_groups: dict[AgeGroup, float] = Field(
        default_factory=_ages, description="weights; children from 3 years"
    )
    female_share: float = Field(0.5, ge=0, le=1)
    skin_tone: FloatRange = Field((0.0, 1.0), description="Monk scale position, 0..1")
    activities: dict[Activity, float] = Field(default_factory=_activities)
    walk_speed_mps: FloatRange = (0.9, 1.8)
    run_speed_mps: FloatRange = (2.4, 4.5)
    gear: dict[GearKind, float] = Field(
        default_factory=_gear, description="probability of each item per person"
    )
    gap_m: float = Field(0.05, ge=0, description="least space between two people's footprints")
    min_height_px: float = Field(
        20.0, gt=0, description="people are placed only where they are at least this tall"
    )

    @model_validator(mode="after")
    def _check(self) -> PeopleConfig:
        if self.count[0] < 0:
            raise ValueError(f"count: must be >= 0, got {list(self.count)}")
        for name, weights in (("age_groups", self.age_groups), ("activities", self.activities)):
            if not any(w > 0 for w in weights.values()) or any(w < 0 for w in weights.values()):
                raise ValueError(f"{name}: weights must be >= 0 with one > 0, got {weights}")
        if not 0 <= self.skin_tone[0] <= self.skin_tone[1] <= 1:
            raise ValueError(f"skin_tone: must lie in [0, 1], got {list(self.skin_tone)}")
        return self


def _tops() -> dict[TopKind, float]:
    return {"long": 0.5, "short": 0.4, "tank": 0.1}


def _bottoms() -> dict[BottomKind, float]:
    return {"trousers": 0.65, "shorts": 0.2, "skirt": 0.15}


def _hair() -> dict[HairKind, float]:
    return {"short": 0.6, "long": 0.3, "bald": 0.1}


def _fabrics() -> dict[Fabric, float]:
    return {"plain": 0.5, "stripes": 0.15, "denim": 0.2, "print": 0.15}


def _times() -> dict[TimeOfDay, float]:
    return {"day": 0.6, "overcast": 0.25, "dusk": 0.15}


def _rigs() -> dict[Rig, float]:
    return {"dashcam": 1.0, "cctv": 1.0, "drone": 0.3}


class ClothingConfig(Model):
    """What people wear (weights per kind); fabric patterns follow the body."""

    tops: dict[TopKind, float] = Field(default_factory=_tops)
    bottoms: dict[BottomKind, float] = Field(default_factory=_bottoms)
    hair: dict[HairKind, float] = Field(default_factory=_hair)
    fabrics: dict[Fabric, float] = Field(default_factory=_fabrics)


class StreetConfig(Model):
    """A straight street along X: road, sidewalks with curbs, buildings, furniture."""

    length_m: float = Field(120.0, gt=10)
    road_width_m: FloatRange = (6.0, 12.0)
    sidewalk_width_m: FloatRange = (2.5, 6.0)
    curb_height_m: FloatRange = (0.1, 0.16)
    crossing_probability: float = Field(0.5, ge=0, le=1)
    building_height_m: FloatRange = (6.0, 24.0)
    building_width_m: FloatRange = (6.0, 18.0)
    furniture_per_10m: FloatRange = Field(
        (1.0, 3.0), description="poles, signs, benches, bins, bicycles per 10 m of sidewalk"
    )
    parked_cars_per_10m: FloatRange = (0.3, 1.2)
    wet_probability: float = Field(0.2, ge=0, le=1)


class SkyConfig(Model):
    """Time of day (weights) and the light it brings."""

    time_of_day: dict[TimeOfDay, float] = Field(default_factory=_times)
    sun_elevation_deg: FloatRange = (15.0, 65.0)
    dusk_sun_elevation_deg: FloatRange = (-2.0, 5.0)
    street_light_power_w: FloatRange = (400.0, 1000.0)


class StreetCamera(Model):
    """Camera rigs (weights) and their mounting ranges; 36 mm-wide sensor."""

    rigs: dict[Rig, float] = Field(default_factory=_rigs)
    sensor_width_mm: float = Field(36.0, gt=0)
    dashcam_height_m: FloatRange = (1.2, 1.6)
    dashcam_focal_mm: FloatRange = (18.0, 30.0)
    cctv_height_m: FloatRange = (3.0, 10.0)
    cctv_tilt_deg: FloatRange = (15.0, 45.0)
    cctv_focal_mm: FloatRange = (16.0, 40.0)
    drone_height_m: FloatRange = (8.0, 20.0)
    drone_tilt_deg: FloatRange = (40.0, 80.0)
    drone_focal_mm: FloatRange = (24.0, 50.0)
    motion_blur_probability: float = Field(0.0, ge=0, le=1)
    exposure_s: FloatRange = Field((1 / 250, 1 / 30), description="shutter time when blurred")


class CrowdConfig(Model):
    """Far-away people merged into one ``iscrowd`` region per image."""

    enabled: bool = False
    max_height_px: float = Field(24.0, gt=0, description="people shorter than this join the crowd")


class PedestriansScene(SceneModel):
    """Pedestrians family: people in a street, with COCO keypoints and amodal masks."""

    family: Literal["pedestrians"] = "pedestrians"
    category: str = Field("person", description="COCO category of people (keypoints: coco)")
    people: PeopleConfig = PeopleConfig()
    clothing: ClothingConfig = ClothingConfig()
    street: StreetConfig = StreetConfig()
    sky: SkyConfig = SkyConfig()
    camera: StreetCamera = StreetCamera()
    crowd: CrowdConfig = CrowdConfig()
    min_person_pixels: int = Field(
        48, ge=1, description="people with fewer visible pixels are not annotated"
    )
    amodal: bool = Field(
        True, description="render amodal masks (one 1-sample pass per group of people)"
    )

    def category_names(self) -> list[str]:
        return [self.category]

    def keypoint_categories(self) -> dict[str, tuple[str, ...]]:
        return {self.category: COCO_KEYPOINTS}
