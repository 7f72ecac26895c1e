"""Close-up sheet of a defects dataset: crops around defects and nuisances, enlarged.

Usage: python scripts/closeup_sheet.py DIR [DIR2 ...] --out closeups.png [--rows scratch,dent,...]
       [--per-row 4] [--zoom 4] [--crop 48]
Each row is one category; each example is shown twice, as rendered (nearest-
neighbour enlargement: real pixels) and with its mask. Works on any COCO dataset
whose annotations carry category names (and, optionally, ``attributes.variant``);
the drawing is :func:`render.report.overlay.make_closeups`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render.report.overlay import make_closeups  # noqa: E402

ROWS = "scratch,dent,crack,stain,chip,dust,fibre,fingerprint,droplet,print,logo,glint,tool_mark"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Close-ups of defects and nuisances, enlarged.")
    p.add_argument(
        "dir",
        type=Path,
        nargs="+",
        help="dataset(s); a row takes its examples from the first ones first",
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--rows", default=ROWS, help="comma-separated category names, one row each")
    p.add_argument("--per-row", type=int, default=4)
    p.add_argument("--zoom", type=int, default=4)
    p.add_argument("--crop", type=int, default=48, help="crop side in image pixels")
    args = p.parse_args(argv)
    sheet = make_closeups(args.dir, args.rows.split(","), args.per_row, args.zoom, args.crop)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
