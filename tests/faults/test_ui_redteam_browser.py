"""Issue 12's browser side attacked in real Chromium: wf-perf-monitor.js in a page that breaks the platform under
it, markup in what pages report shown as text by the dashboard, and the script imported from another origin.

(The `browser` fixture is per module and holds an event loop: tests that call asyncio.run live in
test_ui_redteam.py.)"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser_tools import page_url
from tests.test_frames_ingest import REPORT
from wfdoctor.testing.monitor_process import running_monitor

pytestmark = pytest.mark.slow   # a browser, and some a real monitor process

HOSTILE_PLATFORM = {
    "rAF throws": "window.requestAnimationFrame = () => { throw new Error('hostile'); };",
    "rAF throws after a few frames": "{ let n = 0; const raf = requestAnimationFrame.bind(window); "
                                     "window.requestAnimationFrame = (cb) => { "
                                     "if (++n > 3) throw new Error('hostile'); return raf(cb); }; }",
    "PerformanceObserver throws": "window.PerformanceObserver = class { constructor() { throw new Error('hostile'); } "
                                  "static get supportedEntryTypes() { throw new Error('hostile'); } };",
    "fetch and sendBeacon throw": "window.fetch = () => { throw new Error('hostile'); }; "
                                  "navigator.sendBeacon = () => { throw new Error('hostile'); };",
    "fetch answers no promise": "window.fetch = () => undefined;",
    "prototypes frozen": "Object.freeze(Array.prototype); Object.freeze(Object.prototype); "
                         "Object.freeze(Map.prototype); Object.freeze(Float64Array.prototype);",
    "performance.memory throws": "Object.defineProperty(performance, 'memory', "
                                 "{ get() { throw new Error('hostile'); } });",
    "no performance.memory": "Object.defineProperty(performance, 'memory', { value: undefined });",
    "listeners throw": "document.addEventListener = window.addEventListener = () => { throw new Error('hostile'); };",
    "timers throw": "window.setInterval = () => { throw new Error('hostile'); };",
    "crypto throws": "Object.defineProperty(window, 'crypto', { get() { throw new Error('hostile'); } });",
    "a page name whose toString throws": "window.hostilePage = { toString() { throw new Error('hostile'); } };",
    "options of null": "window.hostileOptions = null;",
}


@pytest.mark.parametrize("hostile", list(HOSTILE_PLATFORM.values()), ids=list(HOSTILE_PLATFORM))
def test_the_perf_monitor_never_throws_into_a_hostile_page(browser: Any, web_pages: str, hostile: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(page_url(web_pages, "idle", None, monitor="0"))
        thrown = page.evaluate("""async ([hostile, endpoint]) => {
          const { startPerfMonitor } = await import('/static/wf-perf-monitor.js');
          (0, eval)(hostile);
          const options = 'hostileOptions' in window ? window.hostileOptions
            : { endpoint, page: window.hostilePage || 'hostile', intervalMs: 200 };
          const thrown = [];
          const monitors = [];
          for (let i = 0; i < 2; i++) {   // two monitors in one page
            try { monitors.push(startPerfMonitor(options)); } catch (e) { thrown.push('start: ' + e); }
          }
          await new Promise((resolve) => setTimeout(resolve, 600));
          for (const monitor of monitors) {
            for (const call of ['snapshot', 'flush', 'stop', 'stop', 'flush', 'snapshot']) {
              try { monitor[call](); } catch (e) { thrown.push(call + ': ' + e); }
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 300));
          return thrown;
        }""", [hostile, "http://127.0.0.1:9/api/frames"])
        assert thrown == [] and errors == []
    finally:
        context.close()


MARKUP = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=1\">"


def post_frames(url: str, report: dict[str, Any]) -> None:
    request = urllib.request.Request(url + "/api/frames", data=json.dumps(report).encode(), method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def test_markup_in_a_reporting_pages_name_and_scripts_shows_as_text_in_the_dashboards_findings(
        browser: Any, tmp_path: Path) -> None:
    busy = {**REPORT, "page": MARKUP, "interval_s": 7.2, "frame_ms": {**REPORT["frame_ms"], "mean": 60.0, "p95": 70.0},
            "fps": 16.7, "over_budget": 1.0, "long_tasks": {"count": 100, "ms": 6000.0},
            "loaf": {"supported": True, "count": 100, "ms": 6000.0, "script_ms": 5500.0, "style_layout_ms": 100.0,
                     "forced_layout_ms": 0.0, "scripts": [{"source": MARKUP, "invoker": MARKUP, "ms": 5000.0,
                                                            "forced_layout_ms": 0.0}]}}
    with running_monitor(tmp_path / "wfdoctor.db", 0.2) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/")
        page.wait_for_function("() => window.wfDashboard && window.wfDashboard.drawn('cpu')", timeout=30_000)
        for _ in range(3):
            post_frames(url, busy)
        page.wait_for_function("() => document.getElementById('findings').textContent.includes('UI_PAGE_SCRIPT')",
                               timeout=40_000)   # the live verdict runs every 10 s
        findings = page.locator("#findings").inner_text()
        assert MARKUP in findings
        assert MARKUP in page.locator('.card[data-chart="frames"]').inner_text()
        assert page.evaluate("() => document.querySelectorAll('main img, main script').length") == 0
        assert page.evaluate("() => window.__pwned") is None
        assert errors == []


def test_a_page_of_another_origin_imports_the_perf_monitor_from_the_monitor(browser: Any, web_pages: str,
                                                                           tmp_path: Path) -> None:
    # the documented use: `import { startPerfMonitor } from "http://127.0.0.1:PORT/static/wf-perf-monitor.js"`
    # from WIRTHFORGE's own server; a module script of another origin loads only with CORS
    with running_monitor(tmp_path / "wfdoctor.db", 0.2) as url:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(page_url(web_pages, "idle", None, monitor="0"))
            started = page.evaluate("""async (url) => {
              const { startPerfMonitor } = await import(url + '/static/wf-perf-monitor.js');
              const monitor = startPerfMonitor({ endpoint: url + '/api/frames', page: 'elsewhere', intervalMs: 200 });
              await new Promise((resolve) => setTimeout(resolve, 600));
              monitor.stop();
              return typeof monitor.snapshot;
            }""", url)
        finally:
            context.close()
        assert started == "function"
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
            assert 'page="elsewhere"' in response.read().decode()   # its reports arrived
