"""Open an HTML file in headless Chromium (Debian's ``chromium`` package, driven by
Playwright) and report what a user's browser would see: console errors, page
errors, images that did not load, requests that left the page, a screenshot.

Used by the report test and by ``scripts/report_screenshot.py``. The browser is
the system one (``make test`` installs it when absent); Playwright never
downloads its own.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str | None:
    """The system Chromium, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    title: str = ""
    height: int = 0
    probed: object = None


def open_page(
    html: Path, screenshot: Path | None = None, width: int = 1400, probe: str | None = None
) -> PageCheck:
    """Load ``html`` in a fresh profile; screenshot the full page to ``screenshot``;
    ``probe``: a JavaScript expression evaluated in the page (its JSON value in
    ``PageCheck.probed``), e.g. to measure elements where the browser laid them out."""
    from playwright.sync_api import sync_playwright

    exe = chromium()
    if exe is None:
        raise RuntimeError("no chromium on PATH: apt-get install chromium (make test does)")
    check = PageCheck()
    url = html.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="synthcv-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=exe,
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": 900},
        )
        try:
            page = ctx.new_page()
            page.on(
                "console",
                lambda m: check.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: check.page_errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith(("data:", url))
                    else check.external_requests.append(r.url)
                ),
            )
            page.goto(url, wait_until="load")
            check.title = page.title()
            states = page.eval_on_selector_all(
                "img",
                "imgs => imgs.map(i => [i.complete && i.naturalWidth > 0, i.alt])",
            )
            check.images = len(states)
            check.broken_images = [alt for ok, alt in states if not ok]
            check.height = int(page.evaluate("document.body.scrollHeight"))
            if probe is not None:
                check.probed = page.evaluate(probe)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            ctx.close()
    return check
