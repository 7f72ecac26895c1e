"""Hashes of what a render wrote that must not change when code is only moved:
images, depth, scenes and annotations.json (not dataset.json or the shards, which
hold timings and dates). Used to show that a refactoring changes no output:

    python scripts/output_hashes.py DIR_BEFORE DIR_AFTER   # exit 1 if they differ
    python scripts/output_hashes.py DIR                    # print the hashes as JSON
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

FOLDERS = ("images", "depth", "scenes")


def hashes(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every compared file under ``root``."""
    files = [root / "annotations.json"]
    for folder in FOLDERS:
        if (root / folder).is_dir():
            files += sorted((root / folder).iterdir())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 1:
        print(json.dumps(hashes(Path(args[0])), indent=1))
        return 0
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = hashes(Path(args[0])), hashes(Path(args[1]))
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    print(json.dumps({"files": len(a), "differ": differ}))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
