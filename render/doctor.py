"""``synthcv doctor``: one screen on whether this machine can render, and how.

Each check is a :class:`Finding`: ``ok``, ``warn`` (works, with a caveat) or
``fail`` (a render or a command will not work), with the fix in one line. Checks
that import heavy or fragile things (Blender, OpenCV's EXR codec, torch) run in a
subprocess, so a crash there is a finding, not a crash of the doctor.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from render.paths import PROJECT_ROOT

MIN_FREE_GIB = 2.0  # a few hundred images at 512x512 with depth


@dataclass(frozen=True)
class Finding:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def _run_python(
    code_or_module: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    try:
        r = subprocess.run(
            [sys.executable, *code_or_module],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        return -1, "", f"timed out after {timeout:.0f} s"
    return r.returncode, r.stdout, r.stderr


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> list[Finding]:
    v = platform.python_version()
    from render import __version__

    if sys.version_info[:2] != (3, 11):
        return [
            Finding(
                "python",
                "fail",
                f"{v} ({sys.executable})",
                "use Python 3.11 (bpy 4.2 wheels exist only for 3.11): make setup",
            )
        ]
    return [Finding("python", "ok", f"{v}, synthcv {__version__}, {platform.platform()}")]


def check_blender() -> list[Finding]:
    code, out, err = _run_python(["-m", "render.blender.probe"], timeout=180)
    last = (out.strip().splitlines() or [""])[-1]
    try:
        info = json.loads(last)
    except json.JSONDecodeError:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        return [
            Finding(
                "blender",
                "fail",
                f"probe exited {code}: {tail[:200]}",
                "make setup (pip install -r requirements.lock into .venv)",
            )
        ]
    if not info.get("ok"):
        return [
            Finding(
                "blender",
                "fail",
                str(info.get("error"))[:300],
                "pip install -r requirements.lock (bpy==4.2.*, blenderproc==2.8.0)",
            )
        ]
    found = [
        Finding(
            "blender",
            "ok",
            f"bpy {info['blender']}, blenderproc {info['blenderproc']} (in-process bootstrap works)",
        )
    ]
    backends: dict[str, list[str]] = info.get("backends", {})
    gpus = {k: v for k, v in backends.items() if v}
    listed = "; ".join(f"{k.upper()}: {', '.join(v)}" for k, v in gpus.items()) or "no GPU"
    compiled = ", ".join(k.upper() for k in backends) or "none"
    auto = info.get("auto", "cpu")
    detail = f"{listed} (backends in this build: {compiled}); --device auto picks {auto.upper()}"
    if auto == "cpu":
        detail += f" with {info.get('cpu_threads')} threads"
    nvidia = shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia").exists()
    if auto == "cpu" and nvidia:
        found.append(
            Finding(
                "cycles devices",
                "warn",
                detail + "; an NVIDIA driver is present but Cycles sees no GPU",
                "update the NVIDIA driver (Cycles 4.2 needs >= 470 for CUDA, >= 535 for OptiX) and check nvidia-smi",
            )
        )
    else:
        found.append(Finding("cycles devices", "ok", detail))
    return found


_EXR_CODE = (
    "import cv2, numpy as np, sys;"
    "a = np.arange(12, dtype=np.float32).reshape(3, 4) + 0.5;"
    "ok, buf = cv2.imencode('.exr', a);"
    "b = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None;"
    "sys.exit(0 if b is not None and np.array_equal(a, b) else 3)"
)


def check_opencv_exr() -> list[Finding]:
    version = _version("opencv-python-headless") or _version("opencv-python")
    code, _, err = _run_python(["-c", _EXR_CODE], timeout=60, env={"OPENCV_IO_ENABLE_OPENEXR": "1"})
    if code == 0:
        return [
            Finding(
                "opencv exr",
                "ok",
                f"OpenCV {version} writes and reads 32-bit float EXR (the instance pass)",
            )
        ]
    why = (err.strip().splitlines() or [f"exit {code}"])[-1][:200]
    return [
        Finding(
            "opencv exr",
            "fail",
            f"OpenCV {version} cannot round-trip EXR: {why}",
            "pip install -r requirements.lock (opencv-python-headless with OpenEXR)",
        )
    ]


def check_disk(out: Path) -> list[Finding]:
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("/"))
    free = shutil.disk_usage(probe).free / 2**30
    writable = os.access(probe, os.W_OK)
    detail = f"{free:.1f} GiB free at {probe.resolve()}"
    if not writable:
        return [
            Finding(
                "disk",
                "fail",
                detail + ", not writable",
                "render with --out in a folder you can write",
            )
        ]
    if free < MIN_FREE_GIB:
        return [
            Finding(
                "disk",
                "warn",
                detail,
                f"free space or choose another --out: a 512x512 image with depth takes ~0.6 MB, keep >= {MIN_FREE_GIB:g} GiB",
            )
        ]
    return [Finding("disk", "ok", detail)]


def check_machine() -> list[Finding]:
    mem = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                mem = int(line.split()[1]) / 2**20
    except OSError:
        pass
    cpus = os.cpu_count() or 1
    detail = f"{cpus} CPU cores, {mem:.1f} GiB memory available"
    if mem and mem < 4:
        return [
            Finding(
                "machine", "warn", detail, "each Blender worker needs ~1-3 GiB: use --workers 1"
            )
        ]
    return [Finding("machine", "ok", detail)]


def check_family_assets() -> list[Finding]:
    """Every registered family's one-time assets (render.families.base.Assets)."""
    from render.families import FAMILIES, assets_status

    found = []
    for fam in FAMILIES.values():
        if fam.assets is None:
            continue
        try:
            state = assets_status(fam)
        except Exception as exc:  # noqa: BLE001 - e.g. the package is missing: say so
            detail = " ".join(str(exc).split())[:200]
            found.append(Finding(fam.assets.name, "fail", f"cannot be checked: {detail}"))
            continue
        assert state is not None
        ready, where = state
        if ready:
            found.append(Finding(fam.assets.name, "ok", f"cached in {where} ({fam.name} family)"))
        else:
            found.append(
                Finding(
                    fam.assets.name,
                    "warn",
                    f"not built yet ({where}); the first {fam.name} render builds it "
                    f"({fam.assets.needs})",
                    "synthcv cache build  (or: make models)",
                )
            )
    return found


def check_extras() -> list[Finding]:
    found = []
    torch, tv = _version("torch"), _version("torchvision")
    if torch is None:
        found.append(
            Finding(
                "torch",
                "fail",
                "not installed (needed by the pedestrians family and training)",
                "pip install -r requirements.lock",
            )
        )
    else:
        code, out, _ = _run_python(
            ["-c", "import torch; print(torch.cuda.is_available())"], timeout=120
        )
        cuda = out.strip() == "True"
        found.append(
            Finding(
                "torch",
                "ok",
                f"torch {torch}, torchvision {tv}; CUDA {'available' if cuda else 'not available (CPU)'}",
            )
        )
    ray = _version("ray")
    found.append(
        Finding("ray", "ok", f"ray {ray} (synthcv render --ray)")
        if ray
        else Finding(
            "ray",
            "warn",
            "not installed: cluster rendering unavailable",
            "pip install 'synthcv[cluster]'",
        )
    )
    return found


CHECKS: tuple[Callable[[], list[Finding]], ...] = (
    check_python,
    check_machine,
    check_blender,
    check_opencv_exr,
    check_extras,
    check_family_assets,
)


def run_checks(out: Path) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            findings += check()
        except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding
            findings.append(
                Finding(
                    check.__name__.removeprefix("check_"), "fail", f"{type(exc).__name__}: {exc}"
                )
            )
    findings += check_disk(out)
    return findings


MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def format_findings(findings: list[Finding]) -> str:
    width = max(len(f.name) for f in findings)
    lines = []
    for f in findings:
        lines.append(f"{MARK[f.status]}  {f.name:<{width}}  {f.detail}")
        if f.fix:
            lines.append(f"      {'':<{width}}  fix: {f.fix}")
    fails = sum(f.status == "fail" for f in findings)
    warns = sum(f.status == "warn" for f in findings)
    lines.append(
        "ready to render" + (f" ({warns} warning(s))" if warns else "")
        if not fails
        else f"{fails} problem(s) stop rendering on this machine; fix them first"
    )
    return "\n".join(lines)


def to_json(findings: list[Finding]) -> str:
    return json.dumps([asdict(f) for f in findings], indent=2)
