"""A carved scratch behaves like a real one: its walls catch a raking light and it
all but vanishes under diffuse light (a real render, tiny: 96 x 96, 8 samples).

A painted stripe (the same strip, flat, its walls a darker paint) is the control:
its contrast does not depend on the light's direction, so the test can fail.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from render import camera as cm
from render.families.defects.geometry.assemblies import product_with_defects
from render.spec import (
    CameraSpec,
    GeometrySpec,
    LightSpec,
    MaterialSpec,
    ObjectSpec,
    RenderSpec,
    SceneSpec,
    WorldSpec,
)
from render.visibility import contrast
from tests.blender_helpers import render_specs

RES = 96
FOV = 0.012  # metres across the image: 0.125 mm per pixel
PAINT = MaterialSpec(base_color=[0.35, 0.35, 0.36], roughness=0.45, texture="none")
DARK_PAINT = PAINT.model_copy(update={"base_color": [0.12, 0.12, 0.13]})


def _params(depth: float) -> dict:
    return {
        "product": {
            "family": "plate",
            "length": 0.03,
            "width": 0.03,
            "thickness": 0.004,
            "chamfer": 0.0005,
            "holes": 0,
        },
        "facing": [0.0, 0.0, 1.0],
        "min_width": 2.5 * FOV / RES,
        "defects": [
            {
                "type": "scratch",
                "variant": "single",
                "seed": 11,
                "size": 0.008,
                "width": 3e-4,
                "depth": depth,
                "ductile": False,
            }
        ],
    }


def _scene(params: dict, walls: MaterialSpec, raking: bool) -> SceneSpec:
    """The plate seen from above, centred on its groove; ``raking``: one small light
    8 degrees above the plate, across the groove (plus a faint ambient), else a
    uniform white world (an integrating sphere: diffuse light from everywhere)."""
    groove = product_with_defects(params)["defect_0"]
    centre = groove.vertices.mean(0)
    rel = groove.vertices[:, :2] - centre[:2]
    along = np.linalg.svd(rel, full_matrices=False)[2][0]
    across = np.array([-along[1], along[0], 0.0])
    K = cm.intrinsics(50.0, 8.8, RES, RES)
    distance = FOV * 50.0 / 8.8
    eye = centre + np.array([1e-4, 0.0, distance])
    pose = cm.look_at(eye, centre, up=np.array([0.0, 1.0, 0.0]))
    elev = math.radians(8.0)
    lights, world = [], WorldSpec(color=[1.0, 1.0, 1.0], strength=1.0)
    if raking:
        at = centre + 0.2 * (across * math.cos(elev) + np.array([0, 0, math.sin(elev)]))
        lights = [
            LightSpec(type="POINT", location=at.tolist(), energy=20.0, color=[1, 1, 1], size=0.001)
        ]
        world = WorldSpec(color=[1.0, 1.0, 1.0], strength=0.05)

    def obj(name: str, iid: int, parent: int | None, slots: list[MaterialSpec]) -> ObjectSpec:
        geo = GeometrySpec(
            kind="procedural", generator="product_with_defects", params=params, part=name
        )
        return ObjectSpec(
            name=name,
            instance_id=iid,
            category_id=1,
            parent_id=parent,
            geometry=geo,
            material=PAINT,
            material_slots=slots,
        )

    return SceneSpec(
        family="test",
        scene_index=0,
        seed=0,
        objects=[obj("product", 1, None, [PAINT]), obj("defect_0", 2, 1, [PAINT, walls])],
        lights=lights,
        world=world,
        camera=CameraSpec(width=RES, height=RES, K=K.tolist(), poses=[pose.tolist()]),
        render=RenderSpec(samples=8, denoiser="oidn", cycles_seed=1),
    )


@pytest.mark.blender
def test_groove_walls_catch_raking_light_and_vanish_under_diffuse_light(tmp_path: Path) -> None:
    """Contrast (render.visibility.contrast, CIE76 dE) of the groove's mask against
    the plate around it. Measured here (bpy 4.2, CPU):

    - carved groove (0.3 mm wide, 80 um deep, the plate's own paint on its walls):
      raking 33.6, diffuse 1.0 (ratio 32);
    - painted stripe (the same strip, 1 um deep, darker paint on its walls):
      raking 19.3, diffuse 15.0 (ratio 1.3: its 10 um step at the strip's margins
      still catches the raking light a little).
    Exposure: the plate's mean sRGB value is 188 under the raking light, 165 under
    the diffuse one. The render takes ~12 s (one worker, 4 scenes).
    """
    carved, flat = _params(8e-5), _params(1e-6)
    specs = [
        _scene(carved, PAINT, raking=True),
        _scene(carved, PAINT, raking=False),
        _scene(flat, DARK_PAINT, raking=True),
        _scene(flat, DARK_PAINT, raking=False),
    ]
    out = render_specs(specs, tmp_path)
    got = []
    for i in range(4):
        rgb, inst = out[f"rgb_{i}_0"], out[f"instance_{i}_0"]
        assert (inst == 2).sum() > 100 and (inst == 1).sum() > 2000
        c = contrast(rgb, inst, [2], [1])
        assert c is not None
        got.append(c)
    print("contrast carved raking/diffuse, painted raking/diffuse:", got)
    carved_raking, carved_diffuse, painted_raking, painted_diffuse = got
    assert carved_raking > 3 * max(carved_diffuse, 1.0)
    assert carved_diffuse < 3.0  # below the annotation threshold: it cannot be seen
    # the control: a painted stripe shows under both lights alike
    assert painted_diffuse > 3.0
    assert painted_raking < 2 * painted_diffuse
