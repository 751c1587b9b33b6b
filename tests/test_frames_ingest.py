"""The page door of the monitor's web server: `POST /api/frames` and `GET /api/settings` (surface/web_ingest.py)."""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, field

import aiohttp
import pytest

from tests.prometheus_tools import StubView
from wfdoctor.app.frames import frame_samples
from wfdoctor.app.monitor_ui import UiWatch
from wfdoctor.app.reports.dashboard import UiSettings
from wfdoctor.config.facts import load_facts
from wfdoctor.model import FrameReport
from wfdoctor.surface.web import start_web
from wfdoctor.surface.web_ingest import MAX_FRAMES_BODY

REPORT = {"v": 1, "page": "chat", "session": "a1b2c3d4e5f6", "interval_s": 2.0, "frames": 120,
          "frame_ms": {"mean": 16.7, "p50": 16.6, "p95": 17.1, "p99": 18.0, "max": 25.0, "jitter": 0.8},
          "fps": 59.9, "over_budget": 0.01, "long_tasks": {"count": 0, "ms": 0.0},
          "loaf": {"supported": True, "count": 1, "ms": 60.0, "script_ms": 45.0, "style_layout_ms": 10.0,
                   "forced_layout_ms": 30.1,
                   "scripts": [{"source": "http://127.0.0.1:9000/busy.js", "invoker": "FrameRequestCallback",
                                "ms": 40.2, "forced_layout_ms": 30.1}]},
          "dom_nodes": 1234, "heap_bytes": 12345678, "grade": "EXCELLENT"}


@dataclass
class FrameView(StubView):
    """A view whose page door is the monitor's own: UiWatch's budget, then the samples accepted."""

    ui: UiWatch = field(default_factory=lambda: UiWatch(load_facts()))
    reports: list[FrameReport] = field(default_factory=list)

    def accept_frames(self, report: FrameReport) -> None:
        self.ui.admit(report.page, report.session)
        self.accept(frame_samples(report))
        self.reports.append(report)

    def ui_settings(self) -> UiSettings:
        return self.ui.settings()


Answer = tuple[int, dict[str, str], str]


def exchange(view: StubView, *requests: tuple[str, str, bytes, dict[str, str]]) -> list[Answer]:
    """Start the server on a free loopback port, send each (method, path, body, headers) in turn, always close."""
    async def main() -> list[Answer]:
        server = await start_web(view, "127.0.0.1", 0, None)
        try:
            answers = []
            async with aiohttp.ClientSession() as session:
                for method, path, body, headers in requests:
                    async with session.request(method, server.url + path, data=body, headers=headers) as response:
                        answers.append((response.status, dict(response.headers), await response.text()))
            return answers
        finally:
            await server.close()
    return asyncio.run(main())


def post(body: object, content_type: str = "text/plain") -> tuple[str, str, bytes, dict[str, str]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return "POST", "/api/frames", data, {"Content-Type": content_type}


def changed(path: str, value: object) -> dict[str, object]:
    """REPORT with one field (dotted path; an int part indexes a list) set to `value`."""
    report = copy.deepcopy(REPORT)
    *parents, last = path.split(".")
    node: object = report
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
    node[last] = value  # type: ignore[index]
    return report


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/json"])
def test_a_valid_report_is_accepted_as_samples_in_seconds(content_type: str) -> None:
    view = FrameView()
    [(status, headers, text)] = exchange(view, post(REPORT, content_type))
    [batch] = view.accepted
    assert (status, json.loads(text)) == (202, {"accepted": len(batch)})
    assert headers["Access-Control-Allow-Origin"] == "*"
    [report] = view.reports
    assert (report.page, report.session, report.grade) == ("chat", "a1b2c3d4e5f6", "EXCELLENT")
    assert report.frame_p95_s == pytest.approx(0.0171)
    [script] = report.scripts
    assert script.source == "http://127.0.0.1:9000/busy.js"
    assert (script.duration_s, script.forced_layout_s) == pytest.approx((0.0402, 0.0301))
    by_metric = {(s.metric, s.labels.get("stat", "")): s for s in batch}
    assert by_metric[("wf_ui_frame_time_seconds", "mean")].value == pytest.approx(0.0167)
    assert by_metric[("wf_ui_js_heap_bytes", "")].value == 12345678


def test_null_dom_nodes_and_heap_are_accepted_and_stored_as_nothing() -> None:
    view = FrameView()
    [(status, _, _)] = exchange(view, post({**REPORT, "dom_nodes": None, "heap_bytes": None}))
    assert status == 202
    assert not {"wf_ui_dom_nodes", "wf_ui_js_heap_bytes"} & {s.metric for s in view.accepted[0]}


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "body: Invalid JSON"),
    (changed("v", 2), "body.v: Input should be 1"),
    (changed("page", ""), "body.page: String should have at least 1 character"),
    (changed("page", "p" * 201), "body.page: String should have at most 200 characters"),
    (changed("session", "a b"), "body.session: String should match pattern"),
    (changed("session", "s" * 65), "body.session: String should match pattern"),
    (changed("interval_s", 0), "body.interval_s: Input should be greater than 0"),
    (changed("interval_s", 301), "body.interval_s: Input should be less than or equal to 300"),
    (changed("frames", 100_001), "body.frames: Input should be less than or equal to 100000"),
    (changed("frames", 1.5), "body.frames: Input should be a valid integer"),
    (changed("frame_ms.p95", -1), "body.frame_ms.p95: Input should be greater than or equal to 0"),
    (changed("fps", "60"), "body.fps: Input should be a valid number"),
    (changed("over_budget", 1.5), "body.over_budget: Input should be less than or equal to 1"),
    (changed("long_tasks.count", -1), "body.long_tasks.count: Input should be greater than or equal to 0"),
    (changed("loaf.scripts", [REPORT["loaf"]["scripts"][0]] * 11),  # type: ignore[index]
     "body.loaf.scripts: List should have at most 10 items"),
    (changed("loaf.scripts.0.source", "u" * 301), "body.loaf.scripts[0].source: String should have at most 300"),
    (changed("loaf.scripts.0.invoker", "i" * 301), "body.loaf.scripts[0].invoker: String should have at most 300"),
    (changed("dom_nodes", -5), "body.dom_nodes: Input should be greater than or equal to 0"),
    (changed("grade", "<b>PERFECT</b>"), "body.grade: Input should be"),
    ({**REPORT, "extra": 1}, "body.extra: Extra inputs are not permitted"),
    *[(json.dumps(REPORT).replace("16.7", literal).encode(), "body.frame_ms.mean: Input should be a finite number")
      for literal in ("NaN", "Infinity", "-Infinity", "1e999")],
])
def test_a_report_out_of_bounds_is_400_with_one_line_naming_the_field(body: object, reason: str) -> None:
    view = FrameView()
    [(status, headers, text)] = exchange(view, post(body))
    error = json.loads(text)["error"]
    assert status == 400 and error.startswith(reason) and "\n" not in error, error
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert view.accepted == []


def test_a_body_past_64_kib_is_413_before_it_is_parsed() -> None:
    view = FrameView()
    padded = json.dumps(REPORT)[:-1].encode() + b', "pad": "' + b"x" * MAX_FRAMES_BODY + b'"}'
    [(status, _, text)] = exchange(view, post(padded))
    assert status == 413 and "over 65536 bytes" in json.loads(text)["error"]
    assert view.accepted == []


def test_another_content_type_is_refused() -> None:
    [(status, _, text)] = exchange(FrameView(), post(REPORT, "application/x-www-form-urlencoded"))
    assert status == 415 and "Content-Type" in json.loads(text)["error"]


def test_past_the_budget_per_page_and_session_a_report_is_429_with_retry_after() -> None:
    view = FrameView()
    budget = load_facts().limits.ui.reports_per_page_per_minute
    other_tab = {**REPORT, "session": "another-tab"}
    answers = exchange(view, *[post(REPORT)] * (budget + 1), post(other_tab))
    assert [status for status, _, _ in answers[:budget]] == [202] * budget
    status, headers, text = answers[budget]
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60
    assert "reports per minute" in json.loads(text)["error"]
    assert answers[-1][0] == 202   # another tab of the page has its own budget
    assert len(view.accepted) == budget + 1


def test_cors_preflight_is_answered_for_the_page_routes() -> None:
    for path in ("/api/frames", "/api/settings"):
        [(status, headers, _)] = exchange(FrameView(), ("OPTIONS", path, b"", {
            "Origin": "http://127.0.0.1:9000", "Access-Control-Request-Method": "POST"}))
        assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in headers["Access-Control-Allow-Methods"]


def test_settings_are_the_monitors_ui_settings_as_json() -> None:
    [(status, headers, text)] = exchange(FrameView(), ("GET", "/api/settings", b"", {}))
    settings = json.loads(text)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    assert settings["quality"] == 1.0 and settings["frame_budget_s"] == pytest.approx(0.01667)
    assert set(settings) == {"quality", "reason", "frame_budget_s", "updated_at"}
