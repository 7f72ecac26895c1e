"""Fuzz validate and augment with malformed datasets and pipelines (tests/fuzz_hostile.py).

The normal suite runs a few seconds of cases from a fixed seed. The long mode:
``SYNTHCV_FUZZ_CASES=2000 SYNTHCV_FUZZ_SECONDS=1800 SYNTHCV_FUZZ_SEED=7 pytest tests/test_fuzz.py``
(``SYNTHCV_FUZZ_SEED=random`` draws one and prints it). A failure names the seed
and case: ``python tests/fuzz_hostile.py --seed S --cases N`` replays them.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_MB = 4096
"""RLIMIT_DATA of the fuzzing process and its workers (imports alone take ~1 GB)."""


def _limit_memory() -> None:
    limit = MEMORY_MB << 20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def test_fuzz_validate_and_augment() -> None:
    cases = int(os.environ.get("SYNTHCV_FUZZ_CASES", "400"))
    seconds = float(os.environ.get("SYNTHCV_FUZZ_SECONDS", "6"))
    seed_text = os.environ.get("SYNTHCV_FUZZ_SEED", "0")
    seed = secrets.randbelow(2**31) if seed_text == "random" else int(seed_text)
    print(f"fuzz seed {seed}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, str(ROOT / "tests" / "fuzz_hostile.py"), "--seed", str(seed),
           "--cases", str(cases), "--seconds", str(seconds), "--case-seconds", "60"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=seconds + 300, preexec_fn=_limit_memory)  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-2000:]
    summary = json.loads(lines[-1])
    assert summary["cases"] > 0
    assert summary["failures"] == [], json.dumps(summary["failures"][:5], indent=1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summary["peak_rss_mib"] < MEMORY_MB
