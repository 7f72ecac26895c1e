"""augment.allocator: freed image-sized buffers are reused instead of re-faulted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Fill a fresh 20 MB buffer twice (freeing it in between) and count the minor page
# faults of each fill. Run in a child: the settings are process-wide. The child turns
# transparent huge pages off for itself (prctl PR_SET_THP_DISABLE): where the kernel
# maps a fresh 20 MB buffer in huge pages (CI's machine: 12 faults, not ~5,000), the
# counts would no longer tell reuse from re-faulting.
CHILD = """
import ctypes, resource, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(41, 1, 0, 0, 0) != 0:  # PR_SET_THP_DISABLE
    raise SystemExit("prctl(PR_SET_THP_DISABLE) failed")
import numpy as np
from augment.allocator import tune_allocator
tuned = tune_allocator() if sys.argv[1] == "tuned" else None
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.empty(20 << 20, np.uint8)
    a.fill(1)
    del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(tuned, faults(), faults())
"""


def _run(mode: str) -> tuple[str, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1]), int(out[2])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_tuned_allocator_reuses_freed_buffers() -> None:
    tuned, first, second = _run("tuned")
    if tuned == "False":
        pytest.skip("no glibc mallopt here")
    assert tuned == "True"
    _, default_first, default_second = _run("default")
    assert first > 100 and default_first > 100  # a fresh buffer faults its pages in
    # glibc's default returns the freed mmap'd buffer and faults it in again once;
    # tuned, the second buffer reuses the first's pages
    assert default_second > 100
    assert second < default_second / 10
