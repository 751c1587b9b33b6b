"""`Monitor.accept_frames` in process: a page's report is stored and judged like any sample, the adaptive quality
follows it, recovery's applied `lower_ui_quality` lowers it, and the live UI verdict sees the machine's CPU."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.test_frames import report
from tests.test_monitor import FAST, StandIn
from wfdoctor.app import monitor as monitor_module
from wfdoctor.app.monitor import Monitor, MonitorOptions
from wfdoctor.app.monitor_pipeline import TickOutcome
from wfdoctor.app.monitor_ui import UiWindow
from wfdoctor.config.facts import load_facts
from wfdoctor.model import ActionRecord, Finding, Priority, Sample, WfdoctorError
from wfdoctor.store.monitoring import MonitorStore

RULE = load_facts().common["adaptive_quality"]
FLOOR = RULE["floor"]
FINDING = Finding(rule_id="ui", code="UI_PAGE_SCRIPT", row="ui_freezing", symptom="s", cause="c",
                  priority=Priority.HIGH, actions=[], evidence=[], summary="page 'chat'")


class Recovery(StandIn):
    """Watchers that answer the first frame sample they see with an applied lower_ui_quality."""

    def __init__(self) -> None:
        super().__init__()
        self.lowered = False

    async def on_tick(self, samples: Sequence[Sample], now: float, complete: Sequence[Sample] = ()) -> TickOutcome:
        self.seen += samples
        if self.lowered or not any(s.metric == "wf_ui_frame_time_seconds" for s in samples):
            return TickOutcome()
        self.lowered = True
        return TickOutcome([], [ActionRecord("lower_ui_quality", "/s.json#ui_quality", "L1", True, "UiFramesSlow",
                                             {}, {"setting": "ui_quality", "to": "low"}, outcome="applied")])


def test_a_report_is_stored_judged_and_lowers_the_quality_through_recovery(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_module, "UI_JUDGE_EVERY_S", 0.2)
    db, watchers, windows = tmp_path / "w.db", Recovery(), list[UiWindow]()
    monitor = Monitor(MonitorOptions(**FAST), db, pipeline_factory=lambda context: watchers,
                      ui_judge=lambda window: windows.append(window) or [FINDING])
    with pytest.raises(WfdoctorError, match="^the monitor is starting"):
        monitor.accept_frames(report(ts=time.time()))

    async def main() -> int:
        stop = asyncio.Event()
        running = asyncio.create_task(monitor.run(stop))
        await monitor.started.wait()
        await asyncio.sleep(0.3)  # a machine reading or two for the verdict's window
        monitor.accept_frames(report(ts=time.time(), frame_mean_s=0.05))
        await asyncio.sleep(1.0)
        stop.set()
        return (await running).run_id

    run_id = asyncio.run(main())
    with MonitorStore.open(db) as store:
        stored = store.samples_of(run_id)
    frames = [s for s in stored if s.metric == "wf_ui_frame_time_seconds"]
    assert {s.labels["stat"] for s in frames} == {"mean", "p50", "p95", "p99", "max"}
    assert any(s.metric == "wf_ui_frame_time_seconds" for s in watchers.seen)   # the alert rules see it
    qualities = [s.value for s in sorted(stored, key=lambda s: s.ts) if s.metric == "wf_ui_quality"]
    assert qualities[0] == 1.0 and qualities[-1] == FLOOR                       # the slow report, then recovery
    assert 1.0 - RULE["step_down"] in qualities
    assert monitor.ui_settings().quality == FLOOR and "UiFramesSlow" in monitor.ui_settings().reason
    assert monitor.current_findings() == [FINDING]
    assert windows[-1].reports and windows[-1].cpu
