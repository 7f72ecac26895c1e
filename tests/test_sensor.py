"""The camera model of camera.sensor.exposure: auto (render/sensor.py): metering,
how exposure splits into shutter and gain within the sensor's limits, noise that
grows with gain as predicted, and the tone curve."""

from __future__ import annotations

import numpy as np
import pytest

from render.sensor import LUMA, develop, exposure, meter, tone
from render.spec import SensorSpec


def test_meter_is_the_log_average_without_highlights() -> None:
    frame = np.full((40, 40, 3), 0.02, dtype=np.float32)
    frame[:10] = 0.08  # a quarter four times brighter
    frame[0, :5] = 500.0  # street lights: above the 99th percentile, left out
    expected = np.exp(0.75 * np.log(0.02) + 0.25 * np.log(0.08))
    got = meter(frame, "frame")
    assert got == pytest.approx(expected, rel=0.02)
    centre = frame.copy()
    centre[10:30, 10:30] = 0.5  # a bright middle counts 3x with centre weighting
    assert meter(centre, "center") > meter(centre, "frame")


@pytest.mark.parametrize(
    ("metered", "shutter", "gain_db", "under"),
    [
        (0.18, 0.0, 0.0, 0.0),  # daylight: as rendered
        (0.72, -2.0, 0.0, 0.0),  # too bright: a shorter shutter
        (0.18 / 2**3, 3.0, 0.0, 0.0),  # dusk: a longer shutter
        (0.18 / 2**8, 5.0, 18.06, 0.0),  # night: the longest shutter, then 3 stops of gain
        (0.18 / 2**12, 5.0, 30.0, 12 - 5 - 30 / 6.02),  # beyond the sensor: stays dark
    ],
)
def test_exposure_takes_shutter_first_then_gain(
    metered: float, shutter: float, gain_db: float, under: float
) -> None:
    rec = exposure(metered, SensorSpec())
    assert rec["shutter_stops"] == pytest.approx(shutter, abs=1e-3)
    assert rec["gain_db"] == pytest.approx(gain_db, abs=1e-2)
    assert rec["underexposed_stops"] == pytest.approx(under, abs=1e-3)


def test_noise_grows_with_gain_as_predicted() -> None:
    grey = 0.18
    sigmas = []
    for stops in (0, 6, 10):  # darker scenes need more light: 0, 1 and 5 stops of gain
        linear = np.full((200, 200, 3), grey / 2**stops, dtype=np.float32)
        linear[0, 0] = 1.0  # the meter ignores one bright pixel
        spec = SensorSpec(seed=3)
        rgb, rec = develop(linear, spec)
        assert abs(meter(linear, "center") * 2 ** rec["ev_stops"] - grey) < 0.01
        # measure the noise in linear terms: the tone curve's slope at grey
        slope = (tone(np.array(grey + 1e-3)) - tone(np.array(grey - 1e-3))) / 2e-3
        measured = float(np.std(rgb[1:, :, 1].astype(float) / 255.0)) / float(slope)
        assert measured == pytest.approx(rec["noise_sigma"], rel=0.25), (stops, rec)
        sigmas.append(rec["noise_sigma"])
    assert sigmas[0] < sigmas[1] < sigmas[2]
    assert np.array_equal(develop(linear, SensorSpec(seed=3))[0], rgb)  # seeded


def test_tone_curve() -> None:
    x = np.linspace(0, 40, 2000)
    y = tone(x)
    assert y[0] == 0 and np.all(np.diff(y) >= 0) and y[-1] == pytest.approx(1.0)
    assert round(255 * float(tone(np.array(0.18)))) == 105  # mid-grey lands mid-scale
    assert LUMA.sum() == pytest.approx(1.0)


@pytest.mark.blender
def test_a_dim_scene_is_exposed_by_the_camera(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real render of a dimly lit cube: with the sensor, the camera opens up (its
    record says by how much) and the cube's pixels come out near mid-grey, where
    Blender's fixed view leaves them nearly black; masks are unchanged."""
    import json

    from tests.blender_helpers import cube_scene, render_specs

    spec, _, _ = cube_scene(res=48, samples=4)
    dim = spec.model_copy(
        update={
            "lights": [lt.model_copy(update={"energy": lt.energy / 256}) for lt in spec.lights],
            "world": spec.world.model_copy(update={"strength": spec.world.strength / 256}),
        }
    )
    auto = dim.model_copy(
        update={"render": dim.render.model_copy(update={"sensor": SensorSpec(seed=1)})}
    )
    data = render_specs([dim, auto], tmp_path)
    rec = json.loads(str(data["exposure_1_0"]))
    assert "exposure_0_0" not in data
    assert 6.0 < rec["ev_stops"] < 8.5 and rec["shutter_stops"] == 5.0 and rec["gain_db"] > 0
    cube = data["instance_0_0"] == 1
    assert np.array_equal(cube, data["instance_1_0"] == 1)
    fixed, exposed = data["rgb_0_0"][cube].mean(), data["rgb_1_0"][cube].mean()
    assert fixed < 30 and 60 < exposed < 200, (fixed, exposed)
