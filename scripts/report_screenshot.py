"""Write a dataset's report and screenshot it in headless Chromium (as the report
test does), for docs/images/report.png.

Usage: python scripts/report_screenshot.py DIR --out report.png [--height PX]
Prints JSON: the report's path and size, what the browser saw, the screenshot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from render.report import build_report  # noqa: E402
from tests.browser import open_page  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--out", type=Path, required=True, help="screenshot PNG")
    p.add_argument("--height", type=int, default=0, help="crop the full-page shot to PX (0: all)")
    args = p.parse_args(argv)
    result = build_report(args.dir)
    check = open_page(result.path, args.out)
    if args.height:
        img = Image.open(args.out)
        img.crop((0, 0, img.width, min(img.height, args.height))).save(args.out, optimize=True)
    print(
        json.dumps(
            {
                "report": str(result.path),
                "report_mib": round(result.bytes / 2**20, 2),
                "images_in_page": check.images,
                "broken_images": check.broken_images,
                "console_errors": check.console_errors,
                "page_errors": check.page_errors,
                "external_requests": check.external_requests,
                "page_height_px": check.height,
                "screenshot": str(args.out),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
