"""Render SceneSpec JSON files in a fresh process (as the driver's workers do).

Usage: python tests/blender_runner.py OUT.npz SPEC.json [SPEC.json ...]
Saves rgb_i_v, depth_i_v, instance_i_v (and amodal_i_v_k, the k-th amodal pass;
behind_i_v, the pass without see-through objects;
flow_i_v with render.flow; exposure_i_v, JSON, with a sensor) for spec i, view v, and
the worker info.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    from render.blender import worker
    from render.spec import SceneSpec

    out = Path(argv[0])
    info = worker.init(os.environ.get("SYNTHCV_TEST_DEVICE", "cpu"))
    arrays: dict[str, np.ndarray] = {}
    timings = []
    for i, path in enumerate(argv[1:]):
        spec = SceneSpec.model_validate_json(Path(path).read_text())
        result = worker.render(spec)
        timings.append(result.timings)
        for v, view in enumerate(result.views):
            arrays[f"rgb_{i}_{v}"] = view.rgb
            arrays[f"depth_{i}_{v}"] = view.depth
            arrays[f"instance_{i}_{v}"] = view.instance
            if view.exposure is not None:
                arrays[f"exposure_{i}_{v}"] = np.array(json.dumps(view.exposure))
            if view.flow is not None:
                arrays[f"flow_{i}_{v}"] = view.flow
            if view.behind is not None:
                arrays[f"behind_{i}_{v}"] = view.behind
            for k, amodal in enumerate(view.amodal):
                arrays[f"amodal_{i}_{v}_{k}"] = amodal
    arrays["info"] = np.array(json.dumps({"info": info, "timings": timings}))
    np.savez(out, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
