"""The monitor's seam to the rules, routing and recovery: `build_pipeline` calls them with the signatures of
issue 11's contract, and `AlertPipeline` runs window -> rules -> routing -> recovery once per tick.

The real modules come from other parts of issue 11; here stand-ins with the contract's signatures take
their place in `sys.modules`, so the wiring itself is what is tested.
"""

from __future__ import annotations

import asyncio
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path

import pytest

from wfdoctor.app.monitor_pipeline import AlertPipeline, NoWatchers, PipelineContext, build_pipeline
from wfdoctor.config.facts import load_facts
from wfdoctor.config.monitor import MonitorConfig, MonitorSettings
from wfdoctor.model import ActionRecord, Alert, AlertState, Sample
from wfdoctor.store.monitoring import MonitorStore

CALLS: dict[str, object] = {}
FIRING = Alert("HighMemory", {"alertname": "HighMemory", "severity": "critical"}, {}, AlertState.FIRING, 0.97,
               time.time())


class Window:
    def __init__(self, retention_s: float) -> None:
        CALLS["window"] = retention_s
        self.points: list[Sample] = []

    def add(self, samples: Sequence[Sample]) -> None:
        self.points += samples


class Engine:
    def __init__(self, rules: Sequence[object], lookback_s: float = 300.0, baselines: object = None) -> None:
        CALLS["engine"] = (list(rules), lookback_s)

    def evaluate(self, window: Window, now: float) -> list[Alert]:
        return [FIRING] if window.points else []

    def active(self) -> list[Alert]:
        return [FIRING]


class Router:
    def __init__(self, config: object, *, clock: object, is_silenced: object) -> None:
        CALLS["router"] = (config, is_silenced)
        self.submitted: list[Alert] = []

    def submit(self, alerts: Sequence[Alert]) -> None:
        self.submitted += alerts

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def aclose(self, timeout_s: float = 5.0) -> None:
        CALLS["router closed"] = True


class Responder:
    def __init__(self, ladder: object, settings: object, store: object, run_id: int, apply: bool,
                 backend_urls: Sequence[str]) -> None:
        CALLS["responder"] = (ladder, settings, run_id, apply, list(backend_urls))

    async def on_alerts(self, transitions: Sequence[Alert], active: Sequence[Alert],
                        now: float) -> list[ActionRecord]:
        return [ActionRecord("unload_idle_models", "ollama", "L1", False, "HighMemory", {}, {}, alert=a.name)
                for a in transitions]


def module(name: str, **names: object) -> types.ModuleType:
    made = types.ModuleType(name)
    made.__dict__.update(names)
    return made


@pytest.fixture
def contract_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_ins = {
        "wfdoctor.act.routing": module("r", Router=Router),
        "wfdoctor.analyze.alerting": module("a", AlertEngine=Engine),
        "wfdoctor.analyze.window": module("w", SampleWindow=Window),
        "wfdoctor.app.recover": module("rc", RecoveryResponder=Responder, load_ladder=lambda: "ladder"),
        "wfdoctor.config.alerts": module("ca", load_alert_rules=lambda facts, tier, paths: [f"rules for {tier}",
                                                                                            *paths]),
        "wfdoctor.config.recovery": module("cr", parse_recovery_settings=lambda section, where: (section, where)),
        "wfdoctor.config.routing": module("co", parse_routing=lambda section, where: (section, where),
                                          default_routing=lambda: "default routing"),
    }
    for name, stand_in in stand_ins.items():
        monkeypatch.setitem(sys.modules, name, stand_in)
    CALLS.clear()


def context(store: MonitorStore, routing: object = None) -> PipelineContext:
    config = MonitorConfig(Path("m.yaml"), MonitorSettings(), routing, "m.yaml:4", {"auto_apply": []}, "m.yaml:9")
    return PipelineContext(store=store, run_id=7, facts=load_facts(), tier="mid", config=config,
                           rules_paths=[Path("mine.yaml")], lookback_s=120.0, apply=True,
                           backend_urls=["http://127.0.0.1:11434"])


def test_the_pipeline_is_built_with_the_contracts_signatures(contract_modules: None, tmp_path: Path) -> None:
    with MonitorStore.open(tmp_path / "w.db") as store:
        pipeline = build_pipeline(context(store, routing={"route": {"receiver": "log"}}))
        assert isinstance(pipeline, AlertPipeline) and pipeline.note == "2 alert rules"
        assert CALLS["engine"] == (["rules for mid", Path("mine.yaml")], 120.0)
        assert CALLS["window"] == 120.0
        config, is_silenced = CALLS["router"]  # type: ignore[misc]
        assert config == ({"route": {"receiver": "log"}}, "m.yaml:4")
        assert CALLS["responder"] == ("ladder", ({"auto_apply": []}, "m.yaml:9"), 7, True,
                                      ["http://127.0.0.1:11434"])
        store.add_silence(['alertname="HighMemory"'], time.time(), time.time() + 60, "", "")
        assert is_silenced(FIRING)  # the router asks the stored silences
        assert build_pipeline(context(store)) and CALLS["router"][0] == "default routing"  # type: ignore[index]


def test_a_tick_goes_window_rules_routing_recovery(contract_modules: None, tmp_path: Path) -> None:
    with MonitorStore.open(tmp_path / "w.db") as store:
        pipeline = build_pipeline(context(store))

    async def tick() -> tuple[list[Alert], list[ActionRecord]]:
        outcome = await pipeline.on_tick([Sample("wf_memory_used_ratio", 0.97, "ratio", "test")], time.time())
        await pipeline.aclose()
        return outcome.transitions, outcome.actions

    transitions, actions = asyncio.run(tick())
    assert transitions == [FIRING] and [a.alert for a in actions] == ["HighMemory"]
    assert pipeline._router.submitted == [FIRING]  # type: ignore[attr-defined]
    assert CALLS["router closed"]


def test_without_the_alerting_modules_the_monitor_only_watches(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "wfdoctor.act.routing", None)  # as before issue 11's routing is merged
    with MonitorStore.open(tmp_path / "w.db") as store:
        pipeline = build_pipeline(context(store))
    assert isinstance(pipeline, NoWatchers) and "not available" in pipeline.note
