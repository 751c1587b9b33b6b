"""The dashboard in a real Chromium, served by a real `wfdoctor monitor`: it loads without console errors, its
charts move with the monitor's ticks, and names pushed into the monitor (a page, a server URL, an alert label)
that carry markup render as text, with no element made from them and no script run.

Chromium is Debian's, driven by Playwright (never downloaded: tests/browser_tools.py); the tests skip where
either is missing.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wfdoctor.testing.monitor_process import running_monitor

pytestmark = pytest.mark.slow   # a real monitor process and a browser (the `browser` fixture, tests/conftest.py)
HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=1\">"


@pytest.fixture
def monitor(tmp_path: Path) -> Iterator[str]:
    """`wfdoctor monitor` at 5 ticks a second on a free port, no canary, its own database: the base URL."""
    with running_monitor(tmp_path / "wfdoctor.db", 0.2) as url:
        yield url


def push(url: str, samples: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(url + "/api/samples", data=json.dumps(samples).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202


def console_errors(page: Any) -> list[str]:
    """Errors the page logs or throws (a failed load names its URL)."""
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_the_dashboard_loads_its_charts_follow_the_monitor_and_it_reports_its_own_frames(browser: Any, monitor: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = console_errors(page)
    page.goto(monitor + "/")
    page.wait_for_function("() => window.wfDashboard && window.wfDashboard.drawn('cpu') && "
                           "window.wfDashboard.drawn('memory')", timeout=30_000)
    first = page.evaluate("() => window.wfDashboard.drawn('cpu')")
    page.wait_for_function(f"() => window.wfDashboard.drawn('cpu').lastX > {first['lastX']}", timeout=30_000)
    assert page.locator('.card[data-chart="cpu"] canvas').count() == 1
    assert page.locator("#status").inner_text() == "live"
    page.wait_for_function("() => document.querySelectorAll('#runs li:not(.none)').length > 0", timeout=30_000)
    assert "monitor" in page.locator("#runs").inner_text()
    assert page.locator('.card[data-chart="gpu"]').inner_text().strip().endswith("no GPU") or \
        page.evaluate("() => window.wfDashboard.drawn('gpu')") is not None
    # the page reports its own frames (wf-perf-monitor.js every 2 s) and the monitor draws them back
    page.wait_for_function("() => (window.wfDashboard.drawn('frames') || {series: []}).series"
                           ".includes('wfdoctor-dashboard')", timeout=30_000)
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    # (the README's picture, with a real server's lines, is scripts/dashboard_screenshot.py's)
    assert errors == []


def test_markup_in_pushed_names_and_alert_labels_renders_as_text(browser: Any, monitor: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = console_errors(page)
    page.goto(monitor + "/")
    page.wait_for_function("() => window.wfDashboard && window.wfDashboard.drawn('cpu')", timeout=30_000)
    now = time.time()
    push(monitor, [  # a slow page (raises the UiFrames alerts, labelled with it) and a server's decode rate
        {"metric": "wf_ui_frame_time_seconds", "value": 0.5, "unit": "s", "ts": now,
         "labels": {"page": HOSTILE, "stat": "mean"}},
        {"metric": "wf_llm_decode_tokens_per_second", "value": 42.0, "unit": "tokens/s", "ts": now,
         "labels": {"url": HOSTILE, "stat": "p50", "concurrency": "1"}},
    ])
    page.wait_for_function("() => window.wfDashboard.drawn('frames') && window.wfDashboard.drawn('tokens')",
                           timeout=30_000)
    page.wait_for_function("() => document.getElementById('alerts').textContent.includes('UiFrames')",
                           timeout=30_000)
    assert HOSTILE in page.locator('.card[data-chart="frames"]').inner_text()
    assert HOSTILE in page.locator('.card[data-chart="tokens"]').inner_text()
    assert HOSTILE in page.locator("#alerts").inner_text()
    assert page.evaluate("() => document.querySelectorAll('main img, main script').length") == 0
    assert page.evaluate("() => window.__pwned") is None
    assert errors == []


def test_with_a_token_the_page_passes_the_one_in_its_address_to_its_feed(browser: Any, tmp_path: Path) -> None:
    with running_monitor(tmp_path / "wfdoctor.db", 0.2, token="s3cret") as url:
        page = browser.new_page()
        errors = console_errors(page)
        page.goto(url + "/?token=s3cret")
        page.wait_for_function("() => window.wfDashboard && window.wfDashboard.drawn('cpu')", timeout=30_000)
        assert page.locator("#status").inner_text() == "live"
        assert errors == []


def test_a_model_name_with_markup_from_a_users_tokens_run_renders_as_text(browser: Any, monitor: str,
                                                                          tmp_path: Path) -> None:
    """Model names come from the server (its /v1/models, /api/tags): untrusted, like every name drawn."""
    from tests.test_monitor_run_charts import record

    record(tmp_path / "wfdoctor.db", [(40.0, 0.2)], settings={"backend": "http://127.0.0.1:8080", "model": HOSTILE})
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = console_errors(page)
    page.goto(monitor + "/")
    page.wait_for_function("() => (window.wfDashboard.drawn('tokens') || {series: []}).series.length > 0",
                           timeout=30_000)   # the runs are re-read every 10 s
    assert HOSTILE in page.locator('.card[data-chart="tokens"]').inner_text()
    assert page.evaluate("() => document.querySelectorAll('main img, main script').length") == 0
    assert page.evaluate("() => window.__pwned") is None
    assert errors == []
