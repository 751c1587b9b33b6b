"""Open a report in Debian's Chromium from its file: every request it makes, its images' sizes, a screenshot.

Shared by tests/test_report_browser.py and scripts/report_screenshot.py (the README's picture), so the
picture is taken the way the test checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser

VIEWPORT = {"width": 1200, "height": 900}
IMAGES = "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight, " \
         "i.getBoundingClientRect().width, i.getBoundingClientRect().height])"


@dataclass(frozen=True)
class OpenedReport:
    requests: list[str]          # every URL the page asked for, its own file first
    images: list[tuple[str, bool, int, int, float, float]]   # alt, complete, natural w/h, shown w/h
    title: str
    text: str
    screenshot: bytes


def open_report(browser: Browser, html: Path) -> OpenedReport:
    """Load `html` from file:// and wait until it is idle; record each request, the images, a full-page shot."""
    page = browser.new_page(viewport=VIEWPORT)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.wait_for_load_state("networkidle")
        images = [tuple(item) for item in page.evaluate(IMAGES)]
        return OpenedReport(requests, images, page.title(), page.inner_text("body"),  # type: ignore[arg-type]
                            page.screenshot(full_page=True))
    finally:
        page.close()
