"""The dashboard's tokens/s and TTFT charts draw the token runs users make, beside the canary: each finished
run's median at concurrency 1 is one point on its server's line, charted once however often the runs are
re-read; a run that finishes while the monitor runs appears within one refresh; the canary's own runs stay on
the canary's line only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_monitor import FAST
from wfdoctor.app import monitor as monitor_module
from wfdoctor.app.monitor import Monitor, MonitorOptions
from wfdoctor.app.monitor_charts import RUNS_SINCE_S, DashboardState, RunPoints
from wfdoctor.app.reports.dashboard import ChartSeries
from wfdoctor.model import Run, Sample
from wfdoctor.store.monitoring import MonitorStore
from wfdoctor.testing.fake_llm import MODEL, FakeConfig, FakeLLMServer

URL = "http://127.0.0.1:8080"
TOKENS = {"backend": URL, "model": "SmolLM2"}


def record(db: Path, runs: list[tuple[float, float]], command: str = "tokens",
           settings: dict[str, object] = TOKENS) -> None:
    """Finished runs with these (decode tokens/s, TTFT) medians at concurrency 1 (and other statistics and
    levels, which are not drawn)."""
    with MonitorStore.open(db) as store:
        for tps, ttft in runs:
            run = Run(command=command, started_at=time.time(), settings=settings)
            with store.recording(run):
                store.add_samples(run.id or 0, [
                    Sample(metric, value, unit, "test", {"concurrency": c, "stat": stat})
                    for metric, unit, value in (("wf_llm_decode_tokens_per_second", "tokens/s", tps),
                                                ("wf_llm_time_to_first_token_seconds", "s", ttft))
                    for c, stat in (("1", "p50"), ("1", "p95"), ("4", "p50"))])


def points(series: list[ChartSeries]) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = {}
    for line in series:
        out.setdefault((line.chart, line.name), []).extend(value for _, value in line.points)
    return out


def test_two_finished_runs_are_charted_once_each_however_often_the_runs_are_refreshed(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    record(db, [(40.0, 0.2), (42.0, 0.3)])
    record(db, [(99.0, 9.0)], settings=TOKENS | {"canary": True})   # a monitor's canary: on the canary's line
    dash = DashboardState()
    with MonitorStore.open(db) as store:
        asyncio.run(dash.refresh_runs(store))
        first = dash.charts.series(0.0)
        asyncio.run(dash.refresh_runs(store))
        asyncio.run(dash.refresh_runs(store))
    line = "tokens: SmolLM2 @ 127.0.0.1:8080"
    assert points(first) == {("tokens", line): [40.0, 42.0], ("ttft", line): [0.2, 0.3]}
    assert dash.charts.series(max(s.until for s in first)) == []   # nothing re-added
    assert points(dash.charts.series(0.0)) == points(first)


def test_a_diagnose_check_is_charted_on_the_line_of_the_server_it_was_given(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    record(db, [(35.0, 0.25)], "diagnose", {"backends": [URL], "window_s": 5.0})
    dash = DashboardState()
    with MonitorStore.open(db) as store:
        asyncio.run(dash.refresh_runs(store))
    line = "diagnose: 127.0.0.1:8080"
    assert points(dash.charts.series(0.0)) == {("tokens", line): [35.0], ("ttft", line): [0.25]}


def test_a_monitor_starting_later_than_the_window_after_a_run_does_not_chart_it(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    record(db, [(40.0, 0.2)])
    dash = DashboardState(run_points=RunPoints(time.time() + RUNS_SINCE_S + 1))
    with MonitorStore.open(db) as store:
        asyncio.run(dash.refresh_runs(store))
    assert dash.charts.series(0.0) == []


@pytest.mark.slow
def test_a_tokens_run_finishing_while_the_monitor_runs_appears_within_one_refresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_module, "RUNS_EVERY_S", 0.5)
    db = tmp_path / "w.db"
    monitor = Monitor(MonitorOptions(**FAST), db)

    async def main(url: str) -> tuple[list[ChartSeries], list[ChartSeries], float]:
        stop = asyncio.Event()
        running = asyncio.create_task(monitor.run(stop))
        await asyncio.wait_for(monitor.started.wait(), 30)
        before = monitor.chart_series(0.0)
        tokens = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wfdoctor", "tokens", "--backend", url, "--runs", "2", "--no-bandwidth",
            "--fail-on", "never", env=os.environ | {"WFDOCTOR_DB": str(db)}, stdout=subprocess.DEVNULL)
        assert await asyncio.wait_for(tokens.wait(), 120) == 0
        finished = time.monotonic()
        while not any(s.chart == "tokens" for s in monitor.chart_series(0.0)) and time.monotonic() - finished < 30:
            await asyncio.sleep(0.1)
        waited = time.monotonic() - finished
        after = monitor.chart_series(0.0)
        stop.set()
        await running
        return before, after, waited

    with FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.01, tokens=16)) as server:
        before, after, waited = asyncio.run(main(server.base_url))
    assert not any(s.chart in ("tokens", "ttft") for s in before)
    runs = {(s.chart, s.name): len(s.points) for s in after if s.chart in ("tokens", "ttft")}
    # the line names the model the run found (it was not named on the command line)
    line = f"tokens: {MODEL} @ {server.base_url.removeprefix('http://')}"
    assert runs == {("tokens", line): 1, ("ttft", line): 1}
    assert waited < 30


def test_the_canary_line_is_named_as_the_canary_and_a_pushed_server_line_by_its_url() -> None:
    dash = DashboardState()
    dash.charts.add([Sample("wf_llm_decode_tokens_per_second", tps, "tokens/s", "t", {"stat": "p50", "url": URL} | more)
                     for tps, more in ((30.0, {"check": "canary"}), (31.0, {}))])
    assert points(dash.charts.series(0.0)) == {("tokens", f"canary {URL}"): [30.0], ("tokens", URL): [31.0]}


@pytest.mark.slow
def test_the_canarys_runs_are_drawn_on_the_canary_line_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_module, "RUNS_EVERY_S", 0.3)

    async def main(url: str) -> list[ChartSeries]:
        monitor = Monitor(MonitorOptions(**FAST | {"canary_interval_s": 0.5, "backend_urls": [url]}), tmp_path / "w.db")
        stop = asyncio.Event()
        running = asyncio.create_task(monitor.run(stop))
        await asyncio.wait_for(monitor.started.wait(), 30)
        started = time.monotonic()
        while len(canary_points(monitor.chart_series(0.0))) < 2 and time.monotonic() - started < 60:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)   # refreshes of the runs after the canaries were stored
        series = monitor.chart_series(0.0)
        stop.set()
        await running
        return series

    def canary_points(series: list[ChartSeries]) -> list[tuple[float, float]]:
        return [p for s in series if s.chart == "tokens" and s.name.startswith("canary ") for p in s.points]

    with FakeLLMServer(FakeConfig(ttft_s=0.02, itl_s=0.005, tokens=16)) as server:
        series = asyncio.run(main(server.base_url))
    assert len(canary_points(series)) >= 2
    assert {s.name for s in series if s.chart in ("tokens", "ttft")} == {f"canary {server.base_url}"}
