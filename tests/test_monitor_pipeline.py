"""The monitor's alerting pipeline, built from the real parts: shipped and user rules, the `routing:` and
`recovery:` sections of the monitor config; once per tick it runs window -> rules -> routing -> recovery."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from wfdoctor.app.monitor_pipeline import AlertPipeline, PipelineContext, build_pipeline
from wfdoctor.config.alerts import load_alert_rules
from wfdoctor.config.facts import load_facts
from wfdoctor.config.monitor import MonitorConfig, MonitorSettings
from wfdoctor.model import AlertState, Run, Sample, WfdoctorError
from wfdoctor.store.monitoring import MonitorStore

RULES = """
groups:
  - name: test
    rules:
      - alert: ChildMemory
        expr: wf_process_resident_memory_bytes > 1000
        labels: { severity: warning }
        annotations: { summary: "{{ $labels.name }} holds {{ $value }} bytes" }
        escalation: [clear_caches]
"""


def context(store: MonitorStore, rules: Path, routing: object = None) -> PipelineContext:
    config = MonitorConfig(Path("m.yaml"), MonitorSettings(), routing, "m.yaml:4", {}, "m.yaml:9")
    return PipelineContext(store=store, run_id=store.begin_run(Run("monitor", time.time())), facts=load_facts(), tier="mid", config=config, rules_paths=[rules],
                           lookback_s=120.0, apply=False, backend_urls=[])


def process(pid: str, rss: float, ts: float) -> Sample:
    return Sample("wf_process_resident_memory_bytes", rss, "bytes", "test", {"pid": pid, "name": "child"}, ts)


def test_the_pipeline_loads_the_shipped_and_the_users_rules(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(RULES)
    with MonitorStore.open(tmp_path / "w.db") as store:
        pipeline = build_pipeline(context(store, tmp_path / "mine.yaml"))
    shipped = len(load_alert_rules(load_facts(), "mid"))
    assert isinstance(pipeline, AlertPipeline) and pipeline.note == f"{shipped + 1} alert rules"


def test_a_process_that_exits_resolves_its_alert_at_once_not_after_the_lookback(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(RULES)

    async def ticks() -> list[tuple[str, AlertState]]:
        with MonitorStore.open(tmp_path / "w.db") as store:
            pipeline = build_pipeline(context(store, tmp_path / "mine.yaml"))
            now = time.time()
            seen = []
            readings = [[process("1", 5000, now)], [process("1", 5000, now + 1)], [process("2", 10, now + 2)]]
            for step, reading in enumerate(readings):
                outcome = await pipeline.on_tick(reading, now + step, reading)
                seen += [(a.name, a.state) for a in outcome.transitions if a.name == "ChildMemory"]
            await pipeline.aclose()
            return seen

    assert asyncio.run(ticks()) == [("ChildMemory", AlertState.FIRING), ("ChildMemory", AlertState.RESOLVED)]


def test_a_rule_escalating_to_a_step_the_ladder_lacks_is_refused_with_its_file(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(RULES.replace("clear_caches", "no_such_step"))
    with MonitorStore.open(tmp_path / "w.db") as store, pytest.raises(WfdoctorError) as error:
        build_pipeline(context(store, tmp_path / "mine.yaml"))
    assert "mine.yaml" in str(error.value) and "no_such_step" in str(error.value)


def test_a_broken_routing_section_is_refused_with_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(RULES)
    with MonitorStore.open(tmp_path / "w.db") as store, pytest.raises(WfdoctorError) as error:
        build_pipeline(context(store, tmp_path / "mine.yaml", routing={"route": {"receiver": "nobody"}}))
    assert "m.yaml:4" in str(error.value)


def canary_decode(value: float, ts: float) -> Sample:
    return Sample("wf_llm_decode_tokens_per_second", value, "tokens/s", "canary",
                  {"stat": "p50", "check": "canary", "url": "http://127.0.0.1:11434", "run": str(int(ts))}, ts)


def test_a_canary_slower_than_its_stored_baseline_fires_tokens_regressed(tmp_path: Path) -> None:
    """Yesterday's canary points (this monitor's own run, still running) are the baseline; a canary 30 %
    slower now is gradual degradation, found without anyone asking."""
    (tmp_path / "mine.yaml").write_text(RULES)
    now = time.time()

    async def tick() -> list[str]:
        with MonitorStore.open(tmp_path / "w.db") as store:
            pipeline = build_pipeline(context(store, tmp_path / "mine.yaml"))
            run_id = store.list_runs()[0].id
            store.add_samples(run_id, [canary_decode(100.0 + step % 3, now - 86400 + 600 * step)
                                       for step in range(20)])
            fired = []
            for step, value in enumerate([70.0, 70.0]):
                outcome = await pipeline.on_tick([canary_decode(value, now + step)], now + step)
                fired += [a.name for a in outcome.transitions if a.state is AlertState.FIRING]
            await pipeline.aclose()
            return fired

    assert "TokensRegressed" in asyncio.run(tick())


def test_a_canary_at_its_baseline_does_not_fire(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(RULES)
    now = time.time()

    async def tick() -> list[str]:
        with MonitorStore.open(tmp_path / "w.db") as store:
            pipeline = build_pipeline(context(store, tmp_path / "mine.yaml"))
            store.add_samples(store.list_runs()[0].id, [canary_decode(100.0, now - 86400 + 600 * step)
                                                       for step in range(20)])
            outcome = await pipeline.on_tick([canary_decode(95.0, now)], now)
            await pipeline.aclose()
            return [a.name for a in outcome.transitions]

    assert "TokensRegressed" not in asyncio.run(tick())
