"""The in-process BlenderProc bootstrap: pinned versions and process hygiene.

If this fails after an upgrade, re-check every point in render/blender/bootstrap.py's
docstring against the new versions before changing the pins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from render.blender.bootstrap import EXPECTED_BLENDERPROC, EXPECTED_BPY


def test_installed_versions_are_the_ones_the_bootstrap_was_written_for():
    assert version("blenderproc") == EXPECTED_BLENDERPROC == "2.8.0", (
        f"blenderproc {version('blenderproc')} installed: re-check render/blender/bootstrap.py"
    )
    bpy_version = version("bpy")
    assert bpy_version.startswith(EXPECTED_BPY + "."), (
        f"bpy {bpy_version} installed, bootstrap is for {EXPECTED_BPY}.*"
    )
    assert EXPECTED_BPY == "4.2"


_PROBE = r"""
import json, os, sys
site = [p for p in sys.path if p.endswith("site-packages")]
from render.blender import bootstrap
bproc = bootstrap.init()
cube = bproc.object.create_primitive("CUBE")
print(json.dumps({
    "versions": bootstrap.versions(),
    "site_kept": all(p in sys.path for p in site),
    "pythonpath": os.environ.get("PYTHONPATH"),
    "temp_dir": bootstrap._state["temp_dir"],
    "numpy_aliases": __import__("numpy").in1d([1, 2], [2]).tolist() == [False, True]
    and __import__("numpy").string_ is __import__("numpy").bytes_,
    "api": all(hasattr(bproc, m) for m in ("object", "renderer", "camera", "loader", "writer")),
}))
"""


@pytest.mark.blender
def test_bootstrap_in_process_keeps_environment_and_exits_cleanly():
    env = dict(os.environ, PYTHONPATH="/nonexistent-synthcv-marker")
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=180
    )
    assert proc.returncode == 0, (
        f"exit code {proc.returncode} (139 = the exit segfault is back)\n{proc.stderr[-2000:]}"
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    assert out["versions"]["blender"].startswith("4.2.")
    assert out["versions"]["blenderproc"] == "2.8.0"
    assert out["site_kept"], "blenderproc's __init__ removed site-packages from sys.path"
    assert out["pythonpath"] == "/nonexistent-synthcv-marker", "PYTHONPATH was not restored"
    assert out["api"]
    assert out["numpy_aliases"], "np.string_/np.in1d aliases for blenderproc's writers are missing"
    assert not os.path.exists(out["temp_dir"]), "BlenderProc temp dir left behind"
    assert "pip" not in proc.stdout.lower() or "install" not in proc.stdout.lower()
