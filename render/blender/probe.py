"""What this machine's Blender can render with (for ``synthcv doctor``).

Run as ``python -m render.blender.probe``: imports BlenderProc through the
bootstrap (so a version mismatch shows here exactly as it would in a render),
lists the Cycles devices of every GPU backend this ``bpy`` build has, and says
which device ``render.device: auto`` would pick (the backend's own order). Prints
one JSON object on stdout; Blender's chatter goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def probe() -> dict[str, Any]:
    out: dict[str, Any] = {"ok": False}
    try:
        from render.blender import bootstrap

        out.update(bootstrap.versions())
    except Exception as exc:  # noqa: BLE001 - the doctor reports any failure as a finding
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    import bpy

    from render.blender.backend import _DEVICE_TYPES

    prefs = bpy.context.preferences.addons["cycles"].preferences
    backends: dict[str, list[str]] = {}
    for dtype in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
        try:
            prefs.compute_device_type = dtype
        except TypeError:  # not compiled into this build
            continue
        prefs.refresh_devices()
        backends[dtype.lower()] = [
            d.name for d in prefs.get_devices_for_type(dtype) if d.type != "CPU"
        ]
    prefs.compute_device_type = "NONE"
    auto = next((t.lower() for t in _DEVICE_TYPES["auto"] if backends.get(t.lower())), "cpu")
    out.update(ok=True, backends=backends, auto=auto, cpu_threads=os.cpu_count())
    return out


def main() -> int:
    real_stdout = os.dup(1)
    os.dup2(2, 1)  # Blender prints to fd 1; keep stdout for the JSON
    try:
        result = probe()
    finally:
        sys.stdout.flush()
        os.dup2(real_stdout, 1)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
