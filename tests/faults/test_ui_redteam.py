"""Issue 12's doors attacked as a hostile web page, a hostile local process and a careless user would: each
case is an attack that once worked (or nearly), and the answer it gets now."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.test_dashboard_api import DashView
from tests.test_frames_ingest import REPORT, FrameView, exchange, post

EVIL = "http://evil.example"
PUSH = json.dumps([{"metric": "wf_llm_time_to_first_token_seconds", "value": 99.0, "unit": "s"}]).encode()


@dataclass
class View(FrameView, DashView):
    """The page door of the monitor (FrameView) and the dashboard's answers (DashView) in one view."""


def one_line_error(text: str) -> str:
    reason = json.loads(text)["error"]
    assert "\n" not in reason and "Traceback" not in reason
    return str(reason)


@pytest.mark.parametrize("headers", [{"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "http://127.0.0.1:9000", "Sec-Fetch-Site": "same-site"}])
def test_a_page_of_another_site_cannot_push_samples_through_the_users_browser(headers: dict[str, str]) -> None:
    # A text/plain POST is a CORS simple request: the browser sends it without asking; the monitor must refuse.
    view = View()
    [(status, _, text)] = exchange(view, ("POST", "/api/samples", PUSH, {"Content-Type": "text/plain", **headers}))
    assert status == 403 and "/api/samples" in one_line_error(text)
    assert view.accepted == []


@pytest.mark.parametrize("path", ["/api/overview", "/api/stream", "/metrics", "/api/alerts", "/api/actions"])
def test_a_page_of_another_site_cannot_open_the_machines_data(path: str) -> None:
    [(status, headers, text)] = exchange(View(), ("GET", path, b"", {"Sec-Fetch-Site": "cross-site"}))
    assert status == 403 and one_line_error(text)
    assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("host", ["evil.example:8471", "evil.example", "127.0.0.1.evil.example", "[zz", ""])
def test_a_rebound_name_cannot_read_the_machines_data(host: str) -> None:
    # DNS rebinding: evil.example now resolves to 127.0.0.1, and the page reads it as its own origin.
    [(status, _, text)] = exchange(View(), ("GET", "/metrics", b"", {"Host": host}))
    assert status == 403 and one_line_error(text)


def test_the_monitors_own_pages_and_other_pages_frames_still_pass() -> None:
    view = View()
    own = {"Sec-Fetch-Site": "same-origin"}
    answers = exchange(view, ("GET", "/api/overview", b"", {}), ("GET", "/metrics", b"", own),
                       ("POST", "/api/samples", PUSH, {"Content-Type": "application/json"}),
                       ("GET", "/", b"", {"Sec-Fetch-Site": "cross-site"}),
                       ("GET", "/static/wf-perf-monitor.js", b"", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}),
                       ("GET", "/api/settings", b"", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}),
                       post(REPORT) [:3] + ({"Content-Type": "text/plain", "Origin": EVIL,
                                             "Sec-Fetch-Site": "cross-site"},),
                       ("GET", "/metrics", b"", {"Host": "localhost:1"}))
    assert [status for status, _, _ in answers] == [200, 200, 202, 200, 200, 200, 202, 200]
