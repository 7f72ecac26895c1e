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
from render.settings import SensorConfig

AgeGroup = Literal["child", "teen", "adult", "senior"]
Activity = Literal["walk", "run", "stand", "sit"]
TopKind = Literal["long", "short", "tank"]
BottomKind = Literal["trousers", "shorts", "skirt"]
HairKind = Literal["short", "long", "bald"]
Fabric = Literal["plain", "stripes", "denim", "print"]
GearKind = Literal["backpack", "shoulder_bag", "handbag", "hat", "umbrella"]
Rig = Literal["dashcam", "cctv", "drone"]
TimeOfDay = Literal["day", "overcast", "dusk", "night"]
Build = Literal["slim", "average", "heavy"]
Occlusion = Literal["0-25%", "25-50%", "50-75%", "75-100%"]

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
        default_factory=_ages,
        description="age group -> weight; keys: child (3-12 years), teen (13-19), adult (20-64), "
        "senior (65-90)",
    )
    female_share: float = Field(0.5, ge=0, le=1, description="share of people drawn female")
    skin_tone: FloatRange = Field((0.0, 1.0), description="Monk scale position, 0..1")
    monk_steps: dict[int, float] | None = Field(
        None,
        description="Monk step (1..10) -> weight: skin tones drawn step by step (all 1: uniform "
        "over the scale's 10 steps; the 1st and 10th are then no longer half as common); "
        "null: uniform over skin_tone",
    )
    builds: dict[Build, float] | None = Field(
        None,
        description="body build -> weight; keys: slim, average, heavy (anny's weight phenotype "
        "below 0.35, 0.35-0.65, above); null: anny's calibrated distribution for age and sex",
    )
    occlusion_target: dict[Occlusion, float] | None = Field(
        None,
        description="visible share of people the dataset should reach, bin -> weight; keys: "
        "0-25%, 25-50%, 50-75%, 75-100%. Not sampled (occlusion follows from placement): "
        "synthcv report shows the rendered shares against it",
    )
    activities: dict[Activity, float] = Field(
        default_factory=_activities,
        description="activity -> weight; keys: walk, run, stand, sit (at most 2 sitters per "
        "visible bench; children run twice as often)",
    )
    walk_speed_mps: FloatRange = Field(
        (0.9, 1.8), description="walking speed, m/s (stride and arm swing grow with it)"
    )
    run_speed_mps: FloatRange = Field((2.4, 4.5), description="running speed, m/s")
    gear: dict[GearKind, float] = Field(
        default_factory=_gear,
        description="per-person probability of each item: backpack, shoulder_bag, handbag, hat, "
        "umbrella (last two: walk/stand only)",
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
        for name, table in (
            ("monk_steps", self.monk_steps),
            ("builds", self.builds),
            ("occlusion_target", self.occlusion_target),
        ):
            if table is not None and (
                not any(w > 0 for w in table.values()) or any(w < 0 for w in table.values())
            ):
                raise ValueError(f"{name}: weights must be >= 0 with one > 0, got {table}")
        if self.monk_steps is not None:
            for step, w in self.monk_steps.items():
                if not 1 <= step <= 10:
                    raise ValueError(f"monk_steps: steps are 1..10, got {step}")
                lo, hi = monk_interval(step)
                if w > 0 and (hi <= self.skin_tone[0] or lo >= self.skin_tone[1]):
                    raise ValueError(
                        f"monk_steps: step {step} lies outside skin_tone {list(self.skin_tone)}"
                    )
        return self


def monk_interval(step: int) -> tuple[float, float]:
    """The ``skin_tone`` interval of Monk step ``step`` (1..10): tones round to it."""
    return max((step - 1.5) / 9, 0.0), min((step - 0.5) / 9, 1.0)


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

    tops: dict[TopKind, float] = Field(
        default_factory=_tops, description="top -> weight; keys: long (sleeves), short, tank"
    )
    bottoms: dict[BottomKind, float] = Field(
        default_factory=_bottoms,
        description="bottom -> weight; keys: trousers, shorts, skirt (x0.05 for men)",
    )
    hair: dict[HairKind, float] = Field(
        default_factory=_hair,
        description="hair -> weight; keys: short, long (x0.15 for men), bald (x0.05 for women "
        "and under 18s)",
    )
    fabrics: dict[Fabric, float] = Field(
        default_factory=_fabrics,
        description="fabric -> weight, per garment (top, bottom); keys: plain, stripes, denim, print",
    )


class StreetConfig(Model):
    """A straight street along X: road, sidewalks with curbs, buildings, furniture."""

    length_m: float = Field(120.0, gt=10, description="street length along X, metres")
    road_width_m: FloatRange = Field(
        (6.0, 12.0), description="road width between the curbs, metres"
    )
    sidewalk_width_m: FloatRange = Field((2.5, 6.0), description="width of each sidewalk, metres")
    curb_height_m: FloatRange = Field(
        (0.1, 0.16), description="curb height (sidewalks above the road), metres"
    )
    crossing_probability: float = Field(
        0.5, ge=0, le=1, description="share of streets with a zebra crossing"
    )
    building_height_m: FloatRange = Field(
        (6.0, 24.0), description="height of each building, metres (drawn per building)"
    )
    building_width_m: FloatRange = Field(
        (6.0, 18.0), description="frontage of each building along the street, metres (per building)"
    )
    furniture_per_10m: FloatRange = Field(
        (1.0, 3.0),
        description="mean street lights, signs, benches, bins, bicycles and trees per 10 m of "
        "each sidewalk",
    )
    parked_cars_per_10m: FloatRange = Field(
        (0.3, 1.2), description="mean parked cars per 10 m on each side of the road"
    )
    wet_probability: float = Field(
        0.2, ge=0, le=1, description="share of scenes with wet ground (darker, glossier)"
    )


class SkyConfig(Model):
    """Time of day (weights) and the light it brings."""

    time_of_day: dict[TimeOfDay, float] = Field(
        default_factory=_times,
        description="time of day -> weight; keys: day, overcast, dusk (street lights on), night "
        "(street lights, lit windows, a dashcam's headlights; use camera.sensor.exposure: auto)",
    )
    sun_elevation_deg: FloatRange = Field(
        (15.0, 65.0), description="day, overcast: sun angle above the horizon, degrees"
    )
    dusk_sun_elevation_deg: FloatRange = Field(
        (-2.0, 5.0), description="dusk: sun angle above the horizon, degrees (no sunlight at <= 0)"
    )
    street_light_power_w: FloatRange = Field(
        (400.0, 1000.0),
        description="dusk: watts per street light (a spot at each lamp head)",
    )
    night_street_light_power_w: FloatRange = Field(
        (0.4, 1.2),
        description="night: watts per street light, on the scale where the sun is 3-4.5 W/m^2 "
        "(~1 W/m^2 per 28,000 lux): 10-30 lux on the road below, about 12 stops under "
        "daylight, as at a real night (auto exposure makes up what the sensor can)",
    )
    headlight_power_w: float = Field(
        1.5,
        ge=0,
        description="night: watts per headlight of the dashcam's car (a 30 degree "
        "spot aimed 2 degrees down: ~10 lux at 20 m)",
    )
    lit_window_share: float = Field(
        0.6, ge=0, le=1, description="night: share of buildings whose windows are lit (~100 cd/m^2)"
    )
    fog_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of scenes in fog (a scattering volume: it thickens with distance)",
    )
    fog_visibility_m: FloatRange = Field(
        (40.0, 300.0),
        description="fog: meteorological visibility, metres (2 % contrast left that far)",
    )
    rain_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of wet scenes (street.wet_probability) in which rain is falling: "
        "streaks of drops drawn into the light (render/weather.py)",
    )
    rain_rate_mm_h: FloatRange = Field(
        (2.0, 25.0), description="rain rate, mm/h: 2 light, 10 moderate, 25 heavy"
    )
    wind_mps: float = Field(3.0, ge=0, description="rain: wind up to this speed slants the drops")
    lens_droplet_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of rainy scenes with water drops on the lens or windscreen "
        "(out of focus; each image records them: masks are the geometry's)",
    )
    car_lights_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="dusk and night: share of parked cars with their lights on (red tail lights, "
        "white front lamps)",
    )


class StreetCamera(Model):
    """Camera rigs (weights) and their mounting ranges; 36 mm-wide sensor."""

    rigs: dict[Rig, float] = Field(
        default_factory=_rigs,
        description="rig -> weight, one rig per scene; keys: dashcam, cctv, drone",
    )
    sensor_width_mm: float = Field(
        36.0, gt=0, description="sensor width, millimetres; it spans the image width"
    )
    dashcam_height_m: FloatRange = Field(
        (1.2, 1.6), description="dashcam: height above the road, metres"
    )
    dashcam_focal_mm: FloatRange = Field(
        (18.0, 30.0), description="dashcam: lens focal length, millimetres"
    )
    cctv_height_m: FloatRange = Field(
        (3.0, 10.0), description="CCTV: mounting height on a facade, metres"
    )
    cctv_tilt_deg: FloatRange = Field(
        (15.0, 45.0), description="CCTV: downward tilt below the horizontal, degrees"
    )
    cctv_focal_mm: FloatRange = Field(
        (16.0, 40.0), description="CCTV: lens focal length, millimetres"
    )
    drone_height_m: FloatRange = Field(
        (8.0, 20.0), description="drone: height above the ground, metres"
    )
    drone_tilt_deg: FloatRange = Field(
        (40.0, 80.0), description="drone: downward tilt below the horizontal, degrees"
    )
    drone_focal_mm: FloatRange = Field(
        (24.0, 50.0), description="drone: lens focal length, millimetres"
    )
    dashcam_speed_mps: FloatRange = Field(
        (4.0, 14.0),
        description="dashcam: the car's speed in a sequence (render.frames > 1), m/s; "
        "it drives straight ahead",
    )
    drone_drift_mps: FloatRange = Field(
        (0.0, 1.0), description="drone: horizontal drift in a sequence, m/s (CCTV stays put)"
    )
    motion_blur_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of scenes in which walking and running people move during the exposure",
    )
    exposure_s: FloatRange = Field((1 / 250, 1 / 30), description="shutter time when blurred")
    sensor: SensorConfig = Field(
        default_factory=SensorConfig,
        description="exposure: fixed (Blender's view) or auto (metering, gain, sensor noise; "
        "docs/pedestrians.md, Exposure)",
    )


class CrowdConfig(Model):
    """Far-away people merged into one ``iscrowd`` region per image."""

    enabled: bool = Field(
        False, description="merge people shorter than max_height_px into one iscrowd region"
    )
    max_height_px: float = Field(24.0, gt=0, description="people shorter than this join the crowd")


class ActorConfig(Model):
    """One actor, or a group of them side by side."""

    age_group: AgeGroup = Field("adult", description="child, teen, adult or senior")
    count: IntRange = Field((1, 1), description="people in the group")
    activity: Literal["walk", "run"] = Field("walk", description="walk or run")
    vehicle: Literal["none", "bicycle", "wheelchair", "stroller"] = Field(
        "none",
        description="bicycle: a cyclist (categories rider and bicycle); wheelchair: a "
        "wheelchair user (person, wheelchair); stroller: pushing a stroller (person, stroller)",
    )
    speed_mps: FloatRange = Field((1.0, 1.6), description="crossing speed, m/s")
    ahead_m: FloatRange = Field(
        (8.0, 20.0), description="start: metres ahead of the camera along the street"
    )
    start: Literal["kerb", "parked_cars", "crossing", "bus_stop"] = Field(
        "kerb",
        description="kerb: on the sidewalk's edge; parked_cars: in the parking lane between "
        "parked cars; crossing: at the zebra crossing (the street gets one); bus_stop: at the "
        "kerb in front of a bus shelter (the street gets one there)",
    )
    side: Literal["left", "right", "either"] = Field(
        "either", description="which side of the street the actor starts on, as the camera looks"
    )
    spacing_m: float = Field(0.8, gt=0, description="between group members, along the kerb")
    trigger_m: float | None = Field(
        None,
        gt=0,
        description="the actor stands still until the camera is this close (metres along the "
        "street; a driving dashcam's sequences), then sets off; None: moving from the first frame",
    )


class ScenarioConfig(Model):
    """A named situation: actors, and the rig and time of day it needs (None: sampled)."""

    name: str = Field(min_length=1, description="recorded on every image")
    rig: Rig | None = Field(None, description="the camera rig (None: as sampled)")
    time_of_day: TimeOfDay | None = Field(None, description="None: as sampled")
    actors: list[ActorConfig] = Field(min_length=1)


class PedestriansScene(SceneModel):
    """Pedestrians family: people in a street, with COCO keypoints and amodal masks."""

    family: Literal["pedestrians"] = Field(
        "pedestrians", description="selects the pedestrians family"
    )
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
    scenario: ScenarioConfig | None = Field(
        None,
        description="actors placed relative to the camera (configs/scenarios/; docs/pedestrians.md)",
    )

    rider_category: str = Field(
        "rider", description="COCO category of cyclists (keypoints: coco; scenarios with bicycles)"
    )

    def vehicles(self) -> list[str]:
        """The vehicles of the scenario's actors, in a fixed order."""
        used = {a.vehicle for a in self.scenario.actors} if self.scenario else set()
        return [v for v in ("bicycle", "wheelchair", "stroller") if v in used]

    def category_names(self) -> list[str]:
        vehicles = self.vehicles()
        riders = [self.rider_category] if "bicycle" in vehicles else []
        return [self.category, *riders, *vehicles]

    def keypoint_categories(self) -> dict[str, tuple[str, ...]]:
        out = {self.category: COCO_KEYPOINTS}
        if "bicycle" in self.vehicles():
            out[self.rider_category] = COCO_KEYPOINTS
        return out

    def memory_estimate(self) -> tuple[float, float]:
        # Measured 2026-12-06 (peak RSS): sampling one scene with count = [n, n] takes
        # 1.33 GB at n = 20 and 2.81 GB at n = 500 (the body model, then ~3.1 MB per
        # person drawn, placed or not); a Blender worker 1.66 GB with 5 people and
        # 2.08 GB with 40 at 320x240 (the body model ~1 GB, ~12 MB per person built).
        n = self.people.count[1]
        return 1.27e9 + 3.1e6 * n, 1.0e9 + 12e6 * n
