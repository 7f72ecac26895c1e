"""GPU rendering (CUDA/OptiX): skipped unless nvidia-smi lists a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from render.formats import coco
from tests.blender_helpers import cube_scene, render_specs

pytestmark = [pytest.mark.gpu, pytest.mark.blender]


@pytest.mark.parametrize("device", ["auto", "cuda", "optix"])
def test_gpu_render_matches_cpu_annotations(tmp_path, device):
    spec, _, _ = cube_scene()
    gpu = render_specs([spec], tmp_path / device, device=device)
    cpu = render_specs([spec], tmp_path / "cpu", device="cpu")
    assert gpu["info"]["info"]["device"] in ("cuda", "optix")
    a, b = gpu["instance_0_0"] == 1, cpu["instance_0_0"] == 1
    assert coco.iou(coco.encode(a), coco.encode(b)) >= 0.99
    assert np.abs(gpu["depth_0_0"][a & b] - cpu["depth_0_0"][a & b]).max() < 1e-3
