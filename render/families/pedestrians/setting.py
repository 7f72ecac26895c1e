"""Cameras and light of a street scene (pure numpy sampling).

Camera rigs: a dashcam on the road looking down the street; a CCTV camera on a
facade looking along and across the street, tilted down; a drone above the
street looking down. Light: day (sun + clear Nishita sky), overcast (weak soft
sun, greyed sky), dusk (low warm sun, dim sky, street lights on). Frames: world Z
up, metres; camera poses camera-to-world, OpenCV convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from render import camera as cam_math
from render.families.common import kelvin_to_rgb, uniform, weighted_choice
from render.families.pedestrians.config import SkyConfig, StreetCamera
from render.families.pedestrians.street import Street
from render.geometry.rotations import aim_neg_z
from render.seeding import derive_int
from render.settings import RenderConfig
from render.spec import CameraSpec, LensDropletsSpec, LightSpec, RainSpec, SkySpec, WorldSpec


@dataclass(frozen=True)
class Shot:
    """The camera of a scene and where people should be for it to see them:
    ``focus`` (x, y) ground point it looks at, ``reach`` metres around it."""

    camera: CameraSpec
    rig: str
    focus: tuple[float, float]
    reach: float
    focal_px: float


DRONE_MARGIN_M = 1.0
"""Nearest a drone comes to the facades. Beyond them it hung inside a building (12 m
deep, ``street.building_height_m`` tall: 6-24 m against the drone's 8-20 m) and
rendered black: 9 of 60 drone frames in docs/training.md 4c's first test set."""


def _yaw_over_the_street(yaw: float, ground_y: float, dist: float, limit: float) -> float:
    """The yaw nearest ``yaw`` that keeps a drone ``dist`` metres back from the ground
    point it looks at inside ``|y| <= limit``: its sine clipped to what keeps the
    eye's y ``ground_y - dist * sin(yaw)`` between the facades. Unchanged when the
    eye is already there (so are the scenes), and no random draw either way."""
    lo = max(-1.0, (ground_y - limit) / dist)
    hi = min(1.0, (ground_y + limit) / dist)
    sin = math.sin(yaw)
    if lo <= sin <= hi or lo > hi:
        return yaw
    sin = min(max(sin, lo), hi)
    cos = math.copysign(math.sqrt(max(0.0, 1.0 - sin * sin)), math.cos(yaw))
    return math.atan2(sin, cos)


def _pose(eye: np.ndarray, direction: np.ndarray, roll: float) -> list[list[float]]:
    pose = cam_math.look_at(eye, eye + direction)
    return cam_math.roll(pose, roll).tolist()  # type: ignore[no-any-return]


def sample_shot(
    cfg: StreetCamera, render: RenderConfig, street: Street, rng: np.random.Generator
) -> Shot:
    """One rig per scene, one focal length; ``render.views_per_scene`` poses of it."""
    rig = weighted_choice(rng, cfg.rigs)
    width, height = render.resolution
    focal = uniform(
        rng,
        {"dashcam": cfg.dashcam_focal_mm, "cctv": cfg.cctv_focal_mm, "drone": cfg.drone_focal_mm}[
            rig
        ],
    )
    k = cam_math.intrinsics(focal, cfg.sensor_width_mm, width, height)
    poses = []
    half = street.length / 2
    focus = np.zeros(2)
    reach = 20.0
    for _ in range(render.views_per_scene):
        if rig == "dashcam":
            lane = -street.road_width / 4
            eye = np.array(
                [
                    uniform(rng, (-half + 5, -half + 25)),
                    lane + uniform(rng, (-0.4, 0.4)),
                    uniform(rng, cfg.dashcam_height_m),
                ]
            )
            yaw = uniform(rng, (-0.12, 0.12))
            pitch = uniform(rng, (-0.06, 0.02))
            d = np.array(
                [math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), math.sin(pitch)]
            )
            poses.append(_pose(eye, d, uniform(rng, (-0.02, 0.02))))
            focus, reach = eye[:2] + 22 * d[:2], 24.0
        elif rig == "cctv":
            side = 1.0 if rng.random() < 0.5 else -1.0
            h = uniform(rng, cfg.cctv_height_m)
            eye = np.array([uniform(rng, (-half + 10, 0.0)), side * (street.facade - 0.3), h])
            tilt = math.radians(uniform(rng, cfg.cctv_tilt_deg))
            across = uniform(rng, (0.15, 0.9))
            dist = h / math.tan(tilt)
            ground = eye[:2] + dist * np.array([math.cos(across), -side * math.sin(across)])
            d = np.array([*(ground - eye[:2]), -h])
            poses.append(_pose(eye, d / np.linalg.norm(d), uniform(rng, (-0.03, 0.03))))
            focus, reach = ground, max(8.0, 1.3 * dist)
        else:  # drone
            h = uniform(rng, cfg.drone_height_m)
            tilt = math.radians(uniform(rng, cfg.drone_tilt_deg))
            yaw = uniform(rng, (0.0, 2 * math.pi))
            dist = h / math.tan(tilt)
            ground = np.array(
                [uniform(rng, (-half / 2, half / 2)), uniform(rng, (-street.facade, street.facade))]
            )
            yaw = _yaw_over_the_street(yaw, float(ground[1]), dist, street.facade - DRONE_MARGIN_M)
            eye = np.array([*(ground - dist * np.array([math.cos(yaw), math.sin(yaw)])), h])
            d = np.array([*(ground - eye[:2]), -h])
            poses.append(_pose(eye, d / np.linalg.norm(d), 0.0))
            focus, reach = ground, max(8.0, 0.45 * h / math.sin(tilt))
    blur = 0.5 if rng.random() < cfg.motion_blur_probability else 0.0
    camera = CameraSpec(
        width=width,
        height=height,
        K=k.tolist(),
        poses=poses,
        clip_start=0.05,
        clip_end=400.0,
        motion_blur=blur,
    )
    return Shot(camera, rig, (float(focus[0]), float(focus[1])), reach, float(k[0, 0]))


def sample_light(
    cfg: SkyConfig, street: Street, rng: np.random.Generator
) -> tuple[list[LightSpec], WorldSpec, str]:
    """Sun, sky and (at dusk) street lights. Returns lights, world, time of day."""
    when = weighted_choice(rng, cfg.time_of_day)
    elev = math.radians(
        uniform(
            rng,
            {"dusk": cfg.dusk_sun_elevation_deg, "night": (-18.0, -8.0)}.get(
                when, cfg.sun_elevation_deg
            ),
        )
    )
    azim = uniform(rng, (0.0, 2 * math.pi))
    toward = np.array(
        [math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev)]
    )
    sun_at = 100.0 * toward
    temp = {"day": (5200.0, 6200.0), "overcast": (6000.0, 7000.0), "dusk": (2300.0, 3200.0),
            "night": (4000.0, 4100.0)}[when]  # fmt: skip
    strength = {"day": (3.0, 4.5), "overcast": (0.3, 0.8), "dusk": (1.0, 2.5),
                "night": (0.0, 0.0)}[when]  # fmt: skip
    angle = {"day": 0.02, "overcast": 0.35, "dusk": 0.05, "night": 0.05}[when]
    lights = [
        LightSpec(
            type="SUN",
            location=sun_at.tolist(),
            rotation_euler=aim_neg_z(sun_at, np.zeros(3)),
            energy=uniform(rng, strength) if elev > 0 else 0.0,
            color=kelvin_to_rgb(uniform(rng, temp)),
            size=angle,
        )
    ]
    sky = SkySpec(
        sun_elevation=max(elev, math.radians(0.5)),
        sun_rotation=azim - math.pi / 2,  # Blender's sky puts the sun at rotation + 90 deg
        air_density=uniform(rng, (0.8, 1.6)),
        dust_density=uniform(rng, (0.5, 3.0) if when != "day" else (0.3, 1.5)),
    )
    grey = uniform(rng, (0.55, 0.8))
    world = WorldSpec(
        color=[grey, grey, grey * 1.03],
        strength={
            "day": uniform(rng, (0.25, 0.4)),
            "overcast": uniform(rng, (0.5, 0.9)),
            "dusk": uniform(rng, (0.06, 0.15)),
            "night": uniform(rng, (0.002, 0.008)),  # a city's night sky: nearly black
        }[when],
        sky=sky,
        overcast={"day": 0.0, "overcast": uniform(rng, (0.6, 0.9)), "dusk": 0.1, "night": 0.6}[
            when
        ],  # fmt: skip
    )
    if when == "night":  # no sky texture: a dark, faintly blue city sky
        world = WorldSpec(color=[0.02, 0.025, 0.045], strength=uniform(rng, (0.0005, 0.002)))
    power = cfg.night_street_light_power_w if when == "night" else cfg.street_light_power_w
    if when in ("dusk", "night"):
        for item in street.items:
            if item.kind != "streetlight":
                continue
            h, arm = item.params["height"], item.params["arm"]
            c, s = math.cos(item.yaw), math.sin(item.yaw)
            at = np.array([item.x + c * (arm - 0.15), item.y + s * (arm - 0.15), h - 0.25])
            lights.append(
                LightSpec(
                    type="SPOT",
                    location=at.tolist(),
                    rotation_euler=[0.0, 0.0, 0.0],
                    energy=uniform(rng, power),
                    color=kelvin_to_rgb(uniform(rng, (2700.0, 4000.0))),
                    size=0.15,
                    spot_angle=math.radians(130),
                )
            )
    return lights, world, when


def headlights(shot: Shot, power_w: float) -> list[LightSpec]:
    """Low beams of the dashcam's car: two 30 degree spots 0.6 m below the camera and
    0.7 m to either side, aimed along its view, 2 degrees down (none for other rigs).
    A spot is a point source, so the road just ahead of the car still gets more light
    than a real low beam's cut-off gives it."""
    if shot.rig != "dashcam" or power_w <= 0:
        return []
    pose = np.asarray(shot.camera.poses[0], dtype=np.float64)
    eye, ahead = pose[:3, 3], pose[:3, 2].copy()
    ahead[2] = 0.0
    ahead /= np.linalg.norm(ahead)
    side = np.cross(ahead, [0.0, 0.0, 1.0])
    aim = ahead * math.cos(math.radians(2)) - np.array([0.0, 0.0, math.sin(math.radians(2))])
    out = []
    for s in (-0.7, 0.7):
        at = eye + s * side - np.array([0.0, 0.0, 0.6])
        out.append(
            LightSpec(
                type="SPOT",
                location=at.tolist(),
                rotation_euler=aim_neg_z(at, at + aim),
                energy=power_w,
                color=kelvin_to_rgb(4300.0),
                size=0.1,
                spot_angle=math.radians(30),
            )
        )
    return out


def fog_density(cfg: SkyConfig, rng: np.random.Generator) -> float:
    """A scene's fog: extinction per metre (3.912 / visibility), 0 without."""
    if rng.random() >= cfg.fog_probability:
        return 0.0
    return 3.912 / uniform(rng, cfg.fog_visibility_m)


def weather(
    cfg: SkyConfig,
    street: Street,
    world: WorldSpec,
    v_cam: np.ndarray,
    shutter_s: float,
    rng: np.random.Generator,
    frame_seed: int,
) -> tuple[WorldSpec, dict[str, float | int | None]]:
    """``world`` with the scene's fog (a box of the street and 60 m beyond each end,
    40 m up) and, in a wet scene, falling rain and drops on the lens; and the
    conditions they add to the image record. The rain's drops are new in every
    frame (``frame_seed``); the rate, wind and droplets' presence are the scene's."""
    update: dict[str, object] = {}
    fog = fog_density(cfg, rng)
    if fog > 0:
        half_x, half_y = street.length / 2 + 60.0, street.facade + 15.0
        update |= {"fog_density": fog, "fog_box": [-half_x, -half_y, -1.0, half_x, half_y, 40.0]}
    rain = street.wet and rng.random() < cfg.rain_probability
    rate = uniform(rng, cfg.rain_rate_mm_h)
    wind = rng.uniform(-cfg.wind_mps, cfg.wind_mps, 2)
    droplets = rain and rng.random() < cfg.lens_droplet_probability
    if rain:
        update["rain"] = RainSpec(
            rate_mm_h=rate,
            wind_mps=[float(c) for c in wind],
            shutter_s=shutter_s,
            camera_velocity_mps=[float(c) for c in v_cam],
            seed=derive_int(frame_seed, 0, "rain"),
        )
    if droplets:
        update["lens_droplets"] = LensDropletsSpec(seed=derive_int(frame_seed, 0, "droplets"))
    record = {
        "fog_visibility_m": round(3.912 / fog, 1) if fog > 0 else None,
        "rain_mm_h": round(rate, 1) if rain else None,
        "lens_droplets": bool(droplets),
    }
    return world.model_copy(update=update), record
