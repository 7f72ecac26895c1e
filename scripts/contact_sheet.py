"""Contact sheet of a COCO dataset with mask, box and keypoint overlays.

Usage: python scripts/contact_sheet.py DIR --out sheet.png [-n 16] [--cols 4]
       [--size 256] [--only-categories a,b] [--no-masks]
Works on any COCO dataset (RLE or polygon masks, bbox-only, keypoints); the drawing
is :mod:`render.report.overlay` (also behind ``synthcv preview`` and the report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render.report.overlay import make_sheet  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Contact sheet of a COCO dataset with overlays.")
    p.add_argument("dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--cols", type=int, default=4)
    p.add_argument("--size", type=int, default=256, help="tile width in pixels (aspect kept)")
    p.add_argument("--only-categories", default=None, help="comma-separated category names")
    p.add_argument("--no-masks", action="store_true")
    args = p.parse_args(argv)
    only = set(args.only_categories.split(",")) if args.only_categories else None
    sheet = make_sheet(args.dir, args.n, args.cols, args.size, only, not args.no_masks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
