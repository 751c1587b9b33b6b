"""The monitor's storage: retention folds old raw samples into per-minute aggregates exactly (count, min, max,
sum), leaves other commands' history alone, drops aggregates past their retention; the config file's errors
point at file:line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from wfdoctor.app.monitor import retention_pass
from wfdoctor.config.monitor import canary_seconds, duration_seconds, load_monitor_config
from wfdoctor.model import Run, Sample, WfdoctorError
from wfdoctor.store.monitoring import MonitorStore

DAY = 86400.0
NOW = 1_800_000_000.0  # a minute boundary: 1_800_000_000 / 60 is whole


def cpu(value: float, ts: float, core: str = "0") -> Sample:
    return Sample("wf_cpu_core_utilization_ratio", value, "ratio", "psutil", {"core": core}, ts)


def stored_run(store: MonitorStore, command: str, samples: list[Sample]) -> int:
    run_id = store.begin_run(Run(command=command, started_at=samples[0].ts))
    store.add_samples(run_id, samples)
    return run_id


def test_retention_folds_old_monitor_samples_into_exact_minute_aggregates(tmp_path: Path) -> None:
    old = NOW - 2 * DAY
    with MonitorStore.open(tmp_path / "w.db") as store:
        values = [0.1, 0.5, 0.3, 0.9]  # two in each of two minutes
        monitor_run = stored_run(store, "monitor", [cpu(v, old + 30 * i) for i, v in enumerate(values)]
                                 + [cpu(0.7, NOW - 10)])
        tokens_run = stored_run(store, "tokens", [cpu(0.2, old)])
        folded, dropped = asyncio.run(retention_pass(store, NOW, DAY, 30 * DAY))
        assert (folded, dropped) == (4, 0)
        assert [s.value for s in store.samples_of(monitor_run)] == [0.7]  # the recent one stays raw
        assert [s.value for s in store.samples_of(tokens_run)] == [0.2]   # other commands' history is kept
        rows = store.aggregates_of("wf_cpu_core_utilization_ratio")
    assert [(json.loads(labels), minute - old, count, lo, hi) for labels, minute, count, lo, hi, _ in rows] == [
        ({"core": "0"}, 0.0, 2, 0.1, 0.5), ({"core": "0"}, 60.0, 2, 0.3, 0.9)]
    assert [total for *_, total in rows] == pytest.approx([0.6, 1.2])


def test_a_later_pass_adds_into_the_same_minute_and_old_aggregates_are_dropped(tmp_path: Path) -> None:
    old = NOW - 2 * DAY
    with MonitorStore.open(tmp_path / "w.db") as store:
        stored_run(store, "monitor", [cpu(0.4, old), cpu(0.2, NOW - 40 * DAY)])
        asyncio.run(retention_pass(store, NOW, DAY, 30 * DAY))
        stored_run(store, "monitor", [cpu(0.8, old + 1)])
        folded, dropped = asyncio.run(retention_pass(store, NOW, DAY, 30 * DAY))
        rows = store.aggregates_of("wf_cpu_core_utilization_ratio")
    assert (folded, dropped) == (1, 0)
    assert [(count, lo, hi, pytest.approx(total)) for _, _, count, lo, hi, total in rows] == [(2, 0.4, 0.8, 1.2)]


def test_retention_works_in_small_transactions_and_loses_nothing(tmp_path: Path) -> None:
    old = NOW - 2 * DAY
    with MonitorStore.open(tmp_path / "w.db") as store:
        stored_run(store, "monitor", [cpu(1.0, old + i * 0.01, core=str(i % 3)) for i in range(12_000)])
        assert store.fold_old_samples(NOW - DAY, 5000) == 5000
        asyncio.run(retention_pass(store, NOW, DAY, 30 * DAY))
        rows = store.aggregates_of("wf_cpu_core_utilization_ratio")
    assert sum(count for _, _, count, *_ in rows) == 12_000


def test_config_file_sections_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text("monitor:\n  interval: 500ms\n  canary: off\n  rules: [mine.yaml]\n"
                    "routing:\n  route: {receiver: log}\nrecovery:\n  auto_apply: [unload_idle_models]\n")
    config = load_monitor_config(path)
    assert config.monitor.interval == 0.5 and canary_seconds(config.monitor.canary or "") is None
    assert config.monitor.rules == (tmp_path / "mine.yaml",)
    assert config.routing == {"route": {"receiver": "log"}} and config.routing_where == f"{path}:5"
    assert config.recovery_where == f"{path}:7"
    path.write_text("monitor:\n  interval: 1s\n  intervall: 2s\n")
    with pytest.raises(WfdoctorError, match=r"monitor.yaml:3: field 'monitor.intervall': Extra inputs"):
        load_monitor_config(path)
    path.write_text("monitor:\n  server_interval: soon\n")
    with pytest.raises(WfdoctorError, match=r"monitor.yaml:2: .*'soon' is not a duration"):
        load_monitor_config(path)


def test_durations_read_as_prometheus_writes_them() -> None:
    assert [duration_seconds(t) for t in ("30s", "10m", "1h30m", "500ms", "2", 0.1)] == [30, 600, 5400, 0.5, 2, 0.1]
    for bad in ("-1s", "0", "1x", "m5", ""):
        with pytest.raises(ValueError):
            duration_seconds(bad)
