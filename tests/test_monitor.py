"""`wfdoctor monitor` in process: it ticks, stores, hands ticks to the alerting seam, survives failing probes,
refuses a second monitor on its database, and pushes through `accept` only what the registry knows."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from wfdoctor.app.monitor import Monitor, MonitorOptions, MonitorSummary
from wfdoctor.app.reports.monitor import MonitorEvent, MonitorSnapshot
from wfdoctor.app.monitor_pipeline import PipelineContext, TickOutcome
from wfdoctor.app.monitor_view import Overloaded
from wfdoctor.model import ActionRecord, Alert, AlertState, Run, Sample, WfdoctorError
from wfdoctor.sense import gpu_nvml
from wfdoctor.store.monitoring import MonitorStore

FAST = dict(interval_s=0.1, server_interval_s=0.5, canary_interval_s=None, backend_urls=["http://127.0.0.1:9"])


class Recorder:
    """An observer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[MonitorEvent] = []
        self.ticks = 0

    def event(self, event: MonitorEvent) -> None:
        self.events.append(event)

    def tick(self, snapshot: Callable[[], MonitorSnapshot]) -> None:
        self.ticks += 1

    def of(self, kind: str) -> list[MonitorEvent]:
        return [e for e in self.events if e.kind == kind]


def run_for(monitor: Monitor, seconds: float) -> MonitorSummary:
    async def main() -> MonitorSummary:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        return await monitor.run(stop)

    return asyncio.run(main())


def frame(value: float, ts: float | None = None) -> Sample:
    return Sample("wf_ui_frame_time_seconds", value, "s", "test page", {}, ts if ts is not None else time.time())


def test_at_10_hz_it_ticks_and_stores_the_machine_under_one_finished_monitor_run(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    summary = run_for(Monitor(MonitorOptions(**FAST), db), 2.0)
    assert summary.ticks >= 10  # 20 at 10 Hz; generous for a loaded machine
    with MonitorStore.open(db) as store:
        run = store.list_runs()[0]
        stored = store.samples_of(summary.run_id)
    assert (run.command, run.status) == ("monitor", "finished")
    assert len(stored) == summary.samples_written
    metrics = {s.metric for s in stored}
    assert {"wf_cpu_utilization_ratio", "wf_memory_used_ratio", "wf_monitor_probe_ok"} <= metrics
    assert not any("window_s" in s.labels for s in stored)  # one series per metric, not one per tick


class StandIn:
    """A stand-in for AlertEngine + Router + RecoveryResponder: fires once on the first tick it sees a CPU sample."""

    note = "a stand-in"

    def __init__(self) -> None:
        self.seen: list[Sample] = []
        self.alert: Alert | None = None

    async def on_tick(self, samples: Sequence[Sample], now: float, complete: Sequence[Sample] = ()) -> TickOutcome:
        self.seen += samples
        if self.alert is not None or not any(s.metric == "wf_cpu_utilization_ratio" for s in samples):
            return TickOutcome()
        self.alert = Alert("HighCpu", {"alertname": "HighCpu", "severity": "warning"}, {"summary": "busy"},
                           AlertState.FIRING, 0.97, now, now)
        action = ActionRecord("unload_idle_models", "ollama", "L1", False, "HighCpu", {}, {}, alert="HighCpu",
                              outcome="dry run")
        return TickOutcome([self.alert], [action])

    def active(self) -> list[Alert]:
        return [self.alert] if self.alert else []

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        return None


def test_each_tick_goes_through_the_watchers_and_their_transitions_and_actions_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    stand_in = StandIn()
    contexts: list[PipelineContext] = []

    def factory(context: PipelineContext) -> StandIn:
        contexts.append(context)
        return stand_in

    recorder = Recorder()
    monitor = Monitor(MonitorOptions(**FAST, apply=True), db, pipeline_factory=factory, observer=recorder)
    summary = run_for(monitor, 1.0)
    assert contexts[0].run_id == summary.run_id and contexts[0].apply
    assert [a.name for a in monitor.active_alerts()] == ["HighCpu"]
    assert [a.kind for a in monitor.recent_actions()] == ["unload_idle_models"]
    assert [e.fields["state"] for e in recorder.of("alert")] == ["firing"]
    assert recorder.of("action")[0].fields["outcome"] == "dry run"
    with MonitorStore.open(db) as store:
        stored = store.current_alerts()
    assert [(e.name, e.state, e.run_id) for e in stored] == [("HighCpu", "firing", summary.run_id)]


def test_accept_refuses_an_unregistered_metric_and_a_full_queue(tmp_path: Path) -> None:
    monitor = Monitor(MonitorOptions(**FAST, queue_capacity=3), tmp_path / "w.db")
    with pytest.raises(WfdoctorError, match="not registered"):
        monitor.accept([Sample("wf_made_up_seconds", 1.0, "s", "test")])
    with pytest.raises(WfdoctorError, match="not a finite value"):
        monitor.accept([frame(float("nan"))])
    monitor.accept([frame(0.016), frame(0.017)])
    with pytest.raises(Overloaded):
        monitor.accept([frame(0.018), frame(0.019)])
    monitor.accept([frame(0.020)])
    assert [s.value for s in monitor.latest_samples()] == [0.020]


def test_accepted_samples_are_stored_and_feed_the_next_tick(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    stand_in = StandIn()
    monitor = Monitor(MonitorOptions(**FAST), db, pipeline_factory=lambda context: stand_in)

    async def main() -> MonitorSummary:
        stop = asyncio.Event()
        running = asyncio.create_task(monitor.run(stop))
        await monitor.started.wait()
        monitor.accept([frame(0.016 + i / 1000, time.time()) for i in range(100)])
        await asyncio.sleep(0.5)
        stop.set()
        return await running

    summary = asyncio.run(main())
    assert summary.accepted == 100
    with MonitorStore.open(db) as store:
        assert len([s for s in store.samples_of(summary.run_id) if s.metric == "wf_ui_frame_time_seconds"]) == 100
    assert len([s for s in stand_in.seen if s.metric == "wf_ui_frame_time_seconds"]) == 100


def test_a_second_monitor_on_the_same_database_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    first = Monitor(MonitorOptions(**FAST), db)

    async def main() -> str:
        stop = asyncio.Event()
        running = asyncio.create_task(first.run(stop))
        await first.started.wait()
        try:
            await Monitor(MonitorOptions(**FAST), db).run(asyncio.Event())
        except WfdoctorError as exc:
            return str(exc)
        finally:
            stop.set()
            await running
        return "not refused"

    assert asyncio.run(main()) == f"a monitor is already running on {db} (pid {os.getpid()})"
    run_for(Monitor(MonitorOptions(**FAST), db), 0.3)  # the lock is free again once the first stopped


def test_nvml_failing_mid_run_is_a_probe_failure_not_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(self: gpu_nvml.NvmlSession) -> list[dict[str, object]]:
        raise RuntimeError("NVML: GPU is lost")

    monkeypatch.setattr(gpu_nvml.NvmlSession, "open", lambda self: True)
    monkeypatch.setattr(gpu_nvml.NvmlSession, "read", gone)
    monkeypatch.setattr(gpu_nvml.NvmlSession, "close", lambda self: None)
    db = tmp_path / "w.db"
    recorder = Recorder()
    summary = run_for(Monitor(MonitorOptions(**FAST), db, observer=recorder), 1.0)
    assert summary.ticks >= 5
    errors = [e.message for e in recorder.of("error") if "gpu" in e.message]
    assert errors == ["gpu: NVML read failed: NVML: GPU is lost"]  # said once, not every tick
    with MonitorStore.open(db) as store:
        gpu_ok = [s.value for s in store.samples_of(summary.run_id)
                  if s.metric == "wf_monitor_probe_ok" and s.labels == {"probe": "gpu"}]
    assert gpu_ok and set(gpu_ok) == {0.0}


def test_a_dead_backend_is_a_down_server_and_the_monitor_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    recorder = Recorder()
    summary = run_for(Monitor(MonitorOptions(**FAST), db, observer=recorder), 1.2)
    with MonitorStore.open(db) as store:
        up = [s for s in store.samples_of(summary.run_id) if s.metric == "wf_llm_server_up"]
    assert up and {s.value for s in up} == {0.0} and up[0].labels["url"] == "http://127.0.0.1:9"
    assert len([e for e in recorder.of("error") if "127.0.0.1:9" in e.message]) == 1
    assert summary.ticks >= 5


def test_options_refuse_a_too_fast_interval_and_an_open_listen_address_without_token() -> None:
    with pytest.raises(WfdoctorError, match="at least 0.1"):
        MonitorOptions(interval_s=0.05)
    with pytest.raises(WfdoctorError, match="needs --token"):
        MonitorOptions(listen="0.0.0.0:8471")
    assert MonitorOptions(listen="0.0.0.0:8471", token="s3cret").token == "s3cret"
    with pytest.raises(WfdoctorError, match="HOST:PORT"):
        MonitorOptions(listen="localhost")


def test_the_running_monitor_folds_raw_samples_past_retention(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    old = time.time() - 2 * 86400
    with MonitorStore.open(db) as store:
        run_id = store.begin_run(Run(command="monitor", started_at=old))
        store.add_samples(run_id, [frame(0.010, old), frame(0.030, old + 1)])
        store.finish_run(Run(command="monitor", started_at=old, id=run_id))
    run_for(Monitor(MonitorOptions(**FAST, retention_every_s=0.2), db), 0.6)
    with MonitorStore.open(db) as store:
        assert store.samples_of(run_id) == []
        [(_, _, count, low, high, total)] = store.aggregates_of("wf_ui_frame_time_seconds")
    assert (count, low, high) == (2, 0.010, 0.030) and total == pytest.approx(0.040)
