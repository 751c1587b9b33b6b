"""Real-browser test tools: Debian's Chromium driven by Playwright, a static server for test pages, a collector.

The browser is the distribution's own `chromium` (scripts/install.sh installs it with --dev); Playwright
only drives it: `playwright install` is never run and no browser is downloaded. Playwright gives every
launch a fresh temporary profile (user-data-dir) and removes it at close, so no state leaks between runs.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:    # conftest imports this module where playwright may be missing: the fixture skips then
    from playwright.sync_api import Browser, Playwright

PAGES = Path(__file__).parent / "fixtures" / "pages"
WEB_ASSETS = Path(__file__).resolve().parent.parent / "src" / "wfdoctor" / "data" / "web"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """The system's Chromium binary, or None where it is not installed."""
    return shutil.which("chromium")


def launch_chromium(playwright: Playwright, executable: str) -> Browser:
    """Headless Chromium with the flags that keep it quiet: no network of its own, no GPU, no first-run."""
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)


class _PageHandler(SimpleHTTPRequestHandler):
    """Test pages from tests/fixtures/pages; the package's web assets under /static/ (as the monitor serves them)."""

    def translate_path(self, path: str) -> str:
        route = urlsplit(path).path
        root, relative = (WEB_ASSETS, route.removeprefix("/static/")) if route.startswith("/static/") \
            else (PAGES, route.lstrip("/"))
        target = (root / relative).resolve()
        return str(target if target.is_relative_to(root) else root / "missing")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""


@contextmanager
def _serving(handler: Any) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port for the block: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def static_pages() -> Iterator[str]:
    """Serve the test pages and /static/ web assets: the base URL."""
    with _serving(partial(_PageHandler, directory=str(PAGES))) as url:
        yield url


def page_url(base: str, name: str, endpoint: str | None, *, page: str | None = None, interval_ms: int = 2000,
             **query: Any) -> str:
    """URL of test page `name` (smooth, busy, layout, leak, idle) reporting to `endpoint` (e.g. a monitor's
    /api/frames) as `page` (default: the name) every `interval_ms`; `query` adds token=, work=, n=, monitor=0."""
    params = {"interval": interval_ms, "page": page or name, **query}
    if endpoint:
        params["endpoint"] = endpoint
    return f"{base}/{name}.html?{urlencode(params)}"


@dataclass(frozen=True)
class Received:
    """One request the collector saw: how it came (fetch or beacon show the same) and its JSON body."""

    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any


@dataclass
class Collector:
    """Records every POST body sent to it; answers 202 with CORS headers as the monitor's /api/frames does."""

    url: str
    received: list[Received] = field(default_factory=list)
    preflights: int = 0          # CORS OPTIONS requests: a text/plain POST is "simple" and needs none
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[Any]:
        with self.lock:
            return [item.body for item in self.received]

    def record(self, item: Received) -> None:
        with self.lock:
            self.received.append(item)


def _collector_handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:
            with collector.lock:
                collector.preflights += 1
            self._answer(204)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            split = urlsplit(self.path)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            collector.record(Received(split.path, parse_qs(split.query), self.headers.get("Content-Type", ""), body))
            self._answer(202)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@contextmanager
def collecting() -> Iterator[Collector]:
    """A collector on a free loopback port for the block (its endpoint: `collector.url + "/api/frames"`)."""
    collector = Collector(url="")
    with _serving(_collector_handler(collector)) as url:
        collector.url = url
        yield collector
