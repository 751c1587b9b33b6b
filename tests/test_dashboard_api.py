"""The dashboard's HTTP side: the page and its static files (a whitelist, nothing else from disk), the overview
JSON, the live SSE feed from a running monitor, its client bound, its end on shutdown, and the token by query.
The chart buffer behind the feed is specified here too: bounded, and each point sent to a client once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest

from tests.prometheus_tools import StubView
from wfdoctor.app.monitor import Monitor, MonitorOptions
from wfdoctor.app.monitor_charts import LINES_PER_CHART, POINTS_PER_LINE, ChartBuffer
from wfdoctor.app.reports.dashboard import ChartSeries, RunLine, UiSettings
from wfdoctor.model import Alert, AlertState, Finding, Priority, Sample
from wfdoctor.surface.web import SHUTDOWN_S, start_web
from wfdoctor.surface.web_dashboard import MAX_STREAMS, static_files

T = TypeVar("T")
HOSTILE = "<script>alert(1)</script><img src=x onerror=window.__pwned=1>"


@dataclass
class DashView(StubView):
    """StubView answering the dashboard's questions from lists; `next_tick` waits for `tick()`."""

    recent: list[Alert] = field(default_factory=list)
    runs: list[RunLine] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    series: list[ChartSeries] = field(default_factory=list)
    ticks: int = 0

    def recent_alerts(self) -> list[Alert]:
        return list(self.recent)

    def recent_runs(self) -> list[RunLine]:
        return list(self.runs)

    def current_findings(self) -> list[Finding]:
        return list(self.findings)

    def ui_settings(self) -> UiSettings:
        return UiSettings(0.8, "frames over budget", 1 / 60, 1.0)

    def chart_series(self, since: float) -> list[ChartSeries]:
        return [s for s in self.series if s.until > since]

    async def next_tick(self, seen: int, timeout_s: float) -> int:
        await asyncio.sleep(min(timeout_s, 0.05))
        return self.ticks


async def raw_get(url: str, target: str) -> tuple[int, bytes]:
    """A request line sent byte for byte (an HTTP client would normalise `..` away before sending)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    answer = await reader.read()
    writer.close()
    return int(answer.split(b" ", 2)[1]), answer


def serve(view: StubView, body: Callable[[aiohttp.ClientSession, str], Awaitable[T]], token: str | None = None) -> T:
    """Start the server on a free loopback port, run `body(session, url)`, always close."""
    async def main() -> T:
        server = await start_web(view, "127.0.0.1", 0, token)
        try:
            async with aiohttp.ClientSession() as session:
                return await body(session, server.url)
        finally:
            await server.close()
    return asyncio.run(main())


def test_the_page_and_every_static_file_are_served_with_their_content_type_and_cache_policy() -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> dict[str, tuple[int, str, str]]:
        out = {}
        for path in ("/", "/static/dashboard.js", "/static/dashboard.css", "/static/vendor/uPlot.iife.min.js",
                     "/static/vendor/uPlot.min.css", "/static/vendor/uPlot.LICENSE", "/static/wf-perf-monitor.js"):
            async with session.get(url + path) as response:
                await response.read()
                out[path] = (response.status, response.headers["Content-Type"], response.headers["Cache-Control"])
        return out

    got = serve(DashView(), body)
    assert got["/"][:2] == (200, "text/html; charset=utf-8")
    assert got["/static/dashboard.js"][:2] == got["/static/wf-perf-monitor.js"][:2] == (200, "text/javascript; "
                                                                                         "charset=utf-8")
    assert got["/static/dashboard.css"][:2] == (200, "text/css; charset=utf-8")
    assert got["/static/vendor/uPlot.iife.min.js"] == (200, "text/javascript; charset=utf-8", "public, max-age=86400")
    assert got["/static/vendor/uPlot.LICENSE"][:2] == (200, "text/plain; charset=utf-8")
    assert got["/static/dashboard.js"][2] == "no-cache"


def test_the_whitelist_is_the_package_web_folder_and_mjs_is_javascript(tmp_path: Path) -> None:
    (tmp_path / "vendor").mkdir()
    (tmp_path / "a.mjs").write_text("export {}")
    (tmp_path / "vendor" / "b.css").write_text("")
    table = static_files(tmp_path)
    assert sorted(table) == ["a.mjs", "vendor/b.css"]
    assert table["a.mjs"].content_type == "text/javascript"
    assert {"index.html", "dashboard.js", "vendor/uPlot.iife.min.js", "vendor/uPlot.LICENSE"} <= set(static_files())


@pytest.mark.parametrize("target", ["/static/../pyproject.toml", "/static/%2e%2e/%2e%2e/surface/web.py",
                                    "/static/vendor/../../facts.yaml", "/static/..%2f..%2ffacts.yaml",
                                    "/static//etc/passwd", "/static/vendor", "/static/nothing.js"])
def test_a_path_outside_the_whitelist_is_404_and_reads_nothing(target: str) -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
        return await raw_get(url, target)

    status, answer = serve(DashView(), body)
    assert status == 404
    assert b"limits:" not in answer and b"root:" not in answer and b"import" not in answer


def test_overview_carries_every_panel_and_untrusted_text_verbatim() -> None:
    alert = Alert("UiFramesSlow", {"page": HOSTILE, "severity": "warning"}, {}, AlertState.FIRING, 0.05, 1.0, 2.0,
                  escalation=("lower_setting ui_quality",))
    finding = Finding("ui.page_script", "UI_PAGE_SCRIPT", "ui_freezing", "slow frames", "page script",
                      Priority.HIGH, ["split the long task"], [Sample("wf_ui_frames", 1, "frames", "t")],
                      f"page {HOSTILE}: long tasks")
    view = DashView(alerts=[alert], recent=[alert], findings=[finding],
                    runs=[RunLine(3, "tokens", 1.0, "finished", "T2", 2)])

    async def body(session: aiohttp.ClientSession, url: str) -> dict:
        async with session.get(url + "/api/overview") as response:
            assert response.status == 200 and response.content_type == "application/json"
            return await response.json()

    got = serve(view, body)
    assert set(got) == {"now", "alerts", "recent_alerts", "actions", "findings", "runs", "settings"}
    assert got["alerts"][0]["labels"]["page"] == HOSTILE and got["alerts"][0]["state"] == "firing"
    assert got["alerts"][0]["escalation"] == ["lower_setting ui_quality"]
    assert got["findings"][0]["summary"] == f"page {HOSTILE}: long tasks"
    assert got["findings"][0]["evidence_count"] == 1 and "evidence" not in got["findings"][0]
    assert got["runs"] == [{"id": 3, "command": "tokens", "started_at": 1.0, "status": "finished", "tier": "T2",
                            "findings": 2}]
    assert got["settings"]["quality"] == 0.8


def test_with_a_token_the_api_takes_it_by_header_or_query_and_the_page_files_need_none() -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> dict[str, int]:
        out = {}
        for name, path, headers in [("none", "/api/overview", {}), ("query", "/api/overview?token=s3cret", {}),
                                    ("wrong", "/api/overview?token=s3cres", {}),
                                    ("header", "/api/overview", {"Authorization": "Bearer s3cret"}),
                                    ("page", "/", {}), ("static", "/static/dashboard.js", {}),
                                    ("metrics", "/metrics?token=s3cret", {}), ("stream", "/api/stream", {})]:
            async with session.get(url + path, headers=headers) as response:
                out[name] = response.status
        return out

    assert serve(DashView(), body, token="s3cret") == {"none": 401, "query": 200, "wrong": 401, "header": 200,
                                                       "page": 200, "static": 200, "metrics": 200, "stream": 401}


async def read_events(response: aiohttp.ClientResponse, wanted: int) -> list[tuple[str, str]]:
    """The first `wanted` named events of an SSE stream, as (event, data)."""
    events: list[tuple[str, str]] = []
    name, data = "", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line.startswith("retry: "):
            events.append(("retry", line[7:]))
        elif not line and name:
            events.append((name, data))
            name = ""
        if len(events) >= wanted:
            break
    return events


def test_the_stream_of_a_running_monitor_sends_new_chart_points_each_tick_and_the_overview(tmp_path: Path) -> None:
    async def main() -> list[tuple[str, str]]:
        monitor = Monitor(MonitorOptions(interval_s=0.1, canary_interval_s=None, backend_urls=["http://127.0.0.1:9"]),
                          tmp_path / "w.db")
        stop = asyncio.Event()
        running = asyncio.create_task(monitor.run(stop))
        await asyncio.wait_for(monitor.started.wait(), 30)
        server = await start_web(monitor, "127.0.0.1", 0, None)
        try:
            async with aiohttp.ClientSession() as session, session.get(server.url + "/api/stream") as response:
                assert response.headers["Content-Type"] == "text/event-stream"
                return await asyncio.wait_for(read_events(response, 8), 30)
        finally:
            await server.close()
            stop.set()
            await running

    events = asyncio.run(main())
    assert events[0] == ("retry", "2000")
    charts = [json.loads(data) for name, data in events if name == "charts"]
    assert len(charts) >= 3 and any(name == "overview" for name, _ in events)
    assert {"cpu", "memory"} <= {s["chart"] for s in charts[0]["series"]}
    memory = [[p for s in c["series"] if s["chart"] == "memory" for p in s["points"]] for c in charts]
    sent = [ts for points in memory for ts, _ in points]
    assert sent == sorted(sent) and len(sent) == len(set(sent))   # each point once, in order
    assert [c["tick"] for c in charts] == sorted(c["tick"] for c in charts)


def test_past_the_client_bound_a_stream_is_refused_503() -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> tuple[list[int], int]:
        opened = [await session.get(url + "/api/stream") for _ in range(MAX_STREAMS)]
        try:
            async with session.get(url + "/api/stream") as extra:
                return [r.status for r in opened], extra.status
        finally:
            for response in opened:
                response.close()

    async def main() -> tuple[list[int], int]:
        server = await start_web(DashView(), "127.0.0.1", 0, None)
        try:
            connector = aiohttp.TCPConnector(limit=MAX_STREAMS + 2)
            async with aiohttp.ClientSession(connector=connector) as session:
                return await body(session, server.url)
        finally:
            await server.close()

    statuses, extra = asyncio.run(main())
    assert statuses == [200] * MAX_STREAMS and extra == 503


def test_stopping_the_server_ends_open_streams_without_waiting_out_the_shutdown_grace() -> None:
    async def main() -> tuple[float, bytes]:
        server = await start_web(DashView(), "127.0.0.1", 0, None)
        async with aiohttp.ClientSession() as session, session.get(server.url + "/api/stream") as response:
            await response.content.readline()   # the stream is open: `retry:` arrived
            started = time.monotonic()
            await server.close()
            elapsed = time.monotonic() - started
            rest = await asyncio.wait_for(response.content.read(), 10)
        return elapsed, rest

    elapsed, _ = asyncio.run(main())
    assert elapsed < SHUTDOWN_S


def cpu(core: str, value: float, ts: float) -> Sample:
    return Sample("wf_cpu_core_utilization_ratio", value, "ratio", "psutil", {"core": core, "window_s": "1"}, ts)


def test_chart_buffer_sends_each_point_once_even_when_a_pushed_point_is_older_than_the_drawn_ones() -> None:
    charts = ChartBuffer()
    charts.add([cpu("0", 0.5, 100.0)])
    first = charts.series(0.0)
    charts.add([cpu("0", 0.6, 90.0)])   # a late push: its own time is older
    second = charts.series(max(s.until for s in first))
    assert [(s.chart, s.name, s.points) for s in first] == [("cpu", "core 0", [(100.0, 0.5)])]
    assert [s.points for s in second] == [[(90.0, 0.6)]]
    assert charts.series(max(s.until for s in second)) == []


def test_chart_buffer_is_bounded_in_points_per_line_and_lines_per_chart() -> None:
    charts = ChartBuffer()
    for i in range(POINTS_PER_LINE + 50):
        charts.add([cpu("0", 0.1, float(i))])
    charts.add([Sample("wf_ui_frame_time_seconds", 0.016, "s", "page", {"page": f"p{i}", "stat": "mean"}, 1.0)
                for i in range(LINES_PER_CHART + 10)])
    lines = charts.series(0.0)
    assert [len(s.points) for s in lines if s.chart == "cpu"] == [POINTS_PER_LINE]
    assert len([s for s in lines if s.chart == "frames"]) == LINES_PER_CHART and charts.refused == 10


def test_chart_buffer_draws_only_the_mean_frame_time_per_page() -> None:
    charts = ChartBuffer()
    charts.add([Sample("wf_ui_frame_time_seconds", v, "s", "page", {"page": "chat", "stat": stat}, 1.0)
                for stat, v in (("mean", 0.016), ("p99", 0.05))])
    assert [(s.chart, s.name, s.points) for s in charts.series(0.0)] == [("frames", "chat", [(1.0, 0.016)])]
