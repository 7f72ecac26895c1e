"""Run ``synthcv`` as users do: a child process, this checkout first on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def synthcv(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m render.cli ARGS`` in the repository root; output captured as text;
    ``env``: variables added to this process's environment."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "render.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {}), "PYTHONPATH": path},
        timeout=timeout,
        **kw,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The one ``synthcv: error:`` line of a command that failed as a user error
    should (exit 2, no traceback), checked to contain each of ``needles``."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("synthcv: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
